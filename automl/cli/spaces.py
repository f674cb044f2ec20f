"""``automl spaces``: the spec files found in ./search_spaces and installed with automl."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import click


def space_rows(cwd: Path | None = None) -> list[dict[str, Any]]:
    """What ``automl spaces`` shows: each spec file ``--space NAME`` finds, with its
    ``source`` (``local``: ./search_spaces, ``installed``: shipped with automl), the
    ``study``, ``trainer``, ``dataset`` and objective ``metrics`` it sets, and its
    ``description`` (the first line of its leading comment). A file that is not readable
    YAML keeps its name and path, with ``error`` set."""
    from automl.spec import list_spaces
    from automl.spec.locate import LOCAL_DIR

    local = ((cwd or Path.cwd()) / LOCAL_DIR).resolve()
    rows = []
    for name, path in list_spaces(cwd):
        row: dict[str, Any] = {"name": name, "path": str(path),
                               "source": "local" if path.resolve().parent == local
                               else "installed"}
        row.update(_summary(path))
        rows.append(row)
    return rows


def _summary(path: Path) -> dict[str, Any]:
    import yaml

    out: dict[str, Any] = dict.fromkeys(("study", "trainer", "dataset", "metrics",
                                         "description", "error"))
    try:
        text = path.read_text(encoding="utf-8")
        data = yaml.safe_load(text)
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        out["error"] = " ".join(str(exc).split())
        return out
    out["description"] = _description(text)
    if not isinstance(data, dict):
        out["error"] = "not a YAML mapping"
        return out
    for key in ("study", "trainer"):
        out[key] = None if data.get(key) is None else str(data[key])
    dataset = data.get("dataset")
    dataset = dataset.get("name") if isinstance(dataset, dict) else dataset
    out["dataset"] = None if dataset is None else str(dataset)
    objective = data.get("objective")
    objs = objective if isinstance(objective, list) else [objective] if objective else []
    out["metrics"] = [str(o.get("metric") if isinstance(o, dict) else o) for o in objs]
    return out


def _description(text: str) -> str | None:
    """The first sentence of the file's leading comment."""
    lines = []
    for line in text.splitlines():
        if not line.lstrip().startswith("#"):
            break
        lines.append(line.lstrip().lstrip("#").strip())
    first = " ".join(" ".join(lines).split())
    return re.split(r"(?<=[.!?])\s", first, maxsplit=1)[0] or None


@click.command()
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table: name, "
              "path, source, study, trainer, dataset, metrics, description, error.")
def spaces(as_json: bool) -> None:
    """List the spec files that `--space NAME` finds."""
    rows = space_rows()
    if as_json:
        from automl.cli.output import echo_json

        echo_json(rows)
        return
    if not rows:
        click.echo("no spec files (none in ./search_spaces, none installed)")
        return
    from rich.table import Table

    from automl.cli.console import console

    table = Table(title="search spaces (--space NAME)")
    cols = ("name", "trainer", "dataset", "study", "description", "path")
    for col in cols:
        table.add_column(col)
    for row in rows:
        cells = {**row, "description": f"unreadable: {row['error']}" if row["error"]
                 else row["description"]}
        table.add_row(*(cells[c] or "-" for c in cols))
    console().print(table)
