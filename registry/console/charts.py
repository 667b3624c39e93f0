"""Small bar charts drawn as SVG on the server (no script, no CDN, readable without JavaScript)."""

from __future__ import annotations

from collections.abc import Sequence

from markupsafe import Markup, escape

COLOURS = ("#3b6ea5", "#c0504d", "#9bbb59", "#8064a2", "#f79646", "#4bacc6")


def bars(
    labels: Sequence[str],
    series: Sequence[tuple[str, Sequence[int]]],
    *,
    title: str,
    width: int = 560,
    height: int = 200,
) -> Markup:
    """Return a stacked bar chart: one bar per label, one stacked segment per series."""
    pad_left, pad_bottom, pad_top = 40, 36, 24
    plot_w, plot_h = width - pad_left - 10, height - pad_bottom - pad_top
    totals = [sum(values[i] for _name, values in series) for i in range(len(labels))]
    top = max(totals, default=0) or 1
    slot = plot_w / max(len(labels), 1)
    bar_w = min(max(slot * 0.7, 2), 60)
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" role="img" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}"><title>{escape(title)}</title>',
        f'<text x="{pad_left}" y="14" font-size="12" fill="#333">{escape(title)}</text>',
        f'<line x1="{pad_left}" y1="{pad_top + plot_h}" x2="{width - 10}" y2="{pad_top + plot_h}" '
        'stroke="#999"/>',
        f'<text x="{pad_left - 4}" y="{pad_top + 4}" font-size="10" text-anchor="end" '
        f'fill="#666">{top}</text>',
        f'<text x="{pad_left - 4}" y="{pad_top + plot_h}" font-size="10" text-anchor="end" '
        'fill="#666">0</text>',
    ]
    for i, label in enumerate(labels):
        x = pad_left + i * slot + (slot - bar_w) / 2
        y: float = pad_top + plot_h
        for k, (name, values) in enumerate(series):
            h = plot_h * values[i] / top
            if h <= 0:
                continue
            y -= h
            parts.append(
                f'<rect x="{x:.1f}" y="{y:.1f}" width="{bar_w:.1f}" height="{h:.1f}" '
                f'fill="{COLOURS[k % len(COLOURS)]}">'
                f"<title>{escape(label)} {escape(name)}: {values[i]}</title></rect>"
            )
        if len(labels) <= 16 or i % max(len(labels) // 8, 1) == 0:
            parts.append(
                f'<text x="{x + bar_w / 2:.1f}" y="{pad_top + plot_h + 14}" font-size="10" '
                f'text-anchor="middle" fill="#333">{escape(label)}</text>'
            )
    lx = pad_left
    for k, (name, _values) in enumerate(series):
        parts.append(
            f'<rect x="{lx}" y="{height - 12}" width="10" height="10" fill="{COLOURS[k % len(COLOURS)]}"/>'
            f'<text x="{lx + 14}" y="{height - 3}" font-size="11" fill="#333">{escape(name)}</text>'
        )
        lx += 24 + 13 * len(name)
    parts.append("</svg>")
    return Markup("".join(parts))
