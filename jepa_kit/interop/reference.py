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
import re
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from jepa_kit.encoders.vit import VIT_SIZES, ViTEncoder
from jepa_kit.layers import sincos_2d
from jepa_kit.maskers.multiblock import MultiBlockMasker
from jepa_kit.predictors.vit_predictor import ViTPredictor

StateDict = dict[str, torch.Tensor]

#: Reference width -> heads, from its named sizes.
HEADS_BY_WIDTH: dict[int, int] = {d.embed_dim: d.num_heads for d in VIT_SIZES.values()}
#: Head width assumed for widths that are not a named size.
FALLBACK_HEAD_DIM = 32

_BLOCK = re.compile(r"^(?:predictor_)?blocks\.(\d+)\.")


@dataclass
class ReferenceWeights:
    """The three state dicts of a reference checkpoint (our keys) and the architecture behind them.

    ``encoder_config`` / ``predictor_config`` are plain recipe sections (``kind`` included);
    ``recipe_fragment()`` gathers them with ``data.img_size`` for the recipe model to merge.
    """

    encoder: StateDict
    target_encoder: StateDict
    predictor: StateDict
    encoder_config: dict[str, Any]
    predictor_config: dict[str, Any]
    img_size: int
    in_chans: int = 3
    epoch: int = 0
    loss: float | None = None
    source: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    def recipe_fragment(self) -> dict[str, Any]:
        """The partial recipe stored with an imported checkpoint.

        A masker section is included only when the default multi-block masker cannot mask this
        patch grid (small checkpoints), so that the fragment validates as a recipe on its own.
        """
        fragment: dict[str, Any] = {
            "encoder": dict(self.encoder_config),
            "predictor": dict(self.predictor_config),
            "data": {"img_size": self.img_size},
        }
        side = self.img_size // int(self.encoder_config["patch_size"])
        masker = masker_for_grid((side, side))
        if masker:
            fragment["masker"] = masker
        return fragment

    def build_modules(self) -> tuple[ViTEncoder, ViTEncoder, ViTPredictor]:
        """(encoder, target encoder, predictor) holding these weights, loaded ``strict=True``.

        Built on the meta device and filled by assignment, so no time goes into a random init
        that is thrown away; each module owns copies of the tensors (the dicts here stay intact).
        """
        enc_cfg = ViTEncoder.Config(**self.encoder_config)
        pred_cfg = ViTPredictor.Config(**self.predictor_config)
        modules = []
        for weights in (self.encoder, self.target_encoder):
            with torch.device("meta"):
                enc = ViTEncoder(enc_cfg, img_size=self.img_size, in_chans=self.in_chans)
            enc.load_state_dict(_clone(weights), strict=True, assign=True)
            modules.append(enc)
        encoder = modules[0]
        with torch.device("meta"):
            predictor = ViTPredictor(
                pred_cfg, grid=encoder.grid, embed_dim=encoder.embed_dim,
                encoder_heads=encoder.num_heads,
            )
        predictor.load_state_dict(_clone(self.predictor), strict=True, assign=True)
        return encoder, modules[1], predictor


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


