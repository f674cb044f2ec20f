"""ONNX export of a scikit-learn trial's model (:meth:`SklearnTrainer.export_onnx`), with
`skl2onnx <https://onnx.ai/sklearn-onnx/>`_ (``pip install automl[onnx]``).

The exported graph takes what :meth:`SklearnTrainer.predict` takes and gives what it gives:

- input ``x``: float32 features of shape ``(n, *info.input_shape)`` with a dynamic batch
  dimension (image samples are flattened inside the graph, as the trainer flattens them),
  raw: the preprocessing fitted on the training split (median imputation with missing-value
  indicators, standardization) is inside;
- output ``probabilities`` (classification): ``(n, info.n_outputs)``; a class absent from
  the training split gets a column of zeros, as in :meth:`FittedModel.outputs`;
- output ``predictions`` (regression): ``(n,)`` in the target's units (the standardized
  target the estimator predicts is mapped back inside the graph).

These are the graph's only outputs (skl2onnx's ``label`` output, and the nodes that only
it needs, are removed).

**Precision.** The graph computes in float32 where scikit-learn computes in float64 (on
the same float32 inputs): linear, kernel and distance models agree to about 1e-5
relative. Tree thresholds: skl2onnx moves each random-forest threshold to the float32
value that splits float32 inputs exactly as scikit-learn does; histogram gradient boosting
compares in float32 against thresholds rounded to float32, so an input within float32
rounding of a threshold can take the other branch. k-nearest neighbours can swap two
neighbours at (nearly) equal distances. Missing values (NaN) in a random forest take the
branch scikit-learn sends them to (its ``missing_go_to_left``, set here on the ONNX tree
nodes, which skl2onnx leaves unset); histogram gradient boosting's own missing-value
branches are kept by skl2onnx.

**Refused.** A model skl2onnx cannot convert raises :class:`automl.errors.UsageError`
naming the trainer, the estimator's type and skl2onnx's reason.
"""

from __future__ import annotations

import contextlib
import copy
import warnings
from collections.abc import Iterator
from math import prod
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin

from automl.data import DataInfo
from automl.errors import UsageError

if TYPE_CHECKING:
    from onnx import ModelProto

    from automl_plugins.sklearn_fitted import FittedModel

__all__ = ["INPUT", "OPSET", "OUTPUTS", "export_onnx", "to_onnx_model"]

OPSET = 17
INPUT = "x"
OUTPUTS: dict[str, str] = {"classification": "probabilities", "regression": "predictions"}


def _modules(name: str) -> tuple[Any, Any]:
    try:
        import onnx
        import skl2onnx
    except ImportError as exc:
        raise UsageError(f"{name}: exporting scikit-learn models to ONNX needs onnx and "
                         f"skl2onnx ({exc.name} is not installed): pip install automl[onnx]"
                         ) from None
    return onnx, skl2onnx


def export_onnx(name: str, model: FittedModel, info: DataInfo, path: Path) -> None:
    """Write ``model`` (trained by the trainer ``name`` on data described by ``info``) to
    ``path`` as an ONNX model; see the module docstring for its input and output."""
    onnx, _ = _modules(name)
    proto = to_onnx_model(name, model, info)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    onnx.save_model(proto, str(tmp))
    tmp.replace(path)  # a reader never sees half a model


