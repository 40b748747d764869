"""The upload form of the history import. It validates the input; the service decides."""

from __future__ import annotations

from collections.abc import Iterable

from django import forms
from django.core.exceptions import NON_FIELD_ERRORS, ValidationError
from django.core.files.uploadedfile import UploadedFile

from portfolio.importing.csv_reader import EVENTS, ISSUES, PROJECTS, SPRINTS
from portfolio.models import Portfolio

NEW_PORTFOLIO = "__new__"
# Form field -> the file name the importer knows it by.
FILE_FIELDS = {"projects": PROJECTS, "sprints": SPRINTS, "issues": ISSUES, "events": EVENTS}
CSV_INPUT = forms.FileInput(attrs={"accept": ".csv,text/csv"})


def _file_field(name: str, *, required: bool, help_text: str) -> forms.FileField:
    return forms.FileField(
        label=name,
        required=required,
        help_text=help_text,
        widget=CSV_INPUT,
        error_messages={
            "required": f"Choose your {name}: an import needs projects.csv and issues.csv.",
            "empty": f"{name} is empty: it needs a header row naming its columns.",
        },
    )


class HistoryImportForm(forms.Form):
    """Portfolio (one the user may change; superusers may also name a new one) and the files.

    One file field per file name, so each error lands beside the file it is about. The
    service's ValidationError, keyed by file name, is mapped onto these fields.
    """

    portfolio = forms.ChoiceField(label="Portfolio")
    new_portfolio_name = forms.CharField(
        label="New portfolio name",
        required=False,
        max_length=120,
        strip=True,
        help_text="Only when you choose “New portfolio” above.",
    )
    projects = _file_field(PROJECTS, required=True, help_text="Required. One row per project.")
    sprints = _file_field(SPRINTS, required=False, help_text="Optional. Without it, no sprints.")
    issues = _file_field(ISSUES, required=True, help_text="Required. One row per work item.")
    events = _file_field(
        EVENTS, required=False, help_text="Optional. Status, sprint and points changes."
    )

    def __init__(self, *args, portfolios: Iterable[Portfolio], can_create: bool, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        choices = [(portfolio.slug, portfolio.name) for portfolio in portfolios]
        self.portfolio_names = dict(choices)
        if can_create:
            choices.append((NEW_PORTFOLIO, "New portfolio…"))
        else:
            del self.fields["new_portfolio_name"]
        if len(choices) != 1:
            choices.insert(0, ("", "Choose a portfolio"))
        self.fields["portfolio"].choices = choices

    def clean(self) -> dict:
        cleaned = super().clean()
        if cleaned.get("portfolio") == NEW_PORTFOLIO and not cleaned.get("new_portfolio_name"):
            self.add_error("new_portfolio_name", "Name the new portfolio.")
        return cleaned

    @property
    def creates_portfolio(self) -> bool:
        return self.cleaned_data.get("portfolio") == NEW_PORTFOLIO

    @property
    def portfolio_name(self) -> str:
        if self.creates_portfolio:
            return self.cleaned_data["new_portfolio_name"]
        return self.portfolio_names[self.cleaned_data["portfolio"]]

    def uploads(self) -> dict[str, UploadedFile | None]:
        """The chosen files by the file name the importer knows them by."""
        return {name: self.cleaned_data.get(field) for field, name in FILE_FIELDS.items()}

    def add_service_error(self, error: ValidationError) -> None:
        """Put a service's ValidationError on the fields it names (file names, portfolio)."""
        if not hasattr(error, "error_dict"):
            self.add_error(None, error.messages)
            return
        by_name = {name: field for field, name in FILE_FIELDS.items()}
        by_name["portfolio_name"] = "new_portfolio_name" if self.creates_portfolio else "portfolio"
        for key, messages in error.message_dict.items():
            field = None if key == NON_FIELD_ERRORS else by_name.get(key)
            self.add_error(field, messages)
