#!/usr/bin/env bash
# `cmake --install` into a scratch DESTDIR puts exactly the expected files where they belong: the
# programs in sbin, the units in the unit directory, the man pages, /etc/wgsd/Corefile, the docs.
# Usage: install.sh BUILD_DIR
set -euo pipefail
build=$(cd "$1" && pwd)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

prefix=$(sed -n 's/^CMAKE_INSTALL_PREFIX:PATH=//p' "$build/CMakeCache.txt")
unitdir=$(sed -n 's/^WGSD_SYSTEMD_UNITDIR:STRING=//p' "$build/CMakeCache.txt")
sysconfdir=/etc
[[ $prefix == /usr ]] || sysconfdir=$prefix/etc
[[ $unitdir == /* ]] || unitdir=$prefix/$unitdir

DESTDIR=$tmp cmake --install "$build" >/dev/null

expected=(
  "$prefix/sbin/wgsd-server"
  "$prefix/sbin/wgsd-client"
  "$unitdir/wgsd-server.service"
  "$unitdir/wgsd-client@.service"
  "$unitdir/wgsd-client@.timer"
  "$unitdir/wgsd-client-daemon@.service"
  "$sysconfdir/wgsd/Corefile"
  "$prefix/share/doc/wgsd/README.md"
  "$prefix/share/doc/wgsd/LICENSE"
  "$prefix/share/doc/wgsd/corefile.md"
  "$prefix/share/doc/wgsd/client.md"
  "$prefix/share/doc/wgsd/examples/Corefile.example"
  "$prefix/share/doc/wgsd/examples/wgsd-client-wg0"
)
if [[ -d $(dirname "$0")/../../man ]]; then
  expected+=("$prefix/share/man/man8/wgsd-server.8" "$prefix/share/man/man8/wgsd-client.8" "$prefix/share/man/man5/wgsd-corefile.5")
fi

echo "installed under DESTDIR:"
(cd "$tmp" && find . -type f | sed 's|^\.||' | sort)
fail=0
for f in "${expected[@]}"; do
  if [[ ! -f $tmp$f ]]; then
    echo "FAILED: cmake --install did not install $f"
    fail=1
  fi
done
for f in "$prefix/sbin/wgsd-server" "$prefix/sbin/wgsd-client"; do
  [[ -x $tmp$f ]] || { echo "FAILED: $f is not executable"; fail=1; }
done
# The units run the programs where they were installed, and read the Corefile installed.
if ! grep -qx "ExecStart=$prefix/sbin/wgsd-server --conf $sysconfdir/wgsd/Corefile" "$tmp$unitdir/wgsd-server.service"; then
  echo "FAILED: wgsd-server.service does not start $prefix/sbin/wgsd-server --conf $sysconfdir/wgsd/Corefile:"
  grep '^ExecStart=' "$tmp$unitdir/wgsd-server.service"
  fail=1
fi
# An edited Corefile is the operator's: installing again keeps it.
echo "# edited by the operator" > "$tmp$sysconfdir/wgsd/Corefile"
DESTDIR=$tmp cmake --install "$build" >/dev/null
if [[ $(cat "$tmp$sysconfdir/wgsd/Corefile") != "# edited by the operator" ]]; then
  echo "FAILED: a second cmake --install overwrote the edited $sysconfdir/wgsd/Corefile"
  fail=1
fi
if grep -rl '@WGSD_' "$tmp$unitdir"; then
  echo "FAILED: a unit above still has an unconfigured @WGSD_...@ placeholder"
  fail=1
fi
exit $fail
