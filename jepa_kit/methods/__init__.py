"""Methods: the algorithms the engine trains (I-JEPA, LeJEPA, plug-ins)."""

from jepa_kit.methods.base import Method, MethodConfig, StepOutput, autocast, check_networks

__all__ = ["Method", "MethodConfig", "StepOutput", "autocast", "check_networks"]
