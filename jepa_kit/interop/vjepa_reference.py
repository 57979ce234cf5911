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
uniform_power). Heads follow the named sizes as for I-JEPA (``reference.infer_num_heads``).

- [0]: V-JEPA, Bardes et al. 2024, arXiv:2404.08471
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from jepa_kit.encoders.vit import VIT_SIZES
from jepa_kit.encoders.vit_video import VideoViTEncoder, sincos_video
from jepa_kit.errors import UserError
from jepa_kit.interop.reference import (
    ReferenceCheckpointError,
    StateDict,
    _brief,
    _check_layout,
    _clone,
    _count_blocks,
    _load,
    _mlp_ratio,
    _number,
    _require,
    _strip,
    infer_num_heads,
)
from jepa_kit.predictors.vit_video_predictor import VideoViTPredictor


def looks_like_vjepa(raw: Any) -> bool:
    """Whether a loaded checkpoint dict holds V-JEPA state dicts (``backbone.`` keys, a 3-D
    patchifier or mask tokens) rather than I-JEPA's."""
    encoder = raw.get("encoder") if isinstance(raw, dict) else None
    if not isinstance(encoder, dict):
        return False
    keys = [str(k).removeprefix("module.") for k in encoder]
    if any(k.startswith("backbone.") for k in keys):
        return True
    weight = encoder.get("module.patch_embed.proj.weight", encoder.get("patch_embed.proj.weight"))
    return isinstance(weight, torch.Tensor) and weight.ndim == 5


def is_vjepa_file(path: str | Path) -> bool:
    """Whether ``path`` is an official V-JEPA checkpoint (False for anything unreadable: the
    I-JEPA importer then names the problem)."""
    try:
        return looks_like_vjepa(_load(Path(path)))
    except ReferenceCheckpointError:
        return False


@dataclass
class VJEPAWeights:
    """The three state dicts (our keys) and the recipe sections that rebuild them."""

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

    def recipe_fragment(self) -> dict[str, Any]:
        return {"method": {"kind": "vjepa"}, "encoder": dict(self.encoder_config),
                "predictor": dict(self.predictor_config), "data": {"img_size": self.img_size}}

    def build_modules(self) -> tuple[VideoViTEncoder, VideoViTEncoder, VideoViTPredictor]:
        """(encoder, target encoder, predictor) holding these weights, loaded ``strict=True``."""
        enc_cfg = VideoViTEncoder.Config(**self.encoder_config)
        modules = []
        for weights in (self.encoder, self.target_encoder):
            with torch.device("meta"):
                enc = VideoViTEncoder(enc_cfg, img_size=self.img_size, in_chans=self.in_chans)
            enc.load_state_dict(_clone(weights), strict=True, assign=True)
            modules.append(enc)
        with torch.device("meta"):
            predictor = VideoViTPredictor(
                VideoViTPredictor.Config(**self.predictor_config), grid=modules[0].grid,
                embed_dim=modules[0].embed_dim, encoder_heads=modules[0].num_heads)
        predictor.load_state_dict(_clone(self.predictor), strict=True, assign=True)
        return modules[0], modules[1], predictor


def _unwrap(sd: Any, what: str, path: Path) -> StateDict:
    """``module.`` (DDP) and ``backbone.`` (MultiMaskWrapper) stripped, float32 copies."""
    return {k.removeprefix("backbone."): v for k, v in _strip(sd, what, path).items()}


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


