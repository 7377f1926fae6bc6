#!/usr/bin/env bash
# A local Docker engine for tests/test_compose_stack.py, on a machine with no image registry.
#
#   sudo scripts/compose_engine.sh      # prints the DOCKER_CONFIG directory to use
#
# Run as root. Idempotent: each step is skipped when already done.
#   1. Debian packages: docker.io (the engine), debootstrap, tinyproxy; and Compose v2, which
#      bookworm lacks (its docker-compose is v1), as Debian trixie's docker-compose package
#      (a static binary; fetched with a private apt configuration, verified by apt's signatures).
#   2. dockerd with the vfs storage driver, if no engine answers.
#   3. Containers never reach an address outside this machine: forwarded traffic leaving by the
#      default route is rejected (iptables DOCKER-USER). Image builds fetch packages through
#      tinyproxy on the docker0 bridge, which lets through only the package registries
#      (PyPI, Debian), as the machine itself does.
#   4. Base images: a Debian bookworm root from debootstrap, imported with `docker import`, and
#      from it the stand-ins for what Dockerfile and docker-compose.yml name (python:3.11-slim,
#      postgres:15, redis:7), built from tests/compose/images/. An image of that name that is
#      not a stand-in (a real one, pulled) is left alone and used.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
STATE="${WP_COMPOSE_STATE:-/var/tmp/welfare-portal-compose}"
IMAGES="$ROOT/tests/compose/images"
mkdir -p "$STATE"
log() { echo "compose_engine: $*" >&2; }

[ "$(id -u)" = 0 ] || { log "must run as root (it installs packages and starts dockerd)"; exit 2; }

