# Hospital OLTP simulator: the `hospital-sim` package (wheel) in a slim, non-root image.
#   docker build -t hospital-sim .
#   docker run --rm -e PG_HOST=db.example -e PG_PASSWORD=... -p 8080:8080 hospital-sim
# BASE_IMAGE: any Debian-like image with `python` (>= 3.11) and pip; CI builds a local one with
# debootstrap (.ci/container-tools.sh) because no registry is reachable there.
# The image works with a read-only root filesystem: it writes nothing outside /tmp, LOG_DIR and
# LEDGER_FILE, which must then be writable mounts.
ARG BASE_IMAGE=python:3.11-slim

# --- build: the dependencies and the project's wheel, each installed into a staging root --------
# (pip --root: the files land under /staging/<part>/ at the paths they will have in the image).
FROM ${BASE_IMAGE} AS build

ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_ROOT_USER_ACTION=ignore

WORKDIR /src

# Dependencies first: this layer is reused until requirements.lock changes. The lock pins every
# runtime dependency with its hashes (`make lock` refreshes it from requirements.txt): the same
# versions, byte for byte, whenever the image is built; pip refuses anything unpinned or altered.
COPY requirements.lock ./
RUN python -m pip install --no-cache-dir --no-warn-script-location --require-hashes --only-binary :all: \
      --root /staging/deps -r requirements.lock

# The wheel (pyproject.toml: hatchling copies sql/ into it as daemon/sql), then installed as such,
# without dependencies: those are the locked ones above.
COPY pyproject.toml README.md ./
COPY sql/ ./sql/
COPY daemon/ ./daemon/
RUN python -m pip wheel --no-cache-dir --no-deps --wheel-dir /wheels . \
 && python -m pip install --no-cache-dir --no-deps --no-warn-script-location --root /staging/app /wheels/*.whl

# --- runtime: the base image plus what the build installed; no sources, wheels or build tools ---
FROM ${BASE_IMAGE}

LABEL org.opencontainers.image.title="hospital-oltp-simulator" \
      org.opencontainers.image.description="Brazilian hospital OLTP traffic for PostgreSQL, for testing Debezium/CDC pipelines"

ENV PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_ROOT_USER_ACTION=ignore

# A fixed, unprivileged uid/gid (Kubernetes' runAsUser: 10001); the code stays owned by root, read-only.
RUN groupadd --gid 10001 app \
 && useradd --no-log-init --uid 10001 --gid 10001 --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin app

# Byte code came compiled by pip (PYTHONDONTWRITEBYTECODE and a read-only root fs prevent it at run time).
COPY --from=build /staging/deps/ /
COPY --from=build /staging/app/ /
# Smoke test: the script runs, and importing daemon.cli imports every runtime dependency.
RUN hospital-sim --help >/dev/null

WORKDIR /
USER 10001:10001
EXPOSE 8080
STOPSIGNAL SIGTERM

# Liveness: /healthz answers 200 while the stream makes progress (HTTP_PORT=0 disables the server:
# then the check passes). Kubernetes uses its own probes (k8s/deployment.yaml), not this.
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 \
  CMD ["python", "-c", "import os,sys,urllib.request as u; p=os.environ.get('HTTP_PORT') or '8080'; h=os.environ.get('HTTP_HOST') or '0.0.0.0'; h='127.0.0.1' if h in ('0.0.0.0','::','') else h; sys.exit(0 if p=='0' else u.urlopen(f'http://{h}:{p}/healthz',timeout=4).status!=200)"]

# Exec form: the installed console script (= `python -m daemon`) is PID 1 and receives SIGTERM
# itself (graceful stop, exit 0).
ENTRYPOINT ["hospital-sim"]
CMD ["run"]
