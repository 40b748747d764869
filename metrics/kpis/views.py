"""KPI pages: inline value editing on the project page (HTMX), with full-page forms as the
plain-POST fallback, the KPI's page (trend, data table, every value), its history, the
definition forms of PMO leaders, and the portfolio's own KPIs.

Thin: reads go through metrics.kpis.selectors / boards (an invisible KPI or project answers
404), writes through metrics.kpis.services (which check the right again: a visible KPI the
user may not change answers 403). With htmx, a form answers with the swapped fragment: the
KPI's table row, plus the trend chart and the project health out of band, so the page
changes without a reload; without JavaScript the same URLs take a normal POST and redirect
back (post / redirect / get). Responses that branch on HX-Request vary on it.
"""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_http_methods, require_POST, require_safe
from django.views.decorators.vary import vary_on_headers

from governance.selectors import role_assignment_list
from metrics.exports import table_csv
from metrics.kpis import access, boards, periods, selectors, services
from metrics.kpis.forms import (
    DefinitionForm,
    KpiImportForm,
    MeasurementForm,
    add_service_errors,
    describe_errors,
)
from metrics.kpis.importing import KpiImportInvalid
from metrics.kpis.text import value_text
from metrics.models import KPI, KPIMeasurement
from portfolio.models import Portfolio, Project
from portfolio.selectors import portfolio_get, project_get

FORM_TEMPLATE = "metrics/kpis/measurement_form.html"
BOARD_TEMPLATE = "metrics/kpis/board.html"


def _int_or_none(text: str | None) -> int | None:
    return int(text) if text and text.isdigit() and len(text) < 18 else None


def board_url(kpi: KPI) -> str:
    """Where a KPI's row lives: the project page, or the portfolio's KPI page."""
    if kpi.project_id is not None:
        base = reverse("portfolio:project-detail", args=[kpi.project.key])
    else:
        base = reverse("metrics:portfolio-kpis", args=[kpi.portfolio.slug])
    return f"{base}?kpi={kpi.pk}#kpi-row-{kpi.pk}"


