"""`--web.config.file`: TLS, mTLS and basic auth on the real HTTP server."""

from __future__ import annotations

import base64
import datetime
import ipaddress
import ssl
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import bcrypt
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from exporter.config import parse_config
from exporter.service import Exporter
from exporter.web.webconfig import WebConfigError, load_web_config

CONFIG = (
    "ssh: {insecure_ignore_host_key: true}\nclusters: [{name: c, routers: [{name: r, address: 127.0.0.1, port: 1}]}]\n"
)


def _cert(
    name: str,
    key: ec.EllipticCurvePrivateKey,
    issuer: tuple[x509.Name, ec.EllipticCurvePrivateKey] | None,
    ca: bool = False,
) -> x509.Certificate:
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    issuer_name, issuer_key = issuer or (subject, key)
    now = datetime.datetime.now(datetime.UTC)
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
    )
    if not ca:
        builder = builder.add_extension(
            x509.SubjectAlternativeName([x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            False,
        )
    return builder.sign(issuer_key, hashes.SHA256())


def _write(path: Path, cert: x509.Certificate, key: ec.EllipticCurvePrivateKey) -> None:
    path.with_suffix(".crt").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    path.with_suffix(".key").write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = tmp_path_factory.mktemp("pki")
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = _cert("test-ca", ca_key, None, ca=True)
    _write(d / "ca", ca, ca_key)
    for name in ("server", "client"):
        key = ec.generate_private_key(ec.SECP256R1())
        _write(d / name, _cert(name, key, (ca.subject, ca_key)), key)
    return d


async def _serve(web_config: Path) -> AsyncIterator[Exporter]:
    web = load_web_config(web_config)
    exporter = Exporter(parse_config(CONFIG))
    await exporter.start("127.0.0.1:0", ssl_context=web.ssl_context, middlewares=web.middlewares)
    try:
        yield exporter
    finally:
        await exporter.stop()


def _auth(user: str, password: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()}


def _client_ctx(pki: Path, with_cert: bool) -> ssl.SSLContext:
    ctx = ssl.create_default_context(cafile=str(pki / "ca.crt"))
    if with_cert:
        ctx.load_cert_chain(pki / "client.crt", pki / "client.key")
    return ctx


async def test_basic_auth(tmp_path: Path) -> None:
    hashed = bcrypt.hashpw(b"right", bcrypt.gensalt(rounds=4)).decode()
    (tmp_path / "web.yml").write_text(f"basic_auth_users:\n  prometheus: '{hashed}'\n")
    async for exporter in _serve(tmp_path / "web.yml"):
        url = f"http://127.0.0.1:{exporter.port}/metrics"
        async with aiohttp.ClientSession() as s:
            assert (await s.get(url)).status == 401
            assert (await s.get(url, headers=_auth("prometheus", "wrong"))).status == 401
            assert (await s.get(url, headers=_auth("nobody", "right"))).status == 401
            ok = await s.get(url, headers=_auth("prometheus", "right"))
            assert ok.status == 200 and "vrrp_router_up" in await ok.text()


async def test_tls_and_mtls(pki: Path, tmp_path: Path) -> None:
    (tmp_path / "web.yml").write_text(
        f"tls_server_config:\n  cert_file: {pki}/server.crt\n  key_file: {pki}/server.key\n"
        f"  client_auth_type: RequireAndVerifyClientCert\n  client_ca_file: {pki}/ca.crt\n  min_version: TLS12\n"
    )
    async for exporter in _serve(tmp_path / "web.yml"):
        async with aiohttp.ClientSession() as s:
            with pytest.raises(aiohttp.ClientError):  # plain HTTP to a TLS port
                await s.get(f"http://127.0.0.1:{exporter.port}/metrics")
            with pytest.raises(aiohttp.ClientError):  # TLS without a client certificate
                await s.get(f"https://127.0.0.1:{exporter.port}/metrics", ssl=_client_ctx(pki, False))
            ok = await s.get(f"https://127.0.0.1:{exporter.port}/metrics", ssl=_client_ctx(pki, True))
            assert ok.status == 200


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("tls_server_config: {cert_file: /nope.crt, key_file: /nope.key}\n", "cannot load cert_file/key_file"),
        ("basic_auth_users: {u: plaintext}\n", "not a bcrypt hash"),
        ("tls_server_confg: {}\n", "tls_server_confg: unknown key"),
        (
            "tls_server_config: {cert_file: a, key_file: b, client_auth_type: RequireAnyClientCert}\n",
            "RequireAnyClientCert is not supported",
        ),
    ],
)
def test_bad_web_config(tmp_path: Path, text: str, message: str) -> None:
    (tmp_path / "web.yml").write_text(text)
    with pytest.raises(WebConfigError, match=message):
        load_web_config(tmp_path / "web.yml")
