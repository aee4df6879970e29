"""WSGI entry point (pages and API only; websockets need the ASGI app)."""

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "callcentre.settings")
application = get_wsgi_application()
