"""Views: how one image becomes the augmented inputs of a training step."""

from jepa_kit.views.base import Views, ViewsConfig

__all__ = ["Views", "ViewsConfig"]
