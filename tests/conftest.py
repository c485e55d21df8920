from __future__ import annotations

import sys
from pathlib import Path

# Let tests import the shared helpers in this folder (seed.py, fixtures_util.py).
sys.path.insert(0, str(Path(__file__).parent))
