#!/usr/bin/env bash
# Install the Debian packages the tests drive, when missing: Chromium (browser tests) and
# redis-server (the Redis store and the two-replica tests). Needs root and apt-get.
set -euo pipefail
need=()
command -v chromium >/dev/null || need+=(chromium)
command -v redis-server >/dev/null || need+=(redis-server)
[ ${#need[@]} -eq 0 ] && exit 0
if [ "$(id -u)" -ne 0 ] || ! command -v apt-get >/dev/null; then
  echo "The tests need these Debian packages: ${need[*]}." >&2
  echo "Install them (as root: apt-get install -y ${need[*]}) and run make test again." >&2
  exit 1
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq "${need[@]}" >/dev/null
