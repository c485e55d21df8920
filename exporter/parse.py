"""Read VyOS `show vrrp` output into `VrrpGroup` values.

Pure functions: no I/O, no logging, no clock (the JSON variant takes `now` from the caller).

What VyOS prints, by version (vyos/vyos-1x `src/op_mode/vrrp.py`, `python/vyos/ifconfig/vrrp.py`):

- a python-`tabulate` "simple" table: a header line, a line of dash runs (one run per column,
  separated by spaces, each at least its header plus 2), then one row per group. 1.2 has no
  Priority column. Disabled groups come last with State `DISABLED` and an empty Priority; their
  Last Transition cell is empty (1.2) or missing altogether (1.3+). `tabulate` right-strips every
  line, so empty trailing cells vanish. A column and its header are right-aligned when every cell
  is a number (digit-only group names too), else left-aligned: tabulate 0.8/0.9 (Debian's, in
  VyOS) take a DISABLED row's `''` Priority for text and left-align the column, 0.10 does not.
- Interface is keepalived's: `eth1`, `eth0.20`, or an rfc3768-compatibility VMAC interface,
  `eth1v1` up to 1.3 and `eth0v10v4` / `eth0v10v6` since T4665 (keepalived.conf.j2 `use_vmac`).
- Last Transition is `seconds_to_human(int(now - last_transition))`: `4h27m1s`, weeks at most
  before T6244 (2024: 1.2, 1.3, early 1.4; `60w3d`), years of 365.25 days after it (1.4.x, 1.5:
  `1y8w2d1h5m42s`), and the empty string under a second or for a clock stepped back (read as 0:
  exact to the second, like every other cell, and what the JSON path gives). Any unambiguous
  duration is read (`100s` from a hand-written docs page): see `parse_duration`.
- one-line messages instead of a table (see `_NO_VRRP_MESSAGES` and `_UNAVAILABLE_MESSAGES`).
- since 1.5, `vrrp.py show_summary --raw` prints keepalived's JSON dump instead of the table.

Anything else is a `ParseError` naming the line: a wrong answer about which router is master is
worse than no answer, so nothing here guesses. One exception, because the cell says nothing about
who is master: a Last Transition that cannot be read leaves that group's age unknown (None) and is
listed in `ParsedVrrp.problems` (`parse_show_vrrp_detailed`) for the caller to count.

Output cut short (lost tail, exit 0). Refused, as "the table looks cut short":
- a row that stops before a cell VyOS always fills (State; Priority unless DISABLED), inside a
  right-aligned cell, or inside its State;
- a left-aligned column whose cells are all numbers: the row that made it text is gone (for
  Priority, the DISABLED rows, which VyOS lists last);
- the output's last line, with no newline after it (print() always writes one), holding a Last
  Transition that cannot be read (`1y8w2d1`);
- a dash run shorter than its header plus 2 (a dash line cut inside its last run).
Not detectable, because tabulate's layout looks the same: whole rows lost at a line boundary (a
table with fewer rows than the router has; zero rows under an intact header), and a last row cut
inside or just before its Last Transition in a way that still reads (`26m` of `26m13s`, or nothing,
read as 0 s). A capture that drops the final newline of a complete table (Ansible's stdout_lines)
is read as usual.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from .errors import ParseError, PollError, PollErrorReason, TransportError, VrrpUnavailableError
from .model import CommandResult, VrrpGroup, VrrpState

__all__ = [
    "MAX_LINE_CHARS",
    "MAX_OUTPUT_CHARS",
    "ParsedVrrp",
    "parse_duration",
    "parse_show_vrrp",
    "parse_show_vrrp_detailed",
]

# A router with 4,000 groups prints about 300 kB; anything far larger is not `show vrrp`, and
# refusing it up front keeps the worst case cheap.
MAX_OUTPUT_CHARS = 2_000_000
# A table row is under 200 characters (group names are at most 100); a JSON line is shorter still.
MAX_LINE_CHARS = 4_096

# -- durations ------------------------------------------------------------------------------------

# vyos.utils.convert.seconds_to_human counts a year as 365.25 days (T6244, PR #3336, 2024: 1.4.x and
# 1.5); older releases (vyos.util) stop at weeks, so `60w3d` and `1y8w2d` are both real output.
_MINUTE = 60
_HOUR = 60 * _MINUTE
_DAY = 24 * _HOUR
_WEEK = 7 * _DAY
_YEAR = 31_557_600  # 365.25 days
_UNITS = {"y": _YEAR, "w": _WEEK, "d": _DAY, "h": _HOUR, "m": _MINUTE, "s": 1}
_UNIT_ORDER = "ywdhms"

# One or more `<digits><unit>` terms, optionally one space apart (seconds_to_human's separator).
_DURATION_RE = re.compile(r"[0-9]{1,12}[ywdhms](?: ?[0-9]{1,12}[ywdhms])*")
_TERM_RE = re.compile(r"([0-9]+)([ywdhms])")


def parse_duration(text: str) -> int:
    """Seconds in a duration such as VyOS's `seconds_to_human` writes (`1y4w6d23h1m9s`, `38s`).

    Strict about meaning, lenient about form. The empty string is 0 (`seconds_to_human(0)`).
    Accepted although VyOS never prints them, because each has exactly one meaning: a unit over
    its usual range (`100s`, `90m`, `1h60m`, `60w`, `1y53w`), zero parts (`0s`, `1h0m`), leading
    zeros (`1m05s`) and one space between parts (`1h 5m`, the `separator=" "` form).
    Refused (ValueError): units out of order or repeated (`5s3m`, `1m1m`: a sum would be a guess
    at two values run together), a number without a unit (`90`: seconds or minutes?), units
    other than lowercase y/w/d/h/m/s (`1M` month or minute, `500ms`), fractions and signs
    (`1.5s`, `-1s`: ages are whole seconds), and more than 12 digits in a part.
    """
    if not text:
        return 0
    if _DURATION_RE.fullmatch(text) is None:
        raise ValueError(f"not a duration: {text[:40]!r}")
    total = 0
    previous = -1
    for match in _TERM_RE.finditer(text):
        rank = _UNIT_ORDER.index(match.group(2))
        if rank <= previous:
            raise ValueError(
                f"not a duration (units {'repeated' if rank == previous else 'out of order'}): {text[:40]!r}"
            )
        previous = rank
        total += int(match.group(1)) * _UNITS[match.group(2)]
    return total


# -- messages -------------------------------------------------------------------------------------

# Printed instead of a table when the router has no VRRP to report: zero groups, router up.
_NO_VRRP_MESSAGES = frozenset(
    {
        "VRRP is not running",  # 1.2-1.4 op-mode script: keepalived not running
        "VRRP not configured!",  # 1.4 op-mode script: no `high-availability vrrp group`
        # 1.4.x/1.5 vyos.ifconfig.vrrp: no keepalived PID file (not running, no active group)
        "VRRP data is not available (process not running or no active groups)",
    }
)

# Printed when VRRP runs but this one read of keepalived's state failed: a transient poll error.
# "Not running" in every version's words: a lost dump-file race prints the same (issue 13).
NOT_RUNNING_MESSAGES = frozenset(
    {
        "VRRP is not running",
        "VRRP data is not available (process not running or no active groups)",
    }
)

_UNAVAILABLE_MESSAGES = frozenset(
    {
        "VRRP data is not available (wait time exceeded)",  # 1.4+: keepalived's dump timed out
        "VRRP information is not available",  # 1.2: the dump was not there after 0.2 s (exit 1)
        "VRRP data is not available",  # 1.3: any failure while reading the dump (VRRPError)
    }
)

# -- lines ----------------------------------------------------------------------------------------

# Shell noise around a capture: `vyos@vyos01:~$ show vrrp`, `vyos@vyos# run show vrrp`,
# `EU-GW03:~$`, and the `[edit]` banner VyOS prints in configuration mode.
_PROMPT_RE = re.compile(
    r"(?:[A-Za-z0-9_][A-Za-z0-9_.-]*@)?[A-Za-z0-9][A-Za-z0-9_.-]*:[^\s$#]*[$#](?: .*)?"
    r"|[A-Za-z0-9_][A-Za-z0-9_.-]*@[A-Za-z0-9][A-Za-z0-9_.-]*[$#](?: .*)?"
    r"|\[edit(?: [^\]]*)?\]"
)


@dataclass(frozen=True, slots=True)
class _Line:
    no: int  # 1-based, as an operator counts lines in the raw output
    text: str  # without the line ending and trailing spaces


def _error(message: str, line: _Line) -> ParseError:
    """A ParseError naming the line, quoting it unless it may hold a JSON value.

    keepalived's JSON carries the VRRP password (`auth_data`); `show vrrp` tables, prompts and
    VyOS messages never contain a double quote, JSON strings always do.
    """
    return ParseError(message, line.no, None if '"' in line.text else line.text)


def _split_lines(text: str) -> list[_Line]:
    """Lines of the output, CRLF or LF, without trailing spaces."""
    if len(text) > MAX_OUTPUT_CHARS:
        raise ParseError(f"output is {len(text)} characters, more than the {MAX_OUTPUT_CHARS} accepted")
    # split("\n"), not splitlines(): the latter also breaks on \v, \f, \x1c... and would shift
    # the line numbers away from what the operator sees.
    return [
        _Line(no, (raw[:-1] if raw.endswith("\r") else raw).rstrip(" "))
        for no, raw in enumerate(text.split("\n"), start=1)
    ]


def _check_lines(lines: Sequence[_Line], quote: bool) -> None:
    """Refuse what no VyOS prints; `quote=False` keeps the text out of the error (JSON mode)."""
    for line in lines:
        problem = None
        if len(line.text) > MAX_LINE_CHARS:
            problem = f"line is {len(line.text)} characters long, more than {MAX_LINE_CHARS}"
        elif not line.text.isprintable():  # NUL, escapes, lone CR, BOM, surrogates from bad UTF-8
            problem = "line has non-printable characters"
        if problem is not None:
            raise _error(problem, line) if quote else ParseError(problem, line.no)


def _is_noise(line: _Line) -> bool:
    return not line.text or _PROMPT_RE.fullmatch(line.text) is not None


def _expect_only_noise(lines: Sequence[_Line], what: str) -> None:
    for line in lines:
        if not _is_noise(line):
            raise _error(f"unexpected text after {what}", line)


# -- entry point ----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ParsedVrrp:
    """What one `show vrrp` output says: its groups, and what in it could not be read.

    A problem is a short message naming the line and the group (`line 5: group 'VLAN1': ...`);
    each is a cell the parser left unknown rather than fail the whole poll for (today only a
    Last Transition it cannot read: the group keeps its state, its age is None).
    """

    groups: tuple[VrrpGroup, ...]
    problems: tuple[str, ...] = ()
    # VyOS's sentence when it printed one instead of a table (no groups), e.g. `VRRP is not running`.
    message: str | None = None

    @property
    def doubtful(self) -> bool:
        """VyOS said keepalived is not running. That is also what a reader that lost the race for
        VyOS's single dump file gets, so from a router that had groups it is asked again first."""
        return self.message in NOT_RUNNING_MESSAGES


