"""Safe YAML loading that remembers the line of every key, for errors that point into the file.

The spec file is data, never code: only the plain YAML types load (mappings, lists, strings,
numbers, booleans, null). Any other tag -- ``!!python/object``, ``!!binary``, ``!custom`` --
is refused. Plain scalars follow the YAML 1.2 core schema, not PyYAML's YAML 1.1:
``1e-4`` is a float (1.1 makes it a string), ``yes``/``no``/``on``/``off`` stay strings
(1.1 makes them booleans: ``choices: [no, yes]``), ``1:30`` stays a string (1.1 reads
90), ``017`` is 17 (1.1 reads octal 15), and dates stay strings, so what loads can always
be stored as JSON.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from automl.errors import SpecError
from automl.spec.keypath import KeyPath, format_path

__all__ = [
    "MAX_DEPTH",
    "MAX_FILE_BYTES",
    "MAX_INT_DIGITS",
    "MAX_NODES",
    "LineMap",
    "load_yaml",
    "parse_yaml",
]

# Limits that keep a hostile file from costing more than a few seconds and MBs. Real specs
# are far inside all of them (the largest bundled one is a few KB, a few hundred nodes,
# eight levels deep).
# A spec is a page of settings (the bundled ones are under 4 KB); a larger file is a mistake
# or an attack, and PyYAML reads about 100 KB a second.
MAX_FILE_BYTES = 256 * 1024
# Values after alias expansion: `*a` counts every node it stands for, each time it is used,
# so a "billion laughs" file of a few lines is refused instead of taking gigabytes.
MAX_NODES = 100_000
# Levels of mappings and lists (and `<<:` merges); deeper nesting has no meaning in a spec
# and would exhaust the stack of the code walking it.
MAX_DEPTH = 50
# Digits of an integer (sign and _ aside): 19 fit a 64-bit integer, which is what Optuna's
# storage, NumPy and the trainers hold; a longer one cannot be stored or sampled.
MAX_INT_DIGITS = 19
_INT64_MAX = 2**63 - 1
# Characters of a float as written: 17 significant digits and an exponent say all a
# float can hold; hundreds of digits are refused before Python parses them.
_MAX_FLOAT_CHARS = 64

_TAG = "tag:yaml.org,2002:"
_ALLOWED_TAGS = frozenset(
    _TAG + name for name in ("str", "int", "float", "bool", "null", "map", "seq", "merge")
)

# YAML 1.2 core schema. Floats: the exponent's sign is optional and so is the dot (1e-4).
_FLOAT = re.compile(
    r"""^(?:[-+]?(?:[0-9][0-9_]*)\.[0-9_]*(?:[eE][-+]?[0-9]+)?
    |[-+]?(?:[0-9][0-9_]*)(?:[eE][-+]?[0-9]+)
    |[-+]?\.[0-9_]+(?:[eE][-+]?[0-9]+)?
    |[-+]?\.(?:inf|Inf|INF)
    |\.(?:nan|NaN|NAN))$""",
    re.X,
)
_INT = re.compile(r"^(?:[-+]?[0-9][0-9_]*|0o[0-7_]+|0x[0-9a-fA-F_]+)$")
_BOOL = re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$")
_NULL = re.compile(r"^(?:~|null|Null|NULL|)$")


class _SpecLoader(yaml.SafeLoader):
    """SafeLoader resolving plain scalars by the YAML 1.2 core schema."""


_SpecLoader.yaml_implicit_resolvers = {}
for _tag, _regexp, _first in (
    ("bool", _BOOL, "tTfF"),
    ("int", _INT, "-+0123456789"),
    ("float", _FLOAT, "-+0123456789."),
    ("null", _NULL, ["~", "n", "N", ""]),
    ("merge", re.compile(r"^(?:<<)$"), "<"),
):
    _SpecLoader.add_implicit_resolver(_TAG + _tag, _regexp, list(_first))


def _bad_scalar(node: ScalarNode, kind: str) -> yaml.constructor.ConstructorError:
    return yaml.constructor.ConstructorError(
        None, None, f"{node.value!r} is not {kind}", node.start_mark
    )


def _construct_int(loader: yaml.SafeLoader, node: ScalarNode) -> int:
    text = str(loader.construct_scalar(node)).replace("_", "")
    sign = -1 if text.startswith("-") else 1
    digits = text.lstrip("+-")
    try:
        if digits.startswith(("0o", "0x")):
            return sign * int(digits[2:], 8 if digits[1] == "o" else 16)
        return sign * int(digits, 10)  # 017 is 17: YAML 1.2 has no leading-zero octal
    except ValueError:
        raise _bad_scalar(node, "an integer") from None


def _construct_float(loader: yaml.SafeLoader, node: ScalarNode) -> float:
    text = str(loader.construct_scalar(node)).replace("_", "").lower()
    special = {".inf": math.inf, "+.inf": math.inf, "-.inf": -math.inf, ".nan": math.nan}
    if text in special:
        return special[text]
    try:
        return float(text)
    except ValueError:
        raise _bad_scalar(node, "a number") from None


def _construct_bool(loader: yaml.SafeLoader, node: ScalarNode) -> bool:
    text = str(loader.construct_scalar(node)).lower()
    if text not in ("true", "false"):
        raise _bad_scalar(node, "true or false")
    return text == "true"


_SpecLoader.add_constructor(_TAG + "int", _construct_int)
_SpecLoader.add_constructor(_TAG + "float", _construct_float)
_SpecLoader.add_constructor(_TAG + "bool", _construct_bool)


class LineMap:
    """The 1-based line of each key path in a loaded file (and which paths were overridden)."""

    def __init__(self, lines: dict[KeyPath, int] | None = None) -> None:
        self._lines: dict[KeyPath, int] = dict(lines or {})
        self._overrides: list[KeyPath] = []

    def line(self, path: Sequence[Any]) -> int | None:
        """Line of ``path``; for a key that is not in the file, the line of its nearest parent."""
        key = tuple(path)
        while key:
            if key in self._lines:
                return self._lines[key]
            key = key[:-1]
        return None

    def __contains__(self, path: object) -> bool:
        return isinstance(path, tuple) and path in self._lines

    def set(self, path: Sequence[Any], line: int) -> None:
        """Record that ``path`` is at ``line``."""
        self._lines[tuple(path)] = line

    def mark_override(self, path: Sequence[Any]) -> None:
        """Record that the value at ``path`` came from ``--set``: its old lines no longer apply."""
        key = tuple(path)
        self._lines = {p: n for p, n in self._lines.items() if p[: len(key)] != key}
        self._overrides.append(key)

    def override_for(self, path: Sequence[Any]) -> KeyPath | None:
        """The override an error at ``path`` should name instead of a line, if any.

        That is an override at or above ``path``, or, for a key the file does not have
        (an unknown key introduced by ``--set``), an override below it.
        """
        key = tuple(path)
        for over in self._overrides:
            if key[: len(over)] == over:
                return over
        if key in self._lines:
            return None
        for over in self._overrides:
            if over[: len(key)] == key:
                return over
        return None


def parse_yaml(text: str, file: str | None = None) -> tuple[Any, LineMap]:
    """Parse one YAML document safely; return its data and the line of every key path.

    Refuses (SpecError) text over :data:`MAX_FILE_BYTES`, more than :data:`MAX_NODES`
    values once aliases are expanded, nesting deeper than :data:`MAX_DEPTH` and integers
    beyond 64 bits, before any of it is built.
    """
    if len(text) > MAX_FILE_BYTES:
        raise SpecError(
            f"the file is too large ({len(text):,} characters; the limit is "
            f"{MAX_FILE_BYTES:,}): a spec is a page of settings",
            file=file,
        )
    loader = _SpecLoader(text)
    try:
        node = loader.get_single_node()
        lines = LineMap()
        if node is None:
            return None, lines
        _Walker(loader, lines, file).walk(node, ())
        return loader.construct_document(node), lines
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        what = exc.problem or "unreadable"
        if exc.context:
            at = f" at line {exc.context_mark.line + 1}" if exc.context_mark else ""
            what += f" ({exc.context}{at})"
        raise SpecError(
            f"invalid YAML: {what}", file=file, line=mark.line + 1 if mark else None
        ) from None
    except yaml.YAMLError as exc:
        raise SpecError(f"invalid YAML: {exc}", file=file) from None
    except RecursionError:
        # PyYAML composes nested nodes recursively: a file of thousands of `[` ends here,
        # before the walker's own depth limit can name the line.
        raise SpecError(
            f"the YAML is nested too deeply (the limit is {MAX_DEPTH} levels)", file=file
        ) from None
    finally:
        loader.dispose()


def load_yaml(path: str | Path) -> tuple[dict[str, Any], LineMap]:
    """Load a spec file: a YAML mapping at the top level, plus the line of every key path."""
    file = str(path)
    try:
        size = Path(path).stat().st_size
        if size > MAX_FILE_BYTES:  # refused before it is read into memory
            raise SpecError(
                f"the file is too large ({size:,} bytes; the limit is {MAX_FILE_BYTES:,}): "
                "a spec is a page of settings",
                file=file,
            )
        text = Path(path).read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise SpecError(f"not a UTF-8 text file ({exc.reason})", file=file) from None
    except OSError as exc:
        raise SpecError(f"cannot read the file: {exc.strerror or exc}", file=file) from None
    data, lines = parse_yaml(text, file)
    if data is None:
        raise SpecError(
            "the file is empty; expected a mapping of sections (trainer:, dataset:, params:, ...)",
            file=file,
        )
    if not isinstance(data, dict):
        raise SpecError(
            "expected a mapping of sections (trainer:, dataset:, params:, ...) at the top "
            f"level, got {type(data).__name__}",
            file=file,
            line=1,
        )
    return data, lines


class _Walker:
    """Walks the composed node tree before construction: tags, duplicate keys, lines."""

    def __init__(self, loader: _SpecLoader, lines: LineMap, file: str | None) -> None:
        self.loader = loader
        self.lines = lines
        self.file = file
        self.active: set[int] = set()
        self.nodes = 0  # values walked, aliases counted each time they are used
        self.depth = 0

    def fail(self, node: Node, path: KeyPath, message: str) -> SpecError:
        return SpecError(
            message, file=self.file, path=format_path(path) or None, line=node.start_mark.line + 1
        )

    def walk(self, node: Node, path: KeyPath, *, merged: bool = False) -> None:
        if node.tag not in _ALLOWED_TAGS:
            tag = node.tag.replace(_TAG, "!!", 1) if node.tag.startswith(_TAG) else node.tag
            raise self.fail(
                node,
                path,
                f"YAML tag '{tag}' is not allowed: a spec file is plain data "
                "(mappings, lists, strings, numbers, booleans, null), never code",
            )
        if id(node) in self.active:  # an alias that contains itself
            raise self.fail(node, path, "a recursive YAML alias cannot be loaded")
        self.nodes += 1
        if self.nodes > MAX_NODES:
            raise self.fail(
                node,
                path,
                f"the file holds more than {MAX_NODES:,} values once its aliases (*name) are "
                "expanded; a spec needs far fewer",
            )
        if isinstance(node, ScalarNode):
            self._number(node, path)
            return
        if self.depth >= MAX_DEPTH:
            raise self.fail(
                node, path, f"the YAML is nested too deeply (the limit is {MAX_DEPTH} levels)"
            )
        self.depth += 1
        self.active.add(id(node))
        try:
            if isinstance(node, MappingNode):
                self._mapping(node, path, merged=merged)
            elif isinstance(node, SequenceNode):
                for index, item in enumerate(node.value):
                    if not merged or path + (index,) not in self.lines:
                        self.lines.set(path + (index,), item.start_mark.line + 1)
                    self.walk(item, path + (index,), merged=merged)
        finally:
            self.active.discard(id(node))
            self.depth -= 1

    def _number(self, node: ScalarNode, path: KeyPath) -> None:
        """Refuse numbers no spec needs before Python parses them (int() of a long string
        is quadratic) or they reach code that holds 64 bits."""
        text = str(node.value)
        if node.tag == _TAG + "int":
            digits = text.replace("_", "").lstrip("+-")
            base = 10
            if digits[:2] in ("0x", "0o"):
                digits, base = digits[2:], 16 if digits[1] == "x" else 8
            too_big = len(digits.lstrip("0")) > MAX_INT_DIGITS
            if not too_big:
                try:
                    too_big = abs(int(digits or "0", base)) > _INT64_MAX
                except ValueError:
                    return  # the constructor says what is wrong with it
            if too_big:
                shown = text if len(text) <= 24 else f"{text[:12]}...{text[-6:]}"
                raise self.fail(
                    node,
                    path,
                    f"the integer {shown} ({len(digits)} digits) is too large: the limit is "
                    f"{MAX_INT_DIGITS} digits (a 64-bit integer, +-{_INT64_MAX})",
                )
        elif node.tag == _TAG + "float" and len(text) > _MAX_FLOAT_CHARS:
            raise self.fail(
                node,
                path,
                f"a number of {len(text)} characters: the limit is {_MAX_FLOAT_CHARS} "
                "(a float holds 17 significant digits)",
            )

    def _mapping(self, node: MappingNode, path: KeyPath, *, merged: bool) -> None:
        seen: dict[Any, int] = {}
        merges: list[Node] = []
        for key_node, value_node in node.value:
            if key_node.tag == _TAG + "merge":
                merges.append(value_node)
                continue
            if not isinstance(key_node, ScalarNode):
                raise self.fail(key_node, path, "mapping keys must be plain scalars")
            self.walk(key_node, path)
            key = self.loader.construct_object(key_node)
            line = key_node.start_mark.line + 1
            if key in seen:
                raise self.fail(
                    key_node,
                    path + (key,),
                    f"duplicate key '{key}' (first at line {seen[key]}, again at line {line})",
                )
            seen[key] = line
            # Keys merged in with `<<:` never hide the lines of the mapping's own keys.
            if not merged or path + (key,) not in self.lines:
                self.lines.set(path + (key,), line)
            self.walk(value_node, path + (key,), merged=merged)
        for value_node in merges:
            sources = value_node.value if isinstance(value_node, SequenceNode) else [value_node]
            for source in sources:
                self.walk(source, path, merged=True)
