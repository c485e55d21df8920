"""A real two-router VRRP lab: keepalived in network namespaces, reached over OpenSSH.

Used by the lab tests (tests/lab/test_lab_*.py) and by scripts/lab-up. Standard library only; needs
root. Layout (every name starts with `vvx-` so a leftover of a crashed run is found and removed by
the next start):

    namespace vvx-sw      bridges br-vlan1 (home), br-vlan100 (public), br-vlan101, br-mgmt
    namespace vvx-vyos01  eth0 VLAN1, eth1 VLAN100, eth2 VLAN101, mgmt0 198.51.100.11/24
    namespace vvx-vyos02  the same, mgmt0 198.51.100.12/24
    root namespace        vvx-mgmt0 198.51.100.1/24 -> br-mgmt   (the only thing the host sees)

                 VLAN1 eth0 vrid 1   VLAN100 eth1 vrid 100   VLAN101 eth2 vrid 101
    vyos01 (150) 192.0.2.33/24       203.0.113.2/25          203.0.113.130/25
    vyos02 (100) 192.0.2.34/24       203.0.113.3/25          203.0.113.131/25
    VIP          192.0.2.4           203.0.113.1             203.0.113.129

The LAN ranges exist only inside the router namespaces: on this kind of host 192.0.2.0/24 is the
uplink and 203.0.113.0/24 holds the package registries, so the root namespace must never route them.

Per router: keepalived (VRRP only, own pid files and TMPDIR, started with `ip netns exec`, never in
the root namespace), an OpenSSH sshd on mgmt0:22 with its own host key, whose ForceCommand is the
op-mode dispatcher `bin/vyos-op`, which runs `sudo bin/show-vrrp ROUTER` (see opmode/). Login user
`vvx-vyos` with an ed25519 key; the host keys are in keys/known_hosts.
"""

from __future__ import annotations

import contextlib
import fcntl
import grp
import importlib.util
import ipaddress
import json
import os
import pwd
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

PREFIX = "vvx-"
LAB_DIR = Path("/tmp/vvx-lab")
LOCK_PATH = Path("/tmp/vvx-lab.lock")
SWITCH_NS = "vvx-sw"
ROOT_VETH = "vvx-mgmt0"
ROOT_VETH_PEER = "root-mgmt"  # its end in the switch namespace
MGMT_BRIDGE = "br-mgmt"
SSH_USER = "vvx-vyos"
SUDOERS_FILE = Path("/etc/sudoers.d/vvx-lab")  # no dot in the name: sudo ignores such files
MGMT_NET = ipaddress.IPv4Network("198.51.100.0/24")
MGMT_ROOT_ADDR = "198.51.100.1"
NEVER_IN_ROOT_NS = (ipaddress.IPv4Network("192.0.2.0/24"), ipaddress.IPv4Network("203.0.113.0/24"))
OPMODE_SRC = Path(__file__).resolve().parent / "opmode"
CLUSTER = "home"
DEFAULT_SET = "all"


class LabError(RuntimeError):
    """Something in the lab did not come up or did not reach the expected state in time."""


@dataclass(frozen=True)
class Vlan:
    group: str  # VRRP group (keepalived vrrp_instance) name, as in the seed
    iface: str  # router-side interface
    vrid: int
    bridge: str  # bridge in the switch namespace
    prefix_len: int
    addrs: dict[str, str]
    vip: str


@dataclass(frozen=True)
class RouterSpec:
    name: str
    ns: str
    mgmt_addr: str
    priority: int


VLANS = (
    Vlan("VLAN1", "eth0", 1, "br-vlan1", 24, {"vyos01": "192.0.2.33", "vyos02": "192.0.2.34"}, "192.0.2.4"),
    Vlan("VLAN100", "eth1", 100, "br-vlan100", 25, {"vyos01": "203.0.113.2", "vyos02": "203.0.113.3"}, "203.0.113.1"),
    Vlan(
        "VLAN101",
        "eth2",
        101,
        "br-vlan101",
        25,
        {"vyos01": "203.0.113.130", "vyos02": "203.0.113.131"},
        "203.0.113.129",
    ),
)
GROUPS = tuple(v.group for v in VLANS)
ROUTERS = (
    RouterSpec("vyos01", "vvx-vyos01", "198.51.100.11", 150),
    RouterSpec("vyos02", "vvx-vyos02", "198.51.100.12", 100),
)
ROUTER_NAMES = tuple(r.name for r in ROUTERS)


def vlan(group_or_iface: str) -> Vlan:
    for v in VLANS:
        if group_or_iface in (v.group, v.iface):
            return v
    raise KeyError(group_or_iface)


def router_spec(name: str) -> RouterSpec:
    for r in ROUTERS:
        if r.name == name:
            return r
    raise KeyError(name)


@dataclass(frozen=True)
class VrrpOptions:
    """How keepalived is configured on both routers.

    version/advert: VRRPv3 with 0.1 s adverts elects in ~0.3 s (the default, for speed); VRRPv2 needs
    whole seconds (1 s adverts: ~3.5 s). nopreempt: VyOS `no-preempt` on every group. sync_group:
    name of one vrrp_sync_group holding every group (VyOS `sync-group MAIN member ...`).
    """

    version: int = 3
    advert: float = 0.1
    nopreempt: bool = False
    sync_group: str | None = None
    # sync-group members as typed (None: every group); ("VLAN1", "VLAN10", "VLAN101") is the seed's typo
    sync_members: tuple[str, ...] | None = None

    def master_down_seconds(self, priority: int) -> float:
        return 3 * self.advert + (256 - priority) / 256 * self.advert

    def describe(self) -> str:
        extra = (" nopreempt" if self.nopreempt else " preempt") + (
            f" sync-group {self.sync_group}" if self.sync_group else ""
        )
        if self.sync_group and self.sync_members is not None:
            extra += f" member {' '.join(self.sync_members)}"
        return f"VRRPv{self.version} advert {self.advert:g}s{extra}"


def vyos_vrrp_commands(router: str, options: VrrpOptions) -> str:
    """The router's `high-availability vrrp` subtree as VyOS prints it in `show configuration
    commands` (1.4+ `address` syntax, nodes sorted, the default priority 100 not printed). With
    `nopreempt` and no sync-group this is the seed's incident; with `sync_group="MAIN"` its fix.
    The lab's sub-second advert interval is no VyOS value: it is passed to keepalived separately."""
    r = router_spec(router)
    lines = []
    for v in VLANS:
        base = f"set high-availability vrrp group {v.group}"
        lines.append(f"{base} address '{v.vip}/{v.prefix_len}'")
        lines.append(f"{base} interface '{v.iface}'")
        if options.nopreempt:
            lines.append(f"{base} no-preempt")
        if r.priority != 100:
            lines.append(f"{base} priority '{r.priority}'")
        lines.append(f"{base} vrid '{v.vrid}'")
    if options.sync_group:
        members = options.sync_members if options.sync_members is not None else GROUPS
        lines += [f"set high-availability vrrp sync-group {options.sync_group} member '{m}'" for m in members]
    return "\n".join(lines) + "\n"


