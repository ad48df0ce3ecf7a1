"""What gunicorn imports: `gunicorn -c config/gunicorn.conf.py integrator.wsgi:app`."""

from __future__ import annotations

from integrator.app import create_app

app = create_app()
