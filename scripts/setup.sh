#!/usr/bin/env bash
# Installs, only when missing, the Debian 12 packages that wgsd's build, tests, fuzzers and demo need.
# Idempotent and non-interactive; safe to run on every invocation.
set -euo pipefail

packages=(
  build-essential cmake pkg-config
  libldns-dev libmnl-dev libsodium-dev libcli11-dev catch2
  wireguard-go wireguard-tools iproute2 iptables
  dnsutils ldnsutils knot knot-dnsutils nsd iputils-ping procps
  clang libclang-rt-14-dev
  systemd mandoc man-db debhelper dpkg-dev fakeroot lintian
  prometheus chromium curl
)

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
    missing+=("$p")
  fi
done

if ((${#missing[@]})); then
  echo "setup: installing ${missing[*]}"
  sudo=""
  if [[ $(id -u) -ne 0 ]]; then sudo="sudo"; fi
  export DEBIAN_FRONTEND=noninteractive
  $sudo apt-get update -qq
  $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
echo "setup: all packages present"
