"""The public pages' forms: the request (with its spam check and photo), the progress query, the rating."""

from typing import Any

from django import forms
from django.conf import settings
from django.core.exceptions import ValidationError
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from ..models import Category, District, Kind, Satisfaction, localized_name
from ..pii import phone_clean
from .challenge import Challenge, ChallengeError, challenge_check, challenge_new, challenge_read
from .photos import PreparedPhoto, photo_prepare

# Kinds about a place someone has to go to: the address and district are required for them.
NEEDS_ADDRESS = (Kind.COMPLAINT, Kind.HELP, Kind.REPORT)
DESCRIPTION_MIN, DESCRIPTION_MAX = 5, 2000
PHOTO_TYPES = "image/jpeg,image/png,image/webp"
CHALLENGE_MESSAGES = {
    "wrong": gettext_lazy("That is not the right answer. Please answer the new question."),
    "expired": gettext_lazy("The form was open for a long time. Please answer the new question and send it again."),
    "invalid": gettext_lazy("Please answer the new question and send the form again."),
    "used": gettext_lazy("This form has already been sent. Please answer the new question to send another request."),
    "too_fast": gettext_lazy("That was very quick. Please check your request, then send it again."),
}
# Challenge failures after which the visitor gets a new question (the others keep the old one).
RENEW_ON = ("wrong", "expired", "invalid", "used")


def category_choices() -> list[tuple[Any, Any]]:
    """Active categories as the tree: a group per top-level category, its subcategories inside."""
    nodes = list(Category.objects.filter(is_active=True).select_related("parent").order_by("path", "sort"))
    active = {node.pk for node in nodes}
    children: dict[int, list[Category]] = {}
    for node in nodes:
        if node.parent_id is not None and node.parent_id in active:
            children.setdefault(node.parent_id, []).append(node)
    choices: list[tuple[Any, Any]] = [("", _("— choose a category —"))]
    for root in sorted((n for n in nodes if n.parent_id is None), key=lambda n: (n.sort, n.path)):
        below = _descendants(root, children)
        if not below:
            choices.append((root.pk, localized_name(root)))
            continue
        group = [(node.pk, label) for node, label in below]
        group.append((root.pk, _("Other (%(name)s)") % {"name": localized_name(root)}))
        choices.append((localized_name(root), group))
    return choices


def _descendants(node: Category, children: dict[int, list[Category]], prefix: str = "") -> list[tuple[Category, str]]:
    found: list[tuple[Category, str]] = []
    for child in sorted(children.get(node.pk, []), key=lambda n: (n.sort, n.path)):
        label = f"{prefix}{localized_name(child)}"
        found.append((child, label))
        found.extend(_descendants(child, children, prefix=f"{label} / "))
    return found


