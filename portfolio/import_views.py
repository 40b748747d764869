"""History import pages: the upload form, one job's progress and report, the user's jobs.

Thin views. Only users who may import somewhere (a superuser, or a PMO leader: the change
right on a portfolio) see the form; to others it does not exist (404). A job is visible to its
requester and to superusers only (404 otherwise). The job page polls its `job-status` region
with htmx every second while the job is queued or running, and stops once it has finished.
"""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods, require_safe
from django.views.decorators.vary import vary_on_headers

from portfolio.import_forms import HistoryImportForm
from portfolio.import_selectors import (
    history_import_allowed,
    history_import_job_get,
    history_import_job_list,
    history_import_job_progress,
    history_import_portfolios,
)
from portfolio.importing.csv_reader import FILE_NAMES
from portfolio.services import MAX_UPLOAD_BYTES, history_import_job_create

DETAIL_TEMPLATE = "portfolio/import_job_detail.html"
JOBS_SHOWN = 100


@login_required
@require_http_methods(["GET", "HEAD", "POST"])
def job_create(request: HttpRequest) -> HttpResponse:
    portfolios = list(history_import_portfolios(user=request.user))
    can_create = request.user.is_superuser
    if not portfolios and not can_create:
        raise Http404("No such page.")
    options = {"portfolios": portfolios, "can_create": can_create}
    if request.method == "POST":
        form = HistoryImportForm(request.POST, request.FILES, **options)
        if form.is_valid():
            try:
                job = history_import_job_create(
                    actor=request.user, portfolio_name=form.portfolio_name, files=form.uploads()
                )
            except ValidationError as error:
                form.add_service_error(error)
            else:
                messages.success(request, f"Import #{job.pk} is queued; it runs in the background.")
                return redirect("imports:job-detail", job_id=job.pk)
    else:
        form = HistoryImportForm(**options)
    return TemplateResponse(
        request,
        "portfolio/import_job_create.html",
        {"form": form, "max_upload_mb": MAX_UPLOAD_BYTES // 1024 // 1024},
    )


@login_required
@require_safe
@vary_on_headers("HX-Request")
@never_cache
def job_detail(request: HttpRequest, job_id: int) -> TemplateResponse:
    job = history_import_job_get(user=request.user, job_id=job_id)
    template = f"{DETAIL_TEMPLATE}#job-status" if request.htmx else DETAIL_TEMPLATE
    rows_read = job.report.get("files", {})
    return TemplateResponse(
        request,
        template,
        {
            "job": job,
            "progress": history_import_job_progress(job=job),
            # jsonb keeps no key order: list the files in the format's order.
            "file_sizes": [
                (name, job.file_sizes[name]) for name in FILE_NAMES if name in job.file_sizes
            ],
            "rows_read": [(name, rows_read[name]) for name in FILE_NAMES if name in rows_read],
        },
    )


@login_required
@require_safe
def job_list(request: HttpRequest) -> TemplateResponse:
    jobs = list(history_import_job_list(user=request.user)[: JOBS_SHOWN + 1])
    return TemplateResponse(
        request,
        "portfolio/import_job_list.html",
        {
            "jobs": jobs[:JOBS_SHOWN],
            "more_jobs": len(jobs) > JOBS_SHOWN,
            "jobs_shown": JOBS_SHOWN,
            "can_import": history_import_allowed(user=request.user),
        },
    )
