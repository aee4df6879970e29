"""ASGI entry point: pages and API over HTTP, dashboards over websockets (served by daphne)."""

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "callcentre.settings")
django_asgi_app = get_asgi_application()

from channels.auth import AuthMiddlewareStack  # noqa: E402  (needs Django set up first)
from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from channels.security.websocket import AllowedHostsOriginValidator  # noqa: E402

from callcentre.heap import heap_freeze  # noqa: E402
from dashboards.routing import websocket_urlpatterns  # noqa: E402

# Websockets: the Origin must be one of ALLOWED_HOSTS (another site's page cannot open a socket
# with our session cookie), then the Django session identifies the user.
application = ProtocolTypeRouter(
    {
        "http": django_asgi_app,
        "websocket": AllowedHostsOriginValidator(AuthMiddlewareStack(URLRouter(websocket_urlpatterns))),
    }
)

# Everything imported so far lives as long as the process: keep it out of full collections,
# which otherwise stall every socket for tens of milliseconds under load (callcentre/heap.py).
heap_freeze()
