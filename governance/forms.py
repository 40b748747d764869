"""Forms of the governance pages. They validate input; the services decide and write."""

from __future__ import annotations

from django import forms
from django.core.exceptions import ValidationError

from governance.models import ApprovalDecision, DecisionKind, PolicyKind
from governance.policies import PARAMETER_FIELDS
from governance.roles import GROUP_NAMES, PORTFOLIO_ROLE_PERMISSIONS, PROJECT_ROLE_PERMISSIONS, Role
from governance.selectors import user_find
from portfolio.models import Epic


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


# --- recommendations -------------------------------------------------------------------------


class RecommendationForm(forms.Form):
    """A PMO leader's proposed ranking: one position field per epic (no JavaScript needed).

    Positions need not be a clean 1..n: epics are ordered by the number entered, and among
    equal numbers an epic whose number was changed comes before those left alone; so typing
    1 for the fifth epic puts it first and shifts the others down.
    """

    rationale = forms.CharField(
        label="Rationale",
        widget=forms.Textarea(attrs={"rows": 4}),
        help_text="Why this order: the trade-offs, what changed.",
    )
    evidence = forms.CharField(
        label="Evidence links",
        required=False,
        widget=forms.Textarea(attrs={"rows": 3, "spellcheck": "false"}),
        help_text="One per line: a label, then the URL or a page of this site, e.g. "
        "“Velocity trend /projects/PAY/”.",
    )
    expected_impact = forms.CharField(
        label="Expected impact",
        required=False,
        widget=forms.Textarea(attrs={"rows": 2}),
    )
    confidence = forms.DecimalField(
        label="Confidence",
        min_value=0,
        max_value=1,
        max_digits=4,
        decimal_places=3,
        initial="0.7",
        widget=forms.NumberInput(attrs={"step": "0.05", "min": "0", "max": "1"}),
        help_text="0 to 1: how sure you are this order is better.",
    )
    snapshot = forms.CharField(widget=forms.HiddenInput)

    def __init__(self, *args, epics: list, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.epics = epics
        self.fields["snapshot"].initial = ",".join(str(epic.pk) for epic in epics)
        for index, epic in enumerate(epics, start=1):
            self.fields[self.position_field(epic)] = forms.IntegerField(
                label=f"Position of {epic.key}",
                min_value=1,
                max_value=len(epics),
                initial=index,
                widget=forms.NumberInput(attrs={"class": "position-input", "inputmode": "numeric"}),
            )

    @staticmethod
    def position_field(epic) -> str:
        return f"position_{epic.pk}"

    def rows(self) -> list[tuple]:
        """(epic, its bound position field) in current order, for the template."""
        return [(epic, self[self.position_field(epic)]) for epic in self.epics]

    def clean_snapshot(self) -> list[int]:
        try:
            return [int(value) for value in self.cleaned_data["snapshot"].split(",") if value]
        except ValueError:
            raise ValidationError("The form is out of date; reload the page.") from None

    def clean_evidence(self) -> list[dict[str, str]]:
        links = []
        for line in self.cleaned_data["evidence"].splitlines():
            words = line.split()
            if not words:
                continue
            url, label = words[-1], " ".join(words[:-1])
            links.append({"label": label or url, "url": url})
        return links

    def proposed_ranking(self) -> list[int]:
        """Epic ids in the proposed order (call once the form is valid)."""
        keyed = []
        for index, epic in enumerate(self.epics, start=1):
            position = self.cleaned_data[self.position_field(epic)]
            keyed.append((position, position == index, index, epic.pk))
        return [epic_id for *_, epic_id in sorted(keyed)]

    def add_service_error(self, error: ValidationError) -> None:
        """Field errors of the service on their fields (proposed_ranking above the table)."""
        if hasattr(error, "error_dict"):
            for field, messages in error.message_dict.items():
                self.add_error(field if field in self.fields else None, messages)
        else:
            self.add_error(None, error.messages)


class DecisionForm(forms.Form):
    """Approve, reject or request changes. Approving takes two steps: the first submission
    shows what will change and asks to confirm (`confirmed`), the second applies it."""

    decision = forms.ChoiceField(choices=ApprovalDecision.choices, widget=forms.HiddenInput)
    comment = forms.CharField(
        label="Comment",
        widget=forms.Textarea(attrs={"rows": 3}),
        error_messages={"required": "Explain your decision: a comment is required."},
    )
    version = forms.IntegerField(widget=forms.HiddenInput)
    confirmed = forms.BooleanField(required=False, widget=forms.HiddenInput)

    @property
    def needs_confirmation(self) -> bool:
        return (
            self.is_valid()
            and self.cleaned_data["decision"] == ApprovalDecision.APPROVE
            and not self.cleaned_data["confirmed"]
        )


# --- policies --------------------------------------------------------------------------------


class PolicyForm(forms.Form):
    """A guardrail: its kind and the one parameter that kind takes (the service validates the
    parameter and its errors land on the matching field)."""

    kind = forms.ChoiceField(label="Kind", choices=PolicyKind.choices)
    minimum = forms.DecimalField(
        label="Confidence floor",
        required=False,
        min_value=0,
        max_value=1,
        decimal_places=3,
        widget=forms.NumberInput(attrs={"step": "0.05"}),
        help_text="Confidence floor: below it, two approvers are needed.",
    )
    max_places = forms.IntegerField(
        label="Maximum places",
        required=False,
        min_value=1,
        help_text="Maximum rank move: more places than this needs an executive.",
    )
    statuses = forms.MultipleChoiceField(
        label="Frozen statuses",
        required=False,
        choices=Epic.Status.choices,
        widget=forms.CheckboxSelectMultiple,
        help_text="Gate freeze: epics in these statuses keep their place.",
    )
    minimum_links = forms.IntegerField(
        label="Minimum evidence links",
        required=False,
        min_value=1,
        help_text="Evidence required: recommendations citing fewer are blocked.",
    )
    providers = forms.CharField(
        label="Restricted providers",
        required=False,
        max_length=500,
        help_text="Provider restriction: model providers (comma-separated) that may not see "
        "this portfolio's data.",
    )
    description = forms.CharField(label="Note", required=False, max_length=300)
    active = forms.BooleanField(label="Active", required=False, initial=True)
    version = forms.IntegerField(required=False, widget=forms.HiddenInput)

    def __init__(self, *args, policy=None, **kwargs) -> None:
        if policy is not None and "initial" not in kwargs:
            kwargs["initial"] = {
                "kind": policy.kind,
                "description": policy.description,
                "active": policy.active,
                "version": policy.version,
                **{
                    name: ", ".join(value) if name == "providers" else value
                    for name, value in policy.parameters.items()
                },
            }
        super().__init__(*args, **kwargs)
        self.policy = policy
        if policy is not None:
            self.fields["kind"].disabled = True

    def parameters(self) -> dict:
        """The raw parameter of the chosen kind (the service cleans it)."""
        kind = self.cleaned_data["kind"]
        return {name: self.cleaned_data.get(name) for name in PARAMETER_FIELDS[kind]}

    def add_service_error(self, error: ValidationError) -> None:
        if hasattr(error, "error_dict"):
            for field, messages in error.message_dict.items():
                self.add_error(field if field in self.fields else None, messages)
        else:
            self.add_error(None, error.messages)


# --- decision log ----------------------------------------------------------------------------


class DecisionFilterForm(forms.Form):
    """The decision log's filters (GET); it only renders them: DecisionFilters parses."""

    q = forms.CharField(label="Search", required=False, max_length=200)
    portfolio = forms.ChoiceField(label="Portfolio", required=False)
    kind = forms.ChoiceField(
        label="Kind", required=False, choices=[("", "All kinds"), *DecisionKind.choices]
    )
    actor = forms.CharField(label="Actor", required=False, max_length=150)
    since = forms.DateField(
        label="From", required=False, widget=forms.DateInput(attrs={"type": "date"})
    )
    until = forms.DateField(
        label="To", required=False, widget=forms.DateInput(attrs={"type": "date"})
    )

    def __init__(self, *args, portfolios: list, include_global: bool, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        choices = [("", "All portfolios")]
        choices += [(portfolio.slug, portfolio.name) for portfolio in portfolios]
        if include_global:
            choices.append(("global", "Global (no portfolio)"))
        self.fields["portfolio"].choices = choices
