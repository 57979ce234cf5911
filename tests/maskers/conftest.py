"""Masker tests run torch on one thread, as a data-loader worker does.

The masks do not depend on the thread count; the time does: these tensors are small, and on a
shared two-core machine a second intra-op thread mostly waits.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import torch


@pytest.fixture(autouse=True)
def one_thread() -> Iterator[None]:
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
