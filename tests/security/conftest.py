"""The end-to-end fixtures (integrator and sandbox over real HTTP, a real Redis, devices)."""

from tests.e2e.conftest import (  # noqa: F401  (fixtures, found by pytest by name)
    app,
    e2e_settings,
    live,
    other_pos,
    pos,
    services,
    world,
)
