"""Does a recipe's model fit this machine? Parameters counted without allocating them.

Field bounds (``encoder.depth <= 256``, ...) stop typos such as ``depth = 10000``, but sizes
within every bound can still multiply into weights no machine holds (a width of 16384 over 256
blocks is 3 TB). The trainer builds the method's networks in host memory before moving them to
a device, so a recipe whose fp32 weights alone exceed the host's physical memory can only end
in a ``MemoryError`` (or the OOM killer) minutes into ``run``. Validation catches it first:
the method is built on PyTorch's ``meta`` device, where tensors have shapes and no storage, the
parameters are counted, and the recipe is refused, naming the sections that hold them and their
size keys. This works for every method and component, plugins included, with no formula per
architecture. Weights are the floor: gradients and optimizer state need about three times more
again, so passing this check says only that the model is not impossible here.
"""

from __future__ import annotations

import json
import os
import warnings
from typing import TYPE_CHECKING, Any

import torch
from torch.overrides import TorchFunctionMode

from jepa_kit.build import build_method, method_class

if TYPE_CHECKING:
    from jepa_kit.recipe.model import RecipeBase

#: Bytes of one fp32 weight: what the trainer builds (bf16 is autocast, the weights stay fp32).
FP32_BYTES = 4
#: Config fields that set a network's size, named in the message when a section has them.
SIZE_KEYS = ("size", "model_name", "embed_dim", "depth", "num_heads", "mlp_ratio",
             "hidden_dim", "out_dim", "num_layers", "num_frames", "model_kwargs")


def physical_memory() -> int | None:
    """This machine's physical memory in bytes (None where the OS does not say)."""
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (AttributeError, ValueError, OSError):  # Windows has no sysconf
        return None


def check_model_fits(recipe: RecipeBase) -> tuple[str, str] | None:
    """``(recipe key, message)`` when the recipe's fp32 weights exceed physical memory; None
    when they fit, when memory is unknown, or when the method cannot be built on ``meta``
    (a plugin that reads tensor values while it builds: the run reports its own errors)."""
    memory = physical_memory()
    if memory is None:
        return None
    counts = count_parameters(recipe)
    if counts is None:
        return None
    total = sum(counts.values()) * FP32_BYTES
    if total <= memory:
        return None
    slots = _slot_sections(recipe)
    # Attribute each network to the section it is built from: ``target_encoder`` is a copy of
    # the ``encoder`` section's network, so a section's share counts every copy.
    shares: dict[str, int] = {}
    for network, n in counts.items():
        section = next((s for s in slots if network == s or network.endswith(f"_{s}")), network)
        shares[section] = shares.get(section, 0) + n
    # The sections that hold at least a tenth of the weights are the ones to shrink.
    heavy = [s for s in sorted(shares, key=shares.__getitem__, reverse=True)
             if s in slots and shares[s] * 10 >= sum(shares.values())]
    keys = [key for section in heavy for key in _size_keys(section, slots[section])]
    networks = ", ".join(f"{name} {_count(n)}" for name, n in counts.items())
    message = (f"the networks' fp32 weights alone take {_bytes(total)} ({networks} "
               f"parameters), more than this machine's {_bytes(memory)} of memory; expected "
               f"sizes whose weights fit")
    if keys:
        message += f" (given: {', '.join(keys)})"
    return ", ".join(heavy), message


#: Parameter counts by the JSON of what shapes the networks: a recipe validated again (every
#: test, every sweep variant, every checkpoint's recipe) is not built again.
_COUNTS: dict[str, dict[str, int] | None] = {}


def count_parameters(recipe: RecipeBase) -> dict[str, int] | None:
    """Parameters of each of the recipe's networks, built on ``meta``; None when they cannot
    be built there."""
    slots = _slot_sections(recipe)
    try:
        key = json.dumps({
            "method": recipe.method.model_dump(mode="json"),  # type: ignore[attr-defined]
            "sections": {s: c.model_dump(mode="json") for s, c in slots.items()},
            "img_size": recipe.img_size,
        }, sort_keys=True)
    except (TypeError, ValueError):  # a plugin option JSON cannot hold: count, do not cache
        return _count_on_meta(recipe, slots)
    if key not in _COUNTS:
        if len(_COUNTS) >= 64:
            _COUNTS.clear()
        _COUNTS[key] = _count_on_meta(recipe, slots)
    return _COUNTS[key]


def _slot_sections(recipe: RecipeBase) -> dict[str, Any]:
    return {slot: getattr(recipe, slot) for slot in method_class(recipe).slots}


def _count_on_meta(recipe: RecipeBase, slots: dict[str, Any]) -> dict[str, int] | None:
    # The same shapes without pretrained weights: validation never downloads.
    unloaded = {s: c.model_copy(update={"pretrained": False}) for s, c in slots.items()
                if getattr(c, "pretrained", False) is True}
    if unloaded:
        recipe = recipe.model_copy(update=unloaded)
    try:
        # A forked RNG: building must not move the run's seeded streams.
        with torch.random.fork_rng(devices=[]), torch.device("meta"), _SkipMetaInit(), \
                warnings.catch_warnings():
            warnings.simplefilter("ignore")  # the real build warns, once, when the run starts
            method = build_method(recipe)
    except Exception:  # not buildable on meta (e.g. reads tensor values): no check
        return None
    return {name: sum(p.numel() for p in net.parameters())
            for name, net in method.networks.items()}


#: In-place initialisers: on ``meta`` tensors they change nothing and cost a decomposition
#: each (skipping them builds a ViT-H about 3x faster).
_INIT_OPS = frozenset({torch.Tensor.uniform_, torch.Tensor.normal_, torch.Tensor.zero_,
                       torch.Tensor.fill_, torch.Tensor.copy_, torch.Tensor.erfinv_,
                       torch.Tensor.mul_, torch.Tensor.add_, torch.Tensor.clamp_})


class _SkipMetaInit(TorchFunctionMode):
    def __torch_function__(self, func: Any, types: Any, args: Any = (),
                           kwargs: Any = None) -> Any:
        if func in _INIT_OPS and isinstance(args[0], torch.Tensor) and args[0].is_meta:
            return args[0]
        return func(*args, **(kwargs or {}))


def _size_keys(section: str, config: Any) -> list[str]:
    values = config.model_dump()
    return [f"{section}.{key}={values[key]!r}" for key in SIZE_KEYS
            if values.get(key) not in (None, {}) and key in values]


def _count(n: int) -> str:
    for unit, scale in (("B", 1e9), ("M", 1e6), ("k", 1e3)):
        if n >= scale:
            return f"{n / scale:.1f}{unit}"
    return str(n)


def _bytes(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024:
            return f"{n:.1f} {unit}" if unit != "B" else f"{int(n)} B"
        n /= 1024
    return f"{n:.1f} TiB"