def load_reference_checkpoint(path: str | Path, num_heads: int | None = None) -> ReferenceWeights:
    """Read an official I-JEPA checkpoint (``torch.load(weights_only=True)``) into our layout.

    ``num_heads`` overrides the head-count rule in the module docstring. Raises ``ValueError``
    naming the file when a state dict is missing or its shapes are not an I-JEPA ViT.
    """
    path = Path(path)
    raw = _load(path)
    if not isinstance(raw, dict) or "encoder" not in raw or "predictor" not in raw:
        keys = sorted(raw) if isinstance(raw, dict) else type(raw).__name__
        raise ValueError(
            f"{path}: not an I-JEPA training checkpoint (needs 'encoder' and 'predictor', "
            f"found {keys})"
        )
    encoder = _strip(raw["encoder"])
    predictor = _strip(raw["predictor"])
    if "target_encoder" in raw:
        target = _strip(raw["target_encoder"])
    else:
        warnings.warn(f"{path}: no target_encoder; using the encoder's weights", stacklevel=2)
        target = encoder

    enc_cfg, img_size, in_chans = _encoder_arch(encoder, num_heads, path)
    pred_cfg = _predictor_arch(predictor, enc_cfg, path)
    _check_table(encoder["pos_embed"], path)
    loss = raw.get("loss")
    return ReferenceWeights(
        encoder=encoder,
        target_encoder=target,
        predictor=predictor,
        encoder_config=enc_cfg,
        predictor_config=pred_cfg,
        img_size=img_size,
        in_chans=in_chans,
        epoch=int(raw.get("epoch", 0)),
        loss=float(loss) if loss is not None else None,
        source=str(path),
        extra={k: raw[k] for k in ("batch_size", "world_size", "lr") if k in raw},
    )


def import_reference(
    path: str | Path, out_dir: str | Path, num_heads: int | None = None
) -> Path:
    """Convert an official checkpoint into a jepa-kit checkpoint in ``out_dir``; returns its path.

    The result holds the three state dicts, no optimizer or RNG state, and a partial recipe
    (``encoder``, ``predictor``, ``data.img_size``) that the recipe loader merges with defaults.
    ``step`` is 0: the reference does not record optimizer steps, only the epoch.
    """
    from jepa_kit import __version__
    from jepa_kit.rundir.checkpoint import checkpoint_name, save_checkpoint

    weights = load_reference_checkpoint(path, num_heads=num_heads)
    weights.build_modules()  # fail here, not at training time, if the weights do not fit
    payload = {
        "step": 0,
        "epoch": weights.epoch,
        "step_in_epoch": 0,
        "method": "ijepa",
        "networks": ["encoder", "target_encoder", "predictor"],
        "encoder": weights.encoder,
        "target_encoder": weights.target_encoder,
        "predictor": weights.predictor,
        "optimizer": None,
        "rng": None,
        "recipe": weights.recipe_fragment(),
        "versions": {"jepa-kit": __version__},
        "metrics": {"loss": weights.loss} if weights.loss is not None else {},
        "source": weights.source,
    }
    return save_checkpoint(Path(out_dir) / checkpoint_name(0), payload)


# -- architecture from shapes --------------------------------------------------------------------
def _encoder_arch(sd: StateDict, num_heads: int | None, path: Path
                  ) -> tuple[dict[str, Any], int, int]:
    needed = ("patch_embed.proj.weight", "pos_embed", "blocks.0.mlp.fc1.weight")
    _require(sd, needed, "encoder", path)
    width, in_chans, patch, patch_w = sd["patch_embed.proj.weight"].shape
    if patch != patch_w:
        raise ValueError(f"{path}: non-square patches {patch}x{patch_w} are not supported")
    n = sd["pos_embed"].shape[1]
    side = math.isqrt(n)
    if side * side != n:
        raise ValueError(f"{path}: encoder pos_embed has {n} positions, not a square grid")
    if num_heads is None:
        try:
            num_heads = infer_num_heads(width)
        except ValueError as exc:
            raise ValueError(f"{path}: {exc}") from None
    hidden = sd["blocks.0.mlp.fc1.weight"].shape[0]
    cfg: dict[str, Any] = {
        "kind": "vit",
        "embed_dim": width,
        "depth": _count_blocks(sd),
        "num_heads": num_heads,
        "mlp_ratio": _mlp_ratio(width, hidden),
        "patch_size": patch,
        "qkv_bias": "blocks.0.attn.qkv.bias" in sd,
    }
    for name, dims in VIT_SIZES.items():  # name the size when it is a standard one
        if (width, cfg["depth"], num_heads, hidden) == (
            dims.embed_dim, dims.depth, dims.num_heads, int(dims.embed_dim * dims.mlp_ratio)
        ):
            cfg = {"kind": "vit", "size": name, **{k: v for k, v in cfg.items() if k != "kind"}}
    return cfg, side * patch, in_chans


