"""`python -m integrator.sandbox`."""

import sys

from integrator.sandbox.server import main

sys.exit(main())