def to_onnx_model(name: str, model: FittedModel, info: DataInfo) -> ModelProto:
    """``model`` as an ONNX ``ModelProto`` (checked with ``onnx.checker``)."""
    onnx, skl2onnx = _modules(name)
    from skl2onnx.common.data_types import FloatTensorType

    est = model.estimator
    if model.preprocessor is None:
        pipe: Any = est
    else:
        from sklearn.pipeline import Pipeline

        pipe = Pipeline([("pre", _convertible(model.preprocessor)), ("model", est)])
    classification = model.task == "classification"
    options = {id(est): {"zipmap": False}} if classification else None
    n_features = int(prod(info.input_shape))
    try:
        _register_imputer(skl2onnx)
        with _int_missing_flags(), warnings.catch_warnings():
            # skl2onnx reads SVC's probA_/probB_, deprecated in scikit-learn 1.9 (unused
            # here: the built-in svm calibrates with CalibratedClassifierCV).
            warnings.filterwarnings("ignore", category=FutureWarning,
                                    message=r"Attribute `prob[AB]_` was deprecated")
            proto = skl2onnx.to_onnx(pipe, initial_types=[
                (INPUT, FloatTensorType([None, n_features]))], options=options,
                target_opset=OPSET)
    except Exception as exc:  # skl2onnx's errors have no common type
        reason = " ".join(str(exc).split()) or type(exc).__name__
        reason = reason.split(". ")[0].rstrip(".")  # skl2onnx's first sentence says why
        if len(reason) > 300:
            reason = reason[:297] + "..."
        raise UsageError(f"{name}: scikit-learn model {type(est).__name__} cannot be "
                         f"exported to ONNX (skl2onnx: {reason})") from exc
    graph = proto.graph
    _set_missing_branches(graph, est)
    raw = _raw_output(graph, classification, name, est)
    output = OUTPUTS[model.task]
    if raw == output:  # free the name for the graph's final output
        raw = _rename(graph, raw, "_" + raw)
    h, tp = onnx.helper, onnx.TensorProto
    nodes: list[Any] = []
    if classification:
        classes = np.asarray(est.classes_).astype(np.int64)
        if len(classes) == model.n_outputs and (classes == np.arange(len(classes))).all():
            nodes.append(h.make_node("Identity", [raw], [output]))
        else:  # classes absent from training: zero columns, as FittedModel.outputs pads
            spread = np.zeros((len(classes), model.n_outputs), dtype=np.float32)
            spread[np.arange(len(classes)), classes] = 1.0
            graph.initializer.append(onnx.numpy_helper.from_array(spread, "_class_columns"))
            nodes.append(h.make_node("MatMul", [raw, "_class_columns"], [output]))
        out_shape: list[Any] = ["n", model.n_outputs]
    else:
        graph.initializer.extend([
            onnx.numpy_helper.from_array(np.array(model.y_std, dtype=np.float32), "_y_std"),
            onnx.numpy_helper.from_array(np.array(model.y_mean, dtype=np.float32), "_y_mean"),
            onnx.numpy_helper.from_array(np.array([-1], dtype=np.int64), "_flat"),
        ])
        nodes += [h.make_node("Mul", [raw, "_y_std"], ["_scaled"]),
                  h.make_node("Add", ["_scaled", "_y_mean"], ["_unscaled"]),
                  h.make_node("Reshape", ["_unscaled", "_flat"], [output])]
        out_shape = ["n"]
    graph.node.extend(nodes)
    del graph.output[:]
    graph.output.append(h.make_tensor_value_info(output, tp.FLOAT, out_shape))
    if len(info.input_shape) != 1:  # samples flattened inside the graph
        flat = _rename(graph, INPUT, "_x_flat")
        graph.initializer.append(onnx.numpy_helper.from_array(
            np.array([-1, n_features], dtype=np.int64), "_row_shape"))
        graph.node.insert(0, h.make_node("Reshape", [INPUT, "_row_shape"], [flat]))
        del graph.input[:]
        graph.input.append(h.make_tensor_value_info(INPUT, tp.FLOAT,
                                                    ["n", *info.input_shape]))
    else:
        graph.input[0].type.tensor_type.shape.dim[0].dim_param = "n"
    _prune(graph)
    proto.doc_string = (f"automl {name} ({model.task}): input {INPUT!r} float32 "
                        f"(n, {', '.join(map(str, info.input_shape))}), output {output!r}")
    onnx.checker.check_model(proto, full_check=True)
    return proto


def _raw_output(graph: Any, classification: bool, name: str, est: Any) -> str:
    """The name of skl2onnx's probabilities (classification) or predictions output."""
    names = [o.name for o in graph.output]
    if classification:
        if "probabilities" in names:
            return "probabilities"
        if len(names) == 2:  # (label, probabilities), skl2onnx's order
            return names[1]
    elif len(names) == 1:
        return names[0]
    raise UsageError(f"{name}: scikit-learn model {type(est).__name__} cannot be exported to "
                     f"ONNX (skl2onnx gave unexpected outputs {names})")


