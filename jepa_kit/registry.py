"""Component discovery through entry points, one registry per kind.

jepa-kit's own components are declared in its ``pyproject.toml`` under the same entry-point
groups a third-party package uses, so built-ins and plugins are found the same way. Listing reads
package metadata only; a component's module is imported when a recipe names it or a listing asks
for details. A plugin that fails to import is reported once and skipped; a name claimed twice is
an error that names both distributions.
"""

from __future__ import annotations

import difflib
import importlib
import os
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from importlib import metadata
from typing import Any, TypeVar

from jepa_kit.errors import UserError

#: Component kind -> entry-point group.
GROUPS: dict[str, str] = {
    "method": "jepa_kit.methods",
    "encoder": "jepa_kit.encoders",
    "predictor": "jepa_kit.predictors",
    "masker": "jepa_kit.maskers",
    "target_updater": "jepa_kit.target_updaters",
    "loss": "jepa_kit.losses",
    "dataset": "jepa_kit.datasets",
    "views": "jepa_kit.views",
    "projector": "jepa_kit.projectors",
    "regularizer": "jepa_kit.regularizers",
    "eval_protocol": "jepa_kit.eval_protocols",
    "planner": "jepa_kit.planners",
    "logger": "jepa_kit.loggers",
    "optimizer": "jepa_kit.optimizers",
    "schedule": "jepa_kit.schedules",
}

#: The distribution that ships the built-ins.
OWN_DISTRIBUTION = "jepa-kit"
#: Set to 1/true/yes to ignore every entry point not declared by jepa-kit itself.
DISABLE_ENV = "JEPA_KIT_DISABLE_PLUGINS"
IN_PROCESS = "<in-process>"


class RegistryError(UserError):
    """A component name is claimed twice, unknown, or its class does not fit its kind."""


class PluginLoadWarning(UserWarning):
    """A plugin's entry point could not be imported; it is skipped."""


@dataclass
class Entry:
    """One registered component, possibly not imported yet."""

    kind: str
    name: str
    value: str  # "module:Class", or the qualified name for in-process registrations
    distribution: str
    version: str
    _cls: type | None = field(default=None, repr=False)
    _error: str | None = field(default=None, repr=False)

    @property
    def builtin(self) -> bool:
        return self.distribution == OWN_DISTRIBUTION


def _plugins_disabled() -> bool:
    return os.environ.get(DISABLE_ENV, "").strip().lower() in {"1", "true", "yes", "on"}


def _normalise(dist_name: str) -> str:
    return dist_name.replace("_", "-").lower()


def _base_class(kind: str) -> type:
    from jepa_kit.data.base import Dataset
    from jepa_kit.encoders.base import Encoder
    from jepa_kit.eval.protocols.base import Protocol
    from jepa_kit.loggers.base import Logger
    from jepa_kit.losses.base import Loss
    from jepa_kit.maskers.base import Masker
    from jepa_kit.methods.base import Method
    from jepa_kit.optim.base import Optimizer, Schedule
    from jepa_kit.planners.base import Planner
    from jepa_kit.predictors.base import Predictor
    from jepa_kit.projectors.base import Projector
    from jepa_kit.regularizers.base import Regularizer
    from jepa_kit.target_updaters.base import TargetUpdater
    from jepa_kit.views.base import Views

    return {
        "method": Method,
        "encoder": Encoder,
        "predictor": Predictor,
        "masker": Masker,
        "target_updater": TargetUpdater,
        "loss": Loss,
        "dataset": Dataset,
        "views": Views,
        "projector": Projector,
        "regularizer": Regularizer,
        "eval_protocol": Protocol,
        "planner": Planner,
        "logger": Logger,
        "optimizer": Optimizer,
        "schedule": Schedule,
    }[kind]


def check_component(kind: str, name: str, cls: Any) -> None:
    """Raise ``RegistryError`` unless ``cls`` implements ``kind`` with ``Config.kind == name``."""
    base = _base_class(kind)
    if not (isinstance(cls, type) and issubclass(cls, base)):
        raise RegistryError(f"{kind} {name!r}: {cls!r} is not a subclass of {base.__qualname__}")
    config = getattr(cls, "Config", None)
    from jepa_kit.config import ComponentConfig

    if not (isinstance(config, type) and issubclass(config, ComponentConfig)):
        raise RegistryError(f"{kind} {name!r}: {cls.__qualname__}.Config is not a ComponentConfig")
    declared = config.model_fields["kind"].default
    if declared != name:
        raise RegistryError(
            f"{kind} {name!r}: {cls.__qualname__}.Config declares kind={declared!r}; the "
            f"entry-point name, registry key and Config.kind must be the same string"
        )
    if config.component_kind != kind:
        raise RegistryError(
            f"{kind} {name!r}: {cls.__qualname__}.Config derives from the {config.component_kind!r}"
            f" base config, expected the {kind!r} one"
        )


