"""Regularizers: each term equals its op computed directly, its gradient reaches the encoder
through any method, the engine adds and logs it, the global statistic spans processes, and
bad entries fail validation naming the key."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp

from jepa_kit.build import build_method, build_regularizers
from jepa_kit.data.loader import Batch, mix_seed
from jepa_kit.errors import UserError
from jepa_kit.ops.sigreg import random_slices, sigreg
from jepa_kit.optim.schedules import ScheduleLengths
from jepa_kit.recipe import RecipeError, load_recipe
from jepa_kit.regularizers.sigreg import _SLICE_TAG, SIGReg
from jepa_kit.regularizers.vicreg import VICReg
from jepa_kit.rundir.metrics import read_metrics
from jepa_kit.train.trainer import train
from tests.conftest import REPO
from tests.train.helpers import QUICKSTART, TINY

LENGTHS = ScheduleLengths(4, 1, 0, 1.0)


def entry(kind: str, on: str, weight: float = 1.0, **options: object) -> str:
    body = ", ".join(f"{k}={v!r}" if not isinstance(v, str) else f'{k}="{v}"'
                     for k, v in {"kind": kind, "weight": weight, "on": on, **options}.items())
    return "{" + body + "}"


def with_terms(*entries: str, recipe: Path = QUICKSTART, extra: tuple[str, ...] = ()
               ) -> object:
    small = TINY if recipe == QUICKSTART else [
        "data.train_size=64", "data.num_workers=0", "encoder.depth=1"]
    return load_recipe(recipe, [*small, *extra, f"regularizers=[{', '.join(entries)}]"])


def test_sigreg_term_is_the_op_with_the_steps_slices() -> None:
    term = SIGReg(SIGReg.Config(weight=1.0, on="x", num_slices=8), seed=3)
    x = torch.randn(64, 16, generator=torch.Generator().manual_seed(0))
    slices = random_slices(16, 8, torch.Generator().manual_seed(mix_seed(_SLICE_TAG, 3, 5)))
    assert torch.equal(term(x, step=5), sigreg(x, slices))
    assert not torch.equal(term(x, step=5), term(x, step=6))  # new directions each step
    # Gaussian samples pass the test far better than collapsed ones.
    assert float(term(x, step=5)) < 0.2 * float(term(x[:1].expand(64, 16) + 0.01 * x, step=5))


def test_vicreg_term_matches_its_definition() -> None:
    term = VICReg(VICReg.Config(weight=1.0, on="x", variance=2.0, covariance=0.5, gamma=1.5))
    x = torch.randn(40, 6, generator=torch.Generator().manual_seed(1)) * torch.tensor(
        [0.1, 0.5, 1.0, 2.0, 3.0, 0.01])
    a = x.double().numpy()
    std = np.sqrt(a.var(axis=0, ddof=1) + 1e-4)
    variance = np.maximum(0.0, 1.5 - std).mean()
    cov = np.cov(a, rowvar=False)
    covariance = (np.square(cov).sum() - np.square(np.diag(cov)).sum()) / 6
    assert float(term(x, step=1)) == pytest.approx(2.0 * variance + 0.5 * covariance, rel=1e-5)
    # (V, N, D): each batch on its own, averaged.
    both = term(torch.stack([x, 2 * x]), step=1)
    assert float(both) == pytest.approx((float(term(x, step=1)) + float(term(2 * x, step=1))) / 2,
                                        rel=1e-5)


@pytest.mark.parametrize(("recipe", "kind", "on"), [
    (QUICKSTART, "sigreg", "pooled_context"),
    (QUICKSTART, "vicreg", "context"),
    (QUICKSTART, "vicreg", "predictions"),
    (REPO / "recipes" / "quickstart_lejepa.toml", "vicreg", "projections"),
    (REPO / "recipes" / "quickstart_lejepa.toml", "sigreg", "pooled"),
])
def test_a_terms_gradient_reaches_the_encoder_and_its_value_is_the_ops(
        recipe: Path, kind: str, on: str) -> None:
    resolved = with_terms(entry(kind, on, num_slices=16) if kind == "sigreg" else
                          entry(kind, on), recipe=recipe)
    torch.manual_seed(0)
    method = build_method(resolved, lengths=LENGTHS)
    terms = build_regularizers(resolved.regularizers, seed=0)
    dataset_batch = _one_batch(method, resolved)
    out = method.forward(dataset_batch, method.networks)
    embedding = out.embeddings[on]
    value = terms.terms[0](embedding, step=dataset_batch.step)
    direct = (sigreg(embedding.float(), terms.terms[0].slices(dataset_batch.step,
                                                              embedding.shape[-1], "cpu"))
              if kind == "sigreg" else None)
    if direct is not None:
        assert torch.equal(value, direct)
    value.backward()
    encoder = method.networks["encoder"]
    grads = [p.grad for p in encoder.parameters() if p.grad is not None]
    assert grads and sum(float(g.abs().sum()) for g in grads) > 0
    assert all(p.grad is None for name, net in method.networks.items()
               if name == "target_encoder" for p in net.parameters())


def _one_batch(method: object, resolved: object) -> Batch:
    from jepa_kit.build import build_dataset
    from jepa_kit.data.loader import build_loader

    dataset = build_dataset(resolved.data, train=True, seed=0)  # type: ignore[attr-defined]
    loader = build_loader(dataset, method.views,  # type: ignore[attr-defined]
                          method.collator(seed=0, rank=0),  # type: ignore[attr-defined]
                          batch_size=8, seed=0, rank=0, world_size=1, num_workers=0)
    return next(iter(loader))


def test_the_engine_adds_the_weighted_term_and_logs_it(tmp_path: Path) -> None:
    plain = train(load_recipe(QUICKSTART, [*TINY, "train.max_steps=1"]),
                  output_dir=tmp_path / "plain", quiet=True)
    both = train(with_terms(entry("sigreg", "pooled_context", 0.5, num_slices=16),
                            entry("vicreg", "context", 2.0), extra=("train.max_steps=1",)),
                 output_dir=tmp_path / "reg", quiet=True)
    assert plain.step == both.step == 1
    base = read_metrics(tmp_path / "plain" / "metrics.jsonl")[0]
    row = read_metrics(tmp_path / "reg" / "metrics.jsonl")[0]
    # Step 1 starts from the same weights and batch: only the terms differ.
    expected = base["loss"] + 0.5 * row["reg_sigreg_pooled_context"] + \
        2.0 * row["reg_vicreg_context"]
    assert row["loss"] == pytest.approx(expected, rel=1e-5)
    assert row["reg_sigreg_pooled_context"] > 0 and row["reg_vicreg_context"] > 0


def test_bad_entries_fail_validation_naming_the_key() -> None:
    with pytest.raises(RecipeError, match=r"regularizers\[0\]\.on='tokens': method 'ijepa' "
                                          r"exposes the embeddings 'context', 'pooled_context', "
                                          r"'predictions'"):
        with_terms(entry("vicreg", "tokens"))
    with pytest.raises(RecipeError, match=r"regularizers\[1\]\.kind: .*'barlow'"):
        with_terms(entry("vicreg", "context"), "{kind=\"barlow\", weight=1, on=\"context\"}")
    with pytest.raises(RecipeError, match=r"regularizers\[0\]\.weight: Input should be "
                                          r"greater than or equal to 0 \(given: -1\.0\)"):
        with_terms(entry("vicreg", "context", -1.0))
    resolved = with_terms(entry("vicreg", "context"), entry("vicreg", "context", 2.0))
    with pytest.raises(UserError, match=r"the same kind on the same embedding twice "
                                        r"\(reg_vicreg_context\)"):
        build_regularizers(resolved.regularizers, seed=0)  # type: ignore[attr-defined]


def _global_worker(rank: int, port: int, shards: torch.Tensor, results: dict) -> None:
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    dist.init_process_group("gloo", rank=rank, world_size=2)
    try:
        out = {}
        for cls, options in ((SIGReg, {"num_slices": 8}), (VICReg, {})):
            for scope in ("global", "rank"):
                term = cls(cls.Config(weight=1.0, on="x", scope=scope, **options), seed=0)
                x = shards[rank].clone().requires_grad_(True)
                value = term(x, step=2)
                value.backward()
                out[(cls.__name__, scope)] = (float(value), x.grad.clone())
        results[rank] = out
    finally:
        dist.destroy_process_group()


def test_the_global_scope_is_the_statistic_of_the_whole_batch() -> None:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    shards = torch.randn(2, 24, 6, generator=torch.Generator().manual_seed(4)) * 0.7 + 0.2
    results = mp.Manager().dict()
    mp.spawn(_global_worker, args=(port, shards, results), nprocs=2, join=True)
    whole = shards.reshape(48, 6)
    for cls, options in ((SIGReg, {"num_slices": 8}), (VICReg, {})):
        term = cls(cls.Config(weight=1.0, on="x", **options), seed=0)
        x = whole.clone().requires_grad_(True)
        expected = term(x, step=2)
        expected.backward()
        for rank in (0, 1):
            value, _ = results[rank][(cls.__name__, "global")]
            assert value == pytest.approx(float(expected.detach()), rel=1e-5)
            local, _ = results[rank][(cls.__name__, "rank")]
            alone = float(term(shards[rank], step=2))
            assert local == pytest.approx(alone, rel=1e-5) and local != pytest.approx(value)
        # Each rank holds world x its share of the whole batch's gradient (every rank computes
        # the same statistic, and the collectives sum the gradients back): DDP's average over
        # ranks then gives exactly the whole batch's gradient.
        scale = 2.0
        got = torch.cat([results[r][(cls.__name__, "global")][1] for r in (0, 1)])
        assert torch.allclose(got, x.grad * scale, rtol=1e-4, atol=1e-6)