def parse_show_vrrp(text: str, *, now: float | None = None) -> tuple[VrrpGroup, ...]:
    """The groups of `parse_show_vrrp_detailed`, for callers that do not count problems."""
    return parse_show_vrrp_detailed(text, now=now).groups


def parse_show_vrrp_detailed(text: str, *, now: float | None = None) -> ParsedVrrp:
    """Groups in the output of `show vrrp` (VyOS 1.2 to 1.5/rolling), in the router's order.

    Returns no groups for VyOS's "no VRRP here" messages. Raises `VrrpUnavailableError` when VyOS
    says its VRRP data is momentarily unavailable, and `ParseError` for anything it cannot read,
    except a Last Transition cell: that group is kept with an unknown age and the cell is listed
    in `problems`. `now` (Unix time) is only used for the JSON of `vrrp.py show_summary --raw`,
    which carries absolute transition times; without it their age is left unknown (None).
    """
    lines = _split_lines(text)
    start = next((i for i, line in enumerate(lines) if not _is_noise(line)), None)
    is_json = start is not None and lines[start].text.lstrip().startswith(("[", "{"))
    _check_lines(lines, quote=not is_json)
    if start is None:
        raise ParseError("output is empty: neither a show vrrp table nor a VyOS message")
    if is_json:
        return ParsedVrrp(_parse_json(lines[start:], now))
    first = lines[start]
    message = first.text.strip()
    if message in _NO_VRRP_MESSAGES:
        _expect_only_noise(lines[start + 1 :], "the VyOS message")
        return ParsedVrrp((), message=message)
    if message in _UNAVAILABLE_MESSAGES:
        _expect_only_noise(lines[start + 1 :], "the VyOS message")
        raise VrrpUnavailableError(f"VyOS: {message}")
    return _parse_table(lines, start)


