#!/usr/bin/env bash
# A man page documents exactly the flags its program's --help lists, both ways: a flag added to
# the program without an entry in the page's OPTIONS fails here, naming the flag and the page, and
# so does an entry for a flag the program no longer has.
# Usage: man_flags.sh PROGRAM MANPAGE
set -euo pipefail
program=$1
page=$2
name=$(basename "$program")

# --help: "  -c,--conf TEXT ..." and "  --check ...": the flags before the first space.
from_help=$("$program" --help | sed -n 's/^  \(-[^ ]*\).*/\1/p' | tr ',' '\n' | sort -u)
# The page: the tag line after each .TP of the OPTIONS section, its \-x and \-\-long words.
from_page=$(awk '/^\.SH /{in_options = ($2 == "OPTIONS")} in_options && tag {print; tag = 0} in_options && /^\.TP/{tag = 1}' "$page" |
  grep -o '\\-\\-[a-z0-9][a-z0-9\\-]*\|\\-[a-zA-Z]\b' | sed 's/\\-/-/g' | sort -u)

fail=0
for f in $from_help; do
  if ! grep -qx -- "$f" <<<"$from_page"; then
    echo "FAILED: $name --help lists $f, but $page does not document it: add a .TP entry for $f to its OPTIONS section"
    fail=1
  fi
done
for f in $from_page; do
  if ! grep -qx -- "$f" <<<"$from_help"; then
    echo "FAILED: $page documents $f in OPTIONS, but $name --help does not list it: remove the entry or add the flag"
    fail=1
  fi
done
echo "$name: $(wc -w <<<"$from_help") flags in --help, $(wc -w <<<"$from_page") in $(basename "$page")"
exit $fail
