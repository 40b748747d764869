from django.apps import AppConfig


class PmoConfig(AppConfig):
    verbose_name = "PMO platform"
    name = "pmo"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from pmo import timestamps

        timestamps.connect()
