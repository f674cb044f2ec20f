"""A trainer that trains nothing, for measuring the engine's own cost per trial and epoch.

Loaded with ``AUTOML_PLUGIN_MODULES=bench.noop_plugin`` (and the repository on
``PYTHONPATH``); its ``noop`` trainer reports ``max_epochs`` epochs of a smooth curve set
by the param ``x`` at once, like ``bench/vs_plain.py``'s plain no-op objective.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from automl.plugin import DataInfo, RegisterTrainer, Split, TrialContext, TrialData, hookimpl


def curve(x: float, epoch: int) -> float:
    """The no-op trial's validation accuracy at ``epoch``: best at x = 0.3."""
    return (0.95 - (x - 0.3) ** 2) * (1 - 0.5 ** epoch)


class NoopTrainer:
    name = "noop"
    tasks = ("classification", "regression")
    description = "trains nothing, reports at once (benchmarks)"

    def fit(self, params: dict[str, Any], data: TrialData, ctx: TrialContext) -> dict[str, Any]:
        x = float(params.get("x", 0.5))
        for epoch in range(1, ctx.max_epochs + 1):
            acc = curve(x, epoch)
            if ctx.report(epoch, {"train_loss": 1.0 / epoch, "val_loss": 1.0 - acc,
                                  "val_accuracy": acc}).stop:
                break
        ctx.checkpoint_path.parent.mkdir(parents=True, exist_ok=True)
        ctx.checkpoint_path.write_text(str(x))
        return {}

    def evaluate(self, params: dict[str, Any], checkpoint: Path, split: Split,
                 info: DataInfo) -> dict[str, float]:
        return {"accuracy": curve(float(checkpoint.read_text()), 10)}


@hookimpl
def register_trainers(register: RegisterTrainer) -> None:
    register(NoopTrainer())
