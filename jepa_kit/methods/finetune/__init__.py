"""Supervised fine-tuning (MAE's protocol) as a method the engine trains."""

from jepa_kit.methods.finetune.method import Finetune, FinetuneConfig

__all__ = ["Finetune", "FinetuneConfig"]
