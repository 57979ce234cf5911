"""A ``vit`` encoder as a Hugging Face transformers ``IJepaModel`` folder, both ways.

transformers' ``IJepaModel`` (``model_type`` "ijepa") is a ViT without a class token: patch
embedding, learned position table, pre-norm blocks and a final LayerNorm, whose
``last_hidden_state`` is one token per patch, exactly what jepa-kit's ``vit`` encoder returns.
(``ViTModel`` would prepend a class token, which changes every attention row.) The checkpoint
keys are the ones the Hub's I-JEPA models use: ViT-style ``encoder.layer.N...`` with q, k and
v as three Linears where jepa-kit keeps one fused ``qkv``. transformers 4.x loads them as they
are and 5.x renames them on load.

``hf_config`` / ``hf_state_dict`` write that layout; ``state_dict_from_hf`` and
``load_hf_folder`` read such a folder back into a ``vit`` encoder, so an export evaluates and
loads through jepa-kit as well.

- [0]: I-JEPA, Assran et al. 2023, arXiv:2301.08243
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch

from jepa_kit.encoders.vit import ViTEncoder
from jepa_kit.errors import UserError

__all__ = ["hf_config", "hf_state_dict", "is_hf_folder", "load_hf_folder", "state_dict_from_hf"]

#: Our block submodules -> theirs (q, k, v are handled apart: one fused tensor on our side).
_RENAMES = {"norm1": "layernorm_before", "norm2": "layernorm_after",
            "attn.proj": "attention.output.dense", "mlp.fc1": "intermediate.dense",
            "mlp.fc2": "output.dense"}
_TOP = {"patch_embed.proj.weight": "embeddings.patch_embeddings.projection.weight",
        "patch_embed.proj.bias": "embeddings.patch_embeddings.projection.bias",
        "pos_embed": "embeddings.position_embeddings",
        "norm.weight": "layernorm.weight", "norm.bias": "layernorm.bias"}


def hf_config(config: ViTEncoder.Config, img_size: int, in_chans: int = 3) -> dict[str, Any]:
    """transformers' ``IJepaConfig`` fields for this encoder."""
    d = config.dims()
    return {
        "architectures": ["IJepaModel"],
        "model_type": "ijepa",
        "hidden_size": d.embed_dim,
        "num_hidden_layers": d.depth,
        "num_attention_heads": d.num_heads,
        "intermediate_size": int(d.embed_dim * d.mlp_ratio),
        "hidden_act": "gelu",  # exact erf GELU in transformers
        "hidden_dropout_prob": 0.0,
        "attention_probs_dropout_prob": 0.0,
        "initializer_range": 0.02,
        "layer_norm_eps": 1e-6,
        "image_size": img_size,
        "patch_size": config.patch_size,
        "num_channels": in_chans,
        "qkv_bias": config.qkv_bias,
        "torch_dtype": "float32",
    }


def hf_state_dict(sd: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Our keys -> the Hub I-JEPA checkpoint keys; the fused qkv splits into q, k, v in order."""
    out: dict[str, torch.Tensor] = {theirs: sd[ours] for ours, theirs in _TOP.items()}
    for i in range(_depth(sd, "blocks.")):
        src, dst = f"blocks.{i}.", f"encoder.layer.{i}."
        for ours, theirs in _RENAMES.items():
            for p in ("weight", "bias"):
                out[f"{dst}{theirs}.{p}"] = sd[f"{src}{ours}.{p}"]
        for p in ("weight", "bias"):
            if f"{src}attn.qkv.{p}" not in sd:  # qkv_bias=False
                continue
            q, k, v = sd[f"{src}attn.qkv.{p}"].chunk(3, dim=0)  # rows are [q | k | v]
            for name, t in (("query", q), ("key", k), ("value", v)):
                out[f"{dst}attention.attention.{name}.{p}"] = t
    return {k: v.contiguous() for k, v in out.items()}


def state_dict_from_hf(sd: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """The Hub I-JEPA keys -> ours (the inverse of ``hf_state_dict``); q, k, v fuse again.

    A ``ijepa.`` prefix (the key names of transformers' task models) is accepted."""
    sd = {k.removeprefix("ijepa."): v for k, v in sd.items()}
    out: dict[str, torch.Tensor] = {ours: sd[theirs] for ours, theirs in _TOP.items()}
    for i in range(_depth(sd, "encoder.layer.")):
        src, dst = f"encoder.layer.{i}.", f"blocks.{i}."
        for ours, theirs in _RENAMES.items():
            for p in ("weight", "bias"):
                out[f"{dst}{ours}.{p}"] = sd[f"{src}{theirs}.{p}"]
        for p in ("weight", "bias"):
            parts = [sd.get(f"{src}attention.attention.{n}.{p}") for n in ("query", "key", "value")]
            if all(t is not None for t in parts):
                out[f"{dst}attn.qkv.{p}"] = torch.cat(parts, dim=0)  # type: ignore[arg-type]
    return {k: v.contiguous() for k, v in out.items()}


def is_hf_folder(path: Path) -> bool:
    """A folder whose ``config.json`` says ``model_type`` "ijepa"."""
    config = path / "config.json"
    if not (path.is_dir() and config.is_file()):
        return False
    try:
        return json.loads(config.read_text()).get("model_type") == "ijepa"
    except (OSError, ValueError, AttributeError):
        return False


def load_hf_folder(folder: str | Path) -> tuple[ViTEncoder, dict[str, Any], int]:
    """``(encoder, encoder section, img_size)`` rebuilt from an ``IJepaModel`` folder (eval
    mode, on the CPU), weights loaded ``strict=True``. ``UserError`` names the folder."""
    from safetensors.torch import load_file

    folder = Path(folder)
    try:
        hf = json.loads((folder / "config.json").read_text())
        width, heads = int(hf["hidden_size"]), int(hf["num_attention_heads"])
        section = {"kind": "vit", "embed_dim": width,
                   "depth": int(hf["num_hidden_layers"]), "num_heads": heads,
                   "mlp_ratio": int(hf["intermediate_size"]) / width,
                   "patch_size": int(hf["patch_size"]), "qkv_bias": bool(hf.get("qkv_bias", True))}
        img_size, in_chans = int(hf["image_size"]), int(hf.get("num_channels", 3))
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise UserError(f"{folder}: not an IJepaModel folder written by `jepa-kit export "
                        f"--format hf` ({type(exc).__name__}: {exc})") from None
    weights = folder / "model.safetensors"
    if not weights.is_file():
        raise UserError(f"{folder}: the IJepaModel folder has no model.safetensors")
    encoder = ViTEncoder(ViTEncoder.Config(**section), img_size=img_size, in_chans=in_chans)
    try:
        encoder.load_state_dict(state_dict_from_hf(load_file(str(weights))), strict=True)
    except (KeyError, RuntimeError) as exc:
        first = str(exc).splitlines()[0]
        raise UserError(f"{weights}: the weights do not fit the ViT of its config.json "
                        f"({first})") from None
    return encoder.eval(), section, img_size


def _depth(sd: Mapping[str, Any], prefix: str) -> int:
    index = len(prefix.split(".")) - 1
    return 1 + max((int(k.split(".")[index]) for k in sd if k.startswith(prefix)), default=-1)
