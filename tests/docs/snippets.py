"""Find the code blocks of the documentation and check each one against the code.

Every page is a sequence of fenced blocks, checked in order in one sandbox folder per page
(``recipes/`` and ``scripts/`` linked in, a small checkpoint at the path the docs use), so a
walkthrough's later steps see what its earlier steps made:

- ``toml``: parsed; a recipe or recipe fragment is validated by the recipe model, a
  ``pyproject.toml`` excerpt must name real entry-point groups;
- ``python``: executed in a fresh namespace; ``test_*`` functions it defines without
  parameters are called;
- ``bash`` (and ``sh``, ``console``, ``shell``): every ``jepa-kit`` command (also behind
  ``torchrun -m jepa_kit`` or ``python -m jepa_kit``) is parsed by jepa-kit's own typer app, so
  its subcommand and flags must exist. The cheap ones (``validate``, ``show``, ``schema``,
  ``plugins``, ``masks`` with few batches, anything with ``--dry-run``, ``import-reference``
  and ``export`` when their input exists) run for real; for the expensive ones the recipe
  they name is loaded with their ``--set`` flags. ``bash scripts/X.sh`` must name a script;
  ``pip install -e ./DIR`` of a generated plugin registers its entry points in this process;
- untagged and ``text`` blocks are prose (trees, outputs), except lines starting with
  ``jepa-kit``: a usage line (``[--flag ...]``, upper-case placeholders) must name a real
  subcommand and real flags, any other line is checked as a command.

A block opts out with ``<!-- no-test: reason -->`` on the line before it (blank lines allowed);
the test is then skipped with that reason, so the skip report lists every opt-out.
"""

from __future__ import annotations

import contextlib
import glob
import io
import os
import re
import shlex
import sys
import types
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

REPO = Path(__file__).resolve().parents[2]
COMMAND_LANGS = {"bash", "sh", "shell", "console"}
PROSE_LANGS = {"", "text", "txt", "plain"}
_FENCE = re.compile(r"^(?P<indent> *)(?P<fence>`{3,}|~{3,})(?P<info>[^`]*)$")
_NO_TEST = re.compile(r"^\s*<!--\s*no-test:\s*(?P<reason>.+?)\s*-->\s*$")
#: Subcommands cheap enough to run for real (arguments and outputs stay small).
RUN_FOR_REAL = {("validate",), ("show",), ("schema",), ("plugins",), ("plugins", "new"),
                ("masks",)}
#: Subcommands run for real when their input file exists in the sandbox (else parsed only).
RUN_WITH_INPUT = {("import-reference",): "path", ("export",): "checkpoint"}
#: Keeps ``jepa-kit masks`` quick when a snippet leaves its sampling at the defaults.
SMALL_MASKS = {"--batches": "4", "--batch-size": "8", "--n": "2"}
#: Checkpoint paths the docs use, made in every sandbox from the quickstart recipe.
CHECKPOINTS = ("runs/quickstart/checkpoints/step_00000160.pt",)
SMALL_DATA = ("data.train_size=256", "data.val_size=64", "data.num_workers=0")


@dataclass
class Block:
    page: str  # path relative to the repository
    line: int  # 1-based line of the opening fence
    lang: str
    code: str
    skip: str | None = None  # the no-test reason, when opted out
    title: str | None = None  # ``title="path"``: the block is that file's content

    @property
    def id(self) -> str:
        return f"{self.page}:{self.line}:{self.lang or 'text'}"


def pages() -> list[Path]:
    """Every documentation page: README.md and docs/*.md (pages added later included)."""
    return [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]


