"""Conformance checks for jepa-kit components, for plugin authors and jepa-kit's own tests.

Each ``check_<kind>(cls, config=None, **runtime)`` builds the component at a tiny size, runs it
against the contract of its interface and raises ``AssertionError`` with a message naming the
component and what broke. They need no pytest::

    from jepa_kit.testing import check_masker
    check_masker(MyMasker, {"ratio": 0.5}, grid=(8, 8))

To sweep everything installed (built-ins and plugins)::

    @pytest.mark.parametrize(("kind", "name"), list(conformance_cases()))
    def test_conforms(kind, name):
        check_component(kind, name)
"""

from __future__ import annotations

from jepa_kit.testing.base import check_config, expect
from jepa_kit.testing.datasets import check_dataset
from jepa_kit.testing.eval_protocols import check_eval_protocol
from jepa_kit.testing.loggers import check_logger
from jepa_kit.testing.maskers import check_masker, check_masks
from jepa_kit.testing.methods import check_method, check_projector, check_views
from jepa_kit.testing.models import check_encoder, check_loss, check_predictor
from jepa_kit.testing.optim import check_optimizer, check_schedule
from jepa_kit.testing.regularizers import check_regularizer
from jepa_kit.testing.sweep import (
    SMALL_CONFIGS,
    check_component,
    conformance_cases,
    small_config,
)
from jepa_kit.testing.updaters import check_target_updater
from jepa_kit.testing.world_models import check_action_predictor, check_planner

__all__ = [
    "SMALL_CONFIGS",
    "check_action_predictor",
    "check_component",
    "check_config",
    "check_dataset",
    "check_encoder",
    "check_eval_protocol",
    "check_logger",
    "check_loss",
    "check_masker",
    "check_masks",
    "check_method",
    "check_optimizer",
    "check_planner",
    "check_predictor",
    "check_projector",
    "check_regularizer",
    "check_schedule",
    "check_target_updater",
    "check_views",
    "conformance_cases",
    "expect",
    "small_config",
]
