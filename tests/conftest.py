from __future__ import annotations

import sys
from pathlib import Path

import pytest

# Let tests import the shared helpers in this folder (seed.py, fixtures_util.py, faultproxy.py...).
sys.path.insert(0, str(Path(__file__).parent))

import reporting


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    for title, lines in reporting.TABLES.items():
        terminalreporter.write_sep("-", title)
        for line in lines:
            terminalreporter.write_line(line)