# --- 1. packages ------------------------------------------------------------------------
need=()
command -v dockerd >/dev/null || need+=(docker.io)
command -v debootstrap >/dev/null || need+=(debootstrap)
command -v tinyproxy >/dev/null || need+=(tinyproxy)
command -v iptables >/dev/null || need+=(iptables)
if [ ${#need[@]} -gt 0 ]; then
  log "installing ${need[*]} from Debian"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi
# tinyproxy's package starts a system-wide instance where it can; ours is separate.
if ! docker compose version >/dev/null 2>&1; then
  log "installing Compose v2 (Debian trixie's docker-compose package)"
  apt_dir="$STATE/apt"
  mkdir -p "$apt_dir/lists/partial" "$apt_dir/cache/archives/partial"
  echo "deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] http://deb.debian.org/debian trixie main" \
    > "$apt_dir/sources.list"
  opts=(-o "Dir::Etc::SourceList=$apt_dir/sources.list" -o Dir::Etc::SourceParts=/dev/null
        -o "Dir::State::Lists=$apt_dir/lists" -o "Dir::Cache=$apt_dir/cache"
        -o Dir::State::status=/dev/null -o APT::Sandbox::User=root)
  apt-get "${opts[@]}" update -qq
  (cd "$apt_dir" && apt-get "${opts[@]}" download -qq docker-compose)
  dpkg -i "$apt_dir"/docker-compose_*.deb >/dev/null
  docker compose version >&2
fi

# --- 2. the engine ------------------------------------------------------------------------
if ! docker info >/dev/null 2>&1; then
  log "starting dockerd (vfs storage driver); log: $STATE/dockerd.log"
  nohup dockerd --storage-driver=vfs >"$STATE/dockerd.log" 2>&1 &
  for _ in $(seq 60); do docker info >/dev/null 2>&1 && break; sleep 1; done
  docker info >/dev/null 2>&1 || { log "dockerd did not start:"; tail -20 "$STATE/dockerd.log" >&2; exit 1; }
fi

# --- 3. no traffic leaves the machine; builds use the registry proxy ---------------------------
out_if="$(ip route show default | awk '{for (i = 1; i < NF; i++) if ($i == "dev") print $(i + 1)}' | head -1)"
if [ -n "$out_if" ] && ! iptables -C DOCKER-USER -o "$out_if" -j REJECT 2>/dev/null; then
  iptables -I DOCKER-USER -o "$out_if" -j REJECT
fi
gateway="$(ip -4 -o addr show docker0 | awk '{print $4}' | cut -d/ -f1)"
[ -n "$gateway" ] || { log "docker0 has no IPv4 address"; exit 1; }
# Only the default bridge, where image builds run; the stack's own network cannot use it.
subnet="$(ip -4 -o addr show docker0 | awk '{print $4}')"
proxy_port=3128
cat > "$STATE/tinyproxy.conf" <<CONF
Port $proxy_port
Listen $gateway
Timeout 600
MaxClients 50
Allow $subnet
ConnectPort 443
Filter "$STATE/tinyproxy.filter"
FilterDefaultDeny Yes
FilterExtended Yes
PidFile "$STATE/tinyproxy.pid"
LogFile "$STATE/tinyproxy.log"
LogLevel Warning
CONF
printf '%s\n' '^pypi\.org$' '^files\.pythonhosted\.org$' '^deb\.debian\.org$' > "$STATE/tinyproxy.filter"
if [ -s "$STATE/tinyproxy.pid" ] && kill -0 "$(cat "$STATE/tinyproxy.pid")" 2>/dev/null; then
  kill "$(cat "$STATE/tinyproxy.pid")" && sleep 1   # restarted, so the config above applies
fi
tinyproxy -c "$STATE/tinyproxy.conf"
for _ in $(seq 10); do [ -s "$STATE/tinyproxy.pid" ] && break; sleep 0.5; done
proxy="http://$gateway:$proxy_port"
mkdir -p "$STATE/docker-config"
cat > "$STATE/docker-config/config.json" <<JSON
{"proxies": {"default": {"httpProxy": "$proxy", "httpsProxy": "$proxy",
  "noProxy": "localhost,127.0.0.1,postgres,redis,web"}}}
JSON
export DOCKER_CONFIG="$STATE/docker-config"

# --- 4. base images -----------------------------------------------------------------------
standin() {  # standin <image name>: true when the name is free or already one of ours
  local label
  label="$(docker image inspect "$1" --format '{{index .Config.Labels "org.welfare-portal.stand-in"}}' 2>/dev/null)" || return 0
  [ -n "$label" ] && [ "$label" != "<no value>" ]
}
# Bump when the way the base root is made below changes; the images' own files count anyway.
BASE_RECIPE=1
digest="$( (echo "$BASE_RECIPE"; cat "$IMAGES"/*) | sha256sum | cut -c1-12)"
base="welfare-portal-test/bookworm:$digest"
if ! docker image inspect "$base" >/dev/null 2>&1; then
  log "debootstrap: Debian bookworm (minbase) -> $base"
  rootfs="$STATE/rootfs"
  rm -rf "$rootfs"
  debootstrap --variant=minbase --include=ca-certificates bookworm "$rootfs" \
    http://deb.debian.org/debian >"$STATE/debootstrap.log" 2>&1 \
    || { tail -20 "$STATE/debootstrap.log" >&2; exit 1; }
  # As Debian's official images do: no services start during package installs; lean apt.
  printf '#!/bin/sh\nexit 101\n' > "$rootfs/usr/sbin/policy-rc.d" && chmod +x "$rootfs/usr/sbin/policy-rc.d"
  printf 'APT::Install-Recommends "false";\nAPT::Install-Suggests "false";\n' \
    > "$rootfs/etc/apt/apt.conf.d/90welfare-portal-test"
  rm -rf "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/lib/apt/lists/*
  tar -C "$rootfs" -c . | docker import - "$base" >/dev/null
  rm -rf "$rootfs"
  # Older bases (from earlier versions of tests/compose/images) are no longer needed.
  docker image ls welfare-portal-test/bookworm --format '{{.Repository}}:{{.Tag}}' \
    | grep -vx "$base" | xargs -r docker image rm >/dev/null 2>&1 || true
fi
context="$STATE/context"
rm -rf "$context" && mkdir -p "$context/extra-ca"
cp "$IMAGES"/* "$context/"
cp /usr/local/share/ca-certificates/*.crt "$context/extra-ca/" 2>/dev/null || true
for pair in python:3.11-slim=python postgres:15=postgres redis:7=redis; do
  name="${pair%%=*}" file="${pair#*=}"
  if ! standin "$name"; then
    log "$name exists and is not a stand-in: using it"
    continue
  fi
  current="$(docker image inspect "$name" --format '{{index .Config.Labels "org.welfare-portal.digest"}}' 2>/dev/null || true)"
  if [ "$current" != "$digest" ]; then
    log "building the stand-in for $name"
    docker build -q --build-arg "BASE=$base" --label "org.welfare-portal.digest=$digest" \
      -t "$name" -f "$context/$file.Dockerfile" "$context" >/dev/null
  fi
done
docker image prune -f >/dev/null
echo "$DOCKER_CONFIG"
