"""Bar charts drawn on the server as SVG: no script, no CDN, readable at any width.

Pure: numbers in, markup out. Labels are escaped; the chart scales with its container
(``viewBox`` and ``width=100%``), so it reads on a phone as well as on a desktop.
"""

from __future__ import annotations

import html
from collections.abc import Sequence

WIDTH = 600
HEIGHT = 160
PAD = 24


def bar_chart(title: str, values: Sequence[float], labels: Sequence[str], *, unit: str = "") -> str:
    """Vertical bars for ``values``; every few ``labels`` is printed under its bar."""
    n = max(len(values), 1)
    top = max(values, default=0) or 1
    slot = (WIDTH - 2 * PAD) / n
    bars = []
    for i, value in enumerate(values):
        h = (HEIGHT - 2 * PAD) * value / top
        x = PAD + i * slot
        y = HEIGHT - PAD - h
        label = html.escape(labels[i] if i < len(labels) else "")
        bars.append(
            f'<rect x="{x:.1f}" y="{y:.1f}" width="{max(slot - 2, 1):.1f}" height="{h:.1f}">'
            f"<title>{label}: {value:g}{html.escape(unit)}</title></rect>"
        )
    step = max(1, n // 6)
    ticks = "".join(
        f'<text x="{PAD + i * slot + slot / 2:.1f}" y="{HEIGHT - 6}" text-anchor="middle">'
        f"{html.escape(labels[i])}</text>"
        for i in range(0, min(n, len(labels)), step)
    )
    peak = f'<text x="{PAD}" y="{PAD - 8}">max {top:g}{html.escape(unit)}</text>'
    return (
        f'<figure class="chart"><figcaption>{html.escape(title)}</figcaption>'
        f'<svg viewBox="0 0 {WIDTH} {HEIGHT}" width="100%" role="img" '
        f'aria-label="{html.escape(title)}">'
        f'<line x1="{PAD}" y1="{HEIGHT - PAD}" x2="{WIDTH - PAD}" y2="{HEIGHT - PAD}"/>'
        f"{''.join(bars)}{ticks}{peak}</svg></figure>"
    )


def bar_list(title: str, items: Sequence[tuple[str, float]]) -> str:
    """Horizontal bars, one per named item (posts per channel)."""
    if not items:
        caption = f"<figcaption>{html.escape(title)}</figcaption>"
        return f'<figure class="chart">{caption}<p class="dim">none yet</p></figure>'
    top = max(v for _, v in items) or 1
    row = 22
    height = row * len(items) + 4
    rows = []
    for i, (name, value) in enumerate(items):
        w = (WIDTH - 200) * value / top
        y = i * row + 2
        rows.append(
            f'<text x="0" y="{y + 15}">{html.escape(name)}</text>'
            f'<rect x="150" y="{y + 3}" width="{w:.1f}" height="{row - 6}"/>'
            f'<text x="{150 + w + 6:.1f}" y="{y + 15}">{value:g}</text>'
        )
    return (
        f'<figure class="chart"><figcaption>{html.escape(title)}</figcaption>'
        f'<svg viewBox="0 0 {WIDTH} {height}" width="100%" role="img" '
        f'aria-label="{html.escape(title)}">{"".join(rows)}</svg></figure>'
    )
