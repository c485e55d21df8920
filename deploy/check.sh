#!/usr/bin/env bash
# The checks of the container image and the systemd units that need a real container runtime or a
# real systemd (tests/test_deploy.py runs this script; it also runs on its own):
#
#   sudo deploy/check.sh                       # debootstrap a base, build, run the checks
#   sudo BASE_IMAGE=docker.io/library/python:3.12-slim-bookworm deploy/check.sh   # where pulls work
#
# No image registry is reachable where this project is built, so by default the base image is made
# locally: a Debian root filesystem from the Debian mirror (debootstrap, with python3-venv and
# ca-certificates) imported with `podman import`. The host's CA bundle is copied into it so that pip
# in the build trusts what the host trusts (TLS-intercepting egress proxies). The base is cached by
# name and reused while it exists (REBUILD_BASE=1 makes it again).
#
# Image: builds with the base as a build argument; runs as UID 10001 under dumb-init (PID 1); with
# a read-only root filesystem, no capabilities and no-new-privileges it polls two simulated VyOS
# routers (real SSH servers on 127.0.0.1, host network) and is ready; the HEALTHCHECK passes;
# SIGHUP reloads a changed config; SIGTERM stops it with exit 0 within seconds; `demo --once`
# passes; no compiler, pip or pip cache is in the image.
# systemd: the image plus Debian's systemd boots systemd as PID 1 (privileged container, loopback
# only); vyos-vrrp-exporter.service, installed unchanged, polls four simulated routers inside it
# under its sandbox (seccomp, no capabilities, its sysusers.d user), reloads, stops with status 0;
# the template unit runs shards 1/2 and 2/2, which poll every router once between them.
# Prints timings.
#
# Needs root, podman, runc (or a crun that accepts the host's cgroup layout), debootstrap (Debian
# packages), curl, and a Python that can import `exporter` (PYTHON, default python3) for the
# simulated routers. Only loopback traffic at run time; the builds reach PyPI (pip) and the Debian
# mirror (debootstrap, apt-get in the systemd image).
set -euo pipefail
cd "$(dirname "$0")/.."

