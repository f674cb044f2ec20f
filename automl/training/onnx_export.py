"""ONNX export of a model the torch loop trained (:meth:`TorchTrainer.export_onnx`).

The exported graph takes what :meth:`TorchTrainer.predict` takes and gives what it gives:

- input ``x``: float32 features of shape ``(n, *info.input_shape)``, raw (the feature
  scaling fitted on the training split is inside the graph, missing values (NaN) become
  the training mean as in :meth:`automl.training.feeds.Scaler.x`), with a dynamic batch
  dimension ``n``;
- output ``probabilities`` (classification): the softmax of the logits, ``(n, n_outputs)``;
  output ``predictions`` (regression): ``(n,)`` in the target's units.

The graph computes in float32 where :meth:`TorchTrainer.predict` takes the softmax in
float64: the two agree to about 1e-6.

Uses the TorchScript exporter (``dynamo=False``, opset 17): the dynamo exporter needs
``onnxscript``, which automl does not depend on.
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from torch import nn

from automl.data import DataInfo, Task
from automl.training.feeds import Scaler

if TYPE_CHECKING:
    from automl.training.trainer import TorchTrainer

OPSET = 17
INPUT = "x"
OUTPUTS: dict[str, str] = {"classification": "probabilities", "regression": "predictions"}

__all__ = ["INPUT", "OPSET", "OUTPUTS", "OnnxModule", "export_onnx"]


class OnnxModule(nn.Module):
    """The trained model between its input scaling and its output mapping, as
    :meth:`TorchTrainer.predict` applies them, in torch operations that export to ONNX."""

    def __init__(self, model: nn.Module, scaler: Scaler, task: Task) -> None:
        super().__init__()
        self.model, self.task = model, task
        self.scaled = scaler.x_mean is not None
        if self.scaled:
            self.register_buffer("x_mean", torch.from_numpy(np.asarray(scaler.x_mean,
                                                                       dtype=np.float32)))
            self.register_buffer("x_std", torch.from_numpy(np.asarray(scaler.x_std,
                                                                      dtype=np.float32)))
        self.y_mean = float(scaler.y_mean or 0.0)
        self.y_std = float(scaler.y_std or 1.0)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.scaled:
            # Scaler.x: (x - mean) / std, then np.nan_to_num: NaN -> 0 (the training
            # mean), +-inf -> the largest finite float32.
            x = (x - self.x_mean) / self.x_std
            x = torch.where(torch.isnan(x), torch.zeros_like(x), x)
            big = float(np.finfo(np.float32).max)
            x = torch.clamp(x, -big, big)
        out = self.model(x)
        if self.task == "classification":
            return torch.softmax(out, dim=1)
        return out.reshape(-1) * self.y_std + self.y_mean


def export_onnx(trainer: TorchTrainer, params: dict[str, Any], checkpoint: Path,
                info: DataInfo, path: Path) -> None:
    """Write the model saved at ``checkpoint`` to ``path`` as an ONNX model (see the module
    docstring for its input and output)."""
    from automl.training.loop import build
    from automl.training.predictor import load_weights

    state = load_weights(checkpoint)
    model = build(trainer, params, info)
    model.load_state_dict(state["state_dict"])
    wrapped = OnnxModule(model, Scaler.from_state(state["scaler"]), info.task).eval()
    output = OUTPUTS[info.task]
    sample = torch.zeros((2, *info.input_shape), dtype=torch.float32)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    with warnings.catch_warnings(), torch.no_grad():
        # "You are using the legacy TorchScript-based ONNX export": the dynamo exporter
        # needs onnxscript, which automl does not install.
        warnings.simplefilter("ignore", DeprecationWarning)
        warnings.filterwarnings("ignore", message=".*TorchScript.*")
        torch.onnx.export(wrapped, (sample,), str(tmp), dynamo=False, input_names=[INPUT],
                          output_names=[output], opset_version=OPSET,
                          dynamic_axes={INPUT: {0: "n"}, output: {0: "n"}})
    tmp.replace(path)  # a reader never sees half a model
