"""`--web.config.file`: TLS, basic auth and response headers in the Prometheus exporter-toolkit
web-config format, judged as the toolkit judges it (tests/test_hostile_http.py runs the
toolkit's own testdata through this loader).

tls_server_config:
  cert_file: server.crt          # or `cert:` inline PEM
  key_file: server.key           # or `key:` inline PEM
  client_auth_type: RequireAndVerifyClientCert   # mTLS
  client_ca_file: ca.crt         # or `client_ca:` inline PEM
  client_allowed_sans: [prometheus.example.net]
  min_version: TLS12
http_server_config:
  headers: {X-Frame-Options: deny}
basic_auth_users:
  prometheus: $2y$10$...   # bcrypt hash (htpasswd -nBC 10 "" | tr -d ':\\n')

Where Python's ssl module cannot do what Go's crypto/tls does, the file is refused with a message
saying so (never silently weaker): RequestClientCert and RequireAnyClientCert (a client
certificate accepted without verification), and HTTP/2 (aiohttp serves HTTP/1.1 only).
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import hashlib
import ipaddress
import re
import secrets
import ssl
import tempfile
import time
from collections import OrderedDict
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import bcrypt
import yaml
from aiohttp import web
from aiohttp.typedefs import Handler, Middleware
from pydantic import BaseModel, ConfigDict, ValidationError

from .guard import PeerCheck, ServerContext
from .http import RESPONSE_HEADERS

# client_auth_type -> what Python's ssl can do; None: Go accepts it, Python cannot (see above).
CLIENT_AUTH: dict[str, ssl.VerifyMode | None] = {
    "": ssl.CERT_NONE,
    "NoClientCert": ssl.CERT_NONE,
    "VerifyClientCertIfGiven": ssl.CERT_OPTIONAL,
    "RequireAndVerifyClientCert": ssl.CERT_REQUIRED,
    "RequestClientCert": None,
    "RequireAnyClientCert": None,
    "RequireClientCert": None,  # the toolkit's old name of RequireAnyClientCert
}
TLS_VERSIONS = {
    "TLS10": ssl.TLSVersion.TLSv1,
    "TLS11": ssl.TLSVersion.TLSv1_1,
    "TLS12": ssl.TLSVersion.TLSv1_2,
    "TLS13": ssl.TLSVersion.TLSv1_3,
}
# Go's names (tls.CipherSuites()) -> OpenSSL's. TLS 1.3 suites are not configurable in Go either:
# accepted and ignored there, so here too.
CIPHERS = {
    "TLS_RSA_WITH_AES_128_CBC_SHA": "AES128-SHA",
    "TLS_RSA_WITH_AES_256_CBC_SHA": "AES256-SHA",
    "TLS_RSA_WITH_AES_128_GCM_SHA256": "AES128-GCM-SHA256",
    "TLS_RSA_WITH_AES_256_GCM_SHA384": "AES256-GCM-SHA384",
    "TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA": "ECDHE-ECDSA-AES128-SHA",
    "TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA": "ECDHE-ECDSA-AES256-SHA",
    "TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA": "ECDHE-RSA-AES128-SHA",
    "TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA": "ECDHE-RSA-AES256-SHA",
    "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256": "ECDHE-ECDSA-AES128-GCM-SHA256",
    "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384": "ECDHE-ECDSA-AES256-GCM-SHA384",
    "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256": "ECDHE-RSA-AES128-GCM-SHA256",
    "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384": "ECDHE-RSA-AES256-GCM-SHA384",
    "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256": "ECDHE-RSA-CHACHA20-POLY1305",
    "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256": "ECDHE-ECDSA-CHACHA20-POLY1305",
    "TLS_AES_128_GCM_SHA256": None,
    "TLS_AES_256_GCM_SHA384": None,
    "TLS_CHACHA20_POLY1305_SHA256": None,
}
# Go's HTTP/2 server refuses a cipher list without one of these (the toolkit enables HTTP/2 unless
# `http2: false`); the same file is refused here so it means the same in both exporters.
HTTP2_REQUIRED_CIPHERS = ("TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256", "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256")
# Go's curve names -> OpenSSL's; None: known, but Python's set_ecdh_curve cannot select it alone.
CURVES = {"CurveP256": "prime256v1", "CurveP384": "secp384r1", "CurveP521": "secp521r1", "X25519": None}
CURVES["X25519MLKEM768"] = None
# The toolkit's extraHTTPHeaders: only these may be set, some only to these values.
EXTRA_HEADERS: dict[str, tuple[str, ...] | None] = {
    "Strict-Transport-Security": None,
    "X-Content-Type-Options": ("nosniff",),
    "X-Frame-Options": ("deny", "sameorigin"),
    "X-XSS-Protection": None,
    "Content-Security-Policy": None,
}
_BCRYPT = re.compile(r"^\$2[abxy]?\$(\d\d)\$[./A-Za-z0-9]{53}$")
_DUMMY_COST_CAP = 12  # a dummy hash of cost 18 would take ~20 s to make at every start
_AUTH_CACHE_SIZE = 1024
_BCRYPT_PARALLEL = 2  # bcrypt checks at once (each ~0.1-0.3 s of one core, off the event loop)
_BCRYPT_QUEUE = 64  # checks waiting beyond this are answered 429 at once


class WebConfigError(Exception):
    pass


class _Strict(BaseModel):
    # Go's yaml.v2 reads `X-XSS-Protection: 1` into a string field as "1": numbers become strings.
    model_config = ConfigDict(extra="forbid", frozen=True, coerce_numbers_to_str=True)


class TlsServerConfig(_Strict):
    cert: str = ""
    key: str = ""
    client_ca: str = ""
    cert_file: str = ""
    key_file: str = ""
    client_auth_type: str = ""
    client_ca_file: str = ""
    cipher_suites: list[str] | None = None
    curve_preferences: list[str] | None = None
    min_version: str = "TLS12"
    max_version: str = "TLS13"
    prefer_server_cipher_suites: bool = True
    client_allowed_sans: list[str] | None = None

    def enabled(self) -> bool:
        """The toolkit's IsEnabled: any of these set means TLS is wanted."""
        return any(
            (
                self.cert_file,
                self.cert,
                self.key_file,
                self.key,
                self.client_ca_file,
                self.client_ca,
                self.client_auth_type,
            )
        )


