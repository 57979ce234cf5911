"""Shared pieces of the conformance checks: failing clearly, configs, gradients, seeded builds.

Checks raise ``AssertionError`` through ``expect`` rather than ``assert`` statements, so they
keep working under ``python -O`` and read the same inside or outside pytest.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any, TypeVar

import torch
from pydantic import BaseModel, ValidationError
from torch import nn

from jepa_kit.config import ComponentConfig
from jepa_kit.registry import RegistryError
from jepa_kit.registry import check_component as _check_registration

T = TypeVar("T")

#: What a check accepts as a config: an instance, a mapping of options, or None (the defaults).
ConfigLike = ComponentConfig | Mapping[str, Any] | None


def expect(condition: object, message: str) -> None:
    """Raise ``AssertionError(message)`` unless ``condition`` holds."""
    if not condition:
        raise AssertionError(message)


def built(build: Callable[[], T], who: str, what: str) -> T:
    """``build()``, its exception (any but ``AssertionError``) re-raised as an
    ``AssertionError`` naming ``who`` and ``what`` failed, with the original as its cause."""
    try:
        return build()
    except AssertionError:
        raise
    except Exception as exc:
        raise AssertionError(f"{who}: {what} failed: {type(exc).__name__}: {exc}") from exc


def label(cls: type) -> str:
    """How a failing check names the component: ``module.Class``."""
    return f"{cls.__module__}.{cls.__qualname__}"


def declared_name(cls: type) -> str:
    config = getattr(cls, "Config", None)
    expect(isinstance(config, type) and issubclass(config, ComponentConfig),
           f"{label(cls)}.Config is missing or is not a jepa_kit ComponentConfig subclass")
    return str(config.model_fields["kind"].default)


def check_config(cls: type, kind: str, config: ConfigLike = None,
                 name: str | None = None) -> ComponentConfig:
    """Check ``cls.Config`` and return the config the other checks should build with.

    The class must implement ``kind`` with ``Config.kind == name`` (the registered name, which
    defaults to the declared one); the config forbids unknown keys; every option has a
    description; the defaults validate (options without a default, such as a data root, are
    allowed); a dump in JSON mode validates back to an equal config; the JSON schema builds.
    """
    name = name if name is not None else declared_name(cls)
    try:
        _check_registration(kind, name, cls)
    except RegistryError as exc:
        raise AssertionError(str(exc)) from None
    model: type[ComponentConfig] = cls.Config  # type: ignore[attr-defined]
    who = f"{label(cls)}.Config"
    expect(model.model_config.get("extra") == "forbid",
           f"{who} must forbid unknown keys (model_config extra='forbid', inherited from "
           f"ComponentConfig): a typo in a recipe would otherwise be ignored silently")
    undocumented = [f for f, info in model.model_fields.items()
                    if f != "kind" and not (info.description or "").strip()]
    expect(not undocumented, f"{who}: options without a description: {', '.join(undocumented)}"
           " (Field(..., description=...) shows up in `jepa-kit schema` and error messages)")
    try:
        model()
    except ValidationError as exc:
        problems = [e for e in exc.errors() if e["type"] != "missing"]
        expect(not problems, f"{who}: the default options do not validate: {problems}")
    cfg = to_config(model, config)
    dumped = cfg.model_dump(mode="json")
    try:
        again = model.model_validate(dumped)
    except ValidationError as exc:
        raise AssertionError(f"{who}: model_dump(mode='json') does not validate back: "
                             f"{exc}") from None
    expect(again == cfg, f"{who}: a JSON round trip changed the config: {cfg!r} -> {again!r}")
    try:
        model.model_json_schema()
    except Exception as exc:  # any failure here breaks `jepa-kit schema`
        raise AssertionError(f"{who}: no JSON schema ({type(exc).__name__}: {exc})") from None
    return cfg


def to_config(model: type[ComponentConfig], config: ConfigLike) -> ComponentConfig:
    """An instance of ``model`` from an instance, a mapping of options, or the defaults."""
    if config is None:
        return model()
    if isinstance(config, ComponentConfig):
        expect(isinstance(config, model),
               f"the config given is a {type(config).__qualname__}, expected {model.__qualname__}")
        return config
    data = dict(config)
    data.setdefault("kind", model.model_fields["kind"].default)
    return model.model_validate(data)


def seeded(build: Callable[[], T], seed: int) -> T:
    """``build()`` with the global torch RNG seeded, restoring the caller's RNG afterwards."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return build()


