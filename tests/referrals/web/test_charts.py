"""The dashboard's chart geometry: the largest value spans the bar area, rows stack; weeks
run across a line chart whose value axis ends on a round number."""

import pytest

from referrals.web.charts import (
    BAR_AREA,
    BAR_GAP,
    BAR_HEIGHT,
    CHART_WIDTH,
    LABEL_HEIGHT,
    LINE_AXIS_HEIGHT,
    LINE_LEFT,
    LINE_PLOT_HEIGHT,
    LINE_RIGHT,
    LINE_TOP,
    ROW_GAP,
    bar_chart,
    line_chart,
    nice_ceiling,
)


def test_bars_scale_to_the_largest_value_and_rows_stack_under_their_labels():
    chart = bar_chart(
        chart_id="c",
        title="t",
        description="d",
        series=[("a", "A"), ("b", "B")],
        rows=[("North", [10, 5]), ("South", [0, 20])],
    )
    north, south = chart.rows
    assert [bar.width for bar in north.bars] == [BAR_AREA / 2, BAR_AREA / 4]
    assert [bar.width for bar in south.bars] == [0, BAR_AREA]
    assert [bar.y for bar in north.bars] == [LABEL_HEIGHT, LABEL_HEIGHT + BAR_HEIGHT + BAR_GAP]
    row_height = LABEL_HEIGHT + 2 * (BAR_HEIGHT + BAR_GAP) + ROW_GAP
    assert south.label_y == row_height + LABEL_HEIGHT - 4
    assert chart.height == 2 * row_height
    assert north.bars[0].text_x == BAR_AREA / 2 + 4


def test_an_empty_chart_has_a_height_and_no_division_by_zero():
    chart = bar_chart(chart_id="c", title="t", description="d", series=[("a", "A")], rows=[])
    assert (chart.rows, chart.height) == ([], LABEL_HEIGHT)
    zero = bar_chart(
        chart_id="c", title="t", description="d", series=[("a", "A")], rows=[("x", [0])]
    )
    assert zero.rows[0].bars[0].width == 0


def test_a_bar_chart_carries_its_numbers_for_the_table():
    chart = bar_chart(
        chart_id="c",
        title="t",
        description="d",
        series=[("a", "A"), ("b", "B")],
        rows=[("North", [10, 5]), ("South", [0, 20])],
        row_heading="District",
    )
    assert chart.table_rows == [("North", [10, 5]), ("South", [0, 20])]
    assert chart.row_heading == "District"


@pytest.mark.parametrize(
    ("largest", "top", "step"),
    [(0, 1, 1), (1, 1, 1), (4, 4, 1), (7, 8, 2), (13, 15, 5), (41, 60, 20), (1234, 1500, 500)],
)
def test_the_value_axis_ends_on_a_round_number(largest, top, step):
    assert nice_ceiling(largest) == (top, step)
    assert top // step <= 4


def test_a_line_chart_places_weeks_across_and_values_up():
    labels = [f"w{n}" for n in range(12)]
    chart = line_chart(
        chart_id="t",
        title="t",
        description="d",
        series=[("line-a", "A"), ("line-b", "B")],
        labels=labels,
        values=[list(range(12)), [0] * 12],
    )
    a, b = chart.lines
    assert a.points[0].x == LINE_LEFT and a.points[-1].x == CHART_WIDTH - LINE_RIGHT
    assert a.points[0].y == chart.plot_bottom == LINE_TOP + LINE_PLOT_HEIGHT
    # 11 is the largest: the axis ends at 15, in steps of 5.
    assert [value for _y, value in chart.y_ticks] == [0, 5, 10, 15]
    top = chart.y_ticks[-1][1]
    assert a.points[-1].y == round(chart.plot_bottom - LINE_PLOT_HEIGHT * 11 / top, 1)
    assert all(point.y == chart.plot_bottom for point in b.points)
    assert a.path.startswith(f"{LINE_LEFT:.1f},{chart.plot_bottom:.1f} {a.points[1].x},")
    # Every other week is written, and the last, never two crowded together.
    assert [label for _x, label in chart.x_ticks] == ["w0", "w2", "w4", "w6", "w8", "w11"]
    assert chart.table_rows[3] == ("w3", [3, 0])
    assert chart.height == LINE_TOP + LINE_PLOT_HEIGHT + LINE_AXIS_HEIGHT


def test_an_empty_line_chart_divides_by_nothing():
    chart = line_chart(
        chart_id="t", title="t", description="d", series=[("a", "A")], labels=["w0"], values=[[0]]
    )
    assert chart.lines[0].points[0].y == chart.plot_bottom
    assert chart.y_ticks == [(chart.plot_bottom, 0), (LINE_TOP, 1)]
