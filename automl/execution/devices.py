"""Which devices trials run on, and how workers are spread over them."""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from pathlib import Path

from automl.errors import UsageError


@dataclass(frozen=True)
class Placement:
    """One worker's place: the device its trainer uses, the label reports show, its env."""

    device: str  # "cpu" or "cuda" (the only GPU the worker can see)
    label: str  # "cpu" or "cuda:2" (the physical GPU)
    env: dict[str, str]
    threads: int | None


def cpu_cores() -> int:
    """Cores this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def _may_have_cuda() -> bool:
    """Whether a CUDA GPU can be there at all, answered without importing torch (1.5 s,
    at the start of every search): on Linux the NVIDIA driver exposes ``/dev/nvidia0``
    (or ``/dev/nvidia-*`` device files) when it has a GPU; elsewhere, ask torch."""
    if os.environ.get("CUDA_VISIBLE_DEVICES", None) in ("", "-1"):
        return False
    dev = Path("/dev")
    if sys.platform.startswith("linux") and dev.is_dir():
        return any(dev.glob("nvidia[0-9]*")) or (dev / "dxg").exists()  # dxg: WSL 2
    return True


def visible_gpus(device: str) -> list[int]:
    """GPU indices a device setting selects: ``auto`` (all, or none), ``cuda`` (all),
    ``cuda:0,1`` (those), ``cpu`` (none). A GPU asked for but missing is a usage error."""
    device = device.strip().lower()
    if device == "cpu" or (device == "auto" and not _may_have_cuda()):
        return []
    import torch  # deferred: `automl validate` never pays for importing torch

    count = torch.cuda.device_count() if torch.cuda.is_available() else 0
    if device == "auto":
        return list(range(count))
    if not device.startswith("cuda"):
        raise UsageError(f"unknown device {device!r}; use auto, cpu, cuda or cuda:N[,M]")
    if count == 0:
        raise UsageError(f"device {device!r} asked for, but no CUDA GPU is visible "
                         "(use --device cpu or auto)")
    if device == "cuda":
        return list(range(count))
    wanted = [int(i) for i in device.removeprefix("cuda:").split(",")]
    missing = [i for i in wanted if i >= count]
    if missing:
        raise UsageError(f"device {device!r}: no GPU {missing[0]} (this machine has {count})")
    return wanted


def resolve_device(device: str) -> str:
    """The device a trial in this process uses (``execution.workers: 0``)."""
    gpus = visible_gpus(device)
    return f"cuda:{gpus[0]}" if gpus else "cpu"


# Beyond this many trials at once TPE learns from too few finished trials per ask, and
# every worker holds its own copy of the data.
MAX_DEFAULT_CPU_WORKERS = 8


def default_cpu_workers() -> int:
    """Workers on the CPU when ``--workers`` is not given: one per core (at most
    :data:`MAX_DEFAULT_CPU_WORKERS`), each with a share of the cores as torch threads.

    Measured on 2 cores with the digits CNN (MEASURED.md, ``bench/vs_plain.py``): two
    single-thread workers ran a 12-trial study in 37-39 s, one two-thread worker in
    53-58 s; torch's second thread in one process buys 1.21x for 1.68x the CPU, a second
    trial process nearly 2x.
    """
    return max(1, min(cpu_cores(), MAX_DEFAULT_CPU_WORKERS))


def layout(placements: list[Placement]) -> str:
    """How the workers are laid out, for the progress line: ``2 workers x 1 thread on cpu``."""
    n = len(placements)
    devices = ", ".join(sorted({p.label for p in placements}))
    threads = {p.threads for p in placements}
    each = ""
    if len(threads) == 1 and None not in threads:
        t = threads.pop()
        each = f" x {t} thread{'s' if t != 1 else ''}"
    return f"{n} worker{'s' if n != 1 else ''}{each} on {devices}"


def plan_workers(device: str, workers: int | None, trials_per_device: int,
                 threads: int | None) -> list[Placement]:
    """Spread workers over the devices.

    GPUs: ``trials_per_device`` workers per selected GPU (unless ``workers`` says how
    many), each pinned to its GPU with ``CUDA_VISIBLE_DEVICES``. CPU: ``workers``
    workers (by default :func:`default_cpu_workers`) sharing the cores, each with
    ``cores // workers`` torch threads unless ``threads`` is given, so that they do not
    fight over cores.
    """
    gpus = visible_gpus(device)
    if gpus:
        n = workers or len(gpus) * trials_per_device
        placements = []
        for i in range(n):
            gpu = gpus[(i // trials_per_device) % len(gpus)] if workers is None else \
                gpus[i % len(gpus)]
            t = threads or max(1, cpu_cores() // n)
            placements.append(Placement("cuda", f"cuda:{gpu}",
                                        {"CUDA_VISIBLE_DEVICES": str(gpu),
                                         "OMP_NUM_THREADS": str(t)}, t))
        return placements
    n = workers or default_cpu_workers()
    t = threads or max(1, cpu_cores() // n)
    # OMP_NUM_THREADS before torch starts: busy-waiting OpenMP threads of several workers
    # made the same study 2.6x slower here (MEASURED.md).
    env = {"OMP_NUM_THREADS": str(t), "CUDA_VISIBLE_DEVICES": ""}
    if n > 1 or t < cpu_cores():
        # Workers sharing the cores: idle OpenMP threads must sleep, not spin (2 threads
        # on 1M values: 1.3x faster than 1 with it, ~3x slower without). One worker on
        # every core keeps the spinning default: sleeping there cost torch ~25 % wall time.
        env["OMP_WAIT_POLICY"] = "PASSIVE"
    return [Placement("cpu", "cpu", dict(env), t) for _ in range(n)]
