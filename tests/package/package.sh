#!/usr/bin/env bash
# The Debian package, built from a copy of the tree as a fresh machine would: dpkg-buildpackage,
# lintian (no errors; the warnings are printed), apt-get install of the .deb, the installed
# programs, man pages, units and user, then apt-get purge leaving nothing of the package behind.
# Needs root (it installs and purges); in CI it must run.
# Usage: package.sh SOURCE_DIR
set -euo pipefail
src=$(cd "$1" && pwd)
if [[ $(id -u) -ne 0 ]]; then
  [[ ${CI:-} == true ]] && { echo "FAILED: the package test must run in CI, as root"; exit 1; }
  echo "SKIPPED: installs and purges a package: run as root"; exit 77
fi
for tool in dpkg-buildpackage lintian apt-get systemd-analyze man; do
  if ! command -v "$tool" >/dev/null; then
    [[ ${CI:-} == true ]] && { echo "FAILED: $tool is missing (scripts/setup.sh installs it)"; exit 1; }
    echo "SKIPPED: no $tool"; exit 77
  fi
done
if dpkg-query -W -f='${Status}' wgsd 2>/dev/null | grep -q 'ok installed'; then
  echo "FAILED: a wgsd package is installed already; this test installs and purges its own"
  exit 1
fi

tmp=$(mktemp -d)
cleanup() {
  if dpkg-query -W -f='${Status}' wgsd 2>/dev/null | grep -q installed; then apt-get purge -y -qq wgsd >/dev/null 2>&1 || true; fi
  rm -rf "$tmp"
}
trap cleanup EXIT

echo "== build (a copy of the tree, without build directories)"
mkdir "$tmp/wgsd"
tar -C "$src" --exclude='./build*' --exclude='./obj-*' --exclude='./.git' --exclude='./debian/wgsd' \
  --exclude='./debian/.debhelper' --exclude='./debian/tmp' -cf - . | tar -C "$tmp/wgsd" -xf -
flags=""
if command -v ccache >/dev/null; then
  # Paths relative to the copy, so that the next run's copy (another directory) hits the cache.
  flags="-DCMAKE_CXX_COMPILER_LAUNCHER=ccache"
  export CCACHE_BASEDIR="$tmp/wgsd" CCACHE_NOHASHDIR=1
fi
start=$(date +%s)
(cd "$tmp/wgsd" && DEB_BUILD_OPTIONS="nocheck noddebs parallel=$(nproc)" WGSD_CMAKE_FLAGS="$flags" \
  dpkg-buildpackage -b -us -uc >"$tmp/build.log" 2>&1) || { tail -50 "$tmp/build.log"; echo "FAILED: dpkg-buildpackage"; exit 1; }
echo "built in $(($(date +%s) - start))s:"
ls "$tmp"/*.deb
deb=$(ls "$tmp"/wgsd_*.deb)
dpkg-deb -c "$deb" | awk '{print $6}'

echo "== maintainer scripts: an upgrade restarts an enabled server, removal stops it, nothing is enabled"
dpkg-deb -e "$deb" "$tmp/control"
{ grep -q '_dh_action=restart' "$tmp/control/postinst" &&
  grep -Eq 'deb-systemd-invoke \$_dh_action .*wgsd-server\.service' "$tmp/control/postinst"; } \
  || { echo "FAILED: postinst does not restart wgsd-server.service after an upgrade"; exit 1; }
grep -Eq 'deb-systemd-invoke stop .*wgsd-server\.service' "$tmp/control/prerm" \
  || { echo "FAILED: prerm does not stop wgsd-server.service on removal"; exit 1; }
# --no-enable: debhelper's snippet re-enables on upgrade only a unit the operator had enabled.
grep -Eq 'deb-systemd-helper debian-installed .*wgsd-server\.service' "$tmp/control/postinst" \
  || { echo "FAILED: postinst enables wgsd-server.service on installation"; exit 1; }

echo "== lintian"
lintian_out=$(lintian --pedantic --display-info --tag-display-limit 0 "$deb" 2>&1 | grep -v '^running with root privileges') || true
echo "${lintian_out:-(nothing to say)}"
if grep -q '^E: ' <<<"$lintian_out"; then echo "FAILED: lintian reports errors"; exit 1; fi

echo "== install"
apt-get install -y -qq "$deb" >"$tmp/install.log" 2>&1 || { cat "$tmp/install.log"; echo "FAILED: apt-get install"; exit 1; }
fail=0
check() {  # check DESCRIPTION COMMAND...
  local what=$1
  shift
  if out=$("$@" 2>&1); then echo "ok: $what${out:+: $out}"; else echo "FAILED: $what: $out"; fail=1; fi
}
check "wgsd-server --version" /usr/sbin/wgsd-server --version
check "wgsd-client --version" /usr/sbin/wgsd-client --version
check "man -w wgsd-server" man -w wgsd-server
check "man -w wgsd-client" man -w wgsd-client
check "man -w 5 wgsd-corefile" man -w 5 wgsd-corefile
check "the installed Corefile passes --check" /usr/sbin/wgsd-server --conf /etc/wgsd/Corefile --check
check "the Corefile is a conffile" grep -qx /etc/wgsd/Corefile /var/lib/dpkg/info/wgsd.conffiles
check "id wgsd" id wgsd
for unit in wgsd-server.service wgsd-client@wg0.service wgsd-client@wg0.timer wgsd-client-daemon@wg0.service; do
  check "systemd-analyze verify $unit" bash -c "out=\$(systemd-analyze verify $unit 2>&1); echo \"\$out\"; test -z \"\$out\""
done
for template in wgsd-client@.service wgsd-client-daemon@.service; do
  check "$template: a state directory per instance" bash -c "cat /lib/systemd/system/$template /usr/lib/systemd/system/$template 2>/dev/null | grep -qx 'StateDirectory=wgsd-client/%i'"
done
check "nothing enabled" bash -c '! ls /etc/systemd/system/*/wgsd* 2>/dev/null'

echo "== purge"
apt-get purge -y -qq wgsd >"$tmp/purge.log" 2>&1 || { cat "$tmp/purge.log"; echo "FAILED: apt-get purge"; exit 1; }
left=$(ls -d /usr/sbin/wgsd-server /usr/sbin/wgsd-client /lib/systemd/system/wgsd* /usr/lib/systemd/system/wgsd* /etc/wgsd \
  /usr/share/man/man8/wgsd-* /usr/share/man/man5/wgsd-* /usr/share/doc/wgsd /var/lib/dpkg/info/wgsd.* \
  /etc/systemd/system/*/wgsd* /var/lib/systemd/deb-systemd-helper-enabled/wgsd* 2>/dev/null || true)
if [[ -n $left ]]; then
  echo "FAILED: left behind after purge:"
  echo "$left"
  fail=1
else
  echo "ok: nothing of the package is left after purge"
fi
# Debian policy lets a package's system user stay after purge (files it owned may remain).
id wgsd >/dev/null 2>&1 && echo "note: the system user wgsd stays after purge, as Debian policy allows"
exit $fail
