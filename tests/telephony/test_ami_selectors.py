"""Telephony reads the AMI listener relies on: the operator behind an interface, the queue snapshot."""

import datetime

import pytest

from telephony.models import DeviceState, QueueCaller, QueueMember
from telephony.selectors import extension_of, operator_for_interface, queue_snapshot, queue_state
from tests.factories import UserFactory

T0 = datetime.datetime(2026, 11, 28, 1, 0, tzinfo=datetime.UTC)


@pytest.mark.parametrize(
    ("interface", "extension"),
    [
        ("PJSIP/8001", "8001"),
        ("SIP/8001", "8001"),
        ("IAX2/8001", "8001"),
        ("Local/8001@agents/n", "8001"),
        ("Local/8001@agents-0000000a;1", "8001"),
        ("PJSIP/8001-0000002a", "8001"),
        ("PJSIP/operator-desk-12", "operator-desk-12"),
        ("8001", ""),
        ("", ""),
    ],
)
def test_the_extension_an_interface_names(interface, extension):
    assert extension_of(interface) == extension


@pytest.mark.django_db
def test_the_operator_is_the_user_with_that_extension():
    operator = UserFactory(extension="8001")
    UserFactory(extension="8002")
    assert operator_for_interface("PJSIP/8001") == operator
    assert operator_for_interface("Local/8001@agents/n") == operator
    assert operator_for_interface("SIP/8003") is None
    assert operator_for_interface("garbage") is None


@pytest.mark.django_db
def test_a_shared_or_inactive_extension_names_nobody(caplog):
    UserFactory(extension="8001")
    UserFactory(extension="8001")
    UserFactory(extension="8002", is_active=False)
    assert operator_for_interface("PJSIP/8001") is None
    assert "extension 8001 belongs to several users" in caplog.text
    assert operator_for_interface("PJSIP/8002") is None


@pytest.mark.django_db
def test_the_snapshot_counts_every_queue_for_a_wallboard_that_connects_later():
    for interface, status, paused in [
        ("PJSIP/8001", DeviceState.NOT_INUSE, False),
        ("PJSIP/8002", DeviceState.BUSY, False),
        ("PJSIP/8003", DeviceState.NOT_INUSE, True),
    ]:
        QueueMember.objects.create(queue="hotline", interface=interface, status=status, paused=paused)
    QueueMember.objects.create(server="b:5038", queue="hotline", interface="PJSIP/8101", status=DeviceState.UNKNOWN)
    QueueCaller.objects.create(queue="complaints", uniqueid="1.1", joined_at=T0)
    QueueCaller.objects.create(queue="complaints", uniqueid="1.2", joined_at=T0 + datetime.timedelta(seconds=30))
    hotline, complaints = queue_snapshot()[1], queue_snapshot()[0]
    assert (hotline.queue, hotline.logged_in, hotline.available, hotline.on_call, hotline.paused) == (
        "hotline",
        4,
        2,
        1,
        1,
    )
    assert (complaints.queue, complaints.waiting, complaints.logged_in) == ("complaints", 2, 0)
    assert complaints.longest_wait(T0 + datetime.timedelta(seconds=90)) == 90
    assert complaints.payload(T0 + datetime.timedelta(seconds=90))["oldest_since"] == T0.isoformat()
    assert queue_state("complaints") == complaints
    assert queue_state("nowhere").payload()["waiting"] == 0
