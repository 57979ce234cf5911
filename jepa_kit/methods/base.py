"""The method interface: one self-supervised algorithm's step, on the method-neutral engine.

A method is what torchtitan calls a train spec: the one place that knows an algorithm. The
engine (``jepa_kit.train``) builds it from the recipe, puts its trainable networks through
DDP, the optimizer, schedules, precision and compile, runs ``forward`` on each batch, steps
the optimizer, calls ``after_step``, checkpoints ``networks`` and watches ``StepOutput``
with the collapse monitors. It never names a network.
"""

from __future__ import annotations

import contextlib
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar

import torch
from torch import nn

from jepa_kit.config import ComponentConfig
from jepa_kit.errors import UserError

if TYPE_CHECKING:
    from jepa_kit.checkpoint.record import CheckpointRecord
    from jepa_kit.data.loader import Batch, Collator
    from jepa_kit.methods.importer import ReferenceImporter
    from jepa_kit.views.base import Views

#: Checkpoint keys the engine owns; a network may not be named like one of them.
RESERVED_NAMES = frozenset({"format", "format_version", "method", "step", "epoch",
                            "step_in_epoch", "optimizer", "rng", "recipe", "versions", "metrics",
                            "iterations_per_epoch", "networks"})


class MethodConfig(ComponentConfig):
    """Base of method configs: the algorithm's own options (the ``[method]`` section)."""

    component_kind: ClassVar[str] = "method"


@dataclass
class StepOutput:
    """What ``Method.forward`` returns for one batch.

    ``loss`` is the scalar the engine back-propagates (fp32). ``metrics`` are detached scalars
    (tensors or numbers) logged at log steps. ``features`` (B, N, D) are the token features the
    collapse monitors watch (I-JEPA: the target encoder's; None: no monitors).
    ``predictions`` and ``targets`` (..., D), when the method has them, add the
    prediction-quality monitors. ``embeddings`` are what regularizers may read, by the names
    of ``Method.embeddings``: (N, D) or (V, N, D), with their gradient.
    """

    loss: torch.Tensor
    metrics: dict[str, Any] = field(default_factory=dict)
    features: torch.Tensor | None = None
    predictions: torch.Tensor | None = None
    targets: torch.Tensor | None = None
    embeddings: dict[str, torch.Tensor] = field(default_factory=dict)


def autocast(device_type: str, precision: str) -> contextlib.AbstractContextManager:
    """bf16 autocast for ``precision == "bf16"``, else nothing."""
    if precision == "bf16":
        return torch.autocast(device_type=device_type, dtype=torch.bfloat16)
    return contextlib.nullcontext()