# -- table ----------------------------------------------------------------------------------------

_NAME, _INTERFACE, _VRID, _STATE, _PRIORITY, _LAST = (
    "Name",
    "Interface",
    "VRID",
    "State",
    "Priority",
    "Last Transition",
)
_KNOWN_HEADERS = frozenset({_NAME, _INTERFACE, _VRID, _STATE, _PRIORITY, _LAST})
# 1.2 has no Priority column. tabulate drops the Last Transition header when no row reaches it,
# which happens when every group is DISABLED (their rows are one cell short since 1.3).
_REQUIRED_HEADERS = (_NAME, _INTERFACE, _VRID, _STATE)
# Group names are VyOS tag values, interfaces kernel names (eth1v1, eth0.100v1, bond0.20...).
_TOKEN_RE = re.compile(r"[A-Za-z0-9_.:@/+-]+")
_DASH_RUN_RE = re.compile(r"-+")
_MIN_PADDING = 2  # tabulate's MIN_PADDING: a column is at least its header plus 2


@dataclass(frozen=True, slots=True)
class _Column:
    header: str
    start: int
    end: int  # exclusive; the dash run's end


def _no_quotes(line: _Line) -> None:
    # Checked before any cell is quoted in a message: a quote means a stray piece of JSON.
    if '"' in line.text:
        raise _error("a double quote cannot appear in a show vrrp table (stray JSON?)", line)


