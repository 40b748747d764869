"""Helpers shared by the management commands of the apps."""

from __future__ import annotations

from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractBaseUser
from django.core.management.base import CommandError


def command_actor(username: str | None) -> AbstractBaseUser:
    """The user a command acts as: the named one, else the first active superuser. Writes
    are authorized and audited against a person, so a command never acts as nobody."""
    users = get_user_model().objects
    if username:
        try:
            return users.get_by_natural_key(username)
        except users.model.DoesNotExist:
            raise CommandError(f"No user {username!r}.") from None
    actor = users.filter(is_superuser=True, is_active=True).order_by("pk").first()
    if actor is None:
        raise CommandError(
            "No superuser to import as: create one (manage.py createsuperuser) "
            "or pass --as USERNAME."
        )
    return actor
