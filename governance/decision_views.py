"""The decision log page and its exports (JSON lines and CSV, with the hashes).

Everything comes from `decision_log_list` (entries of the portfolios the user may read;
global entries for superusers only), so the page, its filters and the exports show the same
rows. The chains are re-verified on every page view, in one streamed query; the management
command `verify_decision_log` does the same for every chain.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator

from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.db.models import F
from django.http import HttpRequest, HttpResponse, StreamingHttpResponse
from django.template.response import TemplateResponse
from django.utils import timezone
from django.views.decorators.http import require_safe
from django.views.decorators.vary import vary_on_headers

from governance.decision_log import PUBLISHED_FIELDS, export_record
from governance.forms import DecisionFilterForm
from governance.selectors import (
    DecisionFilters,
    decision_chain_status_list,
    decision_log_list,
    decision_log_portfolios,
)

PAGE_SIZE = 50
RESULTS_REGION = "decision-results"
EXPORT_FIELDS = PUBLISHED_FIELDS
CSV_COLUMNS = ("id", "portfolio", *EXPORT_FIELDS[1:])
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")


@login_required
@require_safe
@vary_on_headers("HX-Request")
def decision_log_view(request: HttpRequest) -> HttpResponse:
    """Filter (portfolio, kind, actor, dates, full-text), page through, verify, export."""
    filters = DecisionFilters.parse(request.GET)
    paginator = Paginator(decision_log_list(user=request.user, filters=filters), PAGE_SIZE)
    page = paginator.get_page(request.GET.get("page"))
    context = {
        "filters": filters,
        "page": page,
        "query": filters.query_string(),
    }
    template = "governance/decision_log.html"
    if request.htmx and request.htmx.target == RESULTS_REGION:
        return TemplateResponse(request, f"{template}#{RESULTS_REGION}", context)
    portfolios = list(decision_log_portfolios(user=request.user).order_by("name"))
    context["form"] = DecisionFilterForm(
        request.GET or None, portfolios=portfolios, include_global=request.user.is_superuser
    )
    context["chains"] = decision_chain_status_list(user=request.user)
    return TemplateResponse(request, template, context)


def _export_rows(request: HttpRequest) -> Iterator[dict]:
    filters = DecisionFilters.parse(request.GET)
    rows = (
        decision_log_list(user=request.user, filters=filters)
        .order_by("portfolio_id", "sequence")
        .values(*EXPORT_FIELDS, portfolio_slug=F("portfolio__slug"))
    )
    for row in rows.iterator(chunk_size=2000):
        yield export_record(row)


def _filename(extension: str) -> str:
    return f"decision-log-{timezone.now():%Y%m%d-%H%M%S}.{extension}"


@login_required
@require_safe
def decision_log_export_jsonl(request: HttpRequest) -> StreamingHttpResponse:
    """One JSON object per line, in chain order, with every hashed field in its canonical
    spelling: an auditor recomputes each entry_hash without this application."""
    lines = (
        json.dumps(record, sort_keys=True, ensure_ascii=False) + "\n"
        for record in _export_rows(request)
    )
    response = StreamingHttpResponse(lines, content_type="application/x-ndjson; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{_filename("jsonl")}"'
    return response


class _Echo:
    def write(self, value: str) -> str:
        return value


def _cell(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, dict | list):
        text = json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    else:
        text = str(value)
    # Spreadsheets run cells that start like a formula; auditors recompute from JSON lines.
    return "'" + text if text.startswith(FORMULA_PREFIXES) else text


@login_required
@require_safe
def decision_log_export_csv(request: HttpRequest) -> StreamingHttpResponse:
    """The same rows as a spreadsheet; JSON fields as compact JSON text."""
    writer = csv.writer(_Echo())

    def lines() -> Iterator[str]:
        yield writer.writerow(CSV_COLUMNS)
        for record in _export_rows(request):
            yield writer.writerow([_cell(record[column]) for column in CSV_COLUMNS])

    response = StreamingHttpResponse(lines(), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{_filename("csv")}"'
    return response
