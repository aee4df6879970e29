"""Tickets' data: users and roles, reference data, citizens, tickets and their timeline.

The lifecycle's allowed transitions are the TRANSITIONS table below; only the functions in
tickets/actions.py move a ticket along it.
"""

from django.contrib.auth.models import AbstractUser
from django.contrib.auth.models import UserManager as BaseUserManager
from django.db import models
from django.db.models.functions import Concat, Lower
from django.utils.translation import get_language
from django.utils.translation import gettext_lazy as _

from . import clock
from .pii import phone_mask


class Role(models.TextChoices):
    OPERATOR = "operator", _("Operator")
    SUPERVISOR = "supervisor", _("Supervisor")
    DEPARTMENT = "department", _("Department staff")
    ADMIN = "admin", _("Administrator")


def localized_name(obj: "Department | District | Category") -> str:
    """The English name when the interface speaks English and one is recorded, else the Chinese."""
    if obj.name_en and (get_language() or "").startswith("en"):
        return obj.name_en
    return obj.name


class UserManager(BaseUserManager):
    def create_superuser(self, username, email=None, password=None, **extra_fields):
        extra_fields.setdefault("role", Role.ADMIN)
        return super().create_superuser(username, email, password, **extra_fields)


class User(AbstractUser):
    role = models.CharField(_("role"), max_length=16, choices=Role.choices, default=Role.OPERATOR)
    department = models.ForeignKey(
        "Department",
        verbose_name=_("department"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="staff",
        help_text=_("Required for department staff: the only department whose tickets they see."),
    )
    extension = models.CharField(_("phone extension"), max_length=32, blank=True)

    objects = UserManager()

    class Meta:
        verbose_name = _("user")
        verbose_name_plural = _("users")
        constraints = [
            models.CheckConstraint(
                condition=~models.Q(role="department") | models.Q(department__isnull=False),
                name="department_staff_have_department",
            )
        ]

    @property
    def is_department_staff(self) -> bool:
        return self.role == Role.DEPARTMENT

    @property
    def is_hotline_staff(self) -> bool:
        """Operators, supervisors and administrators work for the hotline itself."""
        return self.role in (Role.OPERATOR, Role.SUPERVISOR, Role.ADMIN) or self.is_superuser


class Department(models.Model):
    code = models.SlugField(_("code"), max_length=32, unique=True)
    name = models.CharField(_("name"), max_length=100, unique=True)
    name_en = models.CharField(_("English name"), max_length=150, blank=True)
    phone = models.CharField(_("contact phone"), max_length=32, blank=True)
    is_active = models.BooleanField(_("active"), default=True)

    class Meta:
        ordering = ["code"]
        verbose_name = _("department")
        verbose_name_plural = _("departments")

    def __str__(self) -> str:
        return localized_name(self)


class District(models.Model):
    code = models.CharField(_("code"), max_length=12, unique=True)
    name = models.CharField(_("name"), max_length=100, unique=True)
    name_en = models.CharField(_("English name"), max_length=150, blank=True)

    class Meta:
        ordering = ["code"]
        verbose_name = _("district")
        verbose_name_plural = _("districts")

    def __str__(self) -> str:
        return localized_name(self)


class Category(models.Model):
    """A node of the category tree (事项分类); `path` ("/3/17/") makes subtree queries one LIKE."""

    parent = models.ForeignKey(
        "self", verbose_name=_("parent"), null=True, blank=True, on_delete=models.PROTECT, related_name="children"
    )
    code = models.SlugField(_("code"), max_length=48, unique=True)
    name = models.CharField(_("name"), max_length=100)
    name_en = models.CharField(_("English name"), max_length=150, blank=True)
    sort = models.PositiveIntegerField(_("order"), default=0)
    path = models.CharField(_("tree path"), max_length=255, editable=False, db_index=True, default="")
    is_active = models.BooleanField(_("active"), default=True)

    class Meta:
        ordering = ["path", "sort"]
        verbose_name = _("category")
        verbose_name_plural = _("categories")
        constraints = [models.UniqueConstraint(fields=["parent", "name"], name="category_unique_name_in_parent")]

    def __str__(self) -> str:
        own = localized_name(self)
        return f"{localized_name(self.parent)} / {own}" if self.parent_id else own

    def save(self, *args, **kwargs) -> None:
        # The materialised path needs the primary key, so it is written after the insert;
        # moving a node rewrites its descendants' paths in the same statement's transaction.
        super().save(*args, **kwargs)
        old = self.path
        new = f"{self.parent.path if self.parent_id else '/'}{self.pk}/"
        if old != new:
            Category.objects.filter(pk=self.pk).update(path=new)
            if old:
                for node in Category.objects.filter(path__startswith=old).exclude(pk=self.pk):
                    Category.objects.filter(pk=node.pk).update(path=new + node.path[len(old) :])
            self.path = new

    @property
    def is_leaf(self) -> bool:
        return not self.children.exists()


class Citizen(models.Model):
    """The unified identity (统一身份): one person across calls, channels and phone numbers.

    The ID number is stored as a keyed hash (for lookup) and an encrypted value (for the
    rare, audited reveal); `id_masked` is what every screen shows.
    """

    name = models.CharField(_("full name"), max_length=100, blank=True)
    id_hash = models.CharField(max_length=64, unique=True, null=True, editable=False)
    id_encrypted = models.TextField(blank=True, editable=False)
    id_masked = models.CharField(_("ID number"), max_length=18, blank=True, editable=False)
    address = models.CharField(_("address"), max_length=255, blank=True)
    district = models.ForeignKey(District, verbose_name=_("district"), null=True, blank=True, on_delete=models.SET_NULL)
    created_at = models.DateTimeField(_("created"), default=clock.now, editable=False)

    class Meta:
        verbose_name = _("citizen")
        verbose_name_plural = _("citizens")
        permissions = [("view_citizen_pii", _("Can see unmasked ID numbers and phone numbers"))]

    def __str__(self) -> str:
        return self.name or self.id_masked or f"#{self.pk}"


class CitizenPhone(models.Model):
    citizen = models.ForeignKey(Citizen, on_delete=models.CASCADE, related_name="phones")
    number = models.CharField(_("phone number (E.164)"), max_length=20, db_index=True)
    label = models.CharField(_("label"), max_length=32, blank=True)
    created_at = models.DateTimeField(_("created"), default=clock.now, editable=False)

    class Meta:
        verbose_name = _("phone number")
        verbose_name_plural = _("phone numbers")
        constraints = [models.UniqueConstraint(fields=["citizen", "number"], name="citizen_phone_unique")]

    def __str__(self) -> str:
        return phone_mask(self.number)

    @property
    def masked(self) -> str:
        return phone_mask(self.number)


class PiiAccess(models.Model):
    """Audit of every reveal of an unmasked ID number or phone number: who, whose, when, why."""

    user = models.ForeignKey(User, verbose_name=_("user"), on_delete=models.PROTECT, related_name="+")
    citizen = models.ForeignKey(
        Citizen, verbose_name=_("citizen"), on_delete=models.PROTECT, related_name="pii_accesses"
    )
    fields = models.CharField(_("fields seen"), max_length=64)
    reason = models.CharField(_("reason"), max_length=255)
    at = models.DateTimeField(_("time"), default=clock.now, editable=False)

    class Meta:
        ordering = ["-at"]
        verbose_name = _("personal data access")
        verbose_name_plural = _("personal data accesses")

    def __str__(self) -> str:
        return f"{self.user} → {self.citizen} ({self.at:%Y-%m-%d %H:%M})"


class Article(models.Model):
    """A knowledge-base article (知识库): a question citizens ask and the answer operators give.

    Supervisors write and publish articles; operators look them up during a call and may close a
    consultation at first contact with one (the ticket keeps it). `search_text` is the database's
    own lower-cased copy of every searchable field, so one trigram index (PostgreSQL) serves the
    substring search that Chinese needs without word segmentation.
    """

    title = models.CharField(_("title"), max_length=200)
    question = models.TextField(_("question"), help_text=_("The question as citizens ask it."))
    answer = models.TextField(_("answer"), help_text=_("What the operator tells the citizen."))
    category = models.ForeignKey(
        Category,
        verbose_name=_("category"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="articles",
    )
    keywords = models.CharField(
        _("keywords"), max_length=255, blank=True, help_text=_("Other words callers use, separated by spaces.")
    )
    is_published = models.BooleanField(
        _("published"), default=False, help_text=_("Only published articles are shown to operators and departments.")
    )
    search_text = models.GeneratedField(
        expression=Lower(
            Concat(
                "title",
                models.Value(" "),
                "question",
                models.Value(" "),
                "answer",
                models.Value(" "),
                "keywords",
                output_field=models.TextField(),
            )
        ),
        output_field=models.TextField(),
        db_persist=True,
    )
    view_count = models.PositiveIntegerField(_("views"), default=0, editable=False)
    use_count = models.PositiveIntegerField(_("times used"), default=0, editable=False)
    created_at = models.DateTimeField(_("created"), default=clock.now, editable=False)
    updated_at = models.DateTimeField(_("updated"), default=clock.now, editable=False)
    updated_by = models.ForeignKey(
        User, verbose_name=_("updated by"), null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering = ["-updated_at", "-id"]
        verbose_name = _("knowledge article")
        verbose_name_plural = _("knowledge articles")

    def __str__(self) -> str:
        return self.title


class Kind(models.TextChoices):
    CONSULTATION = "consultation", _("Consultation")
    COMPLAINT = "complaint", _("Complaint")
    SUGGESTION = "suggestion", _("Suggestion")
    HELP = "help", _("Help request")
    REPORT = "report", _("Report")
    PRAISE = "praise", _("Praise")


class Channel(models.TextChoices):
    PHONE = "phone", _("Phone")
    WEB = "web", _("Web")
    APP = "app", _("App")
    OPEN311 = "open311", _("Open311 API")
    WALK_IN = "walk_in", _("Walk-in")


class Urgency(models.TextChoices):
    NORMAL = "normal", _("Normal")
    URGENT = "urgent", _("Urgent")


class Satisfaction(models.TextChoices):
    SATISFIED = "satisfied", _("Satisfied")
    BASICALLY = "basically", _("Basically satisfied")
    UNSATISFIED = "unsatisfied", _("Unsatisfied")


class Status(models.TextChoices):
    DRAFT = "draft", _("Draft")
    REGISTERED = "registered", _("Registered")
    CLOSED_FIRST_CONTACT = "closed_first_contact", _("Closed at first contact")
    DISPATCHED = "dispatched", _("Dispatched")
    ACCEPTED = "accepted", _("Accepted")
    EXTENSION_REQUESTED = "extension_requested", _("Extension requested")
    RETURNED = "returned", _("Returned")
    REPLIED = "replied", _("Replied")
    CLOSED = "closed", _("Closed")
    REOPENED = "reopened", _("Reopened")
    MERGED = "merged", _("Merged")
    CANCELLED = "cancelled", _("Cancelled")


class Action(models.TextChoices):
    """Every move of the lifecycle, plus the timeline entries that are not moves."""

    CREATE = "create", _("Created")
    REGISTER = "register", _("Register")
    CLOSE_FIRST_CONTACT = "close_first_contact", _("Close at first contact")
    DISPATCH = "dispatch", _("Dispatch")
    ACCEPT = "accept", _("Accept")
    RETURN = "return", _("Return")
    REQUEST_EXTENSION = "request_extension", _("Request extension")
    APPROVE_EXTENSION = "approve_extension", _("Approve extension")
    DENY_EXTENSION = "deny_extension", _("Deny extension")
    REPLY = "reply", _("Reply")
    CLOSE = "close", _("Close after callback")
    REOPEN = "reopen", _("Reopen")
    MERGE = "merge", _("Merge into another ticket")
    CANCEL = "cancel", _("Cancel")
    EDIT = "edit", _("Edit")
    REASSIGN = "reassign", _("Reassign to another department")
    ESCALATE = "escalate", _("Escalate")


S = Status
OPEN_FOR_MERGE = (S.DRAFT, S.REGISTERED, S.RETURNED, S.DISPATCHED, S.ACCEPTED, S.REOPENED)

# action -> (statuses it may start from, status it leads to). The whole lifecycle in one place.
TRANSITIONS: dict[str, tuple[tuple[str, ...], str]] = {
    Action.REGISTER: ((S.DRAFT,), S.REGISTERED),
    Action.CLOSE_FIRST_CONTACT: ((S.REGISTERED,), S.CLOSED_FIRST_CONTACT),
    Action.DISPATCH: ((S.REGISTERED, S.RETURNED), S.DISPATCHED),
    Action.ACCEPT: ((S.DISPATCHED, S.REOPENED), S.ACCEPTED),
    Action.RETURN: ((S.DISPATCHED, S.ACCEPTED, S.REOPENED), S.RETURNED),
    Action.REQUEST_EXTENSION: ((S.ACCEPTED,), S.EXTENSION_REQUESTED),
    Action.APPROVE_EXTENSION: ((S.EXTENSION_REQUESTED,), S.ACCEPTED),
    Action.DENY_EXTENSION: ((S.EXTENSION_REQUESTED,), S.ACCEPTED),
    Action.REPLY: ((S.ACCEPTED,), S.REPLIED),
    Action.CLOSE: ((S.REPLIED,), S.CLOSED),
    Action.REOPEN: ((S.REPLIED,), S.REOPENED),
    Action.MERGE: (OPEN_FOR_MERGE, S.MERGED),
    Action.CANCEL: ((S.DRAFT, S.REGISTERED, S.RETURNED), S.CANCELLED),
    # A supervisor takes the ticket from its lead department and hands it to another (改派).
    Action.REASSIGN: ((S.DISPATCHED, S.ACCEPTED, S.REOPENED), S.DISPATCHED),
}

TERMINAL = frozenset({S.CLOSED_FIRST_CONTACT, S.CLOSED, S.MERGED, S.CANCELLED})
# Statuses in which a department holds the ticket and its deadline runs.
WITH_DEPARTMENT = frozenset({S.DISPATCHED, S.ACCEPTED, S.EXTENSION_REQUESTED, S.REOPENED})


def allowed_actions(status: str) -> list[str]:
    """The actions that may start from `status`, in lifecycle order."""
    return [action for action, (sources, _target) in TRANSITIONS.items() if status in sources]


def allowed_next_statuses(status: str) -> list[str]:
    return list(dict.fromkeys(TRANSITIONS[action][1] for action in allowed_actions(status)))


class Ticket(models.Model):
    number = models.CharField(_("number"), max_length=20, unique=True, editable=False)
    kind = models.CharField(_("kind"), max_length=16, choices=Kind.choices, default=Kind.CONSULTATION)
    channel = models.CharField(_("channel"), max_length=16, choices=Channel.choices, default=Channel.PHONE)
    status = models.CharField(_("status"), max_length=24, choices=Status.choices, default=Status.DRAFT, editable=False)
    citizen = models.ForeignKey(
        Citizen, verbose_name=_("citizen"), null=True, blank=True, on_delete=models.PROTECT, related_name="tickets"
    )
    caller_number = models.CharField(_("caller number"), max_length=20, blank=True)
    title = models.CharField(_("title"), max_length=200, blank=True)
    description = models.TextField(_("description"), blank=True)
    address = models.CharField(_("address"), max_length=255, blank=True)
    district = models.ForeignKey(District, verbose_name=_("district"), null=True, blank=True, on_delete=models.PROTECT)
    category = models.ForeignKey(Category, verbose_name=_("category"), null=True, blank=True, on_delete=models.PROTECT)
    urgency = models.CharField(_("urgency"), max_length=8, choices=Urgency.choices, default=Urgency.NORMAL)
    lead_department = models.ForeignKey(
        Department,
        verbose_name=_("lead department"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="lead_tickets",
        editable=False,
    )
    assisting_departments = models.ManyToManyField(
        Department, verbose_name=_("assisting departments"), blank=True, related_name="assisting_tickets"
    )
    deadline = models.DateTimeField(_("deadline"), null=True, blank=True, editable=False)
    answer = models.TextField(_("answer at first contact"), blank=True, editable=False)
    article = models.ForeignKey(
        Article,
        verbose_name=_("knowledge article used"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="tickets",
        editable=False,
    )
    reply = models.TextField(_("department's reply"), blank=True, editable=False)
    satisfaction = models.CharField(
        _("satisfaction"), max_length=12, choices=Satisfaction.choices, blank=True, editable=False
    )
    extension_until = models.DateTimeField(_("extension requested until"), null=True, blank=True, editable=False)
    merged_into = models.ForeignKey(
        "self",
        verbose_name=_("merged into"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="merged_tickets",
        editable=False,
    )
    return_count = models.PositiveSmallIntegerField(_("times returned"), default=0, editable=False)
    external_ref = models.CharField(_("external reference"), max_length=64, unique=True, null=True, blank=True)
    created_by = models.ForeignKey(
        User,
        verbose_name=_("created by"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        editable=False,
    )
    created_at = models.DateTimeField(_("created"), default=clock.now, editable=False, db_index=True)
    registered_at = models.DateTimeField(_("registered"), null=True, blank=True, editable=False)
    dispatched_at = models.DateTimeField(_("dispatched"), null=True, blank=True, editable=False)
    replied_at = models.DateTimeField(_("replied"), null=True, blank=True, editable=False)
    closed_at = models.DateTimeField(_("closed"), null=True, blank=True, editable=False)
    updated_at = models.DateTimeField(_("updated"), default=clock.now, editable=False)
    # Bumped by every write, so an edit made from a stale screen is refused (409), not lost.
    version = models.PositiveIntegerField(_("version"), default=1, editable=False)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name = _("ticket")
        verbose_name_plural = _("tickets")
        indexes = [
            models.Index(fields=["status", "deadline"], name="ticket_status_deadline"),
            models.Index(fields=["lead_department", "status"], name="ticket_department_status"),
        ]

    def __str__(self) -> str:
        return self.number

    @property
    def is_terminal(self) -> bool:
        return self.status in TERMINAL

    @property
    def caller_masked(self) -> str:
        return phone_mask(self.caller_number)

    def is_overdue(self, now=None) -> bool:
        return bool(self.deadline and self.status in WITH_DEPARTMENT and self.deadline < (now or clock.now()))


class WebIntake(models.Model):
    """What a citizen's web form leaves beside its ticket (channel web), for the hotline's eyes only.

    The query code the citizen was shown once is kept only as a password hash. The contact name
    is not a Citizen: a phone typed into a public form is unverified, so the ticket is never
    linked to a citizen record by it (see docs/intake.md); staff link it after calling back.
    The photo lives under MEDIA_ROOT with a random name and is served to staff only.
    """

    ticket = models.OneToOneField(Ticket, verbose_name=_("ticket"), on_delete=models.CASCADE, related_name="web_intake")
    contact_name = models.CharField(_("name given"), max_length=100, blank=True)
    query_code_hash = models.CharField(_("query code (hash)"), max_length=128, editable=False)
    photo = models.FileField(_("photo"), max_length=255, blank=True, editable=False)
    photo_type = models.CharField(_("photo type"), max_length=32, blank=True, editable=False)
    created_at = models.DateTimeField(_("submitted"), default=clock.now, editable=False)

    class Meta:
        verbose_name = _("web submission")
        verbose_name_plural = _("web submissions")

    def __str__(self) -> str:
        return str(self.ticket_id)


class TicketNumberCounter(models.Model):
    """The last number handed out per day: numbers are YYYYMMDD plus a five-digit sequence."""

    day = models.DateField(primary_key=True)
    last = models.PositiveIntegerField(default=0)

    def __str__(self) -> str:
        return f"{self.day:%Y%m%d}: {self.last}"


class TimelineQuerySet(models.QuerySet):
    def update(self, **kwargs):
        raise TypeError("the timeline is append-only")

    def delete(self):
        raise TypeError("the timeline is append-only")


class TimelineEntry(models.Model):
    """One immutable line of a ticket's history: every transition and every edit."""

    ticket = models.ForeignKey(Ticket, on_delete=models.PROTECT, related_name="timeline")
    action = models.CharField(_("action"), max_length=24, choices=Action.choices)
    from_status = models.CharField(_("from"), max_length=24, choices=Status.choices, blank=True)
    to_status = models.CharField(_("to"), max_length=24, choices=Status.choices, blank=True)
    actor = models.ForeignKey(
        User, verbose_name=_("by"), null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    note = models.TextField(_("note"), blank=True)
    # Structured detail: changed fields, department, reason code, new deadline...
    data = models.JSONField(_("details"), default=dict, blank=True)
    at = models.DateTimeField(_("time"), default=clock.now, db_index=True)

    objects = TimelineQuerySet.as_manager()

    class Meta:
        ordering = ["at", "id"]
        verbose_name = _("timeline entry")
        verbose_name_plural = _("timeline entries")

    def __str__(self) -> str:
        return f"{self.ticket_id} {self.action} {self.at:%Y-%m-%d %H:%M}"

    def save(self, *args, **kwargs):
        if self.pk is not None:
            raise TypeError("timeline entries cannot be changed")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise TypeError("timeline entries cannot be deleted")
