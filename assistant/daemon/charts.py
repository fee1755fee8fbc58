"""The page's charts, drawn here as SVG: no JavaScript library to vendor, nothing
for the Content-Security-Policy to allow but the page's own origin, and the same
picture in every browser (and in the tests, which read its numbers back).

The series: an exercise's volume per week (kilograms lifted, or reps when no
load was said), its best estimated one-rep max per day (Epley, or the heaviest
load for sets of more than 12), distance per week, and the coach's latency per
turn. Pure functions of what they are given."""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import date, datetime, timedelta
from html import escape

from assistant.skills.records import MAX_ESTIMATE_REPS, distance_km, kilos, one_rep_max
from assistant.skills.workouts import Logged

WIDTH, HEIGHT = 640, 240
LEFT, RIGHT, TOP, BOTTOM = 56, 12, 28, 34  # margins: the axis labels and the title
Point = tuple[str, float]  # (label, value)


def _week(at: float) -> date:
    day = datetime.fromtimestamp(at).date()
    return day - timedelta(days=day.weekday())  # its Monday


def weekly_volume(entries: Sequence[Logged], exercise: str) -> tuple[list[Point], str]:
    """(week, volume) for ``exercise``, oldest first, and the unit: kg when a load
    was said for any set, else reps."""
    mine = [e for e in entries if e.entry.exercise == exercise]
    weighed = any(kilos(e.entry) is not None for e in mine)
    weeks: dict[date, float] = {}
    for logged in mine:
        entry = logged.entry
        reps = (entry.sets or 1) * (entry.reps or 0)
        load = kilos(entry) if weighed else 1.0
        weeks[_week(logged.at)] = weeks.get(_week(logged.at), 0.0) + reps * (load or 0.0)
    return [(f"{week:%d %b}", round(v, 1)) for week, v in sorted(weeks.items())], "kg" if weighed else "reps"


def best_per_day(entries: Sequence[Logged], exercise: str) -> list[Point]:
    """(day, the best estimated one-rep max in kg) for ``exercise``, oldest first."""
    days: dict[date, float] = {}
    for logged in entries:
        entry = logged.entry
        load = kilos(entry)
        if entry.exercise != exercise or load is None or not entry.reps:
            continue
        best = one_rep_max(load, entry.reps) if entry.reps <= MAX_ESTIMATE_REPS else load
        day = datetime.fromtimestamp(logged.at).date()
        days[day] = max(days.get(day, 0.0), best)
    return [(f"{day:%d %b}", round(v, 1)) for day, v in sorted(days.items())]


def weekly_distance(entries: Sequence[Logged]) -> list[Point]:
    """(week, kilometres) over every exercise with a distance, oldest first."""
    weeks: dict[date, float] = {}
    for logged in entries:
        if (km := distance_km(logged.entry)) is not None:
            weeks[_week(logged.at)] = weeks.get(_week(logged.at), 0.0) + km
    return [(f"{week:%d %b}", round(v, 2)) for week, v in sorted(weeks.items())]


def _frame(title: str, top: float, unit: str) -> list[str]:
    plot_h = HEIGHT - TOP - BOTTOM
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" '
             f'aria-label="{escape(title)}" class="chart">',
             f'<title>{escape(title)}</title>',
             f'<text x="{LEFT}" y="18" class="title">{escape(title)}</text>']
    for step in range(5):  # the grid, with the value of each line
        value = top * step / 4
        y = TOP + plot_h - plot_h * step / 4
        parts.append(f'<line x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{y:.1f}" y2="{y:.1f}" class="grid"/>')
        parts.append(f'<text x="{LEFT - 6}" y="{y + 4:.1f}" class="axis" text-anchor="end">{_number(value)}</text>')
    parts.append(f'<text x="{LEFT - 6}" y="{TOP - 10}" class="axis" text-anchor="end">{escape(unit)}</text>')
    return parts


def _number(value: float) -> str:
    return f"{value:.0f}" if value >= 10 or value == int(value) else f"{value:.1f}"


