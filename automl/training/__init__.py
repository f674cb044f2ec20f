"""The engine's torch training loop, so that a model plugin only builds an ``nn.Module``.

``TorchTrainer(name, build_model)`` (``trainer``) is a complete trainer; ``steps`` holds
its pieces (seeding, optimizers, autocast, scoring), ``feeds`` how data reaches the model
(resident tensors or a streaming DataLoader), ``predictor`` loading a trained model back.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from automl._lazy import lazy_exports

if TYPE_CHECKING:
    from automl.training.feeds import Scaler
    from automl.training.predictor import BuildModel, Predictor, load_model
    from automl.training.steps import count_parameters, make_optimizer, seed_everything
    from automl.training.trainer import TorchTrainer

__all__ = ["BuildModel", "Predictor", "Scaler", "TorchTrainer", "count_parameters",
           "load_model", "make_optimizer", "seed_everything"]
__getattr__, __dir__ = lazy_exports(__name__, {
    "BuildModel": "automl.training.predictor",
    "Predictor": "automl.training.predictor",
    "load_model": "automl.training.predictor",
    "Scaler": "automl.training.feeds",
    "TorchTrainer": "automl.training.trainer",
    "count_parameters": "automl.training.steps",
    "make_optimizer": "automl.training.steps",
    "seed_everything": "automl.training.steps",
})
