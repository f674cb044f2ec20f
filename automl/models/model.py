"""A model loaded from a bundle: ``predict`` and ``predict_proba`` on new raw data."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from automl.errors import AutomlError, DataError, TrialFailed, UsageError
from automl.models.bundle import BundleRecord, read_bundle
from automl.plugin.host import PluginHost, get_plugin_host
from automl.schema import InputSchema

__all__ = ["Model", "read_data"]

# Rows a file is read and predicted in at a time (a progress step of `automl predict`).
CHUNK_ROWS = 50_000


class Model:
    """A trained model and how to feed it (use :func:`automl.load`).

    ``X`` may be a pandas DataFrame (columns matched by name: a missing or unexpected
    column is a :class:`~automl.errors.DataError`; the target and the columns left out at
    training are allowed), a NumPy array of samples, or the path of a CSV, Parquet,
    ``.npy`` or ``.npz`` file. Raw data is encoded as the training data was (the bundle's
    :class:`~automl.schema.InputSchema`).
    """

    def __init__(self, record: BundleRecord, host: PluginHost | None = None) -> None:
        self.record = record
        host = (host or get_plugin_host()).collect()
        if record.trainer not in host.trainers:
            where = f" (plugin {record.plugin} {record.plugin_version or ''})".rstrip() \
                if record.plugin else ""
            raise UsageError(f"the model was trained by {record.trainer!r}{where}, which is "
                             f"not installed; install it to use this model")
        self.trainer = host.trainers.get(record.trainer)
        if not callable(getattr(self.trainer, "predict", None)):
            raise UsageError(f"trainer {record.trainer!r} cannot predict: it has no predict() "
                             "(automl.plugin.Predicts)")
        if not record.model_path.is_file():
            raise UsageError(f"{record.folder} has no {record.model_file}: its weights were "
                             "not kept; export the trial again (`automl export`)")

    @classmethod
    def from_folder(cls, path: str | Path, host: PluginHost | None = None) -> Model:
        """The model in a bundle folder, a report folder's ``best/`` or an ensemble folder
        (``reports/<study>/ensemble``: an :class:`automl.models.ensemble.EnsembleModel`)."""
        from automl.models.ensemble import ENSEMBLE_FILE, EnsembleModel

        if (Path(path) / ENSEMBLE_FILE).is_file():
            return EnsembleModel.from_folder(path, host)
        return cls(read_bundle(path), host)

    # -- what it is -------------------------------------------------------------------
    @property
    def params(self) -> dict[str, Any]:
        return dict(self.record.params)

    @property
    def metrics(self) -> dict[str, Any]:
        return dict(self.record.metrics)

    @property
    def schema(self) -> InputSchema:
        return self.record.schema

    @property
    def task(self) -> str:
        return self.record.info.task

    @property
    def classes(self) -> list[Any]:
        """The class labels, in the order of ``predict_proba``'s columns."""
        return self.schema.labels(np.arange(len(self.schema.classes))).tolist()

    def __repr__(self) -> str:
        trial = f", trial {self.record.trial}" if self.record.trial is not None else ""
        return (f"Model({self.record.trainer}, {self.task}, study {self.record.study!r}"
                f"{trial})")

    # -- using it ---------------------------------------------------------------------
    def encode(self, X: Any, source: str | None = None, *, first_row: int = 1) -> np.ndarray:
        """``X`` as the features the model takes (what an exported ONNX model takes);
        ``source`` names ``X`` in error messages, and ``first_row`` is the row number
        they give ``X``'s first row (a chunk of a file: the file's row numbers)."""
        from automl.tables import check_finite

        data, where = read_data(X), source or _source(X)
        # an infinite value is the data's fault: caught here, not blamed on the model
        # (the one check of it: iter_chunks leaves it to this)
        check_finite(data, where, first_row)
        return self.schema.encode(data, where, first_row)

    def _outputs(self, X: Any, source: str | None = None, first_row: int = 1) -> np.ndarray:
        x = self.encode(X, source, first_row=first_row)
        if len(x) == 0:
            return np.zeros((0, self.record.info.n_outputs) if self.task == "classification"
                            else (0,))
        return self.outputs_of(x)

    def outputs_of(self, x: np.ndarray) -> np.ndarray:
        """What the trainer gives for encoded features ``x`` (:meth:`encode`):
        probabilities (classification) or predictions (regression)."""
        try:
            out = self.trainer.predict(self.record.params, self.record.model_path, x,
                                       self.record.info)
        except AutomlError:
            raise
        except TrialFailed as exc:
            # The trainer's own clear reason (a damaged or foreign model file): the file
            # is at fault, not the command, so bad input (exit 2) in the trainer's words.
            where = str(self.record.model_path)
            raise DataError(exc.reason if where in exc.reason else f"{where}: {exc.reason}"
                            ) from None
        except Exception as exc:  # noqa: BLE001 - the plugin's error, as one line
            first = (str(exc).strip().splitlines() or [""])[0]
            raise AutomlError(f"{self.record.model_path}: the {self.record.trainer} model cannot "
                              f"be used: {type(exc).__name__}: {first}") from None
        return np.asarray(out)

    def predict_proba(self, X: Any) -> np.ndarray:
        """Class probabilities, one row per sample, columns in :attr:`classes` order."""
        if self.task != "classification":
            raise UsageError("predict_proba: this model is a regression model; use predict")
        return self._outputs(X)

    def predict(self, X: Any) -> np.ndarray:
        """The predicted label (classification) or value (regression) of each sample."""
        out = self._outputs(X)
        if self.task == "classification":
            return self.schema.labels(out.argmax(axis=1))
        return out.reshape(-1)

    def predict_frame(self, X: Any, source: str | None = None, *, first_row: int = 1) -> Any:
        """A DataFrame with ``prediction`` (and ``proba_<class>`` for classifiers) per row
        (``source`` and ``first_row``: as :meth:`encode`)."""
        import pandas as pd

        out = self._outputs(X, source, first_row)
        if self.task != "classification":
            return pd.DataFrame({"prediction": out.reshape(-1)})
        frame = pd.DataFrame({"prediction": self.schema.labels(out.argmax(axis=1))})
        for i, name in enumerate(self.schema.classes):
            frame[f"proba_{name}"] = out[:, i]
        return frame


