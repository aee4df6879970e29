"""The event outbox: every published event, written in the transaction of the change."""

from django.db import models
from django.utils.translation import gettext_lazy as _


class OutboxEvent(models.Model):
    """One event for the websockets. The primary key is the event's sequence number.

    Rows are written in the same transaction as the change they describe and relayed to the
    channel layer after commit; a row with no `relayed_at` is still owed to the sockets
    (Redis was down, or the process died between commit and relay).
    """

    id = models.BigAutoField(primary_key=True)
    type = models.CharField(_("type"), max_length=64)
    payload = models.JSONField(_("payload"))
    groups = models.JSONField(_("groups"))
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
