"""What VyOS op-mode `show vrrp` prints, reproduced byte for byte (for the simulator and for tests).

Reproduced from vyos/vyos-1x (GitHub):
- `src/op_mode/vrrp.py`: crux (1.2) builds the rows itself (`print_summary`); equuleus (1.3) and
  sagitta (1.4) call `VRRP.format(VRRP.collect('json'))` after the `VRRP not configured!` /
  `VRRP is not running` checks; current (1.5, circinus/rolling, since PR #4155 "T4583") runs
  `show_summary` through `vyos.opmode` and prints `VRRPNoData` messages as errors.
- `python/vyos/ifconfig/vrrp.py`: `VRRP.format` (headers, row layout) and `VRRP.disabled` (disabled
  groups appended as `[name, interface, vrid, 'DISABLED', '']`, one cell short of the headers).
- `seconds_to_human`: `python/vyos/util.py` (weeks at most) up to 1.3, `python/vyos/utils/convert.py`
  with years of 365.25 days (PR #3336 "T6244") from 1.4.
- The table is `tabulate(rows, headers)` in the "simple" format of Debian's python3-tabulate 0.8.x,
  which VyOS ships. That version types an empty string as `str` (tabulate >= 0.10 treats it as
  missing), so a DISABLED row's empty Priority cell turns the Priority column left-aligned. We
  reproduce 0.8 here and do not import tabulate at run time.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum

from ..model import VrrpGroup, VrrpState

SUPPORTED_VERSIONS = ("1.2", "1.3", "1.4", "1.5")
_CODENAMES = {
    "crux": "1.2",
    "equuleus": "1.3",
    "sagitta": "1.4",
    "circinus": "1.5",
    "current": "1.5",
    "rolling": "1.5",
}

MINUTE = 60
HOUR = 60 * MINUTE
DAY = 24 * HOUR
WEEK = 7 * DAY
YEAR = 31_557_600  # vyos.utils.convert: 60 * 60 * 24 * 365.25, an exact whole number of seconds

# tabulate's constants for the "simple" format.
_MIN_PADDING = 2
_COLUMN_SEPARATOR = "  "

Cell = str | int | None  # None is a missing cell (tabulate's missingval, printed as "")


def normalize_version(version: str) -> str:
    """`1.4`, `1.4.2`, `sagitta`, `1.5-rolling-202501010020`, `rolling` -> one of SUPPORTED_VERSIONS."""
    text = version.strip().lower()
    if text in _CODENAMES:
        return _CODENAMES[text]
    match = re.match(r"^(\d+\.\d+)", text)
    if match and match.group(1) in SUPPORTED_VERSIONS:
        return match.group(1)
    if "rolling" in text:
        return "1.5"
    raise ValueError(f"unsupported VyOS version {version!r}: expected one of {', '.join(SUPPORTED_VERSIONS)}")


@dataclass(frozen=True, slots=True)
class Dialect:
    """How one VyOS release prints `show vrrp`."""

    version: str
    headers: tuple[str, ...]
    years: bool  # seconds_to_human knows years (vyos.utils.convert) or stops at weeks (vyos.util)


def dialect(version: str) -> Dialect:
    normalized = normalize_version(version)
    if normalized == "1.2":
        headers: tuple[str, ...] = ("Name", "Interface", "VRID", "State", "Last Transition")
    else:  # the Priority column arrived in 1.3 (PR #532, "T2761")
        headers = ("Name", "Interface", "VRID", "State", "Priority", "Last Transition")
    return Dialect(normalized, headers, years=normalized in ("1.4", "1.5"))


def vmac_interface(interface: str, vrid: int, version: str = "1.4", *, ipv6: bool = False) -> str:
    """The name of the VMAC interface keepalived makes for an rfc3768-compatibility group.

    vyos-1x `data/templates/high-availability/keepalived.conf.j2` writes `use_vmac <if>v<vrid>`
    up to 1.3 (`eth1v1`) and, since T4665 (PR #1526, 2022: the same VRID for IPv4 and IPv6 on
    one interface), `use_vmac <if>v<vrid>v4` or `...v6` after the family of the first address
    (`eth0v10v4`). `show vrrp` prints it (keepalived's `ifp_ifname`); DISABLED rows, read from
    the configuration, show the plain interface.
    """
    if dialect(version).version in ("1.2", "1.3"):
        return f"{interface}v{vrid}"
    return f"{interface}v{vrid}v{6 if ipv6 else 4}"


# --- seconds_to_human -----------------------------------------------------------------------------


def seconds_to_human(seconds: int, separator: str = "", *, years: bool = True) -> str:
    """VyOS's `seconds_to_human`: 4h27m1s, 1y4w6d23h1m9s; zero parts are left out and 0 gives "".

    `years=True` is vyos.utils.convert (1.4+); `years=False` is the older vyos.util (1.2, 1.3),
    which stops at weeks and, with a separator, puts it before every part but a leading weeks one.
    Negative values give "" in both, as in VyOS (no part is > 0).
    """
    if not years:
        return _seconds_to_human_legacy(int(seconds), separator)
    rest = int(seconds)
    parts: list[str] = []
    for suffix, size in (("y", YEAR), ("w", WEEK), ("d", DAY), ("h", HOUR), ("m", MINUTE)):
        count, remainder = divmod(rest, size)
        if count > 0:  # VyOS only takes the remainder when the part is printed
            parts.append(f"{count}{suffix}")
            rest = remainder
    if rest > 0:
        parts.append(f"{rest}s")
    return separator.join(parts)


def _seconds_to_human_legacy(rest: int, separator: str) -> str:
    result = ""
    weeks, remainder = divmod(rest, WEEK)
    if weeks > 0:
        result = f"{weeks}w"
        rest = remainder
    for suffix, size in (("d", DAY), ("h", HOUR), ("m", MINUTE), ("s", 1)):
        count, remainder = divmod(rest, size)
        if count > 0:
            result = f"{result}{separator}{count}{suffix}"
            rest = remainder
    return result


# --- the rows VyOS hands to tabulate --------------------------------------------------------------


def show_vrrp_rows(groups: Sequence[VrrpGroup], version: str = "1.4") -> tuple[list[str], list[list[Cell]]]:
    """Headers and rows exactly as VyOS builds them: active groups first, then DISABLED ones.

    DISABLED rows come from the configuration, not keepalived: name, interface, vrid (a config
    string), 'DISABLED' and '' -- one cell fewer than the headers from 1.3 on, so their Last
    Transition is missing, and Priority holds an empty string rather than a missing value.
    """
    spec = dialect(version)
    active = [g for g in groups if g.state is not VrrpState.DISABLED]
    disabled = [g for g in groups if g.state is VrrpState.DISABLED]
    rows = [_active_row(g, spec) for g in active]
    rows += [_disabled_row(g) for g in disabled]
    return list(spec.headers), rows


def _active_row(group: VrrpGroup, spec: Dialect) -> list[Cell]:
    age = group.last_transition_age_seconds
    last: Cell = None if age is None else seconds_to_human(age, years=spec.years)
    if "Priority" in spec.headers:
        return [group.name, group.interface, group.vrid, group.state.value, group.priority, last]
    return [group.name, group.interface, group.vrid, group.state.value, last]


def _disabled_row(group: VrrpGroup) -> list[Cell]:
    # Absent interface/vrid (not possible on VyOS, which requires both) become missing cells
    # rather than "" so they do not change the column's type.
    vrid: Cell = None if group.vrid is None else str(group.vrid)
    return [group.name, group.interface or None, vrid, VrrpState.DISABLED.value, ""]


def render_show_vrrp(groups: Sequence[VrrpGroup], version: str = "1.4") -> str:
    """The stdout of `show vrrp` on that VyOS version: the table plus print()'s newline.

    Last Transition is each group's `last_transition_age_seconds` (None prints an empty cell).
    """
    headers, rows = show_vrrp_rows(groups, version)
    return tabulate_simple(rows, headers) + "\n"


# --- tabulate "simple", as python3-tabulate 0.8.x renders it ----------------------------------------

# tabulate's type lattice, least generic first; a column takes the most generic type of its cells.
_NONE, _BOOL, _INT, _FLOAT, _STR = range(5)


def _converts(kind: type[int] | type[float], text: str) -> bool:
    try:
        kind(text)
    except ValueError:
        return False
    return True


def _is_number(text: str) -> bool:
    if not _converts(float, text):
        return False
    value = float(text)
    if math.isinf(value) or math.isnan(value):  # "infinity" stays text, "inf" is a number
        return text.lower() in ("inf", "-inf", "nan")
    return True


def _cell_type(cell: Cell) -> int:
    if cell is None:
        return _NONE
    if isinstance(cell, bool) or cell in ("True", "False"):
        return _BOOL
    if isinstance(cell, int) or _converts(int, cell):
        return _INT
    if _is_number(cell):
        return _FLOAT
    return _STR  # including "": tabulate 0.8 types it as text


def _format_cell(cell: Cell, column_type: int) -> str:
    if cell is None:
        return ""
    # tabulate 0.8 would crash on e.g. "True" in a float column; we print it as 0.10 does.
    if column_type == _FLOAT and (isinstance(cell, int) or _is_number(cell)):
        return format(float(cell), "g")
    return str(cell)


def _after_point(text: str) -> int:
    """Digits after the decimal point (or exponent), -1 for ints and non-numbers (decimal alignment)."""
    if not _is_number(text) or _converts(int, text):
        return -1
    pos = text.rfind(".")
    if pos < 0:
        pos = text.lower().rfind("e")
    return len(text) - pos - 1 if pos >= 0 else -1


def _align_column(cells: list[str], numeric: bool, min_width: int) -> list[str]:
    if numeric:  # "decimal": pad after the point so points line up, then right-align
        decimals = [_after_point(c) for c in cells]
        most = max(decimals)
        cells = [c + " " * (most - d) for c, d in zip(cells, decimals, strict=True)]
        width = max(min_width, *(len(c) for c in cells))
        return [c.rjust(width) for c in cells]
    cells = [c.strip() for c in cells]
    width = max(min_width, *(len(c) for c in cells))
    return [c.ljust(width) for c in cells]


def _simple_row(cells: Sequence[str]) -> str:
    return _COLUMN_SEPARATOR.join(cells).rstrip()


def tabulate_simple(rows: Sequence[Sequence[Cell]], headers: Sequence[str]) -> str:
    """`tabulate(rows, headers)` (format "simple", python3-tabulate 0.8.x) without tabulate.

    Covers what `show vrrp` feeds it: str/int/None cells, ragged rows (missing cells), numeric
    strings (numbers are right/decimal aligned), empty tables. No multi-line or wide characters.
    """
    header_list = [str(h) for h in headers]
    if rows and len(rows[0]) > len(header_list):  # tabulate pads headers on the left
        header_list = [""] * (len(rows[0]) - len(header_list)) + header_list
    if not rows:
        return _empty_table(header_list)
    # tabulate zip()s columns with headers, so the shorter one wins: a table of DISABLED rows
    # only (one cell short) loses its last header.
    ncols = min(max(len(r) for r in rows), len(header_list))
    columns = [[r[i] if i < len(r) else None for r in rows] for i in range(ncols)]
    shown_headers = header_list[:ncols]
    min_widths = [len(h) + _MIN_PADDING for h in shown_headers]

    numeric: list[bool] = []
    aligned: list[list[str]] = []
    for column, min_width in zip(columns, min_widths, strict=True):
        column_type = max((_cell_type(c) for c in column), default=_BOOL)
        column_type = max(column_type, _BOOL)  # tabulate's reduce() starts from bool
        is_numeric = column_type in (_INT, _FLOAT)
        numeric.append(is_numeric)
        aligned.append(_align_column([_format_cell(c, column_type) for c in column], is_numeric, min_width))

    widths = [len(col[0]) for col in aligned]
    header_cells = [
        h.rjust(w) if is_numeric else h.ljust(w)
        for h, w, is_numeric in zip(shown_headers, widths, numeric, strict=True)
    ]
    lines = [_simple_row(header_cells), _simple_row(["-" * w for w in widths])]
    lines += [_simple_row(list(cells)) for cells in zip(*aligned, strict=True)]
    return "\n".join(lines)


def _empty_table(headers: list[str]) -> str:
    """No rows: every header left-aligned in its minimum width, then the dash line."""
    widths = [len(h) + _MIN_PADDING for h in headers]
    header_cells = [h.ljust(w) for h, w in zip(headers, widths, strict=True)]
    return "\n".join([_simple_row(header_cells), _simple_row(["-" * w for w in widths])])


# --- messages instead of a table ------------------------------------------------------------------


class VrrpMessage(StrEnum):
    """Situations in which `show vrrp` prints a sentence instead of a table."""

    NOT_CONFIGURED = "not-configured"  # no `high-availability vrrp group`
    NOT_RUNNING = "not-running"  # keepalived is not running
    DATA_TIMEOUT = "data-timeout"  # keepalived did not write its JSON dump in time
    # Another `show vrrp` was reading keepalived's one dump file (VyOS deletes it after reading):
    # measured with vyos-1x's op-mode code on keepalived 2.2.7, the loser prints this and exits 1.
    DUMP_RACE = "dump-race"


_NOT_AVAILABLE_NOT_RUNNING = "VRRP data is not available (process not running or no active groups)"
_NOT_AVAILABLE_TIMEOUT = "VRRP data is not available (wait time exceeded)"

# (text, exit status of vrrp.py) per version. Exit 0 for the early "not configured/not running"
# exits of 1.2-1.4 (`sys.exit(0)`), 1 for VRRPNoData / opmode errors.
_MESSAGES: dict[str, dict[VrrpMessage, tuple[str, int]]] = {
    # crux only checks that keepalived runs; a failed dump is "VRRP information is not available".
    "1.2": {
        VrrpMessage.NOT_CONFIGURED: ("VRRP is not running", 0),
        VrrpMessage.NOT_RUNNING: ("VRRP is not running", 0),
        VrrpMessage.DATA_TIMEOUT: ("VRRP information is not available", 1),
        VrrpMessage.DUMP_RACE: ("VRRP information is not available", 1),
    },
    "1.3": {
        VrrpMessage.NOT_CONFIGURED: ("VRRP not configured!", 0),
        VrrpMessage.NOT_RUNNING: ("VRRP is not running", 0),
        VrrpMessage.DATA_TIMEOUT: (_NOT_AVAILABLE_TIMEOUT, 1),
        VrrpMessage.DUMP_RACE: ("VRRP data is not available", 1),
    },
    "1.4": {
        VrrpMessage.NOT_CONFIGURED: ("VRRP not configured!", 0),
        VrrpMessage.NOT_RUNNING: ("VRRP is not running", 0),
        VrrpMessage.DATA_TIMEOUT: (_NOT_AVAILABLE_TIMEOUT, 1),
        VrrpMessage.DUMP_RACE: (_NOT_AVAILABLE_NOT_RUNNING, 1),
    },
    # The vyos.opmode rewrite dropped both early checks: no keepalived means no pid file, which
    # VRRP.collect() reports as VRRPNoData.
    "1.5": {
        VrrpMessage.NOT_CONFIGURED: (_NOT_AVAILABLE_NOT_RUNNING, 1),
        VrrpMessage.NOT_RUNNING: (_NOT_AVAILABLE_NOT_RUNNING, 1),
        VrrpMessage.DATA_TIMEOUT: (_NOT_AVAILABLE_TIMEOUT, 1),
        VrrpMessage.DUMP_RACE: (_NOT_AVAILABLE_NOT_RUNNING, 1),
    },
}


def render_message(kind: VrrpMessage, version: str = "1.4") -> str:
    """The stdout of `show vrrp` in that situation on that version (print()'s newline included)."""
    return _MESSAGES[normalize_version(version)][kind][0] + "\n"


def message_exit_status(kind: VrrpMessage, version: str = "1.4") -> int:
    """Exit status of the op-mode script itself (the vyatta-op-cmd-wrapper always exits 0)."""
    return _MESSAGES[normalize_version(version)][kind][1]


# --- the VRRP configuration as `show configuration commands` prints it ---------------------------


@dataclass(frozen=True, slots=True)
class GroupConfig:
    """What `set high-availability vrrp group NAME ...` says about one group (a simulator's view)."""

    name: str
    interface: str
    vrid: int
    priority: int | None = None  # None: VyOS's default (100), not printed
    preempt: bool = True
    address: str = ""


def render_vrrp_config(
    groups: Sequence[GroupConfig], sync_groups: Mapping[str, Sequence[str]], version: str = "1.4"
) -> str:
    """`show configuration commands` lines of the `high-availability vrrp` subtree, sorted as VyOS
    sorts nodes (alphabetically, values quoted); 1.2/1.3 name the VIP `virtual-address`, 1.4+ `address`."""
    vip = "virtual-address" if normalize_version(version) in ("1.2", "1.3") else "address"
    lines = []
    for g in sorted(groups, key=lambda g: g.name):
        base = f"set high-availability vrrp group {g.name}"
        nodes = [f"{vip} '{g.address}'"] if g.address and vip == "address" else []
        nodes += [f"interface '{g.interface}'"]
        nodes += [] if g.preempt else ["no-preempt"]
        nodes += [] if g.priority is None else [f"priority '{g.priority}'"]
        nodes += [f"{vip} '{g.address}'"] if g.address and vip != "address" else []
        nodes += [f"vrid '{g.vrid}'"]
        lines += [f"{base} {node}" for node in nodes]
    for name in sorted(sync_groups):
        lines += [f"set high-availability vrrp sync-group {name} member '{m}'" for m in sync_groups[name]]
    return "".join(line + "\n" for line in lines)
