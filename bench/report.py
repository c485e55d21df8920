"""The benchmark's table and its targets (issue 8), computed from the results JSON alone."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import Any

Results = dict[str, Any]

ROUND_RATIO_TARGET = 1.5  # steady round wall / slowest router's command latency, at 1,000 routers
RECONNECT_CPU_TARGET = 10.0  # reconnect-per-poll CPU / kept-connection CPU, at least
SSH_CPU_TARGET = 30.0  # `ssh` per poll CPU / kept-connection CPU, at least
SCRAPE_SECONDS_TARGET = 0.050  # /metrics for 10,000 groups
RSS_MIB_TARGET = 150.0  # at 1,000 routers


def progress(message: str) -> None:
    print(f"bench: {message}", file=sys.stderr, flush=True)


def seconds(value: float | None) -> str:
    if value is None:
        return "-"
    if value >= 1:
        return f"{value:.2f} s"
    if value >= 0.001:
        return f"{value * 1000:.1f} ms"
    return f"{value * 1e6:.0f} µs"


def ratio(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}x" if value < 10 else f"{value:.1f}x"


def _div(a: float | None, b: float | None) -> float | None:
    return None if a is None or not b else a / b


def _table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    widths = [max(len(str(c)) for c in column) for column in zip(headers, *rows, strict=True)]
    lines = ["  ".join(str(c).ljust(w) for c, w in zip(headers, widths, strict=True)).rstrip()]
    lines.append("  ".join("-" * w for w in widths))
    lines += ["  ".join(str(c).ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() for row in rows]
    return "\n".join(lines)


# --- derived figures -----------------------------------------------------------------------------------


def round_ratio(run: Results) -> float | None:
    return _div(run["steady"]["median_wall_seconds"], run["probe"]["max_seconds"])


def reuse_ratio(results: Results, method: str, key: str) -> float | None:
    methods = results["reuse"]["methods"]
    if "skipped" in methods.get(method, {"skipped": True}):
        return None
    return _div(methods[method][key], methods["persistent"][key])


def largest_fleet(results: Results) -> list[Results]:
    if not results.get("fleet"):
        return []
    top = max(run["routers"] for run in results["fleet"])
    return [run for run in results["fleet"] if run["routers"] == top]


def targets(results: Results) -> list[dict[str, Any]]:
    """Each target of issue 8 with the measured value, the limit and whether it is met (None: not
    measurable in this run, e.g. routers that never answered make a round or an RSS meaningless)."""
    out: list[dict[str, Any]] = []

    def add(
        name: str, value: float | None, limit: float, at_most: bool, unit: str, invalid: str = "", missed: str = ""
    ) -> None:
        """`invalid`: the figure says nothing about the target (n/a); `missed`: missed whatever it says."""
        met = None if value is None or invalid else (value <= limit if at_most else value >= limit) and not missed
        out.append(
            {"target": name, "value": value, "limit": limit, "at_most": at_most, "unit": unit, "met": met}
            | {"note": invalid or missed}
        )

    def down(routers: int, up: int) -> str:
        return "" if up == routers else f"only {up} of {routers} routers answered"

    for run in largest_fleet(results):
        where = f"{run['routers']} routers, max_concurrent_polls {run['max_concurrent_polls']}"
        up = run["rounds"][-1]["up"] if run["steady"]["failed_polls"] else run["routers"]
        add(
            f"poll round / slowest router latency ({where})",
            round_ratio(run),
            ROUND_RATIO_TARGET,
            True,
            "x",
            missed=down(run["routers"], up),
        )
    if "reuse" in results:
        add(
            "CPU per poll: new asyncssh connection / kept connection",
            reuse_ratio(results, "reconnect", "cpu_per_poll_seconds"),
            RECONNECT_CPU_TARGET,
            False,
            "x",
        )
        add(
            "CPU per poll: `ssh` process / kept connection",
            reuse_ratio(results, "ssh", "cpu_per_poll_seconds"),
            SSH_CPU_TARGET,
            False,
            "x",
        )
    if results.get("scrape"):
        top = max(results["scrape"], key=lambda s: s["groups"])
        groups = top["groups"]
        add(
            f"GET /metrics, {groups} groups (store filled directly)",
            top["http_seconds"],
            SCRAPE_SECONDS_TARGET,
            True,
            "s",
        )
        add(f"VrrpCollector.render(), {groups} groups", top["render_seconds"], SCRAPE_SECONDS_TARGET, True, "s")
    if results.get("service"):
        top = max(results["service"], key=lambda r: r["routers"])
        invalid = down(top["routers"], top["routers_up"])
        name = f"GET /metrics from `python -m exporter` at {top['routers']} routers, median"
        add(name, top["metrics_seconds"], SCRAPE_SECONDS_TARGET, True, "s", invalid)
        name = f"peak RSS of `python -m exporter` at {top['routers']} routers, scraped"
        add(name, top["peak_rss_mib"], RSS_MIB_TARGET, True, "MiB", invalid)
    for run in largest_fleet(results):
        invalid = "" if run["all_up_after_connect"] else "not every router answered"
        for scrape, key in (("render()", "peak_render_scrape"), ("generate_latest", "peak_generate_latest_scrape")):
            add(
                f"peak RSS polling {run['routers']} routers (max_concurrent_polls {run['max_concurrent_polls']}),"
                f" scraped by {scrape}",
                max(run["rss_mib"]["peak_polling"], run["rss_mib"][key]),
                RSS_MIB_TARGET,
                True,
                "MiB",
                invalid,
            )
    return out


# --- the table -----------------------------------------------------------------------------------------


def _fleet(results: Results) -> str:
    rows = []
    for run in results["fleet"]:
        steady, first = run["steady"], run["first_round"]
        wall = steady["median_wall_seconds"]
        sim_share = _div(steady["median_sim_cpu_seconds"], wall) or 0.0
        rows.append(
            [
                str(run["routers"]),
                str(run["groups"]),
                str(run["max_concurrent_polls"]),
                seconds(run["probe"]["max_seconds"]),
                f"{seconds(first['wall_seconds'])} ({first['up']} up)",
                f"{run['connect_rounds']} / {seconds(run['connect_seconds'])}"
                + ("" if run["all_up_after_connect"] else f", NOT all up ({run['rounds'][-1]['up']} at the end)"),
                seconds(wall),
                ratio(round_ratio(run)),
                seconds(steady["median_cpu_seconds"]),
                f"{steady['median_cpu_interval_seconds'] / run['poll_interval_seconds']:.0%}",
                f"{seconds(steady['median_sim_cpu_seconds'])} ({sim_share:.0%})",
                str(steady["failed_polls"]),
                f"{run['rss_mib']['peak_polling']:.0f} / {run['rss_mib']['peak_render_scrape']:.0f}"
                f" / {run['rss_mib']['peak_generate_latest_scrape']:.0f}",
            ]
        )
    headers = [
        "routers",
        "groups",
        "max conc.",
        "slowest router",
        "first round",
        "connect rounds / time",
        "steady round",
        "ratio (<=1.5x)",
        "CPU/round",
        "CPU % of interval",
        "sim CPU/round (util.)",
        "failed",
        "peak RSS MiB: polling / +render / +generate_latest (<=150)",
    ]
    first = results["fleet"][0] if results["fleet"] else None
    title = "1. Fleet poll"
    if first:
        title += (
            f": simulator latency {first['latency_setting_seconds']:g}s per command, poll_interval"
            f" {first['poll_interval_seconds']:g}s, timeout {first['timeout_seconds']:g}s; a round = Poller.poll_once()"
        )
    return f"{title}\n{_table(headers, rows)}"


def _service(results: Results) -> str:
    rows = [
        [
            str(r["routers"]),
            seconds(r["ready_seconds"]),
            f"{r['routers_up']}/{r['routers']}",
            f"{seconds(r['cpu_seconds_per_interval'])} ({r['cpu_share_of_one_core']:.0%})",
            f"{r['sim_cpu_share_of_one_core']:.0%}",
            f"{r['rss_mib_polling']:.0f}",
            f"{r['peak_rss_mib']:.0f}",
            " / ".join(seconds(r[k]) for k in ("metrics_first_seconds", "metrics_seconds", "metrics_max_seconds")),
            f"{r['metrics_bytes'] / 1e6:.2f} MB",
        ]
        for r in results["service"]
    ]
    headers = [
        "routers",
        "ready after",
        "up",
        "CPU per interval (of a core)",
        "simulator (of a core)",
        "RSS MiB",
        "peak RSS MiB (<=150)",
        "GET /metrics first / median / max after",
        "size",
    ]
    title = (
        "1b. The exporter as deployed: `python -m exporter` with the simulator's config (all defaults), CPU and"
        " RSS from /proc, /metrics over HTTP with Prometheus' Accept header"
    )
    return f"{title}\n{_table(headers, rows)}"


def _reuse(results: Results) -> str:
    reuse = results["reuse"]
    limits = {"reconnect": f">={RECONNECT_CPU_TARGET:g}x", "ssh": f">={SSH_CPU_TARGET:g}x"}
    rows = []
    for method, r in reuse["methods"].items():
        if "skipped" in r:
            rows.append([method, "skipped: " + r["skipped"]])
            continue
        rows.append(
            [
                method,
                seconds(r["median_round_wall_seconds"]),
                ratio(reuse_ratio(results, method, "median_round_wall_seconds")),
                seconds(r["cpu_per_poll_seconds"]),
                ratio(reuse_ratio(results, method, "cpu_per_poll_seconds")),
                limits.get(method, "-"),
                seconds(r["sim_cpu_per_poll_seconds"]),
            ]
        )
    rows = [row + [""] * (7 - len(row)) for row in rows]
    headers = ["method", "round wall", "wall ratio", "CPU/poll", "CPU ratio", "target", "sim CPU/poll"]
    title = (
        f"2. Connection reuse: {reuse['routers']} routers polled at once per round (fetch + parse), simulator"
        " latency 0; CPU of the polling process, with its `ssh` children for ssh"
    )
    return f"{title}\n{_table(headers, rows)}"


def _ceiling(results: Results) -> str:
    h = results["reuse"]["sim_ceiling"]
    lines = [
        "3. Simulator ceiling: a minimal asyncssh client keeps one command in flight per router"
        f" ({h['routers']} routers, latency 0) for {h['seconds']:.1f}s",
        f"   {h['commands_per_second']:.0f} commands/s with the simulator at {h['sim_utilization']:.0%} of a core;"
        f" simulator CPU {seconds(h['sim_cpu_per_command_seconds'])}/command ->"
        f" ceiling {h['sim_ceiling_commands_per_second'] or 0:.0f} commands/s per core"
        f" (client {seconds(h['client_cpu_per_command_seconds'])}/command)",
    ]
    for run in largest_fleet(results):
        wall = run["steady"]["median_wall_seconds"]
        demand = run["routers"] / wall if wall else 0
        ceiling = h["sim_ceiling_commands_per_second"] or 0
        lines.append(
            f"   fleet {run['routers']} (max conc. {run['max_concurrent_polls']}): the exporter asked"
            f" {demand:.0f} commands/s over a round ({_div(demand, ceiling) or 0:.0%} of the ceiling); the simulator"
            f" used {_div(run['steady']['median_sim_cpu_seconds'], wall) or 0:.0%} of a core during rounds"
        )
    return "\n".join(lines)


def _scrape(results: Results) -> str:
    rows = [
        [
            str(s["groups"]),
            str(s["series"]),
            f"{s['bytes'] / 1e6:.2f} MB",
            seconds(s["http_seconds"]),
            seconds(s["generate_latest_seconds"]),
            seconds(s["render_seconds"]),
            ratio(_div(s["generate_latest_seconds"], s["render_seconds"])),
            seconds(s["render_cold_seconds"]),
            "yes" if s["identical"] else "NO",
            f"<={seconds(SCRAPE_SECONDS_TARGET)}" if s["groups"] >= 10000 else "-",
        ]
        for s in results["scrape"]
    ]
    headers = [
        "groups",
        "series",
        "size",
        "GET /metrics now",
        "generate_latest",
        "render()",
        "speed-up",
        "render() cold",
        "same bytes",
        "target",
    ]
    title = (
        "4. Scrape: /metrics after a poll round (Prometheus' Accept header, OpenMetrics), prometheus_client's"
        " encoder, and VrrpCollector.render()"
    )
    return f"{title}\n{_table(headers, rows)}"


def _parse(results: Results) -> str:
    rows = [
        [
            str(s["groups"]),
            f"{s['bytes']} B",
            f"{s['tables_per_second']:.0f}",
            f"{s['tables_per_second'] * s['groups']:.0f}",
        ]
        for s in results["parse"]["sizes"]
    ]
    return "5. Parse: `show vrrp` tables (VyOS 1.4 layout)\n" + _table(
        ["groups per table", "table size", "tables/s", "groups/s"], rows
    )


def _in_unit(value: float | None, unit: str) -> str:
    if unit == "s":
        return seconds(value)
    if unit == "x":
        return ratio(value)
    return "-" if value is None else f"{value:.0f} {unit}"


def _targets(results: Results) -> str:
    rows = []
    for t in results["targets"]:
        limit = f"{'<=' if t['at_most'] else '>='} {_in_unit(t['limit'], t['unit'])}"
        status = "n/a" if t["met"] is None else ("met" if t["met"] else "MISSED")
        status += f" ({t['note']})" if t["note"] else ""
        rows.append([t["target"], _in_unit(t["value"], t["unit"]), limit, status])
    return "Targets (issue 8)\n" + _table(["target", "measured", "limit", "status"], rows)


def table(results: Results) -> str:
    meta = results["meta"]
    head = (
        f"vyos-vrrp-exporter benchmark{' (--quick: shape only, figures mean nothing)' if meta['quick'] else ''}"
        f" - {meta['started']}, commit {meta['commit']}, Python {meta['python']}, {meta['cpus']} CPUs,"
        f" load {meta['loadavg_start'][0]:.2f} -> {meta['loadavg_end'][0]:.2f}"
    )
    parts = [head]
    if "fleet" in results:
        parts += [_fleet(results), _service(results)]
    if "reuse" in results:
        parts += [_reuse(results), _ceiling(results)]
    if "scrape" in results:
        parts.append(_scrape(results))
    if "parse" in results:
        parts.append(_parse(results))
    parts.append(_targets(results))
    return "\n\n".join(parts)
