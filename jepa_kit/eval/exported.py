"""Encoders that left jepa-kit (``jepa-kit export``) read back for evaluation.

``jepa_kit.interop.export`` writes a trained encoder as

* a timm model folder (``config.json`` + ``model.safetensors``), which timm itself rebuilds with
  ``timm.create_model("local-dir:FOLDER", pretrained=True)``: evaluated through jepa-kit's
  ``timm`` encoder built exactly that way, so the scores are those a timm user would get;
* a ``.safetensors`` file with jepa-kit keys and the encoder config in its metadata (format
  ``jepa-kit-encoder``): rebuilt as a ``vit`` encoder and loaded strictly;
* a transformers ``IJepaModel`` folder (``--format hf``): rebuilt as a ``vit`` encoder, its
  keys mapped back (``jepa_kit.interop.hf``).

Neither carries a dataset: evaluation takes ``--data`` or ``--dataset``, at the exported image
size.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from jepa_kit.encoders.base import Encoder
from jepa_kit.errors import UserError


@dataclass
class ExportedEncoder:
    """An exported encoder, its image size and the encoder section that rebuilds it."""

    encoder: Encoder
    img_size: int
    encoder_config: dict[str, Any]
    format: str


def is_exported(path: Path) -> bool:
    """A timm export folder, or a ``.safetensors`` file (not a jepa-kit checkpoint)."""
    return (path.is_dir() and (path / "config.json").is_file()) or path.suffix == ".safetensors"


def _timm_folder(folder: Path) -> ExportedEncoder:
    from jepa_kit.encoders.timm_encoder import TimmEncoder

    try:
        config = json.loads((folder / "config.json").read_text())
        args = config["model_args"]
        img_size, patch = int(args["img_size"]), int(args["patch_size"])
        in_chans = int(args.get("in_chans", 3))
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise UserError(f"{folder}: not a timm model folder written by `jepa-kit export "
                        f"--format timm` (config.json without model_args: {exc})") from None
    if not (folder / "model.safetensors").is_file():
        raise UserError(f"{folder}: the timm model folder has no model.safetensors")
    section = {"kind": "timm", "model_name": f"local-dir:{folder.resolve()}",
               "pretrained": True, "patch_size": patch}
    encoder = TimmEncoder(TimmEncoder.Config(**section), img_size=img_size, in_chans=in_chans)
    return ExportedEncoder(encoder.eval(), img_size, section, "timm")


def _safetensors(path: Path) -> ExportedEncoder:
    from safetensors import safe_open
    from safetensors.torch import load_file

    from jepa_kit.encoders.vit import ViTEncoder

    try:
        with safe_open(str(path), framework="pt") as handle:
            meta = handle.metadata() or {}
    except Exception as exc:  # safetensors raises its own error types for bad headers
        raise UserError(f"{path}: not a readable safetensors file ({exc})") from None
    if meta.get("format") != "jepa-kit-encoder":
        raise UserError(f"{path}: a safetensors file without jepa-kit's encoder metadata; "
                        "export with `jepa-kit export --format safetensors`, or pass the "
                        "timm folder of `--format timm`")
    section = json.loads(meta["encoder"])
    img_size, in_chans = int(meta["img_size"]), int(meta.get("in_chans", 3))
    encoder = ViTEncoder(ViTEncoder.Config(**section), img_size=img_size, in_chans=in_chans)
    try:
        encoder.load_state_dict(load_file(str(path)), strict=True)
    except RuntimeError as exc:
        raise UserError(f"{path}: the weights do not fit the encoder in its metadata: "
                        f"{str(exc).splitlines()[0]}") from None
    return ExportedEncoder(encoder.eval(), img_size, section, "safetensors")


def load_exported(path: str | Path) -> ExportedEncoder:
    """Rebuild the encoder of an export folder or file (eval mode, on the CPU)."""
    from jepa_kit.interop.hf import is_hf_folder, load_hf_folder

    path = Path(path)
    if not path.exists():
        raise UserError(f"{path}: does not exist")
    if is_hf_folder(path):  # ``--format hf``: transformers' IJepaModel layout
        encoder, section, img_size = load_hf_folder(path)
        return ExportedEncoder(encoder, img_size, section, "hf")
    return _timm_folder(path) if path.is_dir() else _safetensors(path)
