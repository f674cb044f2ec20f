"""How fast is automl's training loop next to a minimal hand-written torch loop?

Trains one fixed mid-size CNN config on digits (two conv blocks of 32 and 64 channels,
batch 64, Adam) for N epochs, in one process, through:

- ``hand``: the loop anyone would write: in-memory tensors, shuffled index slicing,
  train, then the validation loss under ``inference_mode`` and ``.item()`` (an early
  stopping decision needs the number) each epoch;
- ``hand+gap``: the same, plus an eval-mode pass over 256 fixed training rows each epoch,
  which is the extra work automl does to report an honest training loss;
- ``automl``: ``TorchTrainer.fit`` as a search runs it (early stopping judging every epoch,
  best weights kept, checkpoint, final validation metrics, latency), default settings;
- ``automl-nogap``: the same with ``train_eval_samples=0``.

automl's optimizers are fused (one kernel for all parameters); the hand loop uses torch's
default Adam unless ``--fused-hand``, which isolates the overhead of the loop itself.

Variants run interleaved, round-robin (the order reversed every other round), after one
warm-up each, so a busy machine slows them alike; samples/s is training rows x epochs /
time of the whole run (wall clock, or process CPU time with ``--clock cpu``, steadier on
a shared machine). Ratios are medians of per-round ratios. The 'per epoch' rows run
automl's epochs and the hand loop's alternately in one process (a hand epoch inside
each of automl's epoch reports) and compare epochs 2..N. On CUDA every variant runs
with bf16 autocast off and on.

    .venv/bin/python bench/loop_speed.py                    # CPU, 20 epochs, 5 rounds
    python3 bench/loop_speed.py --device cuda --json out.json
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch
from sklearn.datasets import load_digits
from torch.nn import functional as F

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from automl.data import Dataset as AutomlDataset  # noqa: E402
from automl.data import TrialData, make_splits  # noqa: E402
from automl.engine.stopping import Decision, EarlyStopping  # noqa: E402
from automl.execution.options import ExecutionOptions  # noqa: E402
from automl.plugin.trainer import TrialContext  # noqa: E402
from automl.training import TorchTrainer  # noqa: E402
from automl.training.steps import autocast_for  # noqa: E402

try:
    from automl_plugins.cnn import build_cnn
except ImportError:  # a bare checkout (no `pip install -e .`), e.g. on a GPU machine
    from plugins.cnn import build_cnn  # type: ignore[no-redef]

PARAMS: dict[str, Any] = {
    "conv": [{"channels": 32, "kernel": 3}, {"channels": 64, "kernel": 3}],
    "dropout": 0.1, "batch_size": 64, "optimizer": "adam", "lr": 1e-3,
}
SEED = 0


def digits() -> tuple[TrialData, int]:
    bunch = load_digits()
    x = (bunch.images.astype(np.float32) / 16.0)[:, None, :, :]
    ds = AutomlDataset("digits", x, bunch.target.astype(np.int64), "classification")
    splits = make_splits(ds, val=0.2, test=0.2, seed=0, stratify=True)
    return splits.for_trial(), len(splits.train)


def hand_epochs(data: TrialData, epochs: int, device: torch.device, amp: bool,
                gap: bool, fused: bool = False) -> Iterator[None]:
    """The minimal loop, yielding once set up and after each epoch (``gap``: plus the eval
    pass over 256 training rows; ``fused``: the fused Adam automl uses, not the default)."""
    torch.manual_seed(SEED)
    autocast = autocast_for(device, amp)
    x = torch.from_numpy(data.train.x).to(device)
    y = torch.from_numpy(data.train.y).to(device)
    xv = torch.from_numpy(data.val.x).to(device)
    yv = torch.from_numpy(data.val.y).to(device)
    sub = torch.randperm(len(y), device=device)[:256]
    xs, ys = x[sub], y[sub]
    model = build_cnn(PARAMS, data.info.input_shape, data.info.n_outputs).to(device)
    opt = torch.optim.Adam(model.parameters(), lr=PARAMS["lr"], **({"fused": True} if fused
                                                                    else {}))
    bs, n = PARAMS["batch_size"], len(y)
    yield
    for _ in range(epochs):
        model.train()
        perm = torch.randperm(n, device=device)
        for i in range(0, n, bs):
            idx = perm[i:i + bs]
            opt.zero_grad(set_to_none=True)
            with autocast():
                loss = F.cross_entropy(model(x[idx]), y[idx])
            loss.backward()
            opt.step()
        model.eval()
        with torch.inference_mode(), autocast():
            val_loss = F.cross_entropy(model(xv), yv)
            if gap:
                val_loss = val_loss + F.cross_entropy(model(xs), ys)
        val_loss.item()
        yield


def hand_loop(data: TrialData, epochs: int, device: torch.device, amp: bool,
              gap: bool, fused: bool = False) -> None:
    for _ in hand_epochs(data, epochs, device, amp, gap, fused):
        pass


def interleaved(data: TrialData, epochs: int, device: torch.device, amp: bool,
                automl_gap: bool, hand_gap: bool, fused: bool, folder: Path,
                clock: Callable[[], float]) -> tuple[list[float], list[float]]:
    """Epoch times of automl's loop and of the hand loop, run alternately epoch by epoch
    in one process (a hand epoch runs inside automl's per-epoch report), so both see the
    same machine at the same moment. Epoch 1 is left out (it holds automl's set-up)."""
    hand = hand_epochs(data, epochs, device, amp, hand_gap, fused)
    next(hand)
    automl_times: list[float] = []
    hand_times: list[float] = []
    mark = [0.0]
    stopper = EarlyStopping("val_loss", "min", patience=epochs + 1, max_gap=1.0)

    def judge(epoch: int, metrics: Mapping[str, float]) -> Decision:
        if epoch > 1:
            automl_times.append(clock() - mark[0])
        start = clock()
        next(hand)
        if epoch > 1:
            hand_times.append(clock() - start)
        decision = stopper.update(epoch, metrics)
        mark[0] = clock()
        return decision

    trainer = TorchTrainer("cnn", build_cnn, train_eval_samples=256 if automl_gap else 0)
    ctx = TrialContext(number=0, device=str(device), seed=SEED, max_epochs=epochs,
                       checkpoint_path=folder / "trial_0.pt", options=ExecutionOptions(amp=amp),
                       reporter=judge)
    trainer.fit(dict(PARAMS), data, ctx)
    return automl_times, hand_times


def automl_loop(data: TrialData, epochs: int, device: torch.device, amp: bool, gap: bool,
                folder: Path, compile_: bool = False) -> None:
    trainer = TorchTrainer("cnn", build_cnn, train_eval_samples=256 if gap else 0)
    stopper = EarlyStopping("val_loss", "min", patience=epochs + 1, max_gap=1.0)
    ctx = TrialContext(number=0, device=str(device), seed=SEED, max_epochs=epochs,
                       checkpoint_path=folder / "trial_0.pt",
                       options=ExecutionOptions(amp=amp, compile=compile_),
                       reporter=stopper.update)
    trainer.fit(dict(PARAMS), data, ctx)


def run(args: argparse.Namespace) -> list[dict[str, Any]]:
    device = torch.device(args.device)
    # CPU time is steadier than wall time on a machine others are using (one thread: the
    # two agree when it is idle); on CUDA the GPU's work is not CPU time, so wall it is.
    clock = time.process_time if args.clock == "cpu" and device.type == "cpu" \
        else time.perf_counter
    if device.type == "cpu" and args.threads:
        torch.set_num_threads(args.threads)
    data, n_train = digits()
    folder = Path(tempfile.mkdtemp(prefix="automl-bench-"))
    amps = [False, True] if device.type == "cuda" else [False]
    variants: dict[str, Callable[[int], None]] = {}
    for amp in amps:
        tag = "" if device.type == "cpu" else (" bf16" if amp else " fp32")
        variants["hand" + tag] = \
            lambda e, a=amp: hand_loop(data, e, device, a, False, args.fused_hand)
        variants["hand+gap" + tag] = \
            lambda e, a=amp: hand_loop(data, e, device, a, True, args.fused_hand)
        variants["automl" + tag] = lambda e, a=amp: automl_loop(data, e, device, a, True, folder)
        variants["automl-nogap" + tag] = \
            lambda e, a=amp: automl_loop(data, e, device, a, False, folder)
        if args.compile:
            variants["automl+compile" + tag] = \
                lambda e, a=amp: automl_loop(data, e, device, a, True, folder, True)
    for fn in variants.values():  # warm-up: imports, allocator, cuDNN autotuning
        fn(1)
    speeds: dict[str, list[float]] = {name: [] for name in variants}
    for round_ in range(args.repeats):
        # Reverse the order every other round: a variant must not always follow the same one.
        order = list(variants.items())
        for name, fn in order if round_ % 2 == 0 else order[::-1]:
            if device.type == "cuda":
                torch.cuda.synchronize()
            start = clock()
            fn(args.epochs)
            if device.type == "cuda":
                torch.cuda.synchronize()
            speeds[name].append(n_train * args.epochs / (clock() - start))
    rows = []
    for name, values in speeds.items():
        base = name.replace("automl-nogap", "hand").replace("automl+compile", "hand+gap") \
            .replace("automl", "hand+gap")
        plain = base.replace("hand+gap", "hand")
        ratio = statistics.median(a / b for a, b in zip(values, speeds[base], strict=True))
        vs_plain = statistics.median(a / b for a, b in zip(values, speeds[plain], strict=True))
        rows.append({"variant": name, "device": str(device), "epochs": args.epochs,
                     "clock": args.clock if device.type == "cpu" else "wall",
                     "threads": torch.get_num_threads(),
                     "samples_per_s": statistics.median(values),
                     "min": min(values), "max": max(values),
                     "vs_same_work": ratio if name.startswith("automl") else None,
                     "vs_hand": vs_plain})
    pairs = (("automl", "hand+gap", True, True), ("automl", "hand", True, False),
             ("automl-nogap", "hand", False, False))
    for amp in amps:
        tag = "" if device.type == "cpu" else (" bf16" if amp else " fp32")
        for automl_name, hand_name, automl_gap, hand_gap in pairs:
            ratios: list[float] = []
            for _ in range(args.repeats):
                a, h = interleaved(data, args.epochs, device, amp, automl_gap, hand_gap,
                                   args.fused_hand, folder, clock)
                ratios += [hand_s / auto_s for auto_s, hand_s in zip(a, h, strict=True)]
            same = automl_gap == hand_gap
            rows.append({"variant": f"{automl_name}{tag} / {hand_name} per epoch",
                         "device": str(device), "epochs": args.epochs,
                         "clock": rows[0]["clock"], "threads": torch.get_num_threads(),
                         "samples_per_s": None, "min": min(ratios), "max": max(ratios),
                         "vs_same_work": statistics.median(ratios) if same else None,
                         "vs_hand": None if same else statistics.median(ratios)})
    return rows


def print_table(rows: list[dict[str, Any]]) -> None:
    print(f"{'variant':<32} {'samples/s':>10} {'range':>13} {'vs same work':>13} {'vs hand':>8}")
    for r in rows:
        same = f"{r['vs_same_work']:.3f}x" if r["vs_same_work"] is not None else ""
        hand = f"{r['vs_hand']:.3f}x" if r["vs_hand"] is not None else ""
        if r["samples_per_s"] is None:  # an interleaved row: the range is of the ratios
            span = f"{r['min']:.2f}-{r['max']:.2f}"
            print(f"{r['variant']:<32} {'':>10} {span:>13} {same:>13} {hand:>8}")
            continue
        span = f"{r['min']:.0f}-{r['max']:.0f}"
        print(f"{r['variant']:<32} {r['samples_per_s']:>10.0f} {span:>13} {same:>13} {hand:>8}")
    print("Whole runs: samples/s median over rounds; ratios are medians of per-round ratios;\n"
          "  vs same work = automl against the hand loop doing the same per-epoch work\n"
          "  (automl vs hand+gap, automl-nogap vs hand). 'per epoch' rows: epochs 2..N of\n"
          "  automl and of the hand loop run alternately in one process; median of the\n"
          "  per-epoch speed ratios (range: of those ratios). Goal: automl >= 0.97x.")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--repeats", type=int, default=5, help="rounds over all variants")
    parser.add_argument("--threads", type=int, default=0, help="torch threads (CPU; 0: as is)")
    parser.add_argument("--compile", action="store_true", help="add torch.compile variants")
    parser.add_argument("--fused-hand", action="store_true",
                        help="the hand loop uses fused Adam too (isolates the loop's overhead)")
    parser.add_argument("--clock", choices=["wall", "cpu"], default="wall",
                        help="time the runs by wall clock or by process CPU time (CPU only)")
    parser.add_argument("--json", type=Path, help="also write the rows here")
    args = parser.parse_args()
    rows = run(args)
    print(f"# {rows[0]['device']}, {args.epochs} epochs, {args.repeats} rounds, "
          f"torch {torch.__version__}, {rows[0]['threads']} threads, {args.clock} clock, "
          f"hand loop's Adam: {'fused' if args.fused_hand else 'default'}")
    print_table(rows)
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2) + "\n")


if __name__ == "__main__":
    main()
