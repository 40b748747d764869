"""`{% sprint_rows sprints page_url %}`: the <tbody> rows of the project page's sprint table.

Built in Python, each cell escaped, for the reason `metrics.exports.Table.body_html` gives: a
project with a few years of sprints costs hundreds of template nodes and date filters, a
visible share of the dashboard's server time, for a table that is plain text and links.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from html import escape

from django import template
from django.utils import timezone
from django.utils.safestring import SafeString, mark_safe

from portfolio.models import Sprint

register = template.Library()


def _time(value: dt.datetime | None) -> str:
    """<time> with the ISO instant and a "7 Jan 2026" label, as the date filters render."""
    if value is None:
        return "—"
    local = timezone.localtime(value)
    return f'<time datetime="{local.isoformat()}">{local.day} {local:%b %Y}</time>'


@register.simple_tag
def sprint_rows(sprints: Sequence[Sprint], page_url: str) -> SafeString:
    rows = []
    for sprint in sprints:
        name = escape(sprint.name)
        if sprint.state != Sprint.State.FUTURE:
            name = f'<a href="{escape(page_url)}?sprint={sprint.pk}#burndown-chart">{name}</a>'
        rows.append(
            f'<tr><th scope="row">{name}</th>'
            f'<td><span class="status status-{escape(sprint.state)}">'
            f"{escape(str(sprint.get_state_display()))}</span></td>"
            f"<td>{_time(sprint.start)}</td><td>{_time(sprint.end)}</td>"
            f"<td>{_time(sprint.completed_at)}</td>"
            f"<td>{escape(sprint.goal) or '—'}</td></tr>"
        )
    return mark_safe("\n".join(rows))  # noqa: S308 - every value escaped above
