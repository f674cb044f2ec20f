"""The search-space file: safe YAML, the typed spec, the param tree, and finding spec files."""

from __future__ import annotations

from automl.spec.durations import parse_duration
from automl.spec.keypath import Locator, did_you_mean, format_path, parse_path
from automl.spec.locate import list_spaces, resolve_space_path
from automl.spec.model import (
    BudgetSpec,
    ConstraintSpec,
    DatasetSpec,
    EarlyStoppingSpec,
    EnsembleSpec,
    ExecutionSpec,
    ObjectiveSpec,
    PrunerSpec,
    ReportSpec,
    SamplerSpec,
    Spec,
    SplitSpec,
    load_spec,
)
from automl.spec.overrides import apply_overrides, parse_set_options
from automl.spec.params import (
    CategoricalParam,
    Condition,
    FixedParam,
    FloatParam,
    GroupBlock,
    IntParam,
    Param,
    RepeatBlock,
    Space,
)
from automl.spec.space_parser import parse_space
from automl.spec.yaml_loader import LineMap, load_yaml, parse_yaml

__all__ = [
    "BudgetSpec",
    "ConstraintSpec",
    "CategoricalParam",
    "Condition",
    "DatasetSpec",
    "EarlyStoppingSpec",
    "EnsembleSpec",
    "ExecutionSpec",
    "FixedParam",
    "FloatParam",
    "IntParam",
    "LineMap",
    "Locator",
    "ObjectiveSpec",
    "Param",
    "PrunerSpec",
    "GroupBlock",
    "RepeatBlock",
    "ReportSpec",
    "SamplerSpec",
    "Space",
    "Spec",
    "SplitSpec",
    "apply_overrides",
    "did_you_mean",
    "format_path",
    "list_spaces",
    "load_spec",
    "load_yaml",
    "parse_duration",
    "parse_path",
    "parse_set_options",
    "parse_space",
    "parse_yaml",
    "resolve_space_path",
]
