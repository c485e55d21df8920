"""Load raw `show vrrp` captures from tests/fixtures/vyos.

Each fixture starts with `# ` lines saying where the text comes from, then a `#---` line, then
the captured text byte for byte (trailing spaces, CRLF and a missing final newline included).
"""

from __future__ import annotations

from pathlib import Path

FIXTURE_DIR = Path(__file__).parent / "fixtures" / "vyos"
_SEPARATOR = "#---\n"


def fixture_names(suffix: str = "") -> list[str]:
    return sorted(path.name for path in FIXTURE_DIR.iterdir() if path.name.endswith(suffix))


def load_fixture(name: str) -> str:
    """The captured text of a fixture, without its provenance header."""
    # Bytes, not read_text(): universal-newline decoding would turn CRLF captures into LF.
    raw = (FIXTURE_DIR / name).read_bytes().decode("utf-8")
    header, separator, body = raw.partition(_SEPARATOR)
    if not separator:
        raise ValueError(f"{name}: no '#---' line after the provenance header")
    lines = header.split("\n")[:-1]
    if not lines or any(not line.startswith("# ") for line in lines):
        raise ValueError(f"{name}: the header must be one or more lines starting with '# '")
    return body
