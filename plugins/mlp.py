"""A multilayer perceptron for tabular data (images are flattened)."""

from __future__ import annotations

from math import prod
from typing import TYPE_CHECKING, Any

from automl.plugin import RegisterTrainer, TorchTrainer, hookimpl
from automl_plugins.cnn import activation

if TYPE_CHECKING:
    from torch import nn


def build_mlp(params: dict[str, Any], input_shape: tuple[int, ...], n_outputs: int) -> nn.Module:
    """Fully connected layers with activation and dropout.

    Params: ``layers`` (list of ``{units}``, one per hidden layer) or else ``width`` (64)
    repeated ``depth`` (2) times; ``activation`` (relu); ``dropout`` (0.0).
    """
    from torch import nn  # here, not at the top: see automl_plugins.cnn

    if params.get("layers"):
        widths = [int(layer["units"]) for layer in params["layers"]]
    else:
        widths = [int(params.get("width", 64))] * int(params.get("depth", 2))
    dropout = float(params.get("dropout", 0.0))
    layers: list[nn.Module] = [nn.Flatten()]
    fan_in = prod(input_shape)
    for width in widths:
        layers += [nn.Linear(fan_in, width), activation(params.get("activation", "relu"))]
        if dropout > 0:
            layers.append(nn.Dropout(dropout))
        fan_in = width
    layers.append(nn.Linear(fan_in, n_outputs))
    return nn.Sequential(*layers)


# The default search space: search_spaces/mlp.yaml's params, which build_mlp and the loop
# read (``n_layers`` only sizes the ``layers`` block).
SPACE: dict[str, Any] = {
    "lr": {"type": "float", "low": 1e-4, "high": 3e-2, "log": True},
    "batch_size": [16, 32, 64],
    "optimizer": ["adam", "adamw"],
    "weight_decay": {"type": "float", "low": 1e-6, "high": 1e-2, "log": True},
    "n_layers": {"type": "int", "low": 1, "high": 3},
    "layers": {"repeat": "n_layers",
               "params": {"units": {"type": "int", "low": 16, "high": 256, "log": True}}},
    "dropout": {"type": "float", "low": 0.0, "high": 0.5, "step": 0.05},
    "activation": ["relu", "gelu", "tanh"],
}
# The defaults of build_mlp and the loop (two hidden layers of 64, Adam at 1e-3, batch 64),
# with weight_decay 1e-6 for the loop's 0, which a log range cannot reach.
CONFIG: dict[str, Any] = {
    "lr": 1e-3, "batch_size": 64, "optimizer": "adam", "weight_decay": 1e-6, "n_layers": 2,
    "layers": [{"units": 64}, {"units": 64}], "dropout": 0.0, "activation": "relu",
}
# A trial at CONFIG relative to a scikit-learn linear model on the same table, one core,
# 30 epochs: 3x on breast_cancer and diabetes, 10x on digits, 3-55x on 20,000 x 20 rows
# (see the costs in automl_plugins.sklearn_models).
COST = 5.0


@hookimpl
def register_trainers(register: RegisterTrainer) -> None:
    register(TorchTrainer("mlp", build_mlp, standardize=True,
                          description="multilayer perceptron for tabular data",
                          space=SPACE, config=CONFIG, cost=COST))
