"""Forms of the agent pages. They validate the shape of a request; the engine's service
(`agents.services.agent_run_request`) authorizes, checks the scope and starts the run."""

from __future__ import annotations

from django import forms
from django.core.exceptions import ValidationError
from django.db.models import QuerySet

from agents.models import RunKind
from portfolio.models import Project


class AgentRunStartForm(forms.Form):
    """Start a run on one portfolio: a portfolio review, a prioritization, or a risk scan of
    one of its projects (the buttons post `kind`, and `project` for a scan).

    `project` accepts the keys of the portfolio's projects the user may see; whether the kind
    needs one is the service's rule, whose message the view shows on the field."""

    kind = forms.ChoiceField(label="Kind of run", choices=RunKind.choices)
    project = forms.ModelChoiceField(
        label="Project (risk scans only)",
        queryset=Project.objects.none(),
        to_field_name="key",
        required=False,
        empty_label="None: the whole portfolio",
        help_text="A risk scan looks at one project; a review or a prioritization at all of them.",
    )

    def __init__(self, *args, projects: QuerySet[Project], **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["project"].queryset = projects

    def add_service_error(self, error: ValidationError) -> None:
        """Show the service's ValidationError: field errors on their fields (when the form has
        them), anything else (e.g. "portfolio") above the form."""
        if hasattr(error, "error_dict"):
            for name, messages in error.message_dict.items():
                self.add_error(name if name in self.fields else None, messages)
        else:
            self.add_error(None, error.messages)
