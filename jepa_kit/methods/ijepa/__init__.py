"""I-JEPA, one folder: the method (``method.py``).

``jepa_kit.methods.ijepa:IJEPA`` is the entry point; the names below are the public API.
"""

from jepa_kit.methods.ijepa.method import IJEPA, Check, ijepa_forward

__all__ = ["IJEPA", "Check", "ijepa_forward"]
