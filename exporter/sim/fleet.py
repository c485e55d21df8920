"""Simulated VyOS routers: real SSH servers on loopback that answer `show vrrp` like VyOS does.

Used by the `demo` command, by the tests and by benchmarks (1,000 routers in one process): each
router is one asyncssh listener on 127.0.0.1 (or ::1) with its own throw-away ed25519 host key, a
random free port and no thread of its own. What a router prints comes from `vyos_render`, so the
output is byte for byte what the VyOS version it plays would print.

State is kept the way keepalived keeps it: every group has the Unix time of its last transition,
so the printed Last Transition grows with the clock, and a state change resets it.

    async with SimFleet(tmp_path, seed_cluster(), clusters=[SEED_CLUSTER]) as fleet:
        config = fleet.write_config()
        apply_seed_phase(fleet.routers, SeedPhase.SPLIT)

The seed's story lives in `sim.seed`, the command line (`python -m exporter.sim`) in `sim.cli`.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import os
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from types import TracebackType
from typing import Any, Self

import asyncssh
import yaml

from ..model import DEFAULT_SET_NAME, ClusterSpec, VrrpGroup, VrrpState
from ..vyos_config import DEFAULT_CONFIG_COMMAND
from .vyos_render import (
    GroupConfig,
    VrrpMessage,
    message_exit_status,
    normalize_version,
    render_message,
    render_show_vrrp,
    render_vrrp_config,
)

__all__ = [
    "OP_MODE_SCRIPT",
    "WRAPPER",
    "RouterSpec",
    "SimAnswer",
    "SimFleet",
    "SimGroup",
    "SimRouter",
    "generate_key",
]

WRAPPER = "/opt/vyatta/bin/vyatta-op-cmd-wrapper"
OP_MODE_SCRIPT = "/usr/libexec/vyos/op_mode/vrrp.py"
LOOPBACK_HOSTS = frozenset({"127.0.0.1", "::1"})
CLOSE_TIMEOUT = 5.0  # bound on every wait while closing listeners and connections
# A real `show vrrp` (vyos-1x op-mode on keepalived 2.2.7): 0.83 s wall on 1.4, 0.90 s on 1.5, of
# which 0.66 s waiting for keepalived's dump; a reader that loses the dump-file race answers after ~1 s.
VYOS_SHOW_VRRP_SECONDS = 0.85
VYOS_RACE_LOSER_SECONDS = 1.0
_OP_PATH = ("show", "vrrp")
_CONFIG_PATH = ("show", "configuration", "commands")
# What else `show configuration commands` prints around the VRRP subtree (the filter must drop it).
_OTHER_CONFIG = (
    "set interfaces ethernet eth0 hw-id '52:54:00:12:34:56'\n"
    "set service ssh port '22'\n"
    "set system host-name '{name}'\n"
    "set system login user vyos authentication encrypted-password '$6$not.a.real.hash'\n"
)
# What docs/README suggest as `watch_command` on VyOS 1.3+: keepalived's journal, message text only.
WATCH_COMMAND = "journalctl --follow --lines=0 --output=cat --unit=keepalived.service"


def generate_key() -> asyncssh.SSHKey:
    """A fresh ed25519 key (about 0.1 ms: cheap enough for one host key per router)."""
    return asyncssh.generate_private_key("ssh-ed25519")


def _openssh_public(key: asyncssh.SSHKey) -> str:
    """`ssh-ed25519 AAAA...` without a comment."""
    algorithm, blob = key.export_public_key("openssh").decode("ascii").split()[:2]
    return f"{algorithm} {blob}"


# --- router state -----------------------------------------------------------------------------------


@dataclass(slots=True)
class SimGroup:
    """A VRRP group as keepalived holds it: the transition is a timestamp, not an age."""

    name: str
    interface: str
    vrid: int | None
    state: VrrpState
    priority: int | None
    last_transition: float  # Unix time of the last state change

    def report(self, now: float) -> VrrpGroup:
        """The row `show vrrp` prints at `now`; DISABLED rows have no priority and no age."""
        if self.state is VrrpState.DISABLED:
            return VrrpGroup(self.name, self.interface, self.vrid, self.state)
        # VyOS: int(time() - float(data['last_transition'])); never negative in our model.
        age = max(0, int(now - self.last_transition))
        return VrrpGroup(self.name, self.interface, self.vrid, self.state, self.priority, age)


@dataclass(frozen=True, slots=True)
class SimAnswer:
    """What one command returns: stdout, stderr and exit status."""

    stdout: bytes
    stderr: bytes = b""
    exit_status: int = 0


class _Route(StrEnum):
    CONFIG = "config"  # `show configuration commands` (the exporter's default pipeline keeps VRRP lines)
    OP_MODE = "op-mode"  # through vyatta-op-cmd-wrapper (or a bare `show vrrp`)
    SCRIPT = "script"  # vrrp.py called directly
    INVALID_OP = "invalid-op"  # the wrapper with an op-mode path we do not serve
    WATCH = "watch"  # following keepalived's log (journalctl --follow)
    UNKNOWN = "unknown"


def _route(command: str | None) -> tuple[_Route, list[str]]:
    if command == DEFAULT_CONFIG_COMMAND:
        return _Route.CONFIG, ["vrrp-only"]
    words = (command or "").split()
    if words[:1] == [WRAPPER] and tuple(words[1:]) == _CONFIG_PATH:
        return _Route.CONFIG, []
    if words and words[0] == "sudo":  # VyOS's own op-mode definitions run `sudo .../vrrp.py`
        words = words[1:]
    if words and words[0] == WRAPPER:
        path = words[1:]
        return (_Route.OP_MODE if tuple(path) == _OP_PATH else _Route.INVALID_OP), path
    if tuple(words) == _OP_PATH:
        return _Route.OP_MODE, words
    if words and words[0] == "journalctl" and ("--follow" in words or "-f" in words):
        return _Route.WATCH, words
    # 1.5 (vyos.opmode) spells it `show_summary`, 1.2-1.4 (argparse) `--summary`; both are served.
    if len(words) == 2 and words[0] == OP_MODE_SCRIPT and words[1] in ("show_summary", "--summary", "-s"):
        return _Route.SCRIPT, words
    return _Route.UNKNOWN, words


def _invalid_op_answer(path: list[str]) -> SimAnswer:
    """vyatta-op's `_vyatta_op_run` wording for a node it does not know (printed on stdout)."""
    known = 0
    while known < len(path) and known < len(_OP_PATH) and path[known] == _OP_PATH[known]:
        known += 1
    bad = path[known] if known < len(path) else ""
    text = f"\n  Invalid command: {' '.join(path[:known])} [{bad}]\n\n"
    return SimAnswer(text.encode(), exit_status=1)


