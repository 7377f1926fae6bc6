"""Horizontal bar charts as inline SVG geometry, readable on a 375 px phone.

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


def bar_chart(*, chart_id: str, title: str, description: str, series, rows) -> BarChart:
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
    )