def _dash_spans(text: str) -> list[tuple[int, int]] | None:
    """Column spans of a tabulate dash line, or None if `text` is not one."""
    if "-" not in text or text.strip("- "):
        return None
    return [match.span() for match in _DASH_RUN_RE.finditer(text)]


def _cut(line: _Line, spans: Sequence[tuple[int, int]]) -> list[str]:
    """The text of each column; anything in a gap or past the last column is misalignment."""
    if len(line.text) > spans[-1][1]:
        raise _error("text beyond the last column (misaligned or garbled row)", line)
    cells = []
    gap_start = 0
    for start, end in spans:
        if line.text[gap_start:start].strip():
            raise _error("text in the gap between columns (misaligned row)", line)
        cells.append(line.text[start:end])
        gap_start = end
    return cells


def _header_columns(header: _Line, spans: Sequence[tuple[int, int]]) -> list[_Column]:
    names = [cell.strip() for cell in _cut(header, spans)]
    columns: list[_Column] = []
    for name, (start, end) in zip(names, spans, strict=True):
        if name not in _KNOWN_HEADERS:
            raise _error(f"unknown column {name!r} in the show vrrp header", header)
        if any(column.header == name for column in columns):
            raise _error(f"column {name!r} appears twice in the header", header)
        columns.append(_Column(name, start, end))
    missing = [name for name in _REQUIRED_HEADERS if name not in names]
    if missing:
        raise _error(f"header lacks column(s) {', '.join(missing)}", header)
    return columns