class _Started:
    """`async with x:` starts it and always stops it (routers and fleets)."""

    async def start(self) -> None:
        raise NotImplementedError

    async def stop(self) -> None:
        raise NotImplementedError

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()


# --- one router ---------------------------------------------------------------------------------------


class SimRouter(_Started):
    """One simulated VyOS router listening for SSH on loopback.

    State: `groups` (mutable `SimGroup`s), `message` (print a sentence instead of the table).
    Timing: `use_vyos_timing()` gives it VyOS's latency and its dump-file race (`dump_race`: one
    `show vrrp` at a time; a concurrent one prints VyOS's "not available" message after
    `race_seconds`, exit 1, and is counted in `races_lost`).
    Faults: `hang` (a command never answers), `latency` (seconds before answering), `garbage`
    (raw bytes instead of the output), `output_override` (text instead of the output),
    `exit_status` (forced exit status), `stderr` (extra text on stderr), `password_expired`
    (the right password gets "change it now", as for an expired account). Faults apply to the
    `show vrrp` commands only; unknown commands are refused as usual.
    Counters: `connections_opened`, `commands_run` (every exec request), `active_connections`,
    `pending_commands`.
    """

    def __init__(
        self,
        name: str,
        groups: Iterable[VrrpGroup] = (),
        *,
        version: str = "1.4",
        authorized_client_keys: Iterable[asyncssh.SSHKey] = (),
        username: str = "vyos",
        password: str | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        host_key: asyncssh.SSHKey | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if host not in LOOPBACK_HOSTS:  # a simulator must never be reachable from the network
            raise ValueError(f"simulated routers listen on loopback only, not {host!r}")
        self.name = name
        self.version = normalize_version(version)
        self.username = username
        self.password = password
        self.host = host
        self.host_key = host_key if host_key is not None else generate_key()
        self._clock = clock
        now = clock()
        self.groups: list[SimGroup] = [self._adopt(g, now) for g in groups]
        self._authorized = {k.public_data for k in authorized_client_keys}

        self.message: VrrpMessage | None = None
        self.hang = False
        self.latency = 0.0
        self.garbage: bytes | None = None
        self.output_override: str | None = None
        self.exit_status: int | None = None
        self.stderr: str | None = None
        self.password_expired = False
        self.vrrp_config = ""  # `set high-availability vrrp ...` lines (see vyos_render.render_vrrp_config)
        self.config_error: str | None = None  # printed instead of the configuration, exit status 1
        self.dump_race = False
        self.race_seconds = VYOS_RACE_LOSER_SECONDS
        self.races_lost = 0
        self._dumping = 0  # `show vrrp` commands between "dump requested" and "answered"

        self._watchers: set[asyncio.Queue[str | None]] = set()
        self.connections_opened = 0
        self.commands_run = 0
        self.abandoned_commands = 0
        self._port = port
        self._acceptor: asyncssh.SSHAcceptor | None = None
        self._connections: set[asyncssh.SSHServerConnection] = set()
        self._handlers: set[asyncio.Task[Any]] = set()

    def __repr__(self) -> str:
        return f"SimRouter({self.name!r}, version={self.version!r}, port={self._port})"

    @staticmethod
    def _adopt(group: VrrpGroup, now: float) -> SimGroup:
        age = group.last_transition_age_seconds or 0
        return SimGroup(group.name, group.interface, group.vrid, group.state, group.priority, now - age)

    # -- state ---------------------------------------------------------------------------------------

    def group(self, name: str) -> SimGroup:
        for group in self.groups:
            if group.name == name:
                return group
        raise KeyError(f"router {self.name} has no VRRP group {name!r}")

    def set_state(self, group: str, state: VrrpState, priority: int | None = None) -> None:
        """Change a group's state (its transition time restarts) and optionally its priority."""
        target = self.group(group)
        if target.state is not state:
            target.state = state
            target.last_transition = self._clock()
            self._log(f"({target.name}) Entering {state.value} STATE")
            if state is VrrpState.MASTER:  # keepalived's chatter after a takeover; matches no pattern
                self._log(f"({target.name}) Sending/queueing gratuitous ARPs on {target.interface}")
        if priority is not None:
            target.priority = priority

    def _log(self, line: str) -> None:
        for queue in self._watchers:
            if not queue.full():  # a reader that stopped reading loses lines, as with a full pipe
                queue.put_nowait(line)

    def end_watches(self) -> None:
        """Make every running watch command exit (as when journald restarts)."""
        for queue in self._watchers:
            queue.put_nowait(None)

    @property
    def watch_sessions(self) -> int:
        return len(self._watchers)

    def use_vyos_timing(self) -> None:
        """Answer as slowly as a real VyOS router, with its dump-file race."""
        self.latency = VYOS_SHOW_VRRP_SECONDS
        self.dump_race = True

    def set_message(self, kind: VrrpMessage | None) -> None:
        """Answer with a message (`VRRP is not running`...) instead of the table; None restores it."""
        self.message = kind

    def authorize(self, key: asyncssh.SSHKey) -> None:
        """Accept one more client public key."""
        self._authorized.add(key.public_data)

    def snapshot(self) -> tuple[VrrpGroup, ...]:
        """The groups as `show vrrp` would report them now."""
        now = self._clock()
        return tuple(g.report(now) for g in self.groups)

    def answer(self, command: str | None) -> SimAnswer:
        """What the router prints for `command`, faults included (but not hang and latency)."""
        route, words = _route(command)
        if route is _Route.CONFIG:
            return self._config_answer(vrrp_only=bool(words))
        if route is _Route.INVALID_OP:
            return _invalid_op_answer(words)
        if route is _Route.UNKNOWN:
            return SimAnswer(b"", b"Invalid command\n", 1)
        stdout, status = self._show_vrrp()
        if route is _Route.OP_MODE:
            # vyatta-op's _vyatta_op_run evals the node's command and returns its own `ret=0`.
            status = 0
        return self._with_faults(stdout, status)

    def _config_answer(self, vrrp_only: bool) -> SimAnswer:
        if self.config_error is not None:
            return SimAnswer(self.config_error.encode(), exit_status=1)
        if vrrp_only:  # the default config_command's sed keeps only the VRRP lines
            return SimAnswer(self.vrrp_config.encode())
        return SimAnswer((_OTHER_CONFIG.format(name=self.name) + self.vrrp_config).encode())

    def _show_vrrp(self) -> tuple[str, int]:
        if self.message is not None:
            return render_message(self.message, self.version), message_exit_status(self.message, self.version)
        return render_show_vrrp(self.snapshot(), self.version), 0

    def _with_faults(self, stdout: str, status: int) -> SimAnswer:
        if self.output_override is not None:
            stdout = self.output_override
        out = self.garbage if self.garbage is not None else stdout.encode()
        err = (self.stderr or "").encode()
        return SimAnswer(out, err, status if self.exit_status is None else self.exit_status)

    # -- SSH side -------------------------------------------------------------------------------------

    @property
    def port(self) -> int:
        """The listening port (0 before the first start)."""
        return self._port

    @property
    def running(self) -> bool:
        return self._acceptor is not None

    @property
    def active_connections(self) -> int:
        return len(self._connections)

    @property
    def pending_commands(self) -> int:
        """Commands received and not answered yet (sleeping on `latency` or hanging)."""
        return len(self._handlers)

    def host_key_line(self) -> str:
        """This router's known_hosts line: `[127.0.0.1]:PORT ssh-ed25519 AAAA...`."""
        host = f"[{self.host}]:{self._port}" if self._port != 22 else self.host
        return f"{host} {_openssh_public(self.host_key)}"

    async def start(self) -> None:
        """Listen (on a random free port the first time, on the same port after a restart)."""
        if self._acceptor is not None:
            return
        self._acceptor = await asyncssh.listen(
            self.host,
            self._port,
            server_factory=lambda: _SimServer(self),
            server_host_keys=[self.host_key],
            process_factory=self._serve,
            encoding=None,  # bytes in and out, so `garbage` goes out untouched
            allow_pty=False,
            line_editor=False,
            allow_scp=False,
            agent_forwarding=False,
            x11_forwarding=False,
            gss_kex=False,
            gss_auth=False,
            kbdint_auth=False,
            login_timeout=10,
            reuse_address=True,
        )
        self._port = self._acceptor.get_port()

    async def stop(self) -> None:
        """Stop listening and drop every connection (also those with a hanging command)."""
        acceptor, self._acceptor = self._acceptor, None
        if acceptor is not None:
            acceptor.close()
        connections = list(self._connections)
        for conn in connections:
            conn.close()
        waits: list[Any] = [conn.wait_closed() for conn in connections]
        if acceptor is not None:
            waits.append(acceptor.wait_closed())
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(CLOSE_TIMEOUT):
                await asyncio.gather(*waits, return_exceptions=True)
        for conn in connections:  # whoever did not say goodbye in time
            conn.abort()
        await self._cancel_handlers()

    async def restart(self, new_host_key: bool = False) -> None:
        """Drop all connections and listen again on the same port, optionally with a new host key."""
        await self.stop()
        if new_host_key:
            self.host_key = generate_key()
        await self.start()

    async def _cancel_handlers(self) -> None:
        handlers = list(self._handlers)
        for task in handlers:
            task.cancel()
        if handlers:
            await asyncio.wait(handlers, timeout=CLOSE_TIMEOUT)

    def _connection_made(self, conn: asyncssh.SSHServerConnection) -> None:
        self.connections_opened += 1
        self._connections.add(conn)

    def _connection_lost(self, conn: asyncssh.SSHServerConnection) -> None:
        self._connections.discard(conn)

    def _accepts_key(self, username: str, key: asyncssh.SSHKey) -> bool:
        return username == self.username and key.public_data in self._authorized

    def _accepts_password(self, username: str, password: str) -> bool:
        if self.password is None:
            return False
        same = hmac.compare_digest(password.encode(), self.password.encode())
        return username == self.username and same

    async def _serve(self, process: asyncssh.SSHServerProcess[bytes]) -> None:
        """One exec request. Ends when answered, or (hang) when the client or the router goes."""
        task = asyncio.current_task()
        if task is not None:
            self._handlers.add(task)
        self.commands_run += 1
        try:
            if _route(process.command)[0] is _Route.WATCH:
                await self._follow_log(process)
                return
            if _route(process.command)[0] in (_Route.OP_MODE, _Route.SCRIPT):
                if self.hang:
                    await process.channel.wait_closed()
                    return
                if self.dump_race and self._dumping:
                    await self._lose_race(process, _route(process.command)[0])
                    return
                self._dumping += 1
                try:
                    if self.latency > 0:
                        await asyncio.sleep(self.latency)
                finally:
                    self._dumping -= 1
            answer = self.answer(process.command)  # after the latency: the ages a late answer shows
            process.stdout.write(answer.stdout)
            if answer.stderr:
                process.stderr.write(answer.stderr)
            process.exit(answer.exit_status)
        except (OSError, asyncssh.Error):
            # The client left while we were sleeping: nobody to answer, but tests may want to know.
            self.abandoned_commands += 1
        finally:
            if task is not None:
                self._handlers.discard(task)

    async def _lose_race(self, process: asyncssh.SSHServerProcess[bytes], route: _Route) -> None:
        """VyOS's op-mode found no dump file (the other reader deleted it) and gave up."""
        await asyncio.sleep(self.race_seconds)
        self.races_lost += 1
        kind = VrrpMessage.DUMP_RACE
        process.stdout.write(render_message(kind, self.version).encode())
        # Through vyatta-op-cmd-wrapper the exit status is the wrapper's own 0, as for any answer.
        process.exit(0 if route is _Route.OP_MODE else message_exit_status(kind, self.version))

    async def _follow_log(self, process: asyncssh.SSHServerProcess[bytes]) -> None:
        """Stream keepalived's log lines until the client goes or end_watches() is called."""
        queue: asyncio.Queue[str | None] = asyncio.Queue(maxsize=1000)
        self._watchers.add(queue)
        closed = asyncio.ensure_future(process.channel.wait_closed())
        try:
            while True:
                getter = asyncio.ensure_future(queue.get())
                done, _ = await asyncio.wait({getter, closed}, return_when=asyncio.FIRST_COMPLETED)
                if getter not in done:
                    getter.cancel()
                    return
                line = getter.result()
                if line is None:
                    process.exit(1)
                    return
                process.stdout.write(line.encode() + b"\n")
        finally:
            self._watchers.discard(queue)
            closed.cancel()


class _SimServer(asyncssh.SSHServer):
    """Per-connection callbacks; all state lives in the router."""

    def __init__(self, router: SimRouter) -> None:
        self._router = router
        self._conn: asyncssh.SSHServerConnection | None = None

    def connection_made(self, conn: asyncssh.SSHServerConnection) -> None:
        self._conn = conn
        self._router._connection_made(conn)

    def connection_lost(self, exc: Exception | None) -> None:
        if self._conn is not None:
            self._router._connection_lost(self._conn)

    def begin_auth(self, username: str) -> bool:
        return True  # always authenticate: VyOS has no passwordless accounts

    def public_key_auth_supported(self) -> bool:
        return True

    def validate_public_key(self, username: str, key: asyncssh.SSHKey) -> bool:
        return self._router._accepts_key(username, key)

    def password_auth_supported(self) -> bool:
        return self._router.password is not None

    def validate_password(self, username: str, password: str) -> bool:
        accepted = self._router._accepts_password(username, password)
        if accepted and self._router.password_expired:
            # What sshd does for an expired account: the right password, but "change it now".
            raise asyncssh.PasswordChangeRequired("Your password has expired. Choose a new one.")
        return accepted

    def kbdint_auth_supported(self) -> bool:
        return False


# --- a fleet ---------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class RouterSpec:
    """A router to start: its name, its groups (ages as of the start) and its VyOS version."""

    name: str
    groups: tuple[VrrpGroup, ...] = ()
    version: str = "1.4"
    vrrp_config: str | None = None  # `show configuration commands` lines; None: made from `groups`


@dataclass(slots=True)
class _FleetFiles:
    private_key: Path
    known_hosts: Path
    password: Path


class SimFleet(_Started):
    """Several simulated routers sharing one client key pair, plus the files a client needs.

    On start it writes into `directory`: `id_ed25519` (client private key, mode 0600) and
    `known_hosts`; `write_config()` adds an exporter YAML config pointing at the routers.
    """

    def __init__(
        self,
        directory: str | Path,
        routers: Iterable[RouterSpec],
        *,
        clusters: Sequence[ClusterSpec] | None = None,
        username: str = "vyos",
        password: str | None = None,
        host: str = "127.0.0.1",
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.directory = Path(directory)
        self.specs = tuple(routers)
        names = [s.name for s in self.specs]
        if len(set(names)) != len(names):
            raise ValueError("router names in a fleet must be unique")
        self.clusters = tuple(clusters) if clusters is not None else (ClusterSpec("sim", tuple(names)),)
        unknown = sorted({r for c in self.clusters for r in c.routers} - set(names))
        if unknown:
            raise ValueError(f"clusters name routers the fleet does not have: {', '.join(unknown)}")
        self.username = username
        self.password = password
        self.host = host
        self.client_key = generate_key()
        self.routers: dict[str, SimRouter] = {
            s.name: SimRouter(
                s.name,
                s.groups,
                version=s.version,
                authorized_client_keys=[self.client_key],
                username=username,
                password=password,
                host=host,
                clock=clock,
            )
            for s in self.specs
        }
        for spec in self.specs:
            router = self.routers[spec.name]
            router.vrrp_config = spec.vrrp_config if spec.vrrp_config is not None else _default_config(spec)
        self.files = _FleetFiles(
            private_key=self.directory / "id_ed25519",
            known_hosts=self.directory / "known_hosts",
            password=self.directory / "password",
        )

    def __getitem__(self, name: str) -> SimRouter:
        return self.routers[name]

    def __iter__(self) -> Iterator[SimRouter]:
        return iter(self.routers.values())

    def __len__(self) -> int:
        return len(self.routers)

    @property
    def private_key_path(self) -> Path:
        return self.files.private_key

    @property
    def known_hosts_path(self) -> Path:
        return self.files.known_hosts

    async def start(self) -> None:
        """Start every router, then write the client key and known_hosts."""
        self.directory.mkdir(parents=True, exist_ok=True)
        try:
            await asyncio.gather(*(r.start() for r in self.routers.values()))
        except BaseException:
            await self.stop()
            raise
        self._write_private_key()
        self.write_known_hosts()

    async def stop(self) -> None:
        # Stop every router even if one fails, then say what failed.
        results = await asyncio.gather(*(r.stop() for r in self.routers.values()), return_exceptions=True)
        errors = [r for r in results if isinstance(r, BaseException)]
        if errors:
            raise errors[0]

    def _write_private_key(self) -> None:
        path = self.files.private_key
        path.unlink(missing_ok=True)
        # Created 0600 from the start: ssh clients refuse keys that others can read.
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as handle:
            handle.write(self.client_key.export_private_key("openssh"))

    def write_known_hosts(self) -> Path:
        """(Re)write known_hosts with every router's current host key (e.g. after a key change)."""
        lines = [r.host_key_line() for r in self.routers.values()]
        self.files.known_hosts.write_text("".join(f"{line}\n" for line in lines), encoding="ascii")
        return self.files.known_hosts

    def config_dict(
        self,
        *,
        poll_interval: str = "5s",
        timeout: str | None = "3s",
        command: str | None = None,
        password_auth: bool = False,
    ) -> dict[str, Any]:
        """The exporter configuration (DESIGN.md "Configuration (YAML)") for this fleet; `timeout`
        None leaves the exporter's default."""
        ssh: dict[str, Any] = {"username": self.username, "known_hosts": str(self.files.known_hosts.resolve())}
        if password_auth:
            if self.password is None:
                raise ValueError("password_auth needs a fleet created with a password")
            ssh["password_file"] = str(self.files.password.resolve())
        else:
            ssh["private_key"] = str(self.files.private_key.resolve())
        if command is not None:
            ssh["command"] = command
        timing = {"poll_interval": poll_interval} | ({"timeout": timeout} if timeout is not None else {})
        return {**timing, "ssh": ssh, "clusters": [self._cluster_dict(c) for c in self.clusters]}

    def _cluster_dict(self, cluster: ClusterSpec) -> dict[str, Any]:
        routers = [{"name": name, "address": self.host, "port": self.routers[name].port} for name in cluster.routers]
        out: dict[str, Any] = {"name": cluster.name}
        if cluster.preferred_master is not None:
            out["preferred_master"] = cluster.preferred_master
        out["routers"] = routers
        sets = [s for s in cluster.sets if not (s.name == DEFAULT_SET_NAME and s.groups is None)]
        if sets:
            out["sync_sets"] = [_sync_set_dict(s.name, s.groups, s.preferred_master) for s in sets]
        return out

    def write_config(
        self,
        path: str | Path | None = None,
        *,
        poll_interval: str = "5s",
        timeout: str | None = "3s",
        command: str | None = None,
        password_auth: bool = False,
    ) -> Path:
        """Write the exporter YAML config (default `<directory>/config.yml`) and return its path."""
        target = Path(path) if path is not None else self.directory / "config.yml"
        if password_auth and self.password is not None:
            self.files.password.write_text(self.password + "\n", encoding="utf-8")
            self.files.password.chmod(0o600)
        data = self.config_dict(
            poll_interval=poll_interval, timeout=timeout, command=command, password_auth=password_auth
        )
        target.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
        return target


def _default_config(spec: RouterSpec) -> str:
    """A configuration matching the groups: preempt on, no sync-group (the simplest VyOS pair)."""
    groups = [GroupConfig(g.name, g.interface or "eth0", g.vrid or 1, g.priority) for g in spec.groups]
    return render_vrrp_config(groups, {}, spec.version)


def _sync_set_dict(name: str, groups: tuple[str, ...] | None, preferred: str | None) -> dict[str, Any]:
    out: dict[str, Any] = {"name": name, "groups": list(groups or ())}
    if preferred is not None:
        out["preferred_master"] = preferred
    return out
