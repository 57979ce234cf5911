"""``jepa-kit plugins new --into DIR``: add a component to an existing plugin distribution.

DIR is a setuptools project with a ``pyproject.toml`` (one made by ``plugins new`` or any
other). The component's module goes into the distribution's package, its test into
``tests/``, and one entry-point line into ``pyproject.toml``. Every other byte of
``pyproject.toml`` stays as it was; the edited text is parsed again to prove that it declares
exactly one entry point more, and nothing is written when it does not.
"""

from __future__ import annotations

import copy
import re
import sys
from pathlib import Path
from typing import Any

from jepa_kit.errors import UserError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

#: A line that may be a table header: ``[a.b]`` or ``[[a.b]]``, then at most a comment.
_HEADER = re.compile(r"^\s*\[.*\]\s*(#.*)?$")
#: Folders that are never the distribution's package.
_NOT_PACKAGES = {"tests", "test", "docs", "build", "dist", "examples", "scripts"}


def read_pyproject(root: Path) -> tuple[str, dict[str, Any]]:
    """The text of ``root/pyproject.toml`` and its parsed content."""
    path = root / "pyproject.toml"
    if not path.is_file():
        raise UserError(f"--into {root}: no pyproject.toml there; point --into at the folder of "
                        "an existing plugin distribution (the one holding its pyproject.toml)")
    text = path.read_bytes().decode()
    try:
        return text, tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise UserError(f"{path} is not valid TOML: {exc}") from None


def _package_dir(root: Path, name: str) -> Path | None:
    for base in (root, root / "src"):
        if name.isidentifier() and (base / name / "__init__.py").is_file():
            return base / name
    return None


def find_package(root: Path, doc: dict[str, Any]) -> Path:
    """The folder of the distribution's (one) top-level package.

    Asked in order, the first that names exactly one existing package wins: the modules its
    entry points point at, ``[tool.setuptools] packages``, the package folders in DIR or
    DIR/src.
    """
    groups = doc.get("project", {}).get("entry-points", {})
    ask = [
        [value.split(":")[0].split(".")[0] for table in groups.values() if isinstance(table, dict)
         for value in table.values() if isinstance(value, str)],
        [p.split(".")[0] for p in doc.get("tool", {}).get("setuptools", {}).get("packages", [])
         if isinstance(p, str)],
        [p.name for base in (root, root / "src") if base.is_dir() for p in sorted(base.iterdir())
         if p.name not in _NOT_PACKAGES],
    ]
    for names in ask:
        found = {d for n in names if (d := _package_dir(root, n)) is not None}
        if len(found) == 1:
            return found.pop()
        if len(found) > 1:
            listed = ", ".join(sorted(str(d.relative_to(root)) for d in found))
            raise UserError(f"--into {root}: cannot tell which package gets the new module; "
                            f"found {listed}")
    raise UserError(f"--into {root}: found no package (a folder with an __init__.py, in DIR or "
                    "DIR/src) to put the new module in")


def _header_path(line: str) -> tuple[str, ...] | None:
    """The dotted key of a table header line (``[a."b.c"]`` -> ``("a", "b.c")``); ``()`` for
    an array-of-tables header (``[[a]]``, never edited); None for other lines."""
    if not _HEADER.match(line):
        return None
    if line.lstrip().startswith("[["):
        return ()
    try:
        node: Any = tomllib.loads(line)
    except tomllib.TOMLDecodeError:
        return None
    path: list[str] = []
    while isinstance(node, dict) and len(node) == 1:
        key, node = next(iter(node.items()))
        path.append(key)
    return tuple(path) if path else None


def _end_of_table(lines: list[str], start: int) -> int:
    """Index after the last key line of the table whose header is ``lines[start]`` (comments
    and blank lines before the next header belong to that header)."""
    end = start + 1
    for i in range(start + 1, len(lines)):
        if _header_path(lines[i]) is not None:
            break
        stripped = lines[i].strip()
        if stripped and not stripped.startswith("#"):
            end = i + 1
    return end


def add_entry_point(text: str, group: str, name: str, value: str) -> str:
    """``text`` (a pyproject.toml) with ``name = "value"`` added under
    ``[project.entry-points."group"]``: at the end of that table, or in a new table after the
    last entry-points table (else at the end of the file). Nothing else changes."""
    newline = "\r\n" if "\r\n" in text else "\n"
    lines = text.splitlines(keepends=True)
    if lines and not lines[-1].endswith(("\n", "\r")):
        lines[-1] += newline
    entry = f'{name} = "{value}"{newline}'
    headers = [(i, p) for i, line in enumerate(lines) if (p := _header_path(line)) is not None]
    table = [i for i, p in headers if p == ("project", "entry-points", group)]
    if table:
        at = _end_of_table(lines, table[-1])
        lines.insert(at, entry)
    else:
        others = [i for i, p in headers if p[:2] == ("project", "entry-points")]
        at = _end_of_table(lines, others[-1]) if others else len(lines)
        block = [f'[project.entry-points."{group}"]{newline}', entry]
        if at > 0 and lines[at - 1].strip():
            block.insert(0, newline)  # blank lines between tables
        if at < len(lines) and lines[at].strip():
            block.append(newline)
        lines[at:at] = block
    return "".join(lines)


def check_not_declared(root: Path, doc: dict[str, Any], group: str, name: str) -> None:
    """Refuse a name the distribution already declares in ``group`` (installed or not)."""
    declared = doc.get("project", {}).get("entry-points", {}).get(group, {})
    if name in declared:
        raise UserError(f'{root / "pyproject.toml"} already declares {name!r} under '
                        f'[project.entry-points."{group}"] ({declared[name]}); pick another name')


def checked_entry_point(root: Path, text: str, doc: dict[str, Any], group: str, name: str,
                        value: str) -> str:
    """``add_entry_point``'s result, parsed back: refuses what it cannot add cleanly."""
    path = root / "pyproject.toml"
    if "entry-points" in doc.get("project", {}).get("dynamic", []):
        raise UserError(f"{path} declares its entry points as dynamic (setup.py or setup.cfg); "
                        f'add {name} = "{value}" under the {group!r} group there yourself')
    new = add_entry_point(text, group, name, value)
    expected = copy.deepcopy(doc)
    expected.setdefault("project", {}).setdefault("entry-points", {}).setdefault(group, {})
    expected["project"]["entry-points"][group][name] = value
    try:
        parsed = tomllib.loads(new)
    except tomllib.TOMLDecodeError:
        parsed = None
    if parsed != expected:
        raise UserError(f"{path}: its entry points are written in a form this command does not "
                        f'edit; add {name} = "{value}" under [project.entry-points."{group}"] '
                        "yourself")
    return new


def free_path(*candidates: Path) -> Path:
    """The first candidate that does not exist yet."""
    for path in candidates:
        if not path.exists():
            return path
    raise UserError(f"{' and '.join(map(str, candidates))} exist already; pick another name")
