"""The torch loop's CUDA paths. Skipped without a GPU; run them with ``bench/gpu_check.sh``.

This module needs nothing from ``conftest.py`` (the GPU check runs it with
``--noconftest``, on a machine that may lack automl's search-side dependencies).
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from sklearn.datasets import load_digits
from torch import nn

from automl.data import Dataset, TrialData, make_splits
from automl.engine.stopping import Decision
from automl.plugin.trainer import TrialContext
from automl.training import TorchTrainer
from automl.training.feeds import available_bytes, fits_on_device
from tests.helpers import trial_context

try:
    from automl_plugins.cnn import build_cnn
except ImportError:  # a bare checkout on a GPU machine
    from plugins.cnn import build_cnn  # type: ignore[no-redef]

pytestmark = [pytest.mark.gpu,
              pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")]

PARAMS: dict[str, Any] = {
    "conv": [{"channels": 32, "kernel": 3}, {"channels": 64, "kernel": 3}],
    "batch_size": 64, "lr": 3e-3, "dropout": 0.1,
}


@pytest.fixture(scope="module")
def digits() -> TrialData:
    bunch = load_digits()
    x = (bunch.images.astype(np.float32) / 16.0)[:, None, :, :]
    ds = Dataset("digits", x, bunch.target.astype(np.int64), "classification")
    return make_splits(ds, val=0.2, test=0.2, seed=0, stratify=True).for_trial()


@pytest.fixture(autouse=True)
def _restore_cudnn() -> Iterator[None]:
    before = torch.backends.cudnn.benchmark
    yield
    torch.backends.cudnn.benchmark = before


def context(tmp_path: Path, epochs: int, judge: Any = None, **kw: Any) -> TrialContext:
    judge = judge or (lambda epoch, metrics: Decision(improved=True))
    return trial_context(tmp_path / "trial_0.pt", reporter=judge, device="cuda",
                         max_epochs=epochs, **kw)


def probed_cnn(seen: dict[str, Any]) -> Any:
    """``build_cnn`` with a hook on the first convolution noting what it computes in."""

    def build(params: dict[str, Any], shape: tuple[int, ...], n: int) -> nn.Module:
        model = build_cnn(params, shape, n)
        conv = next(m for m in model.modules() if isinstance(m, nn.Conv2d))

        def hook(module: nn.Module, inputs: tuple[torch.Tensor, ...], out: torch.Tensor) -> None:
            if module.training:
                seen["dtype"] = out.dtype
                seen["channels_last"] = inputs[0].is_contiguous(
                    memory_format=torch.channels_last)
                seen["device"] = out.device.type

        conv.register_forward_hook(hook)
        return model

    return build


def test_cuda_trial_uses_bf16_channels_last_and_cudnn_benchmark(tmp_path: Path,
                                                                 digits: TrialData) -> None:
    seen: dict[str, Any] = {}
    trainer = TorchTrainer("cnn", probed_cnn(seen))
    ctx = context(tmp_path, epochs=10)
    final = trainer.fit(dict(PARAMS), digits, ctx)
    bf16 = torch.cuda.is_bf16_supported()
    assert seen == {"dtype": torch.bfloat16 if bf16 else torch.float32,
                    "channels_last": True, "device": "cuda"}
    assert torch.backends.cudnn.benchmark
    assert final["val_accuracy"] > 0.9
    assert 0 < final["latency_ms"] < 100
    # the checkpoint is plain CPU tensors in fp32, and scores the same on the CPU in fp32
    state = torch.load(ctx.checkpoint_path, weights_only=True)
    assert all(t.device.type == "cpu" and t.is_contiguous() for t in
               state["state_dict"].values())
    assert all(t.dtype != torch.bfloat16 for t in state["state_dict"].values())
    on_cpu = trainer.evaluate(dict(PARAMS), ctx.checkpoint_path, digits.val, digits.info)
    assert on_cpu["accuracy"] == pytest.approx(final["val_accuracy"], abs=0.02)


def test_amp_off_trains_in_float32(tmp_path: Path, digits: TrialData) -> None:
    seen: dict[str, Any] = {}
    TorchTrainer("cnn", probed_cnn(seen)).fit(dict(PARAMS), digits,
                                              context(tmp_path, epochs=2, amp=False))
    assert seen["dtype"] == torch.float32 and seen["channels_last"]


def test_one_synchronisation_per_epoch_on_cuda(tmp_path: Path, digits: TrialData) -> None:
    """CUDA's sync debug mode warns at every call that waits for the GPU; between two
    epoch reports there must be at most one (reading the epoch's numbers), not one per
    step (17 steps an epoch here)."""
    marks: list[int] = []
    caught: list[warnings.WarningMessage] = []

    def judge(epoch: int, metrics: Mapping[str, float]) -> Decision:
        marks.append(len(caught))
        return Decision(improved=True)

    with warnings.catch_warnings(record=True) as recorded:
        caught = recorded  # the judge reads the live list
        warnings.simplefilter("always")
        torch.cuda.set_sync_debug_mode("warn")
        try:
            TorchTrainer("cnn", build_cnn).fit(dict(PARAMS), digits,
                                               context(tmp_path, epochs=6, judge=judge))
        finally:
            torch.cuda.set_sync_debug_mode("default")
    per_epoch = [b - a for a, b in zip(marks, marks[1:], strict=False)]
    assert marks[0] >= 1, "the sync debug mode flagged nothing: the check cannot see"
    assert all(n <= 1 for n in per_epoch), f"synchronisations per epoch: {per_epoch}"


def test_streamed_cuda_trial_matches_resident_quality(tmp_path: Path,
                                                      digits: TrialData) -> None:
    resident = TorchTrainer("cnn", build_cnn).fit(
        dict(PARAMS), digits, context(tmp_path, epochs=8, data_on_device=True))
    streamed = TorchTrainer("cnn", build_cnn).fit(
        dict(PARAMS), digits, context(tmp_path, epochs=8, data_on_device=False))
    assert streamed["val_accuracy"] > 0.9
    assert streamed["val_accuracy"] == pytest.approx(resident["val_accuracy"], abs=0.03)


def test_compiled_cuda_trial(tmp_path: Path, digits: TrialData) -> None:
    ctx = context(tmp_path, epochs=4, compile=True)
    final = TorchTrainer("cnn", build_cnn).fit(dict(PARAMS), digits, ctx)
    assert final["val_accuracy"] > 0.8
    keys = set(torch.load(ctx.checkpoint_path, weights_only=True)["state_dict"])
    assert keys == set(build_cnn(PARAMS, (1, 8, 8), 10).state_dict())


def test_residency_follows_free_gpu_memory() -> None:
    device = torch.device("cuda")
    free = available_bytes(device)
    assert free > 0
    assert fits_on_device(int(0.1 * free), device)
    assert not fits_on_device(int(0.9 * free), device)
