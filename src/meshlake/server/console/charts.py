"""Charts drawn on the server as inline SVG: horizontal bars and lines (ROC curves).

No script and no style attribute: only SVG presentation attributes, so the console's CSP
(``style-src 'self'``, no inline script) holds. Every label is escaped.

>>> svg = bar_chart([("a<b", 0.5)], title="rates")
>>> "a&lt;b" in svg and "<script" not in svg
True
"""

from __future__ import annotations

from collections.abc import Sequence
from html import escape

from markupsafe import Markup

__all__ = ["bar_chart", "line_chart"]

PALETTE = ("#1d6fb8", "#d9822b", "#2e8b57", "#8e44ad", "#c0392b")
_FONT = 'font-family="system-ui, sans-serif" font-size="12"'


def _short(text: str, limit: int = 44) -> str:
    """``text`` cut to ``limit`` characters with an ellipsis."""
    return text if len(text) <= limit else text[: limit - 1] + "\u2026"


def _num(value: float) -> str:
    return f"{value:.1f}"


def bar_chart(
    bars: Sequence[tuple[str, float | None]],
    *,
    title: str,
    max_value: float = 1.0,
    percent: bool = True,
    marker: float | None = None,
    width: int = 520,
) -> Markup:
    """Horizontal bars, one per ``(label, value)``; ``None`` values are drawn empty.

    Args:
        max_value: the value of a full-width bar.
        percent: label values as percentages (else as numbers).
        marker: a vertical reference line at this value (e.g. the overall rate).
    """
    texts = [_short(str(label)) for label, _ in bars]
    label_w = min(320, max(80, 12 + 7 * max((len(t) for t in texts), default=0)))
    bar_h, gap, top = 18, 6, 26
    width = max(width, label_w + 260)
    plot_w = width - label_w - 60
    height = top + len(bars) * (bar_h + gap) + 8
    scale = plot_w / max_value if max_value > 0 else 0.0
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" role="img" class="chart" width="{width}" '
        f'height="{height}" viewBox="0 0 {width} {height}" aria-label="{escape(title)}">',
        f"<title>{escape(title)}</title>",
        f'<text x="0" y="16" {_FONT} font-weight="bold">{escape(title)}</text>',
    ]
    for i, (label, value) in enumerate(bars):
        y = top + i * (bar_h + gap)
        shown = "n/a" if value is None else (f"{value:.1%}" if percent else f"{value:g}")
        w = 0.0 if value is None else max(0.0, min(value, max_value)) * scale
        parts.append(
            f'<text x="{label_w - 6}" y="{y + 13}" text-anchor="end" {_FONT}>'
            f"{escape(texts[i])}</text>"
        )
        parts.append(
            f'<rect x="{label_w}" y="{y}" width="{_num(w)}" height="{bar_h}" '
            f'fill="{PALETTE[0]}"><title>{escape(str(label))}: {shown}</title></rect>'
        )
        parts.append(f'<text x="{_num(label_w + w + 4)}" y="{y + 13}" {_FONT}>{shown}</text>')
    if marker is not None and max_value > 0:
        x = label_w + max(0.0, min(marker, max_value)) * scale
        parts.append(
            f'<line x1="{_num(x)}" y1="{top - 4}" x2="{_num(x)}" y2="{height - 4}" '
            'stroke="#555" stroke-dasharray="4 3"/>'
        )
    parts.append("</svg>")
    return Markup("".join(parts))


def line_chart(
    series: Sequence[tuple[str, Sequence[Sequence[float]]]],
    *,
    title: str,
    x_label: str,
    y_label: str,
    diagonal: bool = False,
    size: int = 360,
) -> Markup:
    """Lines over the unit square (x and y in [0, 1]), e.g. ROC curves.

    Args:
        series: ``(name, [(x, y), ...])`` per line; the name is shown in the legend.
        diagonal: draw the chance line y = x.
    """
    left, bottom, top, right = 44, 40, 26, 12
    plot = size - left - right
    height = top + plot + bottom

    def px(x: float) -> str:
        return _num(left + max(0.0, min(1.0, x)) * plot)

    def py(y: float) -> str:
        return _num(top + (1 - max(0.0, min(1.0, y))) * plot)

    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" role="img" class="chart" width="{size}" '
        f'height="{height}" viewBox="0 0 {size} {height}" aria-label="{escape(title)}">',
        f"<title>{escape(title)}</title>",
        f'<text x="0" y="16" {_FONT} font-weight="bold">{escape(title)}</text>',
        f'<rect x="{left}" y="{top}" width="{plot}" height="{plot}" fill="none" stroke="#999"/>',
    ]
    for tick in (0.0, 0.25, 0.5, 0.75, 1.0):
        parts.append(
            f'<text x="{px(tick)}" y="{top + plot + 14}" text-anchor="middle" {_FONT}>'
            f"{tick:g}</text>"
        )
        parts.append(
            f'<text x="{left - 4}" y="{py(tick)}" text-anchor="end" dy="4" {_FONT}>{tick:g}</text>'
        )
    parts.append(
        f'<text x="{left + plot / 2}" y="{height - 6}" text-anchor="middle" {_FONT}>'
        f"{escape(x_label)}</text>"
    )
    parts.append(
        f'<text x="12" y="{top + plot / 2}" text-anchor="middle" {_FONT} '
        f'transform="rotate(-90 12 {top + plot / 2})">{escape(y_label)}</text>'
    )
    if diagonal:
        parts.append(
            f'<line x1="{px(0)}" y1="{py(0)}" x2="{px(1)}" y2="{py(1)}" stroke="#aaa" '
            'stroke-dasharray="4 3"/>'
        )
    for i, (name, points) in enumerate(series):
        color = PALETTE[i % len(PALETTE)]
        coords = " ".join(f"{px(float(p[0]))},{py(float(p[1]))}" for p in points if len(p) >= 2)
        parts.append(
            f'<polyline points="{coords}" fill="none" stroke="{color}" stroke-width="2">'
            f"<title>{escape(name)}</title></polyline>"
        )
        ly = top + plot - 10 - 16 * (len(series) - 1 - i)
        parts.append(
            f'<line x1="{left + plot - 150}" y1="{ly - 4}" x2="{left + plot - 132}" '
            f'y2="{ly - 4}" stroke="{color}" stroke-width="2"/>'
        )
        parts.append(f'<text x="{left + plot - 128}" y="{ly}" {_FONT}>{escape(name)}</text>')
    parts.append("</svg>")
    return Markup("".join(parts))
