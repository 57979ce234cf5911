"""Projectors: heads that map pooled encoder features into a method's embedding space."""

from jepa_kit.projectors.base import Projector, ProjectorConfig

__all__ = ["Projector", "ProjectorConfig"]
