"""The site's navigation reaches every page of docs/."""

from __future__ import annotations

from typing import Any

import pytest

from tests.docs.snippets import REPO


def _nav_files(node: Any) -> set[str]:
    if isinstance(node, str):
        return {node}
    if isinstance(node, list):
        return set().union(*(_nav_files(n) for n in node))
    if isinstance(node, dict):
        return set().union(*(_nav_files(v) for v in node.values()))
    return set()


def test_every_page_is_in_the_nav() -> None:
    yaml = pytest.importorskip("yaml")  # comes with the docs extra
    config = yaml.safe_load((REPO / "mkdocs.yml").read_text())
    listed = _nav_files(config["nav"])
    pages = {p.relative_to(REPO / "docs").as_posix() for p in (REPO / "docs").rglob("*.md")}
    missing = sorted(pages - listed)
    assert not missing, f"add these pages to the nav in mkdocs.yml: {missing}"
    assert listed <= pages, f"the nav names missing pages: {sorted(listed - pages)}"
