#!/usr/bin/python3
"""VyOS op-mode `show vrrp` for one lab router, computed from its live keepalived.

Installed by the lab as <lab>/bin/show-vrrp (root-owned copy) and run as root through sudo, the way
VyOS runs `sudo .../vrrp.py`. Usage: show-vrrp ROUTER [summary|detail|statistics|json]

What it reproduces from VyOS 1.3/1.4 (`src/op_mode/vrrp.py`, `vyos/ifconfig/vrrp.py`):
- keepalived is asked for a JSON dump with its JSON signal (SIGRTMIN+2) and the reader waits for
  inotify IN_CLOSE_WRITE on the dump: keepalived rename()s the file into place *before* writing it,
  so a reader that only waits for the name can read an empty or half-written file.
- the dump is deleted after reading (as VyOS does);
- `VRRP is not running` when keepalived is not running (VyOS 1.2-1.4, exit 0; with
  <lab>/<router>/vyos-version saying 1.5: `VRRP data is not available (process not running or no
  active groups)`, exit 1, as 1.5's vyos.opmode rewrite prints), `VRRP data is not available (wait
  time exceeded)` (exit 1) when no dump arrives in time;
- the table is `tabulate(rows, headers)` (tablefmt "simple") with the headers
  `Name Interface VRID State Priority Last Transition`, rendered by Debian's python3-tabulate 0.8.9,
  the library and version family VyOS ships; Last Transition is VyOS's `seconds_to_human`.

Lab-only differences, on purpose:
- calls on one router are serialised with a lock file (on VyOS, parallel readers steal each other's
  dump and one of them times out after 30 s); the test library takes the same lock. Create the file
  <lab>/<router>/race-mode to drop the lock and get the VyOS behaviour back;
- a keepalived that exits while we wait yields `VRRP is not running` at once instead of a 30 s wait;
- the 30 s wait can be shortened with the file <lab>/<router>/dump-timeout (seconds), so a test can
  see `VRRP data is not available (wait time exceeded)` without waiting 30 s.

Standard library only, except tabulate, imported where the table is rendered (so the test library
can import this file for `read_dump` under any interpreter).
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import fcntl
import json
import os
import re
import select
import struct
import sys
import time
from pathlib import Path

LAB_DIR = Path(__file__).resolve().parent.parent  # <lab>/bin/show-vrrp -> <lab>
STATE_NAMES = {0: "INIT", 1: "BACKUP", 2: "MASTER", 3: "FAULT"}
HEADERS = ["Name", "Interface", "VRID", "State", "Priority", "Last Transition"]
DUMPS = {  # what -> (file keepalived writes into $TMPDIR, key of the signal number in router.json)
    "json": ("keepalived.json", "sig_json"),
    "data": ("keepalived.data", "sig_data"),
    "stats": ("keepalived.stats", "sig_stats"),
}
WAIT_SECONDS = 30.0  # VyOS: wait_for_file_write_complete(..., timeout=30)
IN_CLOSE_WRITE = 0x00000008


class NotRunning(Exception):
    """keepalived is not running (no pid file, or the process is gone)."""


class NotAvailable(Exception):
    """keepalived did not write the dump in time."""


class UnknownRouter(Exception):
    """No such router in this lab."""


def seconds_to_human(s: float) -> str:
    """vyos.utils.convert.seconds_to_human (VyOS 1.4; 1.3 is the same without years)."""
    s = int(s)
    year, week, day, hour = 60 * 60 * 24 * 365.25, 60 * 60 * 24 * 7, 60 * 60 * 24, 60 * 60
    result = ""
    years = s // year
    if years > 0:
        result = f"{int(years)}y"
        s = int(s % year)
    for size, unit in ((week, "w"), (day, "d"), (hour, "h"), (60, "m")):
        n = s // size
        if n > 0:
            result += f"{n}{unit}"
            s = s % size
    if s > 0:
        result += f"{s}s"
    return result


def _alive(pid: int) -> bool:
    """True if the process exists and is not a zombie (PID 1 here reaps orphans lazily)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[-1].split()[0] != "Z"


def router_info(router: str, lab_dir: Path = LAB_DIR) -> dict[str, object]:
    if not re.fullmatch(r"[a-z0-9][a-z0-9-]{0,30}", router):
        raise UnknownRouter(f"bad router name {router!r}")
    try:
        info: dict[str, object] = json.loads((lab_dir / router / "router.json").read_text())
    except FileNotFoundError:
        raise UnknownRouter(f"{router} is not a router of the lab in {lab_dir}") from None
    return info


def keepalived_pid(info: dict[str, object]) -> int:
    try:
        pid = int(Path(str(info["pid_file"])).read_text().strip())
    except (OSError, ValueError):
        raise NotRunning from None
    if not _alive(pid):
        raise NotRunning
    return pid


