"""Hostile HTTP clients against the real server (guard + aiohttp), and exporter-toolkit parity.

Every attack is bounded in connections, bytes and time; RSS is this process's (server and
attackers share it), compared with a baseline taken just before each attack. Measured figures go
to the end-of-run report (tests/reporting.py), never into assertions beyond generous ceilings.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import datetime
import gc
import gzip
import os
import re
import signal
import socket
import ssl
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import aiohttp
import bcrypt
import pytest
import reporting
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from exporter.config import parse_config
from exporter.service import Exporter
from exporter.web import guard
from exporter.web.http import accepts_gzip
from exporter.web.webconfig import WebConfigError, load_web_config

TABLE = "hostile HTTP (one process: exporter and attackers)"
CONFIG = (
    "ssh: {insecure_ignore_host_key: true}\nclusters: [{name: c, routers: [{name: r, address: 127.0.0.1, port: 1}]}]\n"
)
FIXTURES = Path(__file__).parent / "fixtures" / "webconfig_toolkit"
BODY_BYTES = 2_000_000  # a /metrics body of ~2,000 groups


def rss_mb() -> float:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    raise AssertionError("no VmRSS in /proc/self/status")


class BigExposition:
    """A fresh multi-MB body per scrape, as the real encoder makes (never one shared object)."""

    def __init__(self, size: int = BODY_BYTES) -> None:
        line = b'vrrp_group_state{group="VLAN100",interface="eth1",router="vyos01",state="MASTER"} 1\n'
        self._template = line * (size // len(line))

    def encode(self, accept: str) -> tuple[list[bytes], str]:
        return [bytes(self._template)], "text/plain; version=0.0.4; charset=utf-8"


@contextlib.asynccontextmanager
async def serving(
    big: bool = True, header_timeout: float = guard.HEADER_TIMEOUT_SECONDS, **start: object
) -> AsyncIterator[Exporter]:
    exporter = Exporter(parse_config(CONFIG))
    if big:
        exporter.exposition = BigExposition()  # type: ignore[assignment]
    await exporter.start(start.pop("listen", "127.0.0.1:0"), header_timeout=header_timeout, **start)  # type: ignore[arg-type]
    try:
        yield exporter
    finally:
        await exporter.stop()


async def timed_scrape(port: int, source: str = "127.0.0.2") -> float:
    """One /metrics scrape from `source` (another loopback address than the attackers'), in seconds."""
    connector = aiohttp.TCPConnector(local_addr=(source, 0), force_close=True)
    started = time.monotonic()
    timeout = aiohttp.ClientTimeout(total=10)
    async with (
        aiohttp.ClientSession(connector=connector, timeout=timeout) as session,
        session.get(f"http://127.0.0.1:{port}/metrics") as response,
    ):
        assert response.status == 200
        await response.read()
    return time.monotonic() - started


def settle() -> float:
    gc.collect()
    return rss_mb()


async def sample_peak(stop: asyncio.Event, peak: list[float]) -> None:
    while not stop.is_set():
        peak[0] = max(peak[0], rss_mb())
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), 0.05)


def raw_socket(source: str = "127.0.0.1", rcvbuf: int | None = None) -> socket.socket:
    sock = socket.socket()
    if rcvbuf is not None:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
    sock.bind((source, 0))
    sock.setblocking(False)
    return sock


# --- 1. backpressure: pipelined GET /metrics that are never read --------------------------------


