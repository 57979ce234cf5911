"""Official V-JEPA checkpoints in: read, infer the video architecture, re-save as jepa-kit.

The official training script (jepa ``app/vjepa/train.py``) saves ``{encoder, predictor, opt,
scaler, target_encoder, epoch, loss, batch_size, world_size, lr}``; each state dict comes from
``DistributedDataParallel(MultiMaskWrapper(net))``, so every key starts with
``module.backbone.`` (the published ViT-L/16 and ViT-H/16 checkpoints are laid out so). Below
that prefix the names equal ours (``VideoViTEncoder``, ``VideoViTPredictor``): importing strips
the prefixes, reads the architecture off the shapes and loads the modules ``strict=True``.

Shapes give the width, depth, MLP ratio, patch and tubelet, and the number of mask tokens.
They do not give the clip length and frame size separately (the table has T * H * W rows), nor
whether the table gives time, rows and columns equal shares (``uniform_power``): both are read
off the stored sin-cos table, which must equal the official one for exactly one (T, side,
uniform_power). Heads follow the named sizes as for I-JEPA
(``jepa_kit.methods.reference_file.infer_num_heads``).

- [0]: V-JEPA, Bardes et al. 2024, arXiv:2404.08471
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any, ClassVar

import torch

from jepa_kit.encoders.vit_video import VideoViTEncoder, sincos_video
from jepa_kit.methods import reference_file as ref
from jepa_kit.methods.importer import ImportedWeights, ReferenceImporter
from jepa_kit.methods.reference_file import ReferenceCheckpointError
from jepa_kit.predictors.vit_video_predictor import VideoViTPredictor

_ARCH = "V-JEPA ViT"


class VJEPAWeights(ImportedWeights):
    """An official V-JEPA checkpoint's weights and the video ViT / predictor sections."""

    encoder_class: ClassVar[type[VideoViTEncoder]] = VideoViTEncoder
    predictor_class: ClassVar[type[VideoViTPredictor]] = VideoViTPredictor

    def recipe_fragment(self) -> dict[str, Any]:
        return {"method": {"kind": "vjepa"}, "encoder": dict(self.encoder_config),
                "predictor": dict(self.predictor_config), "data": {"img_size": self.img_size}}


def looks_like_vjepa(raw: Any) -> bool:
    """Whether a loaded checkpoint dict holds V-JEPA state dicts (``backbone.`` keys, a 3-D
    patchifier or mask tokens) rather than I-JEPA's."""
    if not isinstance(raw, dict):
        return False
    wrapped, patch_ndim = ref.encoder_layout(raw)
    return wrapped or patch_ndim == 5


def is_vjepa_file(path: str | Path) -> bool:
    """Whether ``path`` is an official V-JEPA checkpoint (False for anything unreadable)."""
    try:
        return looks_like_vjepa(ref.load_torch_file(Path(path)))
    except ReferenceCheckpointError:
        return False


class VJEPAImporter(ReferenceImporter):
    """The official V-JEPA code's checkpoints (``backbone.`` keys or a 3-D patchifier)."""

    method: ClassVar[str] = "vjepa"
    architecture: ClassVar[str] = _ARCH

    @classmethod
    def claims(cls, raw: dict[str, Any]) -> bool:
        return looks_like_vjepa(raw)

    @classmethod
    def read(cls, raw: dict[str, Any], path: Path, num_heads: int | None) -> VJEPAWeights:
        encoder = ref.strip_prefix(raw["encoder"], "encoder", path, "backbone.")
        predictor = ref.strip_prefix(raw["predictor"], "predictor", path, "backbone.")
        target = (ref.strip_prefix(raw["target_encoder"], "target_encoder", path, "backbone.")
                  if "target_encoder" in raw else encoder)

        ref.require(encoder, {"pos_embed": 3, "blocks.0.mlp.fc1.weight": 2}, "encoder", path, _ARCH)
        patch_w = encoder.get("patch_embed.proj.weight")
        if patch_w is None or patch_w.ndim not in (4, 5) or patch_w.shape[-1] != patch_w.shape[-2]:
            raise ReferenceCheckpointError(f"{path}: the encoder has no square patch_embed.proj "
                                           "Conv2d / Conv3d weight; not a V-JEPA ViT")
        width, in_chans = patch_w.shape[:2]
        tubelet, patch = (int(patch_w.shape[2]) if patch_w.ndim == 5 else 2), int(patch_w.shape[-1])
        grid, uniform = _grid_from_table(encoder["pos_embed"], patch_w.ndim == 5, path, "encoder")
        num_heads = ref.heads_for(width, num_heads, path)
        enc_cfg: dict[str, Any] = {
            "kind": "vit_video", **ref.vit_dims(encoder, width, num_heads), "patch_size": patch,
            "qkv_bias": "blocks.0.attn.qkv.bias" in encoder,
            "num_frames": grid[0] * tubelet if len(grid) == 3 else 1, "tubelet_size": tubelet,
            "uniform_power": uniform,
        }
        pred_cfg = _predictor_arch(predictor, width, num_heads, grid, path)
        return VJEPAWeights(encoder, target, predictor, enc_cfg, pred_cfg,
                            img_size=grid[-1] * patch, in_chans=int(in_chans),
                            epoch=int(ref.number(raw.get("epoch")) or 0),
                            loss=ref.number(raw.get("loss")), source=str(path))


