"""LiDAR: the effective rank of the LDA matrix of surrogate classes (Thilak et al. 2023).

RankMe ([1]) counts how many directions the embeddings of *different* images spread over, so
it also counts directions that only carry noise: features that change between two views of
one image look as "informative" as features that tell images apart. LiDAR ([0], Sec. 3)
treats every image as a class of its own (a *surrogate class*) whose members are ``q`` views
of it, the views the SSL task itself compares, and measures the rank of the linear
discriminant analysis (LDA) matrix of those classes: directions along which views of one image
disagree as much as different images do count for little.

With embeddings ``e_ij`` (image ``i`` of ``n``, view ``j`` of ``q``, width ``d``), class means
``mu_i``, grand mean ``mu``:

    Sigma_b     = 1/(n-1)      sum_i (mu_i - mu)(mu_i - mu)^T              (between images)
    Sigma_w     = 1/(n (q-1))  sum_ij (e_ij - mu_i)(e_ij - mu_i)^T + delta I (within an image)
    Sigma_lidar = Sigma_w^(-1/2) Sigma_b Sigma_w^(-1/2)
    LiDAR       = exp(-sum_k p_k log p_k),  p_k = lambda_k / ||lambda||_1 + eps

over the ``d`` eigenvalues ``lambda_k`` of ``Sigma_lidar``, the same entropy as RankMe. It lies
between 1 and ``min(d, n - 1)`` (``Sigma_b`` has rank at most ``n - 1``). ``delta`` keeps
``Sigma_w`` invertible; the paper adds a small multiple of the identity, here ``1e-4`` by
default, with features of unit scale (layer-normed tokens) in mind.

The matrices are never formed at ``d x d`` when fewer rows exist: the within-image scatter is
taken through the thin SVD of its ``(n q, d)`` residuals, and the eigenvalues of
``Sigma_lidar`` are the squared singular values of ``C Sigma_w^(-1/2) / sqrt(n - 1)`` (``C``:
the centred class means), so a ViT-H width costs what the number of views costs.

- [0]: LiDAR, Thilak et al. 2023, arXiv:2312.04000
- [1]: RankMe, Garrido et al. 2023, arXiv:2210.02885
"""

from __future__ import annotations

import torch

#: Ridge added to the within-class covariance (``delta`` above).
DEFAULT_DELTA = 1e-4
#: Added to every normalised eigenvalue, as RankMe's ``eps`` (monitors.rankme).
DEFAULT_EPS = 1e-7


def lidar_eigenvalues(embeddings: torch.Tensor, *, delta: float = DEFAULT_DELTA
                      ) -> torch.Tensor:
    """The ``d`` eigenvalues of ``Sigma_lidar`` for ``embeddings`` (n, q, d), descending, in
    float64; zeros beyond rank ``min(n - 1, d)``."""
    if embeddings.dim() != 3:
        raise ValueError(f"LiDAR needs embeddings shaped (images, views, dim), got "
                         f"{tuple(embeddings.shape)}")
    n, q, d = embeddings.shape
    if n < 2 or q < 2:
        raise ValueError(f"LiDAR needs at least 2 images and 2 views of each, got {n} images "
                         f"x {q} views")
    if delta <= 0:
        raise ValueError(f"delta must be > 0, got {delta}")
    e = embeddings.detach().double()
    means = e.mean(dim=1)  # (n, d) class means
    centred = means - means.mean(dim=0)  # (n, d)
    residuals = (e - means[:, None]).reshape(n * q, d) / (n * (q - 1)) ** 0.5
    # Sigma_w = V diag(s^2) V^T + delta I, so Sigma_w^(-1/2) = delta^(-1/2) I
    #   + V diag((s^2 + delta)^(-1/2) - delta^(-1/2)) V^T (V: the right singular vectors).
    s2, vh = _scatter_basis(residuals)  # (k,), (k, d)
    shrink = (s2 + delta).rsqrt() - delta ** -0.5  # (k,)
    whitened = centred * delta ** -0.5 + ((centred @ vh.T) * shrink) @ vh  # C Sigma_w^(-1/2)
    sv = torch.linalg.svdvals(whitened / (n - 1) ** 0.5)
    eig = torch.zeros(d, dtype=torch.float64, device=sv.device)
    eig[: min(len(sv), d)] = sv[:d].square()
    return eig


def _scatter_basis(rows: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Eigenvalues ``s2`` (k,) and orthonormal eigenvectors ``vh`` (k, d) of ``rows^T rows``
    for ``rows`` (m, d), through the smaller of the two Gram matrices."""
    m, d = rows.shape
    if d <= m:
        s2, v = torch.linalg.eigh(rows.T @ rows)
        return s2.clamp_min(0), v.T
    s2, u = torch.linalg.eigh(rows @ rows.T)  # (m,), (m, m)
    keep = s2 > s2.max().clamp_min(0) * 1e-12
    s2, u = s2[keep], u[:, keep]
    return s2, (u.T @ rows) / s2.sqrt()[:, None]


def effective_rank(eigenvalues: torch.Tensor, eps: float = DEFAULT_EPS) -> float:
    """``exp(H(p))``, ``p = lambda / (||lambda||_1 + eps) + eps``: 1 for a single direction
    (or none at all), ``len(lambda)`` for a flat spectrum."""
    lam = eigenvalues.double().clamp_min(0)
    p = lam / (lam.sum() + eps) + eps
    return float(torch.exp(-(p * p.log()).sum()))


def lidar(embeddings: torch.Tensor, *, delta: float = DEFAULT_DELTA,
          eps: float = DEFAULT_EPS) -> float:
    """LiDAR of ``embeddings`` (n images, q views, d): between 1 and ``min(d, n - 1)``."""
    return effective_rank(lidar_eigenvalues(embeddings, delta=delta), eps)


def block_views(targets: torch.Tensor, batch_size: int) -> torch.Tensor | None:
    """I-JEPA's target blocks as surrogate-class views: ``targets`` (M*B, Kt, D), block-major
    as the method lays them out, average-pooled per block -> (B, M, D); None when the rows
    do not split into ``M >= 2`` blocks of ``batch_size`` images."""
    rows = targets.shape[0]
    if targets.dim() != 3 or batch_size < 2 or rows % batch_size or rows // batch_size < 2:
        return None
    pooled = targets.detach().float().mean(dim=1)  # (M*B, D)
    return pooled.view(rows // batch_size, batch_size, -1).transpose(0, 1)  # (B, M, D)
