"""The engine's torch loop on the CPU: metrics, checkpoints, restore_best, seeds, syncs."""

from __future__ import annotations

import math
import sys
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from sklearn.datasets import load_diabetes

from automl.data import DataInfo, Split, TrialData
from automl.engine.stopping import Decision
from automl.errors import TrialFailed
from automl.plugin.testing import check_trainer
from automl.plugin.trainer import TrialContext
from automl.training import TorchTrainer, feeds, load_model
from automl.training.feeds import ResidentFeed, StreamedFeed
from automl.training.steps import measure_latency_ms
from automl_plugins.cnn import build_cnn
from automl_plugins.mlp import build_mlp
from tests.helpers import digits_images, trial_context

TINY_CNN: dict[str, Any] = {
    "conv": [{"channels": 16, "kernel": 3}, {"channels": 16, "kernel": 3}],
    "batch_size": 32, "lr": 1e-2, "dropout": 0.2,
}


@pytest.fixture(autouse=True)
def _one_thread() -> Iterator[None]:
    before = torch.get_num_threads()
    torch.set_num_threads(1)  # steadier on a shared machine, and what workers use
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def digits() -> TrialData:
    return digits_images(300, 150)


@pytest.fixture(scope="module")
def diabetes() -> TrialData:
    bunch = load_diabetes()
    x, y = bunch.data.astype(np.float32), bunch.target.astype(np.float32)
    info = DataInfo("diabetes", "regression", (10,), 1)
    return TrialData(info, Split(x[:300], y[:300]), Split(x[300:], y[300:]))


Judge = Callable[[int, Mapping[str, float]], Decision]


def context(tmp_path: Path, epochs: int = 3, judge: Judge | None = None, seed: int = 0,
            **kw: Any) -> tuple[TrialContext, list[dict[str, float]]]:
    """A context whose reports are recorded; ``judge`` decides (default: always improved)."""
    history: list[dict[str, float]] = []

    def record(epoch: int, metrics: Mapping[str, float]) -> Decision:
        history.append({"epoch": epoch, **metrics})
        return judge(epoch, metrics) if judge else Decision(improved=True)

    ctx = trial_context(tmp_path / f"trial_{seed}.pt", reporter=record, seed=seed,
                        max_epochs=epochs, **kw)
    return ctx, history


def assert_same_history(a: list[dict[str, float]], b: list[dict[str, float]]) -> None:
    assert len(a) == len(b)
    for x, y in zip(a, b, strict=True):
        assert x == pytest.approx(y, rel=1e-5)


def cnn(**kw: Any) -> TorchTrainer:
    return TorchTrainer("cnn", build_cnn, **kw)


def test_fit_reports_metrics_and_saves_a_self_describing_checkpoint(
        tmp_path: Path, digits: TrialData) -> None:
    ctx, history = context(tmp_path, epochs=4)
    final = cnn().fit(dict(TINY_CNN), digits, ctx)
    assert [h["epoch"] for h in history] == [1, 2, 3, 4]
    for h in history:
        assert set(h) == {"epoch", "fit_loss", "train_loss", "train_accuracy", "val_loss",
                          "val_accuracy"}
        assert all(math.isfinite(v) for v in h.values())
    assert history[-1]["val_loss"] < history[0]["val_loss"]  # it learns
    assert {"val_accuracy", "val_balanced_accuracy", "val_f1_macro", "val_log_loss",
            "n_params", "train_time_s", "latency_ms"} <= set(final)
    assert final["val_accuracy"] > 0.5  # chance is 0.1
    assert final["val_accuracy"] == pytest.approx(history[-1]["val_accuracy"])
    assert final["val_log_loss"] == pytest.approx(history[-1]["val_loss"], rel=1e-4)
    assert 0 < final["latency_ms"] < 1000
    assert final["n_params"] == sum(p.numel() for p in build_cnn(TINY_CNN, (1, 8, 8), 10)
                                    .parameters())
    state = torch.load(ctx.checkpoint_path, weights_only=True)
    assert state["params"] == TINY_CNN and state["trainer"] == "cnn"
    assert (state["input_shape"], state["n_outputs"], state["task"]) == ([1, 8, 8], 10,
                                                                         "classification")
    assert state["best_epoch"] == 4
    assert all(t.device.type == "cpu" for t in state["state_dict"].values())