def _check_dash_runs(columns: Sequence[_Column], dash: _Line) -> None:
    """tabulate makes every column at least 2 wider than its header (MIN_PADDING); a shorter run
    is a dash line cut short (the last run) or not tabulate's output."""
    for column in columns:
        if column.end - column.start < len(column.header) + _MIN_PADDING:
            raise _error(
                f"the dashes under {column.header!r} are shorter than tabulate prints them: the table looks cut short",
                dash,
            )


def _parse_table(lines: Sequence[_Line], start: int) -> ParsedVrrp:
    header = lines[start]
    _no_quotes(header)
    if _dash_spans(header.text) is not None:
        raise _error("dash line without a header line above it", header)
    dash = lines[start + 1] if start + 1 < len(lines) else None
    spans = _dash_spans(dash.text) if dash is not None else None
    if dash is None or spans is None:
        looks_like_header = all(name in header.text for name in (_NAME, _VRID, _STATE))
        problem = (
            "header line is not followed by a line of dashes (truncated table?)"
            if looks_like_header
            else "unexpected output: neither a show vrrp table nor a known VyOS VRRP message"
        )
        raise _error(problem, header)
    columns = _header_columns(header, spans)
    _check_dash_runs(columns, dash)

    reader = _RowReader(columns, _header_sides(header, columns))
    index = start + 2
    while index < len(lines) and not _is_noise(lines[index]):
        # split("\n") leaves a last element only when the output did not end with a newline:
        # print() always writes one, so such a last row may have been cut (lost tail).
        reader.add(lines[index], unterminated=index == len(lines) - 1)
        index += 1
    reader.finish()
    _expect_only_noise(lines[index:], "the show vrrp table")
    return ParsedVrrp(tuple(reader.groups), tuple(reader.problems))


def _header_sides(header: _Line, columns: Sequence[_Column]) -> dict[str, str]:
    """The alignment of each column whose header does not fill it: tabulate aligns a header as
    its column (`_align_header`), so this is the column's alignment before any row is read."""
    sides: dict[str, str] = {}
    for column in columns:
        side = _side(header.text[column.start : column.end], column)
        if side is not None:
            sides[column.header] = side
    return sides


def _side(raw: str, column: _Column) -> str | None:
    """ "left"/"right" for a cell flush with one edge of its column, None if it fills it."""
    flush_left = not raw[0].isspace()
    # Lines are right-stripped, so a left-aligned cell in the last column is short of its end.
    flush_right = len(raw) == column.end - column.start and not raw[-1].isspace()
    if flush_left and flush_right:
        return None
    if not flush_left and not flush_right:
        return "neither"
    return "left" if flush_left else "right"


def _tabulate_number(value: str) -> bool:
    """Whether tabulate (0.8-0.10 `_isnumber`) types this cell as a number and right-aligns it."""
    try:
        number = float(value)
    except ValueError:
        return False
    return math.isfinite(number) or value.lower() in ("inf", "-inf", "nan")


_STATE_NAMES = tuple(state.value for state in VrrpState)
# Past this a Last Transition would put the transition before 1970: not a time we can export.
_MAX_AGE_SECONDS = 100 * _YEAR


