"""Finding the external programs the tests drive (Debian packages), skipping or failing without them.

On a developer machine a missing program skips the test with the package to install; in CI
(`CI=true`) it fails the test, so a missing install step can never pass as a green run.
"""

from __future__ import annotations

import os
import shutil

import pytest

# program -> Debian package that ships it
PACKAGES = {
    "promtool": "prometheus",
    "prometheus": "prometheus",
    "prometheus-alertmanager": "prometheus-alertmanager",
    "alertmanager": "prometheus-alertmanager",
    "amtool": "prometheus-alertmanager",
    "chromium": "chromium",
    "node": "nodejs",
}


def in_ci() -> bool:
    return os.environ.get("CI", "").lower() == "true"


def missing(reason: str) -> None:
    """Skip with `reason`, or fail when running in CI."""
    if in_ci():
        pytest.fail(f"{reason} (CI=true: required, not skipped)", pytrace=False)
    pytest.skip(reason)


def require_binary(*names: str) -> str:
    """The path of the first of `names` found on PATH; skips (or fails in CI) if none is."""
    for name in names:
        path = shutil.which(name)
        if path is not None:
            return path
    package = PACKAGES.get(names[0], names[0])
    missing(f"{' or '.join(names)} not found on PATH (Debian package {package})")
    raise AssertionError("unreachable")
