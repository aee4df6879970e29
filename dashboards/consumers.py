"""Websocket consumers: authenticate, join the user's groups, forward events with their sequence."""

from channels.generic.websocket import AsyncJsonWebsocketConsumer

from tickets.models import Role

from .publish import OPERATORS, SUPERVISORS, department_group


def groups_for(user) -> list[str]:
    """The channel-layer groups a user's socket joins: never another department's."""
    if user.is_superuser or user.role in (Role.SUPERVISOR, Role.ADMIN):
        return [SUPERVISORS]
    if user.role == Role.OPERATOR:
        return [OPERATORS]
    if user.role == Role.DEPARTMENT and user.department_id:
        return [department_group(user.department_id)]
    return []


class EventsConsumer(AsyncJsonWebsocketConsumer):
    """/ws/events/: the live event stream for the signed-in user's role and department."""

    async def connect(self) -> None:
        user = self.scope.get("user")
        if user is None or not user.is_authenticated:
            await self.close(code=4401)
            return
        self.groups = groups_for(user)
        for group in self.groups:
            await self.channel_layer.group_add(group, self.channel_name)
        await self.accept()
        await self.send_json({"type": "hello", "user": user.username, "groups": self.groups})

    async def hotline_event(self, message: dict) -> None:
        await self.send_json(
            {"type": "event", "seq": message["seq"], "event": message["event"], "payload": message["payload"]}
        )
