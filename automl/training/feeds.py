"""How a trial's data reaches the model: resident tensors, or a DataLoader that streams.

The torch loop asks a *feed* for three kinds of batches: shuffled training batches, the
validation split in order, and a fixed sample of the training split evaluated like the
validation split (for an honest training loss; see :mod:`automl.training`).

- :class:`ResidentFeed` (data that fits): the scaled splits live as tensors on the trial's
  device for the whole trial; a batch is a slice of a shuffled index, so an epoch costs no
  host work and no host-to-device copy (measured 1.06-1.36x faster than a DataLoader on
  in-memory data).
- :class:`StreamedFeed` (data that does not fit, e.g. a ``np.memmap`` larger than memory):
  a DataLoader reads whole batches from the arrays (one fancy-indexing read per batch,
  which suits memory-mapped files), in worker processes, into pinned memory on CUDA, and
  copies them to the device without blocking.

Both draw the epoch's order from the same seeded generator, so on the CPU both feeds give
the same batches and train the same model.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from typing import Any, Protocol

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, Sampler

from automl.data import Split, Task

Batch = tuple[torch.Tensor, torch.Tensor]

# Share of the device's free memory (CUDA) or of the host's available memory (CPU) that
# a trial's train + validation tensors may take and still be kept resident. The rest is
# for the model, its activations and optimizer state, and other trials packed on the
# same GPU (execution.trials_per_device).
RESIDENT_FRACTION = {"cuda": 0.4, "cpu": 0.5}

# Evaluation keeps no activations for a backward pass, so its batches can be several times
# training's; fewer, larger batches cost less per row (fewer kernel launches).
EVAL_BATCH_MIN, EVAL_BATCH_MAX = 1024, 8192


def eval_batch_size(batch_size: int) -> int:
    """Batch size for evaluation: 4x the training batch, between 1024 and 8192."""
    return max(EVAL_BATCH_MIN, min(EVAL_BATCH_MAX, 4 * batch_size))


class Scaler:
    """Standardization fitted on the training split only (no leakage into val/test).

    Features are standardized per column when ``standardize_x`` (tabular data); regression
    targets always are (the loss is then on a unit scale; predictions are mapped back).
    """

    def __init__(self, x_mean: np.ndarray | None, x_std: np.ndarray | None,
                 y_mean: float | None, y_std: float | None) -> None:
        self.x_mean, self.x_std, self.y_mean, self.y_std = x_mean, x_std, y_mean, y_std

    @classmethod
    def fit(cls, train: Split, task: Task, standardize_x: bool) -> Scaler:
        """Fit on ``train``, in chunks (a memory-mapped split is never loaded whole)."""
        x_mean = x_std = None
        if standardize_x:
            x = train.x
            total = np.zeros(x.shape[1:], dtype=np.float64)
            squares = np.zeros(x.shape[1:], dtype=np.float64)
            count = np.zeros(x.shape[1:], dtype=np.float64)
            # Missing values (NaN, e.g. from a CSV) are left out of the statistics and
            # become the training mean once scaled (see `x`).
            for i in range(0, len(x), 65536):
                chunk = np.asarray(x[i:i + 65536], dtype=np.float64)
                total += np.nansum(chunk, axis=0)
                squares += np.nansum(chunk * chunk, axis=0)
                count += (~np.isnan(chunk)).sum(axis=0)
            count = np.maximum(count, 1.0)
            mean = total / count
            std = np.sqrt(np.maximum(squares / count - mean * mean, 0.0))
            std[std < 1e-8] = 1.0
            x_mean, x_std = mean.astype(np.float32), std.astype(np.float32)
        y_mean = y_std = None
        if task == "regression":
            y = np.asarray(train.y, dtype=np.float64)
            y_mean, y_std = float(y.mean()), float(y.std() or 1.0)
        return cls(x_mean, x_std, y_mean, y_std)

    def x(self, x: np.ndarray) -> np.ndarray:
        """Scaled float32 features."""
        x = np.asarray(x, dtype=np.float32)
        if self.x_mean is not None:
            x = np.nan_to_num((x - self.x_mean) / self.x_std, nan=0.0)  # NaN: the train mean
        return x

    def y(self, y: np.ndarray) -> np.ndarray:
        """Class indices (int64) or standardized float32 regression targets."""
        if self.y_mean is None:
            return np.asarray(y, dtype=np.int64)
        return ((np.asarray(y, dtype=np.float64) - self.y_mean) / self.y_std).astype(np.float32)

    def unscale_y(self, pred: np.ndarray) -> np.ndarray:
        """Regression predictions back in the target's units."""
        return pred * (self.y_std or 1.0) + (self.y_mean or 0.0)

    def state(self) -> dict[str, Any]:
        """Plain tensors and floats, loadable with ``torch.load(weights_only=True)``."""
        return {
            "x_mean": None if self.x_mean is None else torch.from_numpy(self.x_mean),
            "x_std": None if self.x_std is None else torch.from_numpy(self.x_std),
            "y_mean": self.y_mean,
            "y_std": self.y_std,
        }

    @classmethod
    def from_state(cls, s: Mapping[str, Any]) -> Scaler:
        def arr(t: Any) -> np.ndarray | None:
            return None if t is None else t.numpy()

        return cls(arr(s["x_mean"]), arr(s["x_std"]), s["y_mean"], s["y_std"])


