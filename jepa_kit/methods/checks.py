"""First-step checks of component outputs: a plugin's bug becomes a user error naming it.

A component whose output has the wrong shape, dtype or values would otherwise fail deep inside
the next component (blaming it) or train on garbage. Methods run these checks on their first
batch only, so the step costs nothing afterwards.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch

from jepa_kit.config import ComponentConfig
from jepa_kit.errors import UserError
from jepa_kit.registry import RegistryError, registry

#: ``check(slot, what, tensor, expected shape)``: a method's first-step check of one output.
Check = Callable[[str, str, torch.Tensor, tuple[int | None, ...]], None]


class ComponentOutputError(UserError):
    """A component returned something its interface does not allow."""


def describe_component(kind: str, config: ComponentConfig) -> str:
    """``predictor 'my_pred' (entry point jepa_kit.predictors:my_pred = pkg.mod:Cls, from
    my-dist 0.1)`` for messages."""
    try:
        entry = registry(kind).entry(config.kind)
    except RegistryError:
        return f"{kind} {config.kind!r}"
    return (f"{kind} {config.kind!r} (entry point {registry(kind).group}:{entry.name} = "
            f"{entry.value}, from {entry.distribution} {entry.version})")


def check_output(kind: str, config: ComponentConfig, what: str, value: object,
                 shape: Sequence[int | None]) -> None:
    """Raise ``ComponentOutputError`` unless ``value`` is a finite floating tensor of
    ``shape`` (None: any size on that axis)."""
    who = describe_component(kind, config)
    expected = "(" + ", ".join("*" if d is None else str(d) for d in shape) + ")"
    if not isinstance(value, torch.Tensor):
        raise ComponentOutputError(f"{who}: {what} must be a tensor of shape {expected}, got "
                                   f"{type(value).__name__}")
    actual = tuple(value.shape)
    if len(actual) != len(shape) or any(e is not None and e != a
                                        for e, a in zip(shape, actual, strict=False)):
        raise ComponentOutputError(f"{who}: {what} has shape {actual}, expected {expected}")
    if not value.is_floating_point():
        raise ComponentOutputError(f"{who}: {what} has dtype {value.dtype}, expected a float")
    if not bool(torch.isfinite(value).all()):
        raise ComponentOutputError(f"{who}: {what} holds NaN or inf at the first step")
