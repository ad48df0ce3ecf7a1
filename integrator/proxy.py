"""Honour X-Forwarded-* from the reverse proxies we run (nginx), and only from them.

Behind nginx, the WSGI peer is nginx, not the PoS device: without this, logs, rate-limit keys and
generated URLs would name nginx's address and `http`. With TRUSTED_PROXY_COUNT=n, werkzeug's
ProxyFix takes the client address, scheme, host and port from the last n hops of
X-Forwarded-For/-Proto/-Host/-Port. With 0 (the default) the headers are ignored: a client talking
to gunicorn directly could otherwise forge them.

    from integrator.proxy import init_proxy_fix
    init_proxy_fix(app, settings)      # in create_app, after the app exists
"""

from __future__ import annotations

from flask import Flask
from werkzeug.middleware.proxy_fix import ProxyFix

from integrator.settings import Settings


def init_proxy_fix(app: Flask, settings: Settings) -> bool:
    """Wrap `app.wsgi_app` in ProxyFix when proxies are trusted. Returns whether it did."""
    hops = settings.trusted_proxy_count
    if hops < 0:
        raise ValueError("TRUSTED_PROXY_COUNT must be >= 0")
    if hops == 0:
        return False
    app.wsgi_app = ProxyFix(  # type: ignore[method-assign]
        app.wsgi_app, x_for=hops, x_proto=hops, x_host=hops, x_port=hops, x_prefix=0
    )
    return True
