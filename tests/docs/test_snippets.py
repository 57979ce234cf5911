"""Every code block of README.md and docs/*.md runs, validates or parses (see snippets.py).

One test per block, in page order, sharing one sandbox per page; an opted-out block is a skip
with its reason, so ``pytest -rs`` lists them.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.docs.snippets import REPO, Block, Sandbox, all_blocks, check_block, extract, pages

BLOCKS = all_blocks()


@pytest.fixture(scope="module")
def sandboxes() -> Iterator[dict[str, Sandbox]]:
    boxes: dict[str, Sandbox] = {}
    yield boxes
    for box in boxes.values():
        box.close()


def _sandbox(block: Block, boxes: dict[str, Sandbox], factory: pytest.TempPathFactory
             ) -> Sandbox:
    box = boxes.get(block.page)
    if box is None:
        # One page at a time: what a page registered must not leak into the next.
        for other in boxes.values():
            other.close()
        root = factory.mktemp(Path(block.page).stem) / "work"
        box = boxes[block.page] = Sandbox.create(root)
    # Earlier blocks first when this one runs alone (-k): a walkthrough's later steps rely on
    # what its earlier ones made. Their failures are reported by their own tests.
    for earlier in extract(REPO / block.page):
        if earlier.line >= block.line:
            break
        if earlier.line not in box.done and earlier.skip is None:
            box.done.add(earlier.line)
            try:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    check_block(earlier, box)
            except Exception:
                pass
    box.done.add(block.line)
    return box


@pytest.mark.parametrize("block", BLOCKS, ids=[b.id for b in BLOCKS])
def test_snippet(block: Block, sandboxes: dict[str, Sandbox],
                 tmp_path_factory: pytest.TempPathFactory) -> None:
    if block.skip is not None:
        pytest.skip(f"no-test: {block.skip}")
    box = _sandbox(block, sandboxes, tmp_path_factory)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # plugin and deprecation chatter is not the docs' fault
        check_block(block, box)


def test_every_page_is_covered() -> None:
    found = {p.relative_to(REPO).as_posix() for p in pages()}
    assert {"README.md", "docs/plugins.md", "docs/evaluation.md"} <= found
    assert {b.page for b in BLOCKS} >= {"README.md", "docs/plugins.md"}
