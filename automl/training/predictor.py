"""Loading a model the torch loop trained, as a module that takes raw inputs."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from torch import nn

from automl.data import Task
from automl.training.feeds import Scaler

BuildModel = Callable[[dict[str, Any], tuple[int, ...], int], nn.Module]


class Predictor(nn.Module):
    """A trained model that takes raw inputs, as the dataset gives them.

    The standardization fitted on the training split is applied inside; regression outputs
    come back in the target's units; classification outputs are logits.
    """

    def __init__(self, model: nn.Module, scaler: Scaler, task: Task) -> None:
        super().__init__()
        self.model, self.task = model, task
        mean = None if scaler.x_mean is None else torch.from_numpy(scaler.x_mean)
        std = None if scaler.x_std is None else torch.from_numpy(scaler.x_std)
        self.register_buffer("x_mean", mean)
        self.register_buffer("x_std", std)
        self.y_mean, self.y_std = scaler.y_mean or 0.0, scaler.y_std or 1.0

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.x_mean is not None:
            x = (x - self.x_mean) / self.x_std
        out = self.model(x)
        if self.task == "regression":
            out = out * self.y_std + self.y_mean
        return out


def load_weights(path: str | Path) -> dict[str, Any]:
    """A checkpoint's dict, read as data only (``weights_only=True``); a ``ValueError`` in
    one line for a file that is not one (a pickle of objects, say: never unpickled)."""
    import pickle
    import warnings

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # torch warns of pickle protocols on the way
            state = torch.load(path, map_location="cpu", weights_only=True)
    except (pickle.UnpicklingError, RuntimeError, EOFError, AttributeError) as exc:
        kind = "holds objects, not only weights" if isinstance(exc, pickle.UnpicklingError) \
            else f"cannot be read ({type(exc).__name__})"
        raise ValueError(f"{path} is not a torch weights file automl reads: it {kind}, so it "
                         "is refused") from None
    if not isinstance(state, dict):
        raise ValueError(f"{path} is not a checkpoint written by automl")
    return state


def load_model(path: str | Path, build_model: BuildModel | None = None,
               device: str = "cpu") -> Predictor:
    """Load a checkpoint written by :class:`TorchTrainer` as a :class:`Predictor` in eval mode.

    ``build_model`` defaults to the one of the installed trainer plugin that wrote the
    checkpoint (its name is stored in it). Loads with ``weights_only=True``.
    """
    state = load_weights(path)
    if "params" not in state:
        raise ValueError(f"{path} has no params: it was written by an older automl; "
                         "rebuild the model yourself and load state['state_dict']")
    if build_model is None:
        from automl.plugin.host import get_plugin_host

        trainer = get_plugin_host().collect().trainers.get(state["trainer"])
        build_model = trainer.build_model  # type: ignore[attr-defined]
    model = build_model(dict(state["params"]), tuple(state["input_shape"]), state["n_outputs"])
    model.load_state_dict(state["state_dict"])
    return Predictor(model, Scaler.from_state(state["scaler"]), state["task"]).to(device).eval()
