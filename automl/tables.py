"""Tables into datasets: a target column into classes or numbers, the other columns into
features by their schema (:class:`automl.schema.InputSchema`) and nothing else.

Used by the ``csv`` and ``parquet`` loaders of :mod:`automl_plugins.data_files`, by
``automl.search(data=DataFrame, target=...)`` and by any dataset plugin
(``automl.plugin.table_dataset``). **What is fitted where**: a loader returns the whole
dataset and the engine splits it afterwards, so nothing here may learn from the values of
rows that end up in the validation or test split. Categorical columns are one-hot encoded
over their set of values (part of each column's schema; the target is never looked at; a
missing value is a category of its own, ``column=(missing)``), numeric columns pass
through with missing values kept as ``NaN``. What is fitted from value statistics happens
inside each trial on the training split only (the scikit-learn trainers' imputation and
scaling, ``TorchTrainer(standardize=True)``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from automl.data import Dataset, Task
from automl.errors import DataError
from automl.hints import did_you_mean
from automl.log import get_logger
from automl.schema import MISSING, InputSchema, TableColumn, label_text, labels_of

__all__ = ["MAX_CLASSES_GUESSED", "TASKS", "encode_target", "names_arg", "shown",
           "table_dataset"]

logger = get_logger(__name__)

TASKS: tuple[Task, ...] = ("classification", "regression")
MAX_CLASSES_GUESSED = 20  # integer targets with at most this many values: classification


# -- arguments -------------------------------------------------------------------------------

def names_arg(value: Any, arg: str, source: str) -> list[str]:
    """A list of column names from the spec (a single name is accepted too)."""
    if value is None:
        return []
    if isinstance(value, str):
        return [value]
    if isinstance(value, Sequence) and all(isinstance(v, (str, int)) for v in value):
        return [str(v) for v in value]
    raise DataError(f"{source}: {arg} must be a list of column names, got {value!r}")


def _check_columns(names: list[str], columns: list[str], arg: str, source: str) -> None:
    for name in names:
        if name not in columns:
            raise DataError(f"{source}: {arg} names column {name!r}, which the file does not "
                            f"have{did_you_mean(name, columns)}; columns: {shown(columns)}")


def shown(items: Sequence[str], limit: int = 12) -> str:
    head = ", ".join(str(i) for i in items[:limit])
    return head + (f", ... ({len(items)} in all)" if len(items) > limit else "")


def _rows(mask: np.ndarray, limit: int = 5, first: int = 1) -> str:
    """1-based row numbers (data rows, after any header) of the first hits of ``mask``;
    ``first``: the row number of the mask's first row (a file read in chunks)."""
    rows = np.flatnonzero(mask)[:limit] + first
    more = ", ..." if mask.sum() > limit else ""
    return ", ".join(str(r) for r in rows) + more


# -- targets ---------------------------------------------------------------------------------

def _set_task(source: str, value: str = "") -> str:
    """How the user sets the task: the spec's ``dataset.task`` for a data file, the
    ``task=`` of :func:`automl.search` for data given in memory (``source`` ``"data"``)."""
    if source == "data":
        return f"give task={value!r}" if value else "give task="
    return f"set dataset.task: {value}" if value else "set dataset.task:"


