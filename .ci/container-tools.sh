#!/usr/bin/env bash
# Container tooling for tests/container/ on a Debian 12 machine without Docker (run as root):
#   1. Debian's podman, buildah, runc, debootstrap, uidmap and catatonit (apt-get, only when missing);
#   2. a containers.conf drop-in with the settings podman 4.3 needs on this kind of VM;
#   3. a local base image (Debian bookworm + python3 + pip) made with debootstrap, because no
#      container registry is reachable here. Cached: skipped when the image already exists.
# Afterwards: podman build --format docker --network host \
#               --build-arg BASE_IMAGE=localhost/hospital-sim-base:bookworm -t hospital-sim .
# Environment: BASE_IMAGE (tag to create), DEBIAN_MIRROR (default: the mirror apt uses),
#              FORCE_BASE=1 (rebuild the base image even if it exists).
set -euo pipefail

BASE_IMAGE=${BASE_IMAGE:-localhost/hospital-sim-base:bookworm}
SUITE=bookworm
# python-is-python3: the Dockerfile runs `python` like the python:3.11-slim image does.
PACKAGES=ca-certificates,python3,python3-pip,python-is-python3
CONF_DIR=/etc/containers/containers.conf.d
CONF_FILE=$CONF_DIR/50-hospital-sim.conf

log() { printf '[container-tools] %s\n' "$*" >&2; }

if [ "$(id -u)" -ne 0 ]; then
  log "must run as root (apt-get, debootstrap, rootful podman)"
  exit 1
fi

# --- 1. packages -------------------------------------------------------------------------------
need=()
command -v podman >/dev/null 2>&1 || need+=(podman)
command -v buildah >/dev/null 2>&1 || need+=(buildah)
command -v runc >/dev/null 2>&1 || need+=(runc)
command -v debootstrap >/dev/null 2>&1 || need+=(debootstrap)
command -v newuidmap >/dev/null 2>&1 || need+=(uidmap)
# `podman kube play` starts an infra container whose init is catatonit (a Recommends of podman,
# so --no-install-recommends leaves it out).
command -v catatonit >/dev/null 2>&1 || [ -x /usr/libexec/podman/catatonit ] || need+=(catatonit)
if [ ${#need[@]} -gt 0 ]; then
  log "installing: ${need[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi

# --- 2. containers.conf ------------------------------------------------------------------------
# podman 4.3 here: crun is not installed and there is no systemd, so runc + cgroupfs; the default
# ulimits must not exceed this machine's hard limits (and nproc <= 32768) or runc's setrlimit fails;
# the host network namespace avoids netavark/iptables, which this VM cannot set up.
nofile=$(ulimit -Hn)
nproc=$(ulimit -Hu)
[ "$nofile" = unlimited ] && nofile=1048576
if [ "$nproc" = unlimited ] || [ "$nproc" -gt 32768 ]; then nproc=32768; fi
mkdir -p "$CONF_DIR"
cat >"$CONF_FILE.tmp" <<EOF
# Written by .ci/container-tools.sh (hospital-sim): settings podman 4.3 needs on this machine.
[containers]
default_ulimits = ["nofile=${nofile}:${nofile}", "nproc=${nproc}:${nproc}"]
netns = "host"

[engine]
runtime = "runc"
cgroup_manager = "cgroupfs"
events_logger = "file"
EOF
if ! cmp -s "$CONF_FILE.tmp" "$CONF_FILE" 2>/dev/null; then
  mv "$CONF_FILE.tmp" "$CONF_FILE"
  log "wrote $CONF_FILE"
else
  rm -f "$CONF_FILE.tmp"
fi

# --- 3. base image -----------------------------------------------------------------------------
if [ "${FORCE_BASE:-0}" != 1 ] && podman image exists "$BASE_IMAGE"; then
  log "base image $BASE_IMAGE exists (FORCE_BASE=1 rebuilds it)"
  exit 0
fi

mirror_from_apt() {
  # deb822 sources first (Debian 12's default), then one-line sources.list entries.
  local f uri
  for f in /etc/apt/sources.list.d/*.sources; do
    [ -f "$f" ] || continue
    uri=$(awk -v suite="$SUITE" '
      /^[[:space:]]*$/ { if (u != "" && s ~ ("(^| )" suite "( |$)")) { print u; exit } u = ""; s = ""; next }
      tolower($1) == "uris:" { u = $2 }
      tolower($1) == "suites:" { $1 = ""; s = $0; sub(/^ +/, "", s) }
      END { if (u != "" && s ~ ("(^| )" suite "( |$)")) print u }' "$f" | head -n1)
    if [ -n "$uri" ]; then echo "$uri"; return; fi
  done
  for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
    [ -f "$f" ] || continue
    uri=$(awk -v suite="$SUITE" '$1 == "deb" && $0 !~ /\[/ && $3 == suite { print $2; exit }
                                 $1 == "deb" && $0 ~ /\[/ { for (i = 2; i <= NF; i++) if ($i ~ /\]$/) { if ($(i + 2) == suite) { print $(i + 1); exit } break } }' "$f")
    if [ -n "$uri" ]; then echo "$uri"; return; fi
  done
  echo "http://deb.debian.org/debian"
}

MIRROR=${DEBIAN_MIRROR:-$(mirror_from_apt)}
ROOTFS=$(mktemp -d /var/tmp/hospital-sim-rootfs.XXXXXX)
cleanup() { rm -rf "$ROOTFS"; }
trap cleanup EXIT

log "debootstrap $SUITE (minbase + $PACKAGES) from $MIRROR"
started=$(date +%s)
debootstrap --variant=minbase --include="$PACKAGES" "$SUITE" "$ROOTFS" "$MIRROR" >"$ROOTFS.log" 2>&1 || {
  tail -n 30 "$ROOTFS.log" >&2
  rm -f "$ROOTFS.log"
  exit 1
}
rm -f "$ROOTFS.log"

# CA certificates added to this machine (e.g. an egress proxy's CA): pip inside `podman build`
# must trust what the host trusts to reach PyPI. Debian's pip uses the system bundle.
if compgen -G "/usr/local/share/ca-certificates/*" >/dev/null; then
  cp -a /usr/local/share/ca-certificates/. "$ROOTFS/usr/local/share/ca-certificates/"
  chroot "$ROOTFS" update-ca-certificates >/dev/null 2>&1
  log "added local CA certificates: $(ls /usr/local/share/ca-certificates | tr '\n' ' ')"
fi
# Images install with pip as root, like python:3.11-slim; Debian's PEP 668 marker would refuse it.
rm -f "$ROOTFS"/usr/lib/python3*/EXTERNALLY-MANAGED
# Keep the image small: no apt lists, caches, docs.
rm -rf "$ROOTFS"/var/lib/apt/lists/* "$ROOTFS"/var/cache/apt/*.bin "$ROOTFS"/var/cache/apt/archives/*.deb \
  "$ROOTFS"/usr/share/doc/* "$ROOTFS"/usr/share/man/* "$ROOTFS"/usr/share/locale/* "$ROOTFS"/tmp/*

tar --numeric-owner -C "$ROOTFS" -c . | podman import --quiet \
  --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
  --change 'ENV LANG=C.UTF-8' \
  --change 'CMD ["python3"]' \
  - "$BASE_IMAGE" >/dev/null
log "imported $BASE_IMAGE in $(($(date +%s) - started)) s ($(podman image inspect --format '{{.Size}}' "$BASE_IMAGE") bytes)"
