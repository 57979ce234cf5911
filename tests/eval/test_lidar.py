"""LiDAR (arXiv:2312.04000) against its definition, and as the trainer's target-block monitor."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import torch

from jepa_kit.eval.lidar import block_views, lidar, lidar_eigenvalues
from jepa_kit.eval.monitors import CollapseMonitor, rankme
from jepa_kit.recipe import load_recipe
from jepa_kit.train.trainer import train
from tests.eval.helpers import QUICKSTART, TINY_EVAL


def lidar_by_definition(e: torch.Tensor, delta: float = 1e-4, eps: float = 1e-7) -> float:
    """The paper's formulas at full d x d size, in float64."""
    e = e.double()
    n, q, d = e.shape
    mu_x = e.mean(1)
    mu = mu_x.mean(0)
    sigma_b = (mu_x - mu).T @ (mu_x - mu) / (n - 1)
    r = (e - mu_x[:, None]).reshape(-1, d)
    sigma_w = r.T @ r / (n * (q - 1)) + delta * torch.eye(d, dtype=torch.float64)
    w, v = torch.linalg.eigh(sigma_w)
    inv_sqrt = v @ torch.diag(w.rsqrt()) @ v.T
    lam = torch.linalg.eigvalsh(inv_sqrt @ sigma_b @ inv_sqrt).clamp_min(0)
    p = lam / lam.sum() + eps
    return float(torch.exp(-(p * p.log()).sum()))


@pytest.mark.parametrize(("n", "q", "d"), [(50, 4, 16), (8, 3, 40), (300, 5, 20), (6, 2, 7)])
def test_lidar_follows_the_definition(n: int, q: int, d: int) -> None:
    g = torch.Generator().manual_seed(n + d)
    e = torch.randn(n, 1, d, generator=g) + 0.3 * torch.randn(n, q, d, generator=g)
    assert lidar(e) == pytest.approx(lidar_by_definition(e), rel=1e-6)
    eig = lidar_eigenvalues(e)
    assert eig.shape == (d,) and int((eig > 1e-9).sum()) == min(n - 1, d)


def test_lidar_ignores_directions_that_only_vary_between_views() -> None:
    g = torch.Generator().manual_seed(0)
    n, q = 200, 6
    signal = torch.randn(n, 1, 4, generator=g).expand(n, q, 4)  # what tells images apart
    noise = 3.0 * torch.randn(n, q, 28, generator=g)  # changes with every view
    e = torch.cat([signal, noise], dim=-1)
    assert rankme(e.reshape(n * q, -1)) > 20  # RankMe counts the noise as rank
    assert 3.0 < lidar(e) < 4.5  # LiDAR sees the 4 informative directions


def test_lidar_bounds() -> None:
    assert lidar(torch.ones(10, 3, 8)) == pytest.approx(1.0, abs=1e-4)  # total collapse
    g = torch.Generator().manual_seed(1)
    same_views = torch.randn(400, 1, 8, generator=g).expand(400, 3, 8)  # views agree
    assert 7.5 < lidar(same_views) <= 8.0 + 1e-9


@pytest.mark.parametrize(("shape", "message"), [
    ((10, 8), "shaped (images, views, dim)"), ((1, 4, 8), "at least 2 images"),
    ((5, 1, 8), "2 views"),
])
def test_lidar_refuses_unusable_input(shape: tuple[int, ...], message: str) -> None:
    with pytest.raises(ValueError, match=re.escape(message)):
        lidar(torch.zeros(shape))


def test_block_views_regroups_block_major_targets_by_image() -> None:
    m, b, kt, d = 3, 4, 5, 2
    targets = torch.arange(m * b * kt * d, dtype=torch.float32).view(m * b, kt, d)
    views = block_views(targets, b)
    assert views is not None and views.shape == (b, m, d)
    torch.testing.assert_close(views[2, 1], targets[1 * b + 2].mean(0))
    assert block_views(targets, m * b) is None  # one block per image: no views
    assert block_views(targets, 5) is None  # rows do not split into whole batches


def test_monitor_logs_lidar_of_target_blocks(tmp_path: Path) -> None:
    monitor = CollapseMonitor(batches=2)
    g = torch.Generator().manual_seed(0)
    monitor.observe(torch.randn(8, 16, 12, generator=g))
    targets = torch.randn(4 * 8, 5, 12, generator=g)
    values = monitor.values(targets, targets)
    assert values["lidar"] == pytest.approx(lidar(block_views(targets, 8)))

    recipe = load_recipe(QUICKSTART, [*TINY_EVAL, "train.max_steps=2"])
    train(recipe, output_dir=tmp_path, quiet=True)
    rows = [json.loads(line) for line in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    logged = [row["lidar"] for row in rows if "lidar" in row]
    # 16 images x 4 target blocks: at most 15; a random-init ViT spreads over several.
    assert len(logged) == 2 and all(2.0 < v <= 15.0 for v in logged)