def extract(path: Path) -> list[Block]:
    """The fenced blocks of one Markdown file, in order."""
    rel = path.relative_to(REPO).as_posix()
    lines = path.read_text().splitlines()
    blocks: list[Block] = []
    i = 0
    while i < len(lines):
        match = _FENCE.match(lines[i])
        if not match:
            i += 1
            continue
        fence, indent = match["fence"], len(match["indent"])
        lang = match["info"].strip().split(" ")[0].lower() if match["info"].strip() else ""
        start = i
        body: list[str] = []
        i += 1
        while i < len(lines) and not lines[i].strip().startswith(fence):
            body.append(lines[i][indent:] if lines[i][:indent].strip() == "" else lines[i])
            i += 1
        i += 1
        skip = None
        j = start - 1
        while j >= 0 and not lines[j].strip():
            j -= 1
        if j >= 0 and (opt := _NO_TEST.match(lines[j])):
            skip = opt["reason"]
        title = re.search(r'title="([^"]+)"', match["info"])
        blocks.append(Block(rel, start + 1, lang, "\n".join(body) + "\n", skip,
                            title[1] if title else None))
    return blocks


def all_blocks() -> list[Block]:
    return [b for page in pages() for b in extract(page)]


# -- the sandbox -------------------------------------------------------------------------------
@dataclass
class Sandbox:
    """One page's working folder and the in-process registrations its snippets made."""

    root: Path
    done: set[int] = field(default_factory=set)
    sys_path: list[str] = field(default_factory=list)
    registered: list[tuple[str, str]] = field(default_factory=list)
    modules: list[str] = field(default_factory=list)
    local: dict[str, dict[str, Any]] = field(default_factory=dict)
    closed: bool = False

    @classmethod
    def create(cls, root: Path) -> Sandbox:
        root.mkdir(parents=True, exist_ok=True)
        for name in ("recipes", "scripts", "plugins", "tests"):
            (root / name).symlink_to(REPO / name, target_is_directory=True)
        for rel in CHECKPOINTS:
            _small_checkpoint(root / rel)
        from jepa_kit.registry import REGISTRIES

        return cls(root, local={k: dict(r._local) for k, r in REGISTRIES.items()})

    @contextlib.contextmanager
    def cwd(self) -> Iterator[None]:
        old = Path.cwd()
        os.chdir(self.root)
        try:
            yield
        finally:
            os.chdir(old)

    def close(self) -> None:
        from jepa_kit.registry import registry

        if self.closed:
            return
        self.closed = True
        for kind, name in self.registered:
            registry(kind).unregister(name)
        for kind, before in self.local.items():  # what snippets registered with @register
            reg = registry(kind)
            reg._local.clear()
            reg._local.update(before)
        for mod in self.modules:
            sys.modules.pop(mod, None)
        for entry in self.sys_path:
            if entry in sys.path:
                sys.path.remove(entry)
            for mod in [m for m, v in sys.modules.items()
                        if (getattr(v, "__file__", None) or "").startswith(entry)]:
                del sys.modules[mod]


def _small_checkpoint(path: Path) -> None:
    """An untrained checkpoint of ``recipes/quickstart.toml``, laid out as the trainer writes."""
    import torch

    from jepa_kit import __version__
    from jepa_kit.build import build_method
    from jepa_kit.checkpoint import save_checkpoint
    from jepa_kit.recipe import load_recipe, recipe_to_dict

    # A small dataset keeps evaluation snippets quick; their code paths are the same.
    recipe = load_recipe(REPO / "recipes" / "quickstart.toml", SMALL_DATA)
    state = torch.random.get_rng_state()
    torch.manual_seed(recipe.run.seed)
    method = build_method(recipe)
    torch.random.set_rng_state(state)
    step = int(path.stem.split("_")[1])
    save_checkpoint(path, {
        "step": step, "epoch": 0, "step_in_epoch": 0, "method": recipe.method.kind,
        "networks": list(method.networks), **method.state_dict(), "optimizer": None, "rng": None,
        "recipe": recipe_to_dict(recipe), "versions": {"jepa-kit": __version__},
        "metrics": {},
    })


# -- checks ------------------------------------------------------------------------------------
class SnippetError(AssertionError):
    pass


