"""Building the sampler and pruner a spec names from what plugins registered."""

from __future__ import annotations

import inspect
import re
from collections.abc import Callable, Mapping
from typing import Any

import optuna

from automl.log import get_logger
from automl.plugin.algorithms import AlgorithmError, PrunerPlugin, SamplerPlugin, SearchContext

logger = get_logger(__name__)


def build_sampler(plugin: SamplerPlugin, seed: int | None, options: Mapping[str, Any],
                  ctx: SearchContext) -> optuna.samplers.BaseSampler:
    """Build ``plugin``'s sampler; an :class:`AlgorithmError` for what it cannot do."""
    if ctx.multi_objective and not plugin.multi_objective:
        raise AlgorithmError("name", f"sampler {plugin.name!r} cannot optimize several "
                                     "objectives; use tpe, nsga2, random or gp")
    if ctx.constraints and not plugin.constraints:
        logger.warning("sampler %r does not use constraints when sampling (tpe, nsga2 and gp "
                       "do); infeasible trials are still marked and ranked last", plugin.name)
    try:
        sampler = plugin.build(seed, dict(options), ctx)
    except AlgorithmError:
        raise
    except (TypeError, ValueError) as exc:
        key = _blame(lambda opts: plugin.build(seed, opts, ctx), options)
        raise AlgorithmError(key, f"sampler {plugin.name!r}: {_option(key, options)}"
                                  f"{_plain(exc)}") from None
    check_option_types(type(sampler).__init__, options, f"sampler {plugin.name!r}")
    return sampler


def build_pruner(plugin: PrunerPlugin, options: Mapping[str, Any],
                 ctx: SearchContext) -> optuna.pruners.BasePruner:
    """Build ``plugin``'s pruner, wrapped in Optuna's PatientPruner when ``patience`` is set."""
    options = dict(options)
    patience = options.pop("patience", None)
    if patience is not None and (isinstance(patience, bool) or not isinstance(patience, int)):
        raise AlgorithmError("patience", f"pruner {plugin.name!r}: patience must be an "
                                         f"integer, got {patience!r}")
    given = dict(options)  # the plugin may add its defaults to the dict it gets
    try:
        pruner = plugin.build(options, ctx)
    except AlgorithmError:
        raise
    except (TypeError, ValueError) as exc:
        key = _blame(lambda opts: plugin.build(opts, ctx), given)
        raise AlgorithmError(key, f"pruner {plugin.name!r}: {_option(key, given)}"
                                  f"{_plain(exc)}") from None
    check_option_types(type(pruner).__init__, given, f"pruner {plugin.name!r}")
    if patience is not None:
        try:
            pruner = optuna.pruners.PatientPruner(pruner, patience=patience)
        except (TypeError, ValueError) as exc:
            raise AlgorithmError("patience", f"pruner {plugin.name!r}: {_plain(exc)}") from None
    return pruner


def _blame(build: Callable[[dict[str, Any]], Any], options: Mapping[str, Any]) -> str:
    """The one option without which ``build`` succeeds ("" when none is alone to blame):
    the key a constructor's ``'<' not supported between 'str' and 'int'`` is about."""
    for key in options:
        try:
            build({k: v for k, v in options.items() if k != key})
        except Exception:  # noqa: BLE001 - still failing: not this option alone
            continue
        return key
    return ""


def _option(key: str, options: Mapping[str, Any]) -> str:
    return f"option {key!r} = {options[key]!r} is refused: " if key else ""


# The types a YAML value can have, by the names Optuna's annotations use for them; other
# names (a class, a Literal) are not judged: the constructor itself may check them.
_YAML_TYPES: dict[str, tuple[type, ...]] = {
    "int": (int,), "float": (int, float), "bool": (bool,), "str": (str,), "None": (type(None),),
    "dict": (dict,), "Mapping": (dict,), "list": (list,), "Sequence": (list, str),
    "tuple": (list,), "Callable": (),  # no YAML value is callable
}


def check_option_types(init: Callable[..., Any], options: Mapping[str, Any], what: str) -> None:
    """An :class:`AlgorithmError` naming the option whose value cannot have the type that
    ``init``'s annotation asks for (``n_startup_trials: abc`` where an ``int`` is wanted).

    Optuna's constructors take most options without checking them and fail at the first
    trial instead, with the trial left running; this finds it at ``automl validate``.
    """
    try:
        params = inspect.signature(init).parameters
    except (TypeError, ValueError):  # pragma: no cover - a builtin without a signature
        return
    for key, value in options.items():
        param = params.get(key)
        if param is None or param.annotation is inspect.Parameter.empty:
            continue
        allowed = _allowed_types(param.annotation)
        if allowed is None:
            continue
        ok = isinstance(value, allowed) and not (
            isinstance(value, bool) and bool not in allowed)  # true is not a number here
        if not ok:
            raise AlgorithmError(key, f"{what}: option {key!r} must be "
                                      f"{_annotation_text(param.annotation)}, got {value!r}")


def _allowed_types(annotation: Any) -> tuple[type, ...] | None:
    """The Python types of YAML values that fit ``annotation``; ``None``: not judged."""
    text = _annotation_text(annotation)
    allowed: list[type] = []
    for part in _split_union(text):
        base = re.sub(r"^(typing|collections\.abc)\.", "", part.split("[", 1)[0].strip())
        if base not in _YAML_TYPES:
            return None
        allowed.extend(_YAML_TYPES[base])
    return tuple(allowed)


def _annotation_text(annotation: Any) -> str:
    if isinstance(annotation, str):
        return annotation
    if isinstance(annotation, type):
        return annotation.__name__
    return str(annotation)


def _split_union(text: str) -> list[str]:
    """``int | dict[str, int | None]`` -> ``["int", "dict[str, int | None]"]``."""
    parts, depth, start = [], 0, 0
    for i, char in enumerate(text):
        depth += char == "["
        depth -= char == "]"
        if char == "|" and depth == 0:
            parts.append(text[start:i])
            start = i + 1
    parts.append(text[start:])
    return [p.strip() for p in parts]


def _plain(exc: Exception) -> str:
    """``Sampler.__init__() got an unexpected keyword argument 'x'`` → ``unknown option 'x'``."""
    text = str(exc)
    marker = "got an unexpected keyword argument "
    if marker in text:
        return f"unknown option {text.split(marker, 1)[1]}"
    return text
