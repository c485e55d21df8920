"""`python -m exporter.sim` runs the SSH router simulator (benchmarks, deploy checks)."""

import sys

from .cli import main

sys.exit(main())
