"""``ac_jepa``: train V-JEPA 2-AC's action-conditioned predictor over a frozen or trained encoder.

    frames of a clip -> encoder, frame by frame (no grad when frozen) -> layer norm
    -> teacher-forcing loss + rollout loss (L1) of the predictor given the actions
    [end-to-end: the encoder trains too; SIGReg on its frame embeddings, or an EMA teacher
    for the targets, keeps it from collapsing]

V-JEPA 2-AC ([0], Sec. 3) freezes the V-JEPA 2 encoder and trains only the predictor; the
encoder here is any jepa-kit checkpoint's (``method.encoder_checkpoint``, image or video), or
the recipe's ``[encoder]`` at its seeded initial weights (a frozen random-init baseline). The
end-to-end variant follows the world models that train their encoder with the predictor
(PLDM, Sobal et al. 2025, arXiv:2502.14819; LeWorldModel, eb_jepa): the predictor's loss alone
would collapse the encoder to a constant, so ``encoder = "trained"`` needs a guard: a
``[[regularizers]] kind = "sigreg"`` entry ``on = "frames"`` (LeJEPA's SIGReg, Balestriero &
LeCun 2025, arXiv:2511.08544) or ``target = "ema"`` (targets from an exponential moving
average of the encoder, as JEPA teachers).

- [0]: V-JEPA 2, Assran et al. 2025, arXiv:2506.09985
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import ClassVar, Literal

import torch
import torch.nn.functional as F
from pydantic import Field
from torch import nn

from jepa_kit.build import build_encoder, build_predictor
from jepa_kit.config import ComponentConfig
from jepa_kit.data.loader import Batch
from jepa_kit.errors import UserError
from jepa_kit.methods.ac_jepa.losses import ac_losses
from jepa_kit.methods.ac_jepa.views import TrajectoryViews
from jepa_kit.methods.ac_jepa.world_model import encode_frames
from jepa_kit.methods.base import Method, MethodConfig, StepOutput, autocast, check_networks
from jepa_kit.optim.schedules import ScheduleLengths


class ACJEPA(Method):
    """Networks: ``encoder``, ``predictor`` (trained), ``target_encoder`` with ``target="ema"``."""

    #: The dataset kind whose items this method reads (``Trajectory`` clips).
    dataset_kind: ClassVar[str] = "trajectories"

    class Config(MethodConfig):
        kind: Literal["ac_jepa"] = "ac_jepa"
        encoder_checkpoint: str | None = Field(
            None, description="A jepa-kit checkpoint whose encoder to use (image or video; "
            "its recipe's architecture replaces [encoder]); unset: the recipe's [encoder] at "
            "its seeded initial weights.")
        encoder_which: str | None = Field(
            None, description="Which of the checkpoint's encoders (its eval --which choices, "
            "e.g. target or context); unset: the checkpoint method's default.")
        encoder: Literal["frozen", "trained"] = Field(
            "frozen", description="frozen: only the predictor trains (V-JEPA 2-AC); trained: "
            "end to end, with a collapse guard (target = \"ema\" or a sigreg regularizer on "
            "\"frames\").")
        target: Literal["encoder", "ema"] = Field(
            "encoder", description="Where the targets come from: the encoder itself (gradient "
            "stopped) or an EMA copy of it (only with encoder = \"trained\").")
        ema_momentum: float = Field(0.99, ge=0, lt=1, description="Momentum of the EMA "
                                    "target encoder (target = \"ema\").")
        auto_steps: int = Field(2, ge=1, le=64, description="Steps of the rollout loss "
                                "(V-JEPA 2-AC: 2); at most data.num_frames - 1.")
        normalize_reps: bool = Field(True, description="Layer-norm targets and predictions "
                                     "over the feature dim (V-JEPA 2-AC: yes).")
        loss_exp: float = Field(1.0, gt=0, le=4, description="Exponent p of mean(|z - h|^p) "
                                "/ p (V-JEPA 2-AC: 1, L1).")

    slots: ClassVar[dict[str, str | None]] = {"encoder": "vit", "predictor": "ac_predictor",
                                              "planner": "cem"}
    eval_encoders: ClassVar[dict[str, str]] = {"encoder": "encoder"}
    embeddings: ClassVar[dict[str, str]] = {
        "frames": "each frame's tokens averaged, per time step, (T, B, D)",
        "tokens": "every frame token, (B * T * N, D)",
    }

    @classmethod
    def check_recipe(cls, config: MethodConfig, sections: Mapping[str, ComponentConfig]
                     ) -> None:
        super().check_recipe(config, sections)
        assert isinstance(config, ACJEPA.Config)
        if config.target == "ema" and config.encoder == "frozen":
            raise ValueError("method.target='ema' averages a trained encoder; with "
                             "method.encoder='frozen' set method.target='encoder'")

    def __init__(self, config: Config, *, sections: Mapping[str, ComponentConfig],
                 img_size: int, lengths: ScheduleLengths, precision: str = "fp32",
                 seed: int = 0) -> None:
        self.config = config
        self.precision = precision
        self.encoder_section = sections["encoder"]
        self.encoder_img_size = img_size
        if config.encoder_checkpoint:
            encoder = self._checkpoint_encoder(config.encoder_checkpoint, config.encoder_which)
        else:
            encoder = build_encoder(sections["encoder"], img_size=img_size)
        self.clip_frames = int(getattr(self.encoder_section, "num_frames", 1) or 1)
        predictor = build_predictor(sections["predictor"], encoder)
        if not getattr(predictor, "action_conditioned", False):
            raise UserError(f"predictor.kind={sections['predictor'].kind!r} is not action-"
                            f"conditioned; ac_jepa needs one such as 'ac_predictor'")
        self.networks: dict[str, nn.Module] = {"encoder": encoder, "predictor": predictor}
        if config.encoder == "frozen":
            encoder.requires_grad_(False)
            self.trainable = ("predictor",)
        else:
            self.trainable = ("encoder", "predictor")
        if config.target == "ema":
            target = copy.deepcopy(encoder).requires_grad_(False)
            self.networks["target_encoder"] = target
        self.tokens_per_frame = encoder.grid[-2] * encoder.grid[-1]
        self.views = TrajectoryViews(img_size=img_size)
        self._checked = False
        check_networks(self)

    def _checkpoint_encoder(self, path: str, which: str | None) -> nn.Module:
        from jepa_kit.checkpoint import read_checkpoint
        from jepa_kit.eval.checkpoint_model import build_from_state, recipe_from_checkpoint

        source = f"method.encoder_checkpoint={path!r}"
        try:
            record = read_checkpoint(path, map_location="cpu")
        except (OSError, UserError) as exc:
            raise UserError(f"{source}: {exc}") from None
        recipe = recipe_from_checkpoint(record, source)
        self.encoder_section = recipe.encoder
        self.encoder_img_size = recipe.img_size
        return build_from_state(record, recipe, which=which, source=source)

    def encode(self, encoder: nn.Module, frames: torch.Tensor) -> torch.Tensor:
        """(B, T*N, D) tokens of frames (B, T, 3, S, S), layer-normed if configured."""
        z = encode_frames(encoder, frames, img_size=self.encoder_img_size,
                          clip_frames=self.clip_frames).flatten(1, 2)
        return F.layer_norm(z, (z.shape[-1],)) if self.config.normalize_reps else z

    def _check_batch(self, frames: torch.Tensor, actions: torch.Tensor,
                     predictor: nn.Module) -> None:
        c = self.config
        t = frames.shape[1]
        if c.auto_steps > t - 1:
            raise UserError(f"method.auto_steps={c.auto_steps} needs clips of more than "
                            f"{c.auto_steps} frames; data.num_frames is {t}")
        expected = getattr(getattr(predictor, "config", None), "action_dim", actions.shape[-1])
        if actions.shape[-1] != expected:
            raise UserError(f"predictor.action_dim={expected} but the data's actions have "
                            f"{actions.shape[-1]} values; set predictor.action_dim = "
                            f"{actions.shape[-1]}")

    def forward(self, batch: Batch, nets: Mapping[str, nn.Module]) -> StepOutput:
        frames, actions, states = batch.views  # (B, T, 3, S, S), (B, T-1, A), (B, T, A)
        encoder, predictor = nets["encoder"], nets["predictor"]
        c = self.config
        if not self._checked:
            self._checked = True
            self._check_batch(frames, actions, self.networks["predictor"])
        use_state = getattr(self.networks["predictor"], "state_encoder", None) is not None
        with autocast(frames.device.type, self.precision):
            if c.encoder == "frozen":
                with torch.no_grad():
                    h = self.encode(encoder, frames).float()
                z, targets = h, None
            else:
                z = self.encode(encoder, frames).float()
                if c.target == "ema":
                    with torch.no_grad():
                        targets = self.encode(nets["target_encoder"], frames).float()
                else:
                    targets = z.detach()
            loss, jloss, sloss = ac_losses(
                predictor, z, actions, states if use_state else None, self.tokens_per_frame,
                c.auto_steps, c.normalize_reps, c.loss_exp, targets=targets)
        b, t = frames.shape[:2]
        n = self.tokens_per_frame
        per_frame = z.view(b, t, n, -1)
        embeddings = {"frames": per_frame.mean(2).transpose(0, 1),
                      "tokens": z.reshape(-1, z.shape[-1])}
        metrics = {"teacher_forcing": jloss.detach(), "rollout": sloss.detach()}
        return StepOutput(loss.float(), metrics, features=per_frame[:, 0].detach(),
                          embeddings=embeddings)

    @torch.no_grad()
    def after_step(self, step: int) -> dict[str, float]:
        if self.config.target != "ema":
            return {}
        m = self.config.ema_momentum
        online = list(self.networks["encoder"].parameters())
        target = list(self.networks["target_encoder"].parameters())
        torch._foreach_mul_(target, m)
        torch._foreach_add_(target, online, alpha=1.0 - m)
        return {"momentum": float(m)}
