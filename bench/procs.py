"""Child processes of the benchmark: the simulator and the measuring workers.

Every child runs in its own session (so its whole process group, `ssh` children included, can be
killed at once), carries its own deadline (SIGALRM, so nothing outlives a crashed harness for
long), and is killed on the way out whatever happens.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

_CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
_RUNNING: set[subprocess.Popen[bytes]] = set()


class BenchError(RuntimeError):
    """A measurement could not be taken (a child failed, timed out or said something odd)."""


def python_with_deadline(seconds: float, module: str, args: Sequence[str]) -> list[str]:
    """`python -m module args...`, but the process kills itself after `seconds` (SIGALRM)."""
    code = (
        "import runpy, signal, sys\n"
        f"signal.alarm({max(1, int(seconds))})\n"
        f"sys.argv = [{module!r}, *sys.argv[1:]]\n"
        f"runpy.run_module({module!r}, run_name='__main__', alter_sys=True)\n"
    )
    return [sys.executable, "-c", code, *args]


def spawn(argv: list[str], stdout: Any, stderr: Any) -> subprocess.Popen[bytes]:
    proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=stdout, stderr=stderr, start_new_session=True)
    _RUNNING.add(proc)
    return proc


def kill(proc: subprocess.Popen[bytes], grace: float = 10.0) -> None:
    """SIGTERM the child's process group, then SIGKILL what is left after `grace` seconds."""
    try:
        if proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGTERM)
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(grace)
        # The leader may be gone while its children (ssh, a forked helper) still run.
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(5)
    finally:
        _RUNNING.discard(proc)


def kill_all() -> None:
    for proc in list(_RUNNING):
        kill(proc, grace=2.0)


def process_cpu_seconds(pid: int) -> float:
    """User + system CPU of a live process, from /proc (resolution 1/CLK_TCK, 10 ms)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / _CLOCK_TICKS  # utime, stime: fields 14 and 15


def process_rss_mib(pid: int, field: str = "VmRSS") -> float:
    """`VmRSS` (now) or `VmHWM` (peak) of a live process, in MiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1]) / 1024
    return 0.0


@dataclass
class Simulator:
    """`python -m exporter.sim` in its own process, serving `routers` routers on 127.0.0.1."""

    proc: subprocess.Popen[bytes]
    directory: Path
    routers: int
    latency: float
    start_seconds: float

    @property
    def pid(self) -> int:
        return self.proc.pid

    @property
    def config(self) -> Path:
        return self.directory / "config.yml"

    def cpu_seconds(self) -> float:
        return process_cpu_seconds(self.pid)

    def rss_mib(self) -> float:
        return process_rss_mib(self.pid)


@contextlib.contextmanager
def simulator(
    directory: Path,
    routers: int,
    groups: int,
    latency: float,
    *,
    poll_interval: str,
    timeout: str,
    deadline: float,
    ready_timeout: float = 180.0,
) -> Iterator[Simulator]:
    """Start the simulator, wait for its `ready N routers` line, stop it (and its group) on exit."""
    directory.mkdir(parents=True, exist_ok=True)
    args = [
        *("--routers", str(routers), "--groups", str(groups), "--dir", str(directory)),
        *("--latency", str(latency), "--cluster-size", "2"),
        *("--poll-interval", poll_interval, "--timeout", timeout),
    ]
    log = (directory / "simulator.log").open("wb")
    started = time.perf_counter()
    proc = spawn(python_with_deadline(deadline, "exporter.sim", args), subprocess.PIPE, log)
    try:
        assert proc.stdout is not None
        line = _readline(proc, ready_timeout)
        if not line.startswith(f"ready {routers} routers"):
            raise BenchError(f"simulator did not start: {line!r} (log: {directory / 'simulator.log'})")
        yield Simulator(proc, directory, routers, latency, time.perf_counter() - started)
    finally:
        kill(proc, grace=20.0)
        log.close()


def _readline(proc: subprocess.Popen[bytes], timeout: float) -> str:
    """One line of the child's stdout, or "" if it exits or stays silent for `timeout` seconds."""
    import selectors

    assert proc.stdout is not None
    with selectors.DefaultSelector() as selector:
        selector.register(proc.stdout, selectors.EVENT_READ)
        if not selector.select(timeout):
            return ""
    return proc.stdout.readline().decode(errors="replace").strip()


def run_worker(kind: str, params: dict[str, Any], timeout: float, log: Path) -> dict[str, Any]:
    """Run `python -m bench.worker KIND PARAMS_JSON` in its own process; return its JSON result."""
    argv = python_with_deadline(timeout + 30, "bench.worker", [kind, json.dumps(params)])
    with log.open("ab") as err:
        proc = spawn(argv, subprocess.PIPE, err)
        try:
            out, _ = proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired as exc:
            raise BenchError(f"worker {kind} did not finish within {timeout:.0f}s (log: {log})") from exc
        finally:
            kill(proc, grace=5.0)
    if proc.returncode != 0:
        raise BenchError(f"worker {kind} failed with exit status {proc.returncode} (log: {log})")
    lines = out.decode(errors="replace").strip().splitlines()
    if not lines:
        raise BenchError(f"worker {kind} printed no result (log: {log})")
    result: dict[str, Any] = json.loads(lines[-1])
    return result