def load_vjepa_checkpoint(path: str | Path, num_heads: int | None = None) -> VJEPAWeights:
    """Read an official V-JEPA checkpoint into our layout (``ReferenceCheckpointError`` naming
    the file when it is not one)."""
    path = Path(path)
    return VJEPAImporter.read(ref.check_layout(ref.load_torch_file(path), path), path, num_heads)


def _predictor_arch(sd: ref.StateDict, width: int, num_heads: int, grid: tuple[int, ...],
                    path: Path) -> dict[str, Any]:
    ref.require(sd, {"predictor_embed.weight": 2, "predictor_pos_embed": 3,
                 "predictor_blocks.0.mlp.fc1.weight": 2}, "predictor", path, _ARCH)
    d, enc_width = sd["predictor_embed.weight"].shape
    if enc_width != width:
        raise ReferenceCheckpointError(
            f"{path}: the predictor reads width {enc_width} but the encoder is {width}")
    tokens = sum(1 for k in sd if k.startswith("mask_tokens."))
    if tokens == 0:
        raise ReferenceCheckpointError(f"{path}: the predictor has no mask_tokens (trained with "
                                       "use_mask_tokens=false, which jepa-kit does not support)")
    pred_grid, pred_uniform = _grid_from_table(sd["predictor_pos_embed"], len(grid) == 3,
                                               path, "predictor")
    if pred_grid != grid:
        raise ReferenceCheckpointError(f"{path}: the predictor's grid {pred_grid} differs from "
                                       f"the encoder's {grid}")
    return {
        "kind": "vit_video_predictor", "embed_dim": d, "depth": ref.count_blocks(sd),
        "num_heads": num_heads, "num_mask_tokens": tokens, "uniform_power": pred_uniform,
        "mlp_ratio": ref.mlp_ratio(d, sd["predictor_blocks.0.mlp.fc1.weight"].shape[0]),
        "qkv_bias": "predictor_blocks.0.attn.qkv.bias" in sd,
    }


def _grid_from_table(table: torch.Tensor, time_axis: bool, path: Path, what: str
                     ) -> tuple[tuple[int, ...], bool]:
    """The (T, side, side) grid (or (side, side)) and uniform_power whose official sin-cos
    table equals ``table`` (1, N, D)."""
    _, n, width = table.shape
    candidates: list[tuple[tuple[int, ...], bool]] = []
    if time_axis:
        for side in range(1, math.isqrt(n) + 1):
            if n % (side * side) == 0:
                candidates += [((n // (side * side), side, side), u) for u in (True, False)]
    elif math.isqrt(n) ** 2 == n:
        candidates.append(((math.isqrt(n),) * 2, False))
    for grid, uniform in candidates:
        try:
            expected = sincos_video(width, grid, uniform_power=uniform)
        except ValueError:
            continue
        if (table[0].float() - expected).abs().max().item() < 1e-4:
            return grid, uniform
    raise ReferenceCheckpointError(
        f"{path}: the {what} position table ({n} x {width}) is not the official sin-cos table "
        "of any clip length and frame size, so the grid cannot be read off it")