def load_vjepa_checkpoint(path: str | Path, num_heads: int | None = None) -> VJEPAWeights:
    """Read an official V-JEPA checkpoint into our layout (``ReferenceCheckpointError`` naming
    the file when it is not one)."""
    path = Path(path)
    raw = _check_layout(_load(path), path)
    encoder = _unwrap(raw["encoder"], "encoder", path)
    predictor = _unwrap(raw["predictor"], "predictor", path)
    target = (_unwrap(raw["target_encoder"], "target_encoder", path)
              if "target_encoder" in raw else encoder)

    _require(encoder, {"pos_embed": 3, "blocks.0.mlp.fc1.weight": 2}, "encoder", path)
    patch_w = encoder.get("patch_embed.proj.weight")
    if patch_w is None or patch_w.ndim not in (4, 5) or patch_w.shape[-1] != patch_w.shape[-2]:
        raise ReferenceCheckpointError(f"{path}: the encoder has no square patch_embed.proj "
                                       "Conv2d / Conv3d weight; not a V-JEPA ViT")
    width, in_chans = patch_w.shape[:2]
    tubelet, patch = (int(patch_w.shape[2]) if patch_w.ndim == 5 else 2), int(patch_w.shape[-1])
    grid, uniform = _grid_from_table(encoder["pos_embed"], patch_w.ndim == 5, path, "encoder")
    if num_heads is None:
        try:
            num_heads = infer_num_heads(width)
        except ValueError as exc:
            raise ReferenceCheckpointError(f"{path}: {exc}") from None
    elif width % num_heads:
        raise UserError(f"num_heads={num_heads} does not divide the encoder width {width} of "
                        f"{path}")
    hidden = encoder["blocks.0.mlp.fc1.weight"].shape[0]
    enc_cfg: dict[str, Any] = {
        "kind": "vit_video", "embed_dim": width, "depth": _count_blocks(encoder),
        "num_heads": num_heads, "mlp_ratio": _mlp_ratio(width, hidden), "patch_size": patch,
        "qkv_bias": "blocks.0.attn.qkv.bias" in encoder,
        "num_frames": grid[0] * tubelet if len(grid) == 3 else 1, "tubelet_size": tubelet,
        "uniform_power": uniform,
    }
    for name, dims in VIT_SIZES.items():
        if (width, enc_cfg["depth"], num_heads, hidden) == (
                dims.embed_dim, dims.depth, dims.num_heads, int(dims.embed_dim * dims.mlp_ratio)):
            enc_cfg["size"] = name

    _require(predictor, {"predictor_embed.weight": 2, "predictor_pos_embed": 3,
                         "predictor_blocks.0.mlp.fc1.weight": 2}, "predictor", path)
    d, enc_width = predictor["predictor_embed.weight"].shape
    if enc_width != width:
        raise ReferenceCheckpointError(
            f"{path}: the predictor reads width {enc_width} but the encoder is {width}")
    tokens = sum(1 for k in predictor if k.startswith("mask_tokens."))
    if tokens == 0:
        raise ReferenceCheckpointError(f"{path}: the predictor has no mask_tokens (trained with "
                                       "use_mask_tokens=false, which jepa-kit does not support)")
    pred_grid, pred_uniform = _grid_from_table(predictor["predictor_pos_embed"], len(grid) == 3,
                                               path, "predictor")
    if pred_grid != grid:
        raise ReferenceCheckpointError(f"{path}: the predictor's grid {pred_grid} differs from "
                                       f"the encoder's {grid}")
    pred_cfg = {
        "kind": "vit_video_predictor", "embed_dim": d, "depth": _count_blocks(predictor),
        "num_heads": num_heads, "num_mask_tokens": tokens, "uniform_power": pred_uniform,
        "mlp_ratio": _mlp_ratio(d, predictor["predictor_blocks.0.mlp.fc1.weight"].shape[0]),
        "qkv_bias": "predictor_blocks.0.attn.qkv.bias" in predictor,
    }
    return VJEPAWeights(encoder, target, predictor, enc_cfg, pred_cfg,
                        img_size=grid[-1] * patch, in_chans=int(in_chans),
                        epoch=int(_number(raw.get("epoch")) or 0),
                        loss=_number(raw.get("loss")), source=str(path))


def import_vjepa_reference(path: str | Path, out_dir: str | Path,
                           num_heads: int | None = None) -> Path:
    """Convert an official V-JEPA checkpoint into a jepa-kit ``vjepa`` checkpoint in
    ``out_dir``; returns its path (step 0, no optimizer state, a partial recipe)."""
    from jepa_kit import __version__
    from jepa_kit.checkpoint import CheckpointRecord, checkpoint_name, write_checkpoint

    weights = load_vjepa_checkpoint(path, num_heads=num_heads)
    try:
        weights.build_modules()
    except (RuntimeError, ValueError) as exc:
        raise ReferenceCheckpointError(
            f"{path}: the weights do not fit the V-JEPA ViT read off their shapes "
            f"({_brief(exc)})") from None
    record = CheckpointRecord(
        step=0, epoch=weights.epoch, method="vjepa",
        networks={"encoder": weights.encoder, "target_encoder": weights.target_encoder,
                  "predictor": weights.predictor},
        recipe=weights.recipe_fragment(), versions={"jepa-kit": __version__},
        metrics={"loss": weights.loss} if weights.loss is not None else {},
        source=weights.source,
    )
    out_dir = Path(out_dir)
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
        return write_checkpoint(out_dir / checkpoint_name(0), record)
    except OSError as exc:
        raise UserError(f"--out {out_dir}: cannot write the checkpoint there "
                        f"({exc.strerror or exc})") from None