def test_checkpoint_params_are_plain_python(tmp_path: Path, digits: TrialData) -> None:
    # params as a sampler may hand them over: NumPy scalars and tuples
    params = {**TINY_CNN, "lr": np.float64(0.01), "batch_size": np.int64(32),
              "conv": tuple(TINY_CNN["conv"])}
    ctx, _ = context(tmp_path, epochs=1)
    cnn().fit(params, digits, ctx)
    saved = torch.load(ctx.checkpoint_path, weights_only=True)["params"]
    assert saved == {**TINY_CNN, "lr": 0.01, "batch_size": 32}
    assert type(saved["lr"]) is float and type(saved["batch_size"]) is int


def test_channels_last_batches_keep_their_layout(digits: TrialData) -> None:
    # the CUDA path's layout, checked where it can run: every batch stays channels_last
    # (3 channels: with one, the two layouts are the same memory)
    train, val = (Split(np.repeat(s.x, 3, axis=1), s.y) for s in (digits.train, digits.val))
    scaler = feeds.Scaler.fit(train, "classification", standardize_x=False)
    for on_device in (True, False):
        feed = feeds.make_feed(train, val, scaler, torch.device("cpu"), 64, seed=0,
                                        train_eval_samples=100, channels_last=True,
                                        on_device=on_device)
        batches = [*feed.train_batches(), *feed.val_batches(), *feed.train_eval_batches()]
        assert len(batches) == 5 + 1 + 1
        assert all(x.shape[1] == 3 and not x.is_contiguous() and
                   x.is_contiguous(memory_format=torch.channels_last) for x, _ in batches)
        assert feed.sample().is_contiguous(memory_format=torch.channels_last)
        feed.close()


def test_evaluate_and_load_model_agree_with_the_fit(tmp_path: Path, digits: TrialData) -> None:
    ctx, _ = context(tmp_path, epochs=3)
    trainer = cnn()
    final = trainer.fit(dict(TINY_CNN), digits, ctx)
    scored = trainer.evaluate(dict(TINY_CNN), ctx.checkpoint_path, digits.val, digits.info)
    assert scored["accuracy"] == pytest.approx(final["val_accuracy"])
    assert scored["log_loss"] == pytest.approx(final["val_log_loss"], rel=1e-5)
    # the documented one-liner: the trainer is found by the name stored in the checkpoint
    model = load_model(ctx.checkpoint_path)
    with torch.inference_mode():
        pred = model(torch.from_numpy(digits.val.x)).argmax(1).numpy()
    assert (pred == digits.val.y).mean() == pytest.approx(scored["accuracy"])


def test_train_loss_is_the_eval_mode_loss_at_the_epoch_end_weights(
        tmp_path: Path, digits: TrialData) -> None:
    ctx, history = context(tmp_path, epochs=3, restore_best=False)
    params = {**TINY_CNN, "dropout": 0.5}
    trainer = cnn(train_eval_samples=None)  # all training rows: comparable with evaluate()
    trainer.fit(params, digits, ctx)
    on_train = trainer.evaluate(params, ctx.checkpoint_path, digits.train, digits.info)
    assert history[-1]["train_loss"] == pytest.approx(on_train["log_loss"], rel=1e-4)
    assert history[-1]["train_accuracy"] == pytest.approx(on_train["accuracy"])
    assert history[-1]["fit_loss"] != pytest.approx(history[-1]["train_loss"], rel=1e-3)


def test_train_eval_samples_zero_reports_no_train_loss(tmp_path: Path,
                                                       digits: TrialData) -> None:
    ctx, history = context(tmp_path, epochs=1)
    cnn(train_eval_samples=0).fit(dict(TINY_CNN), digits, ctx)
    assert set(history[0]) == {"epoch", "fit_loss", "val_loss", "val_accuracy"}


def test_same_seed_same_run_other_seed_another(tmp_path: Path, digits: TrialData) -> None:
    runs = []
    for seed in (7, 7, 8):
        ctx, history = context(tmp_path, epochs=2, seed=seed)
        cnn().fit(dict(TINY_CNN), digits, ctx)
        runs.append(history)
    assert runs[0] == runs[1]
    assert runs[0] != runs[2]