class _Inotify:
    """Just enough inotify (through libc) to wait for IN_CLOSE_WRITE of one name in a directory."""

    def __init__(self, directory: str) -> None:
        self.libc = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)
        self.fd = self.libc.inotify_init1(os.O_CLOEXEC | os.O_NONBLOCK)
        if self.fd < 0:
            raise OSError(ctypes.get_errno(), "inotify_init1")
        if self.libc.inotify_add_watch(self.fd, directory.encode(), IN_CLOSE_WRITE) < 0:
            err = ctypes.get_errno()
            os.close(self.fd)
            raise OSError(err, f"inotify_add_watch {directory}")

    def wait(self, name: str, timeout: float, still_ok: object = None) -> bool:
        deadline = time.monotonic() + timeout
        while (left := deadline - time.monotonic()) > 0:
            if not select.select([self.fd], [], [], min(left, 0.1))[0]:
                if callable(still_ok) and not still_ok():
                    raise NotRunning
                continue
            buf = os.read(self.fd, 65536)
            i = 0
            while i < len(buf):
                _wd, mask, _cookie, length = struct.unpack_from("iIII", buf, i)
                event_name = buf[i + 16 : i + 16 + length].rstrip(b"\0").decode()
                i += 16 + length
                if event_name == name and mask & IN_CLOSE_WRITE:
                    return True
        return False

    def close(self) -> None:
        os.close(self.fd)


def read_dump(router: str, what: str = "json", timeout: float = WAIT_SECONDS, lab_dir: Path = LAB_DIR) -> str:
    """Signal the router's keepalived for a dump, wait until it is completely written, read and
    delete it. Takes the router's lock unless race-mode is on. Raises NotRunning / NotAvailable."""
    info = router_info(router, lab_dir)
    lock = None
    if not (lab_dir / router / "race-mode").exists():
        lock = open(lab_dir / router / "show-vrrp.lock", "a")  # noqa: SIM115 (held until return)
        fcntl.flock(lock, fcntl.LOCK_EX)
    try:
        pid = keepalived_pid(info)
        tmpdir = str(info["tmpdir"])
        name, sig_key = DUMPS[what]
        watch = _Inotify(tmpdir)  # watch first, then signal: the event cannot be missed
        try:
            os.kill(pid, int(str(info[sig_key])))
            if not watch.wait(name, timeout, still_ok=lambda: _alive(pid)):
                raise NotAvailable
        except ProcessLookupError:
            raise NotRunning from None
        finally:
            watch.close()
        path = os.path.join(tmpdir, name)
        try:
            with open(path) as f:
                return f.read()
        finally:
            with contextlib.suppress(FileNotFoundError):
                os.remove(path)  # VyOS removes the dump after reading it
    finally:
        if lock is not None:
            lock.close()


def dump_timeout(router: str, lab_dir: Path = LAB_DIR) -> float:
    """VyOS waits 30 s for the dump; a test may shorten that with <lab>/<router>/dump-timeout."""
    try:
        return float((lab_dir / router / "dump-timeout").read_text())
    except (OSError, ValueError):
        return WAIT_SECONDS


NOT_AVAILABLE_NOT_RUNNING = "VRRP data is not available (process not running or no active groups)"


def vyos_version(router: str, lab_dir: Path = LAB_DIR) -> str:
    """The VyOS release imitated where the messages differ: <lab>/<router>/vyos-version, default 1.4."""
    try:
        return (lab_dir / router / "vyos-version").read_text().strip() or "1.4"
    except OSError:
        return "1.4"


def summary_rows(dump: list[dict[str, dict[str, object]]], now: float | None = None) -> list[list[object]]:
    now = time.time() if now is None else now
    rows: list[list[object]] = []
    for group in dump:
        data = group["data"]
        since = int(now - float(str(data["last_transition"])))
        rows.append(
            [
                data["iname"],
                data["ifp_ifname"],
                data["vrid"],
                STATE_NAMES.get(int(str(data["state"])), "UNKNOWN"),
                data["effective_priority"],
                seconds_to_human(since),
            ]
        )
    return rows


def main(argv: list[str]) -> int:
    if len(argv) not in (2, 3) or (len(argv) == 3 and argv[2] not in ("summary", "detail", "statistics", "json")):
        print("usage: show-vrrp ROUTER [summary|detail|statistics|json]", file=sys.stderr)
        return 2
    router, what = argv[1], (argv[2] if len(argv) == 3 else "summary")
    kind = {"summary": "json", "json": "json", "detail": "data", "statistics": "stats"}[what]
    try:
        text = read_dump(router, kind, timeout=dump_timeout(router))
    except UnknownRouter as exc:
        print(f"show-vrrp: {exc}", file=sys.stderr)
        return 2
    except NotRunning:
        if vyos_version(router) == "1.5":
            # 1.5's vyos.opmode rewrite: no keepalived pid file is VRRPNoData, exit 1
            print(NOT_AVAILABLE_NOT_RUNNING)
            return 1
        print("VRRP is not running")
        return 0
    except NotAvailable:
        print("VRRP data is not available (wait time exceeded)")
        return 1
    if what != "summary":
        print(text.rstrip("\n"))
        return 0
    from tabulate import tabulate  # type: ignore[import-untyped,unused-ignore]  # Debian's 0.8.9, as VyOS

    print(tabulate(summary_rows(json.loads(text)), HEADERS))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