async def test_pipelined_non_reading_clients_do_not_grow_memory() -> None:
    loop = asyncio.get_running_loop()
    async with serving() as exporter:
        await timed_scrape(exporter.port)  # warm up: first-scrape allocations are not the attack's
        base = settle()
        peak = [base]
        stop = asyncio.Event()
        sampler = asyncio.create_task(sample_peak(stop, peak))
        attackers = []
        request = b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n" * 300  # 300 pipelined, ~10 KB
        for _ in range(3):
            sock = raw_socket(rcvbuf=4096)
            await loop.sock_connect(sock, ("127.0.0.1", exporter.port))
            with contextlib.suppress(BlockingIOError):
                sock.send(request)
            attackers.append(sock)
        latencies = []
        for _ in range(5):  # Prometheus keeps scraping while the attack holds
            latencies.append(await timed_scrape(exporter.port))
            await asyncio.sleep(0.3)
        stop.set()
        await sampler
        for sock in attackers:
            sock.close()
        await asyncio.sleep(0.5)
        after = settle()
    reporting.add_line(
        TABLE,
        f"3 conns x 300 pipelined GET /metrics ({BODY_BYTES / 1e6:.0f} MB body), never read: RSS {base:.0f} -> peak"
        f" {peak[0]:.0f} -> after {after:.0f} MB; scrapes meanwhile {min(latencies) * 1000:.0f}-"
        f"{max(latencies) * 1000:.0f} ms",
    )
    assert peak[0] - base < 64, f"RSS grew {peak[0] - base:.0f} MB under a non-reading pipelining client"
    assert after - base < 20


async def test_small_bodies_wait_for_the_client_too() -> None:
    """Bodies under aiohttp's 64 KiB drain threshold: before, these were never throttled."""
    loop = asyncio.get_running_loop()
    async with serving(big=False) as exporter:
        exporter.exposition = BigExposition(20_000)  # type: ignore[assignment]
        assert exporter._runner is not None
        base = settle()
        sock = raw_socket(rcvbuf=4096)
        await loop.sock_connect(sock, ("127.0.0.1", exporter.port))
        request = b"GET /-/healthy HTTP/1.1\r\nHost: x\r\n\r\n" + b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n" * 5000
        sent = 0
        with contextlib.suppress(BlockingIOError):
            sent = sock.send(request)
        await asyncio.sleep(2.0)
        peak = rss_mb()
        sock.close()
        await asyncio.sleep(0.3)
        after = settle()
    reporting.add_line(
        TABLE,
        f"1 conn, {sent // 35} pipelined GET /metrics (20 KB body), never read: RSS {base:.0f} -> {peak:.0f} ->"
        f" after {after:.0f} MB",
    )
    assert peak - base < 32


async def test_a_client_that_stops_reading_is_dropped_after_the_stall_deadline() -> None:
    loop = asyncio.get_running_loop()
    async with serving() as exporter:
        assert exporter.listener is not None
        exporter.listener.limits.write_stall_timeout = 0.5
        sock = raw_socket(rcvbuf=4096)
        await loop.sock_connect(sock, ("127.0.0.1", exporter.port))
        sock.send(b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n")
        async with asyncio.timeout(5):
            while exporter.listener.limits.active:
                await asyncio.sleep(0.05)
        sock.close()
        assert await timed_scrape(exporter.port) < 5  # its /metrics slot was given back


# --- 2. HEAD --------------------------------------------------------------------------------------


def _split_responses(data: bytes, heads: list[bool]) -> list[tuple[int, dict[str, str], bytes]]:
    """Parse responses off one connection; `heads[i]`: the i-th answered a HEAD (no body)."""
    out = []
    for is_head in heads:
        head, sep, data = data.partition(b"\r\n\r\n")
        assert sep, f"truncated response stream: {head[:200]!r}"
        lines = head.decode("latin-1").split("\r\n")
        status = int(lines[0].split()[1])
        headers = {k.lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:])}
        length = 0 if is_head else int(headers.get("content-length", "0"))
        out.append((status, headers, data[:length]))
        data = data[length:]
    assert data == b"", f"bytes after the last response: {data[:80]!r}"
    return out


@pytest.mark.parametrize("path", ["/metrics", "/", "/-/healthy"])
async def test_head_has_no_body_and_keeps_the_connection_in_sync(path: str) -> None:
    async with serving(big=False) as exporter:
        reader, writer = await asyncio.open_connection("127.0.0.1", exporter.port)
        writer.write(
            f"HEAD {path} HTTP/1.1\r\nHost: x\r\n\r\n".encode()
            + b"GET /-/healthy HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
        )
        async with asyncio.timeout(5):
            data = await reader.read(-1)
        writer.close()
    (status, headers, _), (status2, _, body2) = _split_responses(data, [True, False])
    assert status == 200 and int(headers["content-length"]) > 0
    assert status2 == 200 and body2 == b"Healthy.\n"


