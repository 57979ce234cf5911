"""Trained ``vit`` encoders out: plain safetensors, a timm model folder, a Hugging Face IJepaModel.

* ``safetensors``: one file, jepa-kit keys, the encoder config in the file's metadata.
* ``timm``: a folder (``config.json`` + ``model.safetensors``) for timm's
  ``VisionTransformer(class_token=False, global_pool="avg", fc_norm=False, ...)``, whose keys are
  ours unchanged; ``timm.create_model("local-dir:<folder>", pretrained=True)`` rebuilds it.
* ``hf``: a folder in the layout of transformers' ``IJepaModel`` (``model_type`` "ijepa"), with
  the checkpoint key names the Hub's I-JEPA models use (``jepa_kit.interop.hf``);
  ``transformers.AutoModel.from_pretrained(folder)`` loads it.

``export_checkpoint`` also writes a model card (``README.md`` in a folder, ``NAME.README.md``
beside a single file; ``jepa_kit.interop.card``) from the checkpoint and its run's evaluations.

- [0]: I-JEPA, Assran et al. 2023, arXiv:2301.08243
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

import torch
from safetensors.torch import save_file

from jepa_kit.encoders.vit import ViTEncoder
from jepa_kit.errors import UserError
from jepa_kit.interop.hf import hf_config, hf_state_dict

__all__ = ["EXPORT_FORMATS", "export_checkpoint", "export_encoder", "hf_config", "hf_state_dict",
           "timm_config", "timm_model_args"]

ExportFormat = Literal["safetensors", "timm", "hf"]
EXPORT_FORMATS: tuple[str, ...] = ("safetensors", "timm", "hf")
WEIGHTS_NAME = "model.safetensors"
#: I-JEPA trains on ImageNet-normalised pixels.
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


def export_encoder(
    state_dict: Mapping[str, torch.Tensor],
    encoder_config: Mapping[str, Any] | ViTEncoder.Config,
    img_size: int,
    fmt: ExportFormat,
    out: str | Path,
    in_chans: int = 3,
) -> Path:
    """Write a ``vit`` encoder's weights as ``fmt`` to ``out`` (a file for safetensors, else a
    folder); returns the path written. The state dict is checked against the config first."""
    config = (encoder_config if isinstance(encoder_config, ViTEncoder.Config)
              else ViTEncoder.Config(**encoder_config))
    sd = _checked(state_dict, config, img_size, in_chans)
    out = Path(out)
    if fmt == "safetensors":
        out.parent.mkdir(parents=True, exist_ok=True)
        meta = {"format": "jepa-kit-encoder", "encoder": config.model_dump_json(),
                "img_size": str(img_size), "in_chans": str(in_chans)}
        save_file(sd, str(out), metadata=meta)
        return out
    if fmt == "timm":
        if out.suffix == ".safetensors":  # a bare weights file, its timm config beside it
            out.parent.mkdir(parents=True, exist_ok=True)
            save_file(sd, str(out), metadata={"format": "pt"})
            config_json = json.dumps(timm_config(config, img_size, in_chans), indent=2)
            out.with_suffix(".json").write_text(config_json + "\n")
            return out
        return _write_folder(out, sd, timm_config(config, img_size, in_chans))
    if fmt == "hf":
        return _write_folder(out, hf_state_dict(sd), hf_config(config, img_size, in_chans))
    raise ValueError(f"unknown export format {fmt!r}; formats: {', '.join(EXPORT_FORMATS)}")


def export_checkpoint(
    checkpoint: str | Path, *, fmt: ExportFormat, which: str | None = None, out: str | Path,
    card: bool = True,
) -> Path:
    """Export one of a jepa-kit checkpoint's encoders: ``which`` names it as the method does
    (I-JEPA: target, the default and what the paper evaluates, or context); the architecture
    comes from the checkpoint's recipe, sizes from its tensors. With ``card`` a model card
    (``jepa_kit.interop.card``) goes beside the weights. Returns the path of the weights."""
    from jepa_kit.checkpoint import read_checkpoint
    from jepa_kit.registry import registry

    record = read_checkpoint(checkpoint)
    method = registry("method").load(record.method)
    encoder = dict(record.recipe.get("encoder") or {})
    if encoder.get("kind") != "vit":
        raise UserError(
            f"{checkpoint}: encoder.kind={encoder.get('kind')!r}; only 'vit' encoders export"
        )
    sd = record.weights(method.encoder_for(which), str(checkpoint))
    conv = sd["patch_embed.proj.weight"]  # (D, C, p, p)
    side = math.isqrt(sd["pos_embed"].shape[1])
    img_size, in_chans = side * conv.shape[-1], conv.shape[1]
    written = export_encoder(sd, encoder, img_size, fmt, out, in_chans=in_chans)
    if card:
        from jepa_kit.interop.card import CardFacts, card_path, find_evaluations, render_card

        d = ViTEncoder.Config(**encoder).dims()
        facts = CardFacts(
            method=record.method, which=which or next(iter(method.eval_encoders)), fmt=fmt,
            out=str(out), encoder=encoder,
            dims={"embed_dim": d.embed_dim, "depth": d.depth, "num_heads": d.num_heads,
                  "mlp_ratio": d.mlp_ratio},
            img_size=img_size, in_chans=in_chans,
            num_params=sum(v.numel() for v in sd.values()),
            step=record.step, epoch=record.epoch, recipe=record.recipe,
            metrics=dict(record.metrics), source=record.source, versions=dict(record.versions),
            evaluations=find_evaluations(Path(checkpoint)),
            name=str((record.recipe.get("run") or {}).get("name", "")))
        card_path(Path(out), fmt).write_text(render_card(facts))
    return written


def timm_model_args(config: ViTEncoder.Config, img_size: int, in_chans: int = 3) -> dict[str, Any]:
    """Keyword arguments of timm's ``VisionTransformer`` that reproduce this encoder."""
    d = config.dims()
    return {
        "img_size": img_size, "patch_size": config.patch_size, "in_chans": in_chans,
        "embed_dim": d.embed_dim, "depth": d.depth, "num_heads": d.num_heads,
        "mlp_ratio": d.mlp_ratio, "qkv_bias": config.qkv_bias,
        # No class token, average pooling with the per-token final norm (as I-JEPA evaluates).
        "class_token": False, "global_pool": "avg", "fc_norm": False, "num_classes": 0,
    }


