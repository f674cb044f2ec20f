"""search_spaces/tabular.yaml (a search over trainers) through the command line:
breast_cancer reaches validation accuracy >= 0.95 with several trainers tried (each
one's default configuration first, cheapest first), and the same spec pointed at a CSV
file of the same data gives the same trials, value for value."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from click.testing import CliRunner
from sklearn.datasets import load_breast_cancer

import automl
import automl.plugin.host
from automl.cli import main
from tests.helpers import REPO

TABULAR = str(REPO / "search_spaces" / "tabular.yaml")
COMPARED = ["trial", "state", "trainer", "val_accuracy", "val_loss", "epochs", "best_epoch",
            "stop_reason"]


def run(*args: str) -> str:
    # Trials in this process: a worker process only adds its start-up here, and the
    # plugin-install test runs a search through real workers.
    result = CliRunner().invoke(main, ["search", "--space", TABULAR, *args,
                                       "--set", "execution.workers=0"])
    assert result.exit_code == 0, result.output
    return result.output


@pytest.mark.slow
def test_tabular_spec_on_breast_cancer_and_on_the_same_data_as_csv(
        in_tmp: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(automl.plugin.host, "_default", None)  # the installed plugins
    bunch = load_breast_cancer(as_frame=True)
    frame = bunch.frame.assign(diagnosis=bunch.target.map(dict(enumerate(bunch.target_names))))
    frame.drop(columns="target").to_csv(in_tmp / "cancer.csv", index=False)

    trials = "8"
    run("--trials", trials)
    run("--trials", trials, "--study", "tabular-csv", "--set", "dataset.name=csv",
        "--set", "dataset.path=cancer.csv", "--set", "dataset.target=diagnosis",
        "--set", "dataset.classes=[malignant, benign]")

    def trials_of(study: str) -> pd.DataFrame:
        frame = automl.leaderboard(study)
        return frame[frame["state"] != "ensemble"].sort_values("trial").reset_index(drop=True)

    builtin, from_csv = trials_of("tabular"), trials_of("tabular-csv")
    assert builtin["val_accuracy"].max() >= 0.95
    assert len(builtin) == int(trials)
    # The defaults first, cheapest trainer first (ridge: regression only, left out).
    listed = ["hist_gbm", "random_forest", "extra_trees", "logistic", "svm", "knn", "mlp"]
    trainers = automl.plugin.host.get_plugin_host().collect().trainers
    cheapest_first = sorted(listed, key=lambda n: (trainers.get(n).cost, listed.index(n)))
    assert list(builtin["trainer"][:len(listed)]) == cheapest_first
    # boosting reports every 10 iterations: trials run several epochs and stop early
    assert builtin["epochs"].max() > 1
    assert "early_stopped" in set(builtin["stop_reason"])
    params = [c for c in builtin.columns if "." in c and c.split(".")[0] in set(
        builtin["trainer"])]
    assert params
    pd.testing.assert_frame_equal(builtin[COMPARED + params], from_csv[COMPARED + params])
    test_cols = [c for c in builtin.columns if c.startswith("test_")]
    assert test_cols
    pd.testing.assert_frame_equal(builtin[test_cols], from_csv[test_cols])
