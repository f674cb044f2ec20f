"""``--json`` of the listing commands (leaderboard, plugins list, spaces, studies), and
``automl studies``: what it lists, unreadable files, bad URLs, and that it writes nothing."""

from __future__ import annotations

import csv
import datetime as dt
import json
import math
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import optuna
import pandas as pd
import pytest
from click.testing import CliRunner, Result
from optuna.distributions import FloatDistribution
from optuna.trial import TrialState, create_trial

import automl
from automl.cli import main
from automl.cli.output import jsonable
from automl.plugin.host import PluginHost
from tests.helpers import CURVE_SPEC
from tests.helpers import WriteSpec as Spec

_X = {"x": FloatDistribution(0.0, 1.0)}
# (value, state) of each trial of the two studies made with Optuna alone
TRIALS = {
    "alpha": [(0.5, TrialState.COMPLETE), (0.9, TrialState.COMPLETE), (None, TrialState.PRUNED),
              (None, TrialState.FAIL)],
    "beta": [(0.25, TrialState.COMPLETE), (None, TrialState.RUNNING)],
}


@pytest.fixture(scope="module")
def study_dbs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """One SQLite file per study of TRIALS, made once (creating the schema is the slow
    part); tests copy them into their reports/."""
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    root = tmp_path_factory.mktemp("dbs")
    empty = root / "empty.db"
    optuna.storages.RDBStorage(f"sqlite:///{empty}").engine.dispose()  # the schema, once
    dbs = {}
    for name, trials in TRIALS.items():
        db = root / name / "study.db"
        db.parent.mkdir()
        shutil.copy(empty, db)
        st = optuna.create_study(study_name=name, storage=f"sqlite:///{db}",
                                 direction="maximize")
        for i, (value, state) in enumerate(trials):
            st.add_trial(create_trial(params={"x": i / 10}, distributions=_X, value=value,
                                      state=state))
        dbs[name] = db
    return dbs


def _reports(root: Path, study_dbs: dict[str, Path], *names: str) -> None:
    for name in names:
        (root / "reports" / name).mkdir(parents=True)
        shutil.copy(study_dbs[name], root / "reports" / name / "study.db")


def invoke(*args: str) -> Result:
    return CliRunner().invoke(main, list(args))


def parsed(*args: str) -> Any:
    """``automl ARGS --json``: exit 0, and stdout is one strict JSON document."""
    result = invoke(*args, "--json")
    assert result.exit_code == 0, result.output
    assert "NaN" not in result.stdout and "Infinity" not in result.stdout
    return json.loads(result.stdout, parse_constant=lambda c: pytest.fail(f"token {c}"))


