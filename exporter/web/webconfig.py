"""`--web.config.file`: TLS and basic auth in the Prometheus exporter-toolkit web-config format.

tls_server_config:
  cert_file: server.crt
  key_file: server.key
  client_auth_type: RequireAndVerifyClientCert   # mTLS
  client_ca_file: ca.crt
  min_version: TLS12
basic_auth_users:
  prometheus: $2y$10$...   # bcrypt hash (htpasswd -nBC 10 "" | tr -d ':\\n')
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import hashlib
import ssl
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Literal

import bcrypt
import yaml
from aiohttp import web
from aiohttp.typedefs import Handler, Middleware
from pydantic import BaseModel, ConfigDict, Field, ValidationError

CLIENT_AUTH = {
    "NoClientCert": ssl.CERT_NONE,
    "VerifyClientCertIfGiven": ssl.CERT_OPTIONAL,
    "RequireAndVerifyClientCert": ssl.CERT_REQUIRED,
}
TLS_VERSIONS = {
    "TLS10": ssl.TLSVersion.TLSv1,
    "TLS11": ssl.TLSVersion.TLSv1_1,
    "TLS12": ssl.TLSVersion.TLSv1_2,
    "TLS13": ssl.TLSVersion.TLSv1_3,
}


class WebConfigError(Exception):
    pass


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class TlsServerConfig(_Strict):
    cert_file: Path
    key_file: Path
    client_auth_type: Literal[
        "NoClientCert",
        "RequestClientCert",
        "RequireAnyClientCert",
        "VerifyClientCertIfGiven",
        "RequireAndVerifyClientCert",
    ] = "NoClientCert"
    client_ca_file: Path | None = None
    min_version: Literal["TLS10", "TLS11", "TLS12", "TLS13"] = "TLS12"
    max_version: Literal["TLS10", "TLS11", "TLS12", "TLS13"] = "TLS13"


class WebConfigModel(_Strict):
    tls_server_config: TlsServerConfig | None = None
    basic_auth_users: dict[Annotated[str, Field(min_length=1)], str] | None = None


@dataclass
class WebConfig:
    ssl_context: ssl.SSLContext | None
    users: dict[str, bytes]
    middlewares: list[Middleware] = field(default_factory=list)


def _ssl_context(tls: TlsServerConfig, base: Path) -> ssl.SSLContext:
    if tls.client_auth_type not in CLIENT_AUTH:
        # Python's ssl cannot accept a client certificate without verifying it.
        raise WebConfigError(
            f"tls_server_config.client_auth_type: {tls.client_auth_type} is not supported; use"
            " NoClientCert, VerifyClientCertIfGiven or RequireAndVerifyClientCert"
        )
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = TLS_VERSIONS[tls.min_version]
    context.maximum_version = TLS_VERSIONS[tls.max_version]
    try:
        context.load_cert_chain(base / tls.cert_file, base / tls.key_file)
    except (OSError, ssl.SSLError) as exc:
        raise WebConfigError(f"tls_server_config: cannot load cert_file/key_file: {exc}") from exc
    context.verify_mode = CLIENT_AUTH[tls.client_auth_type]
    if context.verify_mode != ssl.CERT_NONE:
        if tls.client_ca_file is None:
            raise WebConfigError(f"tls_server_config.client_ca_file: required with {tls.client_auth_type}")
        try:
            context.load_verify_locations(cafile=base / tls.client_ca_file)
        except (OSError, ssl.SSLError) as exc:
            raise WebConfigError(f"tls_server_config.client_ca_file: cannot load: {exc}") from exc
    return context


def _auth_middleware(users: dict[str, bytes]) -> Middleware:
    # bcrypt is deliberately slow (~0.1-0.3 s); remember verified credentials like exporter-toolkit.
    verified: set[bytes] = set()

    @web.middleware
    async def basic_auth(request: web.Request, handler: Handler) -> web.StreamResponse:
        header = request.headers.get("Authorization", "")
        if header.startswith("Basic "):
            try:
                user, _, password = base64.b64decode(header[6:], validate=True).decode("utf-8").partition(":")
            except (binascii.Error, UnicodeDecodeError):
                user, password = "", ""
            hashed = users.get(user)
            if hashed is not None:
                token = hashlib.sha256(hashed + b"\0" + password.encode()).digest()
                if token in verified:
                    return await handler(request)
                ok = await asyncio.to_thread(bcrypt.checkpw, password.encode(), hashed)
                if ok:
                    verified.add(token)
                    return await handler(request)
        return web.Response(
            status=401, text="Unauthorized\n", headers={"WWW-Authenticate": 'Basic realm="vyos-vrrp-exporter"'}
        )

    return basic_auth


def load_web_config(path: str | Path) -> WebConfig:
    """Read and validate a web-config file; file paths inside are relative to its directory."""
    path = Path(path)
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        raise WebConfigError(f"{path}: cannot read web config: {exc}") from exc
    try:
        model = WebConfigModel.model_validate(raw)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc'])}: {'unknown key' if e['type'] == 'extra_forbidden' else e['msg']}"
            for e in exc.errors()
        )
        raise WebConfigError(f"{path}: invalid web config: {problems}") from exc
    context = _ssl_context(model.tls_server_config, path.parent) if model.tls_server_config else None
    users: dict[str, bytes] = {}
    for user, hashed in (model.basic_auth_users or {}).items():
        if not hashed.startswith(("$2a$", "$2b$", "$2y$")):
            raise WebConfigError(f"{path}: basic_auth_users.{user}: not a bcrypt hash")
        users[user] = hashed.encode()
    middlewares = [_auth_middleware(users)] if users else []
    return WebConfig(context, users, middlewares)
