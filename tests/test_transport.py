"""SSH transport details: error classes, backoff, password auth, secrets never in messages."""

from __future__ import annotations

import asyncio
import dataclasses
import socket
from pathlib import Path

import pytest

from exporter.config import load_config, parse_config
from exporter.errors import PollErrorReason, TransportError
from exporter.sim.fleet import SimFleet, generate_key
from exporter.sim.seed import SEED_CLUSTER, seed_cluster
from exporter.targets import ssh_target
from exporter.transport import BACKOFF_CAP_SECONDS, SshTransport, backoff_delay


def test_backoff_is_capped_exponential_with_jitter() -> None:
    assert backoff_delay(1, rng=lambda: 0.0) == 0.5
    assert backoff_delay(1, rng=lambda: 1.0) == 1.0
    assert backoff_delay(4, rng=lambda: 0.0) == 4.0
    assert backoff_delay(50, rng=lambda: 1.0) == BACKOFF_CAP_SECONDS
    assert backoff_delay(50, rng=lambda: 0.0) == BACKOFF_CAP_SECONDS / 2


async def targets(fleet: SimFleet, **write: object) -> list:  # type: ignore[type-arg]
    path = fleet.write_config(poll_interval="2s", timeout="1s", **write)  # type: ignore[arg-type]
    config = load_config(path)
    cluster = config.clusters[0]
    return [ssh_target(config, cluster, r) for r in cluster.routers]


async def test_password_auth_and_secret_hygiene(tmp_path: Path) -> None:
    secret = "s3cret-Pa55word-never-logged"
    async with SimFleet(tmp_path, seed_cluster(), clusters=[SEED_CLUSTER], password=secret) as fleet:
        one, _ = await targets(fleet, password_auth=True)
        transport = SshTransport()
        try:
            result = await transport.run(one, 2.0)
            assert "VLAN100" in result.stdout
            # A wrong password: auth error, and the message never contains either password.
            (tmp_path / "wrong").write_text("wrong-password-also-secret\n")
            bad = dataclasses.replace(one, password_file=tmp_path / "wrong", router="other")
            with pytest.raises(TransportError) as info:
                await transport.run(bad, 2.0)
            assert info.value.reason is PollErrorReason.AUTH
            assert secret not in str(info.value) and "wrong-password-also-secret" not in str(info.value)
        finally:
            await transport.close()


async def test_wrong_key_is_auth_error(tmp_path: Path) -> None:
    async with SimFleet(tmp_path, seed_cluster(), clusters=[SEED_CLUSTER]) as fleet:
        one, _ = await targets(fleet)
        other = tmp_path / "other_key"
        other.write_bytes(generate_key().export_private_key("openssh"))
        other.chmod(0o600)
        transport = SshTransport()
        try:
            with pytest.raises(TransportError) as info:
                await transport.run(dataclasses.replace(one, private_key=other), 2.0)
            assert info.value.reason is PollErrorReason.AUTH
            # Backoff: the next try inside the backoff window does not even connect.
            with pytest.raises(TransportError, match="next reconnect in"):
                await transport.run(dataclasses.replace(one, private_key=other), 2.0)
            assert fleet["vyos01"].connections_opened == 1
        finally:
            await transport.close()