# --- 3. header bytes --------------------------------------------------------------------------------


async def test_header_bytes_are_bounded() -> None:
    async with serving(big=False) as exporter:
        url = f"http://127.0.0.1:{exporter.port}/-/healthy"
        async with aiohttp.ClientSession() as session:
            fine = {f"X-Fine-{i}": "a" * 4000 for i in range(3)}  # 12 KB: allowed
            async with session.get(url, headers=fine) as response:
                assert response.status == 200
            big = {f"X-Big-{i}": "a" * 4000 for i in range(6)}  # 24 KB: over 16 KiB in total
            with contextlib.suppress(aiohttp.ClientError):  # a 431, or the close if it came first
                async with session.get(url, headers=big) as response:
                    assert response.status == 431


async def test_slow_one_megabyte_header_clients() -> None:
    """400 clients (50 from each of 8 loopback addresses) each trying to send ~1 MB of headers."""
    loop = asyncio.get_running_loop()
    async with serving(big=False) as exporter:
        base = settle()
        peak = [base]
        stop = asyncio.Event()
        sampler = asyncio.create_task(sample_peak(stop, peak))
        socks = []
        for i in range(400):
            sock = raw_socket(source=f"127.0.0.{1 + i % 8}")
            await loop.sock_connect(sock, ("127.0.0.1", exporter.port))
            sock.send(b"GET /metrics HTTP/1.1\r\nHost: x\r\n")
            socks.append(sock)
        chunk = b"".join(b"X-Pad-%d: %s\r\n" % (n, b"a" * 1000) for n in range(8))  # ~8 KB
        cut = set()
        deadline = time.monotonic() + 8
        for _ in range(128):  # up to ~1 MB each, in rounds
            if len(cut) == len(socks) or time.monotonic() > deadline:
                break
            for n, sock in enumerate(socks):
                if n in cut:
                    continue
                try:
                    sock.send(chunk)
                except (BlockingIOError, InterruptedError):
                    continue
                except OSError:
                    cut.add(n)
            await asyncio.sleep(0.02)
        answered = 0
        for sock in socks:
            with contextlib.suppress(OSError):
                answered += sock.recv(64).startswith(b"HTTP/1.1 431")
            sock.close()
        latency = await timed_scrape(exporter.port)
        stop.set()
        await sampler
        await asyncio.sleep(0.3)
        after = settle()
    reporting.add_line(
        TABLE,
        f"400 slow clients x ~1 MB of headers: RSS {base:.0f} -> peak {peak[0]:.0f} -> after {after:.0f} MB;"
        f" {answered} answered 431, {len(cut)} saw the close while sending; scrape after {latency * 1000:.0f} ms",
    )
    assert peak[0] - base < 64
    assert after - base < 20


# --- 4. per-client connection cap, slow second request ------------------------------------------------


async def test_one_address_cannot_lock_out_scrapers() -> None:
    loop = asyncio.get_running_loop()
    async with serving(big=False) as exporter:
        assert exporter.listener is not None
        flood = []
        started = time.monotonic()
        for _ in range(600):
            sock = raw_socket()
            with contextlib.suppress(OSError):
                await asyncio.wait_for(loop.sock_connect(sock, ("127.0.0.1", exporter.port)), 2)
            flood.append(sock)
        await asyncio.sleep(0.2)
        latencies = [await timed_scrape(exporter.port) for _ in range(20)]  # from 127.0.0.2
        limits = exporter.listener.limits
        held, refused = limits.per_client.get("127.0.0.1", 0), limits.refused
        for sock in flood:
            sock.close()
        flood_seconds = time.monotonic() - started
    latencies.sort()
    reporting.add_line(
        TABLE,
        f"600 idle conns from 127.0.0.1: {held} held, {refused} refused; 20/20 scrapes from 127.0.0.2 ok,"
        f" median {latencies[10] * 1000:.0f} ms, max {latencies[-1] * 1000:.0f} ms ({flood_seconds:.1f} s)",
    )
    assert held == guard.MAX_CONNECTIONS_PER_CLIENT
    assert refused >= 600 - guard.MAX_CONNECTIONS_PER_CLIENT


