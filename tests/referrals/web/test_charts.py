"""The dashboard's bar-chart geometry: the largest value spans the bar area, rows stack."""

from referrals.web.charts import BAR_AREA, BAR_GAP, BAR_HEIGHT, LABEL_HEIGHT, ROW_GAP, bar_chart


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
