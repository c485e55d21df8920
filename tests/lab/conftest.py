"""Fixtures of the real VRRP lab (see vrrplab.py and docs/lab.md).

The whole directory is skipped, with the reason, when the lab cannot run here (not root, or `ip`,
keepalived, sshd, ... missing). With CI=true the same condition is a failure, so CI never silently
skips the lab.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from lab_harness import ExporterProcess, exporter_executable
from vrrplab import Lab, VrrpOptions

HERE = Path(__file__).parent
IN_CI = os.environ.get("CI", "").strip().lower() == "true"
MEASUREMENTS = pytest.StashKey[list[str]]()

TOOLS = {
    "ip": "iproute2",
    "keepalived": "keepalived",
    "/usr/sbin/sshd": "openssh-server",
    "ssh": "openssh-client",
    "ssh-keygen": "openssh-client",
    "sudo": "sudo",
    "visudo": "sudo",
    "useradd": "passwd",
    "userdel": "passwd",
}


def lab_problems() -> list[str]:
    problems = []
    if os.geteuid() != 0:
        problems.append("not running as root (the lab creates network namespaces, a user and sshd)")
    missing = sorted({pkg for tool, pkg in TOOLS.items() if shutil.which(tool) is None})
    if missing:
        problems.append(f"missing packages: {' '.join(missing)}")
    probe = (
        subprocess.run(["/usr/bin/python3", "-c", "import tabulate"], capture_output=True, check=False)
        if Path("/usr/bin/python3").exists()
        else None
    )
    if probe is None or probe.returncode != 0:
        problems.append("/usr/bin/python3 cannot import tabulate (apt-get install python3-tabulate)")
    if exporter_executable() is None:
        problems.append("the vyos-vrrp-exporter console script is not installed in this environment")
    return problems


_PROBLEMS: list[str] | None = None


def _problems() -> list[str]:
    global _PROBLEMS
    if _PROBLEMS is None:
        _PROBLEMS = lab_problems()
    return _PROBLEMS


def _in_lab_dir(item: pytest.Item) -> bool:
    return HERE in Path(str(item.path)).resolve().parents


@pytest.hookimpl(tryfirst=True)  # before `-m` deselection looks at the markers
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        if _in_lab_dir(item):
            item.add_marker(pytest.mark.lab)


def pytest_runtest_setup(item: pytest.Item) -> None:
    problems = _problems()
    if problems:
        reason = "real VRRP lab unavailable: " + "; ".join(problems)
        if IN_CI:
            pytest.fail(f"{reason} (CI=true: the lab must run in CI, refusing to skip)", pytrace=False)
        pytest.skip(reason)


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    rep = yield
    setattr(item, f"rep_{rep.when}", rep)
    return rep


def pytest_terminal_summary(terminalreporter: Any, exitstatus: int, config: pytest.Config) -> None:
    lines = config.stash.get(MEASUREMENTS, [])
    if lines:
        terminalreporter.section("VRRP lab measurements (printed, never asserted)")
        for line in lines:
            terminalreporter.write_line(line)


@pytest.fixture(scope="session")
def measurements(pytestconfig: pytest.Config) -> Callable[[str], None]:
    store = pytestconfig.stash.setdefault(MEASUREMENTS, [])

    def record(line: str) -> None:
        print(line, flush=True)
        store.append(line)

    return record


def _sigterm_as_interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


@pytest.fixture(scope="session")
def lab() -> Iterator[Lab]:
    """The lab, built once per session (1-2 s) and always torn down: also when a test fails, on
    Ctrl-C, and on SIGTERM (a cancelled CI job), which becomes KeyboardInterrupt so that pytest runs
    the finalizers. Teardown verifies that nothing is left behind. After a SIGKILL the next start
    removes the leftovers (every name starts with vvx-)."""
    previous = signal.getsignal(signal.SIGTERM)
    ours = previous in (signal.SIG_DFL, None)
    if ours:
        signal.signal(signal.SIGTERM, _sigterm_as_interrupt)
    the_lab = Lab()
    try:
        the_lab.up(VrrpOptions())
        yield the_lab
    finally:
        left = the_lab.down()
        if ours:
            signal.signal(signal.SIGTERM, signal.SIG_DFL)
        if left:
            pytest.fail(f"the lab left things behind: {left}", pytrace=False)


@pytest.fixture
def lab_reset(lab: Lab, request: pytest.FixtureRequest) -> Iterator[Lab]:
    """The lab with keepalived in its default configuration (VRRPv3, 0.1 s adverts, preempt), every
    link and sshd up, healthy; tests reconfigure it as they need. On failure prints the lab's view."""
    if lab.options != VrrpOptions():
        lab.configure(VrrpOptions())
    else:
        lab.reset()
    yield lab
    rep = getattr(request.node, "rep_call", None)
    if rep is not None and rep.failed:
        print("\n=== lab diagnostics after the failure\n" + lab.diagnostics())


def _run_dir(lab: Lab, request: pytest.FixtureRequest) -> Path:
    """Per-test directory inside the lab directory: an exporter left running by a killed session
    has the lab path on its command line, so the next lab start finds and stops it."""
    name = re.sub(r"[^A-Za-z0-9_.-]+", "_", request.node.name)[:80]
    path = lab.lab_dir / "runs" / name
    path.mkdir(parents=True, exist_ok=True)
    return path


@pytest.fixture
def start_exporter(lab: Lab, request: pytest.FixtureRequest) -> Iterator[Callable[..., ExporterProcess]]:
    """Factory: write an exporter config for the lab and start `vyos-vrrp-exporter` against it.
    Stopped at teardown; its log is printed when the test failed."""
    started: list[ExporterProcess] = []
    run_dir = _run_dir(lab, request)

    def start(name: str = "exporter", **config: Any) -> ExporterProcess:
        cfg = run_dir / f"{name}.yml"
        cfg.write_text(lab.exporter_config(**config))
        proc = ExporterProcess(cfg, run_dir / f"{name}.log")
        started.append(proc)
        t0 = time.monotonic()
        proc.start()
        print(f"[exporter] {name} ready after {time.monotonic() - t0:.2f}s on {proc.base} ({cfg})")
        return proc

    yield start
    rep = getattr(request.node, "rep_call", None)
    for proc in started:
        rc = proc.stop()
        if rep is not None and rep.failed:
            print(f"\n=== exporter log {proc.log_path} (exit {rc})\n{proc.log_tail(80)}")


@pytest.fixture
def exporter_config(lab: Lab, request: pytest.FixtureRequest) -> Callable[..., Path]:
    """Factory: an exporter config file for `poll` runs."""
    run_dir = _run_dir(lab, request)

    def write(name: str = "poll", **config: Any) -> Path:
        path = run_dir / f"{name}.yml"
        path.write_text(lab.exporter_config(**config))
        return path

    return write
