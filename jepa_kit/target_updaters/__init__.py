"""Target updaters: keep the target encoder in step with the online encoder."""

from jepa_kit.target_updaters.base import TargetUpdater, TargetUpdaterConfig

__all__ = ["TargetUpdater", "TargetUpdaterConfig"]
