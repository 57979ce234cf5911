"""Action-conditioned JEPA (V-JEPA 2-AC): a world model over a frozen or trained encoder."""

from jepa_kit.methods.ac_jepa.method import ACJEPA

__all__ = ["ACJEPA"]
