"""jepa-kit's I-JEPA step against peer libraries' own I-JEPA, interleaved in one run.

Peers: stable-pretraining and lightly, each installed from PyPI by this script into its own
virtualenv under ``~/.cache/jepa-kit/peers/<name>`` (``--peers-dir``). The virtualenvs see this
environment's site-packages through a ``.pth`` file placed after their own, so every side runs
on the same torch build (pip installs only what the peer needs beyond it); a peer that cannot
be installed is skipped with a message. No peer code is in jepa-kit: each side runs in a
long-lived worker process (this file with ``--worker NAME``, started with that side's Python)
that imports its library and answers JSON lines on stdin/stdout (``build``, ``step``,
``quit``). The main process sends every worker the same images size, batch and mask batch per
step and times each step inside the worker, steps interleaved round by round.

What each side runs, per step: its I-JEPA forward and loss, backward, AdamW, EMA:

* ``jepa-kit`` (``bench_step.TrainStep``: the trainer's step) in ``per_block`` and ``joint``;
* ``lightly``: its timm I-JEPA modules (``MaskedVisionTransformerTIMM`` context / target
  encoders, ``IJEPAPredictorTIMM``), the loop of lightly's I-JEPA example (``apply_masks``,
  ``repeat_interleave_batch``, smooth L1, ``torch.optim.AdamW``, ``update_momentum``), fed the
  same reference-mode masks as jepa-kit: per-block predictor, compared with ``per_block``;
* ``stable-pretraining``: its ``methods.IJEPA`` (forward returns the loss; ``AdamW``;
  ``TeacherStudentWrapper.update_teacher``). It samples its own masks inside the forward
  (``IJEPAMasking``, the paper's scales) and predicts all target blocks in one pass over
  [context | all target tokens]: compared with jepa-kit's ``joint``.

bf16 is CPU autocast around the forward on every side (what Lightning's ``bf16-mixed`` does).

    python benchmarks/bench_peers.py                       # ViT-T/8 64, fp32 (+ bf16 native)
    python benchmarks/bench_peers.py --config small --rounds 2
    python benchmarks/bench_peers.py --no-install          # use the peers' envs as they are
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

#: The peers: PyPI requirement, predictor form, what departs from the paper.
PEERS: dict[str, dict[str, str]] = {
    "lightly": {
        "requirement": "lightly==1.6.0", "module": "lightly", "targets": "per_block",
        "predictor": "per block (context tiled per target block), timm blocks",
        "departures": "predictor mask token init 0 and timm default init; no depth-scaled "
                      "init; otherwise the official loop",
    },
    "stable-pretraining": {
        "requirement": "stable-pretraining==0.1.8", "module": "stable_pretraining",
        "targets": "joint",
        "predictor": "one pass over [context, all target blocks] (blocks attend to each other)",
        "departures": "joint predictor (not the paper's per-block passes); predictor heads = "
                      "width / 64; masks sampled inside the forward; target encoder runs all "
                      "patches through its own patch embedding",
    },
}
JEPA_KIT = "jepa-kit"
#: ViT sizes of the shapes (width, heads): the benchmark's two configs.
VIT = {"tiny": (192, 3), "small": (384, 6)}
CONFIGS = {"tiny": {"size": "tiny", "img": 64, "patch": 8, "pred_depth": 6},
           "small": {"size": "small", "img": 224, "patch": 16, "pred_depth": 12}}
COLUMNS = ["config", "precision", "side", "version", "predictor", "ms_per_step", "vs_jepa_kit",
           "steps", "spread"]
DEFAULT_DIR = Path.home() / ".cache" / "jepa-kit" / "peers"


# -- installing the peers ------------------------------------------------------------------------
def shared_site_packages() -> str:
    """This environment's site-packages (torch, timm, numpy, ...), for the peers' ``.pth``."""
    import sysconfig

    return sysconfig.get_paths()["purelib"]


def peer_python(peers_dir: Path, name: str) -> Path:
    return peers_dir / name / "bin" / "python"


def ensure_peer(name: str, peers_dir: Path, install: bool = True) -> tuple[Path | None, str]:
    """The peer's Python, installing it first when needed; (None, why) when it cannot."""
    spec = PEERS[name]
    python = peer_python(peers_dir, name)
    if python.exists() and _imports(python, spec["module"]):
        return python, ""
    if not install:
        return None, f"{name}: not installed in {python.parent.parent} (--no-install)"
    env = peers_dir / name
    try:
        subprocess.run([sys.executable, "-m", "venv", str(env)], check=True,
                       capture_output=True, text=True)
        site = next((env / "lib").glob("python*/site-packages"))
        (site / "jepa_kit_shared.pth").write_text(shared_site_packages() + "\n")
        proc = subprocess.run([str(python), "-m", "pip", "install", "-q", spec["requirement"]],
                              capture_output=True, text=True, timeout=1800)
    except (OSError, subprocess.SubprocessError, StopIteration) as exc:
        return None, f"{name}: could not create its virtualenv ({exc})"
    if proc.returncode or not _imports(python, spec["module"]):
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-1:] or ["no output"]
        return None, f"{name}: pip install {spec['requirement']} failed: {tail[0]}"
    return python, ""


