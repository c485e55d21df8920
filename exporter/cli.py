"""Command line: serve (default), `poll`, `lint`, `demo`, and `--config.check`.

Flags follow Prometheus exporter conventions (`--config.file`, `--web.listen-address`, ...).
A sub-command's flags may also come before its name (`--config.file=x poll --output=json`): the
first argument that is a sub-command's name, and not the value of a flag, selects that command,
and its parser reads every other argument. Flags are never abbreviated (`--config.f` is an error).
Exit codes: 0 ok, 1 split/no master/dual master (poll) or split risk (lint), 2 bad config or flags,
3 router unreachable (poll) or its configuration unreadable (lint).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal
import sys
from collections.abc import Awaitable, Callable, Coroutine, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import structlog

from . import __version__
from .config import Config, Shard, file_problems, load_config, permission_warnings
from .errors import ConfigError
from .log import FORMATS, LEVELS, configure_logging

if TYPE_CHECKING:
    from .lint import FromFile, LintTarget

log = structlog.get_logger("exporter.cli")

EXIT_OK, EXIT_CONFIG = 0, 2  # poll's 1 and 3 come from the findings (findings.EXIT_CODES)
DEFAULT_CONFIG = "vrrp-exporter.yml"


class _Parser(argparse.ArgumentParser):
    def __init__(self, prog: str, description: str, epilog: str | None = None) -> None:
        # No abbreviations, as kingpin in the Go exporters; it also keeps `--config.f poll` from
        # reading as a flag without a value followed by the sub-command.
        super().__init__(prog=prog, description=description, epilog=epilog, allow_abbrev=False)

    def error(self, message: str) -> None:  # type: ignore[override]
        # argparse exits 2 too; say which command so the usage line is the right one.
        self.print_usage(sys.stderr)
        self.exit(EXIT_CONFIG, f"{self.prog}: error: {message}\n")


def _log_flags(parser: argparse.ArgumentParser, level: str = "info") -> None:
    parser.add_argument(
        "--log.level",
        dest="log_level",
        choices=list(LEVELS),
        default=level,
        help=f"only log events at this level or above: debug, info, warn, error (default {level})",
    )
    parser.add_argument(
        "--log.format",
        dest="log_format",
        choices=list(FORMATS),
        default="logfmt",
        help="log line format on stderr, one event per line: logfmt or json (default logfmt)",
    )


def _config_flag(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--config.file",
        dest="config_file",
        default=DEFAULT_CONFIG,
        help=f"YAML configuration file (default {DEFAULT_CONFIG})",
    )


class _Addresses(list[str]):
    """Listen addresses; printed as the flag would be written (`a,b`), not as a Python list."""

    def __str__(self) -> str:
        return ",".join(self)


class _Repeatable(argparse.Action):
    """Each use appends; the first one replaces the default (argparse's `append` would keep it)."""

    def __call__(
        self,
        parser: argparse.ArgumentParser,
        namespace: argparse.Namespace,
        values: str | Sequence[object] | None,
        option_string: str | None = None,
    ) -> None:
        current = getattr(namespace, self.dest)
        base = _Addresses() if current is self.default else current
        setattr(namespace, self.dest, _Addresses([*base, str(values)]))


def _web_flags(parser: argparse.ArgumentParser, listen_default: str) -> None:
    parser.add_argument(
        "--web.listen-address",
        dest="listen_address",
        action=_Repeatable,
        default=_Addresses([listen_default]),
        help=f"address to serve metrics and the status page on; repeat the flag to listen on several"
        f" (default {listen_default})",
    )
    parser.add_argument(
        "--web.systemd-socket",
        dest="systemd_socket",
        action="store_true",
        help="serve on the sockets passed by systemd socket activation (LISTEN_FDS) instead of --web.listen-address",
    )
    parser.add_argument(
        "--web.telemetry-path",
        dest="telemetry_path",
        default="/metrics",
        help="path under which to expose metrics (default /metrics)",
    )
    parser.add_argument(
        "--web.config.file",
        dest="web_config_file",
        default=None,
        help="TLS and basic auth configuration (Prometheus exporter-toolkit web-config format)",
    )


def _shard_flag(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--shard",
        type=_shard,
        default=None,
        help="poll only the clusters of shard i of n (e.g. 2/3), assigned by a stable hash of the cluster name",
    )


def _shard(text: str) -> Shard:
    try:
        return Shard.parse(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from exc


def serve_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="vyos-vrrp-exporter",
        description="Prometheus exporter for VRRP on VyOS: polls `show vrrp` on every router over SSH and"
        " reports, per sync set, whether the masters are split across routers.",
        epilog="sub-commands: `vyos-vrrp-exporter poll --help`, `vyos-vrrp-exporter lint --help`,"
        " `vyos-vrrp-exporter demo --help`;"
        " a sub-command's flags may also come before its name (`--config.file=x poll`)",
    )
    _config_flag(parser)
    parser.add_argument(
        "--config.check",
        dest="config_check",
        action="store_true",
        help="validate the configuration, print every problem and exit (0 valid, 2 invalid)",
    )
    _web_flags(parser, ":9798")
    _shard_flag(parser)
    _log_flags(parser)
    parser.add_argument(
        "--version",
        action="version",
        version=f"vyos-vrrp-exporter {__version__}",
        help="print the version and exit",
    )
    return parser


def poll_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="vyos-vrrp-exporter poll",
        description="Poll every router once and print, per cluster, the `show vrrp` tables side by side"
        " and a verdict. Exit 0 healthy, 1 split/no master/dual master, 3 router unreachable, router without"
        " VRRP or group without standby, 2 bad config.",
    )
    _config_flag(parser)
    parser.add_argument(
        "--output",
        choices=["table", "json"],
        default="table",
        help="table: the routers' tables side by side and a verdict per cluster; json: the same for scripts"
        " (default table)",
    )
    _shard_flag(parser)
    _log_flags(parser, "error")  # the verdict is the output
    return parser


