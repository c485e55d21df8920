"""Logging: every event on one line, logfmt or JSON, ours and the standard library's alike.

Our events go through structlog; the stdlib loggers of aiohttp (`aiohttp.server`, `aiohttp.web`,
`aiohttp.access`), asyncio, asyncssh and `warnings` go through the same root handler, whose
structlog `ProcessorFormatter` runs the same processors on them (`foreign_pre_chain`). So every
line has `ts`, `level`, `logger` and `msg`, whatever wrote it:

    ts=2024-05-01T10:00:00.000Z level=warn logger=exporter.poller msg=poll_failed router=vyos02 ...
    ts=2024-05-01T10:00:00.001Z level=error logger=asyncio msg="Task exception was never retrieved" exception=...

- Levels are spelled as `--log.level` spells them: debug, info, warn, error (critical is error).
- An exception is one field, `exception`: type, message and a compact traceback (`file:line
  function` frames, innermost last), plus the `caused by`/`while handling` chain; never a
  multi-line traceback.
- logfmt values are quoted and escaped as go-logfmt does (`\\n`, `\\"`, `\\uXXXX` for any other
  unprintable character), so a hostile string cannot start a line of its own; JSON is one object
  per line (non-ASCII escaped).
- A request aiohttp cannot parse (bad request line or header, oversized line, ...) is the
  client's fault, not ours: aiohttp logs it at ERROR with a traceback; here it becomes one line at
  debug, `msg=malformed_http_request remote=... error=...`.
"""

from __future__ import annotations

import logging
import sys
import time
import traceback
from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import PurePath
from types import TracebackType
from typing import TextIO

import structlog
from aiohttp.http_exceptions import HttpProcessingError
from structlog.typing import EventDict, Processor, WrappedLogger

LEVELS = {"debug": logging.DEBUG, "info": logging.INFO, "warn": logging.WARNING, "error": logging.ERROR}
FORMATS = ("logfmt", "json")
KEY_ORDER = ("ts", "level", "logger", "msg")

_METHOD_LEVELS = {
    "debug": logging.DEBUG,
    "info": logging.INFO,
    "warn": logging.WARNING,
    "warning": logging.WARNING,
    "error": logging.ERROR,
    "exception": logging.ERROR,
    "critical": logging.CRITICAL,
    "fatal": logging.CRITICAL,
}
_MAX_FRAMES = 30  # a RecursionError's thousand frames are not one readable line
_MAX_ERROR_CHARS = 300  # what a client's malformed request may put into one log line


def level_name(levelno: int) -> str:
    """The `--log.level` word for a stdlib level number (critical and above: error)."""
    if levelno >= logging.ERROR:
        return "error"
    if levelno >= logging.WARNING:
        return "warn"
    return "info" if levelno >= logging.INFO else "debug"


def _add_level(_: WrappedLogger, method_name: str, event_dict: EventDict) -> EventDict:
    record = event_dict.get("_record")
    own = _METHOD_LEVELS.get(method_name, logging.INFO)
    event_dict["level"] = level_name(record.levelno if isinstance(record, logging.LogRecord) else own)
    return event_dict


def _add_timestamp(_: WrappedLogger, __: str, event_dict: EventDict) -> EventDict:
    """`ts` in UTC with milliseconds, as Prometheus' own logfmt; a stdlib record keeps its own time."""
    record = event_dict.get("_record")
    created = record.created if isinstance(record, logging.LogRecord) else time.time()
    stamp = datetime.fromtimestamp(created, UTC).isoformat(timespec="milliseconds")
    event_dict["ts"] = stamp.removesuffix("+00:00") + "Z"
    return event_dict


def _short_path(filename: str) -> str:
    """`.../site-packages/aiohttp/web_protocol.py` -> `aiohttp/web_protocol.py`."""
    parts = PurePath(filename).parts
    return "/".join(parts[-2:]) if len(parts) > 1 else filename


def _type_name(exc: BaseException) -> str:
    cls = type(exc)
    return cls.__qualname__ if cls.__module__ == "builtins" else f"{cls.__module__}.{cls.__qualname__}"


def _frames(tb: TracebackType | None) -> str:
    frames = [f"{_short_path(f.filename)}:{f.lineno} {f.name}" for f in traceback.extract_tb(tb)]
    if len(frames) > _MAX_FRAMES:
        keep = _MAX_FRAMES // 3
        frames = [*frames[:keep], f"... {len(frames) - _MAX_FRAMES} frames ...", *frames[keep - _MAX_FRAMES :]]
    return " > ".join(frames)


def format_exception(exc: BaseException) -> str:
    """One line: `Type: message [file:line func > ...]`, then `; caused by ...` for the chain."""
    parts: list[str] = []
    seen: set[int] = set()
    link = ""
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        message = str(current)
        text = f"{link}{_type_name(current)}: {message}" if message else f"{link}{_type_name(current)}"
        frames = _frames(current.__traceback__)
        parts.append(f"{text} [{frames}]" if frames else text)
        if current.__cause__ is not None:
            link, current = "caused by ", current.__cause__
        elif current.__context__ is not None and not current.__suppress_context__:
            link, current = "while handling ", current.__context__
        else:
            current = None
    return "; ".join(parts)


