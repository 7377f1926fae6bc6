"""Horizontal bar charts and weekly line charts as inline SVG geometry, readable on a 375 px
phone; each carries its numbers for the table drawn under it.

Pure layout: numbers in, coordinates out; the template draws them
(``templates/referrals/dashboard.html``) and the dashboard view decides what to chart.
"""

from dataclasses import dataclass

CHART_WIDTH = 360  # viewBox units; the SVG is drawn at 100 % of its column
BAR_AREA = 290  # the longest bar; the rest of the width holds its number
LABEL_HEIGHT = 15
BAR_HEIGHT = 12
BAR_GAP = 3
ROW_GAP = 9


@dataclass
class Bar:
    series: str
    css: str
    value: int
    y: int
    width: float
    height: int = BAR_HEIGHT

    @property
    def text_x(self) -> float:
        return self.width + 4

    @property
    def text_y(self) -> int:
        return self.y + BAR_HEIGHT - 2


@dataclass
class ChartRow:
    label: str
    label_y: int
    bars: list[Bar]


@dataclass
class BarChart:
    id: str
    title: str
    description: str
    series: list[tuple[str, str]]  # (css class, name): the legend
    rows: list[ChartRow]
    height: int
    width: int = CHART_WIDTH
    row_heading: str = ""  # the first column of the table under the chart

    @property
    def table_rows(self) -> list[tuple[str, list[int]]]:
        """The chart's numbers, row by row, for the table under it."""
        return [(row.label, [bar.value for bar in row.bars]) for row in self.rows]


def bar_chart(
    *, chart_id: str, title: str, description: str, series, rows, row_heading: str = ""
) -> BarChart:
    """``series`` is [(css class, name)], ``rows`` is [(label, [value per series])]; each row
    is its label on a line of its own with one bar per series under it, so long district and
    unit names never squeeze the bars."""
    largest = max((value for _label, values in rows for value in values), default=0) or 1
    chart_rows, top = [], 0
    for label, values in rows:
        bars = []
        for index, ((css, name), value) in enumerate(zip(series, values, strict=True)):
            bars.append(
                Bar(
                    series=name,
                    css=css,
                    value=value,
                    y=top + LABEL_HEIGHT + index * (BAR_HEIGHT + BAR_GAP),
                    width=round(BAR_AREA * value / largest, 1),
                )
            )
        chart_rows.append(ChartRow(label=label, label_y=top + LABEL_HEIGHT - 4, bars=bars))
        top += LABEL_HEIGHT + len(series) * (BAR_HEIGHT + BAR_GAP) + ROW_GAP
    return BarChart(
        id=chart_id,
        title=title,
        description=description,
        series=list(series),
        rows=chart_rows,
        height=max(top, LABEL_HEIGHT),
        row_heading=row_heading,
    )


# --- Line charts: a value per week, one line per series ------------------------------------

LINE_LEFT = 30  # room for the value axis' numbers
LINE_RIGHT = 10
LINE_TOP = 8
LINE_PLOT_HEIGHT = 150
LINE_AXIS_HEIGHT = 22  # the week labels under the plot
NICE_STEPS = (1, 2, 5)


@dataclass
class Point:
    x: float
    y: float
    value: int
    label: str


@dataclass
class Line:
    css: str
    name: str
    points: list[Point]

    @property
    def path(self) -> str:
        return " ".join(f"{point.x},{point.y}" for point in self.points)


@dataclass
class LineChart:
    id: str
    title: str
    description: str
    series: list[tuple[str, str]]  # (css class, name): the legend and the table's columns
    labels: list[str]  # the x axis, one per point
    lines: list[Line]
    x_ticks: list[tuple[float, str]]  # (x, label) written under the plot
    y_ticks: list[tuple[float, int]]  # (y, value) written left of the plot, with a grid line
    plot_left: int
    plot_right: int
    plot_top: int
    plot_bottom: int
    height: int
    width: int = CHART_WIDTH
    row_heading: str = ""

    @property
    def table_rows(self) -> list[tuple[str, list[int]]]:
        return [
            (label, [line.points[index].value for line in self.lines])
            for index, label in enumerate(self.labels)
        ]


def nice_ceiling(value: int) -> tuple[int, int]:
    """(top of the value axis, step between its ticks): a round number at or above ``value``
    in at most four steps of 1, 2 or 5 times a power of ten."""
    magnitude = 1
    while True:
        for step in NICE_STEPS:
            if step * magnitude * 4 >= value:
                step_value = step * magnitude
                top = step_value * -(-max(value, 1) // step_value)
                return top, step_value
        magnitude *= 10


def line_chart(
    *, chart_id: str, title: str, description: str, series, labels, values, row_heading="", every=2
):
    """``series`` is [(css class, name)], ``labels`` the x axis (a week each), ``values`` one
    list per series, a value per label. Every ``every``-th label is written (and the last),
    so that twelve weeks stay readable on a 375 px phone."""
    top, step = nice_ceiling(max((v for row in values for v in row), default=0))
    bottom = LINE_TOP + LINE_PLOT_HEIGHT
    right = CHART_WIDTH - LINE_RIGHT
    span = right - LINE_LEFT
    count = max(len(labels) - 1, 1)

    def x_of(index: int) -> float:
        return round(LINE_LEFT + span * index / count, 1)

    def y_of(value: int) -> float:
        return round(bottom - LINE_PLOT_HEIGHT * value / top, 1)

    lines = [
        Line(
            css=css,
            name=name,
            points=[
                Point(x=x_of(i), y=y_of(v), value=v, label=labels[i]) for i, v in enumerate(row)
            ],
        )
        for (css, name), row in zip(series, values, strict=True)
    ]
    shown = [i for i in range(len(labels)) if i % every == 0 or i == len(labels) - 1]
    if len(shown) > 1 and shown[-1] - shown[-2] < every:
        shown.pop(-2)  # the last label, not two crowded ones
    return LineChart(
        id=chart_id,
        title=title,
        description=description,
        series=list(series),
        labels=list(labels),
        lines=lines,
        x_ticks=[(x_of(i), labels[i]) for i in shown],
        y_ticks=[(y_of(v), v) for v in range(0, top + 1, step)],
        plot_left=LINE_LEFT,
        plot_right=right,
        plot_top=LINE_TOP,
        plot_bottom=bottom,
        height=bottom + LINE_AXIS_HEIGHT,
        row_heading=row_heading,
    )
