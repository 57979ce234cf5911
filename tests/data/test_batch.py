"""A batch's method-owned extras: moved with it, ``masks`` one of them."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from jepa_kit.data.batch import Batch, Collator


@dataclass
class _Pair:
    first: torch.Tensor
    second: torch.Tensor
    name: str


class _Counter:
    def sample(self, batch_size: int, *, step: int, generator: torch.Generator) -> _Pair:
        return _Pair(torch.randint(0, 9, (batch_size,), generator=generator),
                     torch.full((batch_size,), step), "drawn")


def test_extras_move_with_the_batch_and_masks_is_one_of_them() -> None:
    pair = _Pair(torch.arange(3), torch.ones(2), "kept")
    batch = Batch([torch.zeros(3, 3, 4, 4)], torch.arange(3), pair, step=5, epoch=1,
                  extras={"tokens": [torch.zeros(2), torch.ones(1)]})
    assert batch.masks is pair and set(batch.extras) == {"tokens", "masks"}
    moved = batch.to(torch.float64)  # every tensor, nested ones included
    assert moved.masks.first.dtype == torch.float64 and moved.masks.name == "kept"
    assert [t.dtype for t in moved.extras["tokens"]] == [torch.float64] * 2
    assert torch.equal(moved.masks.first, torch.arange(3.0))
    assert (moved.step, moved.epoch, len(moved)) == (5, 1, 3)
    assert Batch([torch.zeros(1, 3, 4, 4)], torch.zeros(1), step=0, epoch=0).masks is None


def test_the_collator_draws_the_extra_from_step_and_rank_only() -> None:
    samples = [([torch.full((3, 4, 4), float(i))], i, 7, 2, 0, ()) for i in range(4)]
    batch = Collator(_Counter(), seed=3, rank=1)(samples)
    again = Collator(_Counter(), seed=3, rank=1)(samples[::-1])
    other = Collator(_Counter(), seed=3, rank=0)(samples)
    assert batch.views[0].shape == (4, 3, 4, 4) and batch.labels.tolist() == [0, 1, 2, 3]
    assert torch.equal(batch.masks.first, again.masks.first)
    assert not torch.equal(batch.masks.first, other.masks.first)
    assert batch.masks.second.tolist() == [7] * 4 and (batch.step, batch.epoch) == (7, 2)
    assert Collator(None, seed=3)(samples).extras == {}
