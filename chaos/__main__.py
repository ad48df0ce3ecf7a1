"""`python -m chaos [--payments N]`."""

import sys

from chaos.run import main

sys.exit(main())
