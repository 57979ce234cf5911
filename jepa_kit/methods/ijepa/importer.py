"""Official I-JEPA checkpoints in: read, infer the architecture, rebuild or re-save as jepa-kit.

The reference training script saves ``{encoder, predictor, target_encoder, opt, scaler, epoch,
loss, batch_size, world_size, lr}``, its state dicts taken from DDP wrappers (every key starts
with ``module.``). Module names already equal ours, so importing is: strip the prefix, read the
architecture off the tensor shapes, and check that the modules load with ``strict=True``.

What shapes cannot say is the number of attention heads. It is taken from the reference's named
sizes when the width is one of theirs (192: 3, 384: 6, 768: 12, 1024/1280/1408: 16), otherwise
heads of width 32 are assumed (the tiny test fixture: width 96, 3 heads); pass ``num_heads`` to
override. The predictor uses the encoder's head count, as the reference does.

- [0]: I-JEPA, Assran et al. 2023, arXiv:2301.08243
"""

from __future__ import annotations

import math
import warnings
from pathlib import Path
from typing import Any, ClassVar

import torch

from jepa_kit.encoders.vit import ViTEncoder
from jepa_kit.layers import sincos_2d
from jepa_kit.maskers.multiblock import MultiBlockMasker
from jepa_kit.methods.importer import ImportedWeights, ReferenceImporter
from jepa_kit.methods.reference_file import (
    ReferenceCheckpointError,
    StateDict,
    check_layout,
    count_blocks,
    encoder_layout,
    heads_for,
    load_torch_file,
    mlp_ratio,
    number,
    require,
    strip_prefix,
    vit_dims,
)
from jepa_kit.predictors.vit_predictor import ViTPredictor

_ARCH = "I-JEPA ViT"


class ReferenceWeights(ImportedWeights):
    """An official I-JEPA checkpoint's weights and the ViT / predictor sections behind them."""

    encoder_class: ClassVar[type[ViTEncoder]] = ViTEncoder
    predictor_class: ClassVar[type[ViTPredictor]] = ViTPredictor

    def recipe_fragment(self) -> dict[str, Any]:
        """The partial recipe stored with an imported checkpoint.

        A masker section is included only when the default multi-block masker cannot mask this
        patch grid (small checkpoints), so that the fragment validates as a recipe on its own.
        """
        fragment: dict[str, Any] = {
            "method": {"kind": "ijepa"},
            "encoder": dict(self.encoder_config),
            "predictor": dict(self.predictor_config),
            "data": {"img_size": self.img_size},
        }
        side = self.img_size // int(self.encoder_config["patch_size"])
        masker = masker_for_grid((side, side))
        if masker:
            fragment["masker"] = masker
        return fragment


class IJEPAImporter(ReferenceImporter):
    """The official I-JEPA code's checkpoints (2-D patchifier, no ``backbone.`` wrapper)."""

    method: ClassVar[str] = "ijepa"
    architecture: ClassVar[str] = _ARCH
    #: The catch-all: it also reads malformed files, to say what is wrong with them.
    priority: ClassVar[int] = -1

    @classmethod
    def claims(cls, raw: dict[str, Any]) -> bool:
        # Anything not wrapped (V-JEPA's MultiMaskWrapper) nor 3-D: a malformed file is then
        # read here, and this importer names what is wrong with it.
        wrapped, patch_ndim = encoder_layout(raw)
        return not wrapped and patch_ndim != 5

    @classmethod
    def read(cls, raw: dict[str, Any], path: Path, num_heads: int | None) -> ReferenceWeights:
        encoder = strip_prefix(raw["encoder"], "encoder", path)
        predictor = strip_prefix(raw["predictor"], "predictor", path)
        if "target_encoder" in raw:
            target = strip_prefix(raw["target_encoder"], "target_encoder", path)
        else:
            warnings.warn(f"{path}: no target_encoder; using the encoder's weights",
                          stacklevel=3)
            target = encoder
        enc_cfg, img_size, in_chans = _encoder_arch(encoder, num_heads, path)
        pred_cfg = _predictor_arch(predictor, enc_cfg, path)
        _check_table(encoder["pos_embed"], path)
        return ReferenceWeights(
            encoder=encoder, target_encoder=target, predictor=predictor,
            encoder_config=enc_cfg, predictor_config=pred_cfg, img_size=img_size,
            in_chans=in_chans, epoch=int(number(raw.get("epoch")) or 0),
            loss=number(raw.get("loss")), source=str(path),
            extra={k: raw[k] for k in ("batch_size", "world_size", "lr") if k in raw},
        )