async def test_silent_tcp_peer_is_a_timeout() -> None:
    """TCP accepted, then no SSH banner: the connect hangs and the time limit must cut it."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(4)
    port = server.getsockname()[1]
    config = parse_config(
        "ssh: {insecure_ignore_host_key: true}\n"
        f"clusters: [{{name: c, routers: [{{name: r, address: 127.0.0.1, port: {port}}}]}}]\n"
    )
    target = ssh_target(config, config.clusters[0], config.clusters[0].routers[0])
    transport = SshTransport()
    try:
        async with asyncio.timeout(5):
            with pytest.raises(TransportError) as info:
                await transport.run(target, 0.5)
        assert info.value.reason is PollErrorReason.TIMEOUT
    finally:
        await transport.close()
        server.close()


async def test_oversized_output_is_refused(tmp_path: Path) -> None:
    async with SimFleet(tmp_path, seed_cluster(), clusters=[SEED_CLUSTER]) as fleet:
        one, _ = await targets(fleet)
        fleet["vyos01"].output_override = "x" * (3 << 20)
        transport = SshTransport(max_output_bytes=1 << 20)
        try:
            with pytest.raises(TransportError, match="exceeds 1048576 bytes") as info:
                await transport.run(one, 5.0)
            assert info.value.reason is PollErrorReason.COMMAND
        finally:
            await transport.close()


def black_hole() -> tuple[socket.socket, socket.socket]:
    """A listener whose accept queue is full (further SYNs are dropped, as at a dead site), and the
    connection that fills it; both stay open until the test closes them."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(0)
    return listener, socket.create_connection(listener.getsockname())


async def test_black_holed_routers_never_hold_handshake_slots(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A quarter of the routers black-hole SYNs; with one handshake slot, every reachable router is
    still connected before the first black-holed one gives up (its TCP connect holds no slot)."""
    from exporter import transport as transport_module
    from exporter.sim.cli import bench_specs

    monkeypatch.setattr(transport_module, "MAX_CONCURRENT_HANDSHAKES", 1)
    specs, clusters = bench_specs(12, 2, 12, "1.4")
    holes = [black_hole() for _ in range(4)]
    try:
        async with SimFleet(tmp_path, specs, clusters=clusters) as fleet:
            reachable = await targets(fleet)
            dead = [
                dataclasses.replace(reachable[0], router=f"dead{i}", port=h[0].getsockname()[1])
                for i, h in enumerate(holes)
            ]
            transport = SshTransport()
            finished: list[tuple[str, float, PollErrorReason | None]] = []
            loop = asyncio.get_running_loop()
            started = loop.time()

            async def poll(target) -> None:  # type: ignore[no-untyped-def]
                try:
                    await transport.run(target, 1.5)
                    finished.append((target.router, loop.time() - started, None))
                except TransportError as exc:
                    finished.append((target.router, loop.time() - started, exc.reason))

            try:
                await asyncio.gather(*(poll(t) for t in (*dead, *reachable)))  # the dead ones ask first
            finally:
                await transport.close()
    finally:
        for listener, filler in holes:
            filler.close()
            listener.close()
    outcomes = [why for _, _, why in finished]
    assert outcomes == [None] * len(reachable) + [PollErrorReason.TIMEOUT] * len(dead), finished
    last_ok = max(at for _, at, why in finished if why is None)
    first_dead = min(at for _, at, why in finished if why is not None)
    import reporting

    reporting.TABLES["black-holed routers (4 of 16, one handshake slot)"] = [
        f"12 reachable routers all connected and polled after {last_ok * 1000:.0f} ms;"
        f" the black-holed ones gave up after {first_dead * 1000:.0f} ms"
    ]


async def test_without_known_hosts_the_users_file_is_still_verified(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No `known_hosts` in the config: the exporter's user's ~/.ssh/known_hosts decides (asyncssh
    would not verify at all if given None), so a changed host key is refused, not trusted."""
    home = tmp_path / "home"
    (home / ".ssh").mkdir(parents=True)
    monkeypatch.setenv("HOME", str(home))
    async with SimFleet(tmp_path / "sim", seed_cluster(), clusters=[SEED_CLUSTER]) as fleet:
        one, _ = await targets(fleet)
        default = dataclasses.replace(one, known_hosts=None)
        (home / ".ssh" / "known_hosts").write_text(fleet["vyos01"].host_key_line() + "\n")
        transport = SshTransport()
        try:
            assert "VLAN100" in (await transport.run(default, 2.0)).stdout
            await fleet["vyos01"].restart(new_host_key=True)
            with pytest.raises(TransportError) as info:
                await transport.run(default, 2.0)
            assert info.value.reason is PollErrorReason.HOSTKEY
        finally:
            await transport.close()
