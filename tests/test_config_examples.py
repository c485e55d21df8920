"""Every exporter config example the documentation shows must load: a README that crashes the
exporter it documents (issue 15: `ssh.keepalive_interval: 15s`) fails CI here first.

Which ```yaml blocks are exporter configs is decided by content, not by position: a block is ours
when it is a YAML mapping with at least one top-level key of the exporter's schema (`poll_interval`,
`timeout`, `config_interval`, `max_concurrent_polls`, `ssh`, `clusters`). Prometheus rules
(`groups`), Prometheus and Alertmanager configs (`global`, `scrape_configs`, `route`, `receivers`)
and Kubernetes objects (`apiVersion`) share none of those keys and are skipped. A block of ours
must then load completely, so a misspelled key in an example is an error, not a reason to skip.
A fragment without `clusters` (e.g. the `watch_command` snippet) is loaded with a minimal cluster
added, so each of its keys is still validated.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from exporter.config import Config, parse_config
from exporter.targets import Runtime

ROOT = Path(__file__).resolve().parent.parent
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
EXAMPLE_FILES = [ROOT / "deploy" / "examples" / "config.yml"]
BLOCK = re.compile(r"^```ya?ml[ \t]*\n(.*?)^```", re.MULTILINE | re.DOTALL)
MINIMAL_CLUSTERS = "clusters: [{name: docs, routers: [{name: r1, address: 192.0.2.1}]}]\n"


def _blocks() -> list[tuple[str, str]]:
    found = []
    for doc in DOCS:
        text = doc.read_text(encoding="utf-8")
        for match in BLOCK.finditer(text):
            line = text.count("\n", 0, match.start()) + 1
            found.append((f"{doc.relative_to(ROOT)}:{line}", match.group(1)))
    return found


def _is_exporter_config(text: str) -> bool:
    data = yaml.safe_load(text)
    return isinstance(data, dict) and bool(set(data) & set(Config.model_fields))


EXAMPLES = [(where, text) for where, text in _blocks() if _is_exporter_config(text)]


def test_the_docs_have_examples() -> None:
    """Guard against the extraction silently finding nothing (a renamed fence, a moved file)."""
    assert len(EXAMPLES) >= 2, EXAMPLES
    assert any("keepalive_interval" in text for _, text in EXAMPLES)


@pytest.mark.parametrize(("where", "text"), EXAMPLES, ids=[where for where, _ in EXAMPLES])
def test_doc_example_loads(where: str, text: str) -> None:
    data = yaml.safe_load(text)
    document = text if "clusters" in data else text + MINIMAL_CLUSTERS
    config = parse_config(document, where)
    # Resolve every router as serve does: the merge of ssh layers is where the README example crashed.
    targets = Runtime.of(config).all_targets()
    assert targets
    if "keepalive_interval" in text:
        assert {t.keepalive_interval for t in targets} == {15.0}


@pytest.mark.parametrize("path", EXAMPLE_FILES, ids=[p.name for p in EXAMPLE_FILES])
def test_example_files_load(path: Path) -> None:
    config = parse_config(path.read_text(encoding="utf-8"), str(path))
    assert Runtime.of(config).all_targets()
