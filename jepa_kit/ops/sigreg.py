"""SIGReg and the LeJEPA loss as pure tensor functions.

SIGReg (Sketched Isotropic Gaussian Regularization, [0] Sec. 4) pushes embeddings towards an
isotropic standard Gaussian: it projects them onto random unit directions ("slices") and runs
the Epps-Pulley characteristic-function test of N(0, 1) on each 1-D projection. LeJEPA adds it
to an L2 prediction term that pulls every view towards the mean of the global views.

The numerics follow the authors' package (``lejepa.univariate.EppsPulley`` and
``lejepa.multivariate.SlicingUnivariateTest``) and their minimal example (``MINIMAL.md``), not
the listing in the paper, which integrates over [-5, 5]; ``tests/fixtures/lejepa_reference``
pins the two together.

- [0]: LeJEPA, Balestriero & LeCun 2025, arXiv:2511.08544
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor

__all__ = ["epps_pulley", "lejepa_loss", "random_slices", "rank_mean", "sigreg"]

NUM_POINTS = 17
"""Knots of the integration grid on [0, t_max] (official ``EppsPulley(n_points=17)``)."""
T_MAX = 3.0
"""Upper end of the integration grid (official ``EppsPulley(t_max=3)``)."""


def random_slices(
    dim: int,
    num_slices: int,
    generator: torch.Generator,
    *,
    device: torch.device | str | None = None,
    dtype: torch.dtype = torch.float32,
) -> Tensor:
    """Draw ``num_slices`` random unit directions in R^dim -> (dim, num_slices), unit columns.

    Matches the sampling inside ``SlicingUnivariateTest.forward``: one ``torch.randn`` of shape
    (dim, num_slices) from ``generator`` in float32, each column divided by its L2 norm. Given a
    generator in the same state the columns are bit-identical to the official ones; ``dtype``
    is applied after sampling so it never changes which directions are drawn.

    Every rank must use the same slices. The official module reseeds its generator with the
    global step (max-reduced across ranks) before each draw; do the same here with
    ``generator.manual_seed(step)``. ``device`` defaults to the generator's device.
    """
    if dim < 1 or num_slices < 1:
        raise ValueError(f"random_slices needs dim >= 1 and num_slices >= 1, got {dim=}, "
                         f"{num_slices=}")
    device = generator.device if device is None else device
    a = torch.randn((dim, num_slices), generator=generator, device=device)
    a = a / a.norm(p=2, dim=0)
    return a.to(dtype)


def _grid(num_points: int, t_max: float, dtype: torch.dtype, device: torch.device
          ) -> tuple[Tensor, Tensor, Tensor]:
    """Knots t on [0, t_max], the N(0, 1) characteristic function at t, quadrature weights."""
    t = torch.linspace(0, t_max, num_points, dtype=torch.float32, device=device)
    phi = torch.exp(-0.5 * t.square())
    # Trapezoid rule on [-t_max, t_max] folded onto [0, t_max]: |ecf - phi|^2 is even in t, so
    # every knot but t=0 stands for two and gets twice the trapezoid weight; t=0 and t_max get
    # dt. The Gaussian window w(t) = phi(t) is folded into the weights.
    dt = t_max / (num_points - 1)
    weights = torch.full((num_points,), 2 * dt, dtype=torch.float32, device=device)
    weights[[0, -1]] = dt
    return t.to(dtype), phi.to(dtype), (weights * phi).to(dtype)


def epps_pulley(
    x: Tensor,
    *,
    num_points: int = NUM_POINTS,
    t_max: float = T_MAX,
    all_reduce: Callable[[Tensor], Tensor] | None = None,
    world_size: int = 1,
) -> Tensor:
    """Epps-Pulley statistic of N(0, 1) per slice: ``x`` (..., N, S) projections -> (..., S).

    ``N * integral over [-t_max, t_max] of |ecf(t) - exp(-t^2/2)|^2 exp(-t^2/2) dt``, with
    ``ecf(t) = mean_n exp(i t x_n)`` the empirical characteristic function, integrated by the
    trapezoid rule on ``num_points`` knots of [0, t_max] (symmetry doubles them), as the
    official ``lejepa.univariate.EppsPulley(t_max=3, n_points=17)``. Leading dimensions are
    independent batches (e.g. views), each with its own N samples.

    ``all_reduce`` averages the ecf over ranks (the official code all-reduces its cos and sin
    means with AVG, through autograd); it receives one tensor (2, ..., S, num_points) holding
    both and must return its mean over ranks. ``world_size`` is the number of ranks it averages
    over: the statistic is scaled by the global batch ``N * world_size``, as the official one.
    The official class also demands an odd ``n_points``, a leftover of Simpson's rule that the
    trapezoid rule does not need; it is not enforced here.
    """
    if num_points < 2:
        raise ValueError(f"epps_pulley needs num_points >= 2, got {num_points}")
    if t_max <= 0:
        raise ValueError(f"epps_pulley needs t_max > 0, got {t_max}")
    if world_size < 1:
        raise ValueError(f"epps_pulley needs world_size >= 1, got {world_size}")
    # At least float32: the official grid is a float32 buffer, which promotes bf16 inputs.
    dtype = torch.promote_types(x.dtype, torch.float32)
    t, phi, weights = _grid(num_points, t_max, dtype, x.device)
    n = x.shape[-2]
    xt = x.to(dtype).unsqueeze(-1) * t  # (..., N, S, T)
    ecf = torch.stack([xt.cos().mean(-3), xt.sin().mean(-3)])  # (2, ..., S, T)
    if all_reduce is not None:
        ecf = all_reduce(ecf)
    err = (ecf[0] - phi).square() + ecf[1].square()  # |ecf - phi|^2, (..., S, T)
    # A product-sum instead of the official `err @ weights`: autocast would run a matmul in bf16.
    return (err * weights).sum(-1) * (n * world_size)


def sigreg(
    embeddings: Tensor,
    slices: Tensor,
    *,
    clip_value: float | None = None,
    **epps_kwargs: object,
) -> Tensor:
    """SIGReg: mean Epps-Pulley statistic over slices -> scalar.

    ``embeddings`` (N, K), or (..., N, K) for independent batches of N (each tested alone,
    then everything averaged); ``slices`` (K, S) from ``random_slices``. Matches the official
    ``SlicingUnivariateTest(EppsPulley(), num_slices=S, reduction="mean")`` called on the same
    tensor with the same slices, including its optional ``clip_value`` (statistics below it
    count as 0). ``epps_kwargs`` go to ``epps_pulley`` (grid, ``all_reduce``, ``world_size``).
    """
    if embeddings.shape[-1] != slices.shape[0]:
        raise ValueError(f"sigreg: embeddings have {embeddings.shape[-1]} features but slices "
                         f"are {tuple(slices.shape)}; expected ({embeddings.shape[-1]}, S)")
    stats = epps_pulley(embeddings @ slices, **epps_kwargs)  # type: ignore[arg-type]
    if clip_value is not None:
        stats = torch.where(stats < clip_value, torch.zeros_like(stats), stats)
    return stats.mean()


def lejepa_loss(
    global_emb: Tensor,
    all_emb: Tensor,
    slices: Tensor,
    lambd: float,
    **kw: object,
) -> tuple[Tensor, Tensor, Tensor]:
    """LeJEPA loss ([0] Sec. 5) -> (total, prediction, sigreg), all scalars.

    ``global_emb`` (G, B, K): embeddings of the global views; ``all_emb`` (V, B, K): every
    view, the global ones included; ``slices`` (K, S), shared by all views.

    - prediction: squared distance of each view to the per-sample mean of the global views,
      averaged over views, samples and features (``(centers - proj).square().mean()``);
    - sigreg: SIGReg of each view on its own (N = B per view), averaged over views and slices,
      as the official ``SIGReg`` applied to the stacked (V, B, K) projections;
    - total: ``(1 - lambd) * prediction + lambd * sigreg``.

    With ``global_emb is all_emb`` this is the official minimal example, where every view is a
    global one. ``kw`` goes to ``sigreg`` (``clip_value``, grid, ``all_reduce``, ...).
    """
    if not 0.0 <= lambd <= 1.0:
        raise ValueError(f"lejepa_loss: lambd must be in [0, 1], got {lambd}")
    if global_emb.shape[1:] != all_emb.shape[1:]:
        raise ValueError(f"lejepa_loss: global_emb {tuple(global_emb.shape)} and all_emb "
                         f"{tuple(all_emb.shape)} must agree on (B, K)")
    centers = global_emb.mean(0)  # (B, K)
    prediction = (centers - all_emb).square().mean()
    reg = sigreg(all_emb, slices, **kw)  # type: ignore[arg-type]
    return (1 - lambd) * prediction + lambd * reg, prediction, reg


def rank_mean() -> tuple[Callable[[Tensor], Tensor] | None, int]:
    """``(all_reduce, world_size)`` for ``epps_pulley``/``sigreg`` under torch.distributed.

    The hook averages the empirical characteristic function over ranks with a differentiable
    all-reduce, so the statistic describes the global batch as the authors' DDP code does;
    outside a multi-process group it is ``(None, 1)``.
    """
    import torch.distributed as dist

    if not (dist.is_available() and dist.is_initialized()) or dist.get_world_size() == 1:
        return None, 1
    from torch.distributed.nn.functional import all_reduce

    world = dist.get_world_size()
    return (lambda t: all_reduce(t) / world), world