def _imports(python: Path, module: str) -> bool:
    proc = subprocess.run([str(python), "-c", f"import {module}"], capture_output=True,
                          check=False)
    return proc.returncode == 0


# -- the worker protocol ---------------------------------------------------------------------------
class Worker:
    """A long-lived worker process: one JSON request per line in, one JSON reply per line out."""

    def __init__(self, side: str, python: Path | str, *, env: dict[str, str] | None = None
                 ) -> None:
        self.side = side
        self.proc = subprocess.Popen(
            [str(python), str(Path(__file__).resolve()), "--worker", side],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=env,
            cwd=str(Path(__file__).resolve().parent.parent))

    def ask(self, request: dict[str, Any]) -> dict[str, Any]:
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.proc.stdin.write(json.dumps(request) + "\n")
        self.proc.stdin.flush()
        line = self.proc.stdout.readline()
        if not line:
            raise RuntimeError(f"{self.side} worker exited ({self.proc.wait()})")
        reply = json.loads(line)
        if "error" in reply:
            raise RuntimeError(f"{self.side} worker: {reply['error']}")
        return reply

    def close(self) -> None:
        if self.proc.poll() is None:
            try:
                self.ask({"cmd": "quit"})
            except (RuntimeError, BrokenPipeError, ValueError):
                pass
            self.proc.wait(timeout=30)


def serve(side: str, stdin: IO[str], stdout: IO[str]) -> None:
    """The worker's loop: ``build`` a side's step, then ``step`` it on masks, until ``quit``."""
    runner: Any = None
    for line in stdin:
        request = json.loads(line)
        try:
            if request["cmd"] == "quit":
                reply: dict[str, Any] = {"ok": True}
            elif request["cmd"] == "build":
                runner = RUNNERS[side](request)
                reply = {"ok": True, "version": runner.version}
            elif request["cmd"] == "step":
                tic = time.perf_counter()
                loss = runner.step(request["context"], request["targets"])
                reply = {"seconds": time.perf_counter() - tic, "loss": loss}
            else:
                reply = {"error": f"unknown command {request['cmd']!r}"}
        except Exception as exc:  # the main process reports it with the side's name
            reply = {"error": f"{type(exc).__name__}: {exc}"}
        stdout.write(json.dumps(reply) + "\n")
        stdout.flush()
        if request.get("cmd") == "quit":
            return


# -- the sides (each imports its own library, in its own process) ---------------------------------
def _autocast(precision: str) -> Any:
    import torch

    return torch.autocast("cpu", dtype=torch.bfloat16, enabled=precision == "bf16")


def _images(cfg: dict[str, Any]) -> Any:
    import torch

    g = torch.Generator().manual_seed(0)
    return torch.randn(cfg["batch"], 3, cfg["img"], cfg["img"], generator=g)


def _momentum(step: int, total: int = 1000) -> float:
    return 0.996 + step * (1.0 - 0.996) / total  # the reference's linear ramp


class JepaKitRunner:
    """``bench_step.TrainStep``: what jepa-kit's trainer does per step."""

    def __init__(self, request: dict[str, Any]) -> None:
        sys.path.insert(0, str(Path(__file__).resolve().parent))
        import torch
        from bench_step import StepConfig, TrainStep, recipe_for

        import jepa_kit

        cfg = request["config"]
        step_cfg = StepConfig(cfg["size"], cfg["img"], cfg["patch"], cfg["pred_depth"],
                              request["precision"], batch=cfg["batch"],
                              targets=request.get("targets", "per_block"),
                              masker_mode="reference")
        self.step_fn = TrainStep(recipe_for(step_cfg))
        self.images = _images(cfg)
        self.version = getattr(jepa_kit, "__version__", "dev")
        self._torch = torch

    def step(self, context: list[list[int]], targets: list[list[list[int]]]) -> float:
        from jepa_kit.maskers.base import Masks

        t = self._torch
        masks = Masks(t.tensor(context), t.tensor(targets))
        return float(self.step_fn(self.images, masks).detach())