class HttpServerConfig(_Strict):
    http2: bool | None = None
    headers: dict[str, str] | None = None


class RateLimit(_Strict):
    burst: int = 0
    interval: str | int = 0


class WebConfigModel(_Strict):
    tls_server_config: TlsServerConfig | None = None
    http_server_config: HttpServerConfig | None = None
    rate_limit: RateLimit | None = None
    basic_auth_users: dict[str, str] | None = None


@dataclass
class WebConfig:
    ssl_context: ssl.SSLContext | None
    users: dict[str, bytes]
    middlewares: list[Middleware] = field(default_factory=list)
    headers: dict[str, str] = field(default_factory=dict)


def _check_tls(tls: TlsServerConfig) -> None:
    """The toolkit's checks, in its order, before anything is loaded."""
    for name in (tls.min_version, tls.max_version):
        if name not in TLS_VERSIONS:
            raise WebConfigError(f"tls_server_config: unknown TLS version: {name}")
    for cipher in tls.cipher_suites or []:
        if cipher not in CIPHERS:
            raise WebConfigError(f"tls_server_config.cipher_suites: unknown cipher: {cipher}")
    for curve in tls.curve_preferences or []:
        if curve not in CURVES:
            raise WebConfigError(f"tls_server_config.curve_preferences: unknown curve: {curve}")
    if not tls.cert_file and not tls.cert:
        raise WebConfigError("tls_server_config: missing one of cert or cert_file")
    if not tls.key_file and not tls.key:
        raise WebConfigError("tls_server_config: missing one of key or key_file")
    if tls.cert_file and tls.cert:
        raise WebConfigError("tls_server_config: at most one of cert and cert_file must be configured")
    if tls.key_file and tls.key:
        raise WebConfigError("tls_server_config: at most one of key and key_file must be configured")