def _from_file(text: str) -> FromFile:
    from .lint import FromFile

    try:
        return FromFile.parse(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from exc


def lint_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="vyos-vrrp-exporter lint",
        description="Read every router's VRRP configuration once and print, per cluster, the split risks"
        " with the VyOS commands that fix them. Exit 0 none, 1 findings, 3 a router's configuration"
        " unreadable, 2 bad config, flags or file.",
        epilog="without --config.file, routers given only by --from-file are linted together as one"
        " cluster named `lint`: vyos-vrrp-exporter lint --from-file vyos01=a.txt --from-file vyos02=b.txt",
    )
    parser.add_argument(
        "--config.file",
        dest="config_file",
        default=None,
        help=f"YAML configuration file (default {DEFAULT_CONFIG}, or none when every router comes from --from-file)",
    )
    parser.add_argument(
        "--from-file",
        dest="from_files",
        metavar="[CLUSTER/]ROUTER=PATH",
        type=_from_file,
        action="append",
        default=[],
        help="read ROUTER's configuration from PATH (saved `show configuration commands` output) instead of"
        " over SSH; repeatable; prefix CLUSTER/ when several clusters have a router of that name",
    )
    parser.add_argument(
        "--output",
        choices=["table", "json"],
        default="table",
        help="table: findings and fix commands per cluster; json: the same for scripts (default table)",
    )
    _shard_flag(parser)
    _log_flags(parser, "error")  # the findings are the output
    return parser


def demo_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="vyos-vrrp-exporter demo",
        description="Start simulated VyOS routers (real SSH servers on 127.0.0.1) and the exporter against"
        " them, and walk through the incident: healthy, VLAN split, sync-group all-FAULT, preempt fix.",
    )
    parser.add_argument("--once", action="store_true", help="run the story at full speed, print verdicts, exit")
    parser.add_argument(
        "--phase-seconds", type=float, default=20.0, help="how long each phase lasts when not --once (default 20)"
    )
    _web_flags(parser, "127.0.0.1:9798")
    _log_flags(parser, "warn")  # the story is the output
    return parser


def _print_config_problems(path: str, exc: ConfigError) -> None:
    print(f"{path}: invalid configuration ({exc.total} problem(s)):", file=sys.stderr)
    for problem in exc.problems:
        print(f"  {problem}", file=sys.stderr)


