"""Logs: one event per line in logfmt and JSON, for our events and every stdlib logger alike,
also while clients send malformed HTTP to a running exporter."""

from __future__ import annotations

import asyncio
import io
import json
import logging
import warnings
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import structlog
from harness import running

from exporter.cli import serve_parser
from exporter.log import configure_logging, format_exception, logfmt_value
from exporter.sim.fleet import SimFleet

Capture = Callable[..., io.StringIO]


def parse_logfmt(line: str) -> dict[str, str]:
    """Strict logfmt: `key=value` pairs separated by one space; a value is bare (no space, `=`
    or `"`) or double-quoted with backslash escapes. Raises ValueError on anything else."""
    out: dict[str, str] = {}
    i, n = 0, len(line)
    while i < n:
        eq = line.find("=", i)
        if eq <= i:
            raise ValueError(f"no key=value at {i}: {line!r}")
        key = line[i:eq]
        if any(c <= " " or c == '"' for c in key):
            raise ValueError(f"bad key {key!r}")
        i = eq + 1
        if i < n and line[i] == '"':
            value, i = _quoted(line, i + 1)
        else:
            end = line.find(" ", i)
            end = n if end < 0 else end
            value = line[i:end]
            if '"' in value or "=" in value:
                raise ValueError(f"unquoted value with a quote or = : {value!r}")
            i = end
        out[key] = value
        if i < n:
            if line[i] != " " or i + 1 == n:
                raise ValueError(f"expected one space between pairs at {i}: {line!r}")
            i += 1
    return out


_UNESCAPE = {"n": "\n", "r": "\r", "t": "\t", '"': '"', "\\": "\\"}


def _quoted(line: str, i: int) -> tuple[str, int]:
    chars: list[str] = []
    while i < len(line):
        c = line[i]
        if c == '"':
            return "".join(chars), i + 1
        if c == "\\":
            nxt = line[i + 1]
            if nxt in _UNESCAPE:
                chars.append(_UNESCAPE[nxt])
                i += 2
            elif nxt in "uU":
                width = 4 if nxt == "u" else 8
                chars.append(chr(int(line[i + 2 : i + 2 + width], 16)))
                i += 2 + width
            else:
                raise ValueError(f"bad escape \\{nxt}")
            continue
        chars.append(c)
        i += 1
    raise ValueError(f"unterminated quoted value: {line!r}")


def events(text: str, fmt: str) -> list[dict[str, Any]]:
    """Every line of `text` as one event; fails on a line that is not a whole structured event."""
    assert text.endswith("\n") or not text
    parsed: list[dict[str, Any]] = []
    for line in text.split("\n")[:-1]:
        assert line and not line[0].isspace() and not line.startswith("Traceback"), line
        event = json.loads(line) if fmt == "json" else parse_logfmt(line)
        assert isinstance(event, dict), line
        assert event.get("ts", "").endswith("Z") and event.get("level") in {"debug", "info", "warn", "error"}, line
        assert "msg" in event and "logger" in event, line
        parsed.append(event)
    # str.splitlines() also splits on \r, \x1c-\x1e, \x85, \u2028, \u2029: none may be in a line.
    assert len(text.splitlines()) == len(parsed)
    return parsed


@pytest.fixture
def capture() -> Iterator[Capture]:
    """configure_logging(level, fmt) into a StringIO; the previous logging setup restored after."""
    handlers, level = logging.getLogger().handlers[:], logging.getLogger().level

    def configure(level: str = "debug", fmt: str = "logfmt") -> io.StringIO:
        stream = io.StringIO()
        configure_logging(level, fmt, stream=stream)
        return stream

    yield configure
    structlog.reset_defaults()
    logging.captureWarnings(False)
    root = logging.getLogger()
    root.handlers[:], root.level = handlers, level


MALFORMED = {
    "garbage request line": b"GARBAGE\r\n\r\n",
    "binary (TLS hello) on the HTTP port": b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + bytes(range(32)),
    "invalid header bytes": b"GET /metrics HTTP/1.1\r\nHo\x01st: x\r\nX-\xff: \x00\r\n\r\n",
    "header line with a newline in the name": b"GET / HTTP/1.1\r\nBad Header\r\n\r\n",
    "oversized header": b"GET / HTTP/1.1\r\nX-Big: " + b"a" * 20_000 + b"\r\n\r\n",
    "oversized request line": b"GET /" + b"x" * 20_000 + b" HTTP/1.1\r\n\r\n",
    "bad version after a good request": b"GET /-/healthy HTTP/1.1\r\nHost: x\r\n\r\nGET / HTTP/9.Z\r\n\r\n",
    "truncated request": b"GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: te",
}


async def _send(port: int, payload: bytes, read: bool) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(payload)
        await writer.drain()
        if read:
            async with asyncio.timeout(5):
                await reader.read()  # aiohttp answers 400 and closes
    finally:
        writer.close()