def read_data(X: Any) -> Any:
    """``X`` as a DataFrame or an array: paths are read (CSV, Parquet, ``.npy``, ``.npz``)."""
    if not isinstance(X, (str, Path)):
        return X
    path = Path(X)
    if not path.is_file():
        raise DataError(f"no data file {str(X)!r}")
    from automl.tables import (
        check_array_file,
        check_separator,
        check_table_cells,
        load_plain_array,
    )

    suffix = path.suffix.lower()
    try:
        # NumPy files through the one loader that never unpickles (a forged header, a
        # pickle under a NumPy name: refused in automl's words, not numpy's)
        if suffix == ".npy":
            array = load_plain_array(path, str(path))
            if not isinstance(array, np.ndarray):  # an .npz archive under a .npy name
                array.close()
                raise DataError(f"{path} is an .npz archive, not a .npy array; name it .npz")
            return array
        if suffix == ".npz":
            with load_plain_array(path, str(path)) as arrays:
                names = list(arrays.files)
                if not names:
                    raise DataError(f"{path} holds no arrays")
                name = "x" if "x" in names else names[0]
                check_array_file(path, str(path), [name])
                return arrays[name]
        import pandas as pd

        if suffix in (".parquet", ".pq"):
            frame = pd.read_parquet(path)
            check_table_cells(frame, str(path), spec=False)
            return frame
        frame = _read_csv(path)
        check_separator(frame, str(path), _sep(path), spec=False)
        check_table_cells(frame, str(path), spec=False)
        return frame
    except DataError:
        raise
    except ValueError as exc:
        raise DataError(f"{path} cannot be read: {exc}") from None
    except Exception as exc:  # noqa: BLE001 - pandas' parse errors have no common base
        raise DataError(f"{path} cannot be read: {type(exc).__name__}: {exc}") from None


def _read_csv(path: Path, **kwargs: Any) -> Any:
    """A CSV file (or its chunks, with ``chunksize``), checked to be UTF-8 text first."""
    import pandas as pd

    from automl.tables import check_text_file

    check_text_file(path, str(path), spec=False)
    try:
        return pd.read_csv(path, sep=_sep(path), low_memory=False, **kwargs)
    except pd.errors.EmptyDataError:
        raise DataError(f"{path} is empty") from None
    except UnicodeDecodeError:
        raise DataError(f"{path} is not utf-8 text; save it as UTF-8") from None


def _sep(path: Path) -> str:
    """A ``.tsv`` file is tab-separated; every other text file, comma-separated."""
    return "\t" if path.suffix.lower() == ".tsv" else ","


def iter_chunks(path: Path, rows: int = CHUNK_ROWS) -> Iterator[Any]:
    """A CSV file in chunks of ``rows`` (other files at once).

    Infinite values are left to :meth:`Model.encode`, which checks each chunk once and
    names the file's rows (give it ``first_row``: the rows before the chunk, plus one)."""
    if path.suffix.lower() in (".csv", ".txt", ".tsv"):

        from automl.tables import check_separator, check_table_cells

        try:
            for chunk in _read_csv(path, chunksize=rows):
                check_separator(chunk, str(path), _sep(path), spec=False)
                check_table_cells(chunk, str(path), spec=False)
                yield chunk
        except DataError:
            raise
        except UnicodeDecodeError:
            raise DataError(f"{path} is not utf-8 text; save it as UTF-8") from None
        except Exception as exc:  # noqa: BLE001 - see read_data
            raise DataError(f"{path} cannot be read: {type(exc).__name__}: {exc}") from None
        return
    yield read_data(path)


def _source(X: Any) -> str:
    return f"{X}" if isinstance(X, (str, Path)) else "the input"
