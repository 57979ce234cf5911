"""I-JEPA, one folder: the method (``method.py``), its reference-checkpoint
importer (``importer.py``) and its evaluation defaults (``eval_defaults.py``).

``jepa_kit.methods.ijepa:IJEPA`` is the entry point; the names below are the public API.
"""

from jepa_kit.methods.checks import Check
from jepa_kit.methods.ijepa.method import IJEPA, ijepa_forward

__all__ = ["IJEPA", "Check", "ijepa_forward"]
