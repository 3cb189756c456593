"""Small inline-SVG charts for the HTML report (no plotting library, no network).

Every function returns an ``<svg>`` string sized in CSS pixels; labels are escaped here.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from html import escape

__all__ = ["PALETTE", "WIDE_PALETTE", "grouped_hbars", "scatter", "stacked_hbars"]

# Distinguishable on white and for the common colour-vision deficiencies (Okabe-Ito, then extras).
PALETTE = (
    "#0072B2",
    "#E69F00",
    "#009E73",
    "#CC79A7",
    "#56B4E9",
    "#D55E00",
    "#F0E442",
    "#000000",
    "#7F7F7F",
    "#8C564B",
)
# More colours for charts with many categories (scripts).
WIDE_PALETTE = (
    *PALETTE[:7],
    "#8C564B",
    "#7F7F7F",
    "#17BECF",
    "#BCBD22",
    "#9467BD",
    "#1F3A93",
    "#2CA02C",
    "#FF9896",
    "#C49C94",
    "#393B79",
    "#AD494A",
    "#637939",
    "#843C39",
)


def _fmt(v: float) -> str:
    return f"{v:.2f}" if v < 10 else f"{v:.1f}"


def _log_ticks(lo: float, hi: float) -> list[float]:
    ticks = []
    t = 2.0 ** math.floor(math.log2(lo))
    while t <= hi * 1.0001:
        if t >= lo / 1.0001:
            ticks.append(t)
        t *= 2
    return ticks


def _nice(v: float, up: bool) -> float:
    """The nearest 1-2-5 × 10^n at or above (``up``) or below ``v``."""
    e = math.floor(math.log10(v))
    steps = [m * 10.0**k for k in (e - 1, e, e + 1) for m in (1, 2, 5)]
    return min(s for s in steps if s >= v * 0.9999) if up else max(s for s in steps if s <= v * 1.0001)


def _nice_ticks(lo: float, hi: float) -> list[float]:
    ticks = []
    e = math.floor(math.log10(lo))
    while 10.0**e <= hi * 10:
        ticks += [m * 10.0**e for m in (1, 2, 5) if lo * 0.9999 <= m * 10.0**e <= hi * 1.0001]
        e += 1
    return ticks


def _short(v: float) -> str:
    if v >= 1e6:
        return f"{v / 1e6:g}M"
    if v >= 1e3:
        return f"{v / 1e3:g}k"
    return f"{v:g}"


def grouped_hbars(
    rows: Sequence[tuple[str, Sequence[float | None]]],
    series: Sequence[str],
    *,
    log: bool = True,
    reference: float | None = 1.0,
    width: int = 860,
    label_width: int = 230,
    bar: int = 4,
    title: str = "",
) -> str:
    """One row per label, one thin bar per series; log₂ axis by default (ratios)."""
    values = [v for _label, vs in rows for v in vs if v is not None and v > 0]
    if not values:
        return "<p class='na'>no values to plot</p>"
    lo = min(min(values), reference or min(values))
    hi = max(max(values), reference or max(values))
    if log:
        lo, hi = 2.0 ** math.floor(math.log2(lo)), 2.0 ** math.ceil(math.log2(hi))
        if lo == hi:
            hi = lo * 2
    else:
        lo, hi = 0.0, hi * 1.05
    plot_w = width - label_width - 50
    group_h = bar * len(series) + 6
    top = 28
    height = top + group_h * len(rows) + 10

    def x(v: float) -> float:
        if log:
            return label_width + plot_w * (math.log2(v) - math.log2(lo)) / (math.log2(hi) - math.log2(lo))
        return label_width + plot_w * (v - lo) / (hi - lo)

    out = [
        f'<svg class="chart" width="{width}" height="{height}" viewBox="0 0 {width} {height}" role="img" '
        f'aria-label="{escape(title)}" xmlns="http://www.w3.org/2000/svg">'
    ]
    ticks = _log_ticks(lo, hi) if log else [lo + (hi - lo) * k / 5 for k in range(6)]
    for t in ticks:
        xt = x(t) if t > 0 or not log else label_width
        out.append(f'<line x1="{xt:.1f}" y1="{top - 4}" x2="{xt:.1f}" y2="{height - 8}" class="grid"/>')
        out.append(f'<text x="{xt:.1f}" y="{top - 10}" class="tick" text-anchor="middle">{_fmt(t)}</text>')
    if reference is not None and lo <= reference <= hi:
        xr = x(reference)
        out.append(f'<line x1="{xr:.1f}" y1="{top - 4}" x2="{xr:.1f}" y2="{height - 8}" class="ref"/>')
    for r, (label, vs) in enumerate(rows):
        y0 = top + r * group_h
        out.append(
            f'<text x="{label_width - 6}" y="{y0 + group_h / 2 + 3:.1f}" class="label" '
            f'text-anchor="end">{escape(label)}</text>'
        )
        for s, v in enumerate(vs):
            if v is None or v <= 0:
                continue
            x0 = x(lo) if log else label_width
            w = max(1.0, x(v) - x0)
            tip = f"{label} · {series[s]}: {v:.3f}"
            out.append(
                f'<rect x="{x0:.1f}" y="{y0 + 3 + s * bar}" width="{w:.1f}" height="{bar - 0.5}" '
                f'fill="{PALETTE[s % len(PALETTE)]}"><title>{escape(tip)}</title></rect>'
            )
    out.append("</svg>")
    return "".join(out)


def stacked_hbars(
    rows: Sequence[tuple[str, Sequence[tuple[str, float]]]],
    colors: dict[str, str],
    *,
    width: int = 860,
    label_width: int = 160,
    bar: int = 22,
    title: str = "",
) -> str:
    """100% stacked bars: each row's (category, share) parts, shares summing to about 1."""
    plot_w = width - label_width - 10
    height = len(rows) * (bar + 8) + 8
    out = [
        f'<svg class="chart" width="{width}" height="{height}" viewBox="0 0 {width} {height}" role="img" '
        f'aria-label="{escape(title)}" xmlns="http://www.w3.org/2000/svg">'
    ]
    for r, (label, parts) in enumerate(rows):
        y0 = 4 + r * (bar + 8)
        out.append(
            f'<text x="{label_width - 6}" y="{y0 + bar / 2 + 4:.1f}" class="label" text-anchor="end">'
            f"{escape(label)}</text>"
        )
        x0 = float(label_width)
        for cat, share in parts:
            if share <= 0:
                continue
            w = plot_w * share
            out.append(
                f'<rect x="{x0:.1f}" y="{y0}" width="{w:.1f}" height="{bar}" '
                f'fill="{colors.get(cat, "#999")}">'
                f"<title>{escape(label)} · {escape(cat)}: {100 * share:.1f}%</title></rect>"
            )
            if w > 38:
                out.append(
                    f'<text x="{x0 + w / 2:.1f}" y="{y0 + bar / 2 + 4:.1f}" class="inbar" '
                    f'text-anchor="middle">{100 * share:.0f}%</text>'
                )
            x0 += w
    out.append("</svg>")
    return "".join(out)


