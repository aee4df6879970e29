"""Call records: one row per call that reached the hotline, linked to its ticket."""

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

from tickets import clock


class Call(models.Model):
    uniqueid = models.CharField(_("Asterisk unique id"), max_length=64, unique=True)
    caller_number = models.CharField(_("caller number"), max_length=32, blank=True)
    dialled_number = models.CharField(_("dialled number"), max_length=32, blank=True)
    channel = models.CharField(_("channel"), max_length=128, blank=True)
    ticket = models.ForeignKey(
        "tickets.Ticket",
        verbose_name=_("ticket"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="calls",
    )
    operator = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("operator"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    started_at = models.DateTimeField(_("started"), default=clock.now)
    answered_at = models.DateTimeField(_("answered"), null=True, blank=True)
    ended_at = models.DateTimeField(_("ended"), null=True, blank=True)

    class Meta:
        ordering = ["-started_at"]
        verbose_name = _("call")
        verbose_name_plural = _("calls")

    def __str__(self) -> str:
        return self.uniqueid
