"""`{% approvals_inbox_available as can_see_approvals %}`: whether base.html shows the
"Approvals" link (users who propose or decide on some portfolio; the inbox is 404 for
anyone else). One query per full page, none for a superuser; htmx regions do not extend
base.html."""

from __future__ import annotations

from django import template

from governance.selectors import inbox_available

register = template.Library()


@register.simple_tag(takes_context=True)
def approvals_inbox_available(context: template.Context) -> bool:
    request = context.get("request")
    user = getattr(request, "user", None)
    return user is not None and user.is_authenticated and inbox_available(user=user)
