"""The example plugin keeps automl's contract (automl.plugin's checks do the checking)."""

from __future__ import annotations

from pathlib import Path

import automl_moons

from automl.plugin import check_dataset, check_space, check_trainer, plugin_host

SPACE = Path(__file__).parents[1] / "search_spaces" / "moons.yaml"


def test_trainer_keeps_the_contract() -> None:
    trainer = plugin_host(automl_moons).trainers.get("numpy_logreg")
    check_trainer(trainer, params={"degree": 2})


def test_dataset_keeps_the_contract() -> None:
    loader = plugin_host(automl_moons).datasets.get("moons")
    ds = check_dataset(loader, n=100, noise=0.1)
    assert ds.x.shape == (100, 2)


def test_search_space_is_valid() -> None:
    check_space(SPACE, host=plugin_host(automl_moons, entry_points=True))