def _load(path: str, warn: bool = False) -> Config | None:
    """The validated config, or None after printing every problem to stderr.

    With `warn`, secret files that group or others can read are printed as `warning:` lines, the
    same findings serve logs; they never change the exit code."""
    try:
        config = load_config(path, check_files=False)
        if warn:
            for warning in permission_warnings(config):
                print(f"warning: {warning}", file=sys.stderr)
        problems = file_problems(config)
        if problems:
            raise ConfigError(problems)
        return config
    except ConfigError as exc:
        _print_config_problems(path, exc)
        return None
    except Exception as exc:
        # The loader turns every bad input into ConfigError; anything else is our bug. Still exit 2
        # with one line an operator can report, not a traceback that hides which file was at fault.
        print(
            f"{path}: internal error while loading the configuration ({type(exc).__name__}: {exc}); please report this",
            file=sys.stderr,
        )
        return None


def check_config(path: str) -> int:
    config = _load(path, warn=True)
    if config is None:
        return EXIT_CONFIG
    routers = sum(len(c.routers) for c in config.clusters)
    print(f"{path}: OK ({len(config.clusters)} cluster(s), {routers} router(s))")
    return EXIT_OK


async def _poll(path: str, output: str, shard: Shard | None) -> int:
    from .findings import overall_exit_code
    from .poller import Poller
    from .report import render_json, render_table

    config = _load(path, warn=True)
    if config is None:
        return EXIT_CONFIG
    if shard is not None:
        config = shard.select(config)
    poller = Poller(config)
    try:
        views = await poller.poll_once()
    finally:
        await poller.transport.close()
    # Config risks are warnings here: `lint` is the command whose exit code reports them.
    unread = {v.spec.name: u for v in views if (u := poller.config_unread(v.spec.name)) is not None}
    sys.stdout.write(render_json(views, unread) if output == "json" else render_table(views, unread))
    return overall_exit_code(views)