def _files(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*"))


# -- the JSON conversion ------------------------------------------------------------------------
def test_jsonable_makes_numpy_pandas_and_non_finite_values_plain() -> None:
    data = {"nan": math.nan, "inf": np.float64(np.inf), "i": np.int64(3), "b": np.bool_(True),
            "na": pd.NA, "nat": pd.NaT, "f": np.float32(0.5), "arr": np.array([1.0, np.nan]),
            "when": pd.Timestamp("2024-05-01T12:00:00Z"), "path": Path("a/b"), 7: (1, 2)}
    out = jsonable(data)
    assert out == {"nan": None, "inf": None, "i": 3, "b": True, "na": None, "nat": None,
                   "f": 0.5, "arr": [1.0, None], "when": "2024-05-01T12:00:00+00:00",
                   "path": str(Path("a/b")), "7": [1, 2]}
    assert type(out["i"]) is int and type(out["b"]) is bool
    json.dumps(out, allow_nan=False)


# -- leaderboard --------------------------------------------------------------------------------
def test_leaderboard_json_has_the_leaderboards_columns_top_rows_and_null_for_nan(
        in_tmp: Path, study_dbs: dict[str, Path]) -> None:
    _reports(in_tmp, study_dbs, "alpha")
    frame = automl.leaderboard("alpha")
    rows = parsed("leaderboard", "alpha")
    assert len(rows) == len(frame) == 4
    assert all(list(r) == list(frame.columns) for r in rows)
    assert [r["trial"] for r in rows] == frame["trial"].tolist() == [1, 0, 2, 3]
    assert [r["rank"] for r in rows] == [1, 2, None, None]  # pd.NA
    assert rows[0]["value"] == 0.9 and rows[2]["state"] == "pruned"
    assert rows[2]["value"] is None and rows[0]["duration_s"] is None  # NaN in the frame
    assert math.isnan(frame.loc[2, "value"])

    top = parsed("leaderboard", "alpha", "--top", "2",
                 "--storage", f"sqlite:///{in_tmp / 'reports/alpha/study.db'}")
    assert top == rows[:2]


def test_leaderboard_json_of_a_missing_study_is_one_error_line(in_tmp: Path) -> None:
    result = invoke("leaderboard", "nope", "--json")
    assert result.exit_code == 2 and result.stdout == ""
    assert result.stderr.count("\n") == 1 and "no study 'nope'" in result.stderr


# -- plugins list, spaces ------------------------------------------------------------------------
def test_plugins_list_json_is_strict_json_with_each_plugin() -> None:
    data = parsed("plugins", "list")
    plugins = {p["name"]: p for p in data["plugins"]}
    assert {"name", "module", "distribution", "version", "error",
            "provides"} <= set(plugins["sklearn"])
    assert plugins["sklearn"]["error"] is None
    assert "ridge" in plugins["sklearn"]["provides"]["trainer"]


def test_spaces_json_lists_installed_and_local_specs(in_tmp: Path) -> None:
    local = in_tmp / "search_spaces"
    local.mkdir()
    (local / "mine.yaml").write_text("# My own space. More text.\n# and more\nstudy: mine\n"
                                     "trainer: ridge\ndataset: {name: diabetes}\n"
                                     "objective: {metric: val_r2, direction: maximize}\n")
    (local / "broken.yaml").write_text("study: [unclosed\n")
    rows = {r["name"]: r for r in parsed("spaces")}
    assert rows["cnn"]["source"] == "installed" and rows["cnn"]["trainer"] == "cnn"
    assert rows["cnn"]["study"] == "digits-cnn" and rows["cnn"]["metrics"] == ["val_accuracy"]
    assert Path(rows["cnn"]["path"]).is_file() and rows["cnn"]["error"] is None
    assert rows["cnn_pareto"]["metrics"] == ["val_accuracy", "n_params"]
    assert rows["mine"] == {"name": "mine", "path": str(local / "mine.yaml"),
                            "source": "local", "study": "mine", "trainer": "ridge",
                            "dataset": "diabetes", "metrics": ["val_r2"],
                            "description": "My own space.", "error": None}
    assert rows["broken"]["error"] and rows["broken"]["trainer"] is None

    text = invoke("spaces")
    assert text.exit_code == 0, text.output
    for word in ("mine", "ridge", "My own space.", "unreadable:", "digits-cnn"):
        assert word in text.stdout


# -- studies -------------------------------------------------------------------------------------
def test_studies_lists_each_study_under_reports(in_tmp: Path,
                                                study_dbs: dict[str, Path]) -> None:
    _reports(in_tmp, study_dbs, "alpha", "beta")
    rows = {r["study"]: r for r in parsed("studies")}
    assert set(rows) == {"alpha", "beta"}
    alpha, beta = rows["alpha"], rows["beta"]
    # a FAIL without automl's result is a retried one: it does not count against the budget
    assert (alpha["trials"], alpha["complete"], alpha["pruned"], alpha["failed"],
            alpha["running"]) == (3, 2, 1, 1, 0)
    assert alpha["best_value"] == 0.9 and alpha["best_trial"] == 1
    assert (beta["trials"], beta["complete"], beta["running"], beta["best_value"]) == \
        (1, 1, 1, 0.25)
    assert alpha["directions"] == ["maximize"] and alpha["pareto_front"] is None
    assert alpha["objectives"] == [{"metric": "value", "direction": "maximize"}]
    assert alpha["error"] is None
    assert alpha["storage"] == f"sqlite:///{(in_tmp / 'reports/alpha/study.db').resolve()}"
    when = dt.datetime.fromisoformat(alpha["last_update"])
    assert when.utcoffset() == dt.timedelta(0)
    assert abs(dt.datetime.now(dt.timezone.utc) - when) < dt.timedelta(days=1)

    text = invoke("studies")
    assert text.exit_code == 0, text.output
    lines = {line.split("│")[1].strip(): line for line in text.stdout.splitlines()
             if line.count("│") > 3}
    assert "0.9" in lines["alpha"] and "0.25" in lines["beta"]


def test_studies_reads_without_writing(in_tmp: Path, study_dbs: dict[str, Path]) -> None:
    _reports(in_tmp, study_dbs, "alpha")
    db = in_tmp / "reports/alpha/study.db"
    before, files = db.read_bytes(), _files(in_tmp)
    assert invoke("studies").exit_code == 0
    assert parsed("studies", "--storage", f"sqlite:///{db}")[0]["study"] == "alpha"
    assert db.read_bytes() == before and _files(in_tmp) == files


def test_studies_lists_an_unreadable_file_and_the_others(in_tmp: Path,
                                                         study_dbs: dict[str, Path]) -> None:
    _reports(in_tmp, study_dbs, "alpha")
    for name, content in (("junk", b"\x00not sqlite at all\xff" * 64), ("empty", b"")):
        (in_tmp / "reports" / name).mkdir()
        (in_tmp / "reports" / name / "study.db").write_bytes(content)
    rows = {r["study"]: r for r in parsed("studies")}
    assert rows["alpha"]["error"] is None and rows["alpha"]["trials"] == 3
    assert "not a database" in rows["junk"]["error"]
    assert "not an Optuna study database" in rows["empty"]["error"]
    assert rows["junk"]["trials"] is None and rows["junk"]["best_value"] is None
    assert (in_tmp / "reports/empty/study.db").read_bytes() == b""

    text = invoke("studies")
    assert text.exit_code == 0 and "Traceback" not in text.output
    assert "unreadable: file is not a database" in text.stdout and "alpha" in text.stdout


@pytest.mark.parametrize("url", ["notaurl", "nosuchdialect://host/db",
                                 "sqlite:///missing/folder/study.db"])
def test_studies_bad_storage_exits_2_with_one_line_and_creates_nothing(
        in_tmp: Path, url: str) -> None:
    result = invoke("studies", "--storage", url)
    assert result.exit_code == 2, result.output
    assert result.stdout == "" and result.stderr.count("\n") == 1
    assert result.stderr.startswith("error: --storage ") and "Traceback" not in result.stderr
    assert _files(in_tmp) == []


def test_studies_in_an_empty_folder_says_so_and_creates_nothing(in_tmp: Path) -> None:
    result = invoke("studies")
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith("no studies in reports/*/study.db")
    assert result.stdout.count("\n") == 1
    assert parsed("studies") == []
    (in_tmp / "reports" / "no-db-here").mkdir(parents=True)
    assert invoke("studies").stdout.startswith("no studies")
    assert _files(in_tmp) == ["reports", str(Path("reports/no-db-here"))]


def test_studies_multi_objective_counts_the_pareto_front(in_tmp: Path) -> None:
    db = in_tmp / "multi.db"
    st = optuna.create_study(study_name="multi", storage=f"sqlite:///{db}",
                             directions=["maximize", "minimize"])
    for i, values in enumerate([[0.9, 10.0], [0.8, 5.0], [0.7, 20.0]]):
        st.add_trial(create_trial(params={"x": i / 10}, distributions=_X, values=values))
    (row,) = parsed("studies", "--storage", f"sqlite:///{db}")
    assert row["directions"] == ["maximize", "minimize"]
    assert row["best_value"] is None and row["pareto_front"] == 2 and row["trials"] == 3


# -- with a real search ----------------------------------------------------------------------------
@pytest.mark.slow
def test_listings_of_a_real_search(write_spec: Spec, in_tmp: Path,
                                   global_host: PluginHost) -> None:
    path = write_spec(CURVE_SPEC)
    result = invoke("search", "--space", str(path))
    assert result.exit_code == 0, result.output
    with (in_tmp / "reports/curve-study/leaderboard.csv").open() as fh:
        header = next(csv.reader(fh))
    rows = parsed("leaderboard", "curve-study", "--top", "3")
    assert len(rows) == 3 and all(list(r) == header for r in rows)
    assert rows[0]["rank"] == 1 and rows[0]["state"] == "complete"
    best = max(r["val_accuracy"] for r in parsed("leaderboard", "curve-study"))

    (row,) = parsed("studies")
    assert row["study"] == "curve-study" and row["trials"] == 6 and row["complete"] == 6
    assert row["best_value"] == pytest.approx(best) == rows[0]["val_accuracy"]
    assert row["objectives"] == [{"metric": "val_accuracy", "direction": "maximize"}]


def test_studies_reads_a_folder_name_that_a_url_would_misread(
        in_tmp: Path, study_dbs: dict[str, Path]) -> None:
    odd = in_tmp / "reports" / "a b#c?d%20"
    odd.mkdir(parents=True)
    shutil.copy(study_dbs["beta"], odd / "study.db")
    (row,) = parsed("studies")
    assert row["error"] is None and row["study"] == "beta" and row["best_value"] == 0.25
