"""KPIs and their measurements arrive with the KPI issue; flow metrics are computed from
portfolio's work-item history and need no tables of their own."""
