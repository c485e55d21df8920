"""Drive the real exporter as an operator would: its CLI (`serve`, `poll`) and its HTTP endpoints.

Nothing here imports the exporter package: the lab tests use only the contract in DESIGN.md
(flags, metric names, exit codes, the `poll --output=json` document).
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any


def exporter_executable() -> str | None:
    """The console script of the venv running the tests, else one on PATH."""
    beside = Path(sys.executable).with_name("vyos-vrrp-exporter")
    if beside.exists():
        return str(beside)
    return shutil.which("vyos-vrrp-exporter")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass(frozen=True)
class Sample:
    name: str
    labels: dict[str, str]
    value: float


class Metrics:
    """One scrape of /metrics, parsed with the Prometheus client's own text parser."""

    def __init__(self, text: str, at: float) -> None:
        self.text = text
        self.at = at  # time.time() when the response arrived
        from prometheus_client.parser import text_string_to_metric_families  # the exporter's dependency

        self.samples = [
            Sample(s.name, dict(s.labels), float(s.value))
            for family in text_string_to_metric_families(text)
            for s in family.samples
        ]

    def series(self, name: str, **labels: str) -> list[Sample]:
        return [s for s in self.samples if s.name == name and all(s.labels.get(k) == v for k, v in labels.items())]

    def value(self, name: str, **labels: str) -> float | None:
        found = self.series(name, **labels)
        if len(found) > 1:
            raise AssertionError(f"{len(found)} series match {name}{labels}: {found}")
        return found[0].value if found else None

    def total(self, name: str, **labels: str) -> float:
        return sum(s.value for s in self.series(name, **labels))

    def state(self, router: str, group: str) -> str | None:
        """The state whose vrrp_group_state series is 1 (None when the router exports none)."""
        ones = [s.labels["state"] for s in self.series("vrrp_group_state", router=router, group=group) if s.value == 1]
        if len(ones) > 1:
            raise AssertionError(f"{router}/{group}: several states are 1: {ones}")
        return ones[0] if ones else None

    def states(self, routers: tuple[str, ...], groups: tuple[str, ...]) -> dict[tuple[str, str], str | None]:
        return {(r, g): self.state(r, g) for r in routers for g in groups}

    def excerpt(self, prefix: str = "vrrp_") -> str:
        return "\n".join(
            line
            for line in self.text.splitlines()
            if line.startswith(prefix) and not line.startswith("vrrp_exporter_build")
        )