class Method(ABC):
    """One algorithm: its networks, its batch and its loss.

    Built as ``cls(config, sections={slot: component config}, img_size=S, lengths=L,
    precision=p, seed=s)``: ``sections`` holds the recipe sections named in ``slots``;
    ``lengths`` the run's schedule lengths (an EMA ramp needs them); ``seed`` the run's seed.
    Construction order is part of reproducibility: the engine seeds the global RNG with the
    run's seed, then builds the method, so networks built first get the same weights in every
    run (and ``eval --random-init`` rebuilds the same ones).

    Not for: the optimizer, gradient bookkeeping, devices, distributed wrapping, logging or
    files (the engine's), nor data loading (views and datasets).
    """

    Config: ClassVar[type[MethodConfig]]

    #: Recipe sections this method reads -> the component kind a section gets when the recipe
    #: leaves it out (None: the recipe must have it). A section's name is its component kind.
    slots: ClassVar[dict[str, str | None]]
    #: ``eval --which`` choice -> network name; the first is the default.
    eval_encoders: ClassVar[dict[str, str]]
    #: Embeddings ``forward`` puts in ``StepOutput.embeddings`` for regularizers (a recipe's
    #: ``[[regularizers]] on``): name -> what it is and its shape.
    embeddings: ClassVar[dict[str, str]] = {}
    #: The official implementation's checkpoint reader (``jepa-kit import-reference`` asks each
    #: method's whether a file is its own); None: the method has no reference checkpoints.
    reference_importer: ClassVar[type[ReferenceImporter] | None] = None
    #: Evaluation default: the augmented views the paper's probe trains on
    #: (``eval --augment <method>``), ``(img_size) -> view``, ``view(image, key) -> tensor``
    #: drawing every random number from ``key``; None: the method declares none.
    eval_augmentation: ClassVar[Callable[[int], Callable[[torch.Tensor, int], torch.Tensor]]
                                | None] = None

    #: Every network, by name: what checkpoints hold (one state dict per name).
    networks: dict[str, nn.Module]
    #: Names of the networks the optimizer trains, in parameter-group order.
    trainable: tuple[str, ...]
    #: The views transform that makes this method's samples.
    views: Views
    #: True when every batch has one of a few fixed shapes (I-JEPA with
    #: ``method.length_bucket``): ``train.compile`` then compiles a static graph per shape.
    static_shapes: bool = False

    @classmethod
    def check_sections(cls, sections: Mapping[str, ComponentConfig]) -> None:
        """Raise ``ValueError`` naming the recipe keys when the slot sections cannot work
        together for this method (e.g. views with one view for a multi-view method). Called
        by ``check_recipe`` when a recipe is validated, so the error comes before any work
        starts."""
        return None

    @classmethod
    def check_recipe(cls, config: MethodConfig, sections: Mapping[str, ComponentConfig]
                     ) -> None:
        """Raise ``ValueError`` (or ``UserError``) naming the recipe keys when the method's own
        options (``config``, the ``[method]`` section) contradict its slot sections, e.g. an
        option that needs an encoder kind the recipe does not use. Called once per
        validation, with every slot section validated; the default calls
        ``check_sections(sections)``, so an override calls ``super().check_recipe(config,
        sections)`` to keep those checks."""
        cls.check_sections(sections)

    @abstractmethod
    def forward(self, batch: Batch, nets: Mapping[str, nn.Module]) -> StepOutput:
        """Loss and metrics of ``batch`` (already on the device).

        ``nets`` maps every network name to the module to call: the trainable ones wrapped by
        the engine (DDP, compile), the others as built. Call those, not ``self.networks``,
        so gradients are synchronised.
        """

    def after_step(self, step: int) -> dict[str, float]:
        """Work after optimizer step ``step`` (1-based), under ``no_grad``: e.g. the EMA.

        Returns values to log with the step (e.g. the momentum used)."""
        return {}

    def collator(self, *, seed: int, rank: int) -> Collator:
        """The picklable collate function of this method's batches (runs in the workers)."""
        from jepa_kit.data.loader import Collator

        return Collator(None, seed, rank)

    def param_groups(self) -> list[dict[str, Any]]:
        """The optimizer's parameter groups over the ``trainable`` networks' parameters.

        torch group dicts; ``WD_exclude: True`` keeps a group out of the weight-decay
        schedule, ``lr_scale`` multiplies its learning rate (``jepa_kit.optim.base``). The
        default is the I-JEPA reference's split: every network's decayed tensors, then every
        network's biases and 1-D tensors without decay. Override to give a head its own lr
        or exempt more tensors; keep the order fixed (checkpoints store the groups in it).
        """
        from jepa_kit.optim.groups import param_groups

        return param_groups([self.networks[name] for name in self.trainable])

    # -- engine helpers --------------------------------------------------------------------
    def to(self, device: torch.device | str) -> Method:
        for network in self.networks.values():
            network.to(device)
        return self

    @classmethod
    def encoder_for(cls, which: str | None) -> str:
        """The network name behind an ``eval --which`` choice (None: the default)."""
        if which is None:
            return next(iter(cls.eval_encoders.values()))
        if which not in cls.eval_encoders:
            raise UserError(
                f"--which {which!r}: method {cls.Config.model_fields['kind'].default!r} has "
                f"the encoders {', '.join(cls.eval_encoders)}"
            )
        return cls.eval_encoders[which]

    def eval_network(self, which: str | None,
                     plain: Callable[[nn.Module], nn.Module] = lambda network: network
                     ) -> nn.Module:
        """The module periodic evaluation (``eval.protocols``) scores: by default the ``which``
        encoder. ``plain(network)`` gives a network as an ordinary module (under FSDP, a
        gathered copy); a method whose evaluation needs several networks combines them."""
        return plain(self.networks[self.encoder_for(which)])

    def state_dict(self) -> dict[str, dict[str, torch.Tensor]]:
        """One state dict per network, keyed by its name."""
        return {name: network.state_dict() for name, network in self.networks.items()}

    def load_state_dict(self, state: CheckpointRecord | Mapping[str, Any],
                        source: str = "checkpoint") -> None:
        """Load every network from a checkpoint record (or a mapping of network name to state
        dict), strict, naming the one that does not fit."""
        from jepa_kit.checkpoint.record import CheckpointRecord

        if isinstance(state, CheckpointRecord):
            state = state.networks
        for name, network in self.networks.items():
            weights = state.get(name)
            if not isinstance(weights, dict):
                raise UserError(f"{source} has no {name!r} weights (method "
                                f"{self.Config.model_fields['kind'].default!r} needs "
                                f"{', '.join(self.networks)})")
            try:
                network.load_state_dict(weights, strict=True)
            except RuntimeError as exc:
                raise UserError(
                    f"{source}: weights do not fit the recipe's {name}: {exc}".split("\n")[0]
                ) from None


def check_networks(method: Method) -> None:
    """Raise ``ValueError`` if a method's declared names do not fit its networks."""
    clash = RESERVED_NAMES & set(method.networks)
    assert not clash, f"network names {sorted(clash)} are reserved checkpoint keys"
    missing = [n for n in (*method.trainable, *method.eval_encoders.values())
               if n not in method.networks]
    if missing:
        raise ValueError(f"{type(method).__name__} names networks it does not have: {missing}")



