from __future__ import annotations

import logging
import sys
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
import structlog

# Let tests import the shared helpers in this folder (seed.py, harness.py, faultproxy.py...).
sys.path.insert(0, str(Path(__file__).parent))

import reporting

from exporter.sim.fleet import SimFleet
from exporter.sim.seed import SEED_CLUSTER, seed_cluster


@pytest.fixture
async def fleet(tmp_path: Path) -> AsyncIterator[SimFleet]:
    """The seed's two routers (healthy) as SSH servers on 127.0.0.1, with `config.yml` written for
    them (poll every 1 s, 800 ms timeout); tests rewrite it with other settings where they need."""
    async with SimFleet(tmp_path, seed_cluster(), clusters=[SEED_CLUSTER]) as running:
        running.write_config(poll_interval="1s", timeout="800ms")
        yield running


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    for title, lines in reporting.TABLES.items():
        terminalreporter.write_sep("-", title)
        for line in lines:
            terminalreporter.write_line(line)


@pytest.fixture(autouse=True)
def _isolated_logging() -> Iterator[None]:
    """Tests that run the command line in-process configure logging (level, stream) for the whole
    process; put it back after each test so the next one sees every event it expects."""
    config = structlog.get_config()
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    structlog.configure(**config)
    root.handlers[:], root.level = handlers, level
    logging.captureWarnings(False)