def _scale(points: Sequence[Point]) -> float:
    """The axis's top: a round number over the highest point, so the four grid
    lines fall on round values."""
    top = max((v for _, v in points), default=0.0)
    if top <= 0:
        return 1.0
    step = 10 ** math.floor(math.log10(top / 4))
    return next((4 * m * step for m in (1, 1.25, 2, 2.5, 5, 10, 20) if top * 1.05 <= 4 * m * step), top * 1.05)


def _labels(points: Sequence[Point], x: list[float]) -> list[str]:
    every = max(1, len(points) // 8)  # at most about eight labels under the axis
    return [f'<text x="{x[i]:.1f}" y="{HEIGHT - 12}" class="axis" text-anchor="middle">{escape(label)}</text>'
            for i, (label, _) in enumerate(points) if i % every == 0]


def bars(title: str, points: Sequence[Point], unit: str) -> str:
    """A bar per point; each bar carries its label and value (``data-label``, ``data-value``)."""
    top = _scale(points)
    parts = _frame(title, top, unit)
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    slot = plot_w / max(1, len(points))
    x = [LEFT + slot * (i + 0.5) for i in range(len(points))]
    for i, (label, value) in enumerate(points):
        h = plot_h * value / top
        parts.append(f'<rect x="{x[i] - slot * 0.35:.1f}" y="{TOP + plot_h - h:.1f}" width="{slot * 0.7:.1f}" '
                     f'height="{h:.1f}" class="bar" data-label="{escape(label)}" data-value="{value}">'
                     f'<title>{escape(label)}: {_number(value)} {escape(unit)}</title></rect>')
    if not points:
        parts.append(f'<text x="{WIDTH / 2}" y="{HEIGHT / 2}" class="empty" text-anchor="middle">Nothing yet</text>')
    return "".join([*parts, *_labels(points, x), "</svg>"])


def lines(title: str, series: dict[str, Sequence[Point]], unit: str, marks: Sequence[Point] = ()) -> str:
    """A line per series (by name, sharing the labels of the first), a dot per
    point; ``marks``: levels drawn across the chart (a median, a p95), each with
    its name and value (``data-mark``, ``data-value``)."""
    first = next(iter(series.values()), [])
    top = max((_scale([*points, *marks]) for points in series.values()), default=1.0)
    parts = _frame(title, top, unit)
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    for name, value in marks:
        y = TOP + plot_h - plot_h * value / top
        parts.append(f'<line x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{y:.1f}" y2="{y:.1f}" class="mark" '
                     f'data-mark="{escape(name)}" data-value="{value}"/>')
        parts.append(f'<text x="{WIDTH - RIGHT - 4}" y="{y - 4:.1f}" class="axis" text-anchor="end">'
                     f'{escape(name)} {_number(value)} {escape(unit)}</text>')
    slot = plot_w / max(1, len(first))
    x = [LEFT + slot * (i + 0.5) for i in range(len(first))]
    for n, (name, points) in enumerate(series.items()):
        xy = [(x[i], TOP + plot_h - plot_h * value / top) for i, (_, value) in enumerate(points[:len(x)])]
        parts.append(f'<polyline points="{" ".join(f"{a:.1f},{b:.1f}" for a, b in xy)}" class="line s{n}"/>')
        for (a, b), (label, value) in zip(xy, points, strict=False):
            parts.append(f'<circle cx="{a:.1f}" cy="{b:.1f}" r="3" class="dot s{n}" data-series="{escape(name)}" '
                         f'data-label="{escape(label)}" data-value="{value}"><title>{escape(name)} {escape(label)}: '
                         f'{_number(value)} {escape(unit)}</title></circle>')
        parts.append(f'<text x="{WIDTH - RIGHT - 90 * (len(series) - n)}" y="18" class="legend s{n}">'
                     f'{escape(name)}</text>')
    if not first:
        parts.append(f'<text x="{WIDTH / 2}" y="{HEIGHT / 2}" class="empty" text-anchor="middle">Nothing yet</text>')
    return "".join([*parts, *_labels(first, x), "</svg>"])
