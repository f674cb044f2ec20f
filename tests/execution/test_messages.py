"""What crosses between controller and workers: typed, picklable messages; one options
object; one Pool interface with two implementations."""

from __future__ import annotations

import inspect
import pickle
from dataclasses import FrozenInstanceError, fields
from pathlib import Path
from typing import Any

import pytest

from automl.engine.controller import search
from automl.engine.running import RunningTrials
from automl.execution import messages
from automl.execution.inline_pool import InlinePool
from automl.execution.options import ExecutionOptions
from automl.execution.pool import EpochListener, Pool
from automl.execution.process_pool import ProcessPool
from automl.plugin import Decision, StopReason
from automl.spec import ExecutionSpec, load_spec
from automl.spec.model import ExecutionSpec as SpecExecution
from tests.helpers import CURVE_SPEC, CurvePlugin

EXAMPLES: list[Any] = [
    messages.WorkerInit({"study": "s"}, None, "cpu", "cpu", ExecutionOptions(threads=1)),
    messages.Ready(123), messages.Fatal("boom"),
    messages.TrialTask(1, {"lr": 0.1, "conv": [{"k": 3}]}, 7, "/tmp/c.pt"),
    messages.EvalTask(1, {"lr": 0.1}, "/tmp/c.pt"),
    messages.RefitTask(messages.RefitPlan(1, {"lr": 0.1}, 5), 7, "/tmp/refit"),
    messages.Stop(), messages.EpochReport(2, {"val_loss": 0.5}),
    messages.EpochAnswer(decision=Decision(stop=True, reason=StopReason.PRUNED)),
    messages.EpochAnswer(fail="non-finite val_loss"),
    messages.TrialDone(1, messages.FitResult({"val_accuracy": 0.9}, None, 1.5), worker=0),
    messages.EvalDone(1, {"accuracy": 0.9}, None, 0.1, worker=1),
    messages.RefitDone(1, messages.RefitResult(1, 5, 120, {"refit_test_accuracy": 0.9},
                                               "/tmp/refit/model.pt", 2.0)),
    messages.WorkerDied(1, "the worker process died of SIGKILL", worker=0),
]


@pytest.mark.parametrize("message", EXAMPLES, ids=lambda m: type(m).__name__)
def test_every_message_survives_the_pipe(message: Any) -> None:
    assert pickle.loads(pickle.dumps(message)) == message


def test_tasks_know_their_trial_number() -> None:
    tasks = [m for m in EXAMPLES if isinstance(m, (messages.TrialTask, messages.EvalTask,
                                                   messages.RefitTask))]
    assert [t.number for t in tasks] == [1, 1, 1]


def _members(protocol: type) -> set[str]:
    return {n for n, v in vars(protocol).items()
            if inspect.isfunction(v) and not (n.startswith("_") and n != "__len__")}


@pytest.mark.parametrize("implementation", [ProcessPool, InlinePool])
def test_both_pools_implement_the_pool_interface(implementation: type) -> None:
    for name in _members(Pool):
        mine, theirs = getattr(implementation, name), getattr(Pool, name)
        assert list(inspect.signature(mine).parameters) == \
            list(inspect.signature(theirs).parameters), name


def test_the_controllers_running_trials_are_the_pools_listener() -> None:
    assert _members(EpochListener) <= _members(RunningTrials)


def test_execution_options_are_frozen_and_come_from_the_spec() -> None:
    spec_fields = set(SpecExecution.model_fields)
    assert {f.name for f in fields(ExecutionOptions)} <= spec_fields
    ex = ExecutionSpec(compile=True, amp=False, threads=3, data_on_device=False)
    options = ExecutionOptions.from_spec(ex)
    assert options == ExecutionOptions(compile=True, amp=False, threads=3,
                                       data_on_device=False)
    with pytest.raises(FrozenInstanceError):
        options.amp = True  # type: ignore[misc]
    assert options.with_threads(None) is options and options.with_threads(1).threads == 1


def test_one_options_object_reaches_every_trial_and_the_refit(
        in_tmp: Path, write_spec: Any, host: Any, curve_plugin: CurvePlugin) -> None:
    text = CURVE_SPEC.replace(
        "execution: {workers: 0}",
        "execution: {workers: 0, compile: true, amp: false, data_on_device: false, "
        "threads: 1}") + "report: {refit: true}\n"
    search(load_spec(write_spec(text)), host)
    contexts = curve_plugin.trainer.contexts
    assert len(contexts) == 7  # six trials and the refit
    refit = contexts[-1]
    assert refit.restore_best is False and refit.reporter is None  # the refit: unjudged
    expected = ExecutionOptions(compile=True, amp=False, threads=1, data_on_device=False)
    assert [c.options for c in contexts] == [expected] * 7
