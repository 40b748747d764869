"""What the KPI regions of the pages show: the KPI table of a project (or of a portfolio's own
KPIs) with each row's latest value, status and sparkline, the trend chart of one KPI with its
data-table twin, and the project's health. The facade the views and the template tag use,
as metrics.dashboards is for the flow charts; every number comes from the selectors.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.urls import reverse
from django.utils.safestring import SafeString

from metrics import selectors as flow_selectors
from metrics.dashboards import Chart
from metrics.health import ProjectHealth
from metrics.kpis import access, charts, periods, selectors
from metrics.kpis.rag import GREY, Status, kpi_status
from metrics.kpis.services import kpi_sprint_starts, kpi_today
from metrics.kpis.text import value_text
from metrics.models import KPI, KPIMeasurement
from portfolio.models import Portfolio, Project

AnyUser = AbstractBaseUser | AnonymousUser

TREND_SLUG = "kpi-trend"


@dataclass(frozen=True, slots=True)
class KpiRow:
    """One KPI in a table: its latest value and status, the recent values (oldest first)
    for the sparkline and the trend, and what the user may do with it."""

    kpi: KPI
    latest: KPIMeasurement | None
    status: Status
    recent: tuple[KPIMeasurement, ...]
    sparkline: SafeString | str
    suggested_period: dt.date | None
    can_record: bool
    can_define: bool

    @property
    def dom_id(self) -> str:
        return f"kpi-row-{self.kpi.pk}"

    @property
    def latest_text(self) -> str:
        return value_text(self.latest.value if self.latest else None, self.kpi.unit)

    @property
    def latest_period_label(self) -> str:
        if self.latest is None:
            return ""
        return periods.period_label(self.kpi.cadence, self.latest.period_start)

    @property
    def target_text(self) -> str:
        return value_text(self.kpi.target, self.kpi.unit)

    @property
    def status_label(self) -> str:
        return "no data" if self.status == GREY else self.status

    @property
    def writable(self) -> bool:
        """May the user type values into this KPI now (not computed, not retired)?"""
        return self.can_record and self.kpi.active and not self.kpi.is_computed


@dataclass(frozen=True, slots=True)
class KpiBoard:
    """A KPI table with one KPI's trend (the selected one) and, for a project, its health."""

    project: Project | None
    portfolio: Portfolio
    rows: tuple[KpiRow, ...]
    selected: KpiRow | None
    trend: Chart | None
    health: ProjectHealth | None
    can_record: bool
    can_define: bool

    @property
    def scope_name(self) -> str:
        return self.project.key if self.project is not None else self.portfolio.name

    @property
    def page_url(self) -> str:
        if self.project is not None:
            return reverse("portfolio:project-detail", args=[self.project.key])
        return reverse("metrics:portfolio-kpis", args=[self.portfolio.slug])

    @property
    def define_url(self) -> str:
        if self.project is not None:
            return reverse("metrics:kpi-create", args=[self.project.key])
        return reverse("metrics:portfolio-kpi-create", args=[self.portfolio.slug])

    @property
    def import_url(self) -> str | None:
        if self.project is None:
            return None
        return reverse("metrics:kpi-import", args=[self.project.key])

    @property
    def trend_url(self) -> str:
        if self.project is not None:
            return reverse("metrics:project-kpi-trend", args=[self.project.key])
        return reverse("metrics:portfolio-kpis", args=[self.portfolio.slug])


def status_of(kpi: KPI, measurement: KPIMeasurement | None) -> Status:
    return kpi_status(
        direction=kpi.direction,
        value=measurement.value if measurement else None,
        amber_threshold=kpi.amber_threshold,
        red_threshold=kpi.red_threshold,
    )


def _row(
    user: AnyUser,
    kpi: KPI,
    recent: Sequence[KPIMeasurement],
    *,
    can_define: bool,
    sprint_starts: Sequence[dt.date],
) -> KpiRow:
    latest = recent[-1] if recent else None
    can_record = access.can_record(user, kpi)
    suggested = None
    if can_record and kpi.active and not kpi.is_computed:
        suggested = periods.current_period_start(
            cadence=kpi.cadence, today=kpi_today(kpi), sprint_starts=sprint_starts
        )
    return KpiRow(
        kpi=kpi,
        latest=latest,
        status=status_of(kpi, latest),
        recent=tuple(recent),
        sparkline=charts.kpi_sparkline(kpi, recent),
        suggested_period=suggested,
        can_record=can_record,
        can_define=can_define,
    )


