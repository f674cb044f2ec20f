"""Where workers go: one per core on the CPU unless told, threads divided, GPUs pinned."""

from __future__ import annotations

import pytest

from automl.errors import UsageError
from automl.execution import devices
from automl.execution.devices import layout, plan_workers


@pytest.fixture
def no_gpu(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(devices, "visible_gpus", lambda device: [])


@pytest.mark.parametrize(("cores", "workers", "threads", "expected"), [
    (2, None, None, (2, 1)),  # the default: a single-thread worker per core
    (1, None, None, (1, 1)),
    (16, None, None, (8, 2)),  # at most 8 by default, the cores shared out
    (2, 1, None, (1, 2)),  # --workers 1: one worker with every core
    (8, 3, None, (3, 2)),
    (2, 2, 4, (2, 4)),  # execution.threads wins
])
def test_cpu_layout(no_gpu: None, monkeypatch: pytest.MonkeyPatch, cores: int,
                    workers: int | None, threads: int | None,
                    expected: tuple[int, int]) -> None:
    monkeypatch.setattr(devices, "cpu_cores", lambda: cores)
    placements = plan_workers("auto", workers, 1, threads)
    assert (len(placements), placements[0].threads) == expected
    assert all(p.env["OMP_NUM_THREADS"] == str(expected[1]) for p in placements)
    assert all(p.env["CUDA_VISIBLE_DEVICES"] == "" for p in placements)
    sharing = len(placements) > 1 or expected[1] < cores
    assert ("OMP_WAIT_POLICY" in placements[0].env) is sharing


def test_the_layout_line_says_what_was_chosen(no_gpu: None,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(devices, "cpu_cores", lambda: 2)
    assert layout(plan_workers("cpu", None, 1, None)) == "2 workers x 1 thread on cpu"
    assert layout(plan_workers("cpu", 1, 1, None)) == "1 worker x 2 threads on cpu"


def test_gpus_get_a_worker_per_slot_each_pinned(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(devices, "visible_gpus", lambda device: [0, 2])
    monkeypatch.setattr(devices, "cpu_cores", lambda: 8)
    placements = plan_workers("cuda:0,2", None, 2, None)
    assert [p.label for p in placements] == ["cuda:0", "cuda:0", "cuda:2", "cuda:2"]
    assert [p.env["CUDA_VISIBLE_DEVICES"] for p in placements] == ["0", "0", "2", "2"]
    assert {p.threads for p in placements} == {2}
    assert layout(placements) == "4 workers x 2 threads on cuda:0, cuda:2"


def test_a_missing_gpu_is_a_usage_error(monkeypatch: pytest.MonkeyPatch) -> None:
    import torch

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(UsageError, match="no CUDA GPU is visible"):
        plan_workers("cuda", None, 1, None)