@contextlib.contextmanager
def _pem_files(tls: TlsServerConfig, base: Path) -> Iterator[tuple[Path, Path]]:
    """cert/key as files: inline PEM is written to a private temporary directory for the ssl module."""
    with tempfile.TemporaryDirectory(prefix="vrrp-exporter-tls-") as tmp:
        paths = []
        for inline, path, name in ((tls.cert, tls.cert_file, "cert.pem"), (tls.key, tls.key_file, "key.pem")):
            if inline:
                target = Path(tmp) / name
                target.touch(mode=0o600)
                target.write_text(inline, encoding="utf-8")
                paths.append(target)
            else:
                paths.append(base / path)
        yield paths[0], paths[1]


def _peer_check(allowed_sans: list[str]) -> PeerCheck:
    wanted = set(allowed_sans)

    def check(peercert: dict[str, Any] | None) -> bool:
        # Go matches DNS names, e-mail addresses, IP addresses (as strings) and URIs.
        for kind, value in (peercert or {}).get("subjectAltName", ()):
            if kind == "IP Address":
                with contextlib.suppress(ValueError):  # not an address: compared as written
                    value = str(ipaddress.ip_address(value.strip()))
            if kind in ("DNS", "email", "IP Address", "URI") and value in wanted:
                return True
        return False

    return check


def _ssl_context(tls: TlsServerConfig, base: Path, http2: bool | None) -> ssl.SSLContext:
    _check_tls(tls)
    if tls.client_auth_type not in CLIENT_AUTH:
        raise WebConfigError(f"tls_server_config.client_auth_type: invalid ClientAuth: {tls.client_auth_type}")
    verify_mode = CLIENT_AUTH[tls.client_auth_type]
    if verify_mode is None:
        raise WebConfigError(
            f"tls_server_config.client_auth_type: {tls.client_auth_type} is not supported (Python's ssl"
            " cannot accept a client certificate without verifying it); use VerifyClientCertIfGiven or"
            " RequireAndVerifyClientCert with client_ca_file"
        )
    context = ServerContext(ssl.PROTOCOL_TLS_SERVER)
    try:
        context.minimum_version = TLS_VERSIONS[tls.min_version]
        context.maximum_version = TLS_VERSIONS[tls.max_version]
    except ValueError as exc:
        raise WebConfigError(f"tls_server_config: min_version/max_version: {exc}") from exc
    with _pem_files(tls, base) as (cert, key):
        try:
            context.load_cert_chain(cert, key)
        except (OSError, ssl.SSLError) as exc:
            what = "cert/key" if tls.cert or tls.key else "cert_file/key_file"
            raise WebConfigError(f"tls_server_config: cannot load {what}: {exc}") from exc
    names = [CIPHERS[c] for c in tls.cipher_suites or []]
    if any(names):
        try:
            context.set_ciphers(":".join(n for n in names if n))
        except ssl.SSLError as exc:
            raise WebConfigError(f"tls_server_config.cipher_suites: not available in this OpenSSL: {exc}") from exc
    if tls.cipher_suites and http2 is not False and not set(tls.cipher_suites) & set(HTTP2_REQUIRED_CIPHERS):
        raise WebConfigError(
            "tls_server_config.cipher_suites: TLSConfig.CipherSuites is missing an HTTP/2-required"
            " AES_128_GCM_SHA256 cipher (the toolkit refuses this unless http_server_config.http2 is false)"
        )
    curves = tls.curve_preferences or []
    if len(curves) == 1 and CURVES[curves[0]] is not None:
        context.set_ecdh_curve(str(CURVES[curves[0]]))
    # Several curves: OpenSSL's default group list already holds all of Go's; it cannot be
    # reordered from Python before 3.13, so the client's preference decides among them.
    if tls.prefer_server_cipher_suites:
        context.options |= ssl.OP_CIPHER_SERVER_PREFERENCE
    else:
        context.options &= ~ssl.OP_CIPHER_SERVER_PREFERENCE
    context.verify_mode = verify_mode
    if tls.client_ca_file or tls.client_ca:
        if verify_mode == ssl.CERT_NONE:
            raise WebConfigError("tls_server_config: client CA's have been configured without a Client Auth Policy")
        try:
            if tls.client_ca_file:
                context.load_verify_locations(cafile=base / tls.client_ca_file)
            else:
                context.load_verify_locations(cadata=tls.client_ca)
        except (OSError, ssl.SSLError) as exc:
            which = "client_ca_file" if tls.client_ca_file else "client_ca"
            raise WebConfigError(
                f"tls_server_config.{which}: cannot load (no such file or no certificate): {exc}"
            ) from exc
    elif verify_mode != ssl.CERT_NONE:
        context.load_default_certs(ssl.Purpose.CLIENT_AUTH)  # Go verifies against the system roots
    if tls.client_allowed_sans is not None:
        if verify_mode != ssl.CERT_REQUIRED:
            raise WebConfigError(
                "tls_server_config: client_allowed_sans requires client_auth_type to be one of"
                " RequireAnyClientCert or RequireAndVerifyClientCert"
            )
        context.peer_check = _peer_check(tls.client_allowed_sans)
    return context


