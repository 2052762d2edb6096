"""Charts as server-side SVG: the geometry is computed here and the templates draw it
(`_report_chart.html`), so a chart needs no script and no inline style (the CSP allows
neither); colours come from classes in app.css. The table beside each chart carries the
same figures for screen readers and for copying."""

from __future__ import annotations

from dataclasses import dataclass

LABEL_WIDTH = 180  # left gutter of a horizontal chart, for the row names
VALUE_WIDTH = 90  # right gutter, for the figure written after each bar
ROW_HEIGHT = 26
BAR_HEIGHT = 16
CHART_WIDTH = 640
COLUMN_AREA_HEIGHT = 160
MAX_LABEL_CHARS = 24


@dataclass(frozen=True)
class Bar:
    """One drawn bar: its box, and what is written beside it."""

    label: str
    shown: str  # the value as the reader's locale writes it
    x: float
    y: float
    width: float
    height: float
    series: int = 0  # colour class `series-<n>`


@dataclass(frozen=True)
class Tick:
    """A label under (columns) or before (bars) the plot."""

    text: str
    x: float
    y: float


@dataclass(frozen=True)
class Chart:
    kind: str  # "bars" (horizontal) or "columns"
    title: str
    width: int
    height: int
    bars: list[Bar]
    ticks: list[Tick]
    legend: list[str]

    @property
    def empty(self) -> bool:
        return not self.bars


def _short(label: str) -> str:
    return label if len(label) <= MAX_LABEL_CHARS else label[: MAX_LABEL_CHARS - 1] + "…"


def _scale(values: list[float], room: float) -> float:
    top = max((v for v in values if v > 0), default=0.0)
    return room / top if top else 0.0


def bars(
    title: str,
    rows: list[tuple[str, list[float], list[str]]],
    legend: list[str] | None = None,
) -> Chart:
    """Horizontal bars, one group per row: (label, values per series, values as shown).
    Every series shares one scale, so the bars of a row compare."""
    series = max((len(values) for _, values, _ in rows), default=1)
    room = CHART_WIDTH - LABEL_WIDTH - VALUE_WIDTH
    scale = _scale([v for _, values, _ in rows for v in values], room)
    group_height = ROW_HEIGHT + (series - 1) * (BAR_HEIGHT + 2)
    drawn: list[Bar] = []
    ticks: list[Tick] = []
    for index, (label, values, shown) in enumerate(rows):
        top = index * group_height + 4
        ticks.append(Tick(_short(label), LABEL_WIDTH - 8, top + BAR_HEIGHT - 3))
        for n, (value, text) in enumerate(zip(values, shown, strict=True)):
            y = top + n * (BAR_HEIGHT + 2)
            width = max(value, 0) * scale
            drawn.append(Bar(label, text, LABEL_WIDTH, y, max(width, 1.0), BAR_HEIGHT, n))
    height = max(len(rows) * group_height + 8, 40)
    return Chart("bars", title, CHART_WIDTH, height, drawn, ticks, legend or [])


def columns(title: str, rows: list[tuple[str, float, str]]) -> Chart:
    """Vertical columns left to right (a figure per day): (label, value, value as shown).
    Only every few labels are written under the axis when there are many days."""
    count = max(len(rows), 1)
    slot = CHART_WIDTH / count
    width = max(min(slot * 0.7, 40.0), 2.0)
    scale = _scale([value for _, value, _ in rows], COLUMN_AREA_HEIGHT - 16)
    every = max(1, round(count / 8))
    drawn: list[Bar] = []
    ticks: list[Tick] = []
    for index, (label, value, shown) in enumerate(rows):
        height = max(value, 0) * scale
        x = index * slot + (slot - width) / 2
        y = COLUMN_AREA_HEIGHT - height
        drawn.append(Bar(label, shown, x, y, width, max(height, 1.0)))
        if index % every == 0:
            ticks.append(Tick(label, x + width / 2, COLUMN_AREA_HEIGHT + 14))
    return Chart("columns", title, CHART_WIDTH, COLUMN_AREA_HEIGHT + 22, drawn, ticks, [])
