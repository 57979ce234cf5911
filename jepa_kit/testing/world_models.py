"""Conformance checks of the world-model kinds: planners and action-conditioned predictors."""

from __future__ import annotations

import torch

from jepa_kit.testing.base import (
    ConfigLike,
    check_close,
    check_config,
    check_finite,
    check_gradients,
    check_shape,
    expect,
    generator,
    label,
    params_equal,
    probe_loss,
    seeded,
)

#: The toy energy's minimum: planners must find a sequence near it.
_TOY_TARGET = (0.5, -0.25)


def check_planner(cls: type, config: ConfigLike = None, *, action_dim: int = 2,
                  seed: int = 0, tolerance: float = 0.15, name: str | None = None) -> None:
    """``plan`` returns (horizon, A) in [-1, 1], calls the energy on (S, H, A) batches, is
    repeatable under one generator seed, and finds the minimum of a toy quadratic energy
    (every action equal to a known point inside the box) within ``tolerance``."""
    cfg = check_config(cls, "planner", config, name)
    who = f"planner {label(cls)}"
    target = torch.tensor(_TOY_TARGET[:action_dim] + (0.0,) * max(0, action_dim - 2))
    shapes: list[tuple[int, ...]] = []

    def energy(actions: torch.Tensor) -> torch.Tensor:
        shapes.append(tuple(actions.shape))
        expect(actions.dim() == 3 and actions.shape[1:] == (cfg.horizon, action_dim),
               f"{who}: the energy got actions {tuple(actions.shape)}, expected (S, "
               f"{cfg.horizon}, {action_dim})")
        expect(bool((actions.abs() <= 1.0 + 1e-6).all()),
               f"{who}: the energy got actions outside the box [-1, 1]")
        return ((actions - target) ** 2).sum(dim=(1, 2))

    planner = cls(cfg, action_dim=action_dim)
    plan = planner.plan(energy, generator=generator(seed))
    check_shape(plan, (cfg.horizon, action_dim), f"{who}: plan()")
    check_finite(plan, who)
    expect(bool((plan.abs() <= 1.0).all()), f"{who}: the plan leaves the action box [-1, 1]")
    expect(shapes, f"{who}: plan() never called the energy")
    error = float((plan - target).abs().max())
    expect(error <= tolerance, f"{who}: on the toy energy sum((a - {list(_TOY_TARGET)})^2) "
           f"the plan is {error:.3f} from the minimum (tolerance {tolerance})")
    twin = cls(cfg, action_dim=action_dim)
    again = twin.plan(energy, generator=generator(seed))
    check_close(again, plan, f"{who}: two planners under one generator seed planned "
                "differently", exact=True)
    planner.reset()


def check_action_predictor(cls: type, config: ConfigLike = None, *,
                           grid: tuple[int, int] = (2, 2), embed_dim: int = 24,
                           frames: int = 3, batch_size: int = 2, seed: int = 0,
                           name: str | None = None) -> None:
    """``forward(tokens (B, T*N, D), actions (B, T, A), states)`` -> (B, T*N, D); block-causal
    (changing frame t or action t leaves the outputs of earlier frames unchanged and changes
    frame t's); per-sample independent; repeatable builds; gradients reach every parameter
    and the input tokens."""
    cfg = check_config(cls, "predictor", config, name)
    who = f"predictor {label(cls)}"

    def build() -> torch.nn.Module:
        return cls(cfg, grid=grid, embed_dim=embed_dim, encoder_heads=2)

    predictor = seeded(build, seed)
    n, b, t = grid[0] * grid[1], batch_size, frames
    a_dim = cfg.action_dim
    s_dim = getattr(cfg, "state_dim", a_dim)
    gen = generator(seed)
    tokens = torch.randn(b, t * n, embed_dim, generator=gen)
    actions = torch.randn(b, t, a_dim, generator=gen)
    states = torch.randn(b, t, s_dim, generator=gen)
    predictor.eval()
    with torch.no_grad():
        out = predictor(tokens, actions, states)
        check_shape(out, (b, t * n, embed_dim), f"{who}: forward(tokens (B={b}, T*N={t * n}, "
                    f"D={embed_dim}), actions, states)")
        check_finite(out, who)
        last = (t - 1) * n
        changed_tokens = tokens.clone()
        changed_tokens[:, last:] += 1.0
        changed_actions = actions.clone()
        changed_actions[:, -1] += 1.0
        for what, (x, a) in {"the last frame's tokens": (changed_tokens, actions),
                             "the last action": (tokens, changed_actions)}.items():
            moved = predictor(x, a, states)
            check_close(moved[:, :last], out[:, :last], f"{who}: changing {what} changed the "
                        "predictions of earlier frames (the attention must be block-causal)")
            expect(not torch.allclose(moved[:, last:], out[:, last:]),
                   f"{who}: changing {what} left its own frame's prediction unchanged")
        alone = predictor(tokens[:1], actions[:1], states[:1])
        check_close(alone, out[:1], f"{who}: sample 0 predicted alone differs from the batch")
    twin = seeded(build, seed)
    expect(params_equal(predictor, twin), f"{who}: two builds under the same torch seed differ")
    predictor.train()
    tokens = tokens.clone().requires_grad_(True)
    probe_loss(predictor(tokens, actions, states), gen).backward()
    check_gradients(predictor, who)
    expect(tokens.grad is not None and bool(tokens.grad.abs().sum() > 0),
           f"{who}: no gradient reached the input tokens")