IMAGE=${IMAGE:-localhost/vyos-vrrp-exporter:check}
BASE_IMAGE=${BASE_IMAGE:-}
LOCAL_BASE=${LOCAL_BASE:-localhost/vyos-vrrp-exporter-base:bookworm}
DEBIAN_SUITE=${DEBIAN_SUITE:-bookworm}
DEBIAN_MIRROR=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
PYTHON=${PYTHON:-python3}
PORT=${PORT:-$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')}
NAME=vyos-vrrp-exporter-check-$$
# Where this runs (a VM with a hybrid cgroup v1/v2 layout, root without CAP_SYS_RESOURCE), crun 1.8
# refuses the cgroup layout and podman's default rlimits (nofile/nproc far above the inherited hard
# limits) cannot be set: use runc when installed and explicit, modest rlimits.
RUNTIME=${RUNTIME:-$(command -v runc >/dev/null && echo runc || echo crun)}
ULIMITS=(--ulimit nofile=16384:16384 --ulimit nproc=4096:4096)
pm() { podman --runtime "$RUNTIME" "$@"; }

say() { printf '== %s\n' "$*"; }
fail() { printf 'FAIL: %s\n' "$*" >&2; exit 1; }
now() { date +%s; }
t_start=$(now)

[ "$(id -u)" = 0 ] || fail "needs root (rootful podman, debootstrap)"
command -v podman >/dev/null || fail "podman not found (Debian package podman)"

work=$(mktemp -d /tmp/vyos-vrrp-exporter-check.XXXXXX)
sim_pid=
cleanup() {
  pm rm --ignore --force --time 0 "$NAME" "$NAME-systemd" >/dev/null 2>&1 || true
  if [ -n "$sim_pid" ]; then kill "$sim_pid" 2>/dev/null || true; wait "$sim_pid" 2>/dev/null || true; fi
  rm -rf "$work"
}
trap cleanup EXIT

# --- base image ---------------------------------------------------------------------------------
t0=$(now)
if [ -z "$BASE_IMAGE" ]; then
  BASE_IMAGE=$LOCAL_BASE
  if [ "${REBUILD_BASE:-0}" = 1 ] || ! pm image exists "$LOCAL_BASE"; then
    command -v debootstrap >/dev/null || fail "debootstrap not found (Debian package debootstrap)"
    say "base: debootstrap $DEBIAN_SUITE from $DEBIAN_MIRROR"
    rootfs=$work/rootfs
    debootstrap --variant=minbase --include=python3-venv,ca-certificates \
      "$DEBIAN_SUITE" "$rootfs" "$DEBIAN_MIRROR" >"$work/debootstrap.log" 2>&1 \
      || { tail -20 "$work/debootstrap.log" >&2; fail "debootstrap failed"; }
    cp /etc/ssl/certs/ca-certificates.crt "$rootfs/etc/ssl/certs/ca-certificates.crt"
    chroot "$rootfs" apt-get clean
    rm -rf "$rootfs"/var/lib/apt/lists/* "$rootfs"/var/cache/apt/*.bin "$rootfs"/usr/share/doc \
      "$rootfs"/usr/share/man "$rootfs"/usr/share/locale "$rootfs"/var/log/*.log
    say "base: podman import as $LOCAL_BASE"
    tar -C "$rootfs" --numeric-owner -c . | pm import --quiet --change 'CMD ["python3"]' - "$LOCAL_BASE" >/dev/null
    rm -rf "$rootfs"
  else
    say "base: reusing $LOCAL_BASE (REBUILD_BASE=1 to make it again)"
    reused=1
  fi
fi
t_base=$(( $(now) - t0 ))
t_base="${t_base}s"
[ "${reused:-0}" = 0 ] || t_base="0s (reused)"

# --- build ----------------------------------------------------------------------------------------
say "build: $IMAGE on $BASE_IMAGE"
t0=$(now)
# docker format keeps HEALTHCHECK (the OCI image format has no such field); host network so that
# pip reaches PyPI the way the host does; --pull=never: the base is local or already present.
pm build "${ULIMITS[@]}" --format=docker --network=host --pull=never --build-arg "BASE_IMAGE=$BASE_IMAGE" \
  -t "$IMAGE" . >"$work/build.log" 2>&1 || { tail -40 "$work/build.log" >&2; fail "podman build failed"; }
t_build=$(( $(now) - t0 ))

# --- image contents -------------------------------------------------------------------------------
say "image: user, entrypoint, contents"
user=$(pm image inspect --format '{{.Config.User}}' "$IMAGE")
[ "$user" = "10001:10001" ] || fail "image user is '$user', expected 10001:10001"
entry=$(pm image inspect --format '{{json .Config.Entrypoint}}' "$IMAGE")
[ "$entry" = '["dumb-init","--","vyos-vrrp-exporter"]' ] || fail "entrypoint is $entry"
pm image inspect --format '{{json .Config.ExposedPorts}}' "$IMAGE" | grep -q '9798/tcp' || fail "9798 not exposed"
pm image inspect --format '{{json .Config.Healthcheck}}' "$IMAGE" | grep -q HEALTHCHECK_URL \
  || fail "no HEALTHCHECK in the image"
# shellcheck disable=SC2016
pm run --rm "${ULIMITS[@]}" --no-healthcheck --entrypoint /bin/sh "$IMAGE" -c '
  for tool in gcc cc g++ make pip pip3; do
    if command -v "$tool" >/dev/null 2>&1; then echo "found $tool: $(command -v "$tool")"; exit 1; fi
  done
  for dir in /root/.cache /tmp/wheels /src; do [ ! -e "$dir" ] || { echo "found $dir"; exit 1; }; done
  [ "$(id -u):$(id -g)" = 10001:10001 ] || { echo "runs as $(id -u):$(id -g)"; exit 1; }
  vyos-vrrp-exporter --version
' || fail "image contents"
size=$(pm image inspect --format '{{.Size}}' "$IMAGE")
base_size=$(pm image inspect --format '{{.Size}}' "$BASE_IMAGE")

# --- run against simulated routers ---------------------------------------------------------------
say "run: exporter in the container, two simulated VyOS routers on 127.0.0.1"
sim=$work/sim
conf=$work/etc
mkdir -p "$sim" "$conf"
"$PYTHON" -m exporter.sim --routers 2 --groups 3 --dir "$sim" --poll-interval 1s --timeout 800ms \
  >"$work/sim.log" 2>&1 &
sim_pid=$!
for _ in $(seq 100); do grep -q '^ready' "$work/sim.log" && break; sleep 0.1; done
grep -q '^ready' "$work/sim.log" || { cat "$work/sim.log" >&2; fail "simulated routers did not start"; }
# What an operator mounts: config, key (0600) and known_hosts owned by the container's user.
cp "$sim/id_ed25519" "$sim/known_hosts" "$conf/"
sed "s#$sim/#/etc/vyos-vrrp-exporter/#g" "$sim/config.yml" >"$conf/config.yml"
chown -R 10001:10001 "$conf"
chmod 0600 "$conf/id_ed25519"

# No systemd here to schedule health checks (podman says so on stderr) or keep journald logs:
# k8s-file logs, and `healthcheck run` below runs the HEALTHCHECK once.
pm run -d "${ULIMITS[@]}" --log-driver=k8s-file --name "$NAME" --network=host --read-only --cap-drop=ALL \
  --security-opt=no-new-privileges --env "HEALTHCHECK_URL=http://127.0.0.1:$PORT/-/healthy" \
  -v "$conf:/etc/vyos-vrrp-exporter:ro" "$IMAGE" \
  --config.file=/etc/vyos-vrrp-exporter/config.yml --web.listen-address="127.0.0.1:$PORT" >/dev/null 2>"$work/run.err" \
  || { cat "$work/run.err" >&2; fail "podman run failed"; }
url=http://127.0.0.1:$PORT
ready=0
for _ in $(seq 150); do
  if curl -fsS "$url/-/ready" >/dev/null 2>&1; then ready=1; break; fi
  sleep 0.2
done
[ "$ready" = 1 ] || { pm logs "$NAME" >&2; fail "exporter in the container not ready"; }
pm inspect --format '{{.State.Running}}' "$NAME" | grep -q true || { pm logs "$NAME" >&2; fail "container exited"; }
metrics=$(curl -fsS "$url/metrics")
up=$(grep -c '^vrrp_router_up{.*} 1.0$' <<<"$metrics" || true)
[ "$up" = 2 ] || { echo "$metrics" | grep vrrp_router_up >&2; pm logs "$NAME" >&2; fail "expected 2 routers up, got $up"; }

procs=$(pm top "$NAME" pid user args)
pid1=$(awk '$1 == 1 {print}' <<<"$procs")
grep -q 'dumb-init' <<<"$pid1" || { echo "$procs" >&2; fail "PID 1 is not dumb-init"; }
users=$(pm top "$NAME" user | tail -n +2 | sort -u | tr -d ' ')
[ "$users" = vrrp-exporter ] || { echo "$procs" >&2; fail "processes run as '$users', not vrrp-exporter (10001)"; }
pm healthcheck run "$NAME" >/dev/null || fail "HEALTHCHECK failed"

say "run: SIGHUP reloads a changed config"
sed -i 's/^poll_interval: .*/poll_interval: 2s/' "$conf/config.yml"
pm kill --signal=HUP "$NAME" >/dev/null
reloaded=0
for _ in $(seq 50); do
  if pm logs "$NAME" 2>&1 | grep -q 'msg=config_reloaded'; then reloaded=1; break; fi
  sleep 0.1
done
[ "$reloaded" = 1 ] || { pm logs "$NAME" >&2; fail "no config_reloaded after SIGHUP"; }
pm inspect --format '{{.State.Running}}' "$NAME" | grep -q true || fail "SIGHUP stopped the container"

say "run: SIGTERM stops it cleanly"
t0=$(now)
pm stop -t 20 "$NAME" >/dev/null 2>>"$work/run.err"
t_stop=$(( $(now) - t0 ))
code=$(pm inspect --format '{{.State.ExitCode}}' "$NAME")
[ "$code" = 0 ] || { pm logs "$NAME" >&2; fail "exit code $code after SIGTERM"; }
[ "$t_stop" -lt 10 ] || fail "SIGTERM took ${t_stop}s (was the signal forwarded?)"
pm logs "$NAME" 2>&1 | grep -q 'msg=shutdown_requested' || fail "no shutdown_requested in the logs"

say "run: demo --once (read-only root, /tmp is podman's tmpfs)"
pm run --rm "${ULIMITS[@]}" --no-healthcheck --name "$NAME-demo" --network=host --read-only --cap-drop=ALL \
  --security-opt=no-new-privileges "$IMAGE" demo --once --web.listen-address=127.0.0.1:0 >"$work/demo.log" 2>&1 \
  || { cat "$work/demo.log" >&2; fail "demo --once failed in the container"; }
grep -q 'every phase gave the expected verdict' "$work/demo.log" || { cat "$work/demo.log" >&2; fail "demo verdicts"; }

# --- the systemd unit under a real systemd -------------------------------------------------------
# The image with Debian's systemd added boots systemd 252 as PID 1 (privileged: systemd sets up the
# unit's sandbox itself), with no network but loopback. The unit's ExecStart path is the image's
# virtualenv, so the unit files are installed unchanged; the user comes from the sysusers.d file.
say "systemd: the units in a container booting systemd"
t0=$(now)
sd_image=$IMAGE-systemd
mkdir -p "$work/sd"
cp deploy/systemd/vyos-vrrp-exporter.service "deploy/systemd/vyos-vrrp-exporter@.service" \
  deploy/systemd/vyos-vrrp-exporter.sysusers "$work/sd/"
cat >"$work/sd/Containerfile" <<EOF
FROM $IMAGE
USER root
RUN apt-get update -q && apt-get install -y -q --no-install-recommends systemd procps && rm -rf /var/lib/apt/lists/*
COPY vyos-vrrp-exporter.sysusers /usr/lib/sysusers.d/vyos-vrrp-exporter.conf
COPY vyos-vrrp-exporter.service vyos-vrrp-exporter@.service /etc/systemd/system/
ENTRYPOINT ["/lib/systemd/systemd"]
CMD []
EOF
pm build "${ULIMITS[@]}" --network=host --pull=never -t "$sd_image" "$work/sd" >"$work/sd-build.log" 2>&1 \
  || { tail -30 "$work/sd-build.log" >&2; fail "building the systemd image failed"; }
pm run -d "${ULIMITS[@]}" --name "$NAME-systemd" --privileged --systemd=always --network=none \
  --log-driver=k8s-file "$sd_image" >/dev/null 2>>"$work/run.err"
# Inside: four simulated routers in two clusters, the config in /etc/vyos-vrrp-exporter, then the
# unit (start, sandbox, reload, stop) and the template unit as shards 1/2 and 2/2.
pm exec -i "$NAME-systemd" bash -s >"$work/sd-run.log" 2>&1 <<'EOF' || { cat "$work/sd-run.log" >&2; fail "systemd checks"; }
set -euo pipefail
for _ in $(seq 100); do [ "$(systemctl is-system-running 2>/dev/null)" = running ] && break; sleep 0.1; done
id vyos-vrrp-exporter
mkdir -p /run/sim
(/opt/vyos-vrrp-exporter/bin/python -m exporter.sim --routers 4 --groups 3 --cluster-size 2 --dir /run/sim \
  --poll-interval 1s --timeout 800ms >/run/sim/log 2>&1 &)
for _ in $(seq 100); do grep -q '^ready' /run/sim/log 2>/dev/null && break; sleep 0.1; done
grep -q '^ready' /run/sim/log
etc=/etc/vyos-vrrp-exporter
mkdir -p $etc && cp /run/sim/id_ed25519 /run/sim/known_hosts $etc/
sed "s#/run/sim/#$etc/#g" /run/sim/config.yml >$etc/config.yml
chown vyos-vrrp-exporter: $etc/id_ed25519 && chmod 0600 $etc/id_ed25519
get() { /opt/vyos-vrrp-exporter/bin/python -c 'import sys, urllib.request as r; sys.stdout.write(r.urlopen(sys.argv[1], timeout=3).read().decode())' "$1"; }
wait_ready() { for _ in $(seq 100); do get "http://127.0.0.1:$1/-/ready" >/dev/null 2>&1 && return 0; sleep 0.1; done; return 1; }

systemctl start vyos-vrrp-exporter
wait_ready 9798 || { journalctl -u vyos-vrrp-exporter --no-pager; exit 1; }
up=$(get http://127.0.0.1:9798/metrics | grep -c '^vrrp_router_up{.*} 1.0$' || true)
[ "$up" = 4 ] || { echo "routers up: $up, expected 4"; journalctl -u vyos-vrrp-exporter --no-pager; exit 1; }
pid=$(systemctl show -p MainPID --value vyos-vrrp-exporter)
grep -E '^(NoNewPrivs|Seccomp|CapEff|CapBnd):' "/proc/$pid/status"
grep -q '^Seccomp:[[:space:]]*2' "/proc/$pid/status"
grep -q '^CapBnd:[[:space:]]*0000000000000000' "/proc/$pid/status"
[ "$(stat -c %U "/proc/$pid")" = vyos-vrrp-exporter ]
sed -i 's/^poll_interval: .*/poll_interval: 2s/' $etc/config.yml
systemctl reload vyos-vrrp-exporter
for _ in $(seq 50); do journalctl -u vyos-vrrp-exporter --no-pager | grep -q 'msg=config_reloaded' && break; sleep 0.1; done
journalctl -u vyos-vrrp-exporter --no-pager | grep -q 'msg=config_reloaded'
systemctl stop vyos-vrrp-exporter
[ "$(systemctl show -p Result --value vyos-vrrp-exporter)" = success ]
[ "$(systemctl show -p ExecMainStatus --value vyos-vrrp-exporter)" = 0 ]
echo "unit: started, 4 routers up, sandboxed (seccomp, no capabilities), reloaded, stopped with status 0"

echo LISTEN_ADDRESS=127.0.0.1:9801 >$etc/shard-1-2.env
echo LISTEN_ADDRESS=127.0.0.1:9802 >$etc/shard-2-2.env
systemctl start vyos-vrrp-exporter@1-2.service vyos-vrrp-exporter@2-2.service
{ wait_ready 9801 && wait_ready 9802; } || { journalctl --no-pager -u 'vyos-vrrp-exporter@*'; exit 1; }
one=$(get http://127.0.0.1:9801/metrics | grep '^vrrp_router_up{' || true)
two=$(get http://127.0.0.1:9802/metrics | grep '^vrrp_router_up{' || true)
all=$(printf '%s\n%s\n' "$one" "$two" | grep 'vrrp_router_up' || true)
[ "$(wc -l <<<"$all")" = 4 ] && [ "$(sort -u <<<"$all" | wc -l)" = 4 ] || { echo "shards: [$one] [$two]"; exit 1; }
ps -o args= -C vyos-vrrp-exporter | grep -q -- '--shard=1/2'
systemctl stop vyos-vrrp-exporter@1-2.service vyos-vrrp-exporter@2-2.service
echo "template: shard 1/2 polls $(grep -c . <<<"$one" || true), shard 2/2 $(grep -c . <<<"$two" || true) of the 4 routers, none twice"
EOF
cat "$work/sd-run.log"
pm rm --force --time 0 "$NAME-systemd" >/dev/null 2>>"$work/run.err"
t_systemd=$(( $(now) - t0 ))

t_total=$(( $(now) - t_start ))
printf 'timing: base %s, build %ss, systemd %ss, total %ss; image %s MB on a %s MB base\n' \
  "$t_base" "$t_build" "$t_systemd" "$t_total" "$((size / 1000000))" "$((base_size / 1000000))"
say "ok"