class _RowReader:
    """Turns table rows into groups, checking each cell against its column."""

    def __init__(self, columns: Sequence[_Column], header_sides: Mapping[str, str]) -> None:
        self._columns = columns
        self._spans = [(column.start, column.end) for column in columns]
        self._index = {column.header: i for i, column in enumerate(columns)}
        self._first_line_of: dict[str, int] = {}
        # tabulate aligns a whole column one way, so a cell that is not where the others are is a
        # truncated or shifted one (e.g. "15" cut from a right-aligned "150").
        self._alignment: dict[str, str] = dict(header_sides)
        self._header_sides = header_sides
        # Columns holding a cell tabulate does not take for a number (empty counts: 0.8 and 0.9
        # type '' as text); a left-aligned header needs one (see finish()).
        self._has_text_cell: set[str] = set()
        self._last_line: _Line | None = None
        self.groups: list[VrrpGroup] = []
        self.problems: list[str] = []

    def add(self, line: _Line, *, unterminated: bool) -> None:
        _no_quotes(line)
        raw_cells = _cut(line, self._spans)
        cells: dict[str, str] = {}
        for column, raw in zip(self._columns, raw_cells, strict=True):
            cells[column.header] = raw.strip()
        self._check_complete(cells, line)
        for column, raw in zip(self._columns, raw_cells, strict=True):
            self._check_alignment(column, raw, line)
            value = cells[column.header]
            if not value or not _tabulate_number(value):
                self._has_text_cell.add(column.header)
        group = self._group(cells, line, unterminated)
        first = self._first_line_of.setdefault(group.name, line.no)
        if first != line.no:
            raise _error(f"group {group.name!r} listed twice (first on line {first})", line)
        self.groups.append(group)
        self._last_line = line

    def finish(self) -> None:
        """Checks on the table as a whole, once its last row is read."""
        if self._last_line is None:
            return
        for column in self._columns:
            # tabulate left-aligns a column (header included) only if some cell is not a number:
            # for Priority, the '' of a DISABLED row, which VyOS lists last. All numbers under a
            # left-aligned header means the rows that made it text are gone.
            if self._header_sides.get(column.header) == "left" and column.header not in self._has_text_cell:
                raise _error(
                    f"the {column.header} column is left-aligned, which tabulate does only when some"
                    " cell in it is not a number (for Priority: a DISABLED row's empty cell), yet every"
                    " cell left is a number: the table looks cut short (lost its last rows)",
                    self._last_line,
                )

    def _check_complete(self, cells: Mapping[str, str], line: _Line) -> None:
        """A row that stops before a cell VyOS always fills, or inside a right-aligned cell, was
        cut (lost tail). tabulate pads every cell to its column but right-strips the line, so
        only empty trailing cells (a DISABLED row's, an age under 1 s) may end a row early."""
        filled = [i for i, column in enumerate(self._columns) if cells[column.header]]
        if not filled:
            return  # cannot happen: the line is not blank
        last = self._columns[filled[-1]]
        state = cells[_STATE]
        must_reach = self._index[_STATE]
        if _PRIORITY in self._index and state != VrrpState.DISABLED.value:
            must_reach = self._index[_PRIORITY]
        value = cells[last.header]
        if last.header == _STATE and value not in _STATE_NAMES and any(s.startswith(value) for s in _STATE_NAMES):
            raise _error(f"row stops inside its State cell ({value!r}): the table looks cut short", line)
        if filled[-1] < must_reach:
            missing = self._columns[filled[-1] + 1].header
            raise _error(f"row stops before its {missing} column: the table looks cut short", line)
        if len(line.text) < last.end and self._alignment.get(last.header) == "right":
            raise _error(
                f"row stops inside the right-aligned {last.header} column ({value!r} is cut):"
                " the table looks cut short",
                line,
            )

    def _check_alignment(self, column: _Column, raw: str, line: _Line) -> None:
        value = raw.strip()
        if not value:
            return
        side = _side(raw, column)
        if side is None:
            return  # fills the column: fits either alignment
        if side == "neither":
            raise _error(f"{column.header} cell {value!r} is not aligned to its column", line)
        expected = self._alignment.setdefault(column.header, side)
        if side != expected:
            raise _error(
                f"{column.header} cell {value!r} is {side}-aligned, the column above is {expected}-aligned",
                line,
            )

    def _group(self, cells: Mapping[str, str], line: _Line, unterminated: bool) -> VrrpGroup:
        state = _state(cells[_STATE], line)
        disabled = state is VrrpState.DISABLED
        name = cells[_NAME]
        if not name:
            raise _error("row has no group name", line)
        _token(name, _NAME, line)
        interface = cells[_INTERFACE]
        if interface:
            _token(interface, _INTERFACE, line)
        elif not disabled:
            raise _error(f"group {name!r} has no interface", line)
        vrid = _number(cells[_VRID], _VRID, 1, 255, disabled, line)
        priority = _number(cells[_PRIORITY], _PRIORITY, 0, 255, disabled, line) if _PRIORITY in cells else None
        return VrrpGroup(
            name=name,
            interface=interface,
            vrid=vrid,
            state=state,
            priority=priority,
            last_transition_age_seconds=self._age(cells.get(_LAST), name, disabled, line, unterminated),
        )

    def _age(self, value: str | None, name: str, disabled: bool, line: _Line, unterminated: bool) -> int | None:
        if value is None:  # no Last Transition column: only possible when every row is DISABLED
            if disabled:
                return None
            raise _error("no Last Transition column, yet this group is not DISABLED", line)
        if not value:
            # seconds_to_human(int(now - last_transition)) is "" for 0 s (and for a clock stepped
            # back): the group changed state under a second ago. 0 is as exact as any other cell
            # (all are whole seconds, rounded down) and is what the JSON path gives. A disabled
            # group has no transition at all.
            return None if disabled else 0
        try:
            seconds = parse_duration(value)
        except ValueError as exc:
            if unterminated:  # the output's last, unterminated line: most likely cut mid-cell
                raise _error(f"Last Transition {value!r} is cut: the table looks cut short", line) from None
            reason = str(exc).split(": ", 1)[0]
        else:
            if seconds <= _MAX_AGE_SECONDS:
                return seconds
            reason = "more than 100 years"
        # Only this cell is read leniently: the group's state, priority and VRID stand on their own.
        self.problems.append(f"line {line.no}: group {name!r}: cannot read Last Transition {value[:40]!r}: {reason}")
        return None