def _next_url(request: HttpRequest, default: str) -> str:
    candidate = request.POST.get("next") or request.GET.get("next") or ""
    if candidate and url_has_allowed_host_and_scheme(
        candidate, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return candidate
    return default


def _auto_id(kpi: KPI) -> str:
    """Field ids unique per KPI, so two rows open for editing never share an id."""
    return f"kpi{kpi.pk}-%s"


def _check_can_record(user: Any, kpi: KPI) -> None:
    if not access.can_record(user, kpi):
        raise PermissionDenied("You may not change this KPI's values.")


# --- the swapped fragments ------------------------------------------------------------------


def _saved_fragments(request: HttpRequest, kpi: KPI) -> TemplateResponse:
    """The KPI's fresh table row, and out of band its trend (now selected) and the project's
    health, which the value just changed."""
    row = boards.kpi_row(user=request.user, kpi=kpi)
    health = (
        boards.project_health(user=request.user, project=kpi.project)
        if kpi.project_id is not None
        else None
    )
    return TemplateResponse(
        request,
        "metrics/kpis/row_saved.html",
        {
            "row": row,
            "trend": boards.trend_chart(kpi=kpi, measurements=row.recent),
            "health": health,
            "project": kpi.project,
            "oob": True,
            "focus": True,
        },
    )


def _form_context(
    request: HttpRequest,
    *,
    kpi: KPI,
    form: MeasurementForm,
    action: str,
    measurement: KPIMeasurement | None = None,
    conflict: services.MeasurementConflict | None = None,
) -> dict[str, Any]:
    current = conflict.current if conflict else measurement
    describe_errors(form)
    return {
        "kpi": kpi,
        "form": form,
        "action": action,
        "measurement": measurement,
        "current": current,
        "current_text": value_text(current.value, kpi.unit) if current else "",
        "period_label": (
            periods.period_label(kpi.cadence, measurement.period_start) if measurement else ""
        ),
        "conflict": conflict,
        "cancel_url": reverse("metrics:kpi-row", args=[kpi.pk]),
        "next": _next_url(request, board_url(kpi)),
        "inline": bool(request.htmx),
        "row_id": f"kpi-row-{kpi.pk}",
    }


def _form_response(
    request: HttpRequest, context: dict[str, Any], *, status: int = 200
) -> TemplateResponse:
    template = f"{FORM_TEMPLATE}#kpi-row-form" if request.htmx else FORM_TEMPLATE
    return TemplateResponse(request, template, context, status=status)


# --- values ---------------------------------------------------------------------------------


@login_required
@require_http_methods(["GET", "HEAD", "POST"])
@vary_on_headers("HX-Request")
def measurement_add(request: HttpRequest, kpi_id: int) -> HttpResponse:
    """Add a value for a period: the row's inline form (htmx) or a page."""
    kpi = selectors.kpi_get(user=request.user, kpi_id=kpi_id)
    _check_can_record(request.user, kpi)
    action = reverse("metrics:measurement-add", args=[kpi.pk])
    if request.method != "POST":
        suggested = boards.kpi_row(user=request.user, kpi=kpi).suggested_period
        form = MeasurementForm(initial={"period_start": suggested.isoformat() if suggested else ""})
        return _form_response(request, _form_context(request, kpi=kpi, form=form, action=action))
    form = MeasurementForm(request.POST, auto_id=_auto_id(kpi))
    form.is_valid()
    data = form.cleaned_data
    try:
        services.kpi_measurement_record(
            actor=request.user,
            kpi=kpi,
            period_start=data.get("period_start", ""),
            value=data.get("value", ""),
            note=data.get("note", ""),
        )
    except ValidationError as error:
        add_service_errors(form, error)
        return _form_response(request, _form_context(request, kpi=kpi, form=form, action=action))
    if request.htmx:
        return _saved_fragments(request, kpi)
    messages.success(request, f"{kpi.name}: value saved.")
    return redirect(_next_url(request, board_url(kpi)))


@login_required
@require_http_methods(["GET", "HEAD", "POST"])
@vary_on_headers("HX-Request")
def measurement_edit(request: HttpRequest, measurement_id: int) -> HttpResponse:
    """Correct a value: sends the version it was read at; a conflict shows who changed it
    to what and keeps the typed value, with the new version, so a second save is informed."""
    measurement = selectors.measurement_get(user=request.user, measurement_id=measurement_id)
    kpi = measurement.kpi
    _check_can_record(request.user, kpi)
    action = reverse("metrics:measurement-edit", args=[measurement.pk])
    if request.method != "POST":
        form = MeasurementForm(
            correcting=True,
            auto_id=_auto_id(kpi),
            initial={
                "value": value_text(measurement.value),
                "note": measurement.note,
                "version": measurement.version,
            },
        )
        return _form_response(
            request,
            _form_context(request, kpi=kpi, form=form, action=action, measurement=measurement),
        )
    form = MeasurementForm(request.POST, correcting=True, auto_id=_auto_id(kpi))
    form.is_valid()
    data = form.cleaned_data
    version = data.get("version")
    if version is None:
        form.add_error(None, "The form lost the version of the value; reload the page.")
        return _form_response(
            request,
            _form_context(request, kpi=kpi, form=form, action=action, measurement=measurement),
        )
    try:
        services.kpi_measurement_correct(
            actor=request.user,
            measurement=measurement,
            value=data.get("value", ""),
            note=data.get("note", ""),
            version=version,
        )
    except ValidationError as error:
        add_service_errors(form, error)
        return _form_response(
            request,
            _form_context(request, kpi=kpi, form=form, action=action, measurement=measurement),
        )
    except services.MeasurementConflict as conflict:
        fresh = request.POST.copy()
        fresh["version"] = str(conflict.current.version)
        form = MeasurementForm(fresh, correcting=True, auto_id=_auto_id(kpi))
        form.is_valid()
        context = _form_context(
            request,
            kpi=kpi,
            form=form,
            action=action,
            measurement=measurement,
            conflict=conflict,
        )
        return _form_response(request, context, status=200 if request.htmx else 409)
    if request.htmx:
        return _saved_fragments(request, kpi)
    messages.success(request, f"{kpi.name}: value corrected.")
    return redirect(_next_url(request, board_url(kpi)))


@login_required
@require_safe
@vary_on_headers("HX-Request")
def kpi_row(request: HttpRequest, kpi_id: int) -> HttpResponse:
    """The KPI's display row (what Cancel swaps back); without htmx, the page it lives on."""
    kpi = selectors.kpi_get(user=request.user, kpi_id=kpi_id)
    if not request.htmx:
        return HttpResponseRedirect(board_url(kpi))
    row = boards.kpi_row(user=request.user, kpi=kpi)
    return TemplateResponse(
        request, f"{BOARD_TEMPLATE}#kpi-row", {"row": row, "project": kpi.project, "focus": True}
    )


@login_required
@require_safe
@vary_on_headers("HX-Request")
def project_kpi_trend(request: HttpRequest, key: str) -> HttpResponse:
    """The trend of the KPI chosen in the table (?kpi=id): the region with htmx, else the
    project page with that KPI selected (bookmarkable)."""
    project = project_get(user=request.user, key=key)
    selected = _int_or_none(request.GET.get("kpi"))
    if not request.htmx:
        suffix = f"?kpi={selected}" if selected else ""
        return HttpResponseRedirect(
            reverse("portfolio:project-detail", args=[project.key]) + suffix + "#kpi-trend"
        )
    board = boards.project_board(
        user=request.user, project=project, selected_id=selected, with_health=False
    )
    return TemplateResponse(
        request, f"{BOARD_TEMPLATE}#kpi-trend", {"board": board, "trend": board.trend}
    )


# --- a KPI's own pages ----------------------------------------------------------------------


@login_required
@require_safe
def kpi_detail(request: HttpRequest, kpi_id: int) -> TemplateResponse:
    """Everything about one KPI: definition, trend of every value, the values (each with a
    correction link), history and CSV links."""
    kpi = selectors.kpi_get(user=request.user, kpi_id=kpi_id)
    measurements = list(selectors.measurement_list(user=request.user, kpi=kpi))
    row = boards.kpi_row(user=request.user, kpi=kpi)
    return TemplateResponse(
        request,
        "metrics/kpis/kpi_detail.html",
        {
            "kpi": kpi,
            "row": row,
            "measurements": measurements[::-1],
            "trend": boards.trend_chart(kpi=kpi, measurements=measurements),
            "board_url": board_url(kpi),
            "can_define": access.can_define(request.user, kpi.portfolio_id),
        },
    )


@login_required
@require_safe
def kpi_history(request: HttpRequest, kpi_id: int) -> TemplateResponse:
    """Every change of the KPI's values: who, when, old -> new, note."""
    kpi = selectors.kpi_get(user=request.user, kpi_id=kpi_id)
    revisions = selectors.kpi_history(user=request.user, kpi=kpi)
    return TemplateResponse(
        request,
        "metrics/kpis/kpi_history.html",
        {"kpi": kpi, "revisions": revisions, "board_url": board_url(kpi)},
    )


@login_required
@require_safe
def kpi_csv(request: HttpRequest, kpi_id: int) -> HttpResponse:
    """The KPI's values as CSV: the data table under its trend on the KPI's page."""
    kpi = selectors.kpi_get(user=request.user, kpi_id=kpi_id)
    table = boards.trend_chart(
        kpi=kpi, measurements=list(selectors.measurement_list(user=request.user, kpi=kpi))
    ).table
    response = HttpResponse(table_csv(table), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{table.filename}"'
    response["X-Content-Type-Options"] = "nosniff"
    return response


@login_required
@require_POST
def kpi_refresh(request: HttpRequest, kpi_id: int) -> HttpResponse:
    """Recompute a computed KPI from the work-item history now."""
    kpi = selectors.kpi_get(user=request.user, kpi_id=kpi_id)
    if not kpi.is_computed or kpi.project_id is None:
        raise PermissionDenied("Only computed project KPIs are recomputed.")
    result = services.kpi_computed_refresh(project=kpi.project, actor=request.user, kpi=kpi)
    messages.success(
        request,
        f"{kpi.name} recomputed: {result.created} added, {result.updated} changed, "
        f"{result.unchanged} unchanged.",
    )
    return redirect(reverse("metrics:kpi-detail", args=[kpi.pk]))


# --- definitions ----------------------------------------------------------------------------


def _owner_choices(
    user: Any, *, project: Project | None, portfolio: Portfolio
) -> tuple[list[tuple[str, str]], dict[str, Any]]:
    """People holding a role on the KPI's scope, who can own it (username -> user)."""
    assignments = role_assignment_list(
        user=user, project=project, portfolio=None if project is not None else portfolio
    )
    people = {a.user.get_username(): a.user for a in assignments}
    return [
        (name, person.get_full_name() or name) for name, person in sorted(people.items())
    ], people


def _definition_values(form: DefinitionForm, people: dict[str, Any]) -> dict[str, Any]:
    data = {name: form.data.get(name, "") for name in form.fields if name != "version"}
    data["active"] = form.data.get("active") in ("on", "true", "1", "True")
    owner = data.pop("owner", "")
    data["owner"] = people.get(owner) if owner else None
    return data


def _definition_page(
    request: HttpRequest,
    *,
    project: Project | None,
    portfolio: Portfolio,
    kpi: KPI | None,
) -> HttpResponse:
    if not access.can_define(request.user, portfolio):
        raise PermissionDenied("Only the portfolio's PMO leaders define its KPIs.")
    choices, people = _owner_choices(request.user, project=project, portfolio=portfolio)
    back = (
        board_url(kpi)
        if kpi is not None
        else (
            reverse("portfolio:project-detail", args=[project.key]) + "#kpis"
            if project is not None
            else reverse("metrics:portfolio-kpis", args=[portfolio.slug])
        )
    )
    context: dict[str, Any] = {
        "project": project,
        "portfolio": portfolio,
        "kpi": kpi,
        "back_url": back,
        "conflict": "",
    }
    if request.method != "POST":
        initial: dict[str, Any] = {"active": True}
        if kpi is not None:
            initial = {
                **{name: getattr(kpi, name) for name in services.DEFINITION_FIELDS},
                "owner": kpi.owner.get_username() if kpi.owner_id else "",
                "version": kpi.version,
            }
            for name in services.NUMBER_FIELDS:
                value = getattr(kpi, name)
                initial[name] = value_text(value) if value is not None else ""
        form = DefinitionForm(initial=initial, owners=choices)
        return TemplateResponse(
            request, "metrics/kpis/definition_form.html", {**context, "form": form}
        )
    form = DefinitionForm(request.POST, owners=choices)
    if not form.is_valid() and "owner" in form.errors:
        describe_errors(form)
        return TemplateResponse(
            request, "metrics/kpis/definition_form.html", {**context, "form": form}
        )
    values = _definition_values(form, people)
    try:
        if kpi is None:
            saved = services.kpi_create(
                actor=request.user, project=project, portfolio=portfolio, **values
            )
        else:
            saved = services.kpi_update(
                actor=request.user,
                kpi=kpi,
                version=_int_or_none(request.POST.get("version")),
                **values,
            )
    except ValidationError as error:
        add_service_errors(form, error)
        describe_errors(form)
        return TemplateResponse(
            request, "metrics/kpis/definition_form.html", {**context, "form": form}
        )
    except services.KpiConflict as conflict:
        return TemplateResponse(
            request,
            "metrics/kpis/definition_form.html",
            {**context, "form": form, "conflict": str(conflict)},
            status=409,
        )
    messages.success(request, f"KPI '{saved.name}' saved.")
    return redirect(board_url(saved))


@login_required
@require_http_methods(["GET", "HEAD", "POST"])
def kpi_create(request: HttpRequest, key: str) -> HttpResponse:
    project = project_get(user=request.user, key=key)
    return _definition_page(request, project=project, portfolio=project.portfolio, kpi=None)


@login_required
@require_http_methods(["GET", "HEAD", "POST"])
def portfolio_kpi_create(request: HttpRequest, slug: str) -> HttpResponse:
    portfolio = selectors.portfolio_for_kpis(
        user=request.user, portfolio=portfolio_get(user=request.user, slug=slug)
    )
    return _definition_page(request, project=None, portfolio=portfolio, kpi=None)


@login_required
@require_http_methods(["GET", "HEAD", "POST"])
def kpi_edit(request: HttpRequest, kpi_id: int) -> HttpResponse:
    kpi = selectors.kpi_get(user=request.user, kpi_id=kpi_id)
    return _definition_page(request, project=kpi.project, portfolio=kpi.portfolio, kpi=kpi)


# --- the portfolio's own KPIs ---------------------------------------------------------------


@login_required
@require_safe
def portfolio_kpis(request: HttpRequest, slug: str) -> TemplateResponse:
    portfolio = portfolio_get(user=request.user, slug=slug)
    board = boards.portfolio_board(
        user=request.user,
        portfolio=portfolio,
        selected_id=_int_or_none(request.GET.get("kpi")),
    )
    return TemplateResponse(
        request, "metrics/kpis/portfolio_kpis.html", {"portfolio": portfolio, "board": board}
    )


# --- CSV upload -----------------------------------------------------------------------------


@login_required
@require_http_methods(["GET", "HEAD", "POST"])
def kpi_import(request: HttpRequest, key: str) -> HttpResponse:
    """Upload a CSV of the project's KPI values: all rows or none, every bad line listed."""
    project = project_get(user=request.user, key=key)
    if not access.can_record_in_project(request.user, project):
        raise PermissionDenied("You may not change this project's KPIs.")
    kpis = selectors.kpi_list(user=request.user, project=project).order_by("name")
    context: dict[str, Any] = {"project": project, "kpis": kpis, "problems": []}
    if request.method == "POST":
        form = KpiImportForm(request.POST, request.FILES)
    else:
        form = KpiImportForm()
    if request.method != "POST" or not form.is_valid():
        describe_errors(form)
        return TemplateResponse(request, "metrics/kpis/kpi_import.html", {**context, "form": form})
    upload = form.cleaned_data["file"]
    try:
        report = services.kpi_measurements_import(
            actor=request.user, project=project, data=upload.read(), filename=upload.name
        )
    except KpiImportInvalid as invalid:
        return TemplateResponse(
            request,
            "metrics/kpis/kpi_import.html",
            {**context, "form": KpiImportForm(), "problems": invalid.problems},
            status=400,
        )
    messages.success(request, f"KPI values imported: {report.summary()}")
    return redirect(reverse("portfolio:project-detail", args=[project.key]) + "#kpis")
