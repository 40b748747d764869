"""Chart builders (metrics.charts) and table twins (metrics.exports) are pure: selector
results in, a JSON-ready Plotly figure or formatted rows out. No database here (no
django_db mark: any query would fail the test), and every figure is checked against
plotly's own schema, so a typo in an attribute fails here rather than in a browser."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
from decimal import Decimal

import plotly.graph_objects as go
import pytest

from metrics import charts, exports
from metrics.flow import (
    Burndown,
    BurndownDay,
    CycleTimeItem,
    CycleTimeReport,
    EpicRank,
    FlowDay,
    SprintFigures,
    WeekThroughput,
    WipAging,
    WipItem,
)
from metrics.forecasting import HowManyForecast, WhenForecast

UTC = dt.UTC
TODAY = dt.date(2026, 3, 20)


def at(day: int, hour: int = 0, month: int = 3) -> dt.datetime:
    return dt.datetime(2026, month, day, hour, tzinfo=UTC)


def assert_valid(figure: charts.Figure) -> None:
    """Plotly accepts the data and layout, the figure is plain JSON, and the config is ours."""
    go.Figure(data=figure["data"], layout=figure["layout"])
    assert json.loads(charts.figure_json(figure)) == figure
    assert figure["config"]["displaylogo"] is False
    assert figure["config"]["responsive"] is True


# --- Sample selector results -------------------------------------------------------------------


def burndown() -> Burndown:
    days = [
        BurndownDay(
            day=dt.date(2026, 3, 16 + offset),
            measured_before=at(17 + offset),
            remaining=Decimal(remaining),
            ideal=ideal,
            added=Decimal(added),
            removed=Decimal(removed),
            reestimated=Decimal(reestimated),
        )
        for offset, (remaining, ideal, added, removed, reestimated) in enumerate(
            [
                (20, 18.0, 0, 0, 0),
                (18, 13.5, 3, 0, 0),
                (15, 9.0, 0, 2, -1),
                (15, 4.5, 0, 0, 0),
                (15, 0.0, 0, 0, 0),
            ]
        )
    ]
    return Burndown(
        sprint_id=1,
        project_id=1,
        name="Sprint <1>",
        state="closed",
        start=at(16, 9),
        end=at(20, 17),
        close=at(20, 17),
        time_zone="UTC",
        committed=Decimal(20),
        days=tuple(days),
    )


def sprint(number: int, committed: str, completed: str, rolling: str | None) -> SprintFigures:
    return SprintFigures(
        sprint_id=number,
        project_id=1,
        name=f"Sprint {number}",
        state="closed",
        start=at(1 + number),
        end=at(2 + number),
        close=at(2 + number),
        committed_items=4,
        committed_points=Decimal(committed),
        completed_items=3,
        completed_points=Decimal(completed),
        added_items=1,
        added_points=Decimal(2),
        removed_items=0,
        removed_points=Decimal(0),
        say_do=float(Decimal(completed) / Decimal(committed)),
        rolling_velocity=None if rolling is None else Decimal(rolling),
    )


def cycle_report(*, empty: bool = False) -> CycleTimeReport:
    items = (
        ()
        if empty
        else (
            CycleTimeItem("PAY-1", at(1), at(3), 2.0, 4.5),
            CycleTimeItem("PAY-2", at(2), at(9), 7.0, 8.0),
        )
    )
    return CycleTimeReport(
        start=dt.date(2026, 3, 1),
        end=dt.date(2026, 3, 21),
        count=len(items),
        p50=None if empty else 4.5,
        p85=None if empty else 6.25,
        p95=None if empty else 6.75,
        lead_p50=None,
        lead_p85=None,
        lead_p95=None,
        items=items,
    )


def aging() -> WipAging:
    return WipAging(
        now=at(20, 12),
        count=3,
        items=(
            WipItem("PAY-7", "Young", "In Progress", at(19), 1.5, Decimal(3)),
            WipItem("PAY-8", "Middle", "Review", at(15), 5.5, None),
            WipItem("PAY-9", "Old", "Review", at(1), 19.5, Decimal("2.5")),
        ),
        reference_start=at(1, month=1),
        reference_items=12,
        cycle_p50=4.0,
        cycle_p85=8.0,
        cycle_p95=12.0,
    )


def when(*, available: bool = True) -> WhenForecast:
    basis = {
        "remaining": 12,
        "trials": 10_000,
        "seed": 7,
        "today": TODAY,
        "history_start": dt.date(2025, 12, 20),
        "history_end": TODAY,
        "history_days": 90,
        "history_completed": 40,
    }
    if not available:
        return WhenForecast(available=False, reason="Only 3 day(s)", **basis)
    return WhenForecast(
        available=True,
        reason="",
        **basis,
        p50_days=20,
        p85_days=27,
        p95_days=31,
        p50_date=TODAY + dt.timedelta(days=20),
        p85_date=TODAY + dt.timedelta(days=27),
        p95_date=TODAY + dt.timedelta(days=31),
    )


def how_many() -> HowManyForecast:
    return HowManyForecast(
        available=True,
        reason="",
        until=dt.date(2026, 4, 30),
        days=41,
        trials=10_000,
        seed=7,
        today=TODAY,
        history_start=dt.date(2025, 12, 20),
        history_end=TODAY,
        history_days=90,
        history_completed=40,
        p50=20,
        p85=15,
        p95=12,
    )


def epic(position: int, key: str, project_key: str | None, title: str = "An epic") -> EpicRank:
    return EpicRank(
        position=position,
        epic_id=position,
        key=key,
        title=title,
        status="implementing",
        project_key=project_key,
        business_value=8,
        time_criticality=5,
        risk_reduction=3,
        job_size=5,
        cost_of_delay=16,
        wsjf=Decimal("3.20"),
        backlog_rank=position,
        created_at=at(1, month=1),
    )


# --- Figures -----------------------------------------------------------------------------------


def test_every_figure_is_valid_plotly_and_plain_json():
    figures = [
        charts.burndown_figure(burndown(), today=dt.date(2026, 3, 18)),
        charts.velocity_figure([sprint(1, "10", "8", "8"), sprint(2, "12", "12", "10")]),
        charts.cycle_time_figure(cycle_report()),
        charts.cycle_time_figure(cycle_report(empty=True)),
        charts.throughput_figure([WeekThroughput(dt.date(2026, 3, 2), 3)]),
        charts.throughput_figure([]),
        charts.cumulative_flow_figure([FlowDay(dt.date(2026, 3, 1), 3, 2, 1)]),
        charts.wip_aging_figure(aging()),
        charts.forecast_when_figure(when(), target_date=dt.date(2026, 4, 10)),
        charts.forecast_when_figure(when(), distribution=[(20, 6000), (27, 3000), (31, 1000)]),
        charts.forecast_how_many_figure(how_many()),
        charts.epic_wsjf_figure([epic(1, "EP-1", "PAY"), epic(2, "EP-2", None)], project_key="PAY"),
    ]

    for figure in figures:
        assert_valid(figure)


def test_burndown_draws_remaining_until_today_ideal_line_and_scope_changes():
    figure = charts.burndown_figure(burndown(), today=dt.date(2026, 3, 18))

    traces = {trace["name"]: trace for trace in figure["data"]}
    assert traces["Remaining"]["x"] == [
        "2026-03-16",
        "2026-03-17",
        "2026-03-18",
        "2026-03-19",
        "2026-03-20",
    ]
    assert traces["Remaining"]["y"] == [20.0, 18.0, 15.0, None, None]
    assert traces["Ideal"]["y"] == [18.0, 13.5, 9.0, 4.5, 0.0]
    assert traces["Scope added"]["y"] == [0.0, 3.0, 0.0, 0.0, 0.0]
    assert traces["Scope removed"]["y"] == [0.0, 0.0, -2.0, 0.0, 0.0]
    assert traces["Re-estimated"]["y"] == [0.0, 0.0, -1.0, 0.0, 0.0]
    assert figure["layout"]["barmode"] == "relative"
    assert figure["layout"]["meta"]["title"] == "Burndown: Sprint <1>"


def test_closed_sprint_burndown_draws_every_day():
    figure = charts.burndown_figure(burndown())

    remaining = next(trace for trace in figure["data"] if trace["name"] == "Remaining")
    assert None not in remaining["y"]


def test_velocity_has_committed_and_completed_bars_and_the_rolling_line():
    figure = charts.velocity_figure([sprint(1, "10", "8", "8"), sprint(2, "12", "12", "10")])

    committed, completed, rolling = figure["data"]
    assert (committed["type"], committed["y"]) == ("bar", [10.0, 12.0])
    assert (completed["type"], completed["y"]) == ("bar", [8.0, 12.0])
    assert completed["customdata"] == ["80%", "100%"]
    assert (rolling["type"], rolling["y"]) == ("scatter", [8.0, 10.0])
    assert committed["x"] == ["Sprint 1", "Sprint 2"]
    assert figure["layout"]["barmode"] == "group"


def test_cycle_time_scatter_has_the_three_percentile_lines_over_the_period():
    figure = charts.cycle_time_figure(cycle_report())

    items, *lines = figure["data"]
    assert items["text"] == ["PAY-1", "PAY-2"]
    assert items["y"] == [2.0, 7.0]
    assert [(line["name"], line["y"]) for line in lines] == [
        ("50%: 4.5 d", [4.5, 4.5]),
        ("85%: 6.2 d", [6.25, 6.25]),
        ("95%: 6.8 d", [6.75, 6.75]),
    ]
    assert all(line["x"] == ["2026-03-01", "2026-03-21"] for line in lines)


def test_cycle_time_without_items_draws_no_percentile_line():
    figure = charts.cycle_time_figure(cycle_report(empty=True))

    assert [trace["name"] for trace in figure["data"]] == ["Items"]


@pytest.mark.parametrize(
    ("counts", "median"),
    [([3], 3), ([1, 4], 2.5), ([5, 0, 2], 2), ([0, 0, 7, 1], 0.5)],
)
def test_throughput_run_chart_has_its_median_line(counts, median):
    weeks = [
        WeekThroughput(dt.date(2026, 3, 2) + dt.timedelta(weeks=index), count)
        for index, count in enumerate(counts)
    ]

    figure = charts.throughput_figure(weeks)

    run, median_line = figure["data"]
    assert run["y"] == counts
    assert median_line["y"] == [median, median]
    assert figure["layout"]["yaxis"]["dtick"] == 1


def test_throughput_of_a_busy_team_lets_plotly_choose_the_ticks():
    figure = charts.throughput_figure([WeekThroughput(dt.date(2026, 3, 2), 40)])

    assert "dtick" not in figure["layout"]["yaxis"]


def test_cumulative_flow_stacks_done_in_progress_and_to_do():
    days = [FlowDay(dt.date(2026, 3, 1), 5, 2, 1), FlowDay(dt.date(2026, 3, 2), 4, 2, 2)]

    figure = charts.cumulative_flow_figure(days)

    assert [(trace["name"], trace["y"]) for trace in figure["data"]] == [
        ("Done", [1, 2]),
        ("In progress", [2, 2]),
        ("To do", [5, 4]),
    ]
    assert {trace["stackgroup"] for trace in figure["data"]} == {"flow"}


def test_aging_wip_colours_items_against_the_cycle_time_percentiles():
    figure = charts.wip_aging_figure(aging())

    (items,) = figure["data"]
    assert items["x"] == ["In Progress", "Review", "Review"]
    assert items["marker"]["color"] == [
        charts.PALETTE["p50"],
        charts.PALETTE["p85"],
        charts.PALETTE["p95"],
    ]
    assert [shape["y0"] for shape in figure["layout"]["shapes"]] == [4.0, 8.0, 12.0]
    assert [note["text"] for note in figure["layout"]["annotations"]] == [
        "50%: 4.0 d",
        "85%: 8.0 d",
        "95%: 12.0 d",
    ]


def test_forecast_without_distribution_shows_each_confidence_as_a_bar_from_today():
    figure = charts.forecast_when_figure(when(), target_date=dt.date(2026, 4, 10))

    assert [(trace["name"], trace["x"]) for trace in figure["data"]] == [
        ("50% sure", ["2026-03-20", "2026-04-09"]),
        ("85% sure", ["2026-03-20", "2026-04-16"]),
        ("95% sure", ["2026-03-20", "2026-04-20"]),
    ]
    (target,) = figure["layout"]["annotations"]
    assert target["text"] == "Target: 2026-04-10"
    assert figure["layout"]["shapes"][0]["x0"] == "2026-04-10"


def test_forecast_with_distribution_is_a_histogram_with_the_three_marks():
    figure = charts.forecast_when_figure(
        when(), distribution=[(20, 6000), (27, 3000), (31, 1000)], target_date=None
    )

    (histogram,) = figure["data"]
    assert histogram["type"] == "bar"
    assert histogram["x"] == ["2026-04-09", "2026-04-16", "2026-04-20"]
    assert histogram["y"] == [60.0, 30.0, 10.0]
    assert [note["text"] for note in figure["layout"]["annotations"]] == [
        "50%: 2026-04-09",
        "85%: 2026-04-16",
        "95%: 2026-04-20",
    ]


def test_how_many_shows_the_three_counts():
    figure = charts.forecast_how_many_figure(how_many())

    (bars,) = figure["data"]
    assert bars["y"] == [20, 15, 12]
    assert bars["x"] == ["50% sure", "85% sure", "95% sure"]


def test_epics_of_the_project_stand_out_in_the_wsjf_chart():
    figure = charts.epic_wsjf_figure(
        [epic(1, "EP-1", "PAY"), epic(2, "EP-2", "CARD")], project_key="PAY"
    )

    (bars,) = figure["data"]
    assert bars["y"] == ["EP-1", "EP-2"]
    assert bars["marker"]["color"] == [charts.PALETTE["accent"], charts.PALETTE["ideal"]]


def test_every_figure_shares_the_house_style():
    figure = charts.velocity_figure([sprint(1, "10", "8", "8")])

    assert figure["layout"]["font"]["family"] == charts.FONT_FAMILY
    assert figure["layout"]["height"] == 320
    assert figure["config"]["toImageButtonOptions"] == {
        "filename": "velocity-committed-and-completed-points"
    }


def test_figure_json_refuses_values_json_cannot_carry():
    with pytest.raises(ValueError, match="not JSON compliant"):
        charts.figure_json({"data": [{"y": [float("nan")]}]})


# --- Sparklines ----------------------------------------------------------------------------------


def test_sparkline_is_an_accessible_inline_svg_with_the_last_point_marked():
    svg = charts.sparkline_svg([Decimal(10), Decimal(20), Decimal(15)], label="Velocity <PAY>")

    assert svg.startswith('<svg class="sparkline" role="img" aria-label="Velocity &lt;PAY&gt;"')
    assert "<title>Velocity &lt;PAY&gt;</title>" in svg
    assert svg.count("<polyline") == 1
    assert 'points="2.0,22.0 48.0,2.0 94.0,12.0"' in svg
    assert '<circle cx="94.0" cy="12.0"' in svg


def test_sparkline_leaves_gaps_for_missing_values():
    svg = charts.sparkline_svg([1, None, 3, 4], label="Throughput")

    assert svg.count("<polyline") == 2


def test_sparkline_of_a_flat_or_single_series_is_drawn_mid_height_or_centered():
    assert 'points="2.0,22.0 94.0,22.0"' in charts.sparkline_svg([5, 5], label="Flat")
    assert '<circle cx="48.0"' in charts.sparkline_svg([7], label="One")


def test_sparkline_without_values_is_empty():
    assert charts.sparkline_svg([], label="Nothing") == ""
    assert charts.sparkline_svg([None, None], label="Nothing") == ""


# --- Table twins and CSV ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (Decimal("5.0"), "5"),
        (Decimal("2.50"), "2.5"),
        (Decimal(10), "10"),
        (Decimal(0), "0"),
        (None, ""),
        (3, "3"),
    ],
)
def test_points_are_written_as_typed(value, text):
    assert exports.points(value) == text


def test_burndown_table_matches_the_chart_and_leaves_future_days_empty():
    table = exports.burndown_table(burndown(), project_key="PAY", today=dt.date(2026, 3, 18))

    assert table.header == ("Day", "Remaining", "Ideal", "Added", "Removed", "Re-estimated")
    assert [row.cells for row in table.rows] == [
        ("2026-03-16", "20", "18.00", "0", "0", "0"),
        ("2026-03-17", "18", "13.50", "3", "0", "0"),
        ("2026-03-18", "15", "9.00", "0", "2", "-1"),
        ("2026-03-19", "", "4.50", "0", "0", "0"),
        ("2026-03-20", "", "0.00", "0", "0", "0"),
    ]
    assert table.filename == "pay-burndown-sprint-1.csv"


def test_aging_table_lists_the_oldest_item_first():
    table = exports.wip_aging_table(aging(), project_key="PAY")

    assert [row.cells[0] for row in table.rows] == ["PAY-9", "PAY-8", "PAY-7"]
    assert table.rows[0].cells == ("PAY-9", "Old", "Review", "2026-03-01 00:00 UTC", "19.50", "2.5")


def test_forecast_table_has_both_answers():
    table = exports.forecast_table(when(), how_many(), project_key="PAY")

    assert [row.cells[1:] for row in table.rows] == [
        ("50%", "2026-04-09", "20", "12"),
        ("85%", "2026-04-16", "27", "12"),
        ("95%", "2026-04-20", "31", "12"),
        ("50%", "2026-04-30", "41", "20"),
        ("85%", "2026-04-30", "41", "15"),
        ("95%", "2026-04-30", "41", "12"),
    ]


def test_unavailable_forecast_has_no_rows():
    assert not exports.forecast_table(when(available=False), None, project_key="PAY")


def test_epic_table_highlights_the_projects_epics():
    table = exports.epic_table(
        [epic(1, "EP-1", "PAY"), epic(2, "EP-2", None)],
        portfolio_name="Payments",
        project_key="PAY",
    )

    assert [(row.cells[1], row.highlighted) for row in table.rows] == [
        ("EP-1", True),
        ("EP-2", False),
    ]
    first_row = table.body_html.split("\n")[0]
    assert first_row.startswith('<tr class="highlighted"><td class="numeric">1</td><td>EP-1</td>')


def test_table_cells_are_escaped_in_the_html_body():
    table = exports.Table(
        name="t",
        caption="c",
        columns=(exports.Column("Title"),),
        rows=(exports.Row(cells=("<script>alert(1)</script>",)),),
    )

    assert "<script>" not in table.body_html
    assert "&lt;script&gt;" in table.body_html


def test_csv_is_the_header_then_exactly_the_table_rows():
    table = exports.velocity_table([sprint(1, "10", "8", "8")], project_key="PAY")

    rows = list(csv.reader(io.StringIO(exports.table_csv(table))))

    assert rows[0] == list(table.header)
    assert rows[1:] == [list(row.cells) for row in table.rows]
    assert rows[1][:2] == ["Sprint 1", "closed"]


def test_csv_neutralises_text_a_spreadsheet_would_run_as_a_formula():
    table = exports.epic_table(
        [epic(1, "EP-1", None, title='=HYPERLINK("http://evil")'), epic(2, "EP-2", None, "-3")],
        portfolio_name="Payments",
    )

    rows = list(csv.reader(io.StringIO(exports.table_csv(table))))

    assert rows[1][2] == '\'=HYPERLINK("http://evil")'
    assert rows[2][2] == "-3"  # a number stays a number
    assert table.rows[0].cells[2] == '=HYPERLINK("http://evil")'  # the page shows it as is
