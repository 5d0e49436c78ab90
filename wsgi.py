"""WSGI entry point for gunicorn: `gunicorn -c gunicorn.conf.py wsgi:app` (the settings scripts/run serves with)."""

from transitions import create_app
from transitions.core import codes

app = create_app()
# Load the code sets before the first request instead of during it.
codes.warm()
