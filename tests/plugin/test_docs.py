"""docs/plugins.md is generated from automl/hookspecs.py: every hook is in it, and it is
current (regenerate with `python -m automl.plugin.docs`)."""

from __future__ import annotations

import types

import pytest

from automl.plugin import docs as plugin_docs
from automl.plugin import hookspecs


def test_every_hook_is_documented_in_docs_plugins_md() -> None:
    text = plugin_docs.DOCS_PATH.read_text("utf-8")
    specs = plugin_docs.hookspecs()
    declared = {name for name in dir(hookspecs)
                if hasattr(getattr(hookspecs, name), "automl_spec")}
    assert {f.__name__ for f in specs} == declared and len(declared) >= 6
    for func in specs:
        assert f"### `{func.__name__}`" in text
        assert f"def {plugin_docs.signature(func)}" in text
        assert (func.__doc__ or "").strip(), f"hook {func.__name__} has no docstring"


def test_docs_plugins_md_is_current() -> None:
    assert plugin_docs.main(["--check"]) == 0, (
        "docs/plugins.md is stale: run `python -m automl.plugin.docs` and commit the result")


def _fake_hooks(doc: str | None) -> types.ModuleType:
    import pluggy

    module = types.ModuleType("fake_hookspecs", "Fake hooks.")
    marker = pluggy.HookspecMarker("automl")

    def on_thing(thing: int, extra: str) -> None:
        pass

    on_thing.__doc__ = doc
    module.on_thing = marker(on_thing)  # type: ignore[attr-defined]
    return module


def test_an_undocumented_hook_fails_the_generation() -> None:
    with pytest.raises(ValueError, match="hook 'on_thing' has no docstring"):
        plugin_docs.render(_fake_hooks(None))


def test_a_hook_section_has_signature_arguments_text_and_an_example() -> None:
    text = plugin_docs.render(_fake_hooks("Called per thing. ``thing`` is :class:`~a.B`."))
    section = text[text.index("### `on_thing`"):]
    assert "def on_thing(thing: int, extra: str) -> None" in section
    assert "| `thing` | `int` |" in section and "| `extra` | `str` |" in section
    assert "Called per thing. `thing` is `a.B`." in section
    assert "@hookimpl\ndef on_thing(thing, extra):" in section  # generated example


def test_rst_code_blocks_become_fenced_python() -> None:
    md = plugin_docs.rst_to_markdown("Example::\n\n    x = 1\n      y = 2\n\nAfter.")
    assert md == "Example:\n\n```python\nx = 1\n  y = 2\n```\n\nAfter."
