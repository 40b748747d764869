"""`{% history_import_allowed as can_import %}`: whether to show the import link (base.html).

At most one query per page (none for a superuser); htmx regions do not extend base.html, so
polling costs nothing here.
"""

from __future__ import annotations

from django import template

from portfolio.import_selectors import history_import_allowed as allowed

register = template.Library()


@register.simple_tag(takes_context=True)
def history_import_allowed(context: template.Context) -> bool:
    request = context.get("request")
    user = getattr(request, "user", None)
    return user is not None and allowed(user=user)