def _rename(graph: Any, old: str, new: str) -> str:
    """Rename the value ``old`` to ``new`` in every node and graph output."""
    for node in graph.node:
        node.input[:] = [new if i == old else i for i in node.input]
        node.output[:] = [new if o == old else o for o in node.output]
    for value in graph.output:
        if value.name == old:
            value.name = new
    return new


def _prune(graph: Any) -> None:
    """Drop the nodes no graph output needs (skl2onnx's ``label`` branch)."""
    if any(a.type in (a.GRAPH, a.GRAPHS) for node in graph.node for a in node.attribute):
        return  # subgraphs may read outer values: keep everything
    needed = {o.name for o in graph.output}
    kept = []
    for node in reversed(graph.node):
        if any(o in needed for o in node.output):
            kept.append(node)
            needed.update(node.input)
    kept.reverse()
    del graph.node[:]
    graph.node.extend(kept)
    used = [init for init in graph.initializer if init.name in needed]
    del graph.initializer[:]
    graph.initializer.extend(used)


def _set_missing_branches(graph: Any, est: Any) -> None:
    """Send a missing value down the branch scikit-learn's trees send it (skl2onnx's
    random-forest converter leaves ``nodes_missing_value_tracks_true`` at 0: NaN would
    always take the false branch)."""
    trees = getattr(est, "estimators_", None)
    if not isinstance(trees, list) or not all(hasattr(t, "tree_") for t in trees):
        return
    left = [np.asarray(t.tree_.missing_go_to_left, dtype=np.int64) for t in trees]
    for node in graph.node:
        if node.domain != "ai.onnx.ml" or not node.op_type.startswith("TreeEnsemble"):
            continue
        attrs = {a.name: a for a in node.attribute}
        if not {"nodes_treeids", "nodes_nodeids", "nodes_modes",
                "nodes_missing_value_tracks_true"} <= set(attrs):
            continue
        tracks = attrs["nodes_missing_value_tracks_true"]
        values = [int(left[tree][nid]) if mode != b"LEAF" else 0 for tree, nid, mode in
                  zip(attrs["nodes_treeids"].ints, attrs["nodes_nodeids"].ints,
                      attrs["nodes_modes"].strings, strict=True)]
        del tracks.ints[:]
        tracks.ints.extend(values)


# -- what skl2onnx 1.20 gets wrong -----------------------------------------------------------

class NanImputer(BaseEstimator, TransformerMixin):
    """A fitted ``SimpleImputer`` (NaN as the missing value) as skl2onnx can convert it,
    missing-value indicator columns included: skl2onnx's own converter ignores
    ``add_indicator`` (its output then lacks the indicator columns and the next step's
    shapes do not match). Converted by :func:`_convert_imputer`; never fitted."""

    def __init__(self, statistics: np.ndarray, keep: np.ndarray,
                 indicator_features: np.ndarray | None) -> None:
        self.statistics = statistics  # fill value per input column
        self.keep = keep  # the columns kept (SimpleImputer drops empty ones unless told)
        self.indicator_features = indicator_features  # columns with an indicator, or None

    @classmethod
    def of(cls, imputer: Any) -> NanImputer:
        stats = np.asarray(imputer.statistics_, dtype=np.float64)
        keep = np.arange(len(stats)) if getattr(imputer, "keep_empty_features", False) \
            else np.flatnonzero(~np.isnan(stats))
        indicator = getattr(imputer, "indicator_", None)
        features = None if indicator is None else np.asarray(indicator.features_, dtype=int)
        return cls(stats, keep, features)

    def transform(self, x: np.ndarray) -> np.ndarray:  # for reference; the graph does this
        x = np.asarray(x, dtype=np.float64)
        out = np.where(np.isnan(x), self.statistics, x)[:, self.keep]
        if self.indicator_features is None or not len(self.indicator_features):
            return out
        return np.hstack([out, np.isnan(x[:, self.indicator_features]).astype(np.float64)])

    def n_outputs(self) -> int:
        extra = 0 if self.indicator_features is None else len(self.indicator_features)
        return len(self.keep) + extra


def _is_nan_imputer(step: Any) -> bool:
    from sklearn.impute import SimpleImputer

    missing = getattr(step, "missing_values", None)
    return isinstance(step, SimpleImputer) and isinstance(missing, float) and np.isnan(missing)