async def test_slow_second_request_on_a_kept_alive_connection_is_cut() -> None:
    async with serving(big=False, header_timeout=0.5) as exporter:
        reader, writer = await asyncio.open_connection("127.0.0.1", exporter.port)
        writer.write(b"GET /-/healthy HTTP/1.1\r\nHost: x\r\n\r\n")
        async with asyncio.timeout(5):
            assert (await reader.readuntil(b"Healthy.\n")).startswith(b"HTTP/1.1 200")
        await asyncio.sleep(0.8)  # idle between requests: keep-alive rules, not the header deadline
        writer.write(b"GET /-/healthy HTTP/1.1\r\nHost: x\r\n")
        started = time.monotonic()
        closed = False
        for _ in range(20):  # trickling a header line every 0.1 s does not extend the deadline
            writer.write(b"X-Slow: 1\r\n")
            try:
                if await asyncio.wait_for(reader.read(1), 0.1) == b"":
                    closed = True
                    break
            except TimeoutError:
                continue
            except ConnectionResetError:
                closed = True
                break
        writer.close()
    assert closed, "the second request was never cut off"
    assert time.monotonic() - started < 1.5


# --- 5. gzip ---------------------------------------------------------------------------------------------


def test_accept_encoding_parsing() -> None:
    assert accepts_gzip("gzip")
    assert accepts_gzip("identity, gzip;q=0.5")
    assert accepts_gzip("*")
    assert not accepts_gzip("gzip;q=0")
    assert not accepts_gzip("gzip;q=0, *")  # an explicit refusal wins over the wildcard
    assert not accepts_gzip("br, deflate")
    assert not accepts_gzip("")


async def test_metrics_gzip() -> None:
    async with serving() as exporter:
        url = f"http://127.0.0.1:{exporter.port}/metrics"
        async with aiohttp.ClientSession(auto_decompress=False) as session:
            started = time.monotonic()
            async with session.get(url, headers={"Accept-Encoding": "gzip"}) as response:  # what Prometheus sends
                compressed = await response.read()
                assert response.headers["Content-Encoding"] == "gzip"
                assert response.headers["Vary"] == "Accept-Encoding"
            gzip_ms = (time.monotonic() - started) * 1000
            async with session.get(url, headers={"Accept-Encoding": "identity"}) as response:
                plain = await response.read()
                assert "Content-Encoding" not in response.headers
            async with session.head(url, headers={"Accept-Encoding": "gzip"}) as response:
                assert int(response.headers["Content-Length"]) == len(compressed)
    assert gzip.decompress(compressed) == plain
    reporting.add_line(
        TABLE, f"gzip /metrics: {len(plain) / 1e6:.1f} MB -> {len(compressed) / 1e3:.0f} kB in {gzip_ms:.0f} ms"
    )


# --- 6. listen addresses, systemd socket ---------------------------------------------------------------------


async def test_several_listen_addresses() -> None:
    async with serving(big=False, listen=["127.0.0.1:0", "127.0.0.2:0"]) as exporter:
        assert [host for host, _ in exporter.bound] == ["127.0.0.1", "127.0.0.2"]
        async with aiohttp.ClientSession() as session:
            for host, port in exporter.bound:
                async with session.get(f"http://{host}:{port}/-/healthy") as response:
                    assert response.status == 200


