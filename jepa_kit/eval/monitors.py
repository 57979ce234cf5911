"""The collapse monitors, at their former path: they live in ``jepa_kit.train.monitors`` (the
engine runs them every log step, and the engine sits below evaluation)."""

from jepa_kit.train.monitors import CollapseMonitor, feature_std, image_share, rankme

__all__ = ["CollapseMonitor", "feature_std", "image_share", "rankme"]