def kpi_row(*, user: AnyUser, kpi: KPI) -> KpiRow:
    """One row, as a swap after an edit renders it (one query for its measurements)."""
    recent = selectors.recent_measurements(user=user, kpis=[kpi])[kpi.pk]
    return _row(
        user,
        kpi,
        recent,
        can_define=access.can_define(user, kpi.portfolio_id),
        sprint_starts=kpi_sprint_starts(kpi),
    )


def trend_chart(*, kpi: KPI, measurements: Sequence[KPIMeasurement]) -> Chart:
    """The trend of a KPI with its table twin and CSV link (every measurement the caller
    passes: the recent ones on a KPI table, all of them on the KPI's page)."""
    table = charts.kpi_trend_table(kpi, measurements)
    csv_url = reverse("metrics:kpi-csv", args=[kpi.pk])
    title = f"{kpi.name} trend"
    if not measurements:
        reason = (
            "No value yet: it appears after the next refresh from the work-item history."
            if kpi.is_computed
            else "No value yet: the trend appears once a value is recorded."
        )
        return Chart(
            slug=TREND_SLUG, title=title, table=table, csv_url=csv_url, empty_reason=reason
        )
    notes = (
        f"Target {value_text(kpi.target, kpi.unit)}; amber beyond "
        f"{value_text(kpi.amber_threshold, kpi.unit)}, red beyond "
        f"{value_text(kpi.red_threshold, kpi.unit)} ({kpi.get_direction_display().lower()}).",
    )
    return Chart(
        slug=TREND_SLUG,
        title=title,
        table=table,
        csv_url=csv_url,
        figure_json=charts.figure_json(charts.kpi_trend_figure(kpi, measurements)),
        notes=notes,
    )


def _selected(rows: Sequence[KpiRow], selected_id: int | None) -> KpiRow | None:
    chosen = next((row for row in rows if row.kpi.pk == selected_id), None)
    if chosen is not None:
        return chosen
    active = [row for row in rows if row.kpi.active]
    return next((row for row in active if row.latest), active[0] if active else None)


def _board(
    *,
    user: AnyUser,
    kpis: list[KPI],
    project: Project | None,
    portfolio: Portfolio,
    selected_id: int | None,
    health: ProjectHealth | None,
) -> KpiBoard:
    can_define = access.can_define(user, portfolio)
    if not can_define:
        kpis = [kpi for kpi in kpis if kpi.active]
    recent = selectors.recent_measurements(user=user, kpis=kpis)
    per_sprint = next((kpi for kpi in kpis if kpi.cadence == KPI.Cadence.PER_SPRINT), None)
    sprint_starts = kpi_sprint_starts(per_sprint) if per_sprint is not None else ()
    rows = tuple(
        _row(user, kpi, recent[kpi.pk], can_define=can_define, sprint_starts=sprint_starts)
        for kpi in kpis
    )
    selected = _selected(rows, selected_id)
    can_record = (
        access.can_record_in_project(user, project)
        if project is not None
        else any(row.can_record for row in rows)
    )
    return KpiBoard(
        project=project,
        portfolio=portfolio,
        rows=rows,
        selected=selected,
        trend=trend_chart(kpi=selected.kpi, measurements=selected.recent) if selected else None,
        health=health,
        can_record=can_record,
        can_define=can_define,
    )


def project_board(
    *,
    user: AnyUser,
    project: Project,
    selected_id: int | None = None,
    with_health: bool = True,
    health: ProjectHealth | None = None,
) -> KpiBoard:
    """The project's KPI table, the selected KPI's trend and the project's health (404 when
    the project is not visible). A page that has computed the health already passes it."""
    selectors.project_for_kpis(user=user, project=project)
    kpis = list(selectors.kpi_list(user=user, project=project).order_by("-active", "name"))
    if health is None and with_health:
        health = flow_selectors.project_health(user=user, project=project)
    return _board(
        user=user,
        kpis=kpis,
        project=project,
        portfolio=project.portfolio,
        selected_id=selected_id,
        health=health,
    )


def portfolio_board(
    *, user: AnyUser, portfolio: Portfolio, selected_id: int | None = None
) -> KpiBoard:
    """The portfolio's own KPIs (not its projects'), for users with a role on the portfolio."""
    selectors.portfolio_for_kpis(user=user, portfolio=portfolio)
    kpis = list(
        selectors.kpi_list(user=user, portfolio=portfolio, portfolio_level=True).order_by(
            "-active", "name"
        )
    )
    return _board(
        user=user,
        kpis=kpis,
        project=None,
        portfolio=portfolio,
        selected_id=selected_id,
        health=None,
    )


def project_health(*, user: AnyUser, project: Project) -> ProjectHealth:
    """The project's health, KPI rules included (metrics.health)."""
    return flow_selectors.project_health(user=user, project=project)
