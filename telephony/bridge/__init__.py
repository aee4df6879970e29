"""The FastAGI bridge: everything between an AGI session (telephony.agi) and the domain (call records, tickets).

`handle_session(session)` is the FastAGI server's handler; `BridgeService` runs the server with the
bridge and its spool replay, for the agi_bridge command and the embedded run command.
"""

from .flows import Bridge, default_bridge, handle_session
from .service import BridgeService

__all__ = ["Bridge", "BridgeService", "default_bridge", "handle_session"]
