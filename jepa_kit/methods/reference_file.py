"""Reading an official training checkpoint: the file, its dict of state dicts, their shapes.

What every reference importer shares (``jepa_kit.methods.importer``): a ``torch.load`` that
never unpickles code and says what a bad file is instead (missing, truncated, not a PyTorch
file, a safetensors export, a jepa-kit checkpoint already, a dict without the reference's
state dicts, a pickle asking for Python objects), the DDP prefix stripped into float32 copies,
and the helpers that read an architecture off tensor shapes.
"""

from __future__ import annotations

import codecs
import math
import pickle
import re
import warnings
import zipfile
from pathlib import Path
from typing import Any

import torch
from pydantic import ValidationError

from jepa_kit.encoders.vit import VIT_SIZES
from jepa_kit.errors import UserError

StateDict = dict[str, torch.Tensor]

#: Reference width -> heads, from its named sizes.
HEADS_BY_WIDTH: dict[int, int] = {d.embed_dim: d.num_heads for d in VIT_SIZES.values()}
#: Head width assumed for widths that are not a named size.
FALLBACK_HEAD_DIM = 32
#: What the official training scripts save (I-JEPA's ``src/train.py``, V-JEPA's
#: ``app/vjepa/train.py``), for messages.
EXPECTED = "an official I-JEPA / V-JEPA training checkpoint (the official code saves a dict " \
    "of 'encoder', 'predictor' and 'target_encoder' state dicts and training counters)"

_BLOCK = re.compile(r"^(?:predictor_)?blocks\.(\d+)\.")


class ReferenceCheckpointError(UserError):
    """A file given as an official checkpoint is missing, damaged or something else."""


def load_torch_file(path: Path) -> Any:
    """``torch.load(weights_only=True)`` of ``path``; every failure says what the file is."""
    if path.is_dir():
        raise ReferenceCheckpointError(f"{path}: a directory, not a checkpoint file")
    try:
        with path.open("rb") as handle:
            head = handle.read(16)
    except FileNotFoundError:
        raise ReferenceCheckpointError(f"{path}: no such checkpoint file") from None
    except OSError as exc:
        raise ReferenceCheckpointError(f"{path}: cannot read ({exc.strerror or exc})") from None
    zipped = head.startswith(b"PK\x03\x04")  # torch.save's format since PyTorch 1.6
    if not zipped and not head.startswith(b"\x80"):  # else the legacy pickle-first format
        raise ReferenceCheckpointError(f"{path}: {_not_torch(head)}, not {EXPECTED}")
    if zipped and not zipfile.is_zipfile(path):
        raise ReferenceCheckpointError(
            f"{path}: a truncated or damaged PyTorch file (its zip directory is missing or "
            f"unreadable); download or copy it again")
    try:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message="Detected pickle protocol")
            # mmap keeps the (large) optimizer state on disk; only the weights are read and
            # copied. Legacy (non-zip) files cannot be memory-mapped.
            return torch.load(path, map_location="cpu", weights_only=True, mmap=zipped)
    except pickle.UnpicklingError as exc:
        if "weights_only" not in str(exc) and "Weights only" not in str(exc):
            raise ReferenceCheckpointError(
                f"{path}: a damaged PyTorch file ({brief(exc)})") from None
        raise ReferenceCheckpointError(f"{path}: {_refused(exc)}") from None
    except Exception as exc:  # torch reports damage as RuntimeError, OSError, KeyError, ...
        raise ReferenceCheckpointError(
            f"{path}: a damaged or truncated PyTorch file ({_named(exc)}); download or copy "
            f"it again") from None


