"""Evaluation protocols, a plug-in kind (entry-point group ``jepa_kit.eval_protocols``)."""

from __future__ import annotations

from jepa_kit.eval.protocols.base import Inputs, Protocol, ProtocolConfig, Reads, Result

__all__ = ["Inputs", "Protocol", "ProtocolConfig", "Reads", "Result"]
