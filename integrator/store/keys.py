"""Every Redis key the integrator uses is built here, so the layout can be read in one place.

All keys share the `integrator:` prefix so the database can be shared with RQ (`rq:` keys).
"""

from __future__ import annotations

PREFIX = "integrator"


def _key(*parts: str) -> str:
    return ":".join((PREFIX, *parts))


# --- DIGIT token (integrator.store.tokens) ---