def check_block(block: Block, box: Sandbox) -> list[str]:
    """Check one block inside ``box``; returns notes on what was done, raises on a failure."""
    with box.cwd():
        if block.title and Path(block.title).parent.is_dir():
            # A file a walkthrough has the reader write: write it, then check it as code.
            Path(block.title).write_text(block.code)
        if block.lang in COMMAND_LANGS:
            return check_commands(block, box)
        if block.lang == "python":
            return check_python(block, box)
        if block.lang == "toml":
            return [check_toml(block)]
        if block.lang in PROSE_LANGS:
            return check_prose(block, box)
        if block.lang == "json":
            import json

            json.loads(block.code)
            return ["json parsed"]
    return [f"{block.lang}: not a language the snippet tests check"]


def check_toml(block: Block) -> str:
    from jepa_kit.recipe import COMPONENT_SECTIONS, RecipeError, recipe_model, validate_recipe
    from jepa_kit.registry import GROUPS

    try:
        data = tomllib.loads(block.code)
    except tomllib.TOMLDecodeError as exc:
        raise SnippetError(f"{block.id}: not valid TOML: {exc}") from None
    if "project" in data or "build-system" in data or "tool" in data:
        groups = data.get("project", {}).get("entry-points", {})
        unknown = sorted(set(groups) - set(GROUPS.values()))
        if unknown:
            raise SnippetError(f"{block.id}: unknown entry-point groups {unknown}")
        return "pyproject excerpt: entry-point groups exist"
    sections = set(recipe_model().model_fields) | set(COMPONENT_SECTIONS) | {"extends"}
    if not set(data) <= sections:
        raise SnippetError(f"{block.id}: keys {sorted(set(data) - sections)} are neither recipe "
                           f"sections nor pyproject tables")
    data.pop("extends", None)
    # A fragment changes one slot; complete it with the defaults of the others. Component
    # options belong to their kind, so a fragment without a kind is read against the default.
    try:
        validate_recipe(data, block.id)
    except RecipeError as exc:
        missing_kind = [s for s in data if s in COMPONENT_SECTIONS and "kind" not in data[s]]
        raise SnippetError(f"{exc}" + (f" (sections without kind: {missing_kind})"
                                       if missing_kind else "")) from None
    return "recipe fragment validated"


def check_python(block: Block, box: Sandbox) -> list[str]:
    # A real module, so that pydantic and pickle find what the snippet defines.
    page = re.sub(r"\W", "_", block.page)
    name = f"jepa_kit_docs_snippet_{page}_{block.line}"
    module = types.ModuleType(name)
    sys.modules[name] = module
    box.modules.append(name)
    namespace = module.__dict__
    try:
        code = compile(block.code, block.id, "exec")
    except SyntaxError as exc:
        raise SnippetError(f"{block.id}: {exc}") from None
    with _quiet():
        exec(code, namespace)
    called = [*check_components(namespace)]
    for name, obj in list(namespace.items()):
        if name.startswith("test_") and callable(obj) and obj.__code__.co_argcount == 0:
            with _quiet():
                obj()
            called.append(name)
    return ["executed" + (f"; called {', '.join(called)}" if called else "")]


def check_components(namespace: dict[str, Any]) -> Iterator[str]:
    """Run jepa_kit.testing's check on every concrete component class a snippet defines."""
    import inspect

    from jepa_kit import testing
    from jepa_kit.registry import _base_class

    module = namespace["__name__"]
    for obj in list(namespace.values()):
        if not (isinstance(obj, type) and obj.__module__ == module) or inspect.isabstract(obj):
            continue
        for kind in ("encoder", "predictor", "masker", "target_updater", "loss", "dataset"):
            if issubclass(obj, _base_class(kind)):
                with _quiet():
                    getattr(testing, f"check_{kind}")(obj)
                yield f"check_{kind}({obj.__name__})"


def logical_lines(code: str) -> list[str]:
    """Shell lines with backslash continuations joined; comments and blank lines dropped."""
    out: list[str] = []
    pending = ""
    for raw in code.splitlines():
        line = raw.rstrip()
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        line = (pending + line).strip()
        pending = ""
        if line and not line.startswith("#"):
            out.append(line)
    if pending.strip():
        out.append(pending.strip())
    return out