def scatter(
    series: Sequence[tuple[str, Sequence[tuple[float, float]]]],
    *,
    x_label: str,
    y_label: str,
    log_x: bool = True,
    width: int = 620,
    height: int = 320,
    lines: bool = False,
    title: str = "",
) -> str:
    """Points (and optionally lines) per series, e.g. bytes/token against vocabulary size."""
    pts = [p for _name, ps in series for p in ps]
    if not pts:
        return "<p class='na'>no values to plot</p>"
    # Room on the right for the point labels (one point per series) or the last tick.
    left, right, top, bottom = 60, (20 if lines else 110), 16, 44
    xs = [p[0] for p in pts]
    ys = [p[1] for p in pts]
    if log_x:
        x_lo, x_hi = _nice(min(xs), up=False), _nice(max(xs), up=True)
        if x_lo == x_hi:
            x_hi = _nice(x_hi * 1.01, up=True)
    else:
        x_lo, x_hi = min(xs), max(xs) if max(xs) > min(xs) else min(xs) + 1
    y_lo, y_hi = min(ys), max(ys)
    pad = (y_hi - y_lo) * 0.1 or max(abs(y_hi) * 0.1, 0.1)
    y_lo, y_hi = y_lo - pad, y_hi + pad

    def px(v: float) -> float:
        frac = (
            (math.log2(v) - math.log2(x_lo)) / (math.log2(x_hi) - math.log2(x_lo))
            if log_x
            else ((v - x_lo) / (x_hi - x_lo))
        )
        return left + (width - left - right) * frac

    def py(v: float) -> float:
        return top + (height - top - bottom) * (1 - (v - y_lo) / (y_hi - y_lo))

    out = [
        f'<svg class="chart" width="{width}" height="{height}" viewBox="0 0 {width} {height}" role="img" '
        f'aria-label="{escape(title)}" xmlns="http://www.w3.org/2000/svg">'
    ]
    xticks = _nice_ticks(x_lo, x_hi) if log_x else [x_lo + (x_hi - x_lo) * k / 4 for k in range(5)]
    for t in xticks:
        label = _short(t)
        out.append(
            f'<line x1="{px(t):.1f}" y1="{top}" x2="{px(t):.1f}" y2="{height - bottom}" class="grid"/>'
        )
        out.append(
            f'<text x="{px(t):.1f}" y="{height - bottom + 16}" class="tick" '
            f'text-anchor="middle">{label}</text>'
        )
    for k in range(5):
        t = y_lo + (y_hi - y_lo) * k / 4
        out.append(f'<line x1="{left}" y1="{py(t):.1f}" x2="{width - right}" y2="{py(t):.1f}" class="grid"/>')
        out.append(
            f'<text x="{left - 6}" y="{py(t) + 4:.1f}" class="tick" text-anchor="end">{_fmt(t)}</text>'
        )
    out.append(
        f'<text x="{(left + width - right) / 2}" y="{height - 8}" class="axis" text-anchor="middle">'
        f"{escape(x_label)}</text>"
    )
    out.append(
        f'<text x="14" y="{(top + height - bottom) / 2}" class="axis" text-anchor="middle" '
        f'transform="rotate(-90 14 {(top + height - bottom) / 2})">{escape(y_label)}</text>'
    )
    for s, (name, ps) in enumerate(series):
        color = PALETTE[s % len(PALETTE)]
        ordered = sorted(ps)
        if lines and len(ordered) > 1:
            path = " ".join(f"{px(a):.1f},{py(b):.1f}" for a, b in ordered)
            out.append(f'<polyline points="{path}" fill="none" stroke="{color}" stroke-width="1.5"/>')
        for a, b in ordered:
            out.append(
                f'<circle cx="{px(a):.1f}" cy="{py(b):.1f}" r="5" fill="{color}">'
                f"<title>{escape(name)}: {a:g} → {b:.3f}</title></circle>"
            )
        if ordered and not lines:
            a, b = ordered[-1]
            out.append(f'<text x="{px(a) + 8:.1f}" y="{py(b) + 4:.1f}" class="label">{escape(name)}</text>')
    out.append("</svg>")
    return "".join(out)