def timm_config(config: ViTEncoder.Config, img_size: int, in_chans: int = 3) -> dict[str, Any]:
    """timm's hub-style ``config.json``; timm's default LayerNorm already has eps 1e-6."""
    args = timm_model_args(config, img_size, in_chans)
    return {
        "architecture": "vit_base_patch16_224",  # any plain-ViT entry point: model_args win
        "num_classes": 0,
        "num_features": args["embed_dim"],
        "global_pool": "avg",
        "model_args": args,
        "pretrained_cfg": {
            "input_size": [in_chans, img_size, img_size], "fixed_input_size": True,
            "interpolation": "bicubic", "crop_pct": 0.875, "crop_mode": "center",
            "mean": list(IMAGENET_MEAN), "std": list(IMAGENET_STD), "num_classes": 0,
            "first_conv": "patch_embed.proj", "classifier": "head",
        },
    }


def _checked(state_dict: Mapping[str, torch.Tensor], config: ViTEncoder.Config, img_size: int,
             in_chans: int) -> dict[str, torch.Tensor]:
    """Our state dict, ``module.`` stripped, float tensors contiguous; keys and shapes verified."""
    sd = {k.removeprefix("module."): v.detach().cpu().contiguous() for k, v in state_dict.items()}
    with torch.device("meta"):
        expected = ViTEncoder(config, img_size=img_size, in_chans=in_chans).state_dict()
    missing = sorted(set(expected) - set(sd))
    unexpected = sorted(set(sd) - set(expected))
    wrong = [k for k in expected if k in sd and tuple(sd[k].shape) != tuple(expected[k].shape)]
    if missing or unexpected or wrong:
        raise ValueError(
            "state dict does not match the encoder config: "
            f"missing {missing[:5]}, unexpected {unexpected[:5]}, wrong shapes {wrong[:5]}"
        )
    return sd


def _write_folder(out: Path, sd: dict[str, torch.Tensor], config: dict[str, Any]) -> Path:
    out.mkdir(parents=True, exist_ok=True)
    save_file(sd, str(out / WEIGHTS_NAME), metadata={"format": "pt"})
    (out / "config.json").write_text(json.dumps(config, indent=2) + "\n")
    return out
