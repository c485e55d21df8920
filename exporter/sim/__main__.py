"""`python -m exporter.sim` runs the SSH router simulator (benchmarks, deploy checks)."""

import sys

from .fleet import main

sys.exit(main())
