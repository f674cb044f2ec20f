"""Resource bombs in a spec: each is refused in seconds, in bounded memory, with exit 2 and
one line naming the file, the key, the line and the limit.

The limits are module constants (``automl.spec.yaml_loader``: file size, values after
alias expansion, nesting depth, integer digits; ``automl.spec.space_parser`` and
``space_refs``: choices, layers of a repeat block, grid points of a float step).
"""

from __future__ import annotations

import re
import resource
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import CliRunner

from automl.cli import main
from automl.errors import SpecError
from automl.spec import Spec, load_spec, parse_yaml
from automl.spec.space_parser import MAX_CHOICES
from automl.spec.space_refs import MAX_LAYERS
from automl.spec.yaml_loader import MAX_DEPTH, MAX_FILE_BYTES, MAX_NODES
from tests.helpers import mlp_spec_head

WriteSpec = Callable[..., Path]

BASE = mlp_spec_head("bombs")


def _laughs(levels: int = 9, width: int = 9) -> str:
    """A "billion laughs": each level an anchor used ``width`` times by the next."""
    text = 'l0: &l0 ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]\n'
    for i in range(1, levels):
        text += f"l{i}: &l{i} [" + ", ".join([f"*l{i - 1}"] * width) + "]\n"
    return text


def _deep(levels: int, open_: str = "[", close: str = "]") -> str:
    return "x: " + open_ * levels + "1" + close * levels + "\n"


def _deep_mapping(levels: int) -> str:
    lines = [f"{'  ' * i}k{i}:" for i in range(levels)]
    return "params:\n" + "\n".join("  " + line for line in lines) + " 1\n"


# (hostile text after BASE, what the one line must say, the key it must name)
BOMBS = {
    "billion_laughs": (_laughs(), f"more than {MAX_NODES:,} values", "l"),
    "wide_alias_fanout": (
        "a: &a [" + ", ".join(["x"] * 400) + "]\nb: [" + ", ".join(["*a"] * 400) + "]\n",
        f"more than {MAX_NODES:,} values",
        "b.",
    ),
    "merge_fanout": (
        "a: &a {" + ", ".join(f"k{i}: {i}" for i in range(300)) + "}\n"
        + "b: [" + ", ".join(["{<<: *a}"] * 400) + "]\n",
        f"more than {MAX_NODES:,} values",
        "b.",
    ),
    "flow_lists_300_deep": (_deep(300), f"the limit is {MAX_DEPTH} levels", "x.0.0"),
    "flow_maps_300_deep": (_deep(300, "{a: ", "}"), f"the limit is {MAX_DEPTH} levels",
                           "x.a.a"),
    "block_maps_80_deep": (_deep_mapping(80), f"the limit is {MAX_DEPTH} levels", "params.k0"),
    "lists_5000_deep": (_deep(5000), f"the limit is {MAX_DEPTH} levels", None),
    "int_of_300_digits": (
        "params:\n  n: {type: int, low: 1, high: 1" + "0" * 300 + "}\n",
        "the limit is 19 digits",
        "params.n.high",
    ),
    "int_just_past_64_bits": (
        "params:\n  n: {type: int, low: 1, high: 9223372036854775808}\n",
        "the limit is 19 digits",
        "params.n.high",
    ),
    "hex_int_huge": ("params:\n  n: 0x" + "f" * 200 + "\n", "too large", "params.n"),
    "negative_int_of_5000_digits": (
        "params:\n  n: {type: int, low: -" + "9" * 5000 + ", high: 1}\n",
        "the limit is 19 digits",
        "params.n.low",
    ),
    "float_of_400_digits": (
        "params:\n  x: {type: float, low: 0.0, high: 1" + "1" * 400 + ".0}\n",
        "the limit is 64",
        "params.x.high",
    ),
    "repeat_five_million": (
        "params:\n  conv: {repeat: 5000000, params: {c: [8, 16]}}\n",
        f"the limit is {MAX_LAYERS:,} layers",
        "params.conv.repeat",
    ),
    "repeat_param_high_of_a_billion": (
        "params:\n  n: {type: int, low: 1, high: 1000000000}\n"
        "  conv: {repeat: n, params: {c: [8, 16]}}\n",
        f"the limit is {MAX_LAYERS:,} layers",
        "params.conv.repeat",
    ),
    "repeat_param_choices_reach_a_million": (
        "params:\n  n: [1, 2, 1000000]\n  conv: {repeat: n, params: {c: [8, 16]}}\n",
        f"the limit is {MAX_LAYERS:,} layers",
        "params.conv.repeat",
    ),
    "repeat_fixed_count_param_huge": (
        "params:\n  n: 123456789\n  conv: {repeat: n, params: {c: [8, 16]}}\n",
        f"the limit is {MAX_LAYERS:,} layers",
        "params.conv.repeat",
    ),
    "choices_just_past_the_limit": (
        "params:\n  c: [" + ", ".join(str(i) for i in range(MAX_CHOICES + 1)) + "]\n",
        f"the limit is {MAX_CHOICES:,} per param",
        "params.c",
    ),
    "choices_100k_in_a_block": (
        "params:\n  c:\n" + "".join(f"  - {i}\n" for i in range(100_000)),
        "too large",  # 100k choices cannot fit in a spec-sized file
        None,
    ),
    "comment_of_two_megabytes": ("# " + "x" * (2 * MAX_FILE_BYTES) + "\n", "too large", None),
}