class ExporterProcess:
    """`vyos-vrrp-exporter --config.file=... --web.listen-address=127.0.0.1:PORT --log.level=debug`."""

    def __init__(self, config: Path, log_path: Path, port: int | None = None) -> None:
        exe = exporter_executable()
        if exe is None:
            raise RuntimeError("vyos-vrrp-exporter is not installed (pip install -e . into the test venv)")
        self.exe = exe
        self.config = config
        self.log_path = log_path
        self.port = port or free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.popen: subprocess.Popen[bytes] | None = None
        self._log: Any = None

    def start(self, ready_timeout: float = 30.0) -> ExporterProcess:
        self._log = open(self.log_path, "ab")  # noqa: SIM115 (closed in stop)
        self.popen = subprocess.Popen(
            [
                self.exe,
                f"--config.file={self.config}",
                f"--web.listen-address=127.0.0.1:{self.port}",
                "--log.level=debug",
            ],
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        self.wait_ready(ready_timeout)
        return self

    @property
    def pid(self) -> int:
        assert self.popen is not None
        return self.popen.pid

    def get(self, path: str, timeout: float = 5.0) -> tuple[int, str]:
        try:
            with urllib.request.urlopen(self.base + path, timeout=timeout) as resp:
                return resp.status, resp.read().decode()
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read().decode(errors="replace")

    def wait_ready(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while True:
            assert self.popen is not None
            if self.popen.poll() is not None:
                raise AssertionError(
                    f"exporter exited with {self.popen.returncode} before it was ready:\n{self.log_tail()}"
                )
            with contextlib.suppress(OSError):
                if self.get("/-/ready", timeout=1.0)[0] == 200:
                    return
            if time.monotonic() > deadline:
                raise AssertionError(f"exporter not ready (/-/ready != 200) after {timeout}s:\n{self.log_tail()}")
            time.sleep(0.05)

    def metrics(self) -> Metrics:
        status, text = self.get("/metrics")
        assert status == 200, f"/metrics answered {status}: {text[:500]}"
        return Metrics(text, time.time())

    def wait_for(self, pred: Callable[[Metrics], bool], timeout: float, what: str, interval: float = 0.05) -> Metrics:
        """Scrape until `pred(metrics)` holds; on timeout fail with the last scrape and the log."""
        deadline = time.monotonic() + timeout
        last: Metrics | None = None
        while True:
            last = self.metrics()
            if pred(last):
                return last
            if time.monotonic() > deadline:
                raise AssertionError(
                    f"/metrics never showed {what} within {timeout}s. Last scrape:\n{last.excerpt()}\n"
                    f"--- exporter log (tail)\n{self.log_tail()}"
                )
            time.sleep(interval)

    def stop(self, timeout: float = 15.0) -> int | None:
        """SIGTERM (DESIGN: stops cleanly, exit 0); SIGKILL after `timeout`."""
        if self.popen is None:
            return None
        rc = self.popen.poll()
        if rc is None:
            self.popen.send_signal(signal.SIGTERM)
            try:
                rc = self.popen.wait(timeout)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait(5)
                rc = None  # did not stop on SIGTERM
        if self._log is not None:
            self._log.close()
            self._log = None
        return rc

    def log_tail(self, lines: int = 40) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"


@dataclass
class PollResult:
    returncode: int
    stdout: str
    stderr: str

    @property
    def doc(self) -> dict[str, Any]:
        try:
            parsed: dict[str, Any] = json.loads(self.stdout)
        except json.JSONDecodeError as exc:
            raise AssertionError(f"poll --output=json printed no JSON ({exc}):\n{self.stdout}\n{self.stderr}") from exc
        return parsed

    def cluster(self, name: str) -> dict[str, Any]:
        for c in self.doc["clusters"]:
            if c["name"] == name:
                return c  # type: ignore[no-any-return]
        raise AssertionError(f"cluster {name} not in poll output: {self.stdout}")

    def __str__(self) -> str:
        return f"exit {self.returncode}\n--- stdout\n{self.stdout}\n--- stderr\n{self.stderr[-3000:]}"


def run_poll(config: Path, output: str = "table", timeout: float = 60.0) -> PollResult:
    """`vyos-vrrp-exporter poll --config.file=... --output=...`."""
    return _run("poll", config, output, timeout)


def _run(command: str, config: Path, output: str, timeout: float) -> PollResult:
    exe = exporter_executable()
    assert exe is not None
    env = {**os.environ, "COLUMNS": "200", "NO_COLOR": "1"}
    proc = subprocess.run(
        [exe, command, f"--config.file={config}", f"--output={output}"],
        capture_output=True,
        text=True,
        timeout=timeout,
        stdin=subprocess.DEVNULL,
        env=env,
        check=False,
    )
    return PollResult(proc.returncode, proc.stdout, proc.stderr)


def run_lint(config: Path, output: str = "table", timeout: float = 60.0) -> PollResult:
    """`vyos-vrrp-exporter lint --config.file=... --output=...`."""
    return _run("lint", config, output, timeout)


# ------------------------------------------------------------------------------------------------
# expectations shared by the lab tests

CLUSTER = "home"
SET = "all"


def states_are(m: Metrics, expected: Mapping[tuple[str, str], str | None]) -> bool:
    """Every (router, group) has exactly the expected current state (None: no series at all)."""
    return all(m.state(r, g) == want for (r, g), want in expected.items())


def split_is(m: Metrics, value: float, set_name: str = SET) -> bool:
    return m.value("vrrp_master_split", vrrp_cluster=CLUSTER, set=set_name) == value


def routers_up(m: Metrics, *routers: str) -> bool:
    return all(m.value("vrrp_router_up", vrrp_cluster=CLUSTER, router=r) == 1 for r in routers)


def table_row(table: str, first: str) -> str:
    """The line of a `poll` table whose first word is `first` (a group name, or `Group`...)."""
    rows = [line for line in table.splitlines() if line.split()[:1] == [first]]
    assert len(rows) == 1, f"expected one row for {first!r} in:\n{table}"
    return rows[0]


def in_order(line: str, *parts: str) -> bool:
    """All parts occur in the line, left to right (one column per router, config order)."""
    pos = 0
    for part in parts:
        found = line.find(part, pos)
        if found < 0:
            return False
        pos = found + len(part)
    return True
