"""V-JEPA, one folder: the method (``method.py``), its reference-checkpoint
importer (``importer.py``) and its evaluation defaults (``eval_defaults.py``).

``jepa_kit.methods.vjepa:VJEPA`` is the entry point; the names below are the public API.
"""

from jepa_kit.methods.vjepa.method import VJEPA, feature_loss, vjepa_forward

__all__ = ["VJEPA", "feature_loss", "vjepa_forward"]