def check_layout(raw: Any, path: Path) -> dict[str, Any]:
    """The loaded object, checked to be the reference's dict of state dicts."""
    from jepa_kit.checkpoint import FORMAT

    if not isinstance(raw, dict):
        raise ReferenceCheckpointError(
            f"{path}: holds a {type(raw).__name__}, not {EXPECTED}")
    if raw.get("format") == FORMAT:
        raise ReferenceCheckpointError(
            f"{path}: is a jepa-kit checkpoint already; use it directly (jepa-kit eval / "
            f"export, or --set train.init_from={path})")
    missing = [k for k in ("encoder", "predictor") if k not in raw]
    if missing:
        keys = ", ".join(repr(k) for k in list(raw)[:4]) + (", ..." if len(raw) > 4 else "")
        if raw and all(isinstance(v, torch.Tensor) for v in raw.values()):
            what = f"a single network's state dict (keys: {keys})"
        else:
            lacks = " or ".join(repr(k) for k in missing)
            what = f"a dict without {lacks} (keys: {keys or 'none'})"
        raise ReferenceCheckpointError(f"{path}: {what}, not {EXPECTED}")
    return raw


def strip_prefix(sd: Any, what: str, path: Path, *prefixes: str) -> StateDict:
    """Drop the DDP ``module.`` prefix (then each of ``prefixes``, in order) and copy into
    float32 tensors we own (not the mmap)."""
    if not isinstance(sd, dict) or not sd:
        given = "an empty dict" if isinstance(sd, dict) else f"of type {type(sd).__name__}"
        raise ReferenceCheckpointError(
            f"{path}: '{what}' is {given}, not a state dict of tensors")
    out: StateDict = {}
    for key, value in sd.items():
        if not isinstance(value, torch.Tensor):
            raise ReferenceCheckpointError(
                f"{path}: '{what}' entry {key!r} is of type {type(value).__name__}, not a "
                f"tensor")
        key = str(key).removeprefix("module.")
        for prefix in prefixes:
            key = key.removeprefix(prefix)
        floating = value.is_floating_point()
        out[key] = value.to(torch.float32, copy=True) if floating else value.clone()
    return out


def require(sd: StateDict, ndims: dict[str, int], what: str, path: Path, arch: str) -> None:
    """``sd`` holds each key of ``ndims`` as a tensor of that many dimensions (else an error
    saying the weights are not an ``arch``)."""
    missing = [k for k in ndims if k not in sd]
    if missing:
        raise ReferenceCheckpointError(
            f"{path}: the {what} state dict lacks {', '.join(missing)}; not an {arch}")
    for key, ndim in ndims.items():
        if sd[key].ndim != ndim:
            raise ReferenceCheckpointError(
                f"{path}: {what} {key} has shape {tuple(sd[key].shape)}, not the {ndim} "
                f"dimensions of an {arch}")


def encoder_layout(raw: dict[str, Any]) -> tuple[bool, int | None]:
    """(keys under a ``backbone.`` wrapper, dimensions of the patchifier weight) of a loaded
    checkpoint's ``encoder`` state dict: what tells the official codes' files apart."""
    encoder = raw.get("encoder")
    if not isinstance(encoder, dict):
        return False, None
    wrapped = any(str(k).removeprefix("module.").startswith("backbone.") for k in encoder)
    weight = encoder.get("module.patch_embed.proj.weight", encoder.get("patch_embed.proj.weight"))
    return wrapped, weight.ndim if isinstance(weight, torch.Tensor) else None


# -- architecture from shapes --------------------------------------------------------------------
def infer_num_heads(width: int) -> int:
    """Heads of a reference encoder of ``width``: its named sizes, else heads of width 32."""
    if width in HEADS_BY_WIDTH:
        return HEADS_BY_WIDTH[width]
    if width % FALLBACK_HEAD_DIM == 0:
        return width // FALLBACK_HEAD_DIM
    raise ValueError(
        f"cannot infer the head count of width {width} from tensor shapes; pass num_heads"
    )