def encode_target(values: Any, *, task: str | None, classes: Any, source: str,
                  column: str = "target") -> tuple[np.ndarray, Task, tuple[str, ...]]:
    """Targets to ``(y, task, class_names)``: class indices in a fixed order, or floats.

    ``task`` ``None`` guesses: text and booleans are classes, integers with at most
    ``MAX_CLASSES_GUESSED`` distinct values are classes, other numbers a regression
    target. Classes are ordered as ``classes`` lists them, else sorted (numerically when
    they are numbers).
    """
    s = pd.Series(np.asarray(values) if not isinstance(values, pd.Series) else values)
    missing = s.isna().to_numpy()
    if missing.any():
        raise DataError(f"{source}: {column} is missing in {int(missing.sum())} row(s) (rows "
                        f"{_rows(missing)}); drop those rows or fill them in")
    numeric = pd.api.types.is_numeric_dtype(s) and not pd.api.types.is_bool_dtype(s)
    if task is None:
        task = "regression" if numeric else "classification"
        if numeric:
            v = s.to_numpy(dtype=np.float64)
            n_values = len(np.unique(v))
            if np.isfinite(v).all() and (v == np.round(v)).all() and n_values <= \
                    MAX_CLASSES_GUESSED:
                task = "classification"
            logger.info("%s: %s has %d distinct %s values: a %s task (%s to change it)",
                        source, column, n_values,
                        "integer" if task == "classification" else "numeric", task,
                        _set_task(source))
    if task not in TASKS:
        raise DataError(f"{source}: task must be classification or regression, got {task!r}")
    if task == "regression":
        if not numeric:
            example = s[pd.to_numeric(s, errors="coerce").isna()].iloc[0]
            raise DataError(f"{source}: {column} is not numeric (for example {example!r}), so "
                            f"it cannot be a regression target; "
                            f"{_set_task(source, 'classification')}")
        y = s.to_numpy(dtype=np.float64)
        if not np.isfinite(y).all():
            raise DataError(f"{source}: {column} holds infinite values (rows "
                            f"{_rows(~np.isfinite(y))})")
        return y.astype(np.float32), "regression", ()
    return _classes(s, classes, numeric, source, column)


def _classes(s: pd.Series, classes: Any, numeric: bool, source: str, column: str
             ) -> tuple[np.ndarray, Task, tuple[str, ...]]:
    labels = labels_of(s)
    found = labels.unique().tolist()
    if classes is not None:
        if isinstance(classes, str) or not isinstance(classes, Sequence):
            raise DataError(f"{source}: classes must be a list, got {classes!r}")
        order = [label_text(c) for c in classes]
        if len(set(order)) != len(order):
            raise DataError(f"{source}: classes lists a class twice: {order}")
        unknown = sorted(set(found) - set(order))
        if unknown:
            raise DataError(f"{source}: {column} holds values missing from classes: "
                            f"{shown(unknown)}")
        unused = [c for c in order if c not in set(found)]
        if unused:
            raise DataError(f"{source}: classes lists {shown(unused)}, which no row has")
    elif numeric:
        order = [label_text(v) for v in sorted(s.unique().tolist())]
    else:
        order = sorted(found)
    if len(order) < 2:
        raise DataError(f"{source}: {column} has a single class ({order[0]!r}); "
                        "classification needs at least two")
    index = {c: i for i, c in enumerate(order)}
    y = labels.map(index).to_numpy(dtype=np.int64)
    counts = np.bincount(y, minlength=len(order))
    lonely = [f"{order[i]!r}" for i in np.flatnonzero(counts < 2)]
    if lonely:
        raise DataError(f"{source}: class {', '.join(lonely)} of {column} has a single row; "
                        "every class needs rows to train and to validate on (at least 3 for "
                        "a stratified train/val/test split): add rows or drop the class")
    return y, "classification", tuple(order)


# -- arrays ----------------------------------------------------------------------------------

