"""Datasets from files: ``csv``, ``parquet``, ``npz``, ``image_folder`` and ``saved``.

::

    dataset: {name: csv, path: data/train.csv, target: label}
    dataset: {name: parquet, path: data/houses.parquet, target: price, drop: [id]}
    dataset: {name: npz, path: data/arrays.npz}                  # arrays x and y
    dataset: {name: image_folder, path: data/pets, size: 64}     # a folder per class
    dataset: {name: saved, path: reports/run/data}   # what automl.search(data=...) saved

Relative paths start from the folder automl runs in. Bad data (a missing file or target
column, an empty file, a class with a single row, ...) raises
:class:`automl.plugin.DataError`: the CLI prints its one-line message and exits with 2.

**What is fitted where.** The table loaders encode by each column's schema only, never by
the values of the rows (``automl.plugin.table_dataset``, :mod:`automl.tables`); what is
fitted from value statistics happens inside each trial on its training split. The schema
travels with every model, so new data is encoded the same way at prediction. A torch model
needs complete numeric data, so the loader warns when values are missing.
"""

from __future__ import annotations

import zipfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from automl.plugin import (
    MISSING,
    DataError,
    Dataset,
    DatasetLoader,
    RegisterDataset,
    did_you_mean,
    get_logger,
    hookimpl,
    load_saved_dataset,
)

logger = get_logger("automl.plugins.data_files")


def data_file(path: Any, kind: str) -> Path:
    if not isinstance(path, (str, Path)) or not str(path):
        raise DataError(f"dataset {kind!r} needs a path: {{name: {kind}, path: FILE, ...}}")
    file = Path(path).expanduser()
    if not file.exists():
        raise DataError(f"{kind} file {str(path)!r} not found (relative paths start from "
                        f"{Path.cwd()})")
    if kind != "image_folder" and file.is_dir():
        raise DataError(f"{kind} file {str(path)!r} is a folder")
    return file


def names_arg(value: Any, arg: str, source: str) -> list[str]:
    """A list of names from the spec (a single name is accepted too)."""
    if value is None:
        return []
    if isinstance(value, str):
        return [value]
    if isinstance(value, (list, tuple)) and all(isinstance(v, (str, int)) for v in value):
        return [str(v) for v in value]
    raise DataError(f"{source}: {arg} must be a list of names, got {value!r}")


def shown(items: Sequence[str], limit: int = 12) -> str:
    head = ", ".join(str(i) for i in items[:limit])
    return head + (f", ... ({len(items)} in all)" if len(items) > limit else "")


__all__ = ["MISSING", "load_csv", "load_image_folder", "load_npz", "load_parquet"]

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp")
_GRAY_MODES = {"1", "L", "LA", "I", "I;16", "F"}


# -- loaders -------------------------------------------------------------------------------

def load_csv(*, path: str, target: str, task: str | None = None, features: Any = None,
             drop: Any = None, categorical: Any = None, classes: Any = None, sep: str = ",",
             na_values: Any = None, encoding: str = "utf-8",
             max_categories: int = 100) -> Dataset:
    """A CSV file with a header row; see :func:`table_dataset` for the columns.

    ``sep`` is the delimiter, ``na_values`` more strings that mean missing (``?``,
    ``-``), ``encoding`` the text encoding.
    """
    file = data_file(path, "csv")
    source = f"csv file {str(path)!r}"
    # pandas (through automl.tables) is imported where a table is read: every worker loads
    # this plugin, and most never read a file (0.45 s of CPU each at start). Built in, this
    # plugin may use the engine's file checks beyond the plugin API.
    import pandas as pd

    from automl.tables import check_separator, check_text_file, table_dataset

    check_text_file(file, source, encoding)
    try:
        frame = pd.read_csv(file, sep=sep, na_values=na_values, encoding=encoding,
                            low_memory=False)
    except pd.errors.EmptyDataError:
        raise DataError(f"{source} is empty") from None
    except pd.errors.ParserError as exc:
        raise DataError(f"{source} is not valid CSV: {exc}") from None
    except UnicodeDecodeError:
        raise DataError(f"{source} is not {encoding} text; set dataset.encoding: (latin-1, "
                        "for example)") from None
    except (ValueError, LookupError) as exc:  # an unknown encoding, a bad separator
        raise DataError(f"{source} cannot be read: {exc}") from None
    check_separator(frame, source, sep)
    return table_dataset(frame, name=file.stem, target=target, task=task, features=features,
                         drop=drop, categorical=categorical, classes=classes,
                         max_categories=max_categories, source=source)