class LightlyRunner:
    """lightly's timm I-JEPA modules in the loop of its I-JEPA example."""

    def __init__(self, request: dict[str, Any]) -> None:
        import copy
        import importlib.metadata

        import timm
        import torch
        from lightly.models import utils
        from lightly.models.modules import IJEPAPredictorTIMM, MaskedVisionTransformerTIMM

        cfg, self.precision = request["config"], request["precision"]
        width, heads = VIT[cfg["size"]]
        torch.manual_seed(0)
        vit = timm.models.vision_transformer.VisionTransformer(
            img_size=cfg["img"], patch_size=cfg["patch"], embed_dim=width, depth=12,
            num_heads=heads, num_classes=0, class_token=False, global_pool="")
        self.encoder = MaskedVisionTransformerTIMM(vit=vit)
        self.target = copy.deepcopy(self.encoder).requires_grad_(False)
        grid = (cfg["img"] // cfg["patch"]) ** 2
        self.predictor = IJEPAPredictorTIMM(num_patches=grid, depth=cfg["pred_depth"],
                                            mlp_dim=width, predictor_embed_dim=384,
                                            num_heads=heads)
        self.optimizer = torch.optim.AdamW([*self.encoder.parameters(),
                                            *self.predictor.parameters()], lr=1e-3,
                                           weight_decay=0.04)
        self.utils, self.images, self.n = utils, _images(cfg), 0
        self.version = importlib.metadata.version("lightly")
        self._torch = torch

    def step(self, context: list[list[int]], targets: list[list[list[int]]]) -> float:
        t, u = self._torch, self.utils
        masks_enc = [t.tensor(context)]
        masks_pred = [t.tensor(m) for m in targets]
        batch = len(self.images)
        with _autocast(self.precision):
            z = self.encoder.encode(self.images, idx_keep=masks_enc[0])
            z = self.predictor(z, masks_enc, masks_pred)
            with t.no_grad():
                h = self.target.encode(self.images)
                h = t.nn.functional.layer_norm(h, (h.size(-1),))
                h = u.apply_masks(h, masks_pred)
                h = u.repeat_interleave_batch(h, batch, repeat=len(masks_enc))
        loss = t.nn.functional.smooth_l1_loss(z.float(), h.float())
        loss.backward()
        self.optimizer.step()
        self.optimizer.zero_grad()
        self.n += 1
        u.update_momentum(self.encoder, self.target, _momentum(self.n))
        return float(loss.detach())


class StablePretrainingRunner:
    """stable-pretraining's ``methods.IJEPA``: its forward (own masks, joint predictor) and
    loss, AdamW, and its teacher-student EMA."""

    def __init__(self, request: dict[str, Any]) -> None:
        import importlib.metadata
        import logging

        import timm
        import torch
        from stable_pretraining.methods import IJEPA

        logging.disable(logging.WARNING)  # the pre-built module warning, once per build
        cfg, self.precision = request["config"], request["precision"]
        width, heads = VIT[cfg["size"]]
        torch.manual_seed(0)
        vit = timm.models.vision_transformer.VisionTransformer(
            img_size=cfg["img"], patch_size=cfg["patch"], embed_dim=width, depth=12,
            num_heads=heads, num_classes=0, class_token=False, global_pool="")
        self.model = IJEPA(model_or_model_name=vit, predictor_embed_dim=384,
                           predictor_depth=cfg["pred_depth"], num_targets=4)
        self.model.train()
        params = [p for p in self.model.parameters() if p.requires_grad]
        self.optimizer = torch.optim.AdamW(params, lr=1e-3, weight_decay=0.04)
        self.images = _images(cfg)
        self.version = importlib.metadata.version("stable-pretraining")
        self._torch = torch

    def step(self, context: list[list[int]], targets: list[list[list[int]]]) -> float:
        # Its masks come from inside its forward; the ones sent are not used.
        with _autocast(self.precision):
            out = self.model(self.images)
        out.loss.backward()
        self.optimizer.step()
        self.optimizer.zero_grad()
        with self._torch.no_grad():
            self.model.encoder.update_teacher()
        return float(out.loss.detach())


RUNNERS: dict[str, Any] = {JEPA_KIT: JepaKitRunner, "lightly": LightlyRunner,
                           "stable-pretraining": StablePretrainingRunner}


# -- the run ---------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Variant:
    """One timed row: a side, with jepa-kit's ``targets`` where the side is jepa-kit."""

    side: str
    targets: str = "per_block"

    @property
    def name(self) -> str:
        return self.side if self.side != JEPA_KIT else f"{JEPA_KIT} {self.targets}"


def mask_batches(cfg: dict[str, Any], count: int) -> list[tuple[list[list[int]], Any]]:
    """jepa-kit's reference-mode masks, as lists for the workers."""
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from bench_step import StepConfig, recipe_for, sample_masks

    step_cfg = StepConfig(cfg["size"], cfg["img"], cfg["patch"], cfg["pred_depth"],
                          batch=cfg["batch"], masker_mode="reference")
    grid = (cfg["img"] // cfg["patch"],) * 2
    return [(m.context.tolist(), m.targets.tolist())
            for m in sample_masks(recipe_for(step_cfg), grid, cfg["batch"], count)]


def compare_row(name: str, times: list[float], ref: float | None) -> dict[str, Any]:
    from statistics import median

    med = median(times)
    return {"ms_per_step": med * 1e3, "vs_jepa_kit": None if ref is None else med / ref,
            "steps": len(times), "spread": (max(times) - min(times)) / med}


def reference_side(variant: Variant) -> str:
    """The jepa-kit variant a peer is compared with: equal algorithm."""
    if variant.side == JEPA_KIT:
        return variant.name
    return Variant(JEPA_KIT, PEERS[variant.side]["targets"]).name


def table_rows(config: str, precision: str, times: dict[str, list[float]],
               versions: dict[str, str]) -> list[dict[str, Any]]:
    """One row per variant; ``vs_jepa_kit`` = the side's median / jepa-kit's at equal algorithm
    (above 1: jepa-kit is faster)."""
    from statistics import median

    rows = []
    for name, ts in times.items():
        side = name.split(" ")[0] if name.startswith(JEPA_KIT) else name
        variant = Variant(side, name.split(" ")[1]) if side == JEPA_KIT else Variant(side)
        ref_name = reference_side(variant)
        ref = median(times[ref_name]) if ref_name in times and ref_name != name else None
        predictor = (PEERS[side]["predictor"] if side in PEERS
                     else f"predictor.targets = {variant.targets!r}")
        rows.append({"config": config, "precision": precision, "side": name,
                     "version": versions.get(side, ""), "predictor": predictor,
                     **compare_row(name, ts, ref)})
    return rows


def run(sizes: Sequence[str], kinds: Sequence[str], rounds: int, peers: Sequence[str],
        peers_dir: Path, install: bool, batch: int = 16) -> tuple[list[dict[str, Any]], list[str]]:
    notes: list[str] = []
    pythons: dict[str, Path | str] = {JEPA_KIT: sys.executable}
    for name in peers:
        python, why = ensure_peer(name, peers_dir, install)
        if python is None:
            print(f"  skipped {why}", flush=True)
            notes.append(f"skipped {why}")
        else:
            pythons[name] = python
    variants = [Variant(JEPA_KIT, "per_block"), Variant(JEPA_KIT, "joint"),
                *(Variant(p) for p in peers if p in pythons)]
    rows: list[dict[str, Any]] = []
    for size in sizes:
        cfg = {**CONFIGS[size], "batch": batch}
        batches = mask_batches(cfg, 2 if cfg["img"] >= 224 else 3)
        label = (f"ViT-{size[0].upper()}/{cfg['patch']} {cfg['img']}px "
                 f"pred384x{cfg['pred_depth']} b{batch}")
        for precision in kinds:
            workers: dict[str, Worker] = {}
            versions: dict[str, str] = {}
            try:
                for v in variants:  # one process per variant: no shared allocator or threads
                    w = Worker(v.side, pythons[v.side])
                    reply = w.ask({"cmd": "build", "config": cfg, "precision": precision,
                                   "targets": v.targets})
                    workers[v.name], versions[v.side] = w, reply["version"]
                times = interleave(workers, batches, rounds)
            finally:
                for w in workers.values():
                    w.close()
            for row in table_rows(label, precision, times, versions):
                rows.append(row)
                print(f"  {label} {precision} | {row['side']} | {row['ms_per_step']:,.0f} ms",
                      flush=True)
    return rows, notes


def interleave(workers: dict[str, Worker], batches: Sequence[tuple[Any, Any]],
               rounds: int) -> dict[str, list[float]]:
    """One untimed pass per worker, then ``rounds`` rounds of every batch through every worker
    in turn (the order reversed every other round)."""
    for w in workers.values():
        for context, targets in batches:
            w.ask({"cmd": "step", "context": context, "targets": targets})
    times: dict[str, list[float]] = {name: [] for name in workers}
    for r in range(rounds):
        order = list(workers.items())[:: -1 if r % 2 else 1]
        for context, targets in batches:
            for name, w in order:
                reply = w.ask({"cmd": "step", "context": context, "targets": targets})
                times[name].append(reply["seconds"])
    return times


def format_table(rows: Sequence[dict[str, Any]]) -> str:
    """The markdown table docs/performance.md carries."""
    head = ("| config | precision | side | version | predictor | ms/step | side / jepa-kit "
            "at equal algorithm |\n|---|---|---|---|---|---|---|")
    lines = [head]
    for r in rows:
        ratio = "-" if r["vs_jepa_kit"] is None else f"{r['vs_jepa_kit']:.2f}x"
        lines.append(f"| {r['config']} | {r['precision']} | {r['side']} | {r['version']} | "
                     f"{r['predictor']} | {r['ms_per_step']:,.0f} | {ratio} |")
    return "\n".join(lines)


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", default="tiny",
                        help="comma-separated: tiny (ViT-T/8 64 px, predictor 384x6), small "
                        "(ViT-S/16 224 px, 384x12)")
    parser.add_argument("--precision", choices=("auto", "both", "fp32", "bf16"), default="auto",
                        help="auto: fp32, and bf16 where this CPU has native bf16")
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds (default 3)")
    parser.add_argument("--quick", action="store_true",
                        help="ViT-T/8 64 px only, one round (overrides --config and --rounds)")
    parser.add_argument("--peers", default=",".join(PEERS),
                        help=f"comma-separated peers (default {','.join(PEERS)})")
    parser.add_argument("--peers-dir", type=Path, default=DEFAULT_DIR,
                        help=f"where the peers' virtualenvs live (default {DEFAULT_DIR})")
    parser.add_argument("--no-install", action="store_true",
                        help="skip a peer whose virtualenv is missing instead of installing it")
    parser.add_argument("--batch", type=int, default=16, help="images per step (default 16)")
    parser.add_argument("--out", type=Path, default=None, help="also write the rows as JSON")
    parser.add_argument("--worker", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.quick:
        args.config, args.rounds = "tiny", 1
    sizes = args.config.split(",")
    if bad := [s for s in sizes if s not in CONFIGS]:
        parser.error(f"--config: unknown {', '.join(bad)} (expected {', '.join(CONFIGS)})")
    peers = [p for p in args.peers.split(",") if p]
    if bad := [p for p in peers if p not in PEERS]:
        parser.error(f"--peers: unknown {', '.join(bad)} (expected {', '.join(PEERS)})")
    if args.rounds < 1:
        parser.error(f"--rounds must be at least 1, got {args.rounds}")
    args.sizes, args.peer_list = sizes, peers
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    if args.worker is not None:
        # The protocol gets its own copy of stdout; anything a library prints (Python or C)
        # goes to stderr instead of into the replies.
        sys.stdout.flush()
        protocol = os.fdopen(os.dup(1), "w")
        os.dup2(2, 1)
        sys.stdout = sys.stderr
        serve(args.worker, sys.stdin, protocol)
        return 0
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from common import loadavg, machine, precisions

    kinds = precisions(args.precision)
    load0 = loadavg()
    rows, notes = run(args.sizes, kinds, args.rounds, args.peer_list, args.peers_dir,
                      not args.no_install, args.batch)
    facts = machine()
    print(format_table(rows))
    print(f"  machine: {facts.get('cpu_model', '?')}, {facts.get('cores', '?')} cores; "
          f"load average {load0:.1f} at the start, {loadavg():.1f} at the end")
    for note in notes:
        print(f"  note: {note}")
    if args.out is not None:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps({"rows": rows, "notes": notes, "machine": facts},
                                       indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
