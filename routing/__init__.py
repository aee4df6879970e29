"""Routing: rules, dispatch, deadlines in working days, reminders, escalation and reports."""
