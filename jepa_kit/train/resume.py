"""What a resumed run may change: settings that keep it exact pass, others need consent.

A resumed run repeats the losses of an uninterrupted one only if everything that shapes the
computation is the same: the seed, the data, the batch size, the models, the schedules. Logging,
checkpoint cadence and format, the step limit, workers and evaluation do not enter the
computation. The distributed strategy is allowed too: DDP and FSDP compute the same update, in
another order of floating-point sums (like a change of world size, the run continues, not
bit for bit).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from jepa_kit.errors import UserError
from jepa_kit.recipe import flatten

#: Dotted keys (or prefixes ending in ".") a resume may change without ``--allow-changes``.
HARMLESS = ("train.max_steps", "train.log_every", "train.checkpoint_every", "train.keep_last",
            "train.device", "data.num_workers", "run.name", "run.output_dir", "eval.",
            "train.max_bad_steps", "train.init_from", "train.checkpoint_format",
            "train.async_checkpoint", "train.stop_on_collapse", "distributed.", "expect.",
            "loggers")


def _as_validated(recipe: Mapping[str, Any]) -> Mapping[str, Any]:
    """A saved recipe as validating it today writes it: keys added since then get their
    defaults and moved keys (``optim.betas`` -> ``optim.optimizer.betas``) their new place, so
    only real changes are reported. A recipe that no longer validates is compared as saved."""
    import warnings

    from jepa_kit.recipe import recipe_to_dict, validate_recipe

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return recipe_to_dict(validate_recipe(dict(recipe)))
    except UserError:
        return recipe


def recipe_changes(old: Mapping[str, Any], new: Mapping[str, Any]) -> list[tuple[str, Any, Any]]:
    """``(dotted key, old value, new value)`` for every leaf that differs (None: absent)."""
    a, b = flatten(dict(old)), flatten(dict(new))
    return [(k, a.get(k), b.get(k)) for k in sorted(a.keys() | b.keys()) if a.get(k) != b.get(k)]


def check_resume(old: Mapping[str, Any], new: Mapping[str, Any], *, source: str,
                 allow_changes: bool) -> list[str]:
    """Lines describing what changed since ``source`` was written; ``UserError`` when a change
    breaks exactness and ``allow_changes`` is off. Harmless changes are returned too."""
    changes = recipe_changes(_as_validated(old), new)
    lines = [f"{k}: {a!r} -> {b!r}" for k, a, b in changes]
    breaking = [line for (k, _, _), line in zip(changes, lines, strict=True)
                if not any(k == h or (h.endswith(".") and k.startswith(h)) for h in HARMLESS)]
    if breaking and not allow_changes:
        raise UserError(
            f"--resume: the recipe differs from the one {source} was trained with, in ways that "
            f"change the computation:\n  " + "\n  ".join(breaking) + "\nrestore those settings, "
            "or pass --allow-changes to continue anyway (the run is then no longer exactly "
            "reproducible); nothing was changed"
        )
    return lines
