"""Tasks that keep agent memory current (embedding new decisions, risks and summaries)."""
