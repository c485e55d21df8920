"""Measured figures that tests print at the end of the run (never asserted on: machines are noisy)."""

from __future__ import annotations

TABLES: dict[str, list[str]] = {}


def add_line(table: str, line: str) -> None:
    TABLES.setdefault(table, []).append(line)
