"""KPIs: definitions, measurements, their health, forms, API and import (the KPI issue).

Module map:
- rules, pure: `rag` (status of a value against its thresholds), `periods` (what a period
  start must be for each cadence), `validation` (numbers, ranges, notes), `text` (how
  figures read);
- reads: `access` (who may read, record, define), `selectors` (permission-filtered
  querysets), `figures` (the batched latest-value query that project health reads),
  `boards` (what the KPI regions of the pages show), `charts` (trend figure and table twin);
- writes: `services` (authorized, validated, versioned, audited, with the after-commit
  event), `computed` (values of KPIs computed from the flow metrics), `importing` (CSV
  format and row checks), `tasks` (Celery refresh of computed KPIs), `demo` (seed_demo);
- web: `forms`, `views`, `urls` (in the `metrics` namespace), `api`, `serializers`,
  `api_urls`; the project page includes the section through metrics/templatetags/kpi_tags.
"""