# A made-up hash: with the default config command it must never leave the router (docs/lab.md).
FAKE_PASSWORD_HASH = "$6$vvxlab$NotARealHashOnlyForTheLabsConfigCommandFilterTest0"


def show_configuration_commands(router: str, vrrp_commands: str) -> str:
    """What `show configuration commands` prints on the lab router: the VRRP subtree plus a few
    unrelated lines of a real router (interfaces, ssh, system with a password hash), in VyOS's
    sorted order (high-availability < interfaces < service < system)."""
    r = router_spec(router)
    other = []
    for n, v in enumerate(VLANS):
        other.append(f"set interfaces ethernet eth{n} address '{v.addrs[router]}/{v.prefix_len}'")
        other.append(f"set interfaces ethernet eth{n} description '{v.group}'")
    n = len(VLANS)
    other += [
        f"set interfaces ethernet eth{n} address '{r.mgmt_addr}/{MGMT_NET.prefixlen}'",
        f"set interfaces ethernet eth{n} description 'management (mgmt0 in the lab)'",
        "set interfaces loopback lo",
        "set service ssh port '22'",
        "set system config-management commit-revisions '100'",
        f"set system host-name '{router}'",
        f"set system login user vyos authentication encrypted-password '{FAKE_PASSWORD_HASH}'",
        "set system syslog global facility all level 'info'",
    ]
    return vrrp_commands.rstrip("\n") + "\n" + "\n".join(other) + "\n"


@dataclass(frozen=True)
class GroupState:
    group: str
    iface: str
    vrid: int
    state: str
    priority: int
    last_transition: float  # keepalived's own stamp (Unix time)


@dataclass(frozen=True)
class Transition:
    """One line of a router's notify log: keepalived ran the notify hook at `at` (Unix time)."""

    at: float
    router: str
    kind: str  # INSTANCE or GROUP
    name: str
    state: str
    priority: int | None


# --------------------------------------------------------------------------------------------
# small helpers


def _log_default(msg: str) -> None:
    print(f"[lab] {msg}", flush=True)


def run(
    args: Iterable[str | os.PathLike[str]], *, check: bool = True, timeout: float = 15.0, input_text: str | None = None
) -> subprocess.CompletedProcess[str]:
    argv = [str(a) for a in args]
    try:
        proc = subprocess.run(
            argv,
            capture_output=True,
            text=True,
            timeout=timeout,
            input=input_text,
            stdin=None if input_text is not None else subprocess.DEVNULL,
            check=False,
        )
    except subprocess.TimeoutExpired as exc:
        raise LabError(f"timed out after {timeout}s: {' '.join(argv)}") from exc
    if check and proc.returncode != 0:
        raise LabError(f"failed ({proc.returncode}): {' '.join(argv)}\n{proc.stderr.strip()}")
    return proc


def alive(pid: int) -> bool:
    """Exists and is not a zombie. PID 1 on this kind of machine reaps orphans lazily, so an exited
    orphan lingers as state Z for a while: that counts as gone."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[-1].split()[0] != "Z"


def wait_until(pred: Callable[[], Any], timeout: float, what: str, interval: float = 0.05) -> Any:
    """Poll `pred` until it returns something truthy; LabError after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    last_exc: BaseException | None = None
    while True:
        try:
            value = pred()
            if value:
                return value
        except (OSError, LabError, ValueError) as exc:
            last_exc = exc
        if time.monotonic() >= deadline:
            hint = f" (last error: {last_exc})" if last_exc else ""
            raise LabError(f"timed out after {timeout:g}s waiting for {what}{hint}")
        time.sleep(interval)


def stop_pids(pids: Iterable[int], timeout: float = 5.0, sig: int = signal.SIGTERM) -> list[int]:
    """Signal, wait (zombies count as gone), SIGKILL whatever is left. Returns the killed ones."""
    pids = [p for p in set(pids) if p > 1 and p != os.getpid()]
    for p in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(p, sig)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and any(alive(p) for p in pids):
        time.sleep(0.02)
    killed = [p for p in pids if alive(p)]
    for p in killed:
        with contextlib.suppress(ProcessLookupError):
            os.kill(p, signal.SIGKILL)
    deadline = time.monotonic() + 2.0
    while time.monotonic() < deadline and any(alive(p) for p in killed):
        time.sleep(0.02)
    return killed


def netns_list() -> list[str]:
    out = run(["ip", "netns", "list"], check=False).stdout
    return [line.split()[0] for line in out.splitlines() if line.strip()]


def netns_pids(ns: str) -> list[int]:
    out = run(["ip", "netns", "pids", ns], check=False).stdout
    return [int(x) for x in out.split() if x.isdigit()]


def root_links(prefix: str = PREFIX) -> list[str]:
    links = json.loads(run(["ip", "-j", "link", "show"]).stdout or "[]")
    return [ln["ifname"] for ln in links if ln.get("ifname", "").startswith(prefix)]


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


def _uid_of(pid: int) -> int | None:
    try:
        return os.stat(f"/proc/{pid}").st_uid
    except OSError:
        return None


def lab_processes(lab_dir: Path = LAB_DIR, uid: int | None = None) -> dict[int, str]:
    """Live processes that belong to a lab: in a vvx- namespace, or running something from the lab
    directory, or owned by the lab user."""
    found: dict[int, str] = {}
    for ns in netns_list():
        if ns.startswith(PREFIX):
            for p in netns_pids(ns):
                if alive(p):
                    found[p] = f"netns {ns}: {_cmdline(p)[:120]}"
    needle = str(lab_dir) + "/"
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) == os.getpid():
            continue
        p = int(entry)
        cmd = _cmdline(p)
        if (needle in cmd or (uid is not None and _uid_of(p) == uid)) and alive(p):
            found.setdefault(p, cmd[:120])
    return found


def _user_uid(name: str = SSH_USER) -> int | None:
    try:
        return pwd.getpwnam(name).pw_uid
    except KeyError:
        return None


def find_leftovers(lab_dir: Path = LAB_DIR, uid: int | None = None) -> list[str]:
    """Everything a lab may leave behind; empty when the host is clean."""
    left: list[str] = []
    left += [f"network namespace {ns}" for ns in netns_list() if ns.startswith(PREFIX)]
    left += [f"root-namespace link {name}" for name in root_links()]
    uid = uid if uid is not None else _user_uid()
    left += [f"process {p}: {cmd}" for p, cmd in sorted(lab_processes(lab_dir, uid).items())]
    if _user_uid() is not None:
        left.append(f"user {SSH_USER}")
    with contextlib.suppress(KeyError):
        grp.getgrnam(SSH_USER)
        left.append(f"group {SSH_USER}")
    if SUDOERS_FILE.exists():
        left.append(f"sudoers file {SUDOERS_FILE}")
    for db in ("/etc/passwd", "/etc/group", "/etc/shadow", "/etc/subuid", "/etc/subgid"):
        with contextlib.suppress(OSError):
            if any(line.split(":", 1)[0] == SSH_USER for line in Path(db).read_text().splitlines()):
                left.append(f"{db} entry {SSH_USER}")
    if lab_dir.exists():
        left.append(f"lab directory {lab_dir}")
    for route in json.loads(run(["ip", "-j", "-4", "route", "show", "table", "all"]).stdout or "[]"):
        dst = route.get("dst", "")
        if route.get("dev", "").startswith(PREFIX) or _overlaps(dst, MGMT_NET):
            left.append(f"root-namespace route {dst} dev {route.get('dev')}")
    return left


