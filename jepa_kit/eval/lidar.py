"""LiDAR, at its former path: it lives in ``jepa_kit.train.lidar`` (the engine's collapse
monitors compute it, and the engine sits below evaluation)."""

from jepa_kit.train.lidar import (
    DEFAULT_DELTA,
    DEFAULT_EPS,
    block_views,
    effective_rank,
    lidar,
    lidar_eigenvalues,
)

__all__ = ["DEFAULT_DELTA", "DEFAULT_EPS", "block_views", "effective_rank", "lidar",
           "lidar_eigenvalues"]
