"""What a model's input looks like, and how raw data becomes the features it was trained on.

An :class:`InputSchema` is data only (it round-trips through JSON) and travels with every
model bundle, so that new raw data is encoded exactly as the training data was:

- ``table``: named columns; ``numeric`` ones pass through as floats (missing values stay
  ``NaN``: the trainers impute them inside each trial), ``categorical`` ones are one-hot
  encoded over the categories seen in the whole dataset (a missing value is a category
  of its own, ``(missing)``; a category never seen encodes as all zeros). The training
  data of the table datasets is encoded by this very code (:meth:`InputSchema.encode`).
- ``array``: samples of a fixed shape (images, tensors), given as an array of
  ``(n, *shape)`` or ``(n, prod(shape))``.

Class labels go the other way: ``classes`` names class ``i`` (as text) and ``class_type``
says what type the labels had (``int``, ``float``, ``bool``, ``str``), so predictions come
back as the labels the data had.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from automl.errors import DataError

if TYPE_CHECKING:
    import pandas as pd

    from automl.data import Dataset

__all__ = ["MISSING", "InputSchema", "TableColumn", "label_text", "labels_of"]

MISSING = "(missing)"
Kind = Literal["table", "array"]


def label_text(value: Any) -> str:
    """A label as text: ``1.0`` -> ``"1"``, ``True`` -> ``"True"``, ``"a"`` -> ``"a"``."""
    if isinstance(value, (bool, np.bool_)):
        return str(bool(value))
    if isinstance(value, (int, np.integer)):
        return str(int(value))
    if isinstance(value, (float, np.floating)) and float(value).is_integer():
        return str(int(value))
    return str(value)


def labels_of(values: pd.Series) -> pd.Series:
    """Each value as its label text; missing values stay missing."""
    present = values.dropna().unique()
    return values.astype(object).map({v: label_text(v) for v in present})


def _class_type(values: Sequence[Any]) -> str:
    kinds = {type(v) for v in values}
    if kinds <= {bool, np.bool_}:
        return "bool"
    if all(isinstance(v, (int, np.integer)) and not isinstance(v, bool) for v in values):
        return "int"
    if all(isinstance(v, (int, float, np.integer, np.floating)) for v in values):
        return "int" if all(float(v).is_integer() for v in values) else "float"
    return "str"


@dataclass(frozen=True)
class TableColumn:
    """One input column of a table: ``numeric`` or ``categorical`` (with its categories)."""

    name: str
    kind: Literal["numeric", "categorical"]
    categories: tuple[str, ...] = ()


@dataclass(frozen=True)
class InputSchema:
    """How raw input becomes a model's features (see the module docstring)."""

    kind: Kind
    task: str
    shape: tuple[int, ...]  # one sample's features as the models see them
    columns: tuple[TableColumn, ...] = ()  # table: in the order they are encoded
    ignored: tuple[str, ...] = ()  # table: columns allowed in the input and left out
    classes: tuple[str, ...] = ()
    class_type: str = "str"
    target: str | None = None  # a column allowed in the input and left out
    feature_names: tuple[str, ...] = field(default=(), compare=False)
    scale: float = 1.0  # array: raw values times this are the features (digits: 1/16)

    # -- building ----------------------------------------------------------------------
    @classmethod
    def table(cls, columns: Sequence[TableColumn], *, task: str, ignored: Sequence[str] = (),
              classes: Sequence[str] = (), class_type: str = "str",
              target: str | None = None) -> InputSchema:
        numeric = [c for c in columns if c.kind == "numeric"]
        categorical = [c for c in columns if c.kind == "categorical"]
        ordered = (*numeric, *categorical)  # numeric features first, then the one-hot ones
        names = [c.name for c in numeric] + [f"{c.name}={v}" for c in categorical
                                             for v in c.categories]
        return cls(kind="table", task=task, shape=(len(names),), columns=ordered,
                   ignored=tuple(ignored), classes=tuple(classes), class_type=class_type,
                   target=target, feature_names=tuple(names))

    @classmethod
    def of_dataset(cls, dataset: Dataset) -> InputSchema:
        """The schema a dataset declares, or one read off its arrays (:meth:`of_info`)."""
        if dataset.schema is not None:
            return dataset.schema
        return cls.of_info(task=dataset.task, input_shape=dataset.x.shape[1:],
                           n_outputs=dataset.n_outputs, class_names=dataset.class_names,
                           feature_names=dataset.feature_names)

    @classmethod
    def of_info(cls, *, task: str, input_shape: Sequence[int], n_outputs: int,
                class_names: Sequence[str] = (), feature_names: Sequence[str] = (),
                target: str | None = None, scale: float = 1.0) -> InputSchema:
        """A schema for data of this shape: a table of numeric columns when the features
        are named and flat, an array of ``input_shape`` otherwise (whose raw values are
        multiplied by ``scale``; a DataFrame of it has ``feature_names`` as columns).
        ``target``: a column new data may hold, left out."""
        classes = tuple(class_names) or (
            tuple(str(i) for i in range(n_outputs)) if task == "classification" else ())
        class_type = _class_type([_parsed(c) for c in classes]) if classes else "str"
        shape = tuple(int(d) for d in input_shape)
        if len(shape) == 1 and feature_names and len(feature_names) == shape[0]:
            return cls.table([TableColumn(str(n), "numeric") for n in feature_names],
                             task=task, classes=classes, class_type=class_type, target=target)
        return cls(kind="array", task=task, shape=shape, classes=classes,
                   class_type=class_type, target=target,
                   feature_names=tuple(str(n) for n in feature_names), scale=float(scale))

    # -- JSON --------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "task": self.task, "shape": list(self.shape),
                "columns": [{"name": c.name, "kind": c.kind,
                             **({"categories": list(c.categories)} if c.categories else {})}
                            for c in self.columns],
                "ignored": list(self.ignored), "classes": list(self.classes),
                "class_type": self.class_type, "target": self.target,
                "feature_names": list(self.feature_names), "scale": self.scale}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> InputSchema:
        columns = tuple(TableColumn(c["name"], c["kind"], tuple(c.get("categories", ())))
                        for c in data.get("columns", ()))
        return cls(kind=data["kind"], task=data["task"], shape=tuple(data["shape"]),
                   columns=columns, ignored=tuple(data.get("ignored", ())),
                   classes=tuple(data.get("classes", ())),
                   class_type=data.get("class_type", "str"), target=data.get("target"),
                   feature_names=tuple(data.get("feature_names", ())),
                   scale=float(data.get("scale", 1.0)))

    # -- encoding ----------------------------------------------------------------------
    def encode(self, data: Any, source: str = "the input", first_row: int = 1) -> np.ndarray:
        """``data`` (a DataFrame, or an array of samples) as float32 features of
        ``(n, *shape)``; a :class:`~automl.errors.DataError` for input that does not fit
        (naming rows from ``first_row``: a chunk of a file gives its first row's number)."""
        if self.kind == "table":
            return self._encode_table(data, source, first_row)
        return self._encode_array(data, source)

    def _encode_array(self, data: Any, source: str) -> np.ndarray:
        if hasattr(data, "columns"):  # a DataFrame of the named features
            if self.feature_names:
                data = _frame_columns(data, list(self.feature_names),
                                      (self.target,) if self.target else (), source)
            elif self.target is not None and self.target in data.columns:
                data = data.drop(columns=[self.target])
            data = data.to_numpy()
        x = np.asarray(data)
        if x.dtype == object or not np.issubdtype(x.dtype, np.number):
            raise DataError(f"{source}: expected numbers, got values of type {x.dtype}")
        size = math.prod(self.shape)
        if x.shape[1:] != self.shape:
            if x.ndim >= 2 and math.prod(x.shape[1:]) == size:
                x = x.reshape(len(x), *self.shape)
            elif x.ndim == 1 and x.size == size:
                x = x.reshape(1, *self.shape)
            else:
                raise DataError(f"{source}: samples of shape {tuple(x.shape[1:])}, but the model "
                                f"takes {self.shape} ({size} values per sample)")
        x = x.astype(np.float32, copy=False)
        return x * np.float32(self.scale) if self.scale != 1.0 else x

    def _encode_table(self, data: Any, source: str, first_row: int = 1) -> np.ndarray:
        import pandas as pd

        names = [c.name for c in self.columns]
        if not hasattr(data, "columns"):
            x = np.asarray(data)
            if x.ndim == 2 and x.shape[1] == self.shape[0] and not any(
                    c.kind == "categorical" for c in self.columns):
                data = pd.DataFrame(x, columns=names)  # already the numeric features
            else:
                raise DataError(f"{source}: give a table with the columns {_shown(names)} "
                                "(a DataFrame or a file)")
        frame = _frame_columns(data, names, (*self.ignored, *((self.target,) if self.target
                                                             else ())), source)
        parts: list[np.ndarray] = []
        for column in self.columns:
            values = frame[column.name]
            if column.kind == "numeric":
                parts.append(_numeric(values, column.name, source, first_row)[:, None])
            else:
                labels = labels_of(values).fillna(MISSING)
                codes = pd.Index(list(column.categories)).get_indexer(labels)
                onehot = np.zeros((len(frame), len(column.categories)), dtype=np.float32)
                known = codes >= 0
                onehot[np.flatnonzero(known), codes[known]] = 1.0
                parts.append(onehot)
        if not parts:
            return np.zeros((len(frame), 0), dtype=np.float32)
        return np.concatenate(parts, axis=1).astype(np.float32)

    # -- labels --------------------------------------------------------------------------
    def labels(self, indices: np.ndarray) -> np.ndarray:
        """Class indices as the labels the data had (typed as ``class_type`` says)."""
        values = [_typed(c, self.class_type) for c in self.classes]
        return np.asarray(values, dtype=object if self.class_type == "str" else None)[
            np.asarray(indices, dtype=np.int64)]


