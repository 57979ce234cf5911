"""Why a checkpoint could not be written or read, in words a user can act on.

Two things hide the cause otherwise: ``torch.save`` turns a failed write into its zip writer's
own message ("file write failed"), and DCP wraps every process's error in a
``CheckpointException``, which derives from ``BaseException`` and so escapes ``except
Exception``: callers catch ``DCP_ERRORS`` and ask ``explain`` what happened.
"""

from __future__ import annotations

import errno
import pickle
import re

from torch.distributed.checkpoint.api import CheckpointException

from jepa_kit.errors import UserError


class CheckpointError(UserError):
    """A checkpoint file is missing, truncated, corrupt or not a jepa-kit checkpoint."""


class CheckpointVersionError(CheckpointError):
    """A checkpoint written by a newer jepa-kit: never skipped, the fix is an upgrade."""


#: What a DCP save or load may raise besides ordinary exceptions.
DCP_ERRORS: tuple[type[BaseException], ...] = (Exception, CheckpointException)

_ADVICE = {
    errno.ENOSPC: "no space left on the device: free space or choose another --output-dir",
    errno.EDQUOT: "disk quota exceeded: free space or choose another --output-dir",
    errno.EROFS: "the file system is read-only",
    errno.EACCES: "permission denied",
    errno.ENOENT: "a file or folder is missing",
}


def root_cause(exc: BaseException) -> BaseException:
    """The error underneath DCP's per-process wrapper and exception chains: an ``OSError``
    where there is one (it says what to fix), else the innermost error."""
    seen: set[int] = set()
    stack = [exc]
    innermost = exc
    while stack:
        current = stack.pop()
        if id(current) in seen:
            continue
        seen.add(id(current))
        if isinstance(current, OSError) and current.errno is not None:
            return current
        innermost = current
        if isinstance(current, CheckpointException):
            stack.extend(failure for failure, *_ in _failures(current))
        for nested in (current.__cause__, current.__context__):
            if nested is not None:
                stack.append(nested)
    return innermost


def _failures(exc: CheckpointException) -> list[tuple[BaseException, ...]]:
    found = []
    for value in getattr(exc, "failures", {}).values():
        found.append(value if isinstance(value, tuple) else (value,))
    return [f for f in found if f and isinstance(f[0], BaseException)]


def explain(exc: BaseException) -> str:
    """One line: the cause (``no space left on the device: ...``), else the error's type and
    first line."""
    cause = root_cause(exc)
    refused = refused_pickle(cause) if isinstance(cause, Exception) else None
    if refused is not None:
        return f"refused: it {refused}; jepa-kit never unpickles code"
    if isinstance(cause, OSError) and cause.errno in _ADVICE:
        return _ADVICE[cause.errno]
    if isinstance(cause, OSError) and cause.strerror:
        return f"{cause.strerror} ({errno.errorcode.get(cause.errno or 0, 'OSError')})"
    text = str(cause).strip()
    return f"{type(cause).__name__}: {text.splitlines()[0]}" if text else type(cause).__name__


def refused_pickle(exc: Exception) -> str | None:
    """What a weights-only ``torch.load`` refused in the file ("asks for Python code or objects
    (argparse.Namespace)"), or None when ``exc`` is not such a refusal. Never torch's advice to
    turn the check off: jepa-kit does not unpickle code."""
    text = str(exc)
    weights_only = ("weights_only", "Weights only", "GLOBAL")
    if not (isinstance(exc, pickle.UnpicklingError) and any(w in text for w in weights_only)):
        return None
    wanted = re.search(r"GLOBAL (\S+)", text)
    if wanted:
        return f"asks for Python code or objects ({wanted.group(1)})"
    found = re.search(r"WeightsUnpickler error:\s*(\S[^\n]*)", text)
    return f"is not plain tensor data ({found.group(1) if found else 'bad pickle'})"
