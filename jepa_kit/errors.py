"""Errors that are the user's to fix: the CLI prints them without a traceback and exits 2.

A ``UserError`` raised in a DataLoader worker (a broken image, a dataset plugin's bad option)
reaches the main process as a new exception that torch builds from the type and one string,
``type(exc)("Caught DataError in DataLoader worker process 0.\\nOriginal Traceback ...")``
(``torch.utils.data._utils.worker.ExceptionWrapper.reraise``); a type that cannot be built so
becomes a ``RuntimeError``, an "internal error". So every ``UserError`` can be built from one
string, even a subclass whose ``__init__`` asks for other arguments, and keeps only the
original message from torch's wrapper: the user reads what ``num_workers = 0`` would show, and
the CLI exits 2. Pickling rebuilds the same way (``type(exc)(*exc.args)``, then the attributes).
"""

from __future__ import annotations

import functools
import inspect
from typing import Any

_WRAPPED = "\nOriginal Traceback (most recent call last):\n"


class UserError(ValueError):
    """Bad input: a recipe, a flag, a missing or broken file. The message says what to change.

    A subclass's ``__init__`` may take any arguments; one string alone is always accepted too
    (the message, as when rebuilt from a loader worker), and then sets no other attributes.
    """

    def __init__(self, *args: object) -> None:
        if len(args) == 1 and isinstance(args[0], str):
            args = (unwrap_worker_message(type(self), args[0]),)
        super().__init__(*args)

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        init = cls.__dict__.get("__init__")
        if init is None or _accepts_one_string(init):
            return

        @functools.wraps(init)
        def init_or_message(self: UserError, *args: Any, **kw: Any) -> None:
            if len(args) == 1 and not kw and isinstance(args[0], str):
                UserError.__init__(self, args[0])
            else:
                init(self, *args, **kw)

        cls.__init__ = init_or_message  # type: ignore[method-assign]


def _accepts_one_string(init: Any) -> bool:
    try:
        signature = inspect.signature(init)
    except (TypeError, ValueError):  # no signature to read: leave it alone
        return True
    try:
        signature.bind(None, "message")
    except TypeError:
        return False
    return True


def unwrap_worker_message(cls: type[BaseException], text: str) -> str:
    """The original message inside torch's "Caught X in DataLoader worker ..." wrapper of an
    exception of type ``cls``; ``text`` unchanged when it is not such a wrapper."""
    if not text.startswith(f"Caught {cls.__name__} ") or _WRAPPED not in text:
        return text
    # The traceback ends with "module.QualName: message" (only "QualName" for __main__).
    for name in (f"{cls.__module__}.{cls.__qualname__}", cls.__qualname__):
        at = text.rfind(f"\n{name}: ")
        if at >= 0:
            return text[at + len(name) + 3 :].rstrip("\n")
    return text
