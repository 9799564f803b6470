"""The dashboard's charts as geometry for server-side SVG: a best-latency-over-trials curve, a stacked bar, a scatter.

The templates draw what these functions compute (coordinates in a fixed view box, axis
ticks, labels), so a page is complete as served: no charting script, nothing loaded from
elsewhere, and the numbers are testable without a browser. A curve keeps at most
`MAX_POINTS` points per series (every n-th, the last always kept), so a workflow with
100,000 progress points renders as fast as one with 100.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from itertools import pairwise

WIDTH, HEIGHT, PAD = 640, 240, 44
MAX_POINTS = 400
PALETTE = ("#2563eb", "#dc2626", "#059669", "#d97706", "#7c3aed", "#0891b2")


@dataclass
class Series:
    name: str
    color: str
    path: str  # an SVG path's `d`
    last: tuple[float, float] | None  # (x, y) of the last point, for its marker


@dataclass
class Chart:
    """A chart's series and axes within a `WIDTH`×`HEIGHT` view box."""

    series: list[Series] = field(default_factory=list)
    x_ticks: list[tuple[float, str]] = field(default_factory=list)
    y_ticks: list[tuple[float, str]] = field(default_factory=list)
    x_label: str = ""
    y_label: str = ""
    width: int = WIDTH
    height: int = HEIGHT
    pad: int = PAD

    @property
    def empty(self) -> bool:
        return not self.series


def thin(points: list, limit: int = MAX_POINTS) -> list:
    """At most `limit` of `points`, evenly spaced, the last always kept."""
    if len(points) <= limit:
        return points
    step = -(-len(points) // limit)
    kept = points[::step]
    return kept if kept[-1] is points[-1] else [*kept, points[-1]]


def _ticks(low: float, high: float, count: int = 5) -> list[float]:
    if high <= low:
        return [low]
    return [low + (high - low) * i / (count - 1) for i in range(count)]


def _scale(value: float, low: float, high: float, start: float, end: float) -> float:
    return start if high <= low else start + (value - low) / (high - low) * (end - start)


def _fmt(value: float) -> str:
    return f"{value:.3g}" if abs(value) < 1000 else f"{value:,.0f}"


def latency_curve(history: dict[str, list[tuple[int, float | None]]]) -> Chart:
    """The best estimated latency (ms) over trials measured, a step line per device kind; points without an estimate
    (before every task has a measured record) are left out."""
    series = {k: thin([(t, ms) for t, ms in points if ms is not None]) for k, points in sorted(history.items())}
    series = {k: pts for k, pts in series.items() if pts}
    chart = Chart(x_label="trials measured", y_label="estimated latency (ms)")
    if not series:
        return chart
    xs = [t for pts in series.values() for t, _ in pts]
    ys = [ms for pts in series.values() for _, ms in pts]
    x0, x1 = 0, max(max(xs), 1)
    y0, y1 = 0.0, max(ys) * 1.05
    left, right, top, bottom = PAD, WIDTH - 12, 12, HEIGHT - PAD + 10

    def xy(t: float, ms: float) -> tuple[float, float]:
        return round(_scale(t, x0, x1, left, right), 1), round(_scale(ms, y0, y1, bottom, top), 1)

    for i, (kind, pts) in enumerate(series.items()):
        coords = [xy(t, ms) for t, ms in pts]
        steps = [f"M{coords[0][0]},{coords[0][1]}"]
        for (_, y_prev), (x, y) in pairwise(coords):
            steps.append(f"H{x}V{y}" if y != y_prev else f"H{x}")
        chart.series.append(Series(kind, PALETTE[i % len(PALETTE)], "".join(steps), coords[-1]))
    chart.x_ticks = [(xy(t, 0)[0], f"{t:,.0f}") for t in _ticks(x0, x1)]
    chart.y_ticks = [(xy(0, v)[1], _fmt(v)) for v in _ticks(y0, y1)]
    return chart


@dataclass
class Segment:
    name: str
    seconds: float
    x: float
    width: float
    color: str


def stacked_bar(parts: dict[str, float], width: float = WIDTH - 2 * PAD) -> list[Segment]:
    """`parts` (name → seconds) as consecutive segments of one bar `width` wide; non-positive parts are left out."""
    positive = {name: float(v) for name, v in parts.items() if isinstance(v, (int, float)) and v > 0}
    total = sum(positive.values())
    segments, x = [], 0.0
    for i, (name, seconds) in enumerate(positive.items()):
        w = width * seconds / total
        segments.append(Segment(name, seconds, round(x, 1), round(w, 1), PALETTE[i % len(PALETTE)]))
        x += w
    return segments


@dataclass
class Dot:
    label: str
    x: float
    y: float
    color: str
    best: bool


def scatter(points: list[tuple[str, float, float, bool]]) -> tuple[list[Dot], Chart]:
    """(label, latency ms, cost per million inferences, best?) as dots on latency × cost axes."""
    chart = Chart(x_label="latency (ms)", y_label="USD per million inferences")
    if not points:
        return [], chart
    xs, ys = [p[1] for p in points], [p[2] for p in points]
    x1, y1 = max(xs) * 1.1, max(ys) * 1.1
    left, right, top, bottom = PAD, WIDTH - 12, 12, HEIGHT - PAD + 10
    dots = [
        Dot(label, round(_scale(x, 0, x1, left, right), 1), round(_scale(y, 0, y1, bottom, top), 1), color, best)
        for (label, x, y, best), color in zip(points, (PALETTE[i % len(PALETTE)] for i in range(len(points))))
    ]
    chart.x_ticks = [(round(_scale(v, 0, x1, left, right), 1), _fmt(v)) for v in _ticks(0, x1)]
    chart.y_ticks = [(round(_scale(v, 0, y1, bottom, top), 1), _fmt(v)) for v in _ticks(0, y1)]
    return dots, chart


@dataclass
class Bar:
    label: str
    value: float
    x: float
    y: float
    width: float
    height: float


def bars(points: list[tuple[str, float]], width: int = WIDTH, height: int = 120) -> list[Bar]:
    """(label, value) as vertical bars filling a `width`×`height` box, the tallest at full height; at most
    `MAX_POINTS` (every n-th, the last kept)."""
    points = thin(points)
    if not points:
        return []
    top = max(v for _, v in points) or 1.0
    step = width / len(points)
    return [
        Bar(
            label,
            value,
            round(i * step + 1, 1),
            round(height - height * value / top, 1),
            round(max(step - 2, 1), 1),
            round(height * value / top, 1),
        )
        for i, (label, value) in enumerate(points)
    ]
