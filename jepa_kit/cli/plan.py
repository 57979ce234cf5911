"""``plan``: goal-reaching episodes in the built-in room with an ``ac_jepa`` world model."""

from __future__ import annotations

import json
from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table

from jepa_kit.cli.console import err
from jepa_kit.cli.options import SetOption

out = Console(highlight=False, soft_wrap=True)


def plan(
    checkpoint: Path = typer.Argument(..., help="An ac_jepa checkpoint (.pt)."),
    episodes: int = typer.Option(100, "--episodes", "-n", min=1, max=100_000,
                                 help="Goal-reaching episodes per policy."),
    seed: int = typer.Option(0, "--seed", help="Seed of the episodes' starts and goals and of "
                             "the planner's samples."),
    radius: float = typer.Option(0.1, "--radius", min=0.0, help="An episode succeeds when the "
                                 "agent is within this distance of the goal (room units)."),
    max_steps: int = typer.Option(40, "--max-steps", min=1, help="Actions per episode."),
    min_distance: float = typer.Option(0.3, "--min-distance", min=0.0,
                                       help="Least distance from start to goal."),
    baselines: bool = typer.Option(True, "--baselines/--no-baselines",
                                   help="Also run the random-action and straight-line oracle "
                                   "policies on the same episodes."),
    random_init: bool = typer.Option(False, "--random-init", help="Plan with the run's initial "
                                     "weights instead of the trained ones."),
    out_dir: Path = typer.Option(None, "--out", "-o", help="Folder for plan.json and "
                                 "plan.png (default: <run>/plan next to checkpoints/)."),
    overrides: list[str] = SetOption,
) -> None:
    """Run goal-reaching episodes: the recipe's [planner] minimises the L1 energy between the
    representation predicted after its actions and the goal image's; prints the success rate
    and final distance beside a random-action and a straight-line oracle baseline, and writes
    plan.json and a PNG strip of the first episode."""
    import numpy as np
    import torch

    from jepa_kit.data.transforms import normalise
    from jepa_kit.errors import UserError
    from jepa_kit.methods.ac_jepa.load import load_world_model
    from jepa_kit.registry import registry
    from jepa_kit.worlds.episodes import (
        episode_task,
        oracle_policy,
        random_policy,
        run_episode,
        summarise,
    )
    from jepa_kit.worlds.room import Room
    from jepa_kit.worlds.strip import episode_strip

    if not checkpoint.is_file():
        raise UserError(f"{checkpoint}: no such checkpoint file")
    loaded = load_world_model(checkpoint, overrides or [], random_init=random_init)
    recipe, wm = loaded.recipe, loaded.model
    room = Room(recipe.data.room_spec())
    try:
        planner = registry("planner").load(recipe.planner.kind)(recipe.planner, action_dim=2)
    except ValueError as exc:
        raise UserError(f"[planner]: {exc}") from None
    generator = torch.Generator().manual_seed(seed)
    first_plan: list[np.ndarray] = []

    def as_input(frame: np.ndarray) -> torch.Tensor:
        return normalise(torch.from_numpy(frame).float() / 255.0)[None]

    def world_model_policy(room: Room, goal: np.ndarray, rng: np.random.Generator
                           ) -> np.ndarray:
        z0 = wm.encode(as_input(room.render()))
        target = goal_tokens[0]
        state0 = torch.from_numpy(room.position).float()[None]
        actions = planner.plan(lambda a: wm.energy(z0, target, a, state0),
                               generator=generator).numpy()
        if not first_plan:
            first_plan.append(actions)
        return actions[: recipe.planner.execute]

    goal_tokens: list[torch.Tensor] = []
    policies = {"planner": world_model_policy}
    if baselines:
        policies |= {"random": random_policy, "oracle": oracle_policy}
    results: dict[str, list] = {name: [] for name in policies}
    for i in range(episodes):
        start, goal = episode_task(room, seed, i, min_distance)
        for name, policy in policies.items():
            if name == "planner":
                planner.reset()
                goal_tokens[:] = [wm.encode(as_input(room.render(goal)))]
            rng = np.random.default_rng([seed, 0x52414E, i])
            results[name].append(run_episode(room, policy, start, goal, radius=radius,
                                             max_steps=max_steps, rng=rng))
        if (i + 1) % 10 == 0 and i + 1 < episodes:
            done = summarise(results["planner"])["success_rate"]
            err.print(f"episode {i + 1}/{episodes}: planner success so far {done:.0%}")
    summary = {name: summarise(eps) for name, eps in results.items()}

    kind = "walled" if room.spec.wall else "open"
    table = Table(title=f"{episodes} goal-reaching episodes, {kind} room, success within "
                        f"{radius} (checkpoint step {loaded.step}"
                        f"{', random init' if random_init else ''})")
    for column in ("policy", "success", "final distance", "steps"):
        table.add_column(column, justify="right")
    for name, s in summary.items():
        label = f"{recipe.planner.kind} planner" if name == "planner" else name
        table.add_row(label, f"{s['success_rate']:.1%}", f"{s['final_distance']:.3f}",
                      f"{s['steps']:.1f}")
    out.print(table)

    folder = out_dir or checkpoint.resolve().parent.parent / "plan"
    folder.mkdir(parents=True, exist_ok=True)
    report = {"checkpoint": str(checkpoint), "step": loaded.step, "seed": seed,
              "episodes": episodes, "radius": radius, "max_steps": max_steps,
              "min_distance": min_distance, "random_init": random_init,
              "wall": room.spec.wall, "planner": recipe.planner.model_dump(mode="json"),
              "results": summary}
    (folder / "plan.json").write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    strip = episode_strip(room, results["planner"][0], first_plan[0] if first_plan else None)
    strip.save(folder / "plan.png", format="PNG")
    out.print(f"wrote {folder / 'plan.json'} and {folder / 'plan.png'}")


def register(app: typer.Typer) -> None:
    app.command()(plan)