def _overlaps(dst: str, net: ipaddress.IPv4Network) -> bool:
    if not dst or dst == "default":
        return False
    try:
        return ipaddress.IPv4Network(dst, strict=False).overlaps(net)
    except ValueError:
        return False


def purge(lab_dir: Path = LAB_DIR, log: Callable[[str], None] = _log_default) -> None:
    """Remove every trace of a lab (ours, or a crashed run's): processes, namespaces, the root
    veth, user, sudo rule, directories. Idempotent."""
    uid = _user_uid()
    procs = lab_processes(lab_dir, uid)
    if procs:
        log(f"stopping {len(procs)} lab process(es): {sorted(procs)}")
        stop_pids(procs, timeout=5.0)
    for ns in netns_list():
        if ns.startswith(PREFIX):
            run(["ip", "netns", "del", ns], check=False)
    for name in root_links():
        run(["ip", "link", "del", name], check=False)
    SUDOERS_FILE.unlink(missing_ok=True)
    if uid is not None:
        r = run(["userdel", SSH_USER], check=False)
        if r.returncode != 0:
            log(f"userdel {SSH_USER}: {r.stderr.strip()}")
    with contextlib.suppress(KeyError):
        grp.getgrnam(SSH_USER)
        run(["groupdel", SSH_USER], check=False)
    # directories the lab created only because they were missing (markers written by Lab.up)
    if (lab_dir / "created-run-sshd").exists():
        with contextlib.suppress(OSError):
            os.rmdir("/run/sshd")
    if (lab_dir / "created-run-netns").exists() and not netns_list():
        # `ip netns add` bind-mounts /run/netns onto itself; undo it when no namespace is left
        for _ in range(5):
            if run(["umount", "/run/netns"], check=False).returncode != 0:
                break
        with contextlib.suppress(OSError):
            os.rmdir("/run/netns")
    if lab_dir.exists():
        shutil.rmtree(lab_dir, ignore_errors=True)


