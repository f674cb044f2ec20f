"""The legacy plugin keeps the contract, checked through automl 0.1's automl.testing."""

from __future__ import annotations

from pathlib import Path

import automl_legacy_probe

from automl.testing import check_dataset, check_space, check_trainer, plugin_host

SPACE = Path(__file__).parents[1] / "search_spaces" / "legacy.yaml"


def test_trainers_keep_the_contract() -> None:
    host = plugin_host(automl_legacy_probe)
    check_trainer(host.trainers.get("legacy_mlp"), params={"width": 8})
    check_trainer(host.trainers.get("legacy_centroid"), max_epochs=4)


def test_dataset_keeps_the_contract() -> None:
    check_dataset(plugin_host(automl_legacy_probe).datasets.get("legacy_blobs"), n=60)


def test_search_space_is_valid() -> None:
    check_space(SPACE, host=plugin_host(automl_legacy_probe, entry_points=True))
