"""Interoperability: official checkpoints in (each method's importer claims its own); safetensors,
timm and Hugging Face out."""

from jepa_kit.interop.export import EXPORT_FORMATS, export_checkpoint, export_encoder
from jepa_kit.interop.reference import (
    ReferenceWeights,
    import_reference,
    infer_num_heads,
    load_reference_checkpoint,
)

__all__ = [
    "EXPORT_FORMATS",
    "ReferenceWeights",
    "export_checkpoint",
    "export_encoder",
    "import_reference",
    "infer_num_heads",
    "load_reference_checkpoint",
]
