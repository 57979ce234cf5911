"""Stop requests: a repeated SIGTERM is one request; a second Ctrl-C is not.

Signals are raised in the calling thread (``signal.raise_signal``): ``os.kill`` may deliver
them to another thread of the test process, and the handler then runs a little later."""

from __future__ import annotations

import signal

import pytest

from jepa_kit.train.signals import StopRequested, StopSignals


def test_repeated_sigterm_is_one_request() -> None:
    with StopSignals() as stop:
        signal.raise_signal(signal.SIGTERM)
        signal.raise_signal(signal.SIGTERM)  # would kill the process if the handler were gone
        assert stop.signum == signal.SIGTERM
    assert signal.getsignal(signal.SIGTERM) == signal.SIG_DFL


def test_a_second_ctrl_c_interrupts() -> None:
    # The second Ctrl-C hands SIGINT back to the handler found on entry: make that Python's
    # default whatever an earlier test in this process left installed.
    before = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        _second_ctrl_c_interrupts()
    finally:
        signal.signal(signal.SIGINT, before)


def _second_ctrl_c_interrupts() -> None:
    with StopSignals() as stop:
        signal.raise_signal(signal.SIGINT)
        assert stop.signum == signal.SIGINT
        with pytest.raises(KeyboardInterrupt):
            signal.raise_signal(signal.SIGINT)


def test_the_message_says_where_the_checkpoint_is() -> None:
    assert str(StopRequested(signal.SIGTERM, 4, "ckpt.pt")) == (
        "SIGTERM: stopped after step 4; checkpoint ckpt.pt (continue with --resume)")
    other_rank = StopRequested(signal.SIGTERM, 4, None)
    assert "rank 0 wrote the checkpoint" in str(other_rank) and other_rank.exit_code == 143