class Registry:
    """The components of one kind, discovered lazily from entry points."""

    def __init__(self, kind: str) -> None:
        if kind not in GROUPS:
            raise RegistryError(f"unknown component kind {kind!r}; kinds: {', '.join(GROUPS)}")
        self.kind = kind
        self.group = GROUPS[kind]
        self._entries: dict[str, Entry] | None = None
        self._local: dict[str, Entry] = {}
        #: Bumped on every change, so caches keyed on it (the recipe model) see replacements
        #: under an unchanged name.
        self.generation = 0

    # -- discovery -------------------------------------------------------------------------
    def _discover(self) -> dict[str, Entry]:
        found: dict[str, Entry] = {}
        disabled = _plugins_disabled()
        for ep in metadata.entry_points(group=self.group):
            dist = ep.dist
            dist_name = _normalise(dist.metadata["Name"]) if dist is not None else "<unknown>"
            version = dist.version if dist is not None else "?"
            if disabled and dist_name != OWN_DISTRIBUTION:
                continue
            entry = Entry(self.kind, ep.name, ep.value, dist_name, version)
            previous = found.get(ep.name)
            if previous is not None:
                # The same distribution seen twice on sys.path is one claim, not a conflict.
                if previous.distribution == dist_name and previous.value == ep.value:
                    continue
                raise RegistryError(
                    f"{self.kind} name {ep.name!r} is claimed twice: by {previous.distribution} "
                    f"{previous.version} ({previous.value}) and by {dist_name} {version} "
                    f"({ep.value}); uninstall one of them"
                )
            found[ep.name] = entry
        return found

    def _all(self) -> dict[str, Entry]:
        if self._entries is None:
            self._entries = self._discover()
        merged = dict(self._entries)
        merged.update(self._local)
        return merged

    def refresh(self) -> None:
        """Forget what was discovered (after installing or removing a package)."""
        self._entries = None
        self.generation += 1

    # -- listing ---------------------------------------------------------------------------
    def names(self) -> list[str]:
        """Registered names, without importing anything."""
        return sorted(self._all())

    def entries(self) -> list[Entry]:
        return [self._all()[n] for n in self.names()]

    def entry(self, name: str) -> Entry:
        entries = self._all()
        if name not in entries:
            raise RegistryError(self.unknown_message(name))
        return entries[name]

    def unknown_message(self, name: str) -> str:
        names = self.names()
        msg = f"unknown {self.kind} {name!r}; installed: {', '.join(names) or '(none)'}"
        close = difflib.get_close_matches(name, names, n=1, cutoff=0.6)
        if close:
            msg += f". Did you mean {close[0]!r}?"
        return msg

    # -- loading ---------------------------------------------------------------------------
    def load(self, name: str) -> type:
        """Import and check the class registered as ``name``."""
        entry = self.entry(name)
        if entry._cls is not None:
            return entry._cls
        if entry._error is not None:
            raise RegistryError(entry._error)
        try:
            module_name, _, attr = entry.value.partition(":")
            obj: Any = importlib.import_module(module_name)
            for part in attr.split(".") if attr else []:
                obj = getattr(obj, part)
            check_component(self.kind, name, obj)
        except Exception as exc:  # a broken plugin must not take the others down
            entry._error = (
                f"{self.kind} {name!r} from {entry.distribution} {entry.version} "
                f"(entry point {self.group}:{name} = {entry.value}) failed to load: "
                f"{type(exc).__name__}: {exc}"
            )
            warnings.warn(entry._error, PluginLoadWarning, stacklevel=2)
            raise RegistryError(entry._error) from exc
        entry._cls = obj
        return obj

    def load_all(self) -> dict[str, type]:
        """Every loadable component; broken ones are warned about once and left out."""
        loaded: dict[str, type] = {}
        for name in self.names():
            entry = self._all()[name]
            if entry._error is not None:
                continue
            try:
                loaded[name] = self.load(name)
            except RegistryError:
                continue
        return loaded

    # -- in-process registration -----------------------------------------------------------
    def register(self, name: str, cls: type, *, replace: bool = False) -> type:
        check_component(self.kind, name, cls)
        existing = self._all().get(name)
        if existing is not None and not replace:
            raise RegistryError(
                f"{self.kind} name {name!r} is claimed twice: by {existing.distribution} "
                f"{existing.version} ({existing.value}) and by {IN_PROCESS} "
                f"({cls.__module__}.{cls.__qualname__})"
            )
        self._local[name] = Entry(
            self.kind, name, f"{cls.__module__}:{cls.__qualname__}", IN_PROCESS, "-", cls
        )
        self.generation += 1
        return cls

    def unregister(self, name: str) -> None:
        if self._local.pop(name, None) is not None:
            self.generation += 1


REGISTRIES: dict[str, Registry] = {kind: Registry(kind) for kind in GROUPS}

C = TypeVar("C", bound=type)


def registry(kind: str) -> Registry:
    """The registry of ``kind`` (one of ``GROUPS``)."""
    if kind not in REGISTRIES:
        raise RegistryError(f"unknown component kind {kind!r}; kinds: {', '.join(GROUPS)}")
    return REGISTRIES[kind]


def register(kind: str, name: str | None = None, *, replace: bool = False) -> Callable[[C], C]:
    """Decorator registering a component in this process (notebooks, tests).

    The name defaults to the class's ``Config.kind``; the same checks as for entry points apply.
    """

    def decorate(cls: C) -> C:
        key = name or cls.Config.model_fields["kind"].default  # type: ignore[attr-defined]
        registry(kind).register(key, cls, replace=replace)
        return cls

    return decorate


def iter_entries() -> Iterator[Entry]:
    for reg in REGISTRIES.values():
        yield from reg.entries()


def refresh() -> None:
    """Re-read entry points for every kind."""
    for reg in REGISTRIES.values():
        reg.refresh()


def component_versions() -> dict[str, str]:
    """Distribution -> version of every distribution that provides a component."""
    return {e.distribution: e.version for e in iter_entries()}
