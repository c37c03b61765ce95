#!/usr/bin/env bash
# Installs what berth needs on a fresh Debian 12 machine, idempotently, and builds it.
# Fast when everything is already there: it checks before it installs.
#   - Debian packages: the toolchain for the native build, busybox-static (image fixtures),
#     docker-registry (registry tests), libseccomp-dev, iproute2, and the peers used by
#     interop tests and benchmarks (skopeo, podman, runc, umoci, containerd);
#   - npm dependencies with `npm ci` when package-lock.json changed since the last install;
#   - the build of every package (nx, cached).
set -euo pipefail
cd "$(dirname "$0")/.."

apt_packages=(
  g++ make python3 pkg-config libseccomp-dev
  busybox-static docker-registry apache2-utils openssl iproute2 iptables nftables
  skopeo podman runc umoci containerd hyperfine tmux zstd
)
missing=()
for p in "${apt_packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" != 0 ]; then
    echo "setup: missing Debian packages: ${missing[*]} (run as root, or apt-get install them)" >&2
    exit 1
  fi
  echo "setup: installing ${missing[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

if ! command -v node >/dev/null || ! node -e 'process.exit(Number(process.versions.node.split(".")[0]) >= 20 ? 0 : 1)'; then
  echo "setup: berth needs Node.js 20 or newer on the PATH" >&2
  exit 1
fi

stamp=node_modules/.berth-lock-sha
want=$(sha256sum package-lock.json | cut -d' ' -f1)
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
  echo "setup: npm ci (native modules build from source: a few minutes the first time)"
  npm ci --no-audit --no-fund --loglevel=error
  echo "$want" > "$stamp"
fi

npx nx run-many -t build --output-style=static >/tmp/berth-build.log 2>&1 || { cat /tmp/berth-build.log; echo "setup: build failed" >&2; exit 1; }
