"""The views of a trajectory clip: normalised frames, actions and states, as three "views"."""

from __future__ import annotations

from typing import ClassVar, Literal

import torch

from jepa_kit.data.transforms import normalise
from jepa_kit.errors import UserError
from jepa_kit.views.base import Views, ViewsConfig


class TrajectoryViews(Views):
    """``[frames (T, 3, S, S) float32, actions (T-1, A), states (T, S')]`` of one
    ``jepa_kit.data.trajectories.Trajectory``: the batch's ``views`` are then frames (B, T, 3,
    S, S), actions and states. No augmentation: a crop or flip would change what an action
    does. Built by the ``ac_jepa`` method itself, not a recipe section."""

    modality: ClassVar[str] = "trajectory"

    class Config(ViewsConfig):
        kind: Literal["trajectory"] = "trajectory"

    def __init__(self, config: Config | None = None, *, img_size: int) -> None:
        self.config = config or self.Config()
        # One entry per tensor __call__ returns; only the frames have a side.
        self.sizes = (img_size, 0, 0)

    def __call__(self, image: object, generator: torch.Generator) -> list[torch.Tensor]:
        frames = getattr(image, "frames", None)
        if frames is None:
            raise UserError(f"method.kind='ac_jepa' trains on action-labelled clips "
                            f"(data.kind='trajectories'); the dataset gave a "
                            f"{type(image).__name__}")
        x = normalise(frames.float() / 255.0)
        return [x, image.actions.float(), image.states.float()]  # type: ignore[attr-defined]

    def __repr__(self) -> str:
        return f"TrajectoryViews(img_size={self.sizes[0]})"
