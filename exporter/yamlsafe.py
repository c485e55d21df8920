"""A bounded YAML loader for files an operator (or an attacker with write access to one) hands us.

`yaml.safe_load` builds no arbitrary objects, but it still trusts the document's shape: a few KB of
nested aliases expand to billions of nodes when walked (the "billion laughs"), a deep nesting blows
Python's recursion limit, a 5,000-digit integer trips Python's int/str digit limit, and a repeated
key silently wins over the first. `load()` refuses each of these with a `yaml.MarkedYAMLError` that
carries the line and column, before anything walks the expanded tree.

Aliases (`&anchor` / `*anchor`, merge keys `<<: *defaults`) are allowed: they are ordinary YAML,
handy for sharing an `ssh:` block between clusters, and cost nothing until the tree is walked.
What we bound is the tree they *expand* to (node count and depth), measured on the composed node
graph with a memo, so a bomb is refused in time linear in the file, not in its expansion.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import Any

import yaml
from yaml.composer import Composer, ComposerError
from yaml.constructor import SafeConstructor
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode
from yaml.resolver import Resolver

try:
    # libyaml scans and parses in C: a 1 MiB file takes ~1 s instead of ~7-20 s in pure Python.
    # Only the events come from C; composing stays in Python below, where the limits are enforced.
    from yaml._yaml import CParser as _EventSource
except ImportError:  # PyYAML built without libyaml: same results, slower

    class _EventSource(yaml.reader.Reader, yaml.scanner.Scanner, yaml.parser.Parser):  # type: ignore[no-redef]
        def __init__(self, stream: str) -> None:
            yaml.reader.Reader.__init__(self, stream)
            yaml.scanner.Scanner.__init__(self)
            yaml.parser.Parser.__init__(self)


# Nesting depth, aliases expanded. The deepest real config is 7 (top map, clusters list, cluster,
# routers list, router, ssh map, value); 32 leaves room for anchors in odd places and stays far below
# Python's recursion limit in PyYAML's recursive composer.
MAX_DEPTH = 32
# Nodes, counted as composed and again after alias expansion. 1,000 routers (the design's scale for
# one process) with per-router ssh overrides are about 15,000 nodes; 100,000 leaves room for 6,000
# and keeps composing and validating the worst case under about 1 s.
MAX_NODES = 100_000
# Characters in a mapping key. Every key we know is under 30; unknown keys are echoed in errors.
MAX_KEY_CHARS = 256
# Characters in any scalar: PATH_MAX on Linux is 4,096, and commands and patterns are far shorter.
MAX_SCALAR_CHARS = 4096
# Characters in a scalar YAML reads as a number. A port is 5 digits, a count 5; 32 covers any 64-bit
# value in any YAML notation and stays far below Python's 4,300-digit int conversion limit.
MAX_NUMBER_CHARS = 32

# Bytes in a config file. 1,000 routers with overrides are about 70 KB; 1 MiB is plenty, and reading
# it (with libyaml) stays about 1 s, inside the reload's 10 s limit.
MAX_FILE_BYTES = 1024 * 1024

_NUMBER_TAGS = ("tag:yaml.org,2002:int", "tag:yaml.org,2002:float")
_MERGE_TAG = "tag:yaml.org,2002:merge"


class LimitError(ComposerError):
    """The document exceeds one of the limits above (a ComposerError, so one handler fits all)."""


class FileRefused(Exception):
    """The file cannot be read as a config: `str(exc)` says why, for the operator."""


def _kind(mode: int) -> str:
    for test, name in (
        (stat.S_ISDIR, "a directory"),
        (stat.S_ISFIFO, "a named pipe (FIFO)"),
        (stat.S_ISCHR, "a character device"),
        (stat.S_ISBLK, "a block device"),
        (stat.S_ISSOCK, "a socket"),
    ):
        if test(mode):
            return name
    return "not a regular file"


def read_file(path: str | Path, limit: int = MAX_FILE_BYTES) -> str:
    """A regular file's text (UTF-8, BOM allowed), at most `limit` bytes, without blocking.

    O_NONBLOCK makes opening a FIFO with no writer return at once (a plain open() would hang), and
    the fstat on the open descriptor then refuses it, as it refuses /dev/zero and directories,
    before a byte is read. Symlinks are followed: Kubernetes mounts ConfigMaps through them."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC | os.O_NOCTTY)
    except OSError as exc:
        raise FileRefused(f"cannot read config file: {exc.strerror or exc}") from None
    try:
        mode = os.fstat(fd).st_mode
        if not stat.S_ISREG(mode):
            raise FileRefused(f"cannot read config file: it is {_kind(mode)}, not a regular file")
        chunks: list[bytes] = []
        size = 0
        while size <= limit:  # read at most limit + 1 bytes: enough to know it is too big
            chunk = os.read(fd, min(65536, limit + 1 - size))
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
    except OSError as exc:
        raise FileRefused(f"cannot read config file: {exc.strerror or exc}") from None
    finally:
        os.close(fd)
    if size > limit:
        raise FileRefused(f"config file is larger than {limit // 1024} KiB; refusing to read it")
    try:
        return b"".join(chunks).decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise FileRefused(f"config file is not UTF-8 text (byte {exc.start}: {exc.reason})") from None


def _where(node: Node) -> str:
    mark = node.start_mark
    return f"line {mark.line + 1}, column {mark.column + 1}"


def _short(text: str, limit: int = 40) -> str:
    return repr(text if len(text) <= limit else text[:limit] + "...")