@pytest.mark.parametrize("case", list(BOMBS))
def test_a_bomb_is_refused_fast_with_exit_2_and_one_line(write_spec: WriteSpec, case: str
                                                         ) -> None:
    text, says, key = BOMBS[case]
    path = write_spec(BASE + text)
    start = time.monotonic()
    result = CliRunner().invoke(main, ["validate", "--space", str(path)])
    elapsed = time.monotonic() - start
    assert result.exit_code == 2, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1, result.output
    line = lines[0]
    assert line.startswith("error: ") and path.name in line, line
    assert says in line, line
    if key is not None:  # file:line: key: message
        assert re.match(rf"error: .*{re.escape(path.name)}:\d+: {re.escape(key)}", line), line
    assert elapsed < 15, f"{case} took {elapsed:.1f}s"


def test_the_error_names_file_line_and_key(write_spec: WriteSpec) -> None:
    path = write_spec(BASE + "params:\n  conv: {repeat: 5000000, params: {c: [8, 16]}}\n")
    with pytest.raises(SpecError) as caught:
        load_spec(path)
    err = caught.value
    assert err.line == 7
    assert "params.conv.repeat" in str(err) and "1,000 layers" in str(err)


def test_limits_leave_real_specs_alone(write_spec: WriteSpec) -> None:
    """Just inside each limit still loads: the limits refuse bombs, not large specs."""
    choices = ", ".join(str(i) for i in range(MAX_CHOICES))
    path = write_spec(BASE + f"""\
params:
  n: {{type: int, low: 1, high: {MAX_LAYERS}}}
  conv: {{repeat: n, params: {{c: [8, 16]}}}}
  fixed: {{repeat: {MAX_LAYERS}, params: {{c: [1, 2]}}}}
  big: {{type: int, low: -9223372036854775807, high: 9223372036854775807}}
  lr: {{type: float, low: 0.0, high: 1.0, step: 0.000001}}
  c: [{choices}]
""")
    spec = load_spec(path)
    assert len(spec.params["c"].choices) == MAX_CHOICES
    data, _ = parse_yaml("a: &a [1, 2]\nb: [*a, *a, *a]\n" + _deep(MAX_DEPTH - 2))
    assert data["b"] == [[1, 2]] * 3


def test_duplicate_choices_are_still_found_in_one_pass(write_spec: WriteSpec) -> None:
    choices = [*range(MAX_CHOICES - 1), True]  # True is 1 to Optuna
    with pytest.raises(SpecError, match=r"duplicate choice: true \(item 9999\) and 1 \(item 1\)"):
        Spec.from_data({"trainer": "mlp", "dataset": {"name": "iris"},
                        "params": {"c": choices}})


def test_a_spec_built_in_python_gets_the_same_limits() -> None:
    """``Spec.from_data`` (the Python API) skips the YAML loader; the space limits hold."""
    base = {"trainer": "mlp", "dataset": {"name": "iris"}}
    for params, says in [
        ({"c": list(range(100_000))}, "the limit is 10,000 per param"),
        ({"conv": {"repeat": 10**7, "params": {"c": [1, 2]}}}, "the limit is 1,000 layers"),
        ({"n": {"type": "int", "low": 0, "high": 10**30}}, "64-bit integer"),
    ]:
        start = time.monotonic()
        with pytest.raises(SpecError, match=says):
            Spec.from_data({**base, "params": params})
        assert time.monotonic() - start < 5


@pytest.mark.parametrize(("setting", "says"), [
    ("params.conv.repeat=5000000", "the limit is 1,000 layers"),
    ("params.n.high=1" + "0" * 100, "the limit is 19 digits"),
    ("params.c=[" + ",".join(["[[[[[[[[[[1]]]]]]]]]]"] * 1) + "]", "a choice must be"),
    ("params.c=" + "[" * 200 + "]" * 200, "nested too deeply"),
])
def test_a_bomb_given_with_set_is_refused_too(write_spec: WriteSpec, setting: str,
                                              says: str) -> None:
    path = write_spec(BASE + "params:\n  n: {type: int, low: 1, high: 4}\n"
                      "  conv: {repeat: n, params: {c: [8, 16]}}\n  c: [1, 2]\n")
    result = CliRunner().invoke(main, ["validate", "--space", str(path), "--set", setting])
    assert result.exit_code == 2, result.output
    assert says in _one_line(result.output), result.output


def _one_line(output: str) -> str:
    lines = output.strip().splitlines()
    assert len(lines) == 1, output
    return lines[0]


def _limit_memory() -> None:
    # 512 MiB of address space: `automl validate` starts in about 300 MiB; the billion
    # laughs took gigabytes before the alias expansion was counted.
    limit = 512 * 1024 * 1024
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))


@pytest.mark.skipif(sys.platform != "linux", reason="RLIMIT_AS is enforced on Linux")
@pytest.mark.parametrize("case", ["billion_laughs", "repeat_five_million", "lists_5000_deep"])
def test_a_bomb_is_refused_under_a_memory_limit_in_a_subprocess(write_spec: WriteSpec,
                                                                case: str) -> None:
    path = write_spec(BASE + BOMBS[case][0])
    start = time.monotonic()
    proc = subprocess.run([sys.executable, "-m", "automl", "validate", "--space", str(path)],
                          capture_output=True, text=True, timeout=60, preexec_fn=_limit_memory,
                          check=False)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert "Traceback" not in proc.stderr and "MemoryError" not in proc.stderr
    assert len((proc.stdout + proc.stderr).strip().splitlines()) == 1, proc.stderr
    assert time.monotonic() - start < 30
