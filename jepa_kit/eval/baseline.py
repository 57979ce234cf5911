"""The random-init baseline of a frozen-encoder score: its cache, and whether a gain is noise.

A probe score means little alone: a randomly initialised ViT already separates easy classes
(on the quickstart's synthetic shapes its kNN top-1 is about 42%, against 25% chance), so
``jepa-kit eval`` also scores the network the run started from (``--random-init``: the same
recipe, built after ``torch.manual_seed(run.seed)`` as the trainer builds it) and reports the
gain, trained minus baseline.

**Cache.** The baseline depends on the architecture, the seed, the data and the protocol, never
on the checkpoint's weights, so every checkpoint of a run (and any run sharing all four) reuses
one score. The key holds the method's resolved recipe sections (``Method.slots``: every
section built, in order, after the seed, so any of them can move the RNG the encoder's init
draws from), the image size, ``run.seed``, the encoder chosen (``which``), the resolved data
section with its split sizes and classes, the protocol with every setting of the probe, the
low-shot draw, the precision, the device type and the torch version (initialisers draw from
torch's RNG). One small JSON file per key, named by the key's SHA-256, under
``$XDG_CACHE_HOME/jepa-kit/baselines`` (``~/.cache/jepa-kit/baselines`` when unset); a file
whose stored key differs from the one asked for (a hash collision, a hand edit) is a miss.

**Noise.** Both accuracies are means over the same ``n`` val images; the binomial standard
error of their difference, treating the two as independent, is
``sqrt(p1 (1 - p1) / n + p0 (1 - p0) / n)``. A gain of at most ``NOISE_SE`` (2) standard
errors is reported as within noise. The two scores are paired (the same images), and paired
predictions are positively correlated, so this standard error overstates the noise a little:
a gain called real is real, and a small gain may be called noise that a paired test would
accept.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

#: A gain of at most this many standard errors of the difference is within noise.
NOISE_SE = 2.0
#: How the baseline network is made; part of the key, so a change of rule misses old entries.
SEED_RULE = "torch.manual_seed(run.seed), then build_method(recipe)"


def cache_dir() -> Path:
    """``$XDG_CACHE_HOME/jepa-kit/baselines``, ``~/.cache/jepa-kit/baselines`` when unset."""
    root = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(root) / "jepa-kit" / "baselines"


def architecture(recipe: Any, which: str) -> dict[str, Any]:
    """What fixes the random-init encoder: the method's sections, image size, seed, encoder."""
    import torch

    from jepa_kit.build import method_class

    sections = {slot: getattr(recipe, slot).model_dump(mode="json")
                for slot in method_class(recipe).slots}
    return {"method": recipe.method.model_dump(mode="json"), "sections": sections,
            "img_size": recipe.img_size, "train.precision": recipe.train.precision,
            "seed": recipe.run.seed, "seed_rule": SEED_RULE, "which": which,
            "torch": torch.__version__.split("+")[0]}


def _canonical(value: Any) -> Any:
    """``value`` as JSON reads it back (tuples become lists), so stored and asked keys compare."""
    return json.loads(json.dumps(value, sort_keys=True))


@dataclass(frozen=True)
class BaselineCache:
    """One JSON file per baseline key under ``root``."""

    root: Path

    @staticmethod
    def default() -> BaselineCache:
        return BaselineCache(cache_dir())

    def path(self, key: dict[str, Any]) -> Path:
        text = json.dumps(_canonical(key), sort_keys=True)
        return self.root / f"{hashlib.sha256(text.encode()).hexdigest()[:24]}.json"

    def load(self, key: dict[str, Any]) -> dict[str, Any] | None:
        """The cached metrics of ``key``, or None (absent, unreadable, or another key's)."""
        try:
            entry = json.loads(self.path(key).read_text())
        except (OSError, ValueError):
            return None
        if not isinstance(entry, dict) or entry.get("key") != _canonical(key):
            return None
        metrics = entry.get("metrics")
        return metrics if isinstance(metrics, dict) else None

    def store(self, key: dict[str, Any], metrics: dict[str, Any], *, checkpoint: str) -> Path:
        """Write ``metrics`` under ``key`` (atomically: concurrent evaluations may race)."""
        from jepa_kit import __version__
        from jepa_kit.atomic import atomic_write

        entry = {"key": _canonical(key), "metrics": metrics, "checkpoint": checkpoint,
                 "jepa_kit": __version__}
        text = json.dumps(entry, indent=2) + "\n"
        return atomic_write(self.path(key), lambda handle: handle.write(text))


@dataclass(frozen=True)
class Gain:
    """Top-1 of the trained encoder minus its random init's, on ``num_val`` images."""

    trained: float
    baseline: float
    num_val: int

    @property
    def top1(self) -> float:
        return self.trained - self.baseline

    @property
    def standard_error(self) -> float:
        """Binomial standard error of the difference of two accuracies on ``num_val`` images."""
        p1, p0, n = self.trained, self.baseline, max(self.num_val, 1)
        return math.sqrt(p1 * (1 - p1) / n + p0 * (1 - p0) / n)

    @property
    def within_noise(self) -> bool:
        return abs(self.top1) <= NOISE_SE * self.standard_error

    def as_json(self) -> dict[str, Any]:
        return {"top1": self.top1, "standard_error": self.standard_error,
                "within_noise": self.within_noise, "noise_rule": f"|gain| <= {NOISE_SE:g} "
                "standard errors, sqrt(p1 (1 - p1) / n + p0 (1 - p0) / n)"}

    def sentence(self) -> str:
        """The verdict in words, with the numbers it rests on."""
        bound = (f"{NOISE_SE:g} standard errors of the difference of two accuracies on "
                 f"{self.num_val} val images: {100 * NOISE_SE * self.standard_error:.2f} "
                 "points")
        gain = f"{100 * self.top1:+.2f} points"
        if self.within_noise:
            return (f"Gain over the random-init encoder {gain}: within noise (at most {bound}); "
                    "this score does not show that pre-training helped.")
        if self.top1 > 0:
            return f"Gain over the random-init encoder {gain}: beyond noise (more than {bound})."
        return (f"The trained encoder scores {100 * -self.top1:.2f} points below its random "
                f"init, beyond noise (more than {bound}).")