def _predictor_arch(sd: StateDict, enc_cfg: dict[str, Any], path: Path) -> dict[str, Any]:
    _require(sd, ("predictor_embed.weight", "predictor_blocks.0.mlp.fc1.weight"), "predictor", path)
    width, enc_width = sd["predictor_embed.weight"].shape
    if enc_width != enc_cfg["embed_dim"]:
        raise ValueError(
            f"{path}: predictor reads width {enc_width} but the encoder is {enc_cfg['embed_dim']}"
        )
    hidden = sd["predictor_blocks.0.mlp.fc1.weight"].shape[0]
    return {
        "kind": "vit_predictor",
        "embed_dim": width,
        "depth": _count_blocks(sd),
        "num_heads": enc_cfg["num_heads"],  # the reference builds the predictor with these
        "mlp_ratio": _mlp_ratio(width, hidden),
        "qkv_bias": "predictor_blocks.0.attn.qkv.bias" in sd,
    }


def infer_num_heads(width: int) -> int:
    """Heads of a reference encoder of ``width``: its named sizes, else heads of width 32."""
    if width in HEADS_BY_WIDTH:
        return HEADS_BY_WIDTH[width]
    if width % FALLBACK_HEAD_DIM == 0:
        return width // FALLBACK_HEAD_DIM
    raise ValueError(
        f"cannot infer the head count of width {width} from tensor shapes; pass num_heads"
    )


def _mlp_ratio(width: int, hidden: int) -> float:
    """A ratio r with ``int(width * r) == hidden`` (how timm and the reference size the MLP)."""
    ratio = hidden / width
    if int(width * ratio) != hidden:  # e.g. 88 * (120 / 88) == 119.99999999999999
        ratio = math.nextafter(ratio, math.inf)
    return ratio


def _count_blocks(sd: StateDict) -> int:
    found = {int(m.group(1)) for k in sd if (m := _BLOCK.match(k))}
    return max(found) + 1 if found else 0


def _check_table(table: torch.Tensor, path: Path) -> None:
    """Warn when the stored table is not the fixed sin-cos one (fine-tuned or foreign weights)."""
    _, n, width = table.shape
    side = math.isqrt(n)
    expected = sincos_2d(width, (side, side))
    gap = (table[0].float() - expected).abs().max().item()
    if gap > 1e-4:
        warnings.warn(
            f"{path}: encoder pos_embed differs from the 2-D sin-cos table by {gap:.3g}; "
            f"the stored table is used as is",
            stacklevel=3,
        )


# -- plumbing ------------------------------------------------------------------------------------
def _load(path: Path) -> Any:
    if not path.is_file():
        raise ValueError(f"{path}: no such checkpoint file")
    try:
        # mmap keeps the (large) optimizer state on disk; only the weights are read and copied.
        return torch.load(path, map_location="cpu", weights_only=True, mmap=True)
    except RuntimeError:  # legacy (non-zip) serialisation cannot be memory-mapped
        return torch.load(path, map_location="cpu", weights_only=True)


def _strip(sd: StateDict) -> StateDict:
    """Drop the DDP ``module.`` prefix and copy into float32 tensors we own (not the mmap)."""
    out: StateDict = {}
    for key, value in sd.items():
        key = key.removeprefix("module.")
        floating = value.is_floating_point()
        out[key] = value.to(torch.float32, copy=True) if floating else value.clone()
    return out


def _clone(sd: StateDict) -> StateDict:
    return {k: v.clone() for k, v in sd.items()}


def _require(sd: StateDict, keys: tuple[str, ...], what: str, path: Path) -> None:
    missing = [k for k in keys if k not in sd]
    if missing:
        raise ValueError(f"{path}: the {what} state dict lacks {', '.join(missing)}")
