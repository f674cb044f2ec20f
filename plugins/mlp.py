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


@hookimpl
def register_trainers(register: RegisterTrainer) -> None:
    register(TorchTrainer("mlp", build_mlp, standardize=True,
                          description="multilayer perceptron for tabular data"))
