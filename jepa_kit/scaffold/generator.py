"""``jepa-kit plugins new``: write a plugin package skeleton that installs and tests green.

The skeleton is a real distribution: a ``pyproject.toml`` declaring the entry point under the
kind's group, a package with one working (placeholder) component and its ``Config``, a README
and tests that run ``jepa_kit.testing``'s conformance check. Templates are ``*.tmpl`` files
next to this module, filled with ``string.Template`` (``$name``), so they are neither imported
nor linted as code here.
"""

from __future__ import annotations

import difflib
import keyword
import re
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from string import Template

from jepa_kit import __version__
from jepa_kit.errors import UserError
from jepa_kit.recipe import COMPONENT_SECTIONS
from jepa_kit.registry import GROUPS, RegistryError, registry
from jepa_kit.scaffold.into import (
    check_not_declared,
    checked_entry_point,
    find_package,
    free_path,
    read_pyproject,
)


@dataclass(frozen=True)
class KindInfo:
    """How a kind appears in a generated package."""

    suffix: str  # class-name suffix
    words: str  # in prose
    check: str  # the jepa_kit.testing function


KINDS: dict[str, KindInfo] = {
    "encoder": KindInfo("Encoder", "encoder", "check_encoder"),
    "predictor": KindInfo("Predictor", "predictor", "check_predictor"),
    "masker": KindInfo("Masker", "masker", "check_masker"),
    "target_updater": KindInfo("TargetUpdater", "target updater", "check_target_updater"),
    "loss": KindInfo("Loss", "loss", "check_loss"),
    "dataset": KindInfo("Dataset", "dataset", "check_dataset"),
    "method": KindInfo("Method", "method", "check_method"),
    "views": KindInfo("Views", "views component", "check_views"),
    "projector": KindInfo("Projector", "projector", "check_projector"),
    "regularizer": KindInfo("Regularizer", "regularizer", "check_regularizer"),
    "eval_protocol": KindInfo("Protocol", "evaluation protocol", "check_eval_protocol"),
    "logger": KindInfo("Logger", "logger", "check_logger"),
    "planner": KindInfo("Planner", "planner", "check_planner"),
    "optimizer": KindInfo("Optimizer", "optimizer", "check_optimizer"),
    "schedule": KindInfo("Schedule", "schedule", "check_schedule"),
}
assert set(KINDS) == set(GROUPS), "every registry kind needs a template"

_NAME = re.compile(r"^[a-z][a-z0-9_]*$")


def check_name(name: str, kind: str) -> None:
    """Raise ``UserError`` unless ``name`` can be a registry key that is still free."""
    if kind not in KINDS:
        close = difflib.get_close_matches(kind, KINDS, n=1)
        hint = f". Did you mean {close[0]!r}?" if close else ""
        raise UserError(
            f"--kind {kind!r} is not a component kind; kinds: {', '.join(KINDS)}{hint}"
        )
    if not _NAME.match(name) or keyword.iskeyword(name) or name.endswith("_"):
        raise UserError(
            f"plugin name {name!r} must be lower-case letters, digits and underscores, starting "
            "with a letter (it becomes the registry key, the recipe's kind and part of the "
            "package name), e.g. 'grid_masker'"
        )
    try:
        taken = registry(kind).entry(name)
    except RegistryError:
        return
    raise UserError(
        f"{kind} name {name!r} is already registered by {taken.distribution} {taken.version}; "
        "a second package claiming it would make both unusable: pick another name"
    )


def class_name(name: str, kind: str) -> str:
    """``grid`` + masker -> ``GridMasker``; ``grid_masker`` + masker -> ``GridMasker``."""
    camel = "".join(part.capitalize() for part in name.split("_") if part)
    suffix = KINDS[kind].suffix
    return camel if camel.endswith(suffix) else camel + suffix