class IntakeForm(forms.Form):
    """A citizen's request. Valid means: every field fine, the photo a real image, the spam check passed."""

    kind = forms.ChoiceField(
        label=gettext_lazy("What kind of request is it?"), choices=Kind.choices, widget=forms.RadioSelect
    )
    category = forms.TypedChoiceField(label=gettext_lazy("Category"), coerce=int)
    description = forms.CharField(
        label=gettext_lazy("Your request"),
        min_length=DESCRIPTION_MIN,
        max_length=DESCRIPTION_MAX,
        help_text=gettext_lazy("What happened, where and since when; what you would like done."),
        widget=forms.Textarea(attrs={"rows": 6}),
    )
    district = forms.ModelChoiceField(
        label=gettext_lazy("District"),
        queryset=District.objects.order_by("code"),
        required=False,
        empty_label=gettext_lazy("— choose a district —"),
        help_text=gettext_lazy("Required for complaints, help requests and reports."),
    )
    address = forms.CharField(
        label=gettext_lazy("Address"),
        max_length=255,
        required=False,
        help_text=gettext_lazy(
            "Street, number, residential compound. Required for complaints, help requests and reports."
        ),
        widget=forms.TextInput(attrs={"autocomplete": "street-address"}),
    )
    contact_name = forms.CharField(
        label=gettext_lazy("Your name (optional)"),
        max_length=100,
        required=False,
        widget=forms.TextInput(attrs={"autocomplete": "name"}),
    )
    phone = forms.CharField(
        label=gettext_lazy("Your phone number (optional)"),
        max_length=32,
        required=False,
        help_text=gettext_lazy(
            "So that the hotline can call you back. With it you can also check progress by its last four digits."
        ),
        widget=forms.TextInput(attrs={"type": "tel", "autocomplete": "tel", "inputmode": "tel"}),
    )
    photo = forms.FileField(
        label=gettext_lazy("Photo (optional)"),
        required=False,
        widget=forms.ClearableFileInput(attrs={"accept": PHOTO_TYPES}),
    )
    challenge = forms.CharField(widget=forms.HiddenInput)
    answer = forms.CharField(
        max_length=8, widget=forms.TextInput(attrs={"inputmode": "numeric", "autocomplete": "off", "size": 4})
    )
    # A honeypot: hidden from people (and from assistive technology), filled in by form-filling scripts.
    website = forms.CharField(
        label=gettext_lazy("Leave this field empty"),
        required=False,
        widget=forms.TextInput(attrs={"autocomplete": "off", "tabindex": "-1"}),
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["category"].choices = category_choices()
        limit_mb = round(settings.INTAKE_PHOTO_MAX_BYTES / (1024 * 1024), 1)
        self.fields["photo"].help_text = " ".join(
            (
                _("One JPEG, PNG or WebP image, up to %(mb)s MB.") % {"mb": f"{limit_mb:g}"},
                _("Location and camera details are removed from it; only the hotline and the department see it."),
            )
        )
        self.challenge_error = ""
        self.challenge: Challenge | None = None
        self._renewed = False
        if not self.is_bound:
            self._ask(challenge_new())
            return
        try:
            self._ask(challenge_read(self.data.get("challenge", "")))
        except ChallengeError as exc:
            self.challenge_error = exc.code  # reported by clean_answer; a new question on redisplay

    def _ask(self, challenge: Challenge) -> None:
        self.challenge = challenge
        self.fields["answer"].label = _("Spam check: what is %(a)d plus %(b)d?") % {"a": challenge.a, "b": challenge.b}
        self.fields["answer"].help_text = _("Type the answer in digits.")
        if not self.is_bound:
            self.initial["challenge"] = challenge.token

    def renew_challenge(self, code: str = "") -> None:
        """Ask a new question on the redisplayed form: the old one failed or was spent (`code` says which)."""
        self.challenge_error = code or self.challenge_error
        self._renewed = True
        challenge = challenge_new()
        self._ask(challenge)
        data = self.data.copy()
        data["challenge"] = challenge.token
        data["answer"] = ""
        self.data = data

    def prepare_redisplay(self) -> None:
        """Before showing the form again with its errors: a new question when the old one cannot be used."""
        if not self._renewed and (self.challenge is None or self.challenge_error in RENEW_ON):
            self.renew_challenge()

    def clean_phone(self) -> str:
        raw = self.cleaned_data["phone"].strip()
        if not raw:
            return ""
        try:
            return phone_clean(raw)
        except ValidationError:
            raise ValidationError(
                _(
                    "“%(value)s” is not a phone number we can call. Enter a mobile number such as 13800138000, "
                    "or a landline with its area code such as 0752-2345678."
                )
                % {"value": raw},
                code="phone",
            ) from None

    def clean_category(self) -> Category:
        try:
            return Category.objects.get(pk=self.cleaned_data["category"], is_active=True)
        except Category.DoesNotExist:
            raise ValidationError(_("Choose a category from the list."), code="invalid_choice") from None

    def clean_photo(self) -> PreparedPhoto | None:
        upload = self.cleaned_data.get("photo")
        if not upload:
            return None
        return photo_prepare(upload)

    def clean_answer(self) -> str:
        answer = self.cleaned_data["answer"]
        try:
            if self.challenge is None:
                raise ChallengeError(self.challenge_error or "invalid")
            if self.data.get("website"):
                raise ChallengeError("invalid")
            challenge_check(self.challenge, answer)
        except ChallengeError as exc:
            self.challenge_error = exc.code
            raise ValidationError(CHALLENGE_MESSAGES[exc.code], code=f"challenge_{exc.code}") from None
        return answer

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        if cleaned.get("kind") in NEEDS_ADDRESS:
            kind = str(Kind(cleaned["kind"]).label).lower()
            if not cleaned.get("district") and "district" not in self.errors:
                self.add_error("district", _("Choose the district: it is required for a %(kind)s.") % {"kind": kind})
            if not (cleaned.get("address") or "").strip() and "address" not in self.errors:
                self.add_error("address", _("Give the address: it is required for a %(kind)s.") % {"kind": kind})
        return cleaned


class ProgressForm(forms.Form):
    number = forms.CharField(
        label=gettext_lazy("Ticket number"),
        max_length=24,
        widget=forms.TextInput(attrs={"inputmode": "numeric", "autocomplete": "off"}),
    )
    secret = forms.CharField(
        label=gettext_lazy("Query code, or the last 4 digits of your phone number"),
        max_length=24,
        help_text=gettext_lazy(
            "The query code was shown when you sent the request. The phone number is the one you gave (or called from)."
        ),
        widget=forms.TextInput(attrs={"autocomplete": "off", "autocapitalize": "characters", "spellcheck": "false"}),
    )


RATING_CHOICES = [
    (Satisfaction.SATISFIED, gettext_lazy("Satisfied")),
    (Satisfaction.BASICALLY, gettext_lazy("Basically satisfied")),
    (Satisfaction.UNSATISFIED, gettext_lazy("Unsatisfied: the department should handle it again")),
]


class RatingForm(forms.Form):
    result = forms.ChoiceField(
        label=gettext_lazy("How satisfied are you with the result?"), choices=RATING_CHOICES, widget=forms.RadioSelect
    )
    comment = forms.CharField(
        label=gettext_lazy("Comment"),
        required=False,
        max_length=1000,
        help_text=gettext_lazy("Required if you are unsatisfied: tell us what is still not resolved."),
        widget=forms.Textarea(attrs={"rows": 4}),
    )

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        if cleaned.get("result") == Satisfaction.UNSATISFIED and not (cleaned.get("comment") or "").strip():
            self.add_error("comment", _("Tell us what is still not resolved."))
        return cleaned
