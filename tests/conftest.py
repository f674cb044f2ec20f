"""Shared fixtures: a fast synthetic trainer registered as a plugin, and spec writing."""

from __future__ import annotations

import json
import math
import os
import textwrap
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

import automl
import automl.plugins
from automl.data import DataInfo, Split, TrialData
from automl.plugins import PluginHost, reset_plugin_host
from automl.trainer import TrialContext


def quality(x: float) -> float:
    """The synthetic trainer's final accuracy for param ``x``: best (0.95) at x = 0.3."""
    return 0.95 - (x - 0.3) ** 2


class CurveTrainer:
    """A trainer that trains nothing: it reports a smooth learning curve set by ``params``.

    ``mode``: ``ok`` (default), ``raise`` (an exception at epoch 2), ``nan`` (a NaN loss at
    epoch 3), ``overfit`` (val loss rises from epoch 4 while train loss falls).
    """

    name = "curve"
    tasks = ("classification", "regression")
    description = "synthetic learning curves (tests)"

    def __init__(self) -> None:
        self.fitted: list[dict[str, Any]] = []
        self.contexts: list[TrialContext] = []
        self.interrupt_at: int | None = None  # raise KeyboardInterrupt in this fit call (1-based)

    def fit(self, params: dict[str, Any], data: TrialData, ctx: TrialContext) -> dict[str, Any]:
        self.fitted.append(params)
        self.contexts.append(ctx)
        if self.interrupt_at == len(self.fitted):
            raise KeyboardInterrupt
        mode = params.get("mode", "ok")
        q = quality(float(params.get("x", 0.3)))
        for epoch in range(1, ctx.max_epochs + 1):
            if mode == "raise" and epoch == 2:
                raise RuntimeError("boom in the trainer")
            acc = q * (1 - 0.5 ** epoch)
            train_loss = 1.0 / epoch
            val_loss = 1.0 - acc
            if mode == "nan" and epoch == 3:
                val_loss = math.nan
            if mode == "overfit" and epoch >= 4:
                val_loss = 0.3 + 0.2 * (epoch - 3)
            decision = ctx.report(epoch, {"train_loss": train_loss, "val_loss": val_loss,
                                          "val_accuracy": acc})
            if decision.stop:
                break
        ctx.checkpoint_path.parent.mkdir(parents=True, exist_ok=True)
        ctx.checkpoint_path.write_text(json.dumps({"q": q}))
        # a size that grows with x: a trade-off against accuracy for x > 0.3
        return {"n_params": 10 + int(1000 * float(params.get("x", 0.3)))}

    def evaluate(self, params: dict[str, Any], checkpoint: Path, split: Split,
                 info: DataInfo) -> dict[str, float]:
        return {"accuracy": json.loads(checkpoint.read_text())["q"] - 0.01, "rows": len(split)}


class CurvePlugin:
    """Registers :class:`CurveTrainer` the way any plugin would."""

    def __init__(self) -> None:
        self.trainer = CurveTrainer()

    @automl.hookimpl
    def register_trainers(self, register: Callable[[Any], None]) -> None:
        register(self.trainer)


@pytest.fixture
def curve_plugin() -> CurvePlugin:
    return CurvePlugin()


@pytest.fixture
def host(curve_plugin: CurvePlugin) -> PluginHost:
    """The real entry-point plugins plus the synthetic trainer."""
    h = PluginHost()
    h.register(curve_plugin, name="curve-tests")
    return h.collect()


@pytest.fixture
def global_host(host: PluginHost, monkeypatch: pytest.MonkeyPatch) -> Iterator[PluginHost]:
    """Make ``host`` the process-wide plugin host (what the CLI uses)."""
    monkeypatch.setattr(automl.plugins, "_default", host)
    yield host


@pytest.fixture
def in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Run in an empty folder, so that reports/ lands in the test's temp folder."""
    monkeypatch.chdir(tmp_path)
    return tmp_path


@pytest.fixture
def write_spec(tmp_path: Path) -> Callable[[str, str], Path]:
    def write(text: str, name: str = "spec.yaml") -> Path:
        path = tmp_path / name
        path.write_text(textwrap.dedent(text).lstrip())
        return path

    return write


CURVE_SPEC = """
study: curve-study
trainer: curve
dataset: {name: iris}
objective: {metric: val_accuracy, direction: maximize}
budget: {trials: 6, max_epochs: 8}
sampler: {name: random, seed: 1}
pruner: {name: none}
early_stopping: {monitor: val_loss, patience: 3}
execution: {workers: 0}  # trials in the test process: this trainer is registered by a fixture
params:
  x: {type: float, low: 0.0, high: 1.0}
"""


REPO = Path(__file__).parents[1]


@pytest.fixture
def worker_env(monkeypatch: pytest.MonkeyPatch, in_tmp: Path) -> Iterator[dict[str, str]]:
    """Worker processes load the test plugin by module name; short heartbeats."""
    monkeypatch.setenv("AUTOML_PLUGIN_MODULES", "tests.worker_plugin")
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH",
                                                                                 "")]))
    monkeypatch.setenv("AUTOML_HEARTBEAT_INTERVAL", "1")
    monkeypatch.setenv("AUTOML_HEARTBEAT_GRACE", "3")
    monkeypatch.syspath_prepend(str(REPO))
    reset_plugin_host()
    yield dict(os.environ)
    reset_plugin_host()
