"""LeJEPA, one folder: the method (``method.py``).

``jepa_kit.methods.lejepa:LeJEPA`` is the entry point; the names below are the public API.
"""

from jepa_kit.methods.lejepa.method import LeJEPA

__all__ = ["LeJEPA"]
