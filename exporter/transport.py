"""SSH transport: one persistent asyncssh connection per router, reused across polls.

The only module that imports asyncssh. Every failure leaves as a TransportError whose `reason` is
the `vrrp_poll_errors_total` label, so callers never see asyncssh's exception zoo.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import socket
import time
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import asyncssh
import structlog

from .errors import PollErrorReason, TransportError
from .model import CommandResult
from .targets import SshTarget

log = structlog.get_logger("exporter.transport")

MAX_OUTPUT_BYTES = 1 << 20  # `show vrrp` with 1,000 groups is ~70 KB; anything past 1 MiB is not VyOS
MAX_STDERR_BYTES = 4096
BACKOFF_BASE_SECONDS = 1.0
BACKOFF_CAP_SECONDS = 30.0
# Handshakes (key exchange and authentication) in flight at once, across all routers. They are
# CPU-bound on both ends: at start-up, 1,000 at once all ran past the timeout together and none
# ever finished; a few at a time, each takes milliseconds (docs/performance.md).
MAX_CONCURRENT_HANDSHAKES = 16
# asyncssh's default ciphers with AES-GCM first: through `cryptography` it costs about a quarter
# less CPU per poll than chacha20-poly1305 (asyncssh's first choice), and every OpenSSH has it.
ENCRYPTION_ALGS = (
    "aes128-gcm@openssh.com",
    "aes256-gcm@openssh.com",
    "chacha20-poly1305@openssh.com",
    "aes256-ctr",
    "aes192-ctr",
    "aes128-ctr",
)
# Reasons that mean "could not get a session": those back off; a failed command does not.
_CONNECT_REASONS = {
    PollErrorReason.CONNECT,
    PollErrorReason.TIMEOUT,
    PollErrorReason.AUTH,
    PollErrorReason.HOSTKEY,
}


def backoff_delay(failures: int, rng: Callable[[], float] = random.random) -> float:
    """Capped exponential backoff with equal jitter: half fixed, half random, so routers spread out."""
    ceiling = min(BACKOFF_CAP_SECONDS, BACKOFF_BASE_SECONDS * 2.0 ** max(failures - 1, 0))
    return ceiling / 2 + rng() * ceiling / 2


@dataclass(slots=True)
class _RouterLink:
    target: SshTarget
    conn: asyncssh.SSHClientConnection | None = None
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    failures: int = 0
    retry_at: float = 0.0  # monotonic time before which no reconnect is tried
    last_error: TransportError | None = None


def _read_secret(path: Path | None, env_name: str | None) -> str | None:
    """Secrets are read at connect time (rotation needs no restart) and never logged."""
    if path is not None:
        try:
            return path.read_text(encoding="utf-8").rstrip("\r\n")
        except OSError as exc:
            raise TransportError(f"cannot read secret file {path}: {exc.strerror}", PollErrorReason.AUTH) from exc
    if env_name is not None:
        value = os.environ.get(env_name)
        if value is None:
            raise TransportError(f"environment variable {env_name} is not set", PollErrorReason.AUTH)
        return value
    return None


def _connect_options(
    target: SshTarget, keys: Sequence[asyncssh.SSHKey], known_hosts: asyncssh.SSHKnownHosts | tuple[()] | None
) -> dict[str, Any]:
    options: dict[str, Any] = {
        "host": target.address,
        "port": target.port,
        "username": target.username,
        "keepalive_interval": target.keepalive_interval,
        "keepalive_count_max": 3,
        "config": None,  # a daemon must not pick up whatever ~/.ssh/config says
        "known_hosts": known_hosts,
        "encryption_algs": ENCRYPTION_ALGS,
    }
    if target.private_key is not None:
        options["client_keys"] = list(keys)
        options["agent_path"] = None
    password = _read_secret(target.password_file, target.password_env)
    if password is not None:
        options["password"] = password
        if target.private_key is None:
            options["client_keys"] = None
            options["agent_path"] = None
    return options


async def _tcp_connect(host: str, port: int) -> socket.socket:
    """A connected, non-blocking TCP socket to the first address of `host` that answers."""
    loop = asyncio.get_running_loop()
    infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    last: OSError = OSError(f"no address for {host}")
    for family, kind, proto, _, address in infos:
        sock = socket.socket(family, kind, proto)
        sock.setblocking(False)
        try:
            await loop.sock_connect(sock, address)
        except OSError as exc:
            sock.close()
            last = exc
            continue
        except BaseException:  # cancelled or timed out: do not leak the socket, then go on unwinding
            sock.close()
            raise
        return sock
    raise last


def classify(exc: BaseException, address: str) -> TransportError:
    """Map an exception from connect/run to a TransportError with the right `reason`."""
    if isinstance(exc, TransportError):
        return exc
    if isinstance(exc, TimeoutError):
        return TransportError("timed out", PollErrorReason.TIMEOUT)
    if isinstance(exc, asyncssh.HostKeyNotVerifiable):
        return TransportError(f"host key not verifiable: {exc.reason}", PollErrorReason.HOSTKEY)
    if isinstance(exc, asyncssh.PermissionDenied):
        return TransportError(f"authentication refused: {exc.reason}", PollErrorReason.AUTH)
    if isinstance(exc, asyncssh.KeyImportError | asyncssh.KeyEncryptionError):
        return TransportError(f"cannot load private key: {exc}", PollErrorReason.AUTH)
    if isinstance(exc, asyncssh.ChannelOpenError):
        return TransportError(f"cannot open a session channel: {exc.reason}", PollErrorReason.COMMAND)
    if isinstance(exc, asyncssh.DisconnectError):
        return TransportError(f"disconnected: {exc.reason}", PollErrorReason.CONNECT)
    if isinstance(exc, OSError):
        detail = exc.strerror or str(exc) or type(exc).__name__
        return TransportError(f"cannot connect to {address}: {detail}", PollErrorReason.CONNECT)
    return TransportError(f"{type(exc).__name__}: {exc}", PollErrorReason.CONNECT)


MAX_WATCH_LINE_BYTES = 4096


async def _read_lines(stream: asyncssh.SSHReader[bytes], on_line: Callable[[str], None]) -> None:
    """Split a byte stream into lines; an overlong line is cut, never buffered without bound."""
    pending = b""
    while chunk := await stream.read(65536):
        *lines, pending = (pending + chunk).split(b"\n")
        for line in lines:
            on_line(line[:MAX_WATCH_LINE_BYTES].decode("utf-8", "replace").rstrip("\r"))
        if len(pending) > MAX_WATCH_LINE_BYTES:
            on_line(pending[:MAX_WATCH_LINE_BYTES].decode("utf-8", "replace"))
            pending = b""


class SshTransport:
    """Connection manager. `run()` is safe to call concurrently for different routers."""

    def __init__(self, max_output_bytes: int = MAX_OUTPUT_BYTES, clock: Callable[[], float] = time.monotonic):
        self._links: dict[tuple[str, str], _RouterLink] = {}
        self._max_output = max_output_bytes
        self._clock = clock
        self._keys: dict[tuple[str, int, int, str | None], asyncssh.SSHKey | TransportError] = {}
        self._known_hosts: dict[str, tuple[tuple[int, int, int, int], asyncssh.SSHKnownHosts]] = {}
        self._handshakes = asyncio.Semaphore(MAX_CONCURRENT_HANDSHAKES)

    async def run(self, target: SshTarget, time_limit: float, command: str | None = None) -> CommandResult:
        """Run `command` (default: the router's `show vrrp` command) on the router's connection;
        connecting (or reusing a connection) counts against `time_limit`."""
        link = self._link(target)
        async with link.lock:
            await self._warm_keys(link, target)
            conn, deadline = await self._open(link, target, time_limit)
            async with self._classified(link, target), asyncio.timeout_at(deadline):
                return await self._execute(conn, command or target.command)

    async def watch(
        self,
        target: SshTarget,
        time_limit: float,
        on_line: Callable[[str], None],
        on_open: Callable[[], None] = lambda: None,
    ) -> None:
        """Run the router's `watch_command` on its session and call `on_line` for every output line.

        Returns never: when the stream ends (command exit, lost session) it raises TransportError,
        so the caller restarts it with backoff. Lines are bounded; the poll lock is held only while
        the session is (re)established, so polls keep running beside the stream.
        """
        assert target.watch_command is not None
        link = self._link(target)
        async with link.lock:
            await self._warm_keys(link, target)
            conn, deadline = await self._open(link, target, time_limit)
            async with self._classified(link, target), asyncio.timeout_at(deadline):
                proc = await conn.create_process(target.watch_command, encoding=None, stdin=asyncssh.DEVNULL)
        on_open()
        try:
            async with self._classified(link, target):
                await _read_lines(proc.stdout, on_line)
                completed = await proc.wait(check=False)
                detail = (await proc.stderr.read(MAX_STDERR_BYTES)).decode("utf-8", "replace").strip().splitlines()
        finally:
            proc.close()
        status = completed.exit_status
        raise TransportError(
            f"watch command ended (exit status {status}){': ' + detail[0][:200] if detail else ''}",
            PollErrorReason.COMMAND,
        )

    async def _open(
        self, link: _RouterLink, target: SshTarget, time_limit: float
    ) -> tuple[asyncssh.SSHClientConnection, float]:
        """The router's connection, and the deadline of this call: `time_limit` from now, or, when
        a handshake is needed, from the moment a handshake slot is free (the queue is ours).

        The TCP connect comes first, outside the handshake slots: a router that black-holes SYNs
        (a site outage) waits out its own time limit without holding a slot that the handshakes
        of reachable routers need."""
        loop = asyncio.get_running_loop()
        if link.conn is not None and not link.conn.is_closed():
            return link.conn, loop.time() + time_limit
        link.conn = None
        self._check_backoff(link)
        sock = await self._tcp(link, target, time_limit)
        try:
            async with self._handshakes:
                deadline = loop.time() + time_limit
                async with self._classified(link, target), asyncio.timeout_at(deadline):
                    return await self._connection(link, sock), deadline
        finally:
            if link.conn is None:
                sock.close()  # the handshake never started or failed: asyncssh may not own it

    def _check_backoff(self, link: _RouterLink) -> None:
        now = self._clock()
        if now < link.retry_at and link.last_error is not None:
            wait = link.retry_at - now
            raise TransportError(f"{link.last_error.message} (next reconnect in {wait:.1f}s)", link.last_error.reason)

    async def _tcp(self, link: _RouterLink, target: SshTarget, time_limit: float) -> socket.socket:
        try:
            async with asyncio.timeout(time_limit):
                return await _tcp_connect(target.address, target.port)
        except (OSError, TimeoutError) as exc:
            error = classify(exc, f"{target.address}:{target.port}")
            self._failed(link, error)
            raise error from exc

    def _known_hosts_for(self, target: SshTarget) -> asyncssh.SSHKnownHosts | tuple[()] | None:
        """Host keys to verify against, parsed once per file version.

        Given a path, asyncssh reads and parses the whole file on every connect: with one line per
        router, 1,000 connects parsed a million lines (27 ms each, 72% of the first round's CPU)."""
        if target.insecure_ignore_host_key:
            return None
        if target.known_hosts is None:
            return ()  # asyncssh uses ~/.ssh/known_hosts: still verified, never a silent bypass
        path = str(target.known_hosts)
        try:
            stat = os.stat(path)
            version = (stat.st_mtime_ns, stat.st_ctime_ns, stat.st_size, stat.st_ino)
            cached = self._known_hosts.get(path)
            if cached is None or cached[0] != version:
                cached = self._known_hosts[path] = (version, asyncssh.read_known_hosts(path))
        except (OSError, ValueError) as exc:  # unreadable or malformed: nothing to verify against
            detail = exc.strerror if isinstance(exc, OSError) else str(exc)
            raise TransportError(f"cannot read known_hosts {path}: {detail}", PollErrorReason.HOSTKEY) from exc
        return cached[1]

    async def _warm_keys(self, link: _RouterLink, target: SshTarget) -> None:
        """Load the key before a connect, outside the time limit: decrypting one (bcrypt KDF,
        ~0.1-1 s) is our cost, not the router's. Afterwards `_client_keys` is a cache hit."""
        if link.conn is None or link.conn.is_closed():
            async with self._classified(link, target):
                await self._client_keys(target)

    @contextlib.asynccontextmanager
    async def _classified(self, link: _RouterLink, target: SshTarget) -> AsyncIterator[None]:
        """Turn whatever asyncssh or the OS raises into a TransportError with the right reason."""
        try:
            yield
        except TransportError:
            raise
        except (Exception, TimeoutError) as exc:
            error = classify(exc, f"{target.address}:{target.port}")
            if error.reason in _CONNECT_REASONS or isinstance(exc, asyncssh.DisconnectError):
                # The session may be half-dead (a hung command, a lost peer): start clean.
                await self._drop(link)
            raise error from exc

    def _link(self, target: SshTarget) -> _RouterLink:
        key = (target.cluster, target.router)
        link = self._links.get(key)
        if link is None:
            link = self._links[key] = _RouterLink(target)
        elif link.target != target:
            # Address, user, key... changed by a reload: the old session belongs to the old settings.
            self._close_soon(link)
            link = self._links[key] = _RouterLink(target)
        return link

    async def _client_keys(self, target: SshTarget) -> list[asyncssh.SSHKey]:
        """The router's private key, read and decrypted once per file version and passphrase."""
        path = target.private_key
        if path is None:
            return []
        passphrase = _read_secret(target.passphrase_file, target.passphrase_env)
        try:
            stat = path.stat()
        except OSError as exc:
            raise TransportError(f"cannot read private key {path}: {exc.strerror}", PollErrorReason.AUTH) from exc
        cache_key = (str(path), stat.st_mtime_ns, stat.st_size, passphrase)
        cached = self._keys.get(cache_key)
        if cached is None:
            try:
                cached = await asyncio.to_thread(asyncssh.read_private_key, str(path), passphrase)
            except OSError as exc:
                cached = TransportError(f"cannot read private key {path}: {exc.strerror}", PollErrorReason.AUTH)
            except (asyncssh.KeyImportError, asyncssh.KeyEncryptionError) as exc:
                cached = classify(exc, str(path))
            # One entry per file: a new version (or passphrase) replaces the old one. A failure is
            # cached too, so a wrong passphrase costs one bcrypt run, not one per poll.
            self._keys = {k: v for k, v in self._keys.items() if k[0] != str(path)}
            self._keys[cache_key] = cached
        if isinstance(cached, TransportError):
            raise TransportError(cached.message, cached.reason)  # a fresh one: no traceback pile-up
        return [cached]

    async def _connection(self, link: _RouterLink, sock: socket.socket) -> asyncssh.SSHClientConnection:
        """The SSH handshake on a connected socket (the caller holds a handshake slot)."""
        target = link.target
        if target.insecure_ignore_host_key:
            log.warning("host_key_check_disabled", cluster=target.cluster, router=target.router, address=target.address)
        try:
            keys = await self._client_keys(target)  # from the cache _warm_keys filled
            options = _connect_options(target, keys, self._known_hosts_for(target))
            link.conn = await asyncssh.connect(sock=sock, **options)
        except TransportError as exc:
            self._failed(link, exc)
            raise
        except (Exception, TimeoutError, asyncio.CancelledError) as exc:
            if isinstance(exc, asyncio.CancelledError):
                self._failed(link, TransportError("timed out", PollErrorReason.TIMEOUT))
                raise
            error = classify(exc, f"{target.address}:{target.port}")
            self._failed(link, error)
            raise error from exc
        link.failures = 0
        link.last_error = None
        log.debug(
            "ssh_connected", cluster=target.cluster, router=target.router, address=target.address, port=target.port
        )
        return link.conn

    def _failed(self, link: _RouterLink, error: TransportError) -> None:
        link.failures += 1
        link.last_error = error
        link.retry_at = self._clock() + backoff_delay(link.failures)

    async def _execute(self, conn: asyncssh.SSHClientConnection, command: str) -> CommandResult:
        proc = await conn.create_process(command, encoding=None, stdin=asyncssh.DEVNULL)
        try:
            stdout = await self._read_bounded(proc.stdout, self._max_output, "output")
            stderr = await self._read_bounded(proc.stderr, MAX_STDERR_BYTES, None)
            completed = await proc.wait(check=False)
        finally:
            # Not `async with`: its exit awaits the channel close, which a hung peer never sends.
            proc.close()
        if completed.exit_status is None:
            # No exit status: the output may be cut anywhere, so it must not reach the parser.
            if conn.is_closed():
                raise TransportError("connection lost while the command ran", PollErrorReason.CONNECT)
            signal = completed.exit_signal[0] if completed.exit_signal else "none"
            raise TransportError(f"command ended without an exit status (signal {signal})", PollErrorReason.COMMAND)
        return CommandResult(
            stdout=stdout.decode("utf-8", errors="replace"),
            stderr=stderr.decode("utf-8", errors="replace"),
            exit_status=completed.exit_status,
        )

    @staticmethod
    async def _read_bounded(stream: asyncssh.SSHReader[bytes], limit: int, what: str | None) -> bytes:
        """Read to EOF, at most `limit` bytes. Past it: fail (stdout) or truncate (stderr)."""
        chunks: list[bytes] = []
        total = 0
        while chunk := await stream.read(65536):
            total += len(chunk)
            if total > limit:
                if what is None:
                    chunks.append(chunk[: limit - (total - len(chunk))])
                    break
                raise TransportError(f"command {what} exceeds {limit} bytes", PollErrorReason.COMMAND)
            chunks.append(chunk)
        return b"".join(chunks)

    async def _drop(self, link: _RouterLink) -> None:
        conn, link.conn = link.conn, None
        if conn is not None:
            conn.abort()  # no graceful close: the peer may be the thing that hangs

    def _close_soon(self, link: _RouterLink) -> None:
        if link.conn is not None:
            link.conn.close()
            link.conn = None

    async def forget(self, keep: set[tuple[str, str]]) -> None:
        """Close connections of routers no longer configured (after a reload)."""
        for key in [k for k in self._links if k not in keep]:
            link = self._links.pop(key)
            await self._close(link)

    async def _close(self, link: _RouterLink) -> None:
        conn, link.conn = link.conn, None
        if conn is None:
            return
        conn.close()
        try:
            async with asyncio.timeout(2.0):
                await conn.wait_closed()
        except TimeoutError:
            conn.abort()

    async def close(self) -> None:
        """Close every connection (shutdown)."""
        links = list(self._links.values())
        self._links.clear()
        await asyncio.gather(*(self._close(link) for link in links))
