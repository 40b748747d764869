"""Forms of the governance pages. They validate input; the services decide and write."""

from __future__ import annotations

from django import forms
from django.core.exceptions import ValidationError

from governance.roles import GROUP_NAMES, PORTFOLIO_ROLE_PERMISSIONS, PROJECT_ROLE_PERMISSIONS, Role
from governance.selectors import user_find


class RoleGrantForm(forms.Form):
    """Give a user a role on the page's scope (one portfolio or one project).

    The role field accepts every role so that a role the scope does not allow reaches the
    service, whose message (`ValidationError({"role": ...})`) the view adds to this field; the
    drop-down offers only the roles the scope allows.
    """

    username = forms.CharField(
        label="Username",
        max_length=150,
        strip=True,
        widget=forms.TextInput(attrs={"autocomplete": "off", "spellcheck": "false"}),
    )
    role = forms.ChoiceField(label="Role", choices=Role.choices)

    def __init__(self, *args, on_project: bool, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        table = PROJECT_ROLE_PERMISSIONS if on_project else PORTFOLIO_ROLE_PERMISSIONS
        self.fields["role"].widget.choices = [(role, GROUP_NAMES[role]) for role in table]
        self.grantee = None

    def clean_username(self) -> str:
        username = self.cleaned_data["username"]
        self.grantee = user_find(username=username)
        if self.grantee is None:
            raise ValidationError(
                "No active user is called %(username)s; check the spelling (it is case-sensitive).",
                code="unknown_user",
                params={"username": username},
            )
        return username

    def add_service_error(self, error: ValidationError) -> None:
        """Show a service's ValidationError on the form: field errors on their fields (when the
        form has them), anything else above the form."""
        if hasattr(error, "error_dict"):
            for field, messages in error.message_dict.items():
                self.add_error(field if field in self.fields else None, messages)
        else:
            self.add_error(None, error.messages)
