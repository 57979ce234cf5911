"""The ``classify`` protocol: val accuracy of a network that already outputs class logits.

A fine-tuned classifier (``method.kind = "finetune"``: its encoder and head together, as
``Method.eval_network`` gives them) is scored as it is, with nothing fitted: images of the
val split (the evaluation view, no augmentation) -> logits (B, K) -> top-1, top-5 and the
cross-entropy (no smoothing). It is what a fine-tuning run evaluates every epoch
(``eval.protocols = ["classify"]``). Under torchrun each rank scores the whole val split (the
same numbers on every rank, no collective), as periodic evaluation runs every protocol on
every rank.
"""

from __future__ import annotations

from typing import Any, ClassVar, Literal

import torch
import torch.nn.functional as F
from pydantic import Field

from jepa_kit.errors import UserError
from jepa_kit.eval.protocols.base import Inputs, Protocol, ProtocolConfig, Result
from jepa_kit.methods.base import autocast


class Classify(Protocol):
    """Top-1 of the network's own logits on the val split (a fine-tuned classifier's)."""

    class Config(ProtocolConfig):
        kind: Literal["classify"] = "classify"
        batch_size: int = Field(128, ge=1, le=65_536, json_schema_extra={
            "flag": "--classify-batch-size"}, description="Images per forward pass.")

    reads: ClassVar[Literal["images"]] = "images"
    fits: ClassVar[bool] = False
    title: ClassVar[str] = "classifier"
    #: What it is given to score: a network whose output is class logits (B, K), not an
    #: encoder's tokens (the conformance kit hands it a tiny classifier).
    scores: ClassVar[Literal["classifier"]] = "classifier"
    #: Logged by periodic evaluation beside the headline and top-5.
    logged: ClassVar[tuple[str, ...]] = ("val_loss", "num_val")

    @torch.no_grad()
    def run(self, inputs: Inputs) -> Result:
        from jepa_kit.data.loader import build_eval_loader
        from jepa_kit.data.transforms import EvalTransform

        network, device = inputs.encoder, inputs.device
        loader = build_eval_loader(inputs.splits.val, EvalTransform(inputs.splits.config),
                                   batch_size=self.config.batch_size)
        was_training = network.training
        network.eval()
        sums = torch.zeros(4, dtype=torch.float64, device=device)  # loss, top1, top5, count
        try:
            for images, labels in loader:
                images, labels = images.to(device), torch.as_tensor(labels).to(device)
                with autocast(device.type, inputs.precision):
                    logits = network(images)
                _check_logits(logits, inputs.num_classes)
                logits = logits.float()
                top = logits.topk(min(5, logits.shape[1]), dim=1).indices
                hits = top == labels[:, None]
                sums += torch.stack([
                    F.cross_entropy(logits, labels, reduction="sum").double(),
                    hits[:, 0].sum().double(), hits.any(1).sum().double(),
                    torch.tensor(float(len(labels)), device=device, dtype=torch.float64)])
        finally:
            network.train(was_training)
        loss, top1, top5, count = sums.tolist()
        details: dict[str, Any] = {"val_loss": loss / count}
        if inputs.num_classes > 5:  # top-5 says nothing with 5 classes or fewer
            details["top5"] = top5 / count
        return Result(top1 / count, inputs.num_classes, len(inputs.splits.train), int(count),
                      details)


def _check_logits(logits: torch.Tensor, num_classes: int) -> None:
    if logits.ndim != 2 or logits.shape[1] != num_classes:
        raise UserError(
            f"eval classify: the network returned {tuple(logits.shape)}, not logits (B, "
            f"{num_classes}) over the dataset's {num_classes} classes; it scores a fine-tuned "
            f"classifier (the encoder and head of a method.kind='finetune' run)")