def load_reference_checkpoint(path: str | Path, num_heads: int | None = None) -> ReferenceWeights:
    """Read an official I-JEPA checkpoint (``torch.load(weights_only=True)``) into our layout.

    ``num_heads`` overrides the head-count rule in the module docstring. Raises
    ``ReferenceCheckpointError`` naming the file when it is not such a checkpoint, a state dict
    is missing or its shapes are not an I-JEPA ViT.
    """
    path = Path(path)
    return IJEPAImporter.read(check_layout(load_torch_file(path), path), path, num_heads)


def masker_for_grid(grid: tuple[int, int]) -> dict[str, Any]:
    """Overrides of the default multi-block masker that let it mask ``grid``; {} if none needed.

    The defaults (min_keep 10) cannot mask small grids; the largest ``min_keep`` that works in
    the default mode is kept, trying the other mode only when no ``min_keep`` works.
    """
    default = MultiBlockMasker.Config()
    try:
        default.check_grid(grid)
        return {}
    except ValueError:
        pass
    for mode in sorted(("uniform", "reference"), key=lambda m: m != default.mode):
        for min_keep in range(default.min_keep - 1, 0, -1):  # masker.min_keep >= 1
            overrides: dict[str, Any] = {"kind": "multiblock", "mode": mode, "min_keep": min_keep}
            try:
                MultiBlockMasker.Config(**overrides).check_grid(grid)
            except ValueError:
                continue
            return overrides
    return {"kind": "multiblock", "mode": "uniform", "min_keep": 0}


def _encoder_arch(sd: StateDict, num_heads: int | None, path: Path
                  ) -> tuple[dict[str, Any], int, int]:
    needed = {"patch_embed.proj.weight": 4, "pos_embed": 3, "blocks.0.mlp.fc1.weight": 2}
    require(sd, needed, "encoder", path, _ARCH)
    width, in_chans, patch, patch_w = sd["patch_embed.proj.weight"].shape
    if patch != patch_w:
        raise ReferenceCheckpointError(
            f"{path}: non-square patches {patch}x{patch_w} are not supported")
    n = sd["pos_embed"].shape[1]
    side = math.isqrt(n)
    if side * side != n:
        raise ReferenceCheckpointError(
            f"{path}: encoder pos_embed has {n} positions, not a square grid")
    dims = vit_dims(sd, width, heads_for(width, num_heads, path))
    cfg = {"kind": "vit", **dims, "patch_size": patch,
           "qkv_bias": "blocks.0.attn.qkv.bias" in sd}
    return cfg, side * patch, in_chans


def _predictor_arch(sd: StateDict, enc_cfg: dict[str, Any], path: Path) -> dict[str, Any]:
    require(sd, {"predictor_embed.weight": 2, "predictor_blocks.0.mlp.fc1.weight": 2},
            "predictor", path, _ARCH)
    width, enc_width = sd["predictor_embed.weight"].shape
    if enc_width != enc_cfg["embed_dim"]:
        raise ReferenceCheckpointError(
            f"{path}: predictor reads width {enc_width} but the encoder is {enc_cfg['embed_dim']}"
        )
    hidden = sd["predictor_blocks.0.mlp.fc1.weight"].shape[0]
    return {
        "kind": "vit_predictor",
        "embed_dim": width,
        "depth": count_blocks(sd),
        "num_heads": enc_cfg["num_heads"],  # the reference builds the predictor with these
        "mlp_ratio": mlp_ratio(width, hidden),
        "qkv_bias": "predictor_blocks.0.attn.qkv.bias" in sd,
        "targets": "per_block",  # the reference runs one predictor pass per target block
    }


def _check_table(table: torch.Tensor, path: Path) -> None:
    """Warn when the stored table is not the fixed sin-cos one (fine-tuned or foreign weights)."""
    _, n, width = table.shape
    side = math.isqrt(n)
    if width % 4:  # the 2-D sin-cos table needs a width divisible by 4; nothing to compare
        return
    expected = sincos_2d(width, (side, side))
    gap = (table[0].float() - expected).abs().max().item()
    if gap > 1e-4:
        warnings.warn(
            f"{path}: encoder pos_embed differs from the 2-D sin-cos table by {gap:.3g}; "
            f"the stored table is used as is",
            stacklevel=4,
        )
