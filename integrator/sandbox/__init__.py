"""The DIGIT sandbox: an HTTP emulator of DIGIT's auth, billing, collection and MDMS APIs.

`python -m integrator.sandbox --port 8090` (or `integrator sandbox ...`) runs it;
`create_sandbox_app(config)` builds the Flask app for in-process use.
"""

from integrator.sandbox.app import create_sandbox_app
from integrator.sandbox.server import main
from integrator.sandbox.world import SandboxConfig

__all__ = ["SandboxConfig", "create_sandbox_app", "main"]
