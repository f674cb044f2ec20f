"""Set-up shared by the tests: data, plugin hosts, specs, finished studies.

Fixtures live in ``conftest.py``; plain functions and classes that several test modules
call live here (``from tests.helpers import ...``).
"""

from __future__ import annotations

import json
import math
import os
import pickle
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
from sklearn.datasets import load_digits, load_iris

import automl
from automl.data import DataInfo, Dataset, DataSplits, Split, TrialData, make_splits
from automl.engine.controller import search
from automl.engine.finish import Finisher
from automl.execution.options import ExecutionOptions
from automl.plugin import TrialContext, hookimpl, plugin_host
from automl.plugin.host import PluginHost
from automl.spec import Spec, load_spec

REPO = Path(__file__).parents[1]
WriteSpec = Callable[..., Path]  # the write_spec fixture: (text, name="spec.yaml") -> path


# -- a trainer that trains nothing -----------------------------------------------------------
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

    @hookimpl
    def register_trainers(self, register: Callable[[Any], None]) -> None:
        register(self.trainer)


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


# -- the faulty trainer of tests/worker_plugin.py, in real worker processes ------------------
FAULTY_SPEC = """
study: faulty
trainer: faulty
dataset: {name: iris}
objective: {metric: val_accuracy, direction: maximize}
budget: {trials: 7, max_epochs: 5, max_failures: 0}
sampler: {name: random, seed: 0}
pruner: {name: none}
early_stopping: {monitor: val_loss, patience: 3}
execution: {workers: 1, trial_timeout: 4s}
params:
  mode: [ok, raise, nan, oom, crash, hang, slow]
  x: {type: float, low: 0.0, high: 1.0}
enqueue:
  - {mode: ok, x: 0.3}
  - {mode: raise, x: 0.3}
  - {mode: nan, x: 0.3}
  - {mode: oom, x: 0.3}
  - {mode: crash, x: 0.3}
  - {mode: hang, x: 0.3}
  - {mode: ok, x: 0.4}
"""

# The faulty trainer's slow mode: 0.2 s epochs, ten of them, five trials.
SLOW_SPEC = FAULTY_SPEC.split("enqueue:")[0].replace(
    "mode: [ok, raise, nan, oom, crash, hang, slow]", "mode: slow").replace(
    "max_epochs: 5", "max_epochs: 10").replace("trials: 7", "trials: 5").replace(
    "trial_timeout: 4s", "trial_timeout: 60s")


class CliRun:
    """``automl`` in a subprocess, its output in a file (a pipe nobody reads can fill up)."""

    def __init__(self, args: list[str], env: dict[str, str], **kwargs: object) -> None:
        exe = str(Path(sys.executable).with_name("automl"))
        self.log = Path(f"automl-{time.monotonic_ns()}.log")
        self._fh = self.log.open("w")
        self.proc = subprocess.Popen([exe, *args], env=env, text=True, stdout=self._fh,
                                     stderr=subprocess.STDOUT, **kwargs)  # type: ignore[call-overload]
        self.pid = self.proc.pid

    def send_signal(self, sig: int) -> None:
        self.proc.send_signal(sig)

    def communicate(self, timeout: float) -> tuple[str, None]:
        self.proc.wait(timeout=timeout)
        self._fh.close()
        return self.log.read_text(), None

    @property
    def returncode(self) -> int | None:
        return self.proc.returncode


def run_cli(args: list[str], env: dict[str, str], **kwargs: object) -> CliRun:
    """Start ``automl ARGS`` in a subprocess (see :class:`CliRun`)."""
    return CliRun(args, env, **kwargs)


def wait_for(condition: Callable[[], bool], timeout: float = 60.0,
             run: CliRun | None = None) -> None:
    """Poll ``condition`` every 0.2 s until it holds; fail after ``timeout`` seconds, or
    as soon as ``run`` (the process awaited) has ended, with what it printed."""
    deadline = time.monotonic() + timeout
    while not condition():
        ended = run is not None and run.proc.poll() is not None
        if ended or time.monotonic() > deadline:
            printed = f"; it printed:\n{run.log.read_text()}" if run is not None else ""
            why = f"the process ended (exit {run.proc.returncode})" if ended else "timed out"
            raise AssertionError(f"{why} waiting{printed}")
        time.sleep(0.2)


def one_done_one_running(study: str, at_most: int) -> Callable[[], bool]:
    """A :func:`wait_for` condition: the study's file holds a finished trial and a running
    one, and at most ``at_most`` trials (one read of the file per poll)."""
    def holds() -> bool:
        states = trial_states(study)
        return "COMPLETE" in states and "RUNNING" in states and len(states) <= at_most
    return holds


def trial_states(study: str) -> list[str]:
    """The states of a study's trials in ``reports/<study>/study.db`` ([] while none)."""
    db = Path("reports") / study / "study.db"
    if not db.exists():
        return []
    try:
        return [t.state.name for t in automl.load_study(study).trials]
    except Exception:  # noqa: BLE001 - the file may be mid-creation
        return []


