"""Assembly: turn a validated recipe into component instances.

Each component receives its own config and the runtime facts it needs as keyword arguments;
the recipe as a whole is never passed down.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from jepa_kit.config import ComponentConfig
from jepa_kit.data.base import Dataset
from jepa_kit.encoders.base import Encoder
from jepa_kit.losses.base import Loss
from jepa_kit.maskers.base import Masker
from jepa_kit.optim.schedules import ScheduleLengths
from jepa_kit.predictors.base import Predictor
from jepa_kit.projectors.base import Projector
from jepa_kit.registry import registry
from jepa_kit.target_updaters.base import TargetUpdater
from jepa_kit.views.base import Views

if TYPE_CHECKING:
    from jepa_kit.methods.base import Method
    from jepa_kit.recipe.model import RecipeBase
    from jepa_kit.regularizers.terms import Regularizers


def component_class(kind: str, config: ComponentConfig) -> type:
    return registry(kind).load(config.kind)


def build_encoder(config: ComponentConfig, *, img_size: int, in_chans: int = 3) -> Encoder:
    return component_class("encoder", config)(config, img_size=img_size, in_chans=in_chans)


def build_predictor(config: ComponentConfig, encoder: Encoder) -> Predictor:
    cls = component_class("predictor", config)
    return cls(config, grid=encoder.grid, embed_dim=encoder.embed_dim,
               encoder_heads=encoder.num_heads)


def build_masker(config: ComponentConfig, *, grid: tuple[int, int]) -> Masker:
    return component_class("masker", config)(config, grid=grid)


def build_target_updater(config: ComponentConfig, *, total_steps: float) -> TargetUpdater:
    return component_class("target_updater", config)(config, total_steps=total_steps)


def build_loss(config: ComponentConfig) -> Loss:
    return component_class("loss", config)(config)


def build_dataset(config: ComponentConfig, *, train: bool, seed: int) -> Dataset:
    return component_class("dataset", config)(config, train=train, seed=seed)


def build_views(config: ComponentConfig, *, img_size: int) -> Views:
    return component_class("views", config)(config, img_size=img_size)


def build_projector(config: ComponentConfig, *, in_dim: int) -> Projector:
    return component_class("projector", config)(config, in_dim=in_dim)


def build_regularizers(configs: Sequence[ComponentConfig], *, seed: int) -> Regularizers:
    """The recipe's ``[[regularizers]]``, in order, as one module the engine applies."""
    from jepa_kit.regularizers.terms import Regularizers

    return Regularizers([component_class("regularizer", c)(c, seed=seed) for c in configs])


def method_class(recipe: RecipeBase) -> type[Method]:
    return component_class("method", recipe.method)


#: Schedule lengths of a method built outside training (evaluation, export): nothing steps.
NO_SCHEDULE = ScheduleLengths(ipe=1, epochs=1, warmup_epochs=0.0)


def build_method(recipe: RecipeBase, *, lengths: ScheduleLengths = NO_SCHEDULE) -> Method:
    """The recipe's method, built from the sections it declares (``Method.slots``).

    Seed the global RNG first: networks are initialised while the method is built.
    """
    cls = method_class(recipe)
    sections = {slot: getattr(recipe, slot) for slot in cls.slots}
    return cls(recipe.method, sections=sections, img_size=recipe.img_size, lengths=lengths,
               precision=recipe.train.precision, seed=recipe.run.seed)
