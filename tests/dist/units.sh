#!/usr/bin/env bash
# The shipped units pass `systemd-analyze verify` (pointing at the programs just built), and the
# server unit's `systemd-analyze security` exposure is below 5.0 (its table is printed).
# Usage: units.sh BUILD_DIR
set -euo pipefail
build=$(cd "$1" && pwd)
if ! command -v systemd-analyze >/dev/null; then
  [[ ${CI:-} == true ]] && { echo "FAILED: systemd-analyze is missing (package systemd)"; exit 1; }
  echo "SKIPPED: no systemd-analyze"; exit 77
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

sbindir=$(sed -n 's/^CMAKE_INSTALL_PREFIX:PATH=//p' "$build/CMakeCache.txt")/sbin
# The units as built, starting the programs of this build instead of the installed ones.
for f in "$build"/dist/systemd/*; do
  sed "s|$sbindir/wgsd-|$build/wgsd-|" "$f" >"$tmp/$(basename "$f")"
done
fail=0
# A template is verified through an instance; --man=no: the man pages are not installed here.
for unit in wgsd-server.service wgsd-client@wg0.service wgsd-client@wg0.timer wgsd-client-daemon@wg0.service; do
  template=${unit/@wg0/@}
  [[ $template == "$unit" ]] || cp "$tmp/$template" "$tmp/$unit"
  if out=$(cd "$tmp" && systemd-analyze verify --man=no "./$unit" 2>&1) && [[ -z $out ]]; then
    echo "verify $unit: OK"
  else
    echo "FAILED: systemd-analyze verify $unit:"
    echo "$out"
    fail=1
  fi
done

# Two instances of a client template (wg0, wg1) under DynamicUser= must not share one state
# directory: each would re-chown it to its own dynamic user.
for template in wgsd-client@.service wgsd-client-daemon@.service; do
  dirs=$(sed -n 's/^StateDirectory=//p' "$tmp/$template")
  if [[ $dirs == "wgsd-client/%i" ]]; then
    echo "$template: StateDirectory=$dirs (one per instance)"
  else
    echo "FAILED: $template: StateDirectory=$dirs, expected wgsd-client/%i (one per instance)"
    fail=1
  fi
done

# The timer's service and the daemon for one device share that directory: they conflict.
if grep -qx 'Conflicts=wgsd-client-daemon@%i.service' "$tmp/wgsd-client@.service" &&
   grep -qx 'Conflicts=wgsd-client@%i.service wgsd-client@%i.timer' "$tmp/wgsd-client-daemon@.service"; then
  echo "wgsd-client@ and wgsd-client-daemon@ of one device conflict"
else
  echo "FAILED: wgsd-client@.service and wgsd-client-daemon@.service must conflict for one device"
  fail=1
fi

out=$(systemd-analyze security --offline=true --no-pager "$tmp/wgsd-server.service" 2>&1) || true
echo "$out"
score=$(sed -n 's/.*Overall exposure level for wgsd-server.service: \([0-9.]*\).*/\1/p' <<<"$out")
if [[ -z $score ]]; then
  echo "FAILED: no exposure level in the output above"
  fail=1
elif ! awk -v s="$score" 'BEGIN { exit !(s < 5.0) }'; then
  echo "FAILED: wgsd-server.service exposure $score, expected below 5.0"
  fail=1
else
  echo "wgsd-server.service exposure: $score (below 5.0)"
fi
exit $fail
