"""Planners: action sequences that minimise an energy (entry-point group
``jepa_kit.planners``; built-ins ``cem`` and ``mppi``)."""

from jepa_kit.planners.base import Energy, Planner, PlannerConfig

__all__ = ["Energy", "Planner", "PlannerConfig"]
