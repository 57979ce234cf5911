"""Every installed component, built-in or plugin, passes the conformance check of its kind."""

from __future__ import annotations

import pytest

from jepa_kit.registry import GROUPS
from jepa_kit.testing import check_component, conformance_cases

CASES = list(conformance_cases())


@pytest.mark.parametrize(("kind", "name"), CASES)
def test_component_conforms(kind: str, name: str) -> None:
    check_component(kind, name)


def test_every_kind_has_a_component() -> None:
    assert {kind for kind, _ in CASES} == set(GROUPS)


def test_cases_are_listed_without_importing() -> None:
    from jepa_kit import registry as R

    R.refresh()
    cases = list(conformance_cases(["loss"]))
    assert ("loss", "l2") in cases
    assert all(R.registry("loss").entry(name)._cls is None for _, name in cases)
