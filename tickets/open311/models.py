"""Open311's data: services over the category tree, their attributes, API keys, requests and the request log.

A service exposes one category of the tree under a service code; a service request is what a
client posted, kept beside the ticket it became (with the contact details, which never leave
the hotline); the request log has one row per API call, with the key that made it.
"""

from django.core.validators import MaxLengthValidator, MinValueValidator, RegexValidator
from django.db import models
from django.utils.translation import gettext_lazy as _

from tickets import clock
from tickets.models import Category, Kind, Ticket, User, localized_name
from tickets.pii import phone_mask

# Codes travel in URL paths before a format suffix (services/{code}.xml): no dots, no slashes.
code_validator = RegexValidator(
    r"^[A-Za-z0-9_-]+$", _("Use letters, digits, hyphens and underscores only."), code="invalid_code"
)
DESCRIPTION_MAX = 4000  # the standard's limit for a request's description


class ServiceType(models.TextChoices):
    # The standard's third type, blackbox (no id, no token), would leave the citizen nothing to quote.
    REALTIME = "realtime", _("Realtime: the ticket is created at once and its number returned")
    BATCH = "batch", _("Batch: a token is returned and the ticket is created in the background")


class Datatype(models.TextChoices):
    STRING = "string", _("String (one line)")
    NUMBER = "number", _("Number")
    DATETIME = "datetime", _("Date and time")
    TEXT = "text", _("Text (several lines)")
    SINGLEVALUELIST = "singlevaluelist", _("One value from a list")
    MULTIVALUELIST = "multivaluelist", _("Several values from a list")


LIST_DATATYPES = (Datatype.SINGLEVALUELIST, Datatype.MULTIVALUELIST)


class Service(models.Model):
    """One category of the tree offered to Open311 clients; its group is the parent category's name."""

    category = models.OneToOneField(
        Category, verbose_name=_("category"), on_delete=models.PROTECT, related_name="open311_service"
    )
    code = models.CharField(
        _("service code"),
        max_length=64,
        unique=True,
        blank=True,
        validators=[code_validator],
        help_text=_("Left empty: the category's code."),
    )
    description = models.TextField(_("description"), blank=True, help_text=_("A brief description for clients."))
    keywords = models.CharField(
        _("keywords"), max_length=255, blank=True, help_text=_("Comma-separated synonyms that help people find it.")
    )
    kind = models.CharField(
        _("ticket kind"),
        max_length=16,
        choices=Kind.choices,
        default=Kind.HELP,
        help_text=_("The kind of ticket a request for this service becomes."),
    )
    type = models.CharField(_("type"), max_length=8, choices=ServiceType.choices, default=ServiceType.REALTIME)
    notice = models.TextField(
        _("service notice"),
        blank=True,
        help_text=_("What the hotline will do about such a request; returned with every request for this service."),
    )
    is_active = models.BooleanField(
        _("offered"), default=True, help_text=_("Listed and accepting requests (its category must be active too).")
    )
    sort = models.PositiveIntegerField(_("order"), default=0)

    class Meta:
        ordering = ["sort", "code"]
        verbose_name = _("Open311 service")
        verbose_name_plural = _("Open311 services")
        constraints = [models.CheckConstraint(condition=~models.Q(code=""), name="open311_service_has_code")]

    def __str__(self) -> str:
        return f"{self.code} {localized_name(self.category)}" if self.category_id else self.code

    def save(self, *args, **kwargs) -> None:
        if not self.code and self.category_id:
            self.code = self.category.code
        super().save(*args, **kwargs)

    def clean(self) -> None:
        # Before the constraints are checked: an empty code means the category's.
        if not self.code and self.category_id:
            self.code = self.category.code

    @property
    def name(self) -> str:
        return localized_name(self.category)

    @property
    def group(self) -> str | None:
        return localized_name(self.category.parent) if self.category.parent_id else None


class ServiceAttribute(models.Model):
    """A question a service asks (the service definition); answered as attribute[code] in a request."""

    service = models.ForeignKey(Service, verbose_name=_("service"), on_delete=models.CASCADE, related_name="attributes")
    code = models.CharField(_("code"), max_length=64, validators=[code_validator])
    variable = models.BooleanField(
        _("asks for input"), default=True, help_text=_("Unticked: the description is only information to show.")
    )
    datatype = models.CharField(_("datatype"), max_length=16, choices=Datatype.choices, default=Datatype.STRING)
    required = models.BooleanField(_("required"), default=False)
    datatype_description = models.CharField(_("datatype description"), max_length=255, blank=True)
    order = models.PositiveIntegerField(_("order"), default=1, validators=[MinValueValidator(1)])
    description = models.TextField(_("description"), help_text=_("The question, with how to find the answer."))

    class Meta:
        ordering = ["service", "order"]
        verbose_name = _("service attribute")
        verbose_name_plural = _("service attributes")
        constraints = [
            models.UniqueConstraint(fields=["service", "code"], name="open311_attribute_unique_code"),
            models.UniqueConstraint(fields=["service", "order"], name="open311_attribute_unique_order"),
            models.CheckConstraint(condition=models.Q(order__gte=1), name="open311_attribute_order_positive"),
        ]

    def __str__(self) -> str:
        return f"{self.service.code} / {self.code}"


