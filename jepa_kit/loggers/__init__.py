"""Loggers: where a run's records go (``metrics.jsonl`` always; TensorBoard, CSV, W&B, MLflow
or a plug-in's when the recipe lists them in ``[[loggers]]``)."""

from __future__ import annotations

from jepa_kit.loggers.base import Logger, LoggerConfig, LoggerSetupError, RunInfo
from jepa_kit.loggers.hub import Loggers, LoggerWarning

__all__ = ["Logger", "LoggerConfig", "LoggerSetupError", "LoggerWarning", "Loggers", "RunInfo"]
