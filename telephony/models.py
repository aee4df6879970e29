"""Call records and the IVR menu (data, edited in the admin, read by the AGI bridge)."""

from django.conf import settings
from django.core.validators import RegexValidator
from django.db import models
from django.utils.translation import gettext_lazy as _

from tickets import clock


class Outcome(models.TextChoices):
    IN_PROGRESS = "in_progress", _("In progress")
    ANSWERED = "answered", _("Answered")
    ABANDONED_IVR = "abandoned_ivr", _("Abandoned in IVR")
    ABANDONED_QUEUE = "abandoned_queue", _("Abandoned in queue")
    SELF_SERVICE = "self_service", _("Finished in self-service")


class Call(models.Model):
    """One inbound call, from the first AGI session to the hang-up, keyed by Asterisk's uniqueid."""

    uniqueid = models.CharField(_("Asterisk unique id"), max_length=64, unique=True)
    linkedid = models.CharField(_("linked id"), max_length=64, blank=True, db_index=True)
    caller_number = models.CharField(_("caller number"), max_length=32, blank=True, db_index=True)
    dialled_number = models.CharField(_("dialled number"), max_length=32, blank=True)
    channel = models.CharField(_("Asterisk channel"), max_length=128, blank=True)
    language = models.CharField(_("language"), max_length=8, blank=True)
    ticket = models.ForeignKey(
        "tickets.Ticket",
        verbose_name=_("ticket"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="calls",
        help_text=_("The draft the bridge opened for the call."),
    )
    other_tickets = models.ManyToManyField(
        "tickets.Ticket",
        verbose_name=_("other tickets"),
        blank=True,
        related_name="other_calls",
        help_text=_("Tickets the operator opened on this call besides the bridge's draft."),
    )
    ivr_path = models.CharField(_("IVR path"), max_length=255, blank=True)
    ivr_digits = models.CharField(_("IVR digits"), max_length=64, blank=True)
    queue = models.CharField(_("queue"), max_length=64, blank=True)
    agent = models.CharField(_("agent interface"), max_length=128, blank=True)
    operator = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("operator"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    started_at = models.DateTimeField(_("started"), default=clock.now, db_index=True)
    ivr_ended_at = models.DateTimeField(_("IVR ended"), null=True, blank=True)
    queue_joined_at = models.DateTimeField(_("joined queue"), null=True, blank=True)
    answered_at = models.DateTimeField(_("answered"), null=True, blank=True)
    ended_at = models.DateTimeField(_("ended"), null=True, blank=True)
    hangup_cause = models.CharField(_("hang-up cause"), max_length=64, blank=True)
    wait_seconds = models.PositiveIntegerField(_("wait (s)"), null=True, blank=True)
    talk_seconds = models.PositiveIntegerField(_("talk (s)"), null=True, blank=True)
    outcome = models.CharField(_("outcome"), max_length=16, choices=Outcome.choices, default=Outcome.IN_PROGRESS)
    recording = models.CharField(_("recording file"), max_length=255, blank=True)

    class Meta:
        ordering = ["-started_at"]
        verbose_name = _("call")
        verbose_name_plural = _("calls")

    def __str__(self) -> str:
        return self.uniqueid


class OptionAction(models.TextChoices):
    KIND = "kind", _("Choose the ticket kind, then the operator queue")
    PROGRESS = "progress", _("Progress query")
    OPERATOR = "operator", _("Straight to an operator")
    SUBMENU = "submenu", _("Another menu")


prompt_name = RegexValidator(
    r"^[a-z0-9][a-z0-9/_-]*$", _("A sound file name without extension: lower-case letters, digits, / _ -.")
)


class IvrMenu(models.Model):
    """A menu the bridge plays: a prompt, the digits it accepts, and what happens on bad or no input."""

    code = models.SlugField(_("code"), max_length=32, unique=True, help_text=_("The main menu is “main”."))
    name = models.CharField(_("name"), max_length=100)
    prompt = models.CharField(_("prompt"), max_length=100, validators=[prompt_name])
    invalid_prompt = models.CharField(
        _("prompt on invalid input"), max_length=100, default="hotline/invalid", validators=[prompt_name]
    )
    timeout_ms = models.PositiveIntegerField(_("wait for a key (ms)"), default=5000)
    max_attempts = models.PositiveSmallIntegerField(
        _("attempts"), default=3, help_text=_("After this many invalid or empty inputs the caller goes to an operator.")
    )

    class Meta:
        verbose_name = _("IVR menu")
        verbose_name_plural = _("IVR menus")

    def __str__(self) -> str:
        return self.name


class IvrOption(models.Model):
    menu = models.ForeignKey(IvrMenu, verbose_name=_("menu"), on_delete=models.CASCADE, related_name="options")
    digit = models.CharField(
        _("key"), max_length=1, validators=[RegexValidator(r"^[0-9*#]$", _("One key: 0-9, * or #."))]
    )
    action = models.CharField(_("action"), max_length=16, choices=OptionAction.choices)
    kind = models.CharField(
        _("ticket kind"), max_length=16, blank=True, help_text=_("For “choose the ticket kind”: the kind chosen.")
    )
    submenu = models.ForeignKey(
        IvrMenu, verbose_name=_("submenu"), null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    label = models.CharField(_("label"), max_length=100)

    class Meta:
        ordering = ["menu", "digit"]
        verbose_name = _("IVR option")
        verbose_name_plural = _("IVR options")
        constraints = [models.UniqueConstraint(fields=["menu", "digit"], name="ivr_option_unique_digit")]

    def __str__(self) -> str:
        return f"{self.digit}: {self.label}"

    def clean(self) -> None:
        from django.core.exceptions import ValidationError

        from tickets.models import Kind

        if self.action == OptionAction.KIND and self.kind not in Kind.values:
            raise ValidationError({"kind": _("Choose one of the ticket kinds.")})
        if self.action == OptionAction.SUBMENU and self.submenu_id is None:
            raise ValidationError({"submenu": _("Choose the menu to go to.")})


class DeviceState(models.IntegerChoices):
    """Asterisk's numeric device states, as QueueMemberStatus and QueueStatus report them."""

    UNKNOWN = 0, _("Unknown")
    NOT_INUSE = 1, _("Not in use")
    INUSE = 2, _("In use")
    BUSY = 3, _("Busy")
    INVALID = 4, _("Invalid")
    UNAVAILABLE = 5, _("Unavailable")
    RINGING = 6, _("Ringing")
    RINGINUSE = 7, _("Ringing while in use")
    ONHOLD = 8, _("On hold")


class QueueMember(models.Model):
    """An agent interface in an Asterisk queue, as the AMI listener last saw it (the live queue state)."""

    server = models.CharField(_("Asterisk server"), max_length=128, blank=True)
    queue = models.CharField(_("queue"), max_length=64)
    interface = models.CharField(_("interface"), max_length=128)
    member_name = models.CharField(_("member name"), max_length=128, blank=True)
    operator = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("operator"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    status = models.PositiveSmallIntegerField(
        _("device state"), choices=DeviceState.choices, default=DeviceState.UNKNOWN
    )
    paused = models.BooleanField(_("paused"), default=False)
    paused_reason = models.CharField(_("pause reason"), max_length=128, blank=True)
    in_call = models.BooleanField(_("on a call"), default=False)
    updated_at = models.DateTimeField(_("updated"), default=clock.now)

    class Meta:
        ordering = ["queue", "interface"]
        verbose_name = _("queue member")
        verbose_name_plural = _("queue members")
        constraints = [
            models.UniqueConstraint(fields=["server", "queue", "interface"], name="queue_member_unique_interface")
        ]

    def __str__(self) -> str:
        return f"{self.queue}: {self.interface}"


class QueueCaller(models.Model):
    """A caller waiting in an Asterisk queue. No phone number here: the call record has it."""

    server = models.CharField(_("Asterisk server"), max_length=128, blank=True)
    queue = models.CharField(_("queue"), max_length=64)
    uniqueid = models.CharField(_("Asterisk unique id"), max_length=64)
    position = models.PositiveSmallIntegerField(_("position"), default=0)
    joined_at = models.DateTimeField(_("joined queue"))

    class Meta:
        ordering = ["queue", "joined_at"]
        verbose_name = _("waiting caller")
        verbose_name_plural = _("waiting callers")
        constraints = [models.UniqueConstraint(fields=["server", "queue", "uniqueid"], name="queue_caller_unique_call")]

    def __str__(self) -> str:
        return f"{self.queue}: {self.uniqueid}"