class AttributeValue(models.Model):
    """One option of a list attribute: `key` is what clients send, `name` what people read."""

    attribute = models.ForeignKey(
        ServiceAttribute, verbose_name=_("attribute"), on_delete=models.CASCADE, related_name="values"
    )
    key = models.CharField(_("key"), max_length=100)
    name = models.CharField(_("name"), max_length=200)
    sort = models.PositiveIntegerField(_("order"), default=0)

    class Meta:
        ordering = ["attribute", "sort", "id"]
        verbose_name = _("attribute value")
        verbose_name_plural = _("attribute values")
        constraints = [models.UniqueConstraint(fields=["attribute", "key"], name="open311_value_unique_key")]

    def __str__(self) -> str:
        return f"{self.key}: {self.name}"


class ApiKey(models.Model):
    """A client's key. Only its SHA-256 is stored; the key itself is shown once, when it is issued."""

    name = models.CharField(_("holder"), max_length=100, help_text=_("The app or organisation the key is for."))
    contact = models.CharField(_("contact"), max_length=200, blank=True, help_text=_("Who to call about it."))
    prefix = models.CharField(_("key begins with"), max_length=16, editable=False)
    key_hash = models.CharField(max_length=64, unique=True, editable=False)
    requests_per_minute = models.PositiveIntegerField(
        _("requests per minute"),
        null=True,
        blank=True,
        validators=[MinValueValidator(1)],
        help_text=_("Left empty: the default (setting OPEN311_RATE_LIMIT)."),
    )
    note = models.TextField(_("note"), blank=True)
    created_at = models.DateTimeField(_("issued"), default=clock.now, editable=False)
    created_by = models.ForeignKey(
        User, verbose_name=_("issued by"), null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    last_used_at = models.DateTimeField(_("last used"), null=True, blank=True, editable=False)
    revoked_at = models.DateTimeField(_("revoked"), null=True, blank=True, editable=False)
    revoked_by = models.ForeignKey(
        User,
        verbose_name=_("revoked by"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        editable=False,
    )

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name = _("Open311 API key")
        verbose_name_plural = _("Open311 API keys")

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"

    @property
    def is_active(self) -> bool:
        return self.revoked_at is None


class ServiceRequest(models.Model):
    """What a client posted, beside the ticket it became (none yet while a batch request waits).

    The contact fields are personal data: they stay here and on the ticket (caller number,
    citizen), and no Open311 answer ever contains them.
    """

    token = models.CharField(_("token"), max_length=32, unique=True, editable=False)
    service = models.ForeignKey(Service, verbose_name=_("service"), on_delete=models.PROTECT, related_name="requests")
    api_key = models.ForeignKey(ApiKey, verbose_name=_("API key"), on_delete=models.PROTECT, related_name="requests")
    ticket = models.OneToOneField(
        Ticket,
        verbose_name=_("ticket"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="open311_request",
    )
    submitted_at = models.DateTimeField(_("submitted"), default=clock.now, db_index=True)
    description = models.TextField(_("description"), blank=True, validators=[MaxLengthValidator(DESCRIPTION_MAX)])
    latitude = models.FloatField(_("latitude"), null=True, blank=True)
    longitude = models.FloatField(_("longitude"), null=True, blank=True)
    address_string = models.CharField(_("address"), max_length=255, blank=True)
    address_id = models.CharField(_("address ID"), max_length=64, blank=True)
    attributes = models.JSONField(_("attributes"), default=dict, blank=True)
    media_url = models.URLField(_("media URL"), max_length=1000, blank=True)
    first_name = models.CharField(_("first name"), max_length=100, blank=True)
    last_name = models.CharField(_("last name"), max_length=100, blank=True)
    email = models.EmailField(_("email"), blank=True)
    phone = models.CharField(_("phone number (E.164)"), max_length=20, blank=True)
    device_id = models.CharField(_("device ID"), max_length=100, blank=True)
    account_id = models.CharField(_("account ID"), max_length=100, blank=True)
    attempts = models.PositiveSmallIntegerField(_("attempts to create the ticket"), default=0, editable=False)
    error = models.TextField(_("last error"), blank=True, editable=False)

    class Meta:
        ordering = ["-submitted_at", "-id"]
        verbose_name = _("Open311 service request")
        verbose_name_plural = _("Open311 service requests")
        indexes = [models.Index(fields=["ticket", "submitted_at"], name="open311_request_pending")]

    def __str__(self) -> str:
        return self.ticket.number if self.ticket_id else self.token

    @property
    def phone_masked(self) -> str:
        return phone_mask(self.phone)


class RequestLog(models.Model):
    """One API call: when, with which key, what, and how it ended. Pruned after OPEN311_LOG_DAYS."""

    at = models.DateTimeField(_("time"), default=clock.now, db_index=True)
    api_key = models.ForeignKey(
        ApiKey, verbose_name=_("API key"), null=True, blank=True, on_delete=models.SET_NULL, related_name="log"
    )
    method = models.CharField(_("method"), max_length=8)
    endpoint = models.CharField(_("endpoint"), max_length=32, blank=True)
    path = models.CharField(_("path"), max_length=255)
    format = models.CharField(_("format"), max_length=8, blank=True)
    status = models.PositiveSmallIntegerField(_("HTTP status"))
    error = models.CharField(_("error"), max_length=255, blank=True)
    client_ip = models.GenericIPAddressField(_("client address"), null=True, blank=True)
    service_request_id = models.CharField(_("service request"), max_length=32, blank=True)
    duration_ms = models.PositiveIntegerField(_("duration (ms)"), default=0)

    class Meta:
        ordering = ["-at", "-id"]
        verbose_name = _("Open311 request log entry")
        verbose_name_plural = _("Open311 request log")
        indexes = [models.Index(fields=["api_key", "at"], name="open311_log_key_at")]

    def __str__(self) -> str:
        return f"{self.at:%Y-%m-%d %H:%M:%S} {self.method} {self.path} {self.status}"