#: The recipe sections ``method.py.tmpl`` (the multi-view template) reads (its ``slots``),
#: for the generated README.
METHOD_SLOTS = {"encoder": "vit", "projector": "mlp", "views": "multicrop"}
#: ``--template`` of a method -> (template file, its ``slots``): ``multiview`` pulls global
#: views together (LeJEPA-like), ``masked`` predicts masked patches (I-JEPA-like).
METHOD_TEMPLATES: dict[str, tuple[str, dict[str, str]]] = {
    "multiview": ("method.py.tmpl", METHOD_SLOTS),
    "masked": ("method_masked.py.tmpl", {
        "encoder": "vit", "predictor": "vit_predictor", "masker": "multiblock",
        "target_updater": "ema", "loss": "l2", "views": "single"}),
}


def check_template(kind: str, template: str | None) -> str | None:
    """The method template ``template`` names (default ``multiview``), None for other kinds;
    ``UserError`` for a template of another kind or an unknown one."""
    if kind != "method":
        if template is not None:
            raise UserError(f"--template {template!r} is for --kind method only "
                            f"(its templates: {', '.join(METHOD_TEMPLATES)}); --kind is {kind!r}")
        return None
    template = template if template is not None else "multiview"
    if template not in METHOD_TEMPLATES:
        close = difflib.get_close_matches(template, METHOD_TEMPLATES, n=1)
        hint = f". Did you mean {close[0]!r}?" if close else ""
        raise UserError(f"--template {template!r} is not a method template; templates: "
                        f"{', '.join(METHOD_TEMPLATES)}{hint}")
    return template


def usage(name: str, kind: str, section: str, template: str | None = None) -> str:
    """The README's recipe snippet: the component's section, and a method's slot sections."""
    if kind == "regularizer":
        return (f'[[regularizers]]\nkind = "{name}"\nweight = 0.1\n'
                f'on = "pooled_context"  # one of the method\'s embeddings\n')
    if kind == "logger":
        return f'[[loggers]]\nkind = "{name}"\n'
    if kind == "eval_protocol":  # not a recipe section: a command and a compare column
        return (f"# jepa-kit eval {name} runs/NAME/checkpoints/step_*.pt\n"
                f"# jepa-kit compare runs/NAME --eval {name}\n")
    text = f'[{section}]\nkind = "{name}"\n'
    if kind == "method":
        slots = METHOD_TEMPLATES[template or "multiview"][1]
        text += "\n# The sections it reads (its `slots`); left out, they get these kinds.\n"
        text += "\n".join(f'[{slot}]\nkind = "{default}"\n' for slot, default in slots.items())
        if slots.get("views") == "multicrop":
            text += "num_local = 0  # only the global views are used\n"
    return text


def _template_file(kind: str, template: str | None) -> str:
    return METHOD_TEMPLATES[template][0] if template is not None else f"{kind}.py.tmpl"


def _selector(name: str, kind: str, section: str) -> str:
    if kind == "regularizer":
        return f'[[regularizers]] kind = "{name}"'
    if kind == "logger":
        return f'[[loggers]] kind = "{name}"'
    if kind == "eval_protocol":
        return f"jepa-kit eval {name}"
    return f'{section}.kind = "{name}"'


def _set_example(name: str, kind: str, section: str) -> str:
    if kind == "regularizer":
        return f"'regularizers=[{{kind=\"{name}\", weight=0.1, on=\"pooled_context\"}}]'"
    if kind == "logger":
        return f"'loggers=[{{kind=\"{name}\"}}]'"
    if kind == "eval_protocol":
        return f"eval.protocols='[\"knn\", \"{name}\"]'"
    return f"{section}.kind={name}"


