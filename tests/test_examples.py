"""The notebook-style example runs as a user runs it, and its model predicts well."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers import REPO


@pytest.mark.slow
def test_search_a_dataframe_example_runs_and_predicts(in_tmp: Path) -> None:
    out = subprocess.run([sys.executable, str(REPO / "examples" / "search_a_dataframe.py"),
                          "--trials", "3"], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    # one plain progress line per finished trial (what a notebook shows)
    assert len(re.findall(r"^trials \d+/3: ", out.stdout, re.M)) == 3
    found = re.search(r"accuracy on 200 new customers (\d\.\d+)", out.stdout)
    assert found and float(found.group(1)) > 0.7, out.stdout  # chance is 0.5
    assert "proba_yes" in out.stdout
    assert (in_tmp / "reports" / "customers" / "best" / "bundle.json").is_file()
    assert (in_tmp / "reports" / "customers" / "data" / "x.npy").is_file()