def load_parquet(*, path: str, target: str, task: str | None = None, features: Any = None,
                 drop: Any = None, categorical: Any = None, classes: Any = None,
                 max_categories: int = 100) -> Dataset:
    """A Parquet file (needs ``pyarrow``: ``pip install 'automl[parquet]'``); see
    :func:`table_dataset` for the columns."""
    file = data_file(path, "parquet")
    source = f"parquet file {str(path)!r}"
    import pandas as pd

    from automl.tables import table_dataset

    try:
        frame = pd.read_parquet(file)
    except ImportError:
        raise DataError("reading parquet files needs pyarrow: pip install 'automl[parquet]'"
                        ) from None
    except Exception as exc:  # noqa: BLE001 - pyarrow's errors have no common base
        raise DataError(f"{source} cannot be read as parquet: {type(exc).__name__}: {exc}"
                        ) from None
    return table_dataset(frame, name=file.stem, target=target, task=task, features=features,
                         drop=drop, categorical=categorical, classes=classes,
                         max_categories=max_categories, source=source)


# -- arrays ----------------------------------------------------------------------------------

def load_npz(*, path: str, x: str = "x", y: str = "y", task: str | None = None,
             classes: Any = None) -> Dataset:
    """A NumPy ``.npz`` file (``np.savez``) with a feature array and a target array.

    ``x`` and ``y`` name the arrays. Features of shape ``(n, features)`` are tabular,
    ``(n, channels, height, width)`` images; ``(n, height, width)`` gets one channel.
    Pickled objects are refused: the file is data, never code.
    """
    file = data_file(path, "npz")
    source = f"npz file {str(path)!r}"
    from automl.tables import array_dataset, check_array_file, load_plain_array

    check_array_file(file, source, [x, y])  # headers first: a forged one claims terabytes
    try:
        # automl's one NumPy loader: a pickle under this name is refused in automl's
        # words, not numpy's (which suggests loading it unsafely)
        loaded = load_plain_array(file, source)
    except (ValueError, OSError, zipfile.BadZipFile, EOFError) as exc:
        raise DataError(f"{source} cannot be read as .npz of plain arrays: {exc}") from None
    if not isinstance(loaded, np.lib.npyio.NpzFile):
        raise DataError(f"{source} holds a single array; save features and targets with "
                        "np.savez(path, x=..., y=...)")
    with loaded as data:
        for key, arg in ((x, "x"), (y, "y")):
            if key not in data.files:
                raise DataError(f"{source} has no array {key!r} (set {arg}: to one of "
                                f"{shown(data.files)}){did_you_mean(key, data.files)}")
        try:
            xs, ys = data[x], data[y]
        except (ValueError, OSError, zipfile.BadZipFile, EOFError) as exc:
            raise DataError(f"{source} cannot be read as .npz of plain arrays: {exc}"
                            ) from None
    return array_dataset(xs, ys, name=file.stem, source=source, task=task, classes=classes,
                         x_label=f"array {x!r}", y_label=f"array {y!r}")


# -- images ----------------------------------------------------------------------------------

def _image_size(size: Any) -> tuple[int, int]:
    if isinstance(size, int) and not isinstance(size, bool):
        size = [size, size]
    if (isinstance(size, Sequence) and len(size) == 2
            and all(isinstance(s, int) and not isinstance(s, bool) and 1 <= s <= 4096
                    for s in size)):
        return int(size[0]), int(size[1])
    raise DataError(f"image_folder: size must be a number of pixels or [height, width], "
                    f"got {size!r}")