def generator(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def sorted_indices(batch: int, n: int, k: int, gen: torch.Generator) -> torch.Tensor:
    """(batch, k) int64: k distinct indices of range(n) per row, ascending."""
    return torch.rand(batch, n, generator=gen).argsort(dim=1)[:, :k].sort(dim=1).values


def dropped_pixels(keep: torch.Tensor, grid: tuple[int, ...], patch: int,
                   size: tuple[int, int]) -> torch.Tensor:
    """(B, H, W) bool: True on the pixels of the patches ``keep`` (B, K) leaves out.

    Patches are ``patch`` pixels square on a 2-D ``grid`` (rows, cols), numbered row-major;
    pixels beyond the grid (when the side is not a multiple of the patch) stay False.
    """
    expect(len(grid) == 2, f"the pixel check needs a 2-D patch grid, got {grid}")
    rows, cols = grid
    dropped = torch.ones(keep.shape[0], rows * cols, dtype=torch.bool)
    dropped.scatter_(1, keep, False)
    dropped = dropped.view(-1, rows, cols)
    dropped = dropped.repeat_interleave(patch, dim=1).repeat_interleave(patch, dim=2)
    mask = torch.zeros(keep.shape[0], *size, dtype=torch.bool)
    mask[:, : rows * patch, : cols * patch] = dropped
    return mask


def probe_loss(out: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
    """A scalar whose gradient reaches every element of ``out``.

    A plain ``sum`` would hide missing gradients behind a layer norm, whose outputs sum to a
    constant; random weights do not.
    """
    weights = torch.randn(out.shape, generator=gen, dtype=out.dtype)
    return (out * weights).sum()


def check_gradients(module: nn.Module, who: str) -> None:
    """Every trainable parameter got a finite gradient from the last backward pass.

    A parameter without a gradient is unused or detached: DDP then stalls or needs
    ``find_unused_parameters``, and weight decay still shrinks it.
    """
    missing = [n for n, p in module.named_parameters() if p.requires_grad and p.grad is None]
    expect(not missing, f"{who}: no gradient reached these trainable parameters: "
           f"{', '.join(missing)} (unused, or detached from the output)")
    bad = [n for n, p in module.named_parameters()
           if p.grad is not None and not torch.isfinite(p.grad).all()]
    expect(not bad, f"{who}: non-finite gradients in {', '.join(bad)}")


def check_finite(x: torch.Tensor, who: str) -> None:
    expect(torch.isfinite(x).all(), f"{who}: output holds NaN or inf values")


def check_shape(x: object, shape: Iterable[int], who: str) -> None:
    expect(isinstance(x, torch.Tensor), f"{who}: expected a tensor, got {type(x).__name__}")
    assert isinstance(x, torch.Tensor)
    expect(tuple(x.shape) == tuple(shape),
           f"{who}: expected shape {tuple(shape)}, got {tuple(x.shape)}")


def check_close(a: torch.Tensor, b: torch.Tensor, message: str, *, exact: bool = False) -> None:
    if exact:
        expect(torch.equal(a, b), message)
    else:
        expect(torch.allclose(a, b, rtol=1e-4, atol=1e-5),
               f"{message} (max abs diff {float((a - b).abs().max()):.3g})")


def params_equal(a: nn.Module, b: nn.Module) -> bool:
    sa, sb = a.state_dict(), b.state_dict()
    return sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sa)


def describe(model: BaseModel) -> str:
    return ", ".join(f"{k}={v!r}" for k, v in model.model_dump().items())