def iris_splits(test: float = 0.2) -> DataSplits:
    """Iris (150 rows, 3 classes) split 60/20/20, seed 0: the engine's default split."""
    bunch = load_iris()
    ds = Dataset("iris", bunch.data.astype(np.float32), bunch.target.astype(np.int64),
                 "classification")
    return make_splits(ds, val=0.2, test=test, seed=0, stratify=True)


class TrainerPlugin:
    """A plugin object registering the given trainer objects (tests' own trainers)."""

    def __init__(self, *trainers: Any) -> None:
        self.trainers = trainers

    @hookimpl
    def register_trainers(self, register: Any) -> None:
        for trainer in self.trainers:
            register(trainer)


def host_with(*trainers: Any, entry_points: bool = True) -> PluginHost:
    """The installed plugins (the built-in datasets, samplers...) plus ``trainers``."""
    return plugin_host(TrainerPlugin(*trainers), entry_points=entry_points)


def spec_text(text: str) -> str:
    """A spec written indented inside a test, as YAML."""
    return textwrap.dedent(text).lstrip()


def mlp_spec_head(study: str) -> str:
    """The first five lines of a spec (an iris mlp, 2 trials of 2 epochs) for a test to
    append sections to: the line numbers its errors name start at 6."""
    return (f"study: {study}\n"
            "trainer: mlp\n"
            "dataset: {name: iris}\n"
            "objective: {metric: val_accuracy, direction: maximize}\n"
            "budget: {trials: 2, max_epochs: 2}\n")


def iris_spec(trainer: str, **sections: Mapping[str, Any]) -> Spec:
    """A small iris spec for ``trainer``; ``sections`` replace or add spec sections."""
    data: dict[str, Any] = {"study": "iris-test", "trainer": trainer,
                            "dataset": {"name": "iris"}, "budget": {"trials": 3,
                                                                    "max_epochs": 4},
                            "pruner": "none", "execution": {"workers": 0}, "params": {}}
    data.update(sections)
    return Spec.from_data(data)


def finisher_for(trainer: Any, splits: DataSplits, report_dir: Path, **sections: Any
                 ) -> Finisher:
    """A :class:`Finisher` that scores and refits with ``trainer`` in this process."""
    spec = iris_spec(trainer.name, **sections)
    return Finisher(spec, host_with(trainer, entry_points=False), splits, report_dir,
                    ExecutionOptions.from_spec(spec.execution), trial_seed=lambda number: 0)


def trial_context(checkpoint_path: Path, *, reporter: Any = None, device: str = "cpu",
                  seed: int = 0, max_epochs: int = 3, restore_best: bool = True,
                  **options: Any) -> TrialContext:
    """A trial's context for calling a trainer directly; ``options`` are
    :class:`ExecutionOptions` fields (``compile``, ``amp``, ``threads``, ``data_on_device``)."""
    return TrialContext(number=0, device=device, seed=seed, max_epochs=max_epochs,
                        checkpoint_path=checkpoint_path, restore_best=restore_best,
                        options=ExecutionOptions(**options), reporter=reporter)


def digits_images(n_train: int = 300, n_val: int = 150) -> TrialData:
    """The first digits as (1, 8, 8) images scaled to [0, 1]: ``n_train`` to train on, the
    next ``n_val`` to validate on."""
    bunch = load_digits()
    x = (bunch.images.astype(np.float32) / 16.0)[:, None, :, :]
    y = bunch.target.astype(np.int64)
    info = DataInfo("digits", "classification", (1, 8, 8), 10)
    end = n_train + n_val
    return TrialData(info, Split(x[:n_train], y[:n_train]), Split(x[n_train:end],
                                                                  y[n_train:end]))


# -- reports with hostile strings --------------------------------------------------------------
XSS = "<script>alert(1)</script>"
XSS_SPEC = CURVE_SPEC.replace("study: curve-study", "study: <b>xss</b>-study") + \
    '  tag: ["<script>alert(1)</script>", plain]\n'
MULTI_SPEC = CURVE_SPEC.replace(
    "objective: {metric: val_accuracy, direction: maximize}",
    "objective: [{metric: val_accuracy, direction: maximize}, "
    "{metric: n_params, direction: minimize}]").replace("study: curve-study",
                                                        "study: curve-multi")


def search_reports(write_spec: WriteSpec, host: PluginHost, text: str,
                   name: str = "spec.yaml") -> Path:
    """Run the spec ``text`` (written as ``name``) in this process; its report folder."""
    spec = load_spec(write_spec(text, name))
    search(spec, host)
    return Path("reports") / spec.study


# -- planted pickles -------------------------------------------------------------------------
class PicklePayload:
    """Unpickling this runs ``touch MARKER``: a planted file that must never be loaded."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[object, tuple[str]]:
        return os.system, (f"touch {self.marker}",)


def plant_pickle(path: Path, marker: Path) -> None:
    """Write at ``path`` a pickle that creates ``marker`` when unpickled."""
    path.write_bytes(pickle.dumps(PicklePayload(marker)))
    # the payload is real: unpickling it does create the marker
    probe = marker.with_name("probe")
    pickle.loads(pickle.dumps(PicklePayload(probe)))
    assert probe.exists()
    probe.unlink()
