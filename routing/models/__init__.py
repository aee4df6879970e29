"""Routing's data, one module per subdomain: the working calendar and time limits, the rules, the clocks."""

from .calendar import *  # noqa: F403
from .clocks import *  # noqa: F403
from .rules import *  # noqa: F403
