"""CSV downloads of the dashboards' charts and tables.

Each download is the data-table twin of one chart (or the portfolio dashboard's project
table), built by metrics.dashboards from the same query string as the page (sprint, period,
until; sort, dir, health, q), so the file holds exactly the rows the page shows. The project
or portfolio is resolved among what the user may see: invisible or missing answers 404
(never 403), as the pages do.
"""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.views.decorators.http import require_safe

from metrics import dashboards, exports
from portfolio.selectors import portfolio_get, project_get


def _csv_response(table: exports.Table) -> HttpResponse:
    response = HttpResponse(exports.table_csv(table), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{table.filename}"'
    response["X-Content-Type-Options"] = "nosniff"
    return response


@login_required
@require_safe
def project_chart_csv(request: HttpRequest, key: str, chart: str) -> HttpResponse:
    """`chart` is fixed by the URL pattern (metrics.urls), one name per chart."""
    project = project_get(user=request.user, key=key)
    table = dashboards.chart_table(
        user=request.user, project=project, chart=chart, params=request.GET
    )
    return _csv_response(table)


@login_required
@require_safe
def portfolio_projects_csv(request: HttpRequest, slug: str) -> HttpResponse:
    """The portfolio dashboard's project table, filtered and sorted as the page's query
    string says, with the figures behind its badges and sparklines spelled out."""
    portfolio = portfolio_get(user=request.user, slug=slug)
    board = dashboards.portfolio_board(
        user=request.user,
        portfolio=portfolio,
        filters=dashboards.parse_portfolio_filters(request.GET),
    )
    return _csv_response(board.table)