def split_commands(line: str) -> list[list[str]]:
    """Simple commands of a shell line (split at ``&&``, ``||``, ``;``, ``|``), redirections cut."""
    lexer = shlex.shlex(line, posix=True, punctuation_chars=";&|<>")
    lexer.whitespace_split = True
    lexer.commenters = "#"
    commands: list[list[str]] = [[]]
    redirect = False
    for token in lexer:
        if token in {";", "&&", "||", "|", "&"}:
            commands.append([])
            redirect = False
        elif set(token) <= set("<>&") or re.fullmatch(r"\d?[<>]&?\d?", token):
            redirect = True
        elif redirect:
            redirect = False  # the file named by a redirection is not an argument
        else:
            commands[-1].append(token)
    return [c for c in commands if c]


def jepa_argv(words: list[str]) -> list[str] | None:
    """The jepa-kit arguments of a simple command, or None when it does not run jepa-kit."""
    if words and words[0] == "srun":
        words = words[1:]
    if not words:
        return None
    prog = Path(words[0]).name
    if prog == "jepa-kit":
        return words[1:]
    if prog.startswith("python") and words[1:3] == ["-m", "jepa_kit"]:
        return words[3:]
    if prog == "torchrun":
        from torch.distributed.run import get_args_parser

        try:
            args = get_args_parser().parse_args(words[1:])
        except SystemExit:
            raise SnippetError(f"torchrun does not accept: {shlex.join(words)}") from None
        if not (args.module and args.training_script == "jepa_kit"):
            raise SnippetError(f"torchrun should start `-m jepa_kit`: {shlex.join(words)}")
        return list(args.training_script_args)
    return None


def check_commands(block: Block, box: Sandbox) -> list[str]:
    notes = []
    for line in logical_lines(block.code):
        for words in split_commands(line):
            notes.append(check_command(words, box))
    return notes


def check_command(words: list[str], box: Sandbox) -> str:
    argv = jepa_argv(words)
    if argv is not None:
        return check_jepa(argv, box)
    prog = Path(words[0]).name
    if prog == "bash" and len(words) > 1 and words[1].endswith(".sh"):
        if not (REPO / words[1]).is_file():
            raise SnippetError(f"{shlex.join(words)}: no script {words[1]}")
        return f"{words[1]} exists"
    if prog == "pip" and words[1:3] == ["install", "-e"] and len(words) == 4:
        return install_generated(Path(words[3]), box)
    return f"not checked: {shlex.join(words)}"


def install_generated(path: Path, box: Sandbox) -> str:
    """``pip install -e DIR`` of a plugin made by ``plugins new`` earlier on the page: register
    its entry points in this process instead (tests/plugins/test_scaffold.py proves the real
    install)."""
    import importlib

    from jepa_kit.registry import GROUPS, registry

    project = path.resolve() / "pyproject.toml"
    if not project.is_file():
        return f"not checked: pip install -e {path} (no generated package there)"
    data = tomllib.loads(project.read_text())
    entry = str(path.resolve())
    if entry not in sys.path:
        sys.path.insert(0, entry)
        box.sys_path.append(entry)
    for mod in [m for m, v in sys.modules.items()  # a re-install picks up edited files
                if (getattr(v, "__file__", None) or "").startswith(entry)]:
        del sys.modules[mod]
    kinds = {group: kind for kind, group in GROUPS.items()}
    for group, items in data["project"].get("entry-points", {}).items():
        for name, target in items.items():
            module, _, attr = target.partition(":")
            cls = getattr(importlib.import_module(module), attr)
            registry(kinds[group]).register(name, cls, replace=True)
            box.registered.append((kinds[group], name))
    return f"registered {path} in-process"


def click_app() -> Any:
    import typer.main

    from jepa_kit.cli.app import app

    return typer.main.get_command(app)


