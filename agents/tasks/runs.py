"""Tasks that execute agent runs."""
