"""Ctrl-C as a context manager: counted between steps, raised at once only when asked."""

from __future__ import annotations

import os
import signal

import pytest

from automl.engine.interrupts import Interrupted, Interrupts


def _ctrl_c() -> None:
    os.kill(os.getpid(), signal.SIGINT)


def test_presses_are_counted_and_the_previous_handler_comes_back() -> None:
    before = signal.getsignal(signal.SIGINT)
    with Interrupts() as interrupts:
        assert signal.getsignal(signal.SIGINT) is not before
        assert not interrupts.stopping
        _ctrl_c()
        assert interrupts.stopping and not interrupts.stop_now
        _ctrl_c()  # counted, not raised: the controller's loop decides where to stop
        assert interrupts.stop_now and interrupts.count == 2
    assert signal.getsignal(signal.SIGINT) is before


def test_raise_second_raises_at_the_second_press_only() -> None:
    with Interrupts(raise_second=True) as interrupts:
        _ctrl_c()
        assert interrupts.count == 1
        with pytest.raises(KeyboardInterrupt):
            _ctrl_c()


def test_the_handler_is_restored_after_an_exception() -> None:
    before = signal.getsignal(signal.SIGINT)
    with pytest.raises(RuntimeError), Interrupts():
        raise RuntimeError("the loop failed")
    assert signal.getsignal(signal.SIGINT) is before


def test_interrupted_exits_130_and_says_how_to_resume() -> None:
    exc = Interrupted()
    assert exc.exit_code == 130 and "run the same command again" in str(exc)
