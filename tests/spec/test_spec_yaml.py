"""Safe YAML loading: plain data only, YAML 1.2 floats, duplicate keys, line numbers."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from automl.errors import SpecError
from automl.spec import LineMap, load_yaml, parse_yaml


def write(tmp_path: Path, text: str, name: str = "spec.yaml") -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text).lstrip("\n"), encoding="utf-8")
    return path


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("1e-4", 1e-4),
        ("1.0e-4", 1e-4),
        ("-3E5", -3e5),
        ("1e4", 1e4),
        ("+2.5e+3", 2500.0),
        (".5", 0.5),
        ("0.1", 0.1),
        (".inf", float("inf")),
        ("-.Inf", float("-inf")),
        ("7", 7),
        ("-7", -7),
        ("1_000", 1000),
        ("017", 17),  # YAML 1.1 reads octal 15
        ("0o17", 15),
        ("0x1F", 31),
        ("True", True),
        ("FALSE", False),
        ("~", None),
    ],
)
def test_numbers_follow_yaml_1_2(text: str, expected: float) -> None:
    data, _ = parse_yaml(f"x: {text}")
    assert data["x"] == expected
    assert type(data["x"]) is type(expected)


@pytest.mark.parametrize(
    "text",
    # Strings, although YAML 1.1 (PyYAML's default) makes dates, booleans, sexagesimal
    # numbers or binary ints of some of them.
    ["2024-01-01", "'1e-4'", "1e", "e5", "yes", "no", "on", "off", "y", "1:30", "0b101", "="],
)
def test_strings_that_look_like_other_types_stay_strings(text: str) -> None:
    data, _ = parse_yaml(f"x: {text}")
    assert data["x"] == text.strip("'")


def test_a_categorical_of_yes_and_no_is_two_strings() -> None:
    data, _ = parse_yaml("choices: [no, yes]")
    assert data == {"choices": ["no", "yes"]}


@pytest.mark.parametrize(
    ("text", "phrase"),
    [
        ("x: !!int abc", "'abc' is not an integer"),
        ("x: !!float abc", "'abc' is not a number"),
        ("x: !!bool yes", "'yes' is not true or false"),
    ],
)
def test_explicit_tags_with_bad_values(text: str, phrase: str) -> None:
    with pytest.raises(SpecError, match=phrase) as info:
        parse_yaml("a: 1\n" + text, file="f.yaml")
    assert info.value.line == 2


@pytest.mark.parametrize(
    "value",
    [
        "!!python/object/apply:os.system ['echo hi']",
        "!!python/name:os.system",
        "!!python/object:collections.OrderedDict {}",
        "!!binary aGVsbG8=",
        "!!set {a, b}",
        "!custom thing",
        "!!timestamp 2024-01-01",
    ],
)
def test_tags_that_are_not_plain_data_are_refused(tmp_path: Path, value: str) -> None:
    path = write(tmp_path, f"trainer: cnn\nparams:\n  x: {value}\n")
    with pytest.raises(SpecError) as info:
        load_yaml(path)
    err = info.value
    assert err.line == 3
    assert err.path == "params.x"
    assert "is not allowed" in err.detail and "never code" in err.detail


def test_explicit_plain_tags_are_fine() -> None:
    data, _ = parse_yaml("a: !!str 5\nb: !!float 1\nc: !!int '3'\n")
    assert data == {"a": "5", "b": 1.0, "c": 3}


@pytest.mark.parametrize(
    ("text", "path", "line", "phrase"),
    [
        ("a: 1\nb: 2\na: 3\n", "a", 3, "duplicate key 'a' (first at line 1, again at line 3)"),
        (
            "params:\n  lr: 1\n  x: 2\n  lr: 3\n",
            "params.lr",
            4,
            "duplicate key 'lr' (first at line 2, again at line 4)",
        ),
        ("b: {x: 1, x: 2}\n", "b.x", 1, "duplicate key 'x'"),
        ("l:\n  - {k: 1}\n  - {k: 1, k: 2}\n", "l.1.k", 3, "duplicate key 'k'"),
    ],
)
def test_duplicate_keys(tmp_path: Path, text: str, path: str, line: int, phrase: str) -> None:
    with pytest.raises(SpecError) as info:
        load_yaml(write(tmp_path, text))
    assert (info.value.path, info.value.line) == (path, line)
    assert phrase in info.value.detail
    assert str(info.value).startswith(f"{tmp_path / 'spec.yaml'}:{line}: {path}: ")


def test_merge_keys_may_repeat_what_they_override() -> None:
    data, lines = parse_yaml("base: &b {x: 1, y: 2}\nthis:\n  <<: *b\n  x: 3\n")
    assert data["this"] == {"x": 3, "y": 2}
    assert lines.line(("this", "x")) == 4
    assert lines.line(("this", "y")) == 1  # where the merged-in key is written


def test_line_of_every_key_path_and_fallback_to_the_parent() -> None:
    text = textwrap.dedent(
        """
        trainer: cnn
        params:
          lr:
            type: float
            low: 1.0e-4
          conv:
            repeat: 2
            params:
              channels: [8, 16]
        enqueue:
          - {lr: 0.1}
          -
            lr: 0.2
        """
    ).lstrip("\n")
    _, lines = parse_yaml(text)
    assert lines.line(("trainer",)) == 1
    assert lines.line(("params", "lr")) == 3
    assert lines.line(("params", "lr", "low")) == 5
    assert lines.line(("params", "lr", "high")) == 3  # missing key: its parent's line
    assert lines.line(("params", "conv", "params", "channels")) == 9
    assert lines.line(("params", "conv", "params", "channels", 1)) == 9
    assert lines.line(("enqueue", 0)) == 11
    assert lines.line(("enqueue", 0, "lr")) == 11
    assert lines.line(("enqueue", 1, "lr")) == 13
    assert lines.line(("nope",)) is None
    assert lines.line(()) is None


def test_overrides_hide_the_lines_they_replace() -> None:
    lines = LineMap({("a",): 1, ("a", "b"): 2, ("c",): 5})
    lines.mark_override(("a",))
    assert lines.line(("a", "b")) is None
    assert lines.override_for(("a", "b")) == ("a",)
    assert lines.override_for(("c",)) is None
    lines.mark_override(("x", "y"))
    assert lines.override_for(("x",)) == ("x", "y")  # an unknown key that --set introduced


@pytest.mark.parametrize(
    ("text", "line", "phrase"),
    [
        ("a: 1\nb: [1, 2\n", 3, "invalid YAML"),
        ("a: 1\n b: 2\n", 2, "mapping values are not allowed here"),
        ("a: {x: 1\nb: 2\n", 2, "while parsing a flow mapping at line 1"),
        ("a: 1\n---\nb: 2\n", 2, "expected a single document"),
        ("a: *nope\n", 1, "undefined alias"),
    ],
)
def test_syntax_errors_name_file_and_line(
    tmp_path: Path, text: str, line: int, phrase: str
) -> None:
    path = write(tmp_path, text)
    with pytest.raises(SpecError) as info:
        load_yaml(path)
    assert info.value.file == str(path)
    assert info.value.line == line
    assert phrase in info.value.detail


@pytest.mark.parametrize(
    ("text", "phrase"),
    [
        ("", "the file is empty"),
        ("# only a comment\n", "the file is empty"),
        ("- a\n- b\n", "expected a mapping of sections"),
        ("just a string\n", "expected a mapping of sections"),
    ],
)
def test_top_level_must_be_a_mapping(tmp_path: Path, text: str, phrase: str) -> None:
    with pytest.raises(SpecError, match=phrase):
        load_yaml(write(tmp_path, text))


def test_unreadable_files(tmp_path: Path) -> None:
    with pytest.raises(SpecError, match="cannot read"):
        load_yaml(tmp_path / "missing.yaml")
    binary = tmp_path / "bin.yaml"
    binary.write_bytes(b"a: \xff\xfe\n")
    with pytest.raises(SpecError, match="UTF-8"):
        load_yaml(binary)


def test_recursive_alias_is_refused() -> None:
    with pytest.raises(SpecError, match="recursive"):
        parse_yaml("a: &x [1, *x]\n")
