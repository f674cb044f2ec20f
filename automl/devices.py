"""Which device trials run on."""

from __future__ import annotations

from automl.errors import UsageError


def resolve_device(device: str) -> str:
    """``auto`` → ``cuda`` when a GPU is visible, else ``cpu``; ``cpu``/``cuda``/``cuda:N`` as
    given (a CUDA device that is not there is a usage error)."""
    import torch  # deferred: `automl validate` never pays for importing torch

    device = device.strip().lower()
    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device == "cpu":
        return "cpu"
    if device.startswith("cuda"):
        if not torch.cuda.is_available():
            raise UsageError(f"device {device!r} asked for, but no CUDA GPU is visible "
                             "(use --device cpu or auto)")
        return device.split(",")[0]
    raise UsageError(f"unknown device {device!r}; use auto, cpu, cuda or cuda:N")