def test_systemd_socket_activation(tmp_path: Path) -> None:
    config = tmp_path / "c.yml"
    config.write_text(CONFIG)
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)
    port = listener.getsockname()[1]
    # The wrapper becomes the exporter (exec keeps the pid), with the socket at fd 3 as systemd does.
    wrapper = (
        "import os, sys; fd = int(sys.argv[1]); os.dup2(fd, 3); os.close(fd);"
        " os.environ.update(LISTEN_PID=str(os.getpid()), LISTEN_FDS='1');"
        " os.execv(sys.executable, [sys.executable, '-m', 'exporter', *sys.argv[2:]])"
    )
    args = [sys.executable, "-c", wrapper, str(listener.fileno()), f"--config.file={config}", "--web.systemd-socket"]
    proc = subprocess.Popen(args, pass_fds=[listener.fileno()], stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    listener.close()  # the child holds it now
    try:
        deadline = time.monotonic() + 20
        status = None
        while time.monotonic() < deadline and status is None and proc.poll() is None:
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=2) as conn:
                conn.sendall(b"GET /-/healthy HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
                reply = conn.recv(200)
                status = reply.split(b" ")[1] if reply else None
            time.sleep(0.1)
        assert status == b"200", proc.stdout.read().decode() if proc.poll() is not None and proc.stdout else status
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            assert proc.wait(10) == 0
        finally:
            proc.kill()


def test_systemd_socket_without_sockets_is_a_clear_error(tmp_path: Path) -> None:
    config = tmp_path / "c.yml"
    config.write_text(CONFIG)
    env = {k: v for k, v in os.environ.items() if not k.startswith("LISTEN_")}
    done = subprocess.run(
        [sys.executable, "-m", "exporter", f"--config.file={config}", "--web.systemd-socket"],
        capture_output=True,
        text=True,
        timeout=30,
        env=env,
    )
    assert done.returncode == 2
    assert "no socket activation file descriptors found" in done.stderr
    assert "Traceback" not in done.stderr


def test_every_web_flag_has_help() -> None:
    from exporter.cli import serve_parser

    for action in serve_parser()._actions:
        if any(o.startswith("--web.") for o in action.option_strings):
            assert action.help, action.option_strings


# --- 7. web config: the exporter-toolkit's own testdata as the table ----------------------------------------

# file -> (the toolkit accepts it, what its error says: a regex, None when accepted). "The toolkit" is
# web/tls_config.go at 0089e786 with the expectations of web/tls_config_test.go at 01a67209; the
# look-up index also holds files of other versions, judged as that code judges them (noted below).
TOOLKIT = {
    "web_config_noAuth.good.yml": (True, None),
    "web_config_noAuth.good.blocking.yml": (True, None),
    "web_config_noAuth_tlsInline.good.yml": (True, None),
    "web_config_noAuth_allCiphers.good.yml": (True, None),
    "web_config_noAuth_someCiphers.good.yml": (True, None),
    "web_config_noAuth_someCiphers_noOrder.good.yml": (True, None),
    "web_config_noAuth_allCurves.good.yml": (True, None),
    "web_config_noAuth_someCurves.good.yml": (True, None),
    "web_config_noAuth_noHTTP2.good.yml": (True, None),
    "web_config_headers.good.yml": (True, None),
    "web_config_users.good.yml": (True, None),
    "web_config_users_noTLS.good.yml": (True, None),
    "web_config_rate_limiter_nonblocking.yaml": (True, None),
    "web_config_rate_limiter_one_second.yaml": (True, None),
    "tls_config_noAuth.requireandverifyclientcert.good.yml": (True, None),
    "tls_config_noAuth.requireanyclientcert.good.yml": (True, None),
    "web_config_auth_client_san.good.yaml": (True, None),
    "web_config_auth_client_san.bad.yaml": (True, None),  # loads; refuses the client at handshake
    "web_config_junk_key.yml": (False, "yaml|unknown key"),
    # Files of other toolkit versions with keys that 0089e786 does not know: yaml.UnmarshalStrict
    # refuses them there ("field ... not found"), and so do we.
    "web_config_users.authexcludedpaths.good.yml": (False, "auth_excluded_paths: unknown key"),
    "web_config_auth_client_common_name.good.yaml": (False, "client_cert_allowed_cn: unknown key"),
    "web_config_tokens.good.yml": (False, "bearer_auth_tokens: unknown key"),
    "web_config_noAuth_certPath_empty.bad.yml": (False, "missing one of cert or cert_file"),
    "web_config_noAuth_cert_empty.bad.yml": (False, "missing one of cert or cert_file"),
    "web_config_noAuth_keyPath_empty.bad.yml": (False, "missing one of key or key_file"),
    "web_config_noAuth_key_empty.bad.yml": (False, "missing one of key or key_file"),
    "web_config_noAuth_certPath_keyPath_empty.bad.yml": (False, "missing one of cert or cert_file"),
    "web_config_noAuth_certPath_invalid.bad.yml": (False, "(?i)no such file"),
    "web_config_noAuth_keyPath_invalid.bad.yml": (False, "(?i)no such file"),
    "web_config_noAuth_certPath_keyPath_invalid.bad.yml": (False, "(?i)no such file"),
    "web_config_noAuth.bad.yml": (False, "client CA's have been configured without a Client Auth Policy"),
    # The toolkit reads the CA file before it checks the policy; both refusals name the problem.
    "web_config_auth_clientCAs_invalid.bad.yml": (False, "(?i)no such file|without a Client Auth Policy"),
    # These two were added by 796c2267, which refuses a CA without certificates (0089e786 would
    # ignore it and then refuse every client at the handshake): refused here at load, with the reason.
    "web_config_auth_clientCAs_nocerts.bad.yml": (False, "(?i)no certificate"),
    "web_config_auth_clientCAsText_nocerts.bad.yml": (False, "(?i)no certificate"),
    "web_config_auth_user_list_invalid.bad.yml": (False, "hashedSecret too short to be a bcrypted password"),
    "web_config_noAuth_inventedCiphers.bad.yml": (False, "unknown cipher"),
    "web_config_noAuth_inventedCurves.bad.yml": (False, "unknown curve"),
    "web_config_noAuth_wrongTLSVersion.bad.yml": (False, "unknown TLS version"),
    "web_config_noAuth_noHTTP2Cipher.bad.yml": (False, "TLSConfig.CipherSuites is missing an HTTP/2-required"),
    "web_config_headers_content_type_options.bad.yml": (False, "invalid value for"),
    "web_config_headers_frame_options.bad.yml": (False, "invalid value for"),
    "web_config_headers_extra_header.bad.yml": (False, 'HTTP header ".*" can not be configured'),
    "web_config_auth_client_san_no_client_auth.bad.yaml": (False, "client_allowed_sans requires client_auth_type"),
    "web_config_auth_client_san_optional_cert.bad.yaml": (False, "client_allowed_sans requires client_auth_type"),
}
# Where this exporter knowingly judges differently (each refused with a message saying why).
DIVERGES = {
    # Python's ssl cannot accept a client certificate without verifying it against a CA.
    "tls_config_noAuth.requireanyclientcert.good.yml": "RequireAnyClientCert is not supported",
}


def _key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def _pem_key(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def _self_signed(name: str, key: ec.EllipticCurvePrivateKey, sans: list[str], ca: bool = False) -> bytes:
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = datetime.datetime.now(datetime.UTC)
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
    )
    if sans:
        builder = builder.add_extension(x509.SubjectAlternativeName([x509.DNSName(s) for s in sans]), False)
    return builder.sign(key, hashes.SHA256()).public_bytes(serialization.Encoding.PEM)


@pytest.fixture(scope="module")
def toolkit_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The toolkit's YAML files, beside generated stand-ins for the certificates they name."""
    d = tmp_path_factory.mktemp("toolkit")
    server_key = _key()
    (d / "server.key").write_bytes(_pem_key(server_key))
    (d / "server.crt").write_bytes(_self_signed("localhost", server_key, ["localhost"]))
    (d / "client_selfsigned.pem").write_bytes(_self_signed("test", _key(), ["test"], ca=True))
    (d / "client2_selfsigned.pem").write_bytes(_self_signed("test2", _key(), ["test3"], ca=True))
    (d / "tls-ca-chain.pem").write_bytes(_self_signed("Prometheus TLS CA", _key(), [], ca=True))
    (d / "tls-ca-chain-invalid.pem").write_text(
        "-----BEGIN CERTIFICATE-----\nbm90IGEgY2VydA==\n-----END CERTIFICATE-----\n"
    )
    indent = lambda pem: "\n".join("    " + line for line in pem.decode().strip().splitlines())  # noqa: E731
    for source in FIXTURES.iterdir():
        text = source.read_text()
        if "\n{CERT}\n" in text:
            text = text.replace("\n{CERT}\n", "\n" + indent((d / "server.crt").read_bytes()) + "\n")
            text = text.replace("\n{KEY}\n", "\n" + indent((d / "server.key").read_bytes()) + "\n")
        (d / source.name).write_text(text)
    return d


def test_toolkit_testdata_table(toolkit_dir: Path) -> None:
    assert sorted(p.name for p in FIXTURES.iterdir()) == sorted(TOOLKIT)
    same, different = 0, []
    for name, (accepts, error) in TOOLKIT.items():
        try:
            load_web_config(toolkit_dir / name)
            ours: str | None = None
        except WebConfigError as exc:
            ours = str(exc)
        if name in DIVERGES:
            assert ours is not None and DIVERGES[name] in ours, (name, ours)
            different.append(name)
            continue
        if accepts:
            assert ours is None, f"{name}: the toolkit accepts it, we refused: {ours}"
        else:
            assert ours is not None, f"{name}: the toolkit refuses it, we accepted it"
            assert error is not None and re.search(error, ours), f"{name}: {ours!r} does not match {error!r}"
        same += 1
    reporting.add_line(
        TABLE,
        f"exporter-toolkit testdata: {same} of {len(TOOLKIT)} files judged as the toolkit does;"
        f" known divergences: {', '.join(different)}",
    )


# --- 8. web config at work: TLS versions, headers, basic auth -------------------------------------------------


def _auth(user: str, password: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()}


@contextlib.contextmanager
def _web_yml(tmp_path: Path, text: str) -> Iterator[Path]:
    path = tmp_path / "web.yml"
    path.write_text(text)
    yield path


async def test_min_version_tls13_refuses_a_tls12_client(toolkit_dir: Path, tmp_path: Path) -> None:
    text = (
        f"tls_server_config:\n  cert_file: {toolkit_dir}/server.crt\n  key_file: {toolkit_dir}/server.key\n"
        "  min_version: TLS13\n"
    )
    with _web_yml(tmp_path, text) as path:
        web = load_web_config(path)
    assert web.ssl_context is not None and web.ssl_context.minimum_version == ssl.TLSVersion.TLSv1_3
    async with serving(big=False, ssl_context=web.ssl_context) as exporter:
        for version, works in ((ssl.TLSVersion.TLSv1_2, False), (ssl.TLSVersion.TLSv1_3, True)):
            client = ssl.create_default_context(cafile=str(toolkit_dir / "server.crt"))
            client.maximum_version = version
            async with aiohttp.ClientSession() as session:
                url = f"https://localhost:{exporter.port}/-/healthy"
                if works:
                    async with session.get(url, ssl=client) as response:
                        assert response.status == 200
                else:
                    with pytest.raises(aiohttp.ClientError):
                        await session.get(url, ssl=client)


async def test_configured_headers_on_every_response(tmp_path: Path) -> None:
    hashed = bcrypt.hashpw(b"pw", bcrypt.gensalt(rounds=4)).decode()
    text = f"http_server_config:\n  headers:\n    X-Frame-Options: deny\nbasic_auth_users:\n  u: '{hashed}'\n"
    with _web_yml(tmp_path, text) as path:
        web = load_web_config(path)
    async with serving(big=False, middlewares=web.middlewares) as exporter:
        base = f"http://127.0.0.1:{exporter.port}"
        async with aiohttp.ClientSession() as session:
            for path_, headers, status in (
                ("/metrics", _auth("u", "pw"), 200),  # a streamed response
                ("/", _auth("u", "pw"), 200),
                ("/metrics", {}, 401),
                ("/nope", _auth("u", "pw"), 404),
            ):
                async with session.get(base + path_, headers=headers) as response:
                    assert response.status == status
                    assert response.headers.get("X-Frame-Options") == "deny", path_


async def test_basic_auth_cache_never_ignores_the_password(tmp_path: Path) -> None:
    hashed = bcrypt.hashpw(b"right", bcrypt.gensalt(rounds=8)).decode()
    with _web_yml(tmp_path, f"basic_auth_users:\n  prometheus: '{hashed}'\n") as path:
        web = load_web_config(path)
    async with serving(big=False, middlewares=web.middlewares) as exporter:
        url = f"http://127.0.0.1:{exporter.port}/-/healthy"
        async with aiohttp.ClientSession() as session:

            async def status(user: str, password: str) -> tuple[int, float]:
                started = time.monotonic()
                async with session.get(url, headers=_auth(user, password)) as response:
                    return response.status, time.monotonic() - started

            assert (await status("prometheus", "right"))[0] == 200
            assert (await status("prometheus", "wrong"))[0] == 401  # the good login is cached, not the user
            assert (await status("prometheus", "right"))[0] == 200
            wrong = [(await status("prometheus", f"wrong{i}"))[1] for i in range(5)]
            unknown = [(await status(f"nobody{i}", "right"))[1] for i in range(5)]
    wrong_ms, unknown_ms = sorted(wrong)[2] * 1000, sorted(unknown)[2] * 1000
    reporting.add_line(
        TABLE, f"basic auth (bcrypt cost 8): wrong password median {wrong_ms:.1f} ms, unknown user {unknown_ms:.1f} ms"
    )
    assert unknown_ms > wrong_ms / 3, "an unknown user is answered much faster than a wrong password"


async def test_client_allowed_sans(tmp_path: Path) -> None:
    ca_key, server_key = _key(), _key()
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "ca")])
    ca_pem = _self_signed("ca", ca_key, [], ca=True)
    now = datetime.datetime.now(datetime.UTC)

    def issue(name: str, key: ec.EllipticCurvePrivateKey) -> bytes:
        cert = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)]))
            .issuer_name(ca_name)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName(name)]), False)
            .sign(ca_key, hashes.SHA256())
        )
        return cert.public_bytes(serialization.Encoding.PEM)

    (tmp_path / "ca.pem").write_bytes(ca_pem)
    (tmp_path / "server.crt").write_bytes(issue("localhost", server_key))
    (tmp_path / "server.key").write_bytes(_pem_key(server_key))
    for name in ("prometheus", "intruder"):
        key = _key()
        (tmp_path / f"{name}.crt").write_bytes(issue(name, key))
        (tmp_path / f"{name}.key").write_bytes(_pem_key(key))
    text = (
        "tls_server_config:\n  cert_file: server.crt\n  key_file: server.key\n"
        "  client_auth_type: RequireAndVerifyClientCert\n  client_ca_file: ca.pem\n"
        "  client_allowed_sans: [prometheus]\n"
    )
    with _web_yml(tmp_path, text) as path:
        web = load_web_config(path)
    async with serving(big=False, ssl_context=web.ssl_context) as exporter:
        for name, works in (("prometheus", True), ("intruder", False)):
            client = ssl.create_default_context(cafile=str(tmp_path / "ca.pem"))
            client.load_cert_chain(tmp_path / f"{name}.crt", tmp_path / f"{name}.key")
            async with aiohttp.ClientSession() as session:
                url = f"https://localhost:{exporter.port}/-/healthy"
                if works:
                    async with session.get(url, ssl=client) as response:
                        assert response.status == 200
                else:
                    with pytest.raises(aiohttp.ClientError):
                        async with session.get(url, ssl=client) as response:
                            await response.read()
