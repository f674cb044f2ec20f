"""Ensemble bundles: the weighted members of a greedy ensemble selection, each a model bundle
of its own, and a model that averages them.

::

    ensemble/
      ensemble.json     what it is: study, members (bundle folder and weight), metrics
      trial_12/ ...     each member's model bundle (automl.models.bundle)

Like any bundle it holds data only: ``ensemble.json`` is JSON, the members are read as
their trainers read their own bundles.
"""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path
from typing import Any

import numpy as np

from automl import __version__
from automl.errors import UsageError
from automl.models.bundle import read_bundle
from automl.models.model import Model
from automl.plugin.host import PluginHost

__all__ = ["ENSEMBLE_FILE", "EnsembleModel", "write_ensemble"]

ENSEMBLE_FILE = "ensemble.json"
FORMAT = 1


def write_ensemble(folder: Path, *, study: str, members: list[tuple[int, float]],
                   metrics: dict[str, Any], write_member: Any) -> Path:
    """Write an ensemble bundle into ``folder`` (replaced whole). ``members``: (trial,
    weight); ``write_member(path, trial)`` writes that trial's model bundle at ``path``."""
    folder = Path(folder)
    tmp = folder.with_name(f".{folder.name}.tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    listed = []
    for trial, weight in members:
        write_member(tmp / f"trial_{trial}", trial)
        listed.append({"folder": f"trial_{trial}", "trial": trial, "weight": weight})
    record = {"format": FORMAT, "kind": "ensemble", "automl_version": __version__,
              "study": study, "members": listed, "metrics": metrics,
              "created_at": time.time()}
    (tmp / ENSEMBLE_FILE).write_text(json.dumps(record, indent=2, default=str) + "\n")
    shutil.rmtree(folder, ignore_errors=True)
    tmp.rename(folder)
    return folder


class EnsembleModel(Model):
    """A weighted average of member models' probabilities (classification) or predictions
    (regression); used like any :class:`~automl.models.Model`. Its :attr:`record` is the
    first member's, for the input schema and the data's shape, which all members share."""

    def __init__(self, folder: Path, members: list[tuple[Model, float]],
                 data: dict[str, Any]) -> None:
        self.folder = folder
        self.members = members
        self.data = data
        first = members[0][0]
        self.record = first.record
        self.trainer = first.trainer

    @classmethod
    def from_folder(cls, path: str | Path, host: PluginHost | None = None) -> EnsembleModel:
        folder = Path(path)
        try:
            data = json.loads((folder / ENSEMBLE_FILE).read_text())
            listed = [(str(m["folder"]), float(m["weight"])) for m in data["members"]]
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise UsageError(f"{folder / ENSEMBLE_FILE} is not a readable ensemble: "
                             f"{type(exc).__name__}: {exc}") from None
        if data.get("format") != FORMAT:
            raise UsageError(f"{folder}: ensemble format {data.get('format')!r}, this automl "
                             f"reads format {FORMAT}")
        if not listed:
            raise UsageError(f"{folder / ENSEMBLE_FILE} lists no members")
        members = []
        for name, weight in listed:
            if Path(name).name != name:  # a member lives inside the folder, nowhere else
                raise UsageError(f"{folder / ENSEMBLE_FILE}: member folder must be a name, "
                                 f"got {name!r}")
            members.append((Model(read_bundle(folder / name), host), weight))
        schemas = {json.dumps(m.schema.to_dict(), sort_keys=True) for m, _ in members}
        if len(schemas) > 1:
            raise UsageError(f"{folder}: the members were trained on different inputs")
        return cls(folder, members, data)

    @property
    def params(self) -> dict[str, Any]:
        """The members: trainer, trial, weight and params of each."""
        return {"members": [{"trainer": m.record.trainer, "trial": m.record.trial,
                             "weight": w, "params": m.params} for m, w in self.members]}

    @property
    def metrics(self) -> dict[str, Any]:
        return dict(self.data.get("metrics", {}))

    def __repr__(self) -> str:
        parts = ", ".join(f"{m.record.trainer} #{m.record.trial} x{w:.2f}"
                          for m, w in self.members)
        return f"EnsembleModel({self.task}, study {self.data.get('study')!r}: {parts})"

    def outputs_of(self, x: np.ndarray) -> np.ndarray:
        total: np.ndarray | None = None
        for model, weight in self.members:
            out = weight * np.asarray(model.outputs_of(x), dtype=np.float64)
            total = out if total is None else total + out
        assert total is not None
        return total
