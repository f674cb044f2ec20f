"""``--json`` output of the listing commands: one strict JSON document on stdout."""

from __future__ import annotations

import datetime as dt
import json
import math
from collections.abc import Mapping
from pathlib import PurePath
from typing import Any

import click


def jsonable(value: Any) -> Any:
    """``value`` as plain JSON data: NaN, inf, ``pd.NA`` and ``NaT`` become ``None``; numpy
    and pandas scalars become Python ones, timestamps ISO 8601 text, paths strings."""
    if value is None or isinstance(value, bool | str):
        return value
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        return float(value) if math.isfinite(value) else None
    if isinstance(value, Mapping):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        items = sorted(value, key=str) if isinstance(value, set | frozenset) else value
        return [jsonable(v) for v in items]
    if isinstance(value, dt.datetime | dt.date | dt.time):
        text = value.isoformat()
        return None if text == "NaT" else text  # pandas' NaT is a datetime
    if isinstance(value, PurePath):
        return str(value)
    return _foreign(value)


def _foreign(value: Any) -> Any:
    """numpy and pandas values (imported only when one shows up)."""
    import numpy as np
    import pandas as pd

    if value is pd.NA or value is pd.NaT:
        return None
    if isinstance(value, np.datetime64 | pd.Timestamp):
        stamp = pd.Timestamp(value)
        return None if pd.isna(stamp) else stamp.isoformat()
    if isinstance(value, np.ndarray | pd.Series | pd.Index):
        return [jsonable(v) for v in value.tolist()]
    if isinstance(value, pd.DataFrame):
        return [jsonable(r) for r in value.to_dict(orient="records")]
    if isinstance(value, np.generic):
        return jsonable(value.item())
    return str(value)


def echo_json(data: Any) -> None:
    """Print ``data`` as one JSON document (strict: never the invalid token ``NaN``)."""
    click.echo(json.dumps(jsonable(data), indent=2, allow_nan=False))