def _frame_columns(frame: Any, names: list[str], allowed: Sequence[str],
                   source: str) -> pd.DataFrame:
    columns = [str(c) for c in frame.columns]
    missing = [n for n in names if n not in columns]
    if missing:
        raise DataError(f"{source}: missing column(s) {_shown(missing)}; the model takes "
                        f"{_shown(names)}")
    extra = [c for c in columns if c not in names and c not in allowed]
    if extra:
        raise DataError(f"{source}: unexpected column(s) {_shown(extra)}; the model takes "
                        f"{_shown(names)}")
    frame = frame.copy()
    frame.columns = columns
    return frame[names]


def _numeric(values: pd.Series, column: str, source: str, first_row: int = 1) -> np.ndarray:
    import pandas as pd

    parsed = pd.to_numeric(values, errors="coerce")
    bad = values.notna().to_numpy() & parsed.isna().to_numpy()
    if bad.any():
        at = int(np.flatnonzero(bad)[0])
        raise DataError(f"{source}: column {column!r} must be numeric, but row "
                        f"{at + first_row} holds {values.iloc[at]!r}")
    return parsed.to_numpy(dtype=np.float64)


def _parsed(text: str) -> Any:
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            continue
    return True if text == "True" else False if text == "False" else text


def _typed(text: str, class_type: str) -> Any:
    if class_type == "int":
        return int(float(text))
    if class_type == "float":
        return float(text)
    if class_type == "bool":
        return text == "True"
    return text


def _shown(items: Sequence[str], limit: int = 12) -> str:
    head = ", ".join(repr(i) for i in items[:limit])
    return head + (f", ... ({len(items)} in all)" if len(items) > limit else "")