def _load_show_vrrp() -> ModuleType:
    spec = importlib.util.spec_from_file_location("vvx_show_vrrp", OPMODE_SRC / "show_vrrp.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


show_vrrp = _load_show_vrrp()


class _HostLock:
    """One lab per host: an flock on LOCK_PATH (bounded wait)."""

    def __init__(self) -> None:
        self.fd: int | None = None

    def acquire(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while True:
            fd = os.open(LOCK_PATH, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                owner = os.pread(fd, 64, 0).decode(errors="replace").strip()
                os.close(fd)
                if time.monotonic() >= deadline:
                    raise LabError(
                        f"another lab is running on this host (pid {owner or '?'}, lock "
                        f"{LOCK_PATH}); waited {timeout:g}s"
                    ) from None
                time.sleep(0.2)
                continue
            try:
                same = os.fstat(fd).st_ino == os.stat(LOCK_PATH).st_ino
            except FileNotFoundError:
                same = False
            if not same:  # the previous holder unlinked it between our open and flock
                os.close(fd)
                continue
            os.ftruncate(fd, 0)
            os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
            self.fd = fd
            return

    def release(self) -> None:
        if self.fd is not None:
            with contextlib.suppress(FileNotFoundError):
                LOCK_PATH.unlink()
            os.close(self.fd)
            self.fd = None


# --------------------------------------------------------------------------------------------
# the lab


@dataclass
class _Proc:
    popen: subprocess.Popen[bytes]
    log: Any


@dataclass
class Lab:
    lab_dir: Path = LAB_DIR
    log: Callable[[str], None] = _log_default
    options: VrrpOptions = field(default_factory=VrrpOptions)
    _procs: dict[tuple[str, str], _Proc] = field(default_factory=dict)
    _lock: _HostLock = field(default_factory=_HostLock)
    _uid: int | None = None
    _is_up: bool = False
    custom_config: bool = False  # a router runs set commands other than `options` stand for
    _vrrp_commands: dict[str, str] = field(default_factory=dict)
    _ssh_blocked: set[str] = field(default_factory=set)

    # ---- paths
    @property
    def bin_dir(self) -> Path:
        return self.lab_dir / "bin"

    @property
    def keys_dir(self) -> Path:
        return self.lab_dir / "keys"

    @property
    def client_key(self) -> Path:
        return self.keys_dir / "id_ed25519"

    @property
    def known_hosts(self) -> Path:
        return self.keys_dir / "known_hosts"

    @property
    def home(self) -> Path:
        return self.lab_dir / "home" / SSH_USER

    def rdir(self, router: str) -> Path:
        return self.lab_dir / router

    # ---- lifecycle
    @property
    def holds_host_lock(self) -> bool:
        """True between a successful lock in `up` and `down`: only then may this object tear down."""
        return self._lock.fd is not None

    def up(self, options: VrrpOptions | None = None, lock_timeout: float = 240.0) -> None:
        """Build everything from nothing. On any failure, tears down what was built and re-raises."""
        t0 = time.monotonic()
        if os.geteuid() != 0:
            raise LabError("the lab needs root (network namespaces, a user, sshd)")
        self._lock.acquire(lock_timeout)
        try:
            purge(self.lab_dir, self.log)
            self._check_host()
            self._make_dirs()
            self._build_network()
            self._install_opmode()
            self._make_user_and_keys()
            for r in ROUTERS:
                self._write_sshd_config(r)
                self.start_sshd(r.name)
            self._is_up = True
            self.configure(options or self.options)
            self.log(f"lab up in {time.monotonic() - t0:.2f}s ({self.options.describe()})")
        except BaseException:
            self.down()
            raise

    def down(self) -> list[str]:
        """Stop every process, delete namespaces, veth, user, sudo rule and the lab directory.
        Safe to call twice and after a partial `up`. Returns what is still left (empty = clean)."""
        if not self.holds_host_lock:  # never got the host lock: a lab here belongs to someone else
            return []
        t0 = time.monotonic()
        try:
            self._copy_artifacts()
            # SIGTERM every process first, then wait: keepalived takes ~1 s to leave gracefully
            for key in [k for k in self._procs if self._procs[k].popen.poll() is None]:
                with contextlib.suppress(ProcessLookupError):
                    self._procs[key].popen.send_signal(signal.SIGTERM)
            for key in list(self._procs):
                self._stop_proc(key)
            purge(self.lab_dir, self.log)
            left = find_leftovers(self.lab_dir, self._uid)
        finally:
            self._is_up = False
            self._lock.release()
        self.log(
            f"lab down in {time.monotonic() - t0:.2f}s"
            + (f"; LEFT BEHIND: {left}" if left else "; nothing left behind")
        )
        return left

    def _copy_artifacts(self) -> None:
        """If VVX_LAB_ARTIFACTS names a directory, keep the logs and configs there (no keys)."""
        dest = os.environ.get("VVX_LAB_ARTIFACTS")
        if not dest or not self.lab_dir.exists():
            return
        out = Path(dest)
        for path in self.lab_dir.rglob("*"):
            if path.is_file() and (path.suffix in (".log", ".conf", ".json", ".yml") or path.name == "sshd_config"):
                target = out / path.relative_to(self.lab_dir)
                target.parent.mkdir(parents=True, exist_ok=True)
                with contextlib.suppress(OSError):
                    shutil.copy(path, target)

    def _check_host(self) -> None:
        bad = []
        for route in json.loads(run(["ip", "-j", "-4", "route", "show", "table", "all"]).stdout or "[]"):
            if _overlaps(route.get("dst", ""), MGMT_NET):
                bad.append(f"{route.get('dst')} dev {route.get('dev')}")
        if bad:
            raise LabError(f"the management net {MGMT_NET} is already routed on this host: {bad}; refusing")

    def _make_dirs(self) -> None:
        old = os.umask(0o022)
        try:
            self.lab_dir.mkdir(mode=0o755)
            for d in (self.bin_dir, self.keys_dir, self.lab_dir / "home"):
                d.mkdir(mode=0o755)
            self.keys_dir.chmod(0o700)
            for r in ROUTERS:
                self.rdir(r.name).mkdir(mode=0o755)
                (self.rdir(r.name) / "tmp").mkdir(mode=0o700)
        finally:
            os.umask(old)
        if not Path("/run/netns").exists():
            (self.lab_dir / "created-run-netns").touch()
        if not Path("/run/sshd").exists():
            (self.lab_dir / "created-run-sshd").touch()
            os.makedirs("/run/sshd", mode=0o755)  # sshd's privilege-separation dir; no systemd here

    def _build_network(self) -> None:
        t0 = time.monotonic()
        sw = SWITCH_NS
        run(["ip", "netns", "add", sw])
        run(["ip", "-n", sw, "link", "set", "lo", "up"])
        for br in [v.bridge for v in VLANS] + [MGMT_BRIDGE]:
            run(["ip", "-n", sw, "link", "add", br, "type", "bridge", "stp_state", "0", "mcast_snooping", "0"])
            run(["ip", "-n", sw, "link", "set", br, "up"])
        for r in ROUTERS:
            run(["ip", "netns", "add", r.ns])
            run(["ip", "-n", r.ns, "link", "set", "lo", "up"])
            ports = [(v.iface, v.bridge) for v in VLANS] + [("mgmt0", MGMT_BRIDGE)]
            for iface, bridge in ports:
                port = self.switch_port(r.name, iface)
                run(["ip", "link", "add", iface, "netns", r.ns, "type", "veth", "peer", "name", port, "netns", sw])
                run(["ip", "-n", sw, "link", "set", port, "master", bridge, "up"])
            for v in VLANS:
                run(["ip", "-n", r.ns, "addr", "add", f"{v.addrs[r.name]}/{v.prefix_len}", "dev", v.iface])
            run(["ip", "-n", r.ns, "addr", "add", f"{r.mgmt_addr}/{MGMT_NET.prefixlen}", "dev", "mgmt0"])
            for iface, _ in ports:
                run(["ip", "-n", r.ns, "link", "set", iface, "up"])
        # the one link into the root namespace: management only, 198.51.100.0/24
        run(["ip", "link", "add", ROOT_VETH, "type", "veth", "peer", "name", ROOT_VETH_PEER, "netns", sw])
        ipv6 = Path(f"/proc/sys/net/ipv6/conf/{ROOT_VETH}/disable_ipv6")
        if ipv6.exists():
            ipv6.write_text("1\n")  # keep the host quiet on the lab link (no RS/MLD from the root ns)
        run(["ip", "-n", sw, "link", "set", ROOT_VETH_PEER, "master", MGMT_BRIDGE, "up"])
        run(["ip", "addr", "add", f"{MGMT_ROOT_ADDR}/{MGMT_NET.prefixlen}", "dev", ROOT_VETH])
        run(["ip", "link", "set", ROOT_VETH, "up"])
        self._verify_root_routes()
        self.log(
            f"network built in {time.monotonic() - t0:.2f}s: namespaces {SWITCH_NS}, "
            f"{', '.join(r.ns for r in ROUTERS)}; {ROOT_VETH} {MGMT_ROOT_ADDR}/{MGMT_NET.prefixlen}"
        )

    def _verify_root_routes(self) -> None:
        """The root namespace may route the management net via our veth and nothing else."""
        for route in json.loads(run(["ip", "-j", "-4", "route", "show", "table", "all"]).stdout or "[]"):
            if route.get("dev") != ROOT_VETH:
                continue
            dst = route.get("dst", "")
            try:
                net = ipaddress.IPv4Network(dst, strict=False)
            except ValueError as exc:
                raise LabError(f"unexpected root route via {ROOT_VETH}: {route}") from exc
            if not net.subnet_of(MGMT_NET) or any(net.overlaps(n) for n in NEVER_IN_ROOT_NS):
                raise LabError(f"unexpected root route via {ROOT_VETH}: {route}")

    @staticmethod
    def switch_port(router: str, iface: str) -> str:
        return f"{router}-{iface}"  # e.g. vyos01-eth1, at most 15 characters

    def _install_opmode(self) -> None:
        """Root-owned copies (sudo runs show-vrrp as root: it must not be writable by anyone else)."""
        shutil.copy(OPMODE_SRC / "show_vrrp.py", self.bin_dir / "show-vrrp")
        shutil.copy(OPMODE_SRC / "vyos-op", self.bin_dir / "vyos-op")
        notify = self.bin_dir / "ka-notify"
        notify.write_text(
            "#!/bin/sh\n"
            "# keepalived notify hook: ka-notify ROUTER TYPE NAME STATE PRIORITY -> <lab>/ROUTER/transitions.log\n"
            'printf \'%s %s %s %s %s %s\\n\' "$(date +%s.%N)" "$1" "$2" "$3" "$4" "$5" '
            '>> "$(dirname "$0")/../$1/transitions.log"\n'
        )
        # What VyOS's journal gives a `watch_command` (journalctl --follow ... --unit=keepalived.service):
        # keepalived's own log lines as they are written; here its console log file.
        follow = self.bin_dir / "follow-keepalived"
        follow.write_text(
            "#!/bin/sh\n"
            "# follow-keepalived ROUTER: keepalived's log of that router from now on (journalctl -f -n 0)\n"
            'exec tail -F -n 0 "$(dirname "$0")/../$1/keepalived.log"\n'
        )
        for name in ("show-vrrp", "vyos-op", "ka-notify", "follow-keepalived"):
            os.chown(self.bin_dir / name, 0, 0)
            (self.bin_dir / name).chmod(0o755)
        signums = {
            k: int(run(["keepalived", f"--signum={k.upper()}"]).stdout.strip()) for k in ("json", "data", "stats")
        }
        for r in ROUTERS:
            info = {
                "name": r.name,
                "ns": r.ns,
                "pid_file": str(self.rdir(r.name) / "keepalived.pid"),
                "tmpdir": str(self.rdir(r.name) / "tmp"),
                **{f"sig_{k}": v for k, v in signums.items()},
            }
            (self.rdir(r.name) / "router.json").write_text(json.dumps(info, indent=1) + "\n")

    def _make_user_and_keys(self) -> None:
        # password field '*' (not '!'): with UsePAM no, sshd refuses a "locked" account
        run(
            [
                "useradd",
                "--home-dir",
                self.home,
                "--no-create-home",
                "--shell",
                "/bin/bash",
                "--password",
                "*",
                "--user-group",
                "--comment",
                "vyos-vrrp-exporter lab",
                SSH_USER,
            ]
        )
        pw = pwd.getpwnam(SSH_USER)
        self._uid = pw.pw_uid
        ssh_dir = self.home / ".ssh"
        ssh_dir.mkdir(parents=True, mode=0o700)
        os.chown(self.home, pw.pw_uid, pw.pw_gid)
        self.home.chmod(0o755)
        os.chown(ssh_dir, pw.pw_uid, pw.pw_gid)
        run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "vvx-lab-client", "-f", self.client_key])
        auth = ssh_dir / "authorized_keys"
        shutil.copy(self.client_key.with_suffix(".pub"), auth)
        os.chown(auth, pw.pw_uid, pw.pw_gid)
        auth.chmod(0o600)
        # VyOS op-mode runs its show scripts with sudo; the lab allows exactly this one script
        tmp = SUDOERS_FILE.with_name(".vvx-lab.tmp")  # a dot: sudo never reads a half-written rule
        tmp.write_text(
            f"{SSH_USER} ALL=(root) NOPASSWD: {self.bin_dir / 'show-vrrp'}, {self.bin_dir / 'follow-keepalived'}\n"
        )
        tmp.chmod(0o440)
        check = run(["visudo", "-cf", tmp], check=False)
        if check.returncode != 0:
            tmp.unlink()
            raise LabError(f"visudo rejected the lab sudo rule: {check.stdout} {check.stderr}")
        tmp.rename(SUDOERS_FILE)
        lines = []
        for r in ROUTERS:
            key = self.rdir(r.name) / "ssh_host_ed25519_key"
            run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", f"{r.name}-host", "-f", key])
            pub = key.with_suffix(".pub").read_text().split()
            lines.append(f"{r.mgmt_addr} {pub[0]} {pub[1]}\n")
        self.known_hosts.write_text("".join(lines))
        self.known_hosts.chmod(0o644)

    # ---- sshd
    def _write_sshd_config(self, r: RouterSpec) -> None:
        d = self.rdir(r.name)
        (d / "sshd_config").write_text(
            f"""# lab router {r.name}: OpenSSH as the VyOS management plane
ListenAddress {r.mgmt_addr}:22
HostKey {d / "ssh_host_ed25519_key"}
PidFile {d / "sshd.pid"}
AuthorizedKeysFile .ssh/authorized_keys
PubkeyAuthentication yes
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
PermitRootLogin no
AllowUsers {SSH_USER}
ForceCommand {self.bin_dir / "vyos-op"} {r.name}
PermitUserEnvironment no
UseDNS no
PrintMotd no
PrintLastLog no
X11Forwarding no
AllowTcpForwarding no
AllowAgentForwarding no
PermitTunnel no
MaxSessions 64
MaxStartups 64:30:128
LogLevel VERBOSE
"""
        )

    def start_sshd(self, router: str, timeout: float = 10.0) -> None:
        r = router_spec(router)
        d = self.rdir(router)
        run(["ip", "netns", "exec", r.ns, "/usr/sbin/sshd", "-t", "-f", d / "sshd_config"])
        (d / "sshd.pid").unlink(missing_ok=True)
        self._spawn(
            ("sshd", router),
            ["ip", "netns", "exec", r.ns, "/usr/sbin/sshd", "-D", "-f", d / "sshd_config", "-E", d / "sshd.log"],
            d / "sshd.stdout.log",
        )
        wait_until(lambda: self._ssh_banner(r.mgmt_addr), timeout, f"sshd of {router} to accept connections")

    @staticmethod
    def _ssh_banner(addr: str) -> bool:
        try:
            with socket.create_connection((addr, 22), timeout=1.0) as s:
                s.settimeout(1.0)
                return s.recv(64).startswith(b"SSH-2.0-")
        except OSError:
            return False

    def stop_sshd(self, router: str) -> None:
        """Stop the router's sshd *and its sessions*, as a crash or reboot would. (Stopping only the
        listener keeps established connections alive in OpenSSH, so a persistent client would not
        notice anything.)"""
        r = router_spec(router)
        listener = self._procs.get(("sshd", router))
        sessions = [
            p
            for p in netns_pids(r.ns)
            if (listener is None or p != listener.popen.pid)
            and (_cmdline(p).startswith("sshd:") or _exe(p) == "/usr/sbin/sshd" or _uid_of(p) == self._uid)
        ]
        stop_pids(sessions, timeout=3.0)
        self._stop_proc(("sshd", router))
        wait_until(lambda: not self._ssh_banner(r.mgmt_addr) or None, 5.0, f"sshd of {router} to be gone")

    def block_ssh(self, router: str) -> None:
        """Black-hole the router's management SSH, as a firewall DROP rule for tcp/22 would: inside
        the router's namespace, a policy-routing rule sends every TCP packet from port 22 to the
        management side into a blackhole (`ip rule add ipproto tcp sport 22 to <mgmt net> blackhole`).
        The router never answers a SYN nor anything on the established session: no RST, no ICMP,
        the client just waits, as behind a DROP rule; ARP and all other traffic still pass. (A
        routing rule, because this host has neither nft nor iptables, and its kernel lacks tc's
        drop action.)"""
        ns = router_spec(router).ns
        self._ssh_blocked.add(router)
        run(["ip", "-n", ns, "rule", "add", *self._ssh_rule()])
        run(["ip", "-n", ns, "route", "flush", "cache"], check=False)

    @staticmethod
    def _ssh_rule() -> list[str]:
        return ["priority", "100", "ipproto", "tcp", "sport", "22", "to", str(MGMT_NET), "blackhole"]

    def unblock_ssh(self, *routers: str) -> None:
        """Remove the SSH black hole of `routers` (default: every router that has one)."""
        for router in routers or tuple(self._ssh_blocked):
            run(["ip", "-n", router_spec(router).ns, "rule", "del", *self._ssh_rule()], check=False)
            self._ssh_blocked.discard(router)

    def ssh_blocked(self, router: str) -> bool:
        out = run(["ip", "-n", router_spec(router).ns, "rule", "show", "priority", "100"], check=False)
        return "blackhole" in out.stdout

    def set_vyos_version(self, router: str, version: str | None) -> None:
        """Which VyOS release the router's `show vrrp` imitates where they differ: with keepalived
        stopped, 1.2-1.4 print `VRRP is not running` (exit 0), 1.5 prints `VRRP data is not available
        (process not running or no active groups)` (exit 1). None: the default (1.4)."""
        path = self.rdir(router) / "vyos-version"
        if version is None:
            path.unlink(missing_ok=True)
        else:
            path.write_text(version + "\n")

    def accepted_logins(self, router: str) -> int:
        """How many SSH logins the router's sshd has accepted so far (from its log)."""
        try:
            text = (self.rdir(router) / "sshd.log").read_text(errors="replace")
        except FileNotFoundError:
            return 0
        return sum(1 for line in text.splitlines() if line.startswith("Accepted publickey for"))

    def sshd_running(self, router: str) -> bool:
        p = self._procs.get(("sshd", router))
        return p is not None and p.popen.poll() is None

    # ---- keepalived
    def keepalived_conf(self, router: str, o: VrrpOptions, vrrp_commands: str | None = None) -> str:
        """keepalived.conf generated from the router's VyOS `set` commands (vyos_to_keepalived.py,
        vyos-1x's template), plus what VyOS cannot express: the lab's advert interval and VRRP
        version, the router id and the notify hook that records transitions."""
        from vyos_to_keepalived import keepalived_conf_from_commands

        text = vrrp_commands if vrrp_commands is not None else vyos_vrrp_commands(router, o)
        return keepalived_conf_from_commands(
            text,
            interfaces={v.iface: v.iface for v in VLANS},
            router_id=router,
            vrrp_version=o.version,
            advert_int=o.advert,
            notify=f"{self.bin_dir / 'ka-notify'} {router}",
            header=f"lab router {router}: {o.describe()}",
        )

    def write_vyos_config(self, router: str, vrrp_commands: str) -> None:
        """Store the router's configuration, served by its `show configuration commands`."""
        path = self.rdir(router) / "config.commands"
        tmp = path.with_suffix(".tmp")
        tmp.write_text(show_configuration_commands(router, vrrp_commands))
        tmp.replace(path)
        self._vrrp_commands[router] = vrrp_commands

    def vrrp_commands(self, router: str) -> str:
        """The router's current `high-availability vrrp` set commands."""
        return self._vrrp_commands.get(router) or vyos_vrrp_commands(router, self.options)

    def commit(self, router: str, vrrp_commands: str) -> float:
        """A VyOS commit of a new `high-availability vrrp` subtree: the router's configuration (as
        `show configuration commands` prints it) is replaced, keepalived.conf regenerated from it
        and keepalived reloaded. Returns the Unix time of the reload signal."""
        conf = self.keepalived_conf(router, self.options, vrrp_commands)
        self.write_vyos_config(router, vrrp_commands)
        self.custom_config = True
        return self.reload_keepalived(router, conf)

    def check_keepalived_conf(self, router: str, path: Path) -> list[str]:
        """`keepalived -t` inside the router's namespace. keepalived also exits non-zero (5) for
        warnings it then ignores when it runs, such as a sync-group member that names no instance
        (the seed's `member VLAN10`: "Virtual router VLAN10 specified in sync group MAIN doesn't
        exist - ignoring"); VyOS commits that, so the lab accepts it and returns the warnings.
        Anything else is a LabError."""
        res = run(["ip", "netns", "exec", router_spec(router).ns, "keepalived", "-t", "-f", path], check=False)
        lines = [line for line in (res.stderr + res.stdout).splitlines() if line.strip()]
        if res.returncode == 0:
            return lines
        if lines and all(line.rstrip().endswith("- ignoring") for line in lines):
            return lines
        raise LabError(f"keepalived -t rejected {path} ({res.returncode}): {' | '.join(lines)}")

    def start_keepalived(self, router: str, timeout: float = 10.0) -> None:
        r = router_spec(router)
        d = self.rdir(router)
        conf = d / "keepalived.conf"
        # config test inside the namespace (in the root namespace the interfaces do not exist, and
        # a lab keepalived must never run there: eth0 is the host's uplink)
        self.check_keepalived_conf(router, conf)
        for name in ("keepalived.pid", "vrrp.pid"):
            (d / name).unlink(missing_ok=True)
        # -P VRRP only, -n foreground (so the Popen pid is keepalived's), -l log to stdout, -D detail;
        # own pid files (the defaults in /run collide) and own TMPDIR (the JSON dump goes there)
        self._spawn(
            ("keepalived", router),
            [
                "ip",
                "netns",
                "exec",
                r.ns,
                "env",
                f"TMPDIR={d / 'tmp'}",
                "keepalived",
                "-P",
                "-n",
                "-l",
                "-D",
                "-f",
                conf,
                "-p",
                d / "keepalived.pid",
                "-r",
                d / "vrrp.pid",
            ],
            d / "keepalived.log",
        )
        pid = self._procs[("keepalived", router)].popen.pid

        def ready() -> bool:
            if not alive(pid):
                raise LabError(f"keepalived of {router} exited; see {d / 'keepalived.log'}")
            try:
                return int((d / "keepalived.pid").read_text()) == pid and alive(int((d / "vrrp.pid").read_text()))
            except (OSError, ValueError):
                return False

        wait_until(ready, timeout, f"keepalived of {router} to start")

    def stop_keepalived(self, *routers: str, sig: int = signal.SIGTERM, timeout: float = 8.0) -> None:
        """SIGTERM (default): graceful, keepalived sends priority-0 adverts so the peer takes over at
        once. SIGKILL: a crash; parent and VRRP child die at the same instant, nothing is sent, the
        peer takes over after its master-down interval (and the VIPs stay on the dead router's
        interfaces, as after a real crash)."""
        routers = routers or ROUTER_NAMES
        keys = [("keepalived", r) for r in routers if ("keepalived", r) in self._procs]
        children = []
        for _, r in keys:
            with contextlib.suppress(OSError, ValueError):
                children.append(int((self.rdir(r) / "vrrp.pid").read_text()))
        targets = [self._procs[k].popen.pid for k in keys] + (children if sig == signal.SIGKILL else [])
        for pid in targets:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, sig)
        for key in keys:
            self._stop_proc(key, timeout=timeout)
        stop_pids([c for c in children if alive(c)], timeout=2.0)

    def reload_keepalived(self, router: str, conf: str | None = None) -> float:
        """What a VyOS commit under `high-availability` does: it rewrites keepalived.conf and runs
        `systemctl reload keepalived`, whose ExecReload sends SIGHUP to keepalived's parent, which
        passes it on to its VRRP child. With `conf`, the router's keepalived.conf is replaced first
        (checked with `keepalived -t` inside the router's namespace, as for a start); without it
        the config is unchanged, like a commit that touched nothing keepalived uses.

        Returns the Unix time the signal was sent. Does not wait for anything: the reload itself is
        what a caller wants to observe. Measured with keepalived 2.2.7 (Debian 12): the reload takes
        5-40 ms; every group keeps its state, its adverts go on without a gap and the peer notices
        nothing; no notify hook runs for a group that existed before; but keepalived re-reads the
        config into new instances, so `last_transition` of every group on this router becomes the
        reload time (the stats counters `become_master`/`release_master` are kept)."""
        key = ("keepalived", router)
        if not self.keepalived_running(router):
            raise LabError(f"keepalived of {router} is not running: nothing to reload")
        path = self.rdir(router) / "keepalived.conf"
        if conf is not None:
            candidate = self.rdir(router) / "keepalived.conf.new"
            candidate.write_text(conf)
            self.check_keepalived_conf(router, candidate)
            candidate.replace(path)
        sent = time.time()
        os.kill(self._procs[key].popen.pid, signal.SIGHUP)
        return sent

    def keepalived_running(self, router: str) -> bool:
        p = self._procs.get(("keepalived", router))
        return p is not None and p.popen.poll() is None

    def configure(
        self, options: VrrpOptions, timeout: float | None = None, vrrp_commands: dict[str, str] | None = None
    ) -> None:
        """(Re)start keepalived on both routers with `options`, every link up, and wait for the
        healthy election: vyos01 MASTER of every group, vyos02 BACKUP. vyos01 starts first and
        vyos02 only once vyos01 is master, so `nopreempt` cannot hand the first election to vyos02.
        Each router's keepalived.conf is generated from its VyOS `set` commands: `vrrp_commands`
        (per router) or the ones `options` stand for (`vyos_vrrp_commands`)."""
        t0 = time.monotonic()
        self.stop_keepalived()
        self.unblock_ssh()
        for r in ROUTERS:
            for v in VLANS:
                self.set_link(r.name, v.iface, up=True, side="router")
                self.set_link(r.name, v.iface, up=True, side="switch")
                self.set_port_in_bridge(r.name, v.iface, attached=True)
            for name in ("dump-timeout", "vyos-version", "transitions.log"):
                (self.rdir(r.name) / name).unlink(missing_ok=True)
            commands = (vrrp_commands or {}).get(r.name) or vyos_vrrp_commands(r.name, options)
            (self.rdir(r.name) / "keepalived.conf").write_text(self.keepalived_conf(r.name, options, commands))
            self.write_vyos_config(r.name, commands)
        self.options = options
        self.custom_config = bool(vrrp_commands)
        limit = timeout if timeout is not None else 10 * options.master_down_seconds(0) + 10
        first, second = ROUTER_NAMES
        self.start_keepalived(first)
        self.wait_states({(first, g): "MASTER" for g in GROUPS}, limit)
        self.start_keepalived(second)
        self.wait_states({**{(first, g): "MASTER" for g in GROUPS}, **{(second, g): "BACKUP" for g in GROUPS}}, limit)
        self.log(f"keepalived ({options.describe()}) elected in {time.monotonic() - t0:.2f}s")

    def reset(self) -> None:
        """Back to the healthy baseline with the current options, if anything was changed."""
        ok = all(self.keepalived_running(r) and self.sshd_running(r) for r in ROUTER_NAMES)
        if ok:
            try:
                links_ok = self.ports_attached() and all(
                    self.link_is_up(r, v.iface) for r in ROUTER_NAMES for v in VLANS
                )
                links_ok = links_ok and not any(
                    (self.rdir(r) / name).exists() for r in ROUTER_NAMES for name in ("dump-timeout", "vyos-version")
                )
                links_ok = links_ok and not self.custom_config and not self._ssh_blocked
                states = self.all_states()
                ok = links_ok and all(
                    states[(r, g)].state == ("MASTER" if r == ROUTER_NAMES[0] else "BACKUP")
                    for r in ROUTER_NAMES
                    for g in GROUPS
                )
            except (LabError, KeyError):
                ok = False
        for r in ROUTER_NAMES:
            if not self.sshd_running(r):
                self.start_sshd(r)
        if not ok:
            self.configure(self.options)

    # ---- links
    def set_link(self, router: str, iface: str, up: bool, side: str = "switch") -> None:
        """side="switch": the switch port (like pulling the cable: the router sees NO-CARRIER);
        side="router": the router's own interface, administratively (VyOS `disable`)."""
        state = "up" if up else "down"
        if side == "switch":
            run(["ip", "-n", SWITCH_NS, "link", "set", self.switch_port(router, iface), state])
        elif side == "router":
            run(["ip", "-n", router_spec(router).ns, "link", "set", iface, state])
        else:
            raise ValueError(side)

    def set_port_in_bridge(self, router: str, iface: str, attached: bool) -> None:
        """Detach the router's switch port from its VLAN bridge (the link stays up, but the router
        no longer hears its peer: a broken switch, which makes both routers MASTER), or re-attach it."""
        port = self.switch_port(router, iface)
        if attached:
            run(["ip", "-n", SWITCH_NS, "link", "set", port, "master", vlan(iface).bridge])
        else:
            run(["ip", "-n", SWITCH_NS, "link", "set", port, "nomaster"])

    def ports_attached(self) -> bool:
        links = json.loads(run(["ip", "-n", SWITCH_NS, "-j", "link", "show"]).stdout)
        master = {ln["ifname"]: ln.get("master") for ln in links}
        return all(master.get(self.switch_port(r, v.iface)) == v.bridge for r in ROUTER_NAMES for v in VLANS)

    def link_is_up(self, router: str, iface: str) -> bool:
        info = json.loads(run(["ip", "-n", router_spec(router).ns, "-j", "link", "show", iface]).stdout)[0]
        return "UP" in info["flags"] and "LOWER_UP" in info["flags"]

    # ---- state
    def states(self, router: str, timeout: float = 2.0) -> dict[str, GroupState]:
        """Live state from the router's keepalived (its JSON dump, under the same lock as the
        op-mode command). Empty if keepalived is not running."""
        try:
            text = show_vrrp.read_dump(router, "json", timeout=timeout, lab_dir=self.lab_dir)
        except show_vrrp.NotRunning:
            return {}
        except show_vrrp.UnknownRouter as exc:
            raise LabError(str(exc)) from exc
        except show_vrrp.NotAvailable as exc:
            raise LabError(f"keepalived of {router} wrote no JSON dump within {timeout}s") from exc
        out = {}
        for entry in json.loads(text):
            d = entry["data"]
            out[d["iname"]] = GroupState(
                d["iname"],
                d["ifp_ifname"],
                int(d["vrid"]),
                show_vrrp.STATE_NAMES.get(int(d["state"]), str(d["state"])),
                int(d["effective_priority"]),
                float(d["last_transition"]),
            )
        return out

    def all_states(self) -> dict[tuple[str, str], GroupState]:
        return {(r, g): s for r in ROUTER_NAMES for g, s in self.states(r).items()}

    def wait_states(self, expect: dict[tuple[str, str], str], timeout: float) -> dict[tuple[str, str], GroupState]:
        """Wait until every (router, group) is in the expected state (keepalived's view)."""
        routers = sorted({r for r, _ in expect})
        last: dict[tuple[str, str], str] = {}

        def check() -> dict[tuple[str, str], GroupState] | None:
            cur = {(r, g): s for r in routers for g, s in self.states(r).items()}
            last.clear()
            last.update({k: v.state for k, v in cur.items()})
            return cur if all(last.get(k) == v for k, v in expect.items()) else None

        try:
            return wait_until(check, timeout, f"states {expect}")  # type: ignore[no-any-return]
        except LabError as exc:
            raise LabError(f"{exc}; last seen {last}") from None

    def transitions(self, router: str) -> list[Transition]:
        path = self.rdir(router) / "transitions.log"
        out = []
        with contextlib.suppress(FileNotFoundError):
            for line in path.read_text().splitlines():
                parts = line.split()
                if len(parts) >= 5:
                    prio = int(parts[5]) if len(parts) > 5 and parts[5].isdigit() else None
                    out.append(Transition(float(parts[0]), parts[1], parts[2], parts[3], parts[4], prio))
        return out

    def wait_transition(self, router: str, name: str, state: str, after: float, timeout: float = 15.0) -> Transition:
        """First notify-hook record of `name` entering `state` on `router` at or after `after`."""

        def find() -> Transition | None:
            for t in self.transitions(router):
                if t.name == name and t.state == state and t.at >= after:
                    return t
            return None

        return wait_until(find, timeout, f"{router} {name} -> {state} (notify hook)")  # type: ignore[no-any-return]

    # ---- clients
    def ssh_argv(self, router: str, command: str) -> list[str]:
        return [
            "ssh",
            "-n",
            "-F",
            "/dev/null",
            "-i",
            str(self.client_key),
            "-o",
            "IdentitiesOnly=yes",
            "-o",
            f"UserKnownHostsFile={self.known_hosts}",
            "-o",
            "StrictHostKeyChecking=yes",
            "-o",
            "BatchMode=yes",
            "-o",
            "ConnectTimeout=5",
            "-o",
            "LogLevel=ERROR",
            f"{SSH_USER}@{router_spec(router).mgmt_addr}",
            command,
        ]

    def ssh(self, router: str, command: str, timeout: float = 20.0) -> subprocess.CompletedProcess[str]:
        """OpenSSH client call, as an operator would type it."""
        return run(self.ssh_argv(router, command), check=False, timeout=timeout)

    def exporter_config(
        self,
        *,
        poll_interval: str = "1s",
        timeout: str | None = None,
        commands: dict[str, str] | None = None,
        sync_sets: list[dict[str, Any]] | None = None,
        preferred_master: str | None = None,
        watch_command: str | None = None,
        config_interval: str | None = None,
    ) -> str:
        """YAML for the exporter under test (DESIGN.md "Configuration"). `commands` overrides the
        ssh command per router; without it the exporter's default
        (`/opt/vyatta/bin/vyatta-op-cmd-wrapper show vrrp`) is used, as against VyOS. `timeout`
        defaults to 80 % of the poll interval, at most 3 s (the exporter wants it shorter)."""
        if timeout is None:
            timeout = f"{int(min(3.0, 0.8 * _seconds(poll_interval)) * 1000)}ms"
        lines = [
            "# vyos-vrrp-exporter against the vvx- namespace lab (tests/lab, scripts/lab-up)",
            f"poll_interval: {poll_interval}",
            f"timeout: {timeout}",
            *([f"config_interval: {config_interval}"] if config_interval is not None else []),
            "ssh:",
            f"  username: {SSH_USER}",
            f"  private_key: {self.client_key}",
            f"  known_hosts: {self.known_hosts}",
            *([f"  watch_command: {json.dumps(watch_command)}"] if watch_command else []),
            "clusters:",
            f"  - name: {CLUSTER}",
        ]
        if preferred_master:
            lines.append(f"    preferred_master: {preferred_master}")
        lines.append("    routers:")
        for r in ROUTERS:
            lines += [f"      - name: {r.name}", f"        address: {r.mgmt_addr}", "        port: 22"]
            if commands and r.name in commands:
                lines += ["        ssh:", f"          command: {json.dumps(commands[r.name])}"]
        if sync_sets:
            lines.append("    sync_sets:")
            for s in sync_sets:
                lines.append(f"      - name: {s['name']}")
                lines.append(f"        groups: [{', '.join(s['groups'])}]")
        return "\n".join(lines) + "\n"

    def write_exporter_config(self, path: Path | None = None, **kwargs: Any) -> Path:
        path = path or self.lab_dir / "exporter.yml"
        path.write_text(self.exporter_config(**kwargs))
        return path

    # ---- diagnostics
    def diagnostics(self, tail: int = 25) -> str:
        out = []
        for r in ROUTER_NAMES:
            try:
                st = self.states(r, timeout=1.0)
                out.append(
                    f"{r} keepalived: "
                    + (", ".join(f"{g}={s.state}/{s.priority}" for g, s in st.items()) or "not running")
                )
            except (LabError, OSError) as exc:
                out.append(f"{r} keepalived: {exc}")
            for name in ("keepalived.log", "sshd.log", "transitions.log"):
                path = self.rdir(r) / name
                if path.exists():
                    lines = path.read_text(errors="replace").splitlines()[-tail:]
                    out.append(f"--- {path} (last {len(lines)} lines)\n" + "\n".join(lines))
        return "\n".join(out)

    # ---- processes
    def _spawn(self, key: tuple[str, str], argv: list[Any], log_path: Path) -> None:
        self._stop_proc(key)
        log = open(log_path, "ab")  # noqa: SIM115 (closed in _stop_proc)
        popen = subprocess.Popen(
            [str(a) for a in argv],
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        self._procs[key] = _Proc(popen, log)

    def _stop_proc(self, key: tuple[str, str], timeout: float = 8.0) -> None:
        proc = self._procs.pop(key, None)
        if proc is None:
            return
        p = proc.popen
        if p.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                p.send_signal(signal.SIGTERM)
            try:
                p.wait(timeout)
            except subprocess.TimeoutExpired:
                self.log(f"{key[0]} of {key[1]} ignored SIGTERM for {timeout}s: SIGKILL")
                p.kill()
                with contextlib.suppress(subprocess.TimeoutExpired):
                    p.wait(3)
        proc.log.close()

    # ---- context manager
    def __enter__(self) -> Lab:
        self.up()
        return self

    def __exit__(self, *exc: object) -> None:
        self.down()


def _seconds(duration: str) -> float:
    """'500ms', '1s', '5s', '1m' -> seconds (the forms the lab writes)."""
    for unit, factor in (("ms", 0.001), ("s", 1.0), ("m", 60.0)):
        if duration.endswith(unit) and duration[: -len(unit)].replace(".", "", 1).isdigit():
            return float(duration[: -len(unit)]) * factor
    raise ValueError(f"unsupported duration {duration!r}")


def _exe(pid: int) -> str:
    try:
        return os.readlink(f"/proc/{pid}/exe")
    except OSError:
        return ""


@contextlib.contextmanager
def running_lab(options: VrrpOptions | None = None, **kwargs: Any) -> Iterator[Lab]:
    lab = Lab(**kwargs)
    lab.up(options)
    try:
        yield lab
    finally:
        lab.down()


__all__ = [
    "CLUSTER",
    "DEFAULT_SET",
    "GROUPS",
    "LAB_DIR",
    "ROUTERS",
    "ROUTER_NAMES",
    "VLANS",
    "GroupState",
    "Lab",
    "LabError",
    "Transition",
    "VrrpOptions",
    "find_leftovers",
    "purge",
    "running_lab",
    "vlan",
]