def array_dataset(xs: np.ndarray, ys: np.ndarray, *, name: str, source: str,
                  task: str | None = None, classes: Any = None, x_label: str = "x",
                  y_label: str = "y") -> Dataset:
    """A :class:`Dataset` from a feature array and a target array (the npz loader's and
    ``automl.search(data=(X, y))``'s checks). Features of ``(n, features)`` are tabular,
    ``(n, channels, height, width)`` images; ``(n, height, width)`` gets one channel and
    ``(n,)`` one feature. ``x_label``/``y_label`` name the arrays in messages."""
    if not (np.issubdtype(xs.dtype, np.number) or xs.dtype == np.bool_):
        raise DataError(f"{source}: {x_label} is {xs.dtype}, not numbers")
    for label, array in ((x_label, xs), (y_label, ys)):
        if np.iscomplexobj(array):  # a cast to float would drop the imaginary part silently
            raise DataError(f"{source}: {label} holds complex numbers, not real ones")
        if array.ndim == 0:
            raise DataError(f"{source}: {label} is 0-d (a single value), not rows of data")
    if len(xs) == 0:
        raise DataError(f"{source}: {x_label} is empty")
    if ys.ndim == 2 and ys.shape[1] == 1:
        ys = ys.ravel()
    if ys.ndim != 1:
        raise DataError(f"{source}: {y_label} must be 1-D (one target per row), got shape "
                        f"{ys.shape}")
    if len(xs) != len(ys):
        raise DataError(f"{source}: {len(xs)} rows in {x_label.removeprefix('array ')} but "
                        f"{len(ys)} in {y_label.removeprefix('array ')}")
    features = xs.astype(np.float32)
    if features.ndim == 1:
        features = features[:, None]
    elif features.ndim == 3:
        features = features[:, None, :, :]
    if np.isinf(features).any():
        raise DataError(f"{source}: {x_label} holds infinite values")
    target, task_, class_names = encode_target(ys, task=task, classes=classes, source=source,
                                               column=y_label)
    return Dataset(name=name, x=features, y=target, task=task_, class_names=class_names)


# -- tables ----------------------------------------------------------------------------------

def table_dataset(frame: pd.DataFrame, *, name: str, target: str, task: str | None = None,
                  features: Any = None, drop: Any = None, categorical: Any = None,
                  classes: Any = None, max_categories: int = 100,
                  source: str | None = None) -> Dataset:
    """A :class:`Dataset` from a table: the ``target`` column and the feature columns.

    Features are every other column unless ``features`` lists them; ``drop`` removes some.
    Numeric and boolean columns are numeric (missing values stay ``NaN``); text and
    categorical columns, and those listed in ``categorical``, are one-hot encoded as
    ``column=value``. A column of more than ``max_categories`` distinct values (an
    identifier, most likely) is an error. ``classes`` orders the target's classes.
    """
    source = source or f"dataset {name!r}"
    frame = frame.copy()
    frame.columns = [str(c) for c in frame.columns]
    columns = list(frame.columns)
    if not columns:
        raise DataError(f"{source}: the file has no columns")
    dupes = sorted({c for c in columns if columns.count(c) > 1})
    if dupes:
        raise DataError(f"{source}: column names appear twice: {shown(dupes)}")
    if len(frame) == 0:
        raise DataError(f"{source}: the file has a header but no data rows")
    if not isinstance(target, str) or not target:
        raise DataError(f"{source}: target must name the column to predict")
    if target not in columns:
        raise DataError(f"{source}: no target column {target!r}{did_you_mean(target, columns)}; "
                        f"columns: {shown(columns)}")
    chosen = names_arg(features, "features", source)
    dropped = names_arg(drop, "drop", source)
    forced = names_arg(categorical, "categorical", source)
    for arg, names in (("features", chosen), ("drop", dropped), ("categorical", forced)):
        _check_columns(names, columns, arg, source)
    if target in chosen or target in forced:
        raise DataError(f"{source}: the target column {target!r} cannot be a feature")
    if not isinstance(max_categories, int) or max_categories < 2:
        raise DataError(f"{source}: max_categories must be an integer >= 2")

    feats = [c for c in (chosen or columns) if c != target and c not in dropped]
    check_table_cells(frame[[target, *feats]], source)
    y, task_, class_names = encode_target(frame[target], task=task, classes=classes,
                                          source=source, column=f"target column {target!r}")
    numeric, categorical_cols, empty = _column_kinds(frame, feats, set(forced), source)
    # an infinite feature survives float32 and turns every loss into NaN
    check_finite(pd.DataFrame({col: pd.to_numeric(frame[col], errors="coerce")
                               for col in numeric}), source,
                 hint="; mark them missing or drop the column")
    if empty:
        logger.warning("%s: column(s) %s hold no values and are dropped", source, shown(empty))
    for col in categorical_cols:
        n_values = frame[col].nunique(dropna=True)
        if n_values > max_categories:
            raise DataError(
                f"{source}: categorical column {col!r} has {n_values} distinct values (more "
                f"than max_categories={max_categories}); if it is an identifier drop it "
                f"(drop: [{col}]), else raise max_categories")
    if not numeric and not categorical_cols:
        raise DataError(f"{source}: no feature columns left besides the target")

    schema = InputSchema.table(
        [TableColumn(c, "numeric") for c in numeric]
        + [TableColumn(c, "categorical", _categories(frame[c])) for c in categorical_cols],
        task=task_, ignored=[c for c in columns if c not in numeric and c not in
                             categorical_cols and c != target],
        classes=class_names, class_type=_target_type(frame[target]), target=target)
    x, names = schema.encode(frame, source), list(schema.feature_names)
    n_missing = int(np.isnan(x).sum())
    if n_missing:
        cols = [c for c in numeric if frame[c].isna().any()]
        logger.warning("%s: %d missing value(s) in numeric column(s) %s; the scikit-learn "
                       "trainers impute them from each trial's training split, a torch "
                       "model needs complete data", source, n_missing, shown(cols))
    logger.info("%s: %d rows, %d numeric + %d categorical columns -> %d features, %s%s",
                source, len(y), len(numeric), len(categorical_cols), x.shape[1], task_,
                f" with {len(class_names)} classes" if class_names else "")
    return Dataset(name=name, x=x, y=y, task=task_, feature_names=tuple(names),
                   class_names=class_names, schema=schema)


