"""AdamW, the I-JEPA reference's optimizer: the built-in ``optimizer`` component.

Decoupled weight decay ([1]) whose value the engine's weight-decay schedule moves per step
(I-JEPA's cosine ramp 0.04 -> 0.4, [0] Appendix A) in the decayed groups only; lr and weight
decay start at 0 and are written before every step.

- [0]: I-JEPA, Assran et al. 2023, arXiv:2301.08243
- [1]: AdamW, Loshchilov & Hutter 2019, arXiv:1711.05101
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal

import torch
from pydantic import Field, field_validator
from torch import nn

from jepa_kit.optim.base import Optimizer, OptimizerConfig
from jepa_kit.optim.groups import decays, param_groups
from jepa_kit.optim.stepper import OptimSchedule

__all__ = ["AdamW", "OptimSchedule", "build_adamw", "decays", "param_groups"]

Implementation = Literal["auto", "fused", "foreach", "for_loop"]


def kernel_flags(implementation: Implementation, device: torch.device) -> dict[str, bool | None]:
    """torch's ``foreach`` / ``fused`` flags for ``implementation`` on ``device``.

    ``auto`` is the fused kernel on CPU and CUDA (one pass over every parameter; on CPU it
    measured the fastest, docs/performance.md, "Optimizer implementation") and foreach
    elsewhere.
    """
    if implementation == "auto":
        implementation = "fused" if device.type in ("cpu", "cuda") else "foreach"
    return {"fused": {"foreach": None, "fused": True},
            "foreach": {"foreach": True, "fused": None},
            "for_loop": {"foreach": False, "fused": None}}[implementation]


class AdamW(Optimizer):
    """``torch.optim.AdamW`` over the method's parameter groups."""

    class Config(OptimizerConfig):
        kind: Literal["adamw"] = "adamw"
        betas: tuple[float, float] = Field(
            (0.9, 0.999), description="Decay rates of the first and second moment, each in [0, 1).")
        eps: float = Field(1e-8, gt=0, le=1.0, description="Added to the second moment's root.")
        implementation: Implementation = Field(
            "auto", description="The update kernel: fused (one kernel over all parameters), "
            "foreach (batched per op), for_loop (one parameter at a time); auto: fused on "
            "CPU and CUDA, foreach elsewhere. The three agree to rounding, not bit for bit.")

        @field_validator("betas")
        @classmethod
        def _in_range(cls, betas: tuple[float, float]) -> tuple[float, float]:
            if not all(0 <= b < 1 for b in betas):
                raise ValueError(f"betas must each lie in [0, 1), got {betas}")
            return betas

    config: Config

    def build(self, param_groups: list[dict[str, Any]]) -> torch.optim.Optimizer:
        c = self.config
        return torch.optim.AdamW(param_groups, lr=0.0, weight_decay=0.0, betas=c.betas,
                                 eps=c.eps, **kernel_flags(c.implementation, self.device))


def build_adamw(
    modules: Sequence[nn.Module], *, betas: tuple[float, float], eps: float, fused: bool | None
) -> torch.optim.AdamW:
    """AdamW over the modules' trainable parameters (the reference's groups, ``param_groups``);
    lr and wd are set by ``OptimSchedule``. ``fused`` picks the fused kernel, else foreach."""
    return torch.optim.AdamW(
        param_groups(modules), lr=0.0, weight_decay=0.0, betas=betas, eps=eps,
        foreach=None if fused else True, fused=fused or None,
    )
