"""vyos-vrrp-exporter: compare `show vrrp` across the routers of a VyOS VRRP cluster."""

from __future__ import annotations

import json
import os
import platform
from functools import cache
from importlib import metadata

__version__ = "0.1.0"

REVISION_ENV = "VRRP_EXPORTER_REVISION"
DISTRIBUTION = "vyos-vrrp-exporter"


@cache
def revision() -> str:
    """The git commit this build came from, or "unknown".

    First `$VRRP_EXPORTER_REVISION`, which an image build sets from its VCS ref
    (`--build-arg VRRP_EXPORTER_REVISION=$(git rev-parse HEAD)` with a matching `ARG`/`ENV`);
    else the commit pip recorded when it installed the package from git (PEP 610
    `direct_url.json`, `pip install git+https://...@<ref>`). An install from a directory, wheel or
    sdist records none, and a build never runs git at run time."""
    from_env = os.environ.get(REVISION_ENV, "").strip()
    if from_env:
        return from_env
    try:
        direct_url = metadata.distribution(DISTRIBUTION).read_text("direct_url.json")
    except metadata.PackageNotFoundError:
        return "unknown"
    try:
        commit = json.loads(direct_url or "{}").get("vcs_info", {}).get("commit_id")
    except (ValueError, AttributeError):
        return "unknown"  # a malformed record is no reason to fail at start
    return commit if isinstance(commit, str) and commit else "unknown"


def build_info() -> tuple[str, str, str]:
    """(version, revision, pythonversion), the labels of `vrrp_exporter_build_info`."""
    return __version__, revision(), platform.python_version()
