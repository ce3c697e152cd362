"""Inline SVG charts for the dashboard: no JavaScript, no CDN, no network. Each function
returns markup that is safe to embed (every label is escaped)."""
from __future__ import annotations

from markupsafe import Markup, escape

PALETTE = ["#3b6ea8", "#d9822b", "#3f9c5a", "#c23b3b", "#7d5ba6", "#8c6d46", "#d36fb1", "#6f6f6f", "#b5b83a",
           "#2fa5b5", "#1f4e79", "#e0a458", "#5c946e", "#a33b5a"]


def stacked_bars(days: list[str], series: dict[str, list[int]], *, title: str, width: int = 640,
                 height: int = 220) -> Markup:
    """One bar per day, stacked by series (e.g. category or action), with a legend."""
    left, bottom, top = 40, 30, 24
    plot_w, plot_h = width - left - 10, height - bottom - top
    totals = [sum(s[i] for s in series.values()) for i in range(len(days))]
    peak = max(totals or [0]) or 1
    bar_w = plot_w / max(len(days), 1)
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" role="img" class="chart" width="{width}" '
             f'height="{height + 18 * ((len(series) + 3) // 4)}" aria-label="{escape(title)}">',
             f'<text x="{left}" y="16" class="chart-title">{escape(title)}</text>',
             f'<line x1="{left}" y1="{top + plot_h}" x2="{width - 10}" y2="{top + plot_h}" stroke="#999"/>',
             f'<text x="{left - 6}" y="{top + 4}" text-anchor="end" class="tick">{peak}</text>',
             f'<text x="{left - 6}" y="{top + plot_h}" text-anchor="end" class="tick">0</text>']
    for i, day in enumerate(days):
        y = top + plot_h
        for j, (name, values) in enumerate(series.items()):
            v = values[i]
            if not v:
                continue
            h = plot_h * v / peak
            y -= h
            parts.append(f'<rect x="{left + i * bar_w + 1:.1f}" y="{y:.1f}" width="{max(bar_w - 2, 1):.1f}" '
                         f'height="{h:.1f}" fill="{PALETTE[j % len(PALETTE)]}"><title>{escape(day)} '
                         f'{escape(name)}: {v}</title></rect>')
        if len(days) <= 16 or i % max(len(days) // 8, 1) == 0:
            parts.append(f'<text x="{left + (i + 0.5) * bar_w:.1f}" y="{top + plot_h + 14}" text-anchor="middle" '
                         f'class="tick">{escape(day[5:])}</text>')
    for j, name in enumerate(series):
        x, y = left + (j % 4) * 150, height + 4 + 18 * (j // 4)
        parts.append(f'<rect x="{x}" y="{y}" width="10" height="10" fill="{PALETTE[j % len(PALETTE)]}"/>'
                     f'<text x="{x + 14}" y="{y + 9}" class="tick">{escape(name)}</text>')
    if not days:
        parts.append(f'<text x="{left + plot_w / 2}" y="{top + plot_h / 2}" text-anchor="middle" class="tick">'
                     'no events yet</text>')
    parts.append("</svg>")
    return Markup("".join(parts))


def line(points: list[tuple[str, float]], *, title: str, unit: str, width: int = 640, height: int = 200) -> Markup:
    """A line through (label, value) points, e.g. hours to answer each appeal."""
    left, bottom, top = 48, 30, 24
    plot_w, plot_h = width - left - 10, height - bottom - top
    peak = max([v for _, v in points] or [0]) or 1
    step = plot_w / max(len(points) - 1, 1)
    xy = [(left + i * step, top + plot_h - plot_h * v / peak) for i, (_, v) in enumerate(points)]
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" role="img" class="chart" width="{width}" height="{height}" '
             f'aria-label="{escape(title)}">', f'<text x="{left}" y="16" class="chart-title">{escape(title)}</text>',
             f'<line x1="{left}" y1="{top + plot_h}" x2="{width - 10}" y2="{top + plot_h}" stroke="#999"/>',
             f'<text x="{left - 6}" y="{top + 4}" text-anchor="end" class="tick">{peak:.3g} {escape(unit)}</text>',
             f'<text x="{left - 6}" y="{top + plot_h}" text-anchor="end" class="tick">0</text>']
    if len(xy) > 1:
        parts.append('<polyline fill="none" stroke="#3b6ea8" stroke-width="2" points="'
                     + " ".join(f"{x:.1f},{y:.1f}" for x, y in xy) + '"/>')
    for (x, y), (label, v) in zip(xy, points):
        parts.append(f'<circle cx="{x:.1f}" cy="{y:.1f}" r="3" fill="#3b6ea8"><title>{escape(label)}: '
                     f'{v:.3g} {escape(unit)}</title></circle>')
    if not points:
        parts.append(f'<text x="{left + plot_w / 2}" y="{top + plot_h / 2}" text-anchor="middle" class="tick">'
                     'no decided appeals yet</text>')
    parts.append("</svg>")
    return Markup("".join(parts))