async def _serve(args: argparse.Namespace) -> int:
    from .service import Exporter, parse_listen_address
    from .web.webconfig import WebConfigError, load_web_config

    config = _load(args.config_file)
    if config is None:
        return EXIT_CONFIG
    try:
        for address in args.listen_address:
            parse_listen_address(address)
        web = load_web_config(args.web_config_file) if args.web_config_file else None
    except (ValueError, WebConfigError) as exc:
        print(f"vyos-vrrp-exporter: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    exporter = Exporter(config, Path(args.config_file), shard=args.shard)
    try:
        await exporter.start(
            args.listen_address,
            args.telemetry_path,
            ssl_context=web.ssl_context if web else None,
            middlewares=web.middlewares if web else None,
            systemd_socket=args.systemd_socket,
        )
    except ValueError as exc:  # --web.systemd-socket without sockets
        await exporter.stop()
        print(f"vyos-vrrp-exporter: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    except OSError as exc:
        await exporter.stop()
        where = "the systemd sockets" if args.systemd_socket else args.listen_address
        print(f"vyos-vrrp-exporter: cannot listen on {where}: {exc.strerror or exc}", file=sys.stderr)
        return EXIT_CONFIG
    await _run_until_signalled(exporter.reload)
    await exporter.stop()
    return EXIT_OK


async def _run_until_signalled(reload: Callable[[], Awaitable[object]]) -> None:
    """Block until SIGTERM/SIGINT; SIGHUP calls `reload` (an async callable) in the background."""
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    pending: set[asyncio.Task[object]] = set()

    def on_hup() -> None:
        task: asyncio.Task[object] = asyncio.ensure_future(reload())
        pending.add(task)
        task.add_done_callback(pending.discard)

    loop.add_signal_handler(signal.SIGHUP, on_hup)
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    try:
        await stop.wait()
        log.info("shutdown_requested")
    finally:
        for sig in (signal.SIGHUP, signal.SIGTERM, signal.SIGINT):
            loop.remove_signal_handler(sig)
        for task in pending:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task


async def _run_poll(args: argparse.Namespace) -> int:
    return await _poll(args.config_file, args.output, args.shard)


async def _run_lint(args: argparse.Namespace) -> int:
    from .lint import LintUsageError, lint_targets, overall_exit_code, render_json, render_table

    try:
        targets, time_limit, concurrency = _lint_plan(args)
        results = await lint_targets(targets, time_limit, concurrency)
    except _ConfigInvalid:
        return EXIT_CONFIG
    except LintUsageError as exc:
        print(f"vyos-vrrp-exporter lint: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    sys.stdout.write(render_json(results) if args.output == "json" else render_table(results))
    return overall_exit_code(results)


class _ConfigInvalid(Exception):
    """The config file's problems were printed already."""


def _lint_plan(args: argparse.Namespace) -> tuple[list[LintTarget], float, int]:
    """What `lint` reads: the implicit cluster of --from-file alone, else the config's clusters."""
    from .lint import plan_from_config, plan_from_files

    if args.config_file is None and args.from_files:
        return plan_from_files(args.from_files), 0.0, 1
    path = args.config_file or DEFAULT_CONFIG
    config = _load(path, warn=True)
    if config is None:
        raise _ConfigInvalid(path)
    selected = args.shard.select(config) if args.shard is not None else config
    targets = plan_from_config(config, args.from_files, [c.name for c in selected.clusters])
    return targets, config.command_timeout, config.max_concurrent_polls


async def _run_demo(args: argparse.Namespace) -> int:
    from .demo import run_demo

    return await run_demo(args)


@dataclass(frozen=True)
class Command:
    """A sub-command: its parser and what runs the parsed arguments."""

    parser: Callable[[], argparse.ArgumentParser]
    run: Callable[[argparse.Namespace], Coroutine[object, object, int]]


COMMANDS: Mapping[str, Command] = {
    "poll": Command(poll_parser, _run_poll),
    "demo": Command(demo_parser, _run_demo),
    "lint": Command(lint_parser, _run_lint),
}


def parsers() -> dict[str, argparse.ArgumentParser]:
    """Every parser of the command line, by sub-command ("" is serve)."""
    return {"": serve_parser(), **{name: command.parser() for name, command in COMMANDS.items()}}


def _takes_value(parsers: Sequence[argparse.ArgumentParser]) -> dict[str, bool]:
    """Every option string of `parsers`, and whether it reads the next argument as its value."""
    return {
        option: action.nargs != 0
        for parser in parsers
        for action in parser._actions  # argparse has no public API for its actions
        for option in action.option_strings
    }


def split_command(argv: Sequence[str]) -> tuple[str | None, list[str]]:
    """(sub-command or None for serve, the arguments for its parser, the command's name left out).

    The sub-command is the first argument that names one and is not a flag's value; only flags
    (with their values) may come before it. Anything else is left to the serve parser, which
    reports it as usual."""
    args = list(argv)
    arity = _takes_value(list(parsers().values()))
    i = 0
    while i < len(args):
        token = args[i]
        if token in COMMANDS:
            return token, args[:i] + args[i + 1 :]
        if token == "--" or not token.startswith("-"):
            break
        if "=" not in token and arity.get(token, False):
            i += 1  # `--config.file PATH`: PATH is the flag's, even if it reads `poll`
        i += 1
    return None, args


def main(argv: Sequence[str] | None = None) -> int:
    name, args_list = split_command(sys.argv[1:] if argv is None else argv)
    if name is not None:
        command = COMMANDS[name]
        args = command.parser().parse_args(args_list)
        configure_logging(args.log_level, args.log_format)
        return _guarded(lambda: asyncio.run(command.run(args)))
    args = serve_parser().parse_args(args_list)
    configure_logging(args.log_level, args.log_format)
    if args.config_check:
        return check_config(args.config_file)
    return _guarded(lambda: asyncio.run(_serve(args)))


def _guarded(run: Callable[[], int]) -> int:
    """A crash is one log line like every other event (exit 1, as Python's own), not a traceback."""
    try:
        return run()
    except KeyboardInterrupt:
        return 130  # the shell's code for SIGINT
    except Exception:
        log.exception("unexpected_error")
        return 1
