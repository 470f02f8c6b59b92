#!/usr/bin/env bash
# Installs redis-server from the distribution's packages, for the BullMQ
# comparison of `npm run bench`. Needs root (or sudo) and apt-get.
set -euo pipefail
if command -v redis-server >/dev/null; then
  exit 0
fi
sudo=""
if [ "$(id -u)" -ne 0 ]; then sudo="sudo"; fi
$sudo apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends redis-server