def parse_cli(argv: list[str]) -> tuple[tuple[str, ...], Any]:
    """Parse ``argv`` with jepa-kit's typer app; returns (subcommand path, parsed context)."""
    cmd = click_app()
    ctx = None
    path: list[str] = []
    rest = list(argv)
    name = "jepa-kit"
    while True:
        try:
            ctx = cmd.make_context(name, rest, parent=ctx)
        except Exception as exc:
            if callable(getattr(exc, "format_message", None)):
                where = " ".join(["jepa-kit", *path])
                raise SnippetError(f"`{where}` rejects {shlex.join(argv)}: "
                                   f"{exc.format_message()}") from None
            raise
        rest = [*getattr(ctx, "_protected_args", []), *ctx.args]
        if not hasattr(cmd, "resolve_command") or not rest:
            return tuple(path), ctx
        name, sub, rest = cmd.resolve_command(ctx, rest)
        if sub is None:
            raise SnippetError(f"jepa-kit has no command {shlex.join(argv)}")
        path.append(name)
        cmd = sub


def run_cli(argv: list[str]) -> tuple[int, str]:
    from jepa_kit.cli.app import main

    buffer = io.StringIO()
    code = 0
    with contextlib.redirect_stdout(buffer), contextlib.redirect_stderr(buffer):
        try:
            main(argv)
        except SystemExit as exc:
            code = int(exc.code or 0)
    return code, buffer.getvalue()


def expand(argv: list[str]) -> list[str]:
    out: list[str] = []
    for word in argv:
        found = sorted(glob.glob(word)) if any(c in word for c in "*?[") else []
        out.extend(found or [word])
    return out


def check_jepa(argv: list[str], box: Sandbox) -> str:
    argv = expand(argv)
    path, ctx = parse_cli(argv)
    shown = shlex.join(["jepa-kit", *argv])
    if path in RUN_FOR_REAL or "--dry-run" in argv or (
            path in RUN_WITH_INPUT and Path(ctx.params[RUN_WITH_INPUT[path]]).exists()):
        if path == ("masks",):
            argv = argv + [f for k, v in SMALL_MASKS.items() if k not in argv for f in (k, v)]
        code, output = run_cli(argv)
        if code != 0:
            raise SnippetError(f"{shown} exited {code}:\n{output}")
        return f"ran: {shown}"
    recipe = ctx.params.get("recipe")
    if isinstance(recipe, Path) and recipe.suffix == ".toml":
        from jepa_kit.recipe import load_recipe

        load_recipe(recipe, ctx.params.get("overrides") or [])
        return f"parsed, recipe validated: {shown}"
    return f"parsed: {shown}"


_USAGE = re.compile(r"\[|\||\b[A-Z][A-Z_]{2,}\b|\.\.\.")


def check_prose(block: Block, box: Sandbox) -> list[str]:
    """Lines of a text block that start with ``jepa-kit``: usage lines or commands."""
    notes: list[str] = []
    lines = block.code.splitlines()
    i = 0
    while i < len(lines):
        line = lines[i]
        if not line.startswith("jepa-kit "):
            i += 1
            continue
        text = line.split("  #")[0]
        i += 1
        while i < len(lines) and lines[i].startswith(" ") and lines[i].strip().startswith("["):
            text += " " + lines[i].strip()
            i += 1
        if _USAGE.search(text):
            notes.append(check_usage(text))
        else:
            for words in split_commands(text):
                notes.append(check_command(words, box))
    return notes or ["prose"]


def check_usage(text: str) -> str:
    """A usage line: its subcommand path and every ``--flag`` it names must exist."""
    words = text.split()[1:]
    cmd = click_app()
    path: list[str] = []
    while hasattr(cmd, "get_command") and words and re.fullmatch(r"[a-z][a-z-]*", words[0]):
        sub = cmd.get_command(None, words[0])
        if sub is None:
            raise SnippetError(f"{text}: jepa-kit has no command {' '.join([*path, words[0]])}")
        path.append(words.pop(0))
        cmd = sub
    known = {opt for p in cmd.params for opt in (*p.opts, *p.secondary_opts)}
    named = set(re.findall(r"(?<![\w-])(--?[a-zA-Z][\w-]*)", " ".join(words)))
    unknown = sorted(named - known)
    if unknown:
        raise SnippetError(f"{text}: `jepa-kit {' '.join(path)}` has no option "
                           f"{', '.join(unknown)}")
    return f"usage checked: jepa-kit {' '.join(path)}"


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    with contextlib.redirect_stdout(io.StringIO()):
        yield
