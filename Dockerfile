# Container image for vyos-vrrp-exporter.
#
#   docker build -t vyos-vrrp-exporter .            (or: podman build --format=docker ...)
#   docker run --rm -p 9798:9798 vyos-vrrp-exporter demo --web.listen-address=:9798
#   docker run -d --read-only -p 9798:9798 \
#     -v /etc/vyos-vrrp-exporter:/etc/vyos-vrrp-exporter:ro vyos-vrrp-exporter
#
# BASE_IMAGE is any Debian-like image with python3 (>= 3.11) and its venv module (on plain Debian:
# the python3-venv package); both stages use it, so the virtualenv's interpreter path is the same in
# both. deploy/check.sh builds it on a local base made from a Debian root filesystem
# (debootstrap + `podman import`), because CI cannot pull images. See docs/deployment.md.
ARG BASE_IMAGE=docker.io/library/python:3.12-slim-bookworm

# --- build: the project's wheel, installed with its dependencies into a virtualenv -----------------
FROM ${BASE_IMAGE} AS build
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_ROOT_USER_ACTION=ignore
WORKDIR /src
COPY pyproject.toml README.md ./
COPY exporter ./exporter
# --only-binary: every dependency comes as a wheel, so no compiler is ever needed (or installed).
# dumb-init (PID 1, forwards SIGHUP/SIGTERM to the exporter, reaps zombies) is a static binary
# shipped as a wheel, so the runtime needs no package manager. pip and setuptools leave the venv.
RUN python3 -m venv /opt/vyos-vrrp-exporter \
    && /opt/vyos-vrrp-exporter/bin/pip wheel --no-deps --wheel-dir /tmp/wheels . \
    && /opt/vyos-vrrp-exporter/bin/pip install --only-binary=:all: /tmp/wheels/*.whl dumb-init==1.2.5.post1 \
    && /opt/vyos-vrrp-exporter/bin/python -m pip uninstall --yes pip setuptools \
    && rm -rf /tmp/wheels

# --- runtime: the virtualenv on the bare base, as an unprivileged user -----------------------------
FROM ${BASE_IMAGE}
LABEL org.opencontainers.image.title="vyos-vrrp-exporter" \
      org.opencontainers.image.description="Prometheus exporter for VRRP master splits on VyOS routers" \
      org.opencontainers.image.licenses="Apache-2.0"
# A fixed UID/GID outside the range of distribution and login users, so that file ownership on
# mounted keys (chown 10001) and Kubernetes' runAsUser/fsGroup can name it.
RUN groupadd --system --gid 10001 vrrp-exporter \
    && useradd --system --uid 10001 --gid 10001 --home-dir /nonexistent --no-create-home \
       --shell /usr/sbin/nologin vrrp-exporter
COPY --from=build /opt/vyos-vrrp-exporter /opt/vyos-vrrp-exporter
# The git commit the image is built from (`--build-arg VRRP_EXPORTER_REVISION=$(git rev-parse HEAD)`),
# exported as vrrp_exporter_build_info{revision}.
ARG VRRP_EXPORTER_REVISION=unknown
# Bytecode was compiled at install time; the root filesystem may be read-only.
ENV VRRP_EXPORTER_REVISION=${VRRP_EXPORTER_REVISION} \
    PATH=/opt/vyos-vrrp-exporter/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    HEALTHCHECK_URL=http://127.0.0.1:9798/-/healthy
# Configuration, SSH key and known_hosts are mounted here, read-only.
WORKDIR /etc/vyos-vrrp-exporter
USER 10001:10001
EXPOSE 9798
# python3 is the virtualenv's; with TLS on the exporter (--web.config.file) or another port, set
# HEALTHCHECK_URL (an https URL with a certificate the image does not trust fails: use a CA it does).
HEALTHCHECK --interval=30s --timeout=5s --start-period=15s --retries=3 \
    CMD ["python3", "-c", "import os, urllib.request as r; r.urlopen(os.environ['HEALTHCHECK_URL'], timeout=4)"]
ENTRYPOINT ["dumb-init", "--", "vyos-vrrp-exporter"]
CMD ["--config.file=/etc/vyos-vrrp-exporter/config.yml", "--web.listen-address=:9798"]