@pytest.mark.parametrize(("restore_best", "kept_epoch"), [(True, 2), (False, 4)])
def test_restore_best_keeps_the_best_epochs_weights(tmp_path: Path, digits: TrialData,
                                                    restore_best: bool,
                                                    kept_epoch: int) -> None:
    def judge(epoch: int, metrics: Mapping[str, float]) -> Decision:
        return Decision(improved=epoch <= 2)  # the engine calls epoch 2 the best

    ctx, history = context(tmp_path, epochs=4, judge=judge, restore_best=restore_best)
    trainer = cnn()
    trainer.fit(dict(TINY_CNN), digits, ctx)
    scored = trainer.evaluate(dict(TINY_CNN), ctx.checkpoint_path, digits.val, digits.info)
    assert scored["log_loss"] == pytest.approx(history[kept_epoch - 1]["val_loss"], rel=1e-4)
    assert torch.load(ctx.checkpoint_path, weights_only=True)["best_epoch"] == 2


def test_the_loop_stops_when_told(tmp_path: Path, digits: TrialData) -> None:
    ctx, history = context(tmp_path, epochs=10,
                           judge=lambda epoch, m: Decision(stop=epoch == 3, improved=True))
    cnn().fit(dict(TINY_CNN), digits, ctx)
    assert len(history) == 3


