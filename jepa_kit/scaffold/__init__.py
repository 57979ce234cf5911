"""Plugin package skeletons (``jepa-kit plugins new``)."""

from __future__ import annotations

from jepa_kit.scaffold.generator import KINDS, class_name, new_plugin, plan

__all__ = ["KINDS", "class_name", "new_plugin", "plan"]