def heads_for(width: int, num_heads: int | None, path: Path) -> int:
    """``num_heads`` checked against ``width``, or inferred from it (``infer_num_heads``)."""
    if num_heads is None:
        try:
            return infer_num_heads(width)
        except ValueError as exc:
            raise ReferenceCheckpointError(f"{path}: {exc}") from None
    if num_heads < 1 or width % num_heads:
        raise UserError(f"num_heads={num_heads} does not divide the encoder width {width} of "
                        f"{path}")
    return num_heads


def vit_dims(sd: StateDict, width: int, num_heads: int) -> dict[str, Any]:
    """The ViT body read off an encoder state dict: depth, heads, MLP ratio, qkv bias, and
    ``size`` when the dimensions are one of the named sizes."""
    hidden = sd["blocks.0.mlp.fc1.weight"].shape[0]
    dims: dict[str, Any] = {"embed_dim": width, "depth": count_blocks(sd),
                            "num_heads": num_heads, "mlp_ratio": mlp_ratio(width, hidden)}
    for name, named in VIT_SIZES.items():  # name the size when it is a standard one
        if (width, dims["depth"], num_heads, hidden) == (
                named.embed_dim, named.depth, named.num_heads,
                int(named.embed_dim * named.mlp_ratio)):
            dims = {"size": name, **dims}
    return dims


def mlp_ratio(width: int, hidden: int) -> float:
    """A ratio r with ``int(width * r) == hidden`` (how timm and the reference size the MLP)."""
    ratio = hidden / width
    if int(width * ratio) != hidden:  # e.g. 88 * (120 / 88) == 119.99999999999999
        ratio = math.nextafter(ratio, math.inf)
    return ratio


def count_blocks(sd: StateDict) -> int:
    """Transformer blocks in a state dict (``blocks.i.`` or ``predictor_blocks.i.`` keys)."""
    found = {int(m.group(1)) for k in sd if (m := _BLOCK.match(k))}
    return max(found) + 1 if found else 0


def number(value: Any) -> float | None:
    """A counter or loss stored as a number or a one-element tensor; None otherwise."""
    if isinstance(value, torch.Tensor) and value.numel() == 1:
        value = value.item()
    if isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value):
        return float(value)
    return None


def clone(sd: StateDict) -> StateDict:
    """Copies of every tensor (a module loaded with ``assign=True`` then owns its own)."""
    return {k: v.clone() for k, v in sd.items()}


def brief(exc: Exception, limit: int = 300) -> str:
    """An exception's message on one line: pydantic's first problem, torch's lines joined."""
    if isinstance(exc, ValidationError) and exc.errors():
        return str(exc.errors()[0]["msg"]).removeprefix("Value error, ")
    text = "; ".join(line.strip() for line in str(exc).splitlines() if line.strip())
    text = text.replace(":;", ":")
    if len(text) > limit:
        text = text[:limit] + "..."
    return text or type(exc).__name__


# -- messages ------------------------------------------------------------------------------------
def _named(exc: Exception) -> str:
    short, name = brief(exc), type(exc).__name__
    return name if short == name else f"{name}: {short}"


def _refused(exc: Exception) -> str:
    """Why a weights-only load refused the file, without torch's advice to turn it off."""
    from jepa_kit.checkpoint.failures import refused_pickle

    what = refused_pickle(exc) or "is a pickle of more than tensors"
    return (f"refused: the file {what}, and jepa-kit never unpickles code; it is not an "
            f"official checkpoint of plain tensors (those load with weights_only=True)")


def _not_torch(head: bytes) -> str:
    """What a file that is not ``torch.save`` output looks like, from its first bytes."""
    if len(head) >= 9 and head[8:9] == b"{":  # 8-byte header length, then its JSON
        return "a safetensors file (bare weights, e.g. from jepa-kit export)"
    if head.startswith((codecs.BOM_UTF8, b"{", b"[", b"#")) or (head and all(
            32 <= b < 127 or b in b"\t\r\n" for b in head)):
        return "a text file"
    if not head:
        return "an empty file"
    return "not a PyTorch file (it does not start as torch.save output does)"