def _column_kinds(frame: pd.DataFrame, feats: list[str], forced: set[str], source: str
                  ) -> tuple[list[str], list[str], list[str]]:
    numeric: list[str] = []
    categorical: list[str] = []
    empty: list[str] = []
    for col in feats:
        s = frame[col]
        if s.isna().all():
            empty.append(col)
        elif col in forced:
            categorical.append(col)
        elif pd.api.types.is_bool_dtype(s) or pd.api.types.is_numeric_dtype(s):
            numeric.append(col)
        elif pd.api.types.is_datetime64_any_dtype(s) or pd.api.types.is_timedelta64_dtype(s):
            raise DataError(f"{source}: column {col!r} holds dates or times; turn it into "
                            f"numbers or drop it (drop: [{col}])")
        elif _numbers_as_text(s, col, source):
            frame[col] = pd.to_numeric(s)
            numeric.append(col)
        else:
            categorical.append(col)
    return numeric, categorical, empty


def _numbers_as_text(s: pd.Series, col: str, source: str) -> bool:
    """True for a text column whose values are all numbers; an error for one whose values
    are nearly all numbers (a stray ``?`` or ``n/a`` is much likelier than a category)."""
    present = s.notna().to_numpy()
    parsed = pd.to_numeric(s, errors="coerce").notna().to_numpy()
    bad = present & ~parsed
    if not bad.any():
        return True
    if bad.sum() <= 0.1 * present.sum() and parsed.any():
        example = s[bad].iloc[0]
        fix = "(replace them with NaN in the DataFrame)" if source == "data" else \
            f"(set dataset.na_values: [{example!r}]) or list the column in dataset.categorical"
        raise DataError(f"{source}: column {col!r} is numeric but for {int(bad.sum())} value(s) "
                        f"such as {example!r} (rows {_rows(bad)}); mark them missing {fix}")
    return False


def _categories(values: pd.Series) -> tuple[str, ...]:
    """A categorical column's categories as one-hot encoding sorts them; a missing value is
    a category of its own where the column has one."""
    labels = labels_of(values).fillna(MISSING)
    return tuple(sorted(labels.unique().tolist()))


