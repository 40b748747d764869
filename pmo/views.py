"""Pages of the pmo app: the system status page."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest
from django.template.response import TemplateResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_safe
from django.views.decorators.vary import vary_on_headers

from pmo.system import system_status

TEMPLATE = "pmo/system_status.html"


@login_required
@require_safe
@never_cache
@vary_on_headers("HX-Request")
def system_status_view(request: HttpRequest) -> TemplateResponse:
    """Each server the application depends on, OK or down with the reason; with htmx (the
    page refreshes itself every few seconds) only the status region is rendered."""
    template = f"{TEMPLATE}#system-status" if request.htmx else TEMPLATE
    return TemplateResponse(request, template, {"status": system_status()})