def _state(value: str, line: _Line) -> VrrpState:
    if not value:
        raise _error("row has no State", line)
    try:
        return VrrpState(value)
    except ValueError:
        # VyOS prints UNKNOWN for a keepalived state code it does not know: not a state we export.
        raise _error(f"unknown VRRP state {value!r}", line) from None


def _token(value: str, column: str, line: _Line) -> None:
    if _TOKEN_RE.fullmatch(value) is None:
        raise _error(f"{column} {value!r} is not a valid name", line)


def _number(value: str, column: str, low: int, high: int, optional: bool, line: _Line) -> int | None:
    """An integer cell; empty is allowed only where VyOS leaves it empty (DISABLED rows)."""
    if not value:
        if optional:
            return None
        raise _error(f"{column} is empty", line)
    # isdigit() alone accepts "²" and other Unicode digits; VyOS prints ASCII.
    if not (value.isascii() and value.isdigit()) or len(value) > 3 or not low <= int(value) <= high:
        raise _error(f"{column} {value!r} is not a number from {low} to {high}", line)
    return int(value)


# -- JSON (vrrp.py show_summary --raw, VyOS 1.5+) -------------------------------------------------

# keepalived's VRRP state codes (keepalived/include/vrrp.h, mirrored in vyos-1x src/op_mode/vrrp.py)
_JSON_STATES = {0: VrrpState.INIT, 1: VrrpState.BACKUP, 2: VrrpState.MASTER, 3: VrrpState.FAULT}


def _parse_json(lines: Sequence[_Line], now: float | None) -> tuple[VrrpGroup, ...]:
    """Groups in keepalived's JSON dump as `vrrp.py show_summary --raw` prints it.

    The dump carries `auth_data` (the VRRP password). No message built here may quote the text or
    a JSON value other than a group name: errors are logged and exported. For the same reason no
    exception is chained to json's, whose `doc` attribute holds the whole text.
    """
    # The document runs to the last non-prompt line; anything else inside it fails json.loads.
    last = max(i for i, line in enumerate(lines) if not _is_noise(line))
    body = "\n".join(line.text for line in lines[: last + 1])
    first_no = lines[0].no
    error: ParseError | None = None
    data: object = None
    try:
        data = json.loads(body)
    except json.JSONDecodeError as exc:
        error = ParseError(f"invalid JSON: {exc.msg}", first_no + exc.lineno - 1)
    except (ValueError, RecursionError):  # huge integers, nesting deeper than the stack
        error = ParseError("invalid JSON (too deeply nested or a number too large)", first_no)
    if error is not None:
        raise error
    return _groups_from_json(data, now)