def template_values(name: str, kind: str, template: str | None = None) -> dict[str, str]:
    package = f"jepa_kit_{name}"
    # Kinds a recipe lists rather than one section each: their recipe key.
    listed = {"regularizer": "regularizers", "eval_protocol": "eval.protocols",
              "logger": "loggers", "optimizer": "optim.optimizer",
              "schedule": "optim.lr_schedule"}
    section = listed.get(kind) or next(s for s, k in COMPONENT_SECTIONS.items() if k == kind)
    return {
        "name": name,
        "kind": kind,
        "kind_words": KINDS[kind].words,
        "check": KINDS[kind].check,
        "group": GROUPS[kind],
        "section": section,
        "usage": usage(name, kind, section, template),
        "template_flag": f" --template {template}" if template is not None else "",
        "selector": _selector(name, kind, section),
        "set_example": _set_example(name, kind, section),
        "package": package,
        "module": kind,
        "class_name": class_name(name, kind),
        "distribution": package.replace("_", "-"),
        "jepa_kit_version": __version__,
    }


def _render(template: str, values: dict[str, str]) -> str:
    text = resources.files("jepa_kit.scaffold").joinpath("templates", template).read_text()
    return Template(text).substitute(values)


def plan(name: str, kind: str, template: str | None = None) -> dict[str, str]:
    """Relative path -> file content of the skeleton for ``name`` of ``kind`` (a method from
    ``METHOD_TEMPLATES[template]``, default ``multiview``)."""
    check_name(name, kind)
    template = check_template(kind, template)
    v = template_values(name, kind, template)
    package = v["package"]
    return {
        "pyproject.toml": _render("pyproject.toml.tmpl", v),
        "README.md": _render("README.md.tmpl", v),
        f"{package}/__init__.py": _render("package_init.py.tmpl", v),
        f"{package}/{kind}.py": _render(_template_file(kind, template), v),
        # Unique test-module name and no tests/__init__.py: collected alongside other
        # packages' tests in one pytest run without module-name clashes.
        f"tests/test_{name}.py": _render("test.py.tmpl", v),
    }


def default_directory(name: str) -> Path:
    return Path(f"jepa-kit-{name.replace('_', '-')}")


def plan_into(name: str, kind: str, root: str | Path,
              template: str | None = None) -> dict[Path, str]:
    """Path -> content of what ``--into root`` writes: the component module in the
    distribution's package, its test, and ``pyproject.toml`` with the new entry point."""
    root = Path(root)
    text, doc = read_pyproject(root)
    if kind in GROUPS:
        check_not_declared(root, doc, GROUPS[kind], name)
    check_name(name, kind)
    template = check_template(kind, template)
    package = find_package(root, doc)
    module = free_path(package / f"{kind}.py", package / f"{kind}_{name}.py")
    tests = root / "tests"
    test = free_path(tests / f"test_{name}.py", tests / f"test_{name}_{kind}.py")
    v = template_values(name, kind, template) | {"package": package.name,
                                                  "module": module.stem}
    value = f"{package.name}.{module.stem}:{v['class_name']}"
    return {
        module: _render(_template_file(kind, template), v),
        test: _render("test.py.tmpl", v),
        # Last: written only once the module it points at is there.
        root / "pyproject.toml": checked_entry_point(root, text, doc, GROUPS[kind], name, value),
    }


def new_plugin(name: str, kind: str, directory: str | Path | None = None, *,
               into: str | Path | None = None, template: str | None = None) -> list[Path]:
    """Write the skeleton into ``directory`` (default ``./jepa-kit-<name>``); the files written.

    Refuses to write into a directory that exists and is not empty. With ``into`` (an existing
    distribution's folder) adds the component to that distribution instead (``plan_into``).
    """
    if into is not None:
        if directory is not None:
            raise UserError("--dir and --into exclude each other: --dir writes a new package, "
                            "--into adds to an existing one")
        into_files = plan_into(name, kind, into, template)
        for path, content in into_files.items():
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(content.encode())  # bytes: line endings stay as they were
        return list(into_files)
    files = plan(name, kind, template)
    root = Path(directory) if directory is not None else default_directory(name)
    if root.exists() and (not root.is_dir() or any(root.iterdir())):
        raise UserError(f"--dir {root} already exists and is not an empty folder; pick another")
    written = []
    for relative, content in files.items():
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(content)
        written.append(path)
    return written