class _BoundedLoader(Composer, _EventSource, SafeConstructor, Resolver):
    """SafeLoader's parts with a composer that counts depth and nodes and refuses duplicate keys.

    Composer comes first in the bases so its Python methods are used, not CParser's C composer.
    Duplicates are checked on the composed pairs (before merge keys are flattened), so a key that
    overrides one brought in by `<<: *defaults` stays legal, as YAML intends.
    """

    def __init__(self, stream: str) -> None:
        _EventSource.__init__(self, stream)
        SafeConstructor.__init__(self)
        Resolver.__init__(self)
        Composer.__init__(self)
        self._depth = 0
        self._nodes = 0

    def compose_node(self, parent: Node | None, index: int) -> Node | None:
        self._depth += 1
        self._nodes += 1
        try:
            if self._depth > MAX_DEPTH or self._nodes > MAX_NODES:
                event = self.peek_event()
                mark: Any = event.start_mark if event is not None else None  # libyaml's Mark or PyYAML's
                problem = f"nesting deeper than {MAX_DEPTH} levels" if self._depth > MAX_DEPTH else None
                raise LimitError(None, None, problem or f"more than {MAX_NODES} values", mark)
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1

    def compose_mapping_node(self, anchor: Any) -> MappingNode:  # the stubs mistype anchor
        node: MappingNode = super().compose_mapping_node(anchor)
        seen: dict[tuple[str, str], Node] = {}
        for key_node, _ in node.value:
            if not isinstance(key_node, ScalarNode) or key_node.tag == _MERGE_TAG:
                continue
            identity = (key_node.tag, key_node.value)
            first = seen.get(identity)
            if first is not None:
                raise ComposerError(
                    f"in the mapping starting at {_where(node)}",
                    None,
                    f"duplicate key {_short(key_node.value)} (first at line {first.start_mark.line + 1})",
                    key_node.start_mark,
                )
            seen[identity] = key_node
        return node


def _children(node: Node) -> list[Node]:
    if isinstance(node, SequenceNode):
        return list(node.value)
    if isinstance(node, MappingNode):
        return [part for pair in node.value for part in pair]
    return []


def _check_scalar(node: ScalarNode, is_key: bool) -> None:
    text = node.value
    if node.tag in _NUMBER_TAGS and len(text) > MAX_NUMBER_CHARS:
        raise LimitError(
            None, None, f"number {_short(text)} has more than {MAX_NUMBER_CHARS} characters", node.start_mark
        )
    if is_key and len(text) > MAX_KEY_CHARS:
        raise LimitError(None, None, f"key longer than {MAX_KEY_CHARS} characters", node.start_mark)
    if len(text) > MAX_SCALAR_CHARS:
        raise LimitError(None, None, f"value longer than {MAX_SCALAR_CHARS} characters", node.start_mark)


def _measure(root: Node) -> None:
    """Refuse a node graph whose alias-expanded tree is too big, too deep, or cyclic.

    Iterative depth-first walk with a memo per distinct node: linear in the composed graph, whatever
    the expansion. A node met again while its own subtree is open is a recursive alias."""
    size: dict[int, int] = {}
    depth: dict[int, int] = {}
    open_nodes: set[int] = set()
    stack: list[tuple[Node, bool]] = [(root, False)]
    while stack:
        node, finished = stack.pop()
        key = id(node)
        kids = _children(node)
        if finished:
            open_nodes.discard(key)
            size[key] = 1 + sum(size[id(k)] for k in kids)
            depth[key] = 1 + max((depth[id(k)] for k in kids), default=0)
            if size[key] > MAX_NODES:
                raise LimitError(None, None, f"more than {MAX_NODES} values once aliases are expanded", node.start_mark)
            if depth[key] > MAX_DEPTH:
                raise LimitError(
                    None, None, f"nesting deeper than {MAX_DEPTH} levels once aliases are expanded", node.start_mark
                )
            continue
        if key in size:
            continue
        if key in open_nodes:
            raise LimitError(None, None, "an alias refers to a node that contains it (recursive)", node.start_mark)
        if isinstance(node, ScalarNode):
            _check_scalar(node, is_key=False)
        elif isinstance(node, MappingNode):
            for key_node, _ in node.value:
                if isinstance(key_node, ScalarNode):
                    _check_scalar(key_node, is_key=True)
        open_nodes.add(key)
        stack.append((node, True))
        stack.extend((kid, False) for kid in kids if id(kid) not in size)


def load(text: str) -> Any:
    """One YAML document -> Python data, within the limits above. Raises yaml.YAMLError."""
    loader = _BoundedLoader(text)
    try:
        root = loader.get_single_node()
        if root is None:
            return None
        _measure(root)
        return loader.construct_document(root)
    finally:
        loader.dispose()


def describe(exc: yaml.YAMLError, source: str) -> str:
    """`FILE:LINE:COLUMN: problem (context)`, the shape editors and CI annotations jump to."""
    if isinstance(exc, yaml.MarkedYAMLError) and exc.problem_mark is not None:
        mark = exc.problem_mark
        where = f"{source}:{mark.line + 1}:{mark.column + 1}"
        context = ""
        if exc.context:
            started = f" at line {exc.context_mark.line + 1}" if exc.context_mark is not None else ""
            context = f" ({exc.context}{started})"
        kind = "refused" if isinstance(exc, LimitError) else "not valid YAML"
        return f"{where}: {kind}: {exc.problem}{context}"
    # ReaderError (a control character, bad encoding) says its position in its own words.
    return f"{source}: not valid YAML: {exc}"