@pytest.mark.parametrize("fmt", ["logfmt", "json"])
async def test_malformed_requests_log_one_debug_line_each(capture: Capture, fleet: SimFleet, fmt: str) -> None:
    stream = capture("debug", fmt)
    async with running(fleet, fleet.directory / "config.yml") as harness:
        for name, payload in MALFORMED.items():
            await _send(harness.exporter.port, payload, read=name != "truncated request")
        assert (await harness.value("vrrp_router_up", vrrp_cluster="home", router="vyos01")) == 1
        logging.getLogger("asyncio").error("loop trouble", exc_info=RuntimeError("line 1\nline 2"))
    logged = events(stream.getvalue(), fmt)
    malformed = [e for e in logged if e["msg"] == "malformed_http_request"]
    assert len(malformed) >= len(MALFORMED) - 1  # each but the truncated one, which is no error
    assert {e["level"] for e in malformed} == {"debug"} and all(e["remote"] == "127.0.0.1" for e in malformed)
    assert not [e for e in logged if e["logger"].startswith("aiohttp") and e["level"] != "debug"]
    # Oversized heads are refused by the guard in front of aiohttp (431) before aiohttp parses them.
    assert any("431 Request Header Fields Too Large" in e["error"] for e in malformed)
    [loop] = [e for e in logged if e["logger"] == "asyncio"]
    assert loop["level"] == "error" and loop["exception"] == "RuntimeError: line 1\nline 2"
    assert {"exporter_started", "router_up", "exporter_stopped"} <= {e["msg"] for e in logged}


async def test_malformed_requests_silent_at_info(capture: Capture, fleet: SimFleet) -> None:
    stream = capture("info", "logfmt")
    async with running(fleet, fleet.directory / "config.yml") as harness:
        for name, payload in MALFORMED.items():
            await _send(harness.exporter.port, payload, read=name != "truncated request")
    logged = events(stream.getvalue(), "logfmt")
    assert not [e for e in logged if e["logger"].startswith("aiohttp")]
    assert "exporter_started" in {e["msg"] for e in logged}


@pytest.mark.parametrize("fmt", ["logfmt", "json"])
def test_stdlib_logger_is_one_structured_line(capture: Capture, fmt: str) -> None:
    stream = capture("info", fmt)
    logging.getLogger("x").warning("y")
    [event] = events(stream.getvalue(), fmt)
    assert (event["level"], event["logger"], event["msg"]) == ("warn", "x", "y")


@pytest.mark.parametrize("fmt", ["logfmt", "json"])
def test_log_level_flag_spelling(capture: Capture, fmt: str) -> None:
    args = serve_parser().parse_args(["--log.level=warn", f"--log.format={fmt}"])
    stream = capture(args.log_level, args.log_format)
    log = structlog.get_logger("exporter.test")
    log.info("hidden")
    log.warning("shown_warning")
    log.error("shown_error")
    logging.getLogger("other").info("hidden too")
    logging.getLogger("other").warning("stdlib warning")
    logging.getLogger("other").critical("stdlib critical")
    logged = events(stream.getvalue(), fmt)
    assert [(e["msg"], e["level"]) for e in logged] == [
        ("shown_warning", "warn"),
        ("shown_error", "error"),
        ("stdlib warning", "warn"),
        ("stdlib critical", "error"),
    ]
    stream = capture("debug", fmt)
    log.debug("now_visible")
    assert [(e["msg"], e["level"]) for e in events(stream.getvalue(), fmt)] == [("now_visible", "debug")]


def _chained() -> None:
    try:
        {}["missing"]
    except KeyError as exc:
        raise ValueError("bad\nvalue") from exc


@pytest.mark.parametrize("fmt", ["logfmt", "json"])
def test_exceptions_are_one_field(capture: Capture, fmt: str) -> None:
    stream = capture("info", fmt)
    try:
        _chained()
    except ValueError:
        structlog.get_logger("exporter.test").exception("ours_failed", router="r1")
        logging.getLogger("aiohttp.web").exception("Error in web handler")
    with warnings.catch_warnings():
        warnings.simplefilter("always")
        logging.captureWarnings(True)  # pytest's own warning capture replaced the hook for this test
        warnings.warn("a warning on two lines", UserWarning, stacklevel=1)
    ours, stdlib, warning = events(stream.getvalue(), fmt)
    for event in (ours, stdlib):
        text = event["exception"]
        assert text.startswith("ValueError: bad\nvalue [") and "test_log.py:" in text and " _chained" in text
        assert "; caused by KeyError: 'missing' [" in text
    assert (ours["msg"], ours["level"], ours["router"]) == ("ours_failed", "error", "r1")
    assert (stdlib["logger"], stdlib["level"]) == ("aiohttp.web", "error")
    assert (warning["logger"], warning["level"]) == ("py.warnings", "warn")


def test_exception_without_traceback_and_deep_recursion() -> None:
    assert format_exception(OSError("no route")) == "OSError: no route"

    def recurse(n: int) -> None:
        if n == 0:
            raise RecursionError("deep")
        recurse(n - 1)

    try:
        recurse(200)
    except RecursionError as exc:
        text = format_exception(exc)
    # 202 frames (this test's and 201 of recurse): the outer 10 and the inner 20 are kept.
    assert text.count(" > ") == 30 and text.count(" recurse") == 29 and "... 172 frames ..." in text


HOSTILE = ["", "plain", "two words", 'a"quote', "back\\slash", "a=b", "new\nline", "cr\rlf", "tab\t", "\x00\x1b[31m"]
HOSTILE += ["nel\x85", "ls\u2028ps\u2029", "ümlaut", "\U0001f600", "\x1c\x1d\x1e"]


@pytest.mark.parametrize("fmt", ["logfmt", "json"])
def test_hostile_values_stay_on_one_line_and_round_trip(capture: Capture, fmt: str) -> None:
    stream = capture("info", fmt)
    log = structlog.get_logger("exporter.test")
    for value in HOSTILE:
        log.info("value", value=value, **{"odd key=": 1})
    logged = events(stream.getvalue(), fmt)
    assert [e["value"] for e in logged] == HOSTILE
    assert logfmt_value(None) == "" and logfmt_value(True) == "true" and logfmt_value(1.5) == "1.5"
