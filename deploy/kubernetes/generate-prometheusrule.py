#!/usr/bin/env python3
"""Write deploy/kubernetes/prometheusrule.yaml from deploy/prometheus/vrrp-alerts.yml.

    python3 deploy/kubernetes/generate-prometheusrule.py            # rewrite prometheusrule.yaml
    python3 deploy/kubernetes/generate-prometheusrule.py --check    # exit 1 if it is out of date
    python3 deploy/kubernetes/generate-prometheusrule.py --runbook-base-url=https://git.example.com/vrrp/blob/main/ -o -

The rules file is the single source: its `groups:` block is copied into `spec:` line for line
(indented, comments and formatting kept), so the PrometheusRule reads like the file it comes from
and `git diff` shows rule changes the same way in both. Standard library only.
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
SOURCE = ROOT / "deploy" / "prometheus" / "vrrp-alerts.yml"
TARGET = HERE / "prometheusrule.yaml"

HEADER = """\
# GENERATED from deploy/prometheus/vrrp-alerts.yml by deploy/kubernetes/generate-prometheusrule.py:
# do not edit. Change the rules file, then run `python3 deploy/kubernetes/generate-prometheusrule.py`
# (tests/test_deploy.py fails while the two differ).
#
# prometheus-operator loads a PrometheusRule when it matches the Prometheus' ruleSelector: the
# `prometheus: k8s` / `role: alert-rules` labels match older kube-prometheus releases (newer ones
# select every rule), kube-prometheus-stack (Helm) wants `release: <your release name>` added.
apiVersion: monitoring.coreos.com/v1
kind: PrometheusRule
metadata:
  name: vyos-vrrp-exporter
  labels:
    app.kubernetes.io/name: vyos-vrrp-exporter
    app.kubernetes.io/component: exporter
    prometheus: k8s
    role: alert-rules
spec:
"""

_TOP_LEVEL_KEY = re.compile(r"^[A-Za-z_][\w-]*:")
_RUNBOOK = re.compile(r"^(\s*runbook_url:\s*)(['\"]?)(docs/)")


class GenerateError(Exception):
    pass


def render(source_text: str, runbook_base_url: str | None = None) -> str:
    """The PrometheusRule manifest for the rules file `source_text`."""
    lines = source_text.splitlines()
    starts = [i for i, line in enumerate(lines) if line.rstrip() == "groups:"]
    if len(starts) != 1:
        raise GenerateError("expected exactly one top-level `groups:` line in the rules file")
    body = lines[starts[0] :]
    for line in body[1:]:
        if _TOP_LEVEL_KEY.match(line):
            raise GenerateError(f"unexpected top-level key after groups: {line!r}")
    out = []
    for line in body:
        if runbook_base_url is not None:
            line = _RUNBOOK.sub(lambda m: f"{m.group(1)}{m.group(2)}{runbook_base_url.rstrip('/')}/{m.group(3)}", line)
        out.append(f"  {line}" if line.strip() else "")
    return HEADER + "\n".join(out).rstrip("\n") + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--source", type=Path, default=SOURCE, help="rules file (default: %(default)s)")
    parser.add_argument("-o", "--output", default=str(TARGET), help="output file, - for stdout (default: %(default)s)")
    parser.add_argument("--check", action="store_true", help="do not write: exit 1 if the output file is out of date")
    parser.add_argument(
        "--runbook-base-url",
        help="prefix the repository-relative runbook_url annotations (docs/runbook.md#...) with this URL",
    )
    args = parser.parse_args(argv)
    try:
        text = render(args.source.read_text(encoding="utf-8"), args.runbook_base_url)
    except (OSError, GenerateError) as exc:
        print(f"generate-prometheusrule: {exc}", file=sys.stderr)
        return 2
    if args.check:
        current = Path(args.output).read_text(encoding="utf-8") if Path(args.output).exists() else ""
        if current != text:
            print(f"{args.output} is out of date: run python3 {Path(__file__).relative_to(ROOT)}", file=sys.stderr)
            return 1
        return 0
    if args.output == "-":
        sys.stdout.write(text)
    else:
        Path(args.output).write_text(text, encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