def load_image_folder(*, path: str, size: Any = 32, color: str = "auto",
                      extensions: Any = None) -> Dataset:
    """Images in one subfolder per class (``path/cat/1.png``, ``path/dog/7.jpg``).

    Each image is resized to ``size`` (``[height, width]``, or one number for a square)
    and scaled to [0, 1], giving samples of shape ``(channels, height, width)``.
    ``color``: ``gray`` (1 channel), ``rgb`` (3), or ``auto``: gray when every image is.
    Classes are the folder names, sorted. Needs Pillow: ``pip install 'automl[images]'``.
    """
    try:
        from PIL import Image, UnidentifiedImageError
    except ImportError:
        raise DataError("image_folder needs Pillow: pip install 'automl[images]'") from None
    root = data_file(path, "image_folder")
    source = f"image folder {str(path)!r}"
    if not root.is_dir():
        raise DataError(f"{source} is not a folder")
    height, width = _image_size(size)
    if color not in ("auto", "gray", "rgb"):
        raise DataError(f"{source}: color must be auto, gray or rgb, got {color!r}")
    exts = tuple(e.lower() if e.startswith(".") else f".{e.lower()}"
                 for e in names_arg(extensions, "extensions", source)) or IMAGE_EXTENSIONS
    class_dirs = sorted(d for d in root.iterdir() if d.is_dir() and not d.name.startswith("."))
    if len(class_dirs) < 2:
        raise DataError(f"{source} has {len(class_dirs)} class folder(s); image_folder expects "
                        "one subfolder of images per class, and at least two classes")
    files: list[tuple[Path, int]] = []
    for index, folder in enumerate(class_dirs):
        found = sorted(p for p in folder.rglob("*") if p.is_file() and p.suffix.lower() in exts
                       and not any(part.startswith(".") for part in p.relative_to(root).parts))
        if not found:
            raise DataError(f"{source}: class folder {folder.name!r} holds no images "
                            f"({', '.join(exts)})")
        if len(found) < 2:
            raise DataError(f"{source}: class {folder.name!r} has a single image; every "
                            "class needs images to train and to validate on")
        files += [(p, index) for p in found]

    mode = "L" if color == "gray" else "RGB"
    images = np.empty((len(files), height, width, 1 if mode == "L" else 3), dtype=np.uint8)
    all_gray = True
    for i, (file, _) in enumerate(files):
        try:
            with Image.open(file) as im:
                all_gray &= im.mode in _GRAY_MODES
                pixels = im.convert(mode).resize((width, height), Image.Resampling.BILINEAR)
                images[i] = np.asarray(pixels, dtype=np.uint8).reshape(height, width, -1)
        except (UnidentifiedImageError, OSError, ValueError) as exc:
            raise DataError(f"{source}: cannot read image {str(file)!r}: {exc}") from None
    if color == "auto" and all_gray:
        images = images[..., :1]  # converted from gray, the three channels are equal
    x = images.transpose(0, 3, 1, 2).astype(np.float32) / 255.0
    y = np.array([label for _, label in files], dtype=np.int64)
    logger.info("%s: %d images of %d classes as %dx%dx%d", source, len(y), len(class_dirs),
                x.shape[1], height, width)
    return Dataset(name=root.name, x=x, y=y, task="classification",
                   class_names=tuple(d.name for d in class_dirs))


LOADERS: list[DatasetLoader] = [
    DatasetLoader("csv", load_csv, "a CSV file: {path, target}; one-hot categoricals"),
    DatasetLoader("parquet", load_parquet, "a Parquet file: {path, target} (needs pyarrow)"),
    DatasetLoader("npz", load_npz, "NumPy .npz arrays: {path, x: x, y: y}"),
    DatasetLoader("image_folder", load_image_folder,
                  "images, one folder per class: {path, size: 32, color: auto}"),
    DatasetLoader("saved", load_saved_dataset,
                  "data given to automl.search(data=...), saved as arrays: {path}"),
]


@hookimpl
def register_datasets(register: RegisterDataset) -> None:
    for loader in LOADERS:
        register(loader)
