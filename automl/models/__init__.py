"""Using what a search found: model bundles, loading them, predicting, exporting.

``bundle`` (the folder format, data only), ``model`` (:class:`Model`: ``predict`` and
``predict_proba`` on new raw data), ``load`` (:func:`load`, also :func:`automl.load`) and
``export`` (any trial as a bundle, ONNX where the trainer can).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from automl._lazy import lazy_exports

if TYPE_CHECKING:
    from automl.models.bundle import BundleRecord, read_bundle, write_bundle
    from automl.models.export import export_onnx, export_trial
    from automl.models.load import load
    from automl.models.model import Model

__all__ = ["BundleRecord", "Model", "export_onnx", "export_trial", "load", "read_bundle",
           "write_bundle"]
_EXPORTS = {
    "BundleRecord": "automl.models.bundle", "read_bundle": "automl.models.bundle",
    "write_bundle": "automl.models.bundle", "export_onnx": "automl.models.export",
    "export_trial": "automl.models.export", "load": "automl.models.load",
    "Model": "automl.models.model",
}
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
