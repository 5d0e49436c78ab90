"""WSGI entry point for gunicorn: `gunicorn wsgi:app`."""

from transitions import create_app
from transitions.core import codes

app = create_app()
# Load the code sets before the first request instead of during it.
codes.warm()
