"""Text and axes in plotly figures: user strings shown as typed, whole-number ticks."""

from __future__ import annotations

from typing import Any

__all__ = ["escape_text", "integer_axis"]


def escape_text(value: object) -> str:
    """``value`` as text that plotly shows verbatim.

    Plotly reads a small HTML subset in labels (``<b>``, ``<br>``, entities) and drops the
    tags it does not know, so a user's ``<script>`` would silently vanish from a tick
    label; as entities it is shown as typed, and never as markup.
    """
    return str(value).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def integer_axis(top: float) -> dict[str, Any]:
    """Ticks at whole numbers (trial numbers, counts): no "trial 2.5"."""
    return {"tickformat": "d", **({"dtick": 1} if top <= 12 else {})}