def _target_type(values: pd.Series) -> str:
    """What type the target's labels had, to give predictions back as such."""
    if pd.api.types.is_bool_dtype(values):
        return "bool"
    if pd.api.types.is_numeric_dtype(values):
        v = values.dropna().to_numpy(dtype=np.float64)
        return "int" if (v == np.round(v)).all() else "float"
    return "str"


# -- files -------------------------------------------------------------------------------------

_SEPARATORS = {",": "comma", ";": "semicolon", "\t": "tab", "|": "pipe"}


def check_text_file(path: Any, source: str, encoding: str = "utf-8", *,
                    spec: bool = True) -> None:
    """Refuse a file that is not text in ``encoding`` before pandas parses it: binary data
    (NUL bytes) and UTF-16 would otherwise read as one garbage column or a decoder's
    traceback. Reads the first 64 KiB only. ``spec``: the file is a spec's dataset, whose
    ``dataset.encoding`` the message may point at (not a file given to ``predict``)."""
    with open(path, "rb") as fh:
        head = fh.read(1 << 16)
    utf16 = "utf-16" in encoding.lower().replace("_", "-")
    if head.startswith((b"\xff\xfe", b"\xfe\xff")) and not utf16:
        fix = " (or set dataset.encoding: utf-16)" if spec else ""
        raise DataError(f"{source} is UTF-16 text; save it as UTF-8{fix}")
    if b"\x00" in head and not utf16:
        raise DataError(f"{source} holds binary data (NUL bytes), not {encoding} CSV text")


def check_separator(frame: pd.DataFrame, source: str, sep: str = ",", *,
                    spec: bool = True) -> None:
    """Refuse a table read as a single column because its separator is another one; the
    hint names the spec key (``dataset.sep``), or for a file given to ``predict``, the
    file to fix: the data is at fault there, not the command."""
    if frame.shape[1] != 1:
        return
    header = str(frame.columns[0])
    for other, word in _SEPARATORS.items():
        if other != sep and other in header:
            fix = f"set dataset.sep: {other!r}" if spec else \
                f"save it {_SEPARATORS[sep]}-separated, as the model reads it"
            raise DataError(f"{source} reads as a single column {header[:60]!r}: its "
                            f"separator looks like {word} {other!r}, not {sep!r} ({fix})")


def check_array_file(path: Any, source: str, names: Sequence[str] | None = None) -> None:
    """Check the headers of a ``.npy`` file, or of the arrays ``names`` (all, by default)
    of a ``.npz`` file, before any is loaded: an array of objects, of complex numbers or
    of no dimension (a single value) is refused, and so is a header that claims more bytes
    than the file holds (a file of a few bytes may claim terabytes: loading it would try to
    allocate them). Reads headers only."""
    import os
    import zipfile

    with open(path, "rb") as fh:
        magic = fh.read(6)
    if magic == b"\x93NUMPY":
        with open(path, "rb") as fh:
            _check_npy_header(fh, os.path.getsize(path), source, "the array")
        return
    if not zipfile.is_zipfile(path):
        return  # np.load says what it is not
    try:
        with zipfile.ZipFile(path) as zf:
            members = {m.filename.removesuffix(".npy"): m for m in zf.infolist()}
            for name in names if names is not None else list(members):
                member = members.get(name)
                if member is None:
                    continue  # the caller says which arrays there are
                with zf.open(member) as fh:
                    _check_npy_header(fh, member.file_size, source, f"array {name!r}")
    except (zipfile.BadZipFile, OSError, EOFError) as exc:
        raise DataError(f"{source} cannot be read as .npz: {exc}") from None