def _exception_of(exc_info: object) -> BaseException | None:
    if isinstance(exc_info, BaseException):
        return exc_info
    if isinstance(exc_info, tuple) and len(exc_info) == 3 and isinstance(exc_info[1], BaseException):
        return exc_info[1]
    if exc_info is True:
        return sys.exc_info()[1]
    return None


def _one_line_exception(_: WrappedLogger, __: str, event_dict: EventDict) -> EventDict:
    """`exc_info` (ours or a stdlib record's) -> `exception`, one line; `stack_info` -> `stack`."""
    exc = _exception_of(event_dict.pop("exc_info", None))
    if exc is not None:
        event_dict["exception"] = format_exception(exc)
    stack = event_dict.pop("stack_info", None)
    if isinstance(stack, str):
        event_dict["stack"] = " | ".join(line.strip() for line in stack.splitlines() if line.strip())
    return event_dict


def _ordered(_: WrappedLogger, __: str, event_dict: EventDict) -> EventDict:
    ordered = {key: event_dict.pop(key) for key in KEY_ORDER if key in event_dict}
    ordered.update(event_dict)
    return ordered


_ESCAPES = {"\\": "\\\\", '"': '\\"', "\n": "\\n", "\r": "\\r", "\t": "\\t"}


def _logfmt_escape(char: str) -> str:
    escaped = _ESCAPES.get(char)
    if escaped is not None:
        return escaped
    if char.isprintable():
        return char
    code = ord(char)
    return f"\\u{code:04x}" if code <= 0xFFFF else f"\\U{code:08x}"


def logfmt_value(value: object) -> str:
    """A logfmt value as go-logfmt writes it: bare if it can be, else quoted and escaped."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    text = value if isinstance(value, str) else str(value)
    if text and all(c > " " and c not in '="\\' and c.isprintable() for c in text):
        return text
    return '"' + "".join(_logfmt_escape(c) for c in text) + '"'


def _logfmt_key(key: object) -> str:
    text = str(key)
    return "".join(c if c > " " and c not in '="' and c.isprintable() else "_" for c in text) or "_"


def render_logfmt(_: WrappedLogger, __: str, event_dict: EventDict) -> str:
    return " ".join(f"{_logfmt_key(key)}={logfmt_value(value)}" for key, value in event_dict.items())


class MalformedRequestFilter(logging.Filter):
    """On `aiohttp.server`: a request it could not parse becomes one debug line without traceback.

    aiohttp logs "Error handling request" at ERROR with the parser's exception (a subclass of
    HttpProcessingError: BadStatusLine, InvalidHeader, LineTooLong, ...). Every scanner on the
    network sends such requests; they are no fault of the exporter. Other errors stay as they are.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        if not isinstance(exc, HttpProcessingError):
            return True
        if not logging.getLogger(record.name).isEnabledFor(logging.DEBUG):
            return False
        remote = record.args[0] if isinstance(record.args, tuple) and record.args else None
        # aiohttp's parser points at the bad byte on a line of its own (`    ^`): drop that line.
        lines = [line.strip() for line in str(exc.message or exc).splitlines()]
        error = " ".join([type(exc).__name__ + ":", *(line for line in lines if line.strip("^~ "))])
        record.levelno, record.levelname = logging.DEBUG, "DEBUG"
        record.msg, record.args = "malformed_http_request", ()
        record.exc_info, record.exc_text = None, None
        record.remote = remote if isinstance(remote, str) else None
        record.error = error[:_MAX_ERROR_CHARS]
        return True


def _shared(extra: Iterable[str]) -> list[Processor]:
    return [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.ExtraAdder(allow=tuple(extra)),  # only reads stdlib records
        _add_level,
        structlog.stdlib.add_logger_name,
        _add_timestamp,
        _one_line_exception,
        # Prometheus' own logfmt uses `msg`, so log pipelines that parse it work unchanged.
        structlog.processors.EventRenamer("msg"),
    ]


def configure_logging(level: str = "info", fmt: str = "logfmt", stream: TextIO | None = None) -> None:
    """Route structlog and every stdlib logger to one handler on `stream` (stderr): one line per event."""
    shared = _shared(("remote", "error"))
    renderer: Processor = structlog.processors.JSONRenderer() if fmt == "json" else render_logfmt
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=shared,
        processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, _ordered, renderer],
    )
    structlog.configure(
        processors=[*shared, structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        wrapper_class=structlog.make_filtering_bound_logger(LEVELS[level]),
        logger_factory=structlog.stdlib.LoggerFactory(),
        cache_logger_on_first_use=False,
    )
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(formatter)
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(LEVELS[level])
    logging.captureWarnings(True)  # `warnings` would print two lines of its own on stderr
    server = logging.getLogger("aiohttp.server")
    for old in [f for f in server.filters if isinstance(f, MalformedRequestFilter)]:
        server.removeFilter(old)
    server.addFilter(MalformedRequestFilter())
    # asyncssh logs every channel at INFO; our own events already say what matters.
    logging.getLogger("asyncssh").setLevel(max(LEVELS[level], logging.WARNING))
    logging.getLogger("aiohttp.access").setLevel(max(LEVELS[level], logging.WARNING))
