"""A stand-in Asterisk manager interface (AMI) on loopback, speaking the real AMI text protocol.

Modelled on Asterisk 22's main/manager.c and apps/app_queue.c: the "Asterisk Call Manager/<version>"
banner, actions as "Key: Value" lines ended by a blank line (CRLF throughout, header names matched
case-insensitively), responses that start with "Response:" and echo the ActionID, events with their
"Privilege:" line, Login (a refused login is answered "Authentication failed" and the connection
closed), Ping, Logoff, "Permission denied" before login, and QueueStatus as a list: a "Queue status will
follow" response with "EventList: start", then QueueParams, QueueMember and QueueEntry events carrying
the ActionID, ended by QueueStatusComplete with "EventList: Complete" and "ListItems". The test sets
the queues, emits events to every logged-in session, sends raw bytes, and drops connections.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass, field

Fields = Iterable[tuple[str, object]] | dict[str, object]


def block(fields: Fields) -> bytes:
    """One AMI message: "Key: Value" lines and the blank line that ends it."""
    pairs = fields.items() if isinstance(fields, dict) else fields
    return "".join(f"{key}: {value}\r\n" for key, value in pairs).encode() + b"\r\n"


def channel_fields(uniqueid: str, channel: str, caller: str = "", *, prefix: str = "", linkedid: str = "") -> list:
    """The channel snapshot Asterisk puts in channel events (ast_manager_build_channel_state_string)."""
    return [
        (f"{prefix}Channel", channel),
        (f"{prefix}ChannelState", 6),
        (f"{prefix}ChannelStateDesc", "Up"),
        (f"{prefix}CallerIDNum", caller or "<unknown>"),
        (f"{prefix}CallerIDName", "<unknown>"),
        (f"{prefix}ConnectedLineNum", "<unknown>"),
        (f"{prefix}ConnectedLineName", "<unknown>"),
        (f"{prefix}Language", "zh"),
        (f"{prefix}AccountCode", ""),
        (f"{prefix}Context", "hotline"),
        (f"{prefix}Exten", "s"),
        (f"{prefix}Priority", 7),
        (f"{prefix}Uniqueid", uniqueid),
        (f"{prefix}Linkedid", linkedid or uniqueid),
    ]


def caller_join(uniqueid: str, queue: str = "hotline", caller: str = "13800138000", position: int = 1, count: int = 1):
    return [
        *channel_fields(uniqueid, f"PJSIP/trunk-{uniqueid[-4:]}", caller),
        ("Queue", queue),
        ("Position", position),
        ("Count", count),
    ]


def caller_leave(uniqueid: str, queue: str = "hotline", position: int = 1, count: int = 0):
    return [
        *channel_fields(uniqueid, f"PJSIP/trunk-{uniqueid[-4:]}"),
        ("Queue", queue),
        ("Count", count),
        ("Position", position),
    ]


def caller_abandon(uniqueid: str, queue: str = "hotline", position: int = 1, hold: int = 20):
    return [
        *channel_fields(uniqueid, f"PJSIP/trunk-{uniqueid[-4:]}"),
        ("Queue", queue),
        ("Position", position),
        ("OriginalPosition", position),
        ("HoldTime", hold),
    ]


def _agent_fields(uniqueid: str, interface: str, queue: str) -> list:
    agent_channel = f"{interface}-0000001a"
    return [
        *channel_fields(uniqueid, f"PJSIP/trunk-{uniqueid[-4:]}", "13800138000"),
        *channel_fields(f"{uniqueid}9", agent_channel, interface.rpartition("/")[2], prefix="Dest", linkedid=uniqueid),
        ("Queue", queue),
        ("MemberName", f"Operator {interface.rpartition('/')[2]}"),
        ("Interface", interface),
    ]


def agent_called(uniqueid: str, interface: str = "PJSIP/8001", queue: str = "hotline"):
    return _agent_fields(uniqueid, interface, queue)


def agent_connect(uniqueid: str, interface: str = "PJSIP/8001", queue: str = "hotline", hold: int = 12, ring: int = 3):
    return [*_agent_fields(uniqueid, interface, queue), ("RingTime", ring), ("HoldTime", hold)]


def agent_complete(
    uniqueid: str, interface: str = "PJSIP/8001", queue: str = "hotline", talk: int = 300, reason: str = "caller"
):
    return [*_agent_fields(uniqueid, interface, queue), ("HoldTime", 12), ("TalkTime", talk), ("Reason", reason)]


def hangup(uniqueid: str, cause: int = 16, cause_txt: str = "Normal Clearing"):
    return [*channel_fields(uniqueid, f"PJSIP/trunk-{uniqueid[-4:]}"), ("Cause", cause), ("Cause-txt", cause_txt)]


def member_fields(
    interface: str = "PJSIP/8001",
    queue: str = "hotline",
    *,
    status: int = 1,
    paused: bool = False,
    in_call: bool = False,
    reason: str = "",
) -> list:
    """QueueMemberStatus / QueueMemberPause / QueueMemberAdded (queue_member_blob_create's fields)."""
    return [
        ("Queue", queue),
        ("MemberName", f"Operator {interface.rpartition('/')[2]}"),
        ("Interface", interface),
        ("StateInterface", interface),
        ("Membership", "dynamic"),
        ("Penalty", 0),
        ("CallsTaken", 0),
        ("LastCall", 0),
        ("LastPause", 0),
        ("LoginTime", 1795830000),
        ("InCall", int(in_call)),
        ("Status", status),
        ("Paused", int(paused)),
        ("PausedReason", reason),
        ("Ringinuse", 0),
        ("Wrapuptime", 0),
    ]


@dataclass
class Member:
    interface: str
    status: int = 1
    paused: bool = False
    in_call: bool = False
    reason: str = ""


@dataclass
class Entry:
    uniqueid: str
    wait: int
    caller: str = "13800138000"


@dataclass
class Queue:
    members: list[Member] = field(default_factory=list)
    entries: list[Entry] = field(default_factory=list)


class Session:
    def __init__(self, standin: AmiStandin, sock: socket.socket) -> None:
        self.standin, self.sock = standin, sock
        self.logged_in = False
        self.lock = threading.Lock()

    def send(self, data: bytes) -> None:
        with self.lock:
            try:
                self.sock.sendall(data)
            except OSError:
                pass

    def close(self) -> None:
        try:
            self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.sock.close()


class AmiStandin:
    """AMI on 127.0.0.1:<free port>. Use as a context manager; `port` once started."""

    def __init__(self, *, username: str = "hotline", secret: str = "s3cret", version: str = "11.0.0") -> None:
        self.username, self.secret, self.version = username, secret, version
        self.queues: dict[str, Queue] = {"hotline": Queue()}
        self.banner = f"Asterisk Call Manager/{version}\r\n".encode()  # the number changes with each release
        self.silent = False  # accept connections but never send a byte
        self.mute = False  # read actions but never answer them
        self.actions: list[dict[str, str]] = []
        self.logins = 0
        self.connections = 0
        self._sessions: list[Session] = []
        self._lock = threading.Condition()
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = self._listener.getsockname()[1]
        self._threads: list[threading.Thread] = []
        self._stopping = False

    def __enter__(self) -> AmiStandin:
        thread = threading.Thread(target=self._accept, name="ami-standin", daemon=True)
        thread.start()
        self._threads.append(thread)
        return self

    def __exit__(self, *exc: object) -> None:
        self._stopping = True
        try:
            self._listener.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self._listener.close()
        self.drop()
        for thread in self._threads:
            thread.join(timeout=2)

    # What the test does

    def emit(self, name: str, fields: Fields = (), *, privilege: str = "agent,all", timestamp: float | None = None):
        """Send an event to every logged-in session, as manager_event does (Timestamp with timestampevents=yes)."""
        head: list[tuple[str, object]] = [("Event", name), ("Privilege", privilege)]
        if timestamp is not None:
            head.append(("Timestamp", f"{timestamp:.6f}"))
        pairs = fields.items() if isinstance(fields, dict) else fields
        self.send_raw(block([*head, *pairs]))

    def send_raw(self, data: bytes) -> None:
        for session in self.sessions():
            session.send(data)

    def drop(self) -> None:
        """Cut every connection at once, as a crashed Asterisk or a network failure does."""
        with self._lock:
            sessions, self._sessions = self._sessions, []
        for session in sessions:
            session.close()

    def sessions(self) -> list[Session]:
        with self._lock:
            return [s for s in self._sessions if s.logged_in]

    def wait_logins(self, count: int, timeout: float = 5.0) -> None:
        with self._lock:
            if not self._lock.wait_for(lambda: self.logins >= count, timeout):
                raise AssertionError(f"{self.logins} logins, expected {count}")

    def wait_action(self, name: str, count: int = 1, timeout: float = 5.0) -> None:
        with self._lock:
            seen = lambda: sum(a.get("action", "").lower() == name.lower() for a in self.actions) >= count  # noqa: E731
            if not self._lock.wait_for(seen, timeout):
                raise AssertionError(f"no {name} action seen: {self.actions}")

    # The server

    def _accept(self) -> None:
        while not self._stopping:
            try:
                sock, _addr = self._listener.accept()
            except OSError:
                return
            session = Session(self, sock)
            with self._lock:
                self._sessions.append(session)
                self.connections += 1
            thread = threading.Thread(target=self._serve, args=(session,), daemon=True)
            thread.start()
            self._threads.append(thread)

    def _serve(self, session: Session) -> None:
        if not self.silent:
            session.send(self.banner)
        buffer = b""
        try:
            while True:
                chunk = session.sock.recv(65536)
                if not chunk:
                    return
                buffer += chunk
                while b"\r\n\r\n" in buffer:
                    raw, buffer = buffer.split(b"\r\n\r\n", 1)
                    fields = {}
                    for line in raw.decode().split("\r\n"):
                        key, _colon, value = line.partition(":")
                        fields[key.strip().lower()] = value.strip()
                    with self._lock:
                        self.actions.append(fields)
                        self._lock.notify_all()
                    if not self.mute and not self._answer(session, fields):
                        session.close()
                        return
        except OSError:
            return
        finally:
            with self._lock:
                if session in self._sessions:
                    self._sessions.remove(session)

    def _answer(self, session: Session, action: dict[str, str]) -> bool:
        """Answer one action; False to close the connection afterwards."""
        name = action.get("action", "").lower()
        action_id = [("ActionID", action["actionid"])] if "actionid" in action else []

        def response(kind: str, *fields: tuple[str, object]) -> None:
            session.send(block([("Response", kind), *action_id, *fields]))

        if name == "login":
            if action.get("username") != self.username or action.get("secret") != self.secret:
                response("Error", ("Message", "Authentication failed"))
                return False
            with self._lock:  # before the answer: an event emitted once login() returns must reach this session
                session.logged_in = True
                self.logins += 1
                self._lock.notify_all()
            with session.lock:  # the answer and FullyBooted before any emitted event, as Asterisk sends them
                session.sock.sendall(
                    block([("Response", "Success"), *action_id, ("Message", "Authentication accepted")])
                    + block(
                        [
                            ("Event", "FullyBooted"),
                            ("Privilege", "system,all"),
                            ("Uptime", 3600),
                            ("LastReload", 3600),
                            ("Status", "Fully Booted"),
                        ]
                    )
                )
            return True
        if not session.logged_in:
            response("Error", ("Message", "Permission denied"))
            return True
        if name == "ping":
            response("Success", ("Ping", "Pong"), ("Timestamp", f"{time.time():.6f}"))
        elif name == "logoff":
            response("Goodbye", ("Message", "Thanks for all the fish."))
            return False
        elif name == "queuestatus":
            self._queue_status(session, action_id)
        else:
            response(
                "Error", ("Message", f"Invalid/unknown command: {action.get('action')}. Use Action: ListCommands.")
            )
        return True

    def _queue_status(self, session: Session, action_id: list) -> None:
        """manager_queues_status: the list acknowledgement, then one event per queue, member and caller."""
        session.send(
            block(
                [("Response", "Success"), *action_id, ("EventList", "start"), ("Message", "Queue status will follow")]
            )
        )
        items = 0
        for name, queue in self.queues.items():
            session.send(
                block(
                    [
                        ("Event", "QueueParams"),
                        ("Queue", name),
                        ("Max", 0),
                        ("Strategy", "rrmemory"),
                        ("Calls", len(queue.entries)),
                        ("Holdtime", 0),
                        ("TalkTime", 0),
                        ("Completed", 0),
                        ("Abandoned", 0),
                        ("ServiceLevel", 60),
                        ("ServicelevelPerf", "0.0"),
                        ("ServicelevelPerf2", "0.0"),
                        ("Weight", 0),
                        *action_id,
                    ]
                )
            )
            items += 1
            for member in queue.members:
                session.send(
                    block(
                        [
                            ("Event", "QueueMember"),
                            ("Queue", name),
                            ("Name", f"Operator {member.interface[-4:]}"),
                            ("Location", member.interface),
                            ("StateInterface", member.interface),
                            ("Membership", "dynamic"),
                            ("Penalty", 0),
                            ("CallsTaken", 0),
                            ("LastCall", 0),
                            ("LastPause", 0),
                            ("LoginTime", 1795830000),
                            ("InCall", int(member.in_call)),
                            ("Status", member.status),
                            ("Paused", int(member.paused)),
                            ("PausedReason", member.reason),
                            ("Wrapuptime", 0),
                            *action_id,
                        ]
                    )
                )
                items += 1
            for position, entry in enumerate(queue.entries, start=1):
                session.send(
                    block(
                        [
                            ("Event", "QueueEntry"),
                            ("Queue", name),
                            ("Position", position),
                            ("Channel", f"PJSIP/trunk-{entry.uniqueid[-4:]}"),
                            ("Uniqueid", entry.uniqueid),
                            ("CallerIDNum", entry.caller),
                            ("CallerIDName", "<unknown>"),
                            ("ConnectedLineNum", "<unknown>"),
                            ("ConnectedLineName", "<unknown>"),
                            ("Wait", entry.wait),
                            ("Priority", 0),
                            *action_id,
                        ]
                    )
                )
                items += 1
        session.send(
            block([("Event", "QueueStatusComplete"), *action_id, ("EventList", "Complete"), ("ListItems", items)])
        )
