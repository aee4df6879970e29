"""The event outbox and the per-stream sequence counters of the websockets."""

from django.db import models
from django.utils.translation import gettext_lazy as _


class OutboxEvent(models.Model):
    """One event for the websockets. The primary key is the event's global sequence number.

    Rows are written in the same transaction as the change they describe and relayed to the
    channel layer after commit; a row with no `relayed_at` is still owed to the sockets
    (Redis was down, or the process died between commit and relay). `seqs` holds the event's
    number in each of its groups (streams), which is what a socket checks for gaps: a socket
    sees only its own groups, so gaps in the global id are normal there.
    """

    id = models.BigAutoField(primary_key=True)
    type = models.CharField(_("type"), max_length=64)
    payload = models.JSONField(_("payload"))
    groups = models.JSONField(_("groups"))
    seqs = models.JSONField(_("sequence per group"), default=dict)
    created_at = models.DateTimeField(_("created"), auto_now_add=True)
    relayed_at = models.DateTimeField(_("relayed"), null=True, blank=True)

    class Meta:
        ordering = ["id"]
        verbose_name = _("outbox event")
        verbose_name_plural = _("outbox events")
        indexes = [
            models.Index(fields=["id"], condition=models.Q(relayed_at__isnull=True), name="outbox_pending"),
        ]

    def __str__(self) -> str:
        return f"{self.id} {self.type}"


class Stream(models.Model):
    """The last sequence number handed out in one channel-layer group ("department.3", "supervisors")."""

    name = models.CharField(_("name"), max_length=100, primary_key=True)
    seq = models.BigIntegerField(_("last sequence number"), default=0)

    class Meta:
        verbose_name = _("event stream")
        verbose_name_plural = _("event streams")

    def __str__(self) -> str:
        return f"{self.name}: {self.seq}"