# -- where the data goes ------------------------------------------------------------------
def data_bytes(*splits: Split) -> int:
    """Bytes the splits take as tensors (float32 features; int64/float32 targets)."""
    return sum(int(np.prod(s.x.shape)) * 4 + len(s) * 8 for s in splits)


def available_bytes(device: torch.device) -> int:
    """Free memory on a CUDA device, else the host's available memory."""
    if device.type == "cuda":
        free, _total = torch.cuda.mem_get_info(device)
        return int(free)
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    try:
        return int(os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE"))
    except (ValueError, OSError, AttributeError):
        return 1 << 40  # unknown: assume it fits, as the loop always did


def fits_on_device(nbytes: int, device: torch.device) -> bool:
    """Whether ``nbytes`` of data may stay resident on ``device`` for a trial.

    The rule: at most :data:`RESIDENT_FRACTION` of the device's free memory (CUDA: 40 %)
    or of the host's available memory (CPU and other devices: 50 %).
    """
    fraction = RESIDENT_FRACTION["cuda" if device.type == "cuda" else "cpu"]
    return nbytes <= fraction * available_bytes(device)


def loader_workers(device: torch.device) -> int:
    """DataLoader worker processes for a streamed feed.

    On CUDA up to 4 (one core is left to the training process); on the CPU the cores train
    the model, so 2 only on machines with 8 cores or more, else none.
    """
    try:
        cpus = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        cpus = os.cpu_count() or 1
    if device.type == "cuda":
        return max(0, min(4, cpus - 1))
    return 2 if cpus >= 8 else 0


# -- the feeds ----------------------------------------------------------------------------
class Feed(Protocol):
    """What the torch loop iterates over; see the module docstring."""

    resident: bool

    def train_batches(self) -> Iterator[Batch]: ...

    def val_batches(self) -> Iterator[Batch]: ...

    def train_eval_batches(self) -> Iterator[Batch]: ...

    def sample(self) -> torch.Tensor:
        """One input (a batch of one) on the device, for the latency measurement."""
        ...

    def close(self) -> None: ...


def _usable(n: int, batch_size: int) -> int:
    # A last batch of one sample breaks BatchNorm in train mode: leave that sample out of
    # this epoch (it is a different, random one each epoch).
    return n - 1 if n % batch_size == 1 and n > 1 else n


def train_eval_indices(n: int, samples: int | None, seed: int) -> np.ndarray:
    """The fixed rows of the training split evaluated each epoch (all when ``None``)."""
    if samples is None or samples >= n:
        return np.arange(n)
    rng = np.random.default_rng(seed)
    return np.sort(rng.choice(n, size=samples, replace=False))


def _to_device(x: np.ndarray, device: torch.device, memory_format: torch.memory_format
               ) -> torch.Tensor:
    t = torch.from_numpy(np.ascontiguousarray(x))
    t = t.to(device, non_blocking=False)
    return t.contiguous(memory_format=memory_format) if t.dim() == 4 else t


class ResidentFeed:
    """The scaled splits as tensors on ``device`` for the whole trial."""

    resident = True

    def __init__(self, train: Split, val: Split, scaler: Scaler, device: torch.device,
                 batch_size: int, *, seed: int, train_eval_samples: int | None,
                 memory_format: torch.memory_format = torch.contiguous_format) -> None:
        self.batch_size, self.eval_batch = batch_size, eval_batch_size(batch_size)
        self.x = _to_device(scaler.x(train.x), device, memory_format)
        self.y = _to_device(scaler.y(train.y), device, memory_format)
        self.xv = _to_device(scaler.x(val.x), device, memory_format)
        self.yv = _to_device(scaler.y(val.y), device, memory_format)
        self.n = len(self.y)
        self.n_used = _usable(self.n, batch_size)
        # The permutation is drawn where the data is: no host-to-device copy per epoch.
        self.generator = torch.Generator(device=device).manual_seed(seed)
        self.sub: Batch | None = None
        if train_eval_samples != 0:
            idx = torch.from_numpy(train_eval_indices(self.n, train_eval_samples, seed))
            idx = idx.to(device)
            self.sub = (self.x[idx], self.y[idx])

    def train_batches(self) -> Iterator[Batch]:
        perm = torch.randperm(self.n, generator=self.generator, device=self.x.device)
        for i in range(0, self.n_used, self.batch_size):
            idx = perm[i:i + self.batch_size]
            yield self.x[idx], self.y[idx]

    def _chunks(self, x: torch.Tensor, y: torch.Tensor) -> Iterator[Batch]:
        for i in range(0, len(y), self.eval_batch):
            yield x[i:i + self.eval_batch], y[i:i + self.eval_batch]

    def val_batches(self) -> Iterator[Batch]:
        return self._chunks(self.xv, self.yv)

    def train_eval_batches(self) -> Iterator[Batch]:
        return self._chunks(*self.sub) if self.sub is not None else iter(())

    def sample(self) -> torch.Tensor:
        return self.xv[:1]

    def close(self) -> None:
        pass


class _Rows(Dataset[Batch]):
    """Whole batches read from (possibly memory-mapped) arrays, scaled in the worker."""

    def __init__(self, split: Split, scaler: Scaler) -> None:
        self.x, self.y, self.scaler = split.x, split.y, scaler

    def __len__(self) -> int:
        return len(self.y)

    def __getitem__(self, idx: list[int]) -> Batch:  # type: ignore[override]
        return (torch.from_numpy(np.ascontiguousarray(self.scaler.x(self.x[idx]))),
                torch.from_numpy(np.ascontiguousarray(self.scaler.y(self.y[idx]))))


class _ShuffledBatches(Sampler[list[int]]):
    """The same order as :class:`ResidentFeed` on the CPU: one seeded permutation per epoch."""

    def __init__(self, n: int, batch_size: int, generator: torch.Generator) -> None:
        self.n, self.batch_size, self.generator = n, batch_size, generator
        self.n_used = _usable(n, batch_size)

    def __iter__(self) -> Iterator[list[int]]:
        perm = torch.randperm(self.n, generator=self.generator)
        for i in range(0, self.n_used, self.batch_size):
            yield perm[i:i + self.batch_size].tolist()

    def __len__(self) -> int:
        return -(-self.n_used // self.batch_size)


class _InOrder(Sampler[list[int]]):
    def __init__(self, n: int, batch_size: int) -> None:
        self.n, self.batch_size = n, batch_size

    def __iter__(self) -> Iterator[list[int]]:
        for i in range(0, self.n, self.batch_size):
            yield list(range(i, min(i + self.batch_size, self.n)))

    def __len__(self) -> int:
        return -(-self.n // self.batch_size)


class StreamedFeed:
    """Batches streamed through DataLoaders (pinned memory and workers on CUDA)."""

    resident = False

    def __init__(self, train: Split, val: Split, scaler: Scaler, device: torch.device,
                 batch_size: int, *, seed: int, train_eval_samples: int | None,
                 memory_format: torch.memory_format = torch.contiguous_format,
                 workers: int | None = None) -> None:
        self.device, self.memory_format = device, memory_format
        workers = loader_workers(device) if workers is None else workers
        pin = device.type == "cuda"
        generator = torch.Generator().manual_seed(seed)
        # A DataLoader draws its workers' base seed from this generator, not from torch's
        # global one, which would shift the dropout masks of the trial.
        loader_generator = torch.Generator().manual_seed(seed + 1)

        def loader(split: Split, sampler: Sampler[list[int]]) -> DataLoader[Batch]:
            # batch_size=None: the sampler yields whole batches, read in one indexing call.
            return DataLoader(_Rows(split, scaler), batch_size=None, sampler=sampler,
                              num_workers=workers, pin_memory=pin,
                              persistent_workers=workers > 0,
                              prefetch_factor=4 if workers > 0 else None,
                              generator=loader_generator)

        self._train: DataLoader[Batch] | None = loader(
            train, _ShuffledBatches(len(train), batch_size, generator))
        self._val: DataLoader[Batch] | None = loader(
            val, _InOrder(len(val), eval_batch_size(batch_size)))
        self.sub: Batch | None = None
        if train_eval_samples != 0:
            # A fixed sample is small (hundreds of rows): keep it on the device.
            idx = train_eval_indices(len(train), train_eval_samples, seed)
            self.sub = (self._move(torch.from_numpy(scaler.x(train.x[idx]))),
                        self._move(torch.from_numpy(scaler.y(train.y[idx]))))
        self.eval_batch = eval_batch_size(batch_size)
        first = val.x[:1]
        self._sample = self._move(torch.from_numpy(scaler.x(first)))

    def _move(self, t: torch.Tensor) -> torch.Tensor:
        t = t.to(self.device, non_blocking=True)
        return t.contiguous(memory_format=self.memory_format) if t.dim() == 4 else t

    def _stream(self, loader: DataLoader[Batch] | None) -> Iterator[Batch]:
        if loader is None:
            raise RuntimeError("the feed is closed")
        for x, y in loader:
            yield self._move(x), self._move(y)

    def train_batches(self) -> Iterator[Batch]:
        return self._stream(self._train)

    def val_batches(self) -> Iterator[Batch]:
        return self._stream(self._val)

    def train_eval_batches(self) -> Iterator[Batch]:
        if self.sub is None:
            return iter(())
        x, y = self.sub
        return ((x[i:i + self.eval_batch], y[i:i + self.eval_batch])
                for i in range(0, len(y), self.eval_batch))

    def sample(self) -> torch.Tensor:
        return self._sample

    def close(self) -> None:
        # Dropping the loaders ends their persistent worker processes now, not at exit.
        self._train = self._val = None


def make_feed(train: Split, val: Split, scaler: Scaler, device: torch.device, batch_size: int,
              *, seed: int, train_eval_samples: int | None, on_device: bool | None = None,
              channels_last: bool = False) -> Feed:
    """A :class:`ResidentFeed` when the data fits (:func:`fits_on_device`) or
    ``on_device`` is true, else a :class:`StreamedFeed`."""
    resident = on_device if on_device is not None else \
        fits_on_device(data_bytes(train, val), device)
    fmt = torch.channels_last if channels_last else torch.contiguous_format
    cls = ResidentFeed if resident else StreamedFeed
    return cls(train, val, scaler, device, batch_size, seed=seed,
               train_eval_samples=train_eval_samples, memory_format=fmt)
