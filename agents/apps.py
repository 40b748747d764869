from django.apps import AppConfig


class AgentsConfig(AppConfig):
    name = "agents"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from agents import receivers_memory

        # Decisions are remembered after their transaction commits (agents/memory_decisions.py).
        receivers_memory.connect()

        # Risk scans on KPI measurements and closed sprints: importing connects them.
        from agents import receivers  # noqa: F401
