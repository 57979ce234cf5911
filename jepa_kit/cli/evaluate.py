"""``jepa-kit eval <protocol>``: one command per registered evaluation protocol.

The commands are generated from the ``eval_protocol`` registry (``jepa_kit.eval.protocols``):
every protocol gets the shared options (encoder, data, low-shot subset, output, device) and
one flag per field of its ``Config`` (``--opt KEY=VALUE`` reaches any field), so a plug-in
protocol appears here after ``pip install``. The work is ``jepa_kit.evaluate``; the result is
printed as a table (``jepa_kit.cli.eval_report``) and written as JSON, by default next to the
run (``RUN_DIR/eval_knn.json`` for ``RUN_DIR/checkpoints/step_*.pt``), with the random-init
baseline and the gain unless ``--no-baseline``.
"""

from __future__ import annotations

import difflib
import inspect
import types
import typing
from pathlib import Path
from typing import Any

import typer
from pydantic import ValidationError
from pydantic.fields import FieldInfo

from jepa_kit.cli.eval_report import out, print_result
from jepa_kit.cli.options import (
    CheckpointArg,
    DataOption,
    DatasetOption,
    DeviceOption,
    RandomInitOption,
    SetOption,
    WhichOption,
    eval_app,
)
from jepa_kit.errors import UserError
from jepa_kit.eval.evaluate import default_output, output_name
from jepa_kit.eval.protocols.base import Protocol
from jepa_kit.eval.source import data_section

__all__ = ["data_section", "default_output", "eval_app", "out", "output_name"]

_P = inspect.Parameter


def _shared(cls: type[Protocol]) -> list[inspect.Parameter]:
    """The options every protocol shares; ``--features`` only where it reads pooled features,
    ``--augment`` only where it fits something."""
    seed_help = ("Seed of the low-shot subset, hold-out, head init and order." if cls.fits
                 else "Seed of the low-shot subset.")
    options: list[tuple[str, Any, Any]] = [
        ("data_dir", Path | None, DataOption),
        ("dataset", str | None, DatasetOption),
        ("which", str | None, WhichOption),
        ("random_init", bool, RandomInitOption),
        ("no_baseline", bool, typer.Option(
            False, "--no-baseline", help="Skip the random-init baseline (by default it is "
            "scored too, or read from its cache, and the gain is reported).")),
    ]
    if cls.reads == "pooled":
        options.append(("features", str, typer.Option(
            "avg", "--features", help="avg: average-pooled last layer; last4 (any lastK): the "
            "average pools of the last 4 blocks, concatenated (I-JEPA's two linear protocols).")))
    if cls.fits:
        options.append(("augment", str, typer.Option(
            "none", "--augment", help="none: cached eval-view features; ijepa: features of "
            "augmented train images on the fly (RandomResizedCrop + flip, I-JEPA's linear "
            "protocol); vjepa: AutoAugment + random erasing (V-JEPA's attentive protocol).")))
    options += [
        ("per_class", int | None, typer.Option(
            None, "--per-class", min=1, help="Low-shot: train on N images of every class.")),
        ("fraction", float | None, typer.Option(
            None, "--fraction", min=0.0, max=1.0,
            help="Low-shot: train on this share of every class (0.01: 1%).")),
        ("seed", int, typer.Option(0, "--seed", min=0, help=seed_help)),
        ("out_path", Path | None, typer.Option(
            None, "--out", help="JSON result file (default: next to the run).")),
        ("overrides", list[str] | None, SetOption),
        ("opts", list[str] | None, typer.Option(
            None, "--opt", metavar="KEY=VALUE", help="Any setting of the protocol (value "
            "parsed as TOML), e.g. --opt epochs=5.")),
        ("batch_size", int, typer.Option(128, "--batch-size", min=1,
                                         help="Images per forward pass.")),
        ("device", str, DeviceOption),
        ("bf16", bool, typer.Option(False, "--bf16", help="Run the encoder under bf16 autocast.")),
    ]
    return [_P(name, _P.KEYWORD_ONLY, default=default, annotation=annotation)
            for name, annotation, default in options]


def _flag(name: str, info: FieldInfo) -> str:
    extra = info.json_schema_extra if isinstance(info.json_schema_extra, dict) else {}
    return str(extra.get("flag") or "--" + name.replace("_", "-"))