def test_one_host_synchronisation_per_epoch(tmp_path: Path, digits: TrialData,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    """Every call from automl's code that waits for the device's result, counted: one per
    epoch, none per step. (torch's own CPU optimizers read CPU step counters with
    ``.item()``; those are not device synchronisations, so only automl's calls count.
    The GPU tests count real synchronisations with CUDA's sync debug mode.)"""
    calls = {"n": 0}
    for name in ("item", "tolist", "numpy", "cpu", "__bool__", "__float__", "__int__"):
        original = getattr(torch.Tensor, name)

        def counted(self: torch.Tensor, *a: Any, _f: Any = original, **k: Any) -> Any:
            if sys._getframe(1).f_globals.get("__name__", "").startswith("automl."):
                calls["n"] += 1
            return _f(self, *a, **k)

        monkeypatch.setattr(torch.Tensor, name, counted)
    counts = []
    for epochs in (2, 6):
        calls["n"] = 0
        ctx, _ = context(tmp_path, epochs=epochs)
        cnn().fit({**TINY_CNN, "batch_size": 16}, digits, ctx)  # 19 steps an epoch
        counts.append(calls["n"])
    assert counts[1] - counts[0] == 4  # four more epochs, one synchronisation each


def test_streamed_data_trains_the_same_model_as_resident_data(
        tmp_path: Path, digits: TrialData, monkeypatch: pytest.MonkeyPatch) -> None:
    made: list[str] = []
    original = feeds.make_feed

    def spy(*a: Any, **k: Any) -> Any:
        feed = original(*a, **k)
        made.append(type(feed).__name__)
        return feed

    monkeypatch.setattr("automl.training.loop.make_feed", spy)
    histories = []
    for on_device in (True, False):
        ctx, history = context(tmp_path, epochs=2, data_on_device=on_device)
        cnn().fit(dict(TINY_CNN), digits, ctx)
        histories.append(history)
    assert made == ["ResidentFeed", "StreamedFeed"]
    assert_same_history(*histories)


def test_memory_mapped_data_over_the_budget_is_streamed(
        tmp_path: Path, digits: TrialData, monkeypatch: pytest.MonkeyPatch) -> None:
    np.save(tmp_path / "x.npy", digits.train.x)
    x = np.load(tmp_path / "x.npy", mmap_mode="r")
    data = TrialData(digits.info, Split(x, digits.train.y), digits.val)
    # a machine with 1 MB free: 300 digits (0.08 MB) fit, not beyond 0.5 x 0.1 MB
    monkeypatch.setattr(feeds, "available_bytes", lambda device: 1_000_000)
    assert feeds.fits_on_device(feeds.data_bytes(data.train, data.val), torch.device("cpu"))
    monkeypatch.setattr(feeds, "available_bytes", lambda device: 100_000)
    assert not feeds.fits_on_device(feeds.data_bytes(data.train, data.val), torch.device("cpu"))
    ctx, history = context(tmp_path, epochs=2)
    streamed = cnn().fit(dict(TINY_CNN), data, ctx)
    ctx, resident = context(tmp_path, epochs=2, data_on_device=True)
    cnn().fit(dict(TINY_CNN), digits, ctx)
    assert_same_history(history, resident)
    assert streamed["val_accuracy"] == pytest.approx(resident[-1]["val_accuracy"])


def test_streamed_batches_match_resident_batches_with_a_worker_process(
        digits: TrialData) -> None:
    scaler = feeds.Scaler.fit(digits.train, "classification", standardize_x=True)
    cpu = torch.device("cpu")
    resident = ResidentFeed(digits.train, digits.val, scaler, cpu, 64, seed=3,
                            train_eval_samples=50)
    streamed = StreamedFeed(digits.train, digits.val, scaler, cpu, 64, seed=3,
                            train_eval_samples=50, workers=1)
    try:
        for _ in range(2):  # two epochs: the persistent worker serves both
            pairs = list(zip(resident.train_batches(), streamed.train_batches(), strict=True))
            assert len(pairs) == 5  # 300 rows, batches of 64
            for (xa, ya), (xb, yb) in pairs:
                assert torch.equal(xa, xb) and torch.equal(ya, yb)
        for a, b in ((resident.val_batches(), streamed.val_batches()),
                     (resident.train_eval_batches(), streamed.train_eval_batches())):
            xa, ya = (torch.cat(t) for t in zip(*a, strict=True))
            xb, yb = (torch.cat(t) for t in zip(*b, strict=True))
            assert torch.equal(xa, xb) and torch.equal(ya, yb)
        assert len(ya) == 50
    finally:
        streamed.close()


def test_regression_metrics_are_in_the_targets_units(tmp_path: Path,
                                                     diabetes: TrialData) -> None:
    ctx, history = context(tmp_path, epochs=30)
    params = {"width": 32, "depth": 1, "lr": 1e-2, "batch_size": 32}
    trainer = TorchTrainer("mlp", build_mlp, standardize=True)
    final = trainer.fit(params, diabetes, ctx)
    assert {"fit_loss", "train_loss", "train_rmse", "val_loss", "val_rmse"} == \
        set(history[-1]) - {"epoch"}
    # predicting the mean gives an RMSE of about 77 on this data
    assert final["val_rmse"] < 65 and final["val_r2"] > 0.2
    assert final["val_rmse"] == pytest.approx(history[-1]["val_rmse"], rel=1e-4)
    model = load_model(ctx.checkpoint_path, build_mlp)
    with torch.inference_mode():
        pred = model(torch.from_numpy(diabetes.val.x)).numpy().ravel()
    rmse = float(np.sqrt(np.mean((pred - diabetes.val.y) ** 2)))
    assert rmse == pytest.approx(final["val_rmse"], rel=1e-4)


def test_compile_trains_the_step_and_saves_plain_weights(tmp_path: Path,
                                                         digits: TrialData) -> None:
    # The eager backend checks the wiring in seconds; inductor is for the GPU tests.
    ctx, history = context(tmp_path, epochs=2, compile=True)
    trainer = cnn(compile_options={"backend": "eager"})
    trainer.fit(dict(TINY_CNN), digits, ctx)
    assert len(history) == 2 and history[1]["val_loss"] < history[0]["val_loss"]
    keys = set(torch.load(ctx.checkpoint_path, weights_only=True)["state_dict"])
    assert keys == set(build_cnn(TINY_CNN, (1, 8, 8), 10).state_dict())


def test_threads_from_the_context_are_applied(tmp_path: Path, digits: TrialData) -> None:
    torch.set_num_threads(2)
    ctx, _ = context(tmp_path, epochs=1, threads=1)
    cnn().fit(dict(TINY_CNN), digits, ctx)
    assert torch.get_num_threads() == 1


@pytest.mark.parametrize(("params", "message"), [
    ({"optimizer": "lbfgs"}, "unknown optimizer 'lbfgs'"),
    ({"batch_size": 0}, "batch_size must be at least 1"),
])
def test_bad_params_fail_the_trial(tmp_path: Path, digits: TrialData, params: dict[str, Any],
                                   message: str) -> None:
    ctx, _ = context(tmp_path)
    with pytest.raises(TrialFailed, match=message):
        cnn().fit({**TINY_CNN, **params}, digits, ctx)


def test_latency_grows_with_the_model() -> None:
    sample = torch.zeros(1, 1, 8, 8)
    small = build_cnn({"conv": [{"channels": 4, "kernel": 3}]}, (1, 8, 8), 10)
    big = build_cnn({"conv": [{"channels": 128, "kernel": 5}, {"channels": 256, "kernel": 5}]},
                    (1, 8, 8), 10)
    assert 0 < measure_latency_ms(small, sample) < measure_latency_ms(big, sample)


def test_the_torch_trainer_keeps_the_trainer_contract() -> None:
    # automl.plugin.testing's checks, as a third-party trainer's tests would run them
    checks = check_trainer(TorchTrainer("mlp", build_mlp, standardize=True))
    assert [c.task for c in checks] == ["classification", "regression"]
    assert all("latency_ms" in c.result for c in checks)
