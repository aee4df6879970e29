"""Ticket numbers held in advance: blocks reserved for the AGI bridge's outages, and their use later."""

import datetime
from zoneinfo import ZoneInfo

import pytest
from django.db import IntegrityError

from telephony.actions import call_open
from tickets import actions, clock
from tickets.actions.lifecycle import ticket_number_preassigned, ticket_numbers_reserve
from tickets.models import TicketNumberCounter

SHANGHAI = ZoneInfo("Asia/Shanghai")
# 23:30 in Shanghai is still the previous day in UTC: numbers follow the hotline's date.
NIGHT = datetime.datetime(2026, 11, 30, 23, 30, tzinfo=SHANGHAI)


def test_a_reserved_block_is_consecutive_and_the_next_ticket_comes_after_it(db):
    with clock.at(NIGHT):
        first = actions.ticket_create(actor=None, register=False)
        block = ticket_numbers_reserve(3)
        after = actions.ticket_create(actor=None, register=False)

    assert first.number == "2026113000001"
    assert block == ["2026113000002", "2026113000003", "2026113000004"]
    assert after.number == "2026113000005"
    assert TicketNumberCounter.objects.get(day=datetime.date(2026, 11, 30)).last == 5


def test_a_ticket_created_with_a_reserved_number_keeps_it_and_takes_no_new_one(db):
    with clock.at(NIGHT):
        [number] = ticket_numbers_reserve(1)
        ticket = actions.ticket_create(actor=None, register=False, number=number)

    assert ticket.number == number == "2026113000001"
    assert TicketNumberCounter.objects.get().last == 1


def test_a_number_cannot_be_used_twice(db):
    [number] = ticket_numbers_reserve(1)
    actions.ticket_create(actor=None, register=False, number=number)

    with pytest.raises(IntegrityError):
        actions.ticket_create(actor=None, register=False, number=number)


def test_a_preassigned_number_reaches_the_ticket_a_call_opens_and_only_that_one(db):
    [number] = ticket_numbers_reserve(1)

    with ticket_number_preassigned(number):
        opened = call_open(uniqueid="1795834593.3", caller="13800138000")
        other = actions.ticket_create(actor=None, register=False)

    assert opened.ticket.number == number
    assert other.number != number
    assert actions.ticket_create(actor=None, register=False).number not in (number, other.number)


def test_reserving_no_numbers_is_refused(db):
    with pytest.raises(ValueError):
        ticket_numbers_reserve(0)