def _convertible(pre: Any) -> Any:
    """A copy of the fitted ColumnTransformer with each NaN ``SimpleImputer`` (alone or in a
    Pipeline) replaced by a :class:`NanImputer`; the original is untouched."""
    from sklearn.pipeline import Pipeline

    pre = copy.deepcopy(pre)
    for i, (label, part, columns) in enumerate(pre.transformers_):
        if _is_nan_imputer(part):
            pre.transformers_[i] = (label, NanImputer.of(part), columns)
        elif isinstance(part, Pipeline):
            part.steps = [(n, NanImputer.of(s) if _is_nan_imputer(s) else s)
                          for n, s in part.steps]
    return pre


_registered: list[bool] = []


def _register_imputer(skl2onnx: Any) -> None:
    if not _registered:
        skl2onnx.update_registered_converter(NanImputer, "AutomlNanImputer", _imputer_shape,
                                             _convert_imputer)
        _registered.append(True)


def _imputer_shape(operator: Any) -> None:
    from skl2onnx.common.data_types import FloatTensorType

    n = operator.inputs[0].get_first_dimension()
    operator.outputs[0].type = FloatTensorType([n, operator.raw_operator.n_outputs()])


def _convert_imputer(scope: Any, operator: Any, container: Any) -> None:
    """Where(IsNaN(x), statistics, x), the kept columns, then the indicators (0/1 floats)."""
    from onnx import TensorProto

    imp: NanImputer = operator.raw_operator
    x = operator.inputs[0].full_name

    def name(base: str) -> str:
        return scope.get_unique_variable_name(base)

    def constant(base: str, kind: int, values: np.ndarray) -> str:
        var = name(base)
        container.add_initializer(var, kind, list(values.shape), values.ravel().tolist())
        return var

    nan = name("isnan")
    container.add_node("IsNaN", [x], [nan], name=scope.get_unique_operator_name("IsNaN"))
    stats = constant("statistics", TensorProto.FLOAT, imp.statistics.astype(np.float32))
    filled = name("filled")
    container.add_node("Where", [nan, stats, x], [filled],
                       name=scope.get_unique_operator_name("Where"))
    parts = [filled]
    if len(imp.keep) != len(imp.statistics):
        kept = name("kept")
        container.add_node("Gather", [filled, constant("keep", TensorProto.INT64,
                                                       imp.keep.astype(np.int64))], [kept],
                           axis=1, name=scope.get_unique_operator_name("Gather"))
        parts = [kept]
    if imp.indicator_features is not None and len(imp.indicator_features):
        flags, values = name("flags"), name("indicators")
        container.add_node("Gather", [nan, constant("indicated", TensorProto.INT64,
                                                    imp.indicator_features.astype(np.int64))],
                           [flags], axis=1, name=scope.get_unique_operator_name("Gather"))
        container.add_node("Cast", [flags], [values], to=TensorProto.FLOAT,
                           name=scope.get_unique_operator_name("Cast"))
        parts.append(values)
    out = operator.outputs[0].full_name
    if len(parts) == 1:
        container.add_node("Identity", parts, [out],
                           name=scope.get_unique_operator_name("Identity"))
    else:
        container.add_node("Concat", parts, [out], axis=1,
                           name=scope.get_unique_operator_name("Concat"))


@contextlib.contextmanager
def _int_missing_flags() -> Iterator[None]:
    """skl2onnx 1.20 passes a leaf's ``nodes_missing_value_tracks_true`` of a histogram
    gradient boosting tree as a Python bool, which onnx refuses in an ints attribute (the
    conversion fails): pass it as an int for the duration of the conversion."""
    from skl2onnx.common import tree_ensemble

    original = getattr(tree_ensemble, "add_node", None)
    if original is None:  # another skl2onnx: nothing to mend
        yield
        return

    def add_node(*args: Any, nodes_missing_value_tracks_true: Any = 0, **kwargs: Any) -> Any:
        return original(*args, nodes_missing_value_tracks_true=int(
            bool(nodes_missing_value_tracks_true)), **kwargs)

    tree_ensemble.add_node = add_node
    try:
        yield
    finally:
        tree_ensemble.add_node = original
