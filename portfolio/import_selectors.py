"""Reads of the history import pages: who may import where, and the import jobs a user may see.

A job is visible to the user who uploaded it and to superusers; to anyone else it does not
exist (`history_import_job_get` raises Http404 for missing and forbidden alike).
"""

from __future__ import annotations

from dataclasses import dataclass

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.core.cache import cache
from django.db.models import QuerySet
from django.http import Http404

from portfolio.models import HistoryImportJob, Portfolio
from portfolio.permissions import PortfolioPermission, portfolio_ids_with, portfolios_with

AnyUser = AbstractBaseUser | AnonymousUser


def history_import_portfolios(*, user: AnyUser) -> QuerySet[Portfolio]:
    """Portfolios the user may import into: every one for a superuser (who may also create
    one), else those where the user holds the change right (a PMO leader's)."""
    if not user.is_authenticated:
        return Portfolio.objects.none()
    if user.is_superuser:
        return Portfolio.objects.all()
    return portfolios_with(user, PortfolioPermission.CHANGE)


def history_import_allowed(*, user: AnyUser) -> bool:
    """Whether the user may import anywhere (what `history_import_portfolios` holds is not
    empty), for the link in every page's navigation: read from the user's grants, which the
    page loads once (portfolio.permissions)."""
    if not user.is_authenticated:
        return False
    return user.is_superuser or bool(portfolio_ids_with(user, PortfolioPermission.CHANGE))


def _visible_jobs(user: AnyUser) -> QuerySet[HistoryImportJob]:
    if not user.is_authenticated:
        return HistoryImportJob.objects.none()
    jobs = HistoryImportJob.objects.defer("files")  # the uploaded text: up to 20 MB a row
    return jobs if user.is_superuser else jobs.filter(requested_by=user)


def history_import_job_list(*, user: AnyUser) -> QuerySet[HistoryImportJob]:
    """The user's import jobs, newest first (a superuser's: everyone's), in one query."""
    return _visible_jobs(user).select_related("requested_by", "portfolio")


def history_import_job_get(*, user: AnyUser, job_id: int) -> HistoryImportJob:
    try:
        return _visible_jobs(user).select_related("requested_by", "portfolio").get(pk=job_id)
    except HistoryImportJob.DoesNotExist:
        raise Http404("No such import.") from None


@dataclass(frozen=True)
class JobProgress:
    """Where a job is: a stage, and `done` of `total` rows in it (total None: not known)."""

    stage: str
    done: int = 0
    total: int | None = None

    @property
    def percent(self) -> int | None:
        if not self.total:
            return None
        return min(100, round(100 * self.done / self.total))


def history_import_job_progress(*, job: HistoryImportJob) -> JobProgress:
    """A running job's live progress from the cache (the import's transaction hides it from
    the database until the end); otherwise, or when the cache has nothing, the job row's."""
    stored = JobProgress(job.stage, job.progress_done, job.progress_total)
    if job.status != HistoryImportJob.Status.RUNNING:
        return stored
    try:
        live = cache.get(HistoryImportJob.progress_cache_key(job.pk))
    except Exception:  # the cache is down: show the stored progress rather than fail the page
        return stored
    if not isinstance(live, dict):
        return stored
    return JobProgress(str(live.get("stage", "")), int(live.get("done") or 0), live.get("total"))
