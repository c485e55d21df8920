"""Property-based config fuzz (issue 15): whatever the file holds, `--config.check` answers 0 or 2
with a message, never a traceback and never the CLI's "internal error" backstop.

Inputs: random YAML structures over the schema's own keys, valid configs with one value replaced,
valid config text with characters inserted or deleted, and random bytes. Bounded: about 200 examples
per strategy, no example database (nothing written to the worktree), under ~30 s in total.
"""

from __future__ import annotations

import contextlib
import io
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from exporter import cli

SETTINGS = settings(
    max_examples=200,
    deadline=2000,  # one check is a few ms; the loader's own worst case is about 1 s
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)

KEYS = [
    "poll_interval",
    "timeout",
    "config_interval",
    "max_concurrent_polls",
    "ssh",
    "clusters",
    "name",
    "routers",
    "address",
    "port",
    "preferred_master",
    "sync_sets",
    "groups",
    "username",
    "known_hosts",
    "insecure_ignore_host_key",
    "command",
    "config_command",
    "keepalive_interval",
    "watch_command",
    "watch_pattern",
    "password_file",
    "password_env",
    "<<",
]

VALID = {
    "poll_interval": "5s",
    "timeout": "3s",
    "config_interval": "5m",
    "max_concurrent_polls": 16,
    "ssh": {"username": "vyos", "keepalive_interval": "15s", "command": "show vrrp"},
    "clusters": [
        {
            "name": "home",
            "preferred_master": "vyos01",
            "routers": [
                {"name": "vyos01", "address": "192.0.2.1"},
                {"name": "vyos02", "address": "192.0.2.2", "port": 22, "ssh": {"insecure_ignore_host_key": True}},
            ],
            "sync_sets": [{"name": "MAIN", "groups": ["VLAN1", "VLAN100"]}],
        }
    ],
}
VALID_TEXT = yaml.safe_dump(VALID, sort_keys=False)

# Values that broke, or could break, a loader: huge numbers and durations, booleans where numbers go,
# regex syntax, empty strings, special floats.
hostile = st.sampled_from(
    [
        "9" * 400 + "s",
        "9" * 30 + "y",
        10**400,
        -(10**40),
        2**63,
        True,
        False,
        None,
        "",
        "0",
        "0s",
        "(",
        "[",
        "yes",
        "22",
        "1e999",
        float("inf"),
        float("nan"),
        "\x00",
        "k" * 5000,
        [],
        {},
    ]
)
scalars = st.one_of(
    hostile,
    st.booleans(),
    st.integers(),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from(["5s", "500ms", "1m30s", "1y", "-1s", "vyos01", "192.0.2.1"]),
    st.text(max_size=40),
)
values = st.recursive(
    scalars,
    lambda inner: (
        st.lists(inner, max_size=5) | st.dictionaries(st.sampled_from(KEYS) | st.text(max_size=10), inner, max_size=6)
    ),
    max_leaves=40,
)


@pytest.fixture(scope="module")
def workdir() -> Iterator[Path]:
    with tempfile.TemporaryDirectory() as directory:
        yield Path(directory)


def assert_checked(path: Path, data: bytes) -> None:
    path.write_bytes(data)
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = cli.main(["--config.check", f"--config.file={path}", "--log.level=error"])
    both = out.getvalue() + err.getvalue()
    assert code in (0, 2), both
    assert "Traceback" not in both and "internal error" not in both, both
    if code == 2:
        assert "invalid configuration" in err.getvalue(), both


def dump(data: Any) -> bytes:
    return yaml.safe_dump(data, sort_keys=False, allow_unicode=True).encode()


@SETTINGS
@given(data=st.dictionaries(st.sampled_from(KEYS), values, max_size=8))
def test_random_structures(workdir: Path, data: dict[str, Any]) -> None:
    assert_checked(workdir / "structure.yml", dump(data))


def _paths(node: Any, prefix: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    yield prefix
    if isinstance(node, dict):
        for key, value in node.items():
            yield from _paths(value, (*prefix, key))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from _paths(value, (*prefix, index))


PATHS = [p for p in _paths(VALID) if p]


def _replace(node: Any, path: tuple[Any, ...], value: Any) -> Any:
    if not path:
        return value
    head, rest = path[0], path[1:]
    if isinstance(node, dict):
        return {k: (_replace(v, rest, value) if k == head else v) for k, v in node.items()}
    return [(_replace(v, rest, value) if i == head else v) for i, v in enumerate(node)]


@SETTINGS
@given(path=st.sampled_from(PATHS), value=st.one_of(hostile, values))
def test_valid_config_with_one_value_replaced(workdir: Path, path: tuple[Any, ...], value: Any) -> None:
    assert_checked(workdir / "mutated.yml", dump(_replace(VALID, path, value)))


@SETTINGS
@given(
    edits=st.lists(
        st.tuples(
            st.integers(min_value=0, max_value=len(VALID_TEXT)),
            st.integers(min_value=0, max_value=3),
            st.text(alphabet=" \n\t-:,[]{}&*!|>'\"#%@`?<0123456789abcsy\\", max_size=4),
        ),
        min_size=1,
        max_size=4,
    )
)
def test_valid_text_with_characters_edited(workdir: Path, edits: list[tuple[int, int, str]]) -> None:
    text = VALID_TEXT
    for at, delete, insert in edits:
        text = text[:at] + insert + text[at + delete :]
    assert_checked(workdir / "edited.yml", text.encode())


@SETTINGS
@given(data=st.binary(max_size=300))
def test_random_bytes(workdir: Path, data: bytes) -> None:
    assert_checked(workdir / "bytes.yml", data)


def test_the_valid_config_is_valid(workdir: Path) -> None:
    """The mutations start from a config that passes, so they test refusals, not one constant error."""
    out = io.StringIO()
    (workdir / "valid.yml").write_text(VALID_TEXT)
    with contextlib.redirect_stdout(out):
        assert cli.main(["--config.check", f"--config.file={workdir / 'valid.yml'}"]) == 0