def _groups_from_json(data: object, now: float | None) -> tuple[VrrpGroup, ...]:
    # keepalived's json_version 2 wraps the list as {"vrrp": [...]}; VyOS uses version 1.
    if isinstance(data, dict) and "vrrp" in data:
        data = data["vrrp"]
    if not isinstance(data, list):
        raise ParseError("JSON is not a list of VRRP instances")
    groups: list[VrrpGroup] = []
    seen: set[str] = set()
    for index, item in enumerate(data, start=1):
        record = item.get("data") if isinstance(item, dict) else None
        if not isinstance(record, dict):
            raise ParseError(f"JSON instance #{index} has no 'data' object")
        group = _group_from_json(record, index, now)
        if group.name in seen:
            raise ParseError(f"JSON lists group {group.name!r} twice")
        seen.add(group.name)
        groups.append(group)
    return tuple(groups)


def _group_from_json(record: Mapping[str, object], index: int, now: float | None) -> VrrpGroup:
    name = record.get("iname")
    if not isinstance(name, str) or _TOKEN_RE.fullmatch(name) is None:
        raise ParseError(f"JSON instance #{index}: 'iname' is missing or not a valid group name")
    where = f"JSON group {name[:100]!r}"
    interface = record.get("ifp_ifname")
    if not isinstance(interface, str) or _TOKEN_RE.fullmatch(interface) is None:
        raise ParseError(f"{where}: 'ifp_ifname' is missing or not an interface name")
    state = _JSON_STATES[_json_int(record, "state", min(_JSON_STATES), max(_JSON_STATES), where)]
    last_transition = record.get("last_transition")
    if (
        isinstance(last_transition, bool)
        or not isinstance(last_transition, int | float)
        or not math.isfinite(last_transition)
        or last_transition < 0
    ):
        raise ParseError(f"{where}: 'last_transition' is missing or not a Unix time")
    # As VyOS's own table: int(now - last_transition); a clock step backwards reads as "just now".
    age = None if now is None else max(0, int(now - last_transition))
    return VrrpGroup(
        name=name,
        interface=interface,
        vrid=_json_int(record, "vrid", 1, 255, where),
        state=state,
        priority=_json_int(record, "effective_priority", 0, 255, where),
        last_transition_age_seconds=age,
    )


def _json_int(record: Mapping[str, object], key: str, low: int, high: int, where: str) -> int:
    value = record.get(key)
    # bool is an int in Python; keepalived writes these fields as plain unsigned numbers.
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise ParseError(f"{where}: {key!r} is missing or not an integer from {low} to {high}")
    return value


# --- a command result -----------------------------------------------------------------------------


def interpret(result: CommandResult, now: float) -> ParsedVrrp:
    """Turn a command result into groups, or raise PollError saying why not.

    `now` turns the absolute transition times of VyOS's JSON output into ages.
    """
    if result.exit_status != 0:
        # VyOS op-mode exits non-zero for "VRRP is not running" on some versions: that is still a
        # valid answer (zero groups). Anything else with a failing exit status is a command error.
        text = result.stdout if result.stdout.strip() else result.stderr
        try:
            parsed = parse_show_vrrp_detailed(text, now=now)
        except PollError as exc:
            if exc.reason is PollErrorReason.COMMAND:
                raise
            detail = (result.stderr.strip() or result.stdout.strip() or "no output").splitlines()[0][:200]
            raise TransportError(
                f"command exited with status {result.exit_status}: {detail}", PollErrorReason.COMMAND
            ) from exc
        if parsed.groups:
            raise TransportError(
                f"command exited with status {result.exit_status} despite printing a table",
                PollErrorReason.COMMAND,
            )
        return parsed
    if not result.stdout.strip() and result.stderr.strip():
        return parse_show_vrrp_detailed(result.stderr, now=now)
    return parse_show_vrrp_detailed(result.stdout, now=now)