def load_plain_array(path: Any, source: str, mmap_mode: Any = None) -> Any:
    """``np.load`` of a NumPy file that never unpickles: a ``.npy`` file's array (its
    header checked first, :func:`check_array_file`) or a ``.npz`` file's lazy archive
    (whose arrays the caller checks by name before reading them). A file that holds a
    pickle, whatever its name, is a :class:`DataError` in automl's words: numpy's own
    invites loading it unsafely, and a data file or report folder may come from anyone."""
    from pathlib import Path

    if Path(path).is_file():  # a missing file: np.load's own OSError
        check_array_file(path, source, [])  # a .npy header; no .npz member yet
    try:
        return np.load(path, mmap_mode=mmap_mode, allow_pickle=False)
    except ValueError as exc:
        if "pickled" not in str(exc):
            raise
        raise DataError(f"{source} holds pickled Python objects, not a plain array: refused "
                        "(automl never unpickles a file)") from None


def _check_npy_header(fh: Any, size: int, source: str, label: str) -> None:
    fmt = np.lib.format
    try:
        version = fmt.read_magic(fh)
        read = fmt.read_array_header_1_0 if version == (1, 0) else fmt.read_array_header_2_0
        shape, _, dtype = read(fh, max_header_size=10_000)
    except (ValueError, OSError, EOFError) as exc:
        raise DataError(f"{source}: {label} has a broken .npy header: {exc}") from None
    if dtype.hasobject:
        raise DataError(f"{source}: {label} holds Python objects, not numbers: refused "
                        "(automl never unpickles a file)")
    if dtype.kind == "c":
        raise DataError(f"{source}: {label} holds complex numbers; save the real and "
                        "imaginary parts as separate features")
    if len(shape) == 0:
        raise DataError(f"{source}: {label} is 0-d (a single value), not rows of data")
    claimed = int(np.prod(shape, dtype=object)) * dtype.itemsize
    if claimed > size:
        raise DataError(f"{source}: {label} claims shape {shape} of {dtype} ({claimed} bytes) "
                        f"but the file holds {size}: truncated or forged")


def check_table_cells(frame: pd.DataFrame, source: str, *, spec: bool = True) -> None:
    """Refuse columns that hold lists, dicts or arrays (Parquet nested types) or complex
    numbers: no feature encoding fits them, and they crash one later. ``spec``: the table
    is a spec's dataset, whose ``drop:`` the message may suggest (new data for a model
    has no spec)."""
    for col in frame.columns:
        s = frame[col]
        if pd.api.types.is_complex_dtype(s):
            raise DataError(f"{source}: column {col!r} holds complex numbers; save the real "
                            "and imaginary parts as separate columns")
        if s.dtype != object:
            continue
        nested = s.map(lambda v: isinstance(v, (list, tuple, dict, set, np.ndarray))
                       or isinstance(v, complex))
        if nested.any():
            row = int(np.flatnonzero(nested.to_numpy())[0]) + 1
            kind = type(s[nested].iloc[0]).__name__
            drop = f"drop it (drop: [{col}])" if spec else "leave it out"
            raise DataError(f"{source}: column {col!r} holds {kind} values (row {row}), not "
                            f"single values; flatten it or {drop}")


def check_finite(data: Any, source: str, first_row: int = 1, hint: str = "") -> None:
    """Refuse infinite values in a table's numeric columns or a numeric array (a model
    would fail on them with a message that blames the model, and in training they turn
    every loss into NaN). ``first_row``: the file row number of ``data``'s first row (a
    chunk of a file), so that the rows named are the file's; ``hint``: what the user can
    do, appended to the message."""
    if isinstance(data, pd.DataFrame):
        for col in data.columns:
            s = data[col]
            if pd.api.types.is_numeric_dtype(s) and not pd.api.types.is_bool_dtype(s):
                infinite = np.isinf(s.to_numpy(dtype=float, na_value=np.nan))
                if infinite.any():
                    raise DataError(f"{source}: column {col!r} holds infinite values (rows "
                                    f"{_rows(infinite, first=first_row)}){hint}")
    elif isinstance(data, np.ndarray) and np.issubdtype(data.dtype, np.floating):
        if np.isinf(data).any():
            raise DataError(f"{source}: the array holds infinite values{hint}")