def _go_duration(value: str | int) -> float:
    """Seconds of a Go duration (`1s`, `500ms`, `1m30s`; a bare 0)."""
    if isinstance(value, int):
        return value / 1e9  # yaml.v2 reads a bare number into time.Duration as nanoseconds
    units = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}
    parts = re.findall(r"(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h)", value)
    if not parts or "".join(n + u for n, u in parts) != value:
        raise WebConfigError(f"rate_limit.interval: invalid duration {value!r}")
    return sum(float(n) * units[u] for n, u in parts)


def _rate_limit_middleware(burst: int, interval: float) -> Middleware:
    # golang.org/x/time/rate: one token per interval, at most `burst` saved (0: nothing passes).
    state = {"tokens": float(burst), "at": time.monotonic()}

    @web.middleware
    async def rate_limit(request: web.Request, handler: Handler) -> web.StreamResponse:
        now = time.monotonic()
        state["tokens"] = min(float(burst), state["tokens"] + (now - state["at"]) / interval)
        state["at"] = now
        if state["tokens"] < 1:
            return web.Response(status=429, text="Too Many Requests\n")
        state["tokens"] -= 1
        return await handler(request)

    return rate_limit


def _headers_middleware(headers: dict[str, str]) -> Middleware:
    @web.middleware
    async def extra_headers(request: web.Request, handler: Handler) -> web.StreamResponse:
        request[RESPONSE_HEADERS] = headers  # added by http.py's on_response_prepare hook
        return await handler(request)

    return extra_headers


class _Verifier:
    """bcrypt checks: a bounded queue, few at once, in threads; results cached per
    (user, hash, password) like the toolkit, so a cached good login never admits another password."""

    def __init__(self, users: dict[str, bytes], dummy: bytes) -> None:
        self._users = users
        self._dummy = dummy
        self._slots = asyncio.Semaphore(_BCRYPT_PARALLEL)
        self._waiting = 0
        self._cache: OrderedDict[bytes, bool] = OrderedDict()

    async def verify(self, user: str, password: str) -> bool | None:
        """True/False, or None when too many checks are already waiting."""
        hashed = self._users.get(user)
        known = hashed is not None
        # An unknown user is checked against a dummy hash of the same cost, so that "no such
        # user" takes as long as "wrong password" (no user enumeration by timing).
        target = hashed if hashed is not None else self._dummy
        key = hashlib.sha256(b"\0".join((user.encode(), target, password.encode()))).digest()
        cached = self._cache.get(key)
        if cached is not None:
            self._cache.move_to_end(key)
            return cached and known
        if self._waiting >= _BCRYPT_QUEUE:
            return None
        self._waiting += 1
        try:
            async with self._slots:
                ok = await asyncio.to_thread(bcrypt.checkpw, password.encode(), target)
        finally:
            self._waiting -= 1
        self._cache[key] = ok and known
        if len(self._cache) > _AUTH_CACHE_SIZE:
            self._cache.popitem(last=False)
        return ok and known


