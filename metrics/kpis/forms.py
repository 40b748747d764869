"""Forms of the KPI pages. They carry what people typed and show errors next to the fields;
the rules themselves (number, range, cadence, future, duplicate, definition order) live in
metrics.kpis.services, which raises ValidationError with field messages that
`add_service_errors` puts on the form, so pages, API and CSV import say the same thing.

Values and periods are plain text fields on purpose: a browser's number field would round
or refuse input before the service can explain what is wrong with it.
"""

from __future__ import annotations

from django import forms
from django.core.exceptions import ValidationError

from metrics.kpis.services import NON_FIELD
from metrics.kpis.validation import NOTE_MAX_LENGTH
from metrics.models import KPI

CSV_MAX_BYTES = 2 * 1024 * 1024


def add_service_errors(form: forms.Form, error: ValidationError) -> None:
    """Put a service's ValidationError on the form: field messages next to their fields,
    the rest above the form."""
    if not hasattr(error, "error_dict"):
        for message in error.messages:
            form.add_error(None, message)
        return
    for field, messages in error.message_dict.items():
        target = field if field in form.fields and field != NON_FIELD else None
        for message in messages:
            form.add_error(target, message)


def describe_errors(form: forms.Form) -> forms.Form:
    """Point each invalid field's input at its error message (aria-describedby), so a screen
    reader reads the message on focus; the field template gives the message that id."""
    for name, errors in form.errors.items():
        if name in form.fields and errors:
            attrs = form.fields[name].widget.attrs
            attrs["aria-describedby"] = f"{form[name].auto_id}-error"
            attrs["aria-invalid"] = "true"
    return form


class MeasurementForm(forms.Form):
    """Add a value for a period (`period_start` shown) or correct one (`version` sent)."""

    period_start = forms.CharField(
        label="Period start",
        max_length=40,
        required=False,
        widget=forms.DateInput(attrs={"type": "date"}),
    )
    value = forms.CharField(
        label="Value",
        max_length=40,
        required=False,
        widget=forms.TextInput(attrs={"inputmode": "decimal", "autocomplete": "off"}),
    )
    note = forms.CharField(
        label="Note",
        required=False,
        max_length=NOTE_MAX_LENGTH * 2,  # the service reports the real limit with a count
        widget=forms.TextInput(attrs={"autocomplete": "off"}),
    )
    version = forms.IntegerField(required=False, min_value=1, widget=forms.HiddenInput)

    def __init__(self, *args: object, correcting: bool = False, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)
        self.correcting = correcting
        if correcting:
            del self.fields["period_start"]
        self.fields["value"].widget.attrs["autofocus"] = True


class DefinitionForm(forms.Form):
    name = forms.CharField(label="Name", max_length=200, required=False)
    unit = forms.CharField(
        label="Unit", max_length=60, required=False, help_text="e.g. days, points, %, score"
    )
    direction = forms.ChoiceField(label="Direction", choices=KPI.Direction.choices)
    cadence = forms.ChoiceField(label="Cadence", choices=KPI.Cadence.choices)
    computed_from = forms.ChoiceField(
        label="Source",
        choices=[("", "Entered by people (manual)"), *KPI.FlowMetric.choices],
        required=False,
        help_text="A computed KPI updates itself from the work-item history.",
    )
    target = forms.CharField(label="Target", max_length=40, required=False)
    amber_threshold = forms.CharField(
        label="Amber threshold",
        max_length=40,
        required=False,
        help_text="Amber when the value is strictly worse than this.",
    )
    red_threshold = forms.CharField(
        label="Red threshold",
        max_length=40,
        required=False,
        help_text="Red when the value is strictly worse than this.",
    )
    min_value = forms.CharField(
        label="Lowest allowed value", max_length=40, required=False, help_text="Optional."
    )
    max_value = forms.CharField(
        label="Highest allowed value", max_length=40, required=False, help_text="Optional."
    )
    owner = forms.ChoiceField(label="Owner", required=False)
    description = forms.CharField(label="Description", required=False, widget=forms.Textarea)
    active = forms.BooleanField(
        label="Active", required=False, initial=True, help_text="Retired KPIs leave the health."
    )
    version = forms.IntegerField(required=False, min_value=1, widget=forms.HiddenInput)

    def __init__(self, *args: object, owners: list[tuple[str, str]], **kwargs: object) -> None:
        super().__init__(*args, **kwargs)
        self.fields["owner"].choices = [("", "Nobody in particular"), *owners]


class KpiImportForm(forms.Form):
    file = forms.FileField(
        label="CSV file",
        help_text="UTF-8 with a header row: kpi, period_start, value and optionally note.",
    )

    def clean_file(self):
        upload = self.cleaned_data["file"]
        if upload.size > CSV_MAX_BYTES:
            raise ValidationError(
                f"The file is {upload.size / 1024 / 1024:.1f} MB; the limit is "
                f"{CSV_MAX_BYTES // 1024 // 1024} MB."
            )
        return upload
