# Hospital OLTP simulator: `python -m daemon` in a slim, non-root image.
#   docker build -t hospital-sim .
#   docker run --rm -e PG_HOST=db.example -e PG_PASSWORD=... -p 8080:8080 hospital-sim
# BASE_IMAGE: any Debian-like image with `python` (>= 3.11) and pip; CI builds a local one with
# debootstrap (.ci/container-tools.sh) because no registry is reachable there.
# The image works with a read-only root filesystem: it writes nothing outside /tmp, LOG_DIR and
# LEDGER_FILE, which must then be writable mounts.
ARG BASE_IMAGE=python:3.11-slim
FROM ${BASE_IMAGE}

LABEL org.opencontainers.image.title="hospital-oltp-simulator" \
      org.opencontainers.image.description="Brazilian hospital OLTP traffic for PostgreSQL, for testing Debezium/CDC pipelines"

ENV PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_ROOT_USER_ACTION=ignore

WORKDIR /app

# Dependencies first: this layer is reused until requirements.txt changes.
COPY requirements.txt ./
RUN python -m pip install --no-cache-dir -r requirements.txt

# A fixed, unprivileged uid/gid (Kubernetes' runAsUser: 10001); the code stays owned by root, read-only.
RUN groupadd --gid 10001 app \
 && useradd --no-log-init --uid 10001 --gid 10001 --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin app

# daemon/sqlfiles.py reads <parent of daemon>/sql: keep sql/ beside daemon/.
COPY sql/ ./sql/
COPY daemon/ ./daemon/
# Byte-code compiled now: PYTHONDONTWRITEBYTECODE and a read-only root fs prevent it at run time.
RUN python -m compileall -q daemon

USER 10001:10001
EXPOSE 8080
STOPSIGNAL SIGTERM

# Liveness: /healthz answers 200 while the stream makes progress (HTTP_PORT=0 disables the server:
# then the check passes). Kubernetes uses its own probes (k8s/deployment.yaml), not this.
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 \
  CMD ["python", "-c", "import os,sys,urllib.request as u; p=os.environ.get('HTTP_PORT') or '8080'; h=os.environ.get('HTTP_HOST') or '0.0.0.0'; h='127.0.0.1' if h in ('0.0.0.0','::','') else h; sys.exit(0 if p=='0' else u.urlopen(f'http://{h}:{p}/healthz',timeout=4).status!=200)"]

# Exec form: python is PID 1 and receives SIGTERM itself (graceful stop, exit 0).
ENTRYPOINT ["python", "-m", "daemon"]
CMD ["run"]
