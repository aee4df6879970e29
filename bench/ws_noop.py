"""The no-op Channels app of bench/ws_load.py (the ceiling): accept, join one group, forward its messages.

Served by daphne like the project's callcentre.asgi, with the same settings (DJANGO_SETTINGS_MODULE,
so the same channel layer) and the same frozen start-up heap, but no session, no origin check, no
database and no snapshot: `ws://…/ws/noop/?group=<name>` joins `<name>`, says hello and forwards
every `hotline.event` sent to that group as the project's consumer words it.
"""

import os
from typing import Any
from urllib.parse import parse_qs

import django

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "callcentre.settings")
django.setup()

from channels.generic.websocket import AsyncJsonWebsocketConsumer  # noqa: E402  (needs Django set up first)
from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from django.urls import path  # noqa: E402

from callcentre.heap import heap_freeze  # noqa: E402


class NoopConsumer(AsyncJsonWebsocketConsumer):
    async def connect(self) -> None:
        query = parse_qs(self.scope.get("query_string", b"").decode("latin-1"))
        self.group = query.get("group", ["noop"])[0]
        self.groups = [self.group]  # left by the base class on disconnect
        await self.channel_layer.group_add(self.group, self.channel_name)
        await self.accept()
        await self.send_json({"type": "hello", "stream": self.group})

    async def hotline_event(self, message: dict[str, Any]) -> None:
        await self.send_json(
            {
                "type": "event",
                "stream": message["stream"],
                "seq": message["seq"],
                "id": message["id"],
                "event": message["event"],
                "payload": message["payload"],
            }
        )


application = ProtocolTypeRouter({"websocket": URLRouter([path("ws/noop/", NoopConsumer.as_asgi())])})

heap_freeze()
