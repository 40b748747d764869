"""KPIs: definitions, measurements, their health, forms, API and import (the KPI issue).

Module map: `rag` (status of a value against its thresholds), `periods` (what a period
start must look like for each cadence), `figures` (the batched latest-value query that
health reads), `selectors` (reads, permission-filtered), `services` (writes: authorized,
validated, versioned, audited, with the after-commit event), `computed` (KPIs computed from
the flow metrics), `importing` (CSV), and the web layer (`forms`, `views`, `urls`, `charts`,
`api`, `serializers`, `api_urls`), plus the demo seeder (`demo`) and the Celery task
(`tasks`).
"""
