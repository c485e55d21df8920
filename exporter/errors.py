"""Exception types shared by every layer. Each carries what an operator needs to act."""

from __future__ import annotations

from enum import StrEnum


class ExporterError(Exception):
    """Base of every error this package raises on purpose."""


class PollErrorReason(StrEnum):
    """Values of the `reason` label of `vrrp_poll_errors_total` (fixed by DESIGN.md)."""

    CONNECT = "connect"
    TIMEOUT = "timeout"
    AUTH = "auth"
    HOSTKEY = "hostkey"
    COMMAND = "command"
    PARSE = "parse"
    # VyOS said its VRRP data is not available, from a router that had groups at its last poll:
    # asked again before it is believed (VyOS's one dump file races between concurrent readers).
    UNAVAILABLE = "unavailable"


class ConfigError(ExporterError):
    """The configuration is invalid; `problems` lists `yaml.path: message` lines (possibly only the
    first ones, with a last line saying how many more: `total` counts them all)."""

    def __init__(self, problems: list[str], total: int | None = None) -> None:
        self.problems = problems
        self.total = len(problems) if total is None else total
        super().__init__("\n".join(problems))


class PollError(ExporterError):
    """One poll of one router failed. `reason` is the metric label, `message` is for humans."""

    reason: PollErrorReason = PollErrorReason.COMMAND

    def __init__(self, message: str, reason: PollErrorReason | None = None) -> None:
        super().__init__(message)
        self.message = message
        if reason is not None:
            self.reason = reason


class TransportError(PollError):
    """SSH-level failure: connect, timeout, auth, hostkey or a failed command."""


class ParseError(PollError):
    """`show vrrp` output that cannot be read. Never guessed around: the whole poll fails."""

    reason = PollErrorReason.PARSE

    def __init__(self, message: str, line_no: int | None = None, line: str | None = None) -> None:
        self.line_no = line_no
        self.line = line
        where = f"line {line_no}: " if line_no is not None else ""
        shown = f" (got {line[:80]!r})" if line is not None else ""
        super().__init__(f"{where}{message}{shown}")


class VrrpUnavailableError(PollError):
    """VyOS answered but had no data this time (`VRRP data is not available (wait time exceeded)`).

    Transient: the router is up but this poll yields nothing, so it counts as a `command` error.
    """

    reason = PollErrorReason.COMMAND