def _cli_type(annotation: Any) -> Any:
    """The type a flag parses for a config field, None when no flag fits (``--opt`` does)."""
    origin, args = typing.get_origin(annotation), typing.get_args(annotation)
    if origin is typing.Annotated:
        return _cli_type(args[0])
    if origin in (typing.Union, types.UnionType):
        rest = [a for a in args if a is not type(None)]
        return _cli_type(rest[0]) if len(rest) == 1 else None
    if origin is typing.Literal:
        return str if all(isinstance(a, str) for a in args) else None
    if annotation in (int, float, str, bool):
        return annotation
    if origin in (tuple, list) and args:
        item = _cli_type(args[0])
        ok = origin is list or len(args) == 1 or (len(args) == 2 and args[1] is Ellipsis)
        return list[item] if ok and item in (int, float, str) else None  # type: ignore[valid-type]
    return None


def _field_flags(cls: type[Protocol], taken: set[str]) -> dict[str, tuple[str, inspect.Parameter]]:
    """Config field -> (its flag, its parameter), for every field a flag can carry."""
    found = {}
    for name, info in cls.Config.model_fields.items():
        flag, tp = _flag(name, info), _cli_type(info.annotation)
        if name == "kind" or tp is None or flag in taken:
            continue  # left to --opt: no flag parses it, or a shared option owns the flag
        default = info.default
        shown = ", ".join(map(str, default)) if isinstance(default, (tuple, list)) else default
        help_text = (info.description or name) + ("" if default is None else
                                                   f" Default: {shown}.")
        decls = [f"{flag}/--no-{flag[2:]}"] if tp is bool else [flag]
        option = typer.Option(None, *decls, help=help_text)
        found[name] = (flag, _P(f"setting_{name}", _P.KEYWORD_ONLY, default=option,
                                annotation=tp | None))
    return found


def build_config(cls: type[Protocol], given: dict[str, Any], opts: list[str],
                 flags: dict[str, str]) -> Any:
    """``cls.Config`` from the flags given and ``--opt KEY=VALUE`` strings; a ``UserError``
    names each bad flag, what it got and what it expects."""
    from jepa_kit.recipe import parse_value

    values = {k: v for k, v in given.items() if v is not None}
    fields = [f for f in cls.Config.model_fields if f != "kind"]
    for item in opts:
        key, sep, raw = item.partition("=")
        key = key.strip()
        if not sep or key not in fields:
            close = difflib.get_close_matches(key, fields, n=1)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            raise UserError(f"--opt {item!r}: expected KEY=VALUE with KEY one of "
                            f"{', '.join(fields) or '(none)'}{hint}")
        values[key] = parse_value(raw)
    try:
        return cls.Config(**values)
    except ValidationError as exc:
        lines = []
        for error in exc.errors():
            key = str(error["loc"][0]) if error["loc"] else ""
            got = f" (got {values[key]!r})" if key in values else ""
            lines.append(f"  {flags.get(key, f'--opt {key}=...')}: {error['msg']}{got}")
        raise UserError("bad protocol settings:\n" + "\n".join(lines)) from None


def make_command(name: str, cls: type[Protocol]) -> Any:
    """The ``eval <name>`` command: shared options plus the protocol's own flags."""
    shared = _shared(cls)
    taken = {"--data", "--dataset", "--which", "--random-init", "--no-baseline", "--features",
             "--augment", "--per-class", "--fraction", "--seed", "--out", "--set", "--opt",
             "--batch-size", "--device", "--bf16"}
    own = _field_flags(cls, taken)
    flags = {field: flag for field, (flag, _) in own.items()}

    def command(**kw: Any) -> None:
        from jepa_kit.eval.evaluate import evaluate

        config = build_config(cls, {f: kw.pop(f"setting_{f}") for f in own},
                              kw.pop("opts") or [], flags)
        no_baseline = kw.pop("no_baseline")
        evaluation = evaluate(kw.pop("checkpoint"), config, baseline=not no_baseline,
                              overrides=kw.pop("overrides") or [], **kw)
        if evaluation is not None:
            print_result(evaluation, baseline=not no_baseline)

    checkpoint = _P("checkpoint", _P.KEYWORD_ONLY, default=CheckpointArg, annotation=Path)
    params = [checkpoint, *shared[:5], *(p for _, p in own.values()), *shared[5:]]
    command.__signature__ = inspect.Signature(params)  # type: ignore[attr-defined]
    command.__name__ = name
    summary = (cls.__doc__ or f"The {name} evaluation protocol.").strip().split("\n\n")[0]
    return eval_app.command(name=name, help=summary)(command)


def register(app: typer.Typer) -> None:
    from jepa_kit.registry import registry

    # A broken plug-in is warned about by the registry and gets no command; the rest work.
    for name, cls in registry("eval_protocol").load_all().items():
        make_command(name, cls)  # type: ignore[arg-type]
    import jepa_kit.cli.finetune  # noqa: F401  (adds `eval finetune` to eval_app)

    app.add_typer(eval_app, name="eval")