def _auth_middleware(users: dict[str, bytes]) -> Middleware:
    costs = [int(h[4:6]) for h in users.values()]
    dummy = bcrypt.hashpw(secrets.token_bytes(16), bcrypt.gensalt(rounds=min(max(costs), _DUMMY_COST_CAP)))
    verifier = _Verifier(users, dummy)
    unauthorized = {"WWW-Authenticate": 'Basic realm="vyos-vrrp-exporter"'}

    @web.middleware
    async def basic_auth(request: web.Request, handler: Handler) -> web.StreamResponse:
        header = request.headers.get("Authorization", "")
        if header[:6].lower() == "basic ":
            try:
                user, sep, password = base64.b64decode(header[6:].strip(), validate=True).decode("utf-8").partition(":")
            except (binascii.Error, UnicodeDecodeError):
                sep = ""
            if sep:
                ok = await verifier.verify(user, password)
                if ok is None:
                    return web.Response(status=429, text="Too Many Requests\n", headers={"Retry-After": "1"})
                if ok:
                    return await handler(request)
        return web.Response(status=401, text="Unauthorized\n", headers=unauthorized)

    return basic_auth


def _read(path: Path) -> Any:
    try:
        if not path.is_file():
            raise WebConfigError(f"{path}: cannot read web config: not a regular file (or no such file)")
        if path.stat().st_size > 1 << 20:
            raise WebConfigError(f"{path}: cannot read web config: larger than 1 MiB")
        return yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        raise WebConfigError(f"{path}: cannot read web config: {exc}") from exc


def load_web_config(path: str | Path) -> WebConfig:
    """Read and validate a web-config file; file paths inside are relative to its directory."""
    path = Path(path)
    raw = _read(path)
    try:
        model = WebConfigModel.model_validate(raw)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc'])}: {'unknown key' if e['type'] == 'extra_forbidden' else e['msg']}"
            for e in exc.errors()
        )
        raise WebConfigError(f"{path}: invalid web config (yaml): {problems}") from exc
    try:
        return _build(model, path.parent)
    except WebConfigError as exc:
        raise WebConfigError(f"{path}: {exc}") from exc


def _build(model: WebConfigModel, base: Path) -> WebConfig:
    http = model.http_server_config or HttpServerConfig()
    headers = dict(http.headers or {})
    for name, value in headers.items():
        allowed = EXTRA_HEADERS.get(name, ())
        if allowed == ():
            raise WebConfigError(f'http_server_config.headers: HTTP header "{name}" can not be configured')
        if allowed is not None and value not in allowed:
            expected = f"Expected one of: {list(allowed)}, but got: {value!r}"
            raise WebConfigError(f"http_server_config.headers: invalid value for {name}. {expected}")
    users: dict[str, bytes] = {}
    for user, hashed in (model.basic_auth_users or {}).items():
        if not _BCRYPT.match(hashed):
            raise WebConfigError(
                f"basic_auth_users.{user}: not a bcrypt hash (hashedSecret too short to be a bcrypted password)"
            )
        users[user] = hashed.encode()
    if http.http2:
        raise WebConfigError(
            "http_server_config.http2: true is not supported (this exporter serves HTTP/1.1); remove it or set false"
        )
    tls = model.tls_server_config
    context = _ssl_context(tls, base, http.http2) if tls is not None and tls.enabled() else None
    middlewares: list[Middleware] = []
    if headers:
        middlewares.append(_headers_middleware(headers))
    limit = model.rate_limit or RateLimit()
    interval = _go_duration(limit.interval)
    if interval > 0:
        middlewares.append(_rate_limit_middleware(limit.burst, interval))
    if users:
        middlewares.append(_auth_middleware(users))
    return WebConfig(context, users, middlewares, headers)
