"""The DIGIT sandbox: an HTTP emulator of DIGIT's auth, billing, collection and MDMS APIs.

`python -m integrator.sandbox --port 8090` (or `integrator sandbox ...`) runs it;
`create_sandbox_app(config)` builds the Flask app for in-process use. It follows the DIGIT digest
(shared/digit-contracts/README.md, with its 2026-11-30 corrections and section 13).

Map: `world` (all state, one lock, the sandbox clock), `seed` (users, cities, consumers),
`auth` (egov-user login, lockout, tokens), `rbac` (the gateway's role check), `billing`,
`collection` + `payments_api` (create, search, faults), `workflow` (cancel/dishonour/remit),
`backupdate` (billing's asynchronous consumption), `mdms`, `admin` (`/_sandbox/*`), `gateway`
(counters and transport faults), `lean` (the benchmark mode), `server` (the command line).
"""

from integrator.sandbox.app import create_sandbox_app
from integrator.sandbox.server import main
from integrator.sandbox.world import SandboxConfig

__all__ = ["SandboxConfig", "create_sandbox_app", "main"]
