"""Predictors: context tokens -> predicted target tokens."""

from jepa_kit.predictors.base import Predictor, PredictorConfig

__all__ = ["Predictor", "PredictorConfig"]
