#!/usr/bin/env bash
# The repository stands alone and its layers stay apart:
#  - a LICENSE is at the root;
#  - nothing cites the contract kept beside the repository, by its file name or section numbers;
#  - src/dns builds its snapshot from published-peer values: it names no wg::Device and
#    includes no backend, so the publishing policy (max-age, hide, self) stays with the server.
set -u
root=${1:?usage: stands_alone.sh REPO_ROOT}
cd "$root" || exit 2
fail=0
if [[ ! -s LICENSE ]]; then echo "no LICENSE at the root"; fail=1; fi
if grep -rnE 'SPEC ?§|SPEC\.md' --include='*.cpp' --include='*.hpp' --include='*.md' \
     --include='*.sh' --include='*.py' --include='*.txt' --include='Corefile*' \
     README.md Corefile.example src tests docs bench scripts fuzz | grep -v '^tests/repo/'; then
  echo "the lines above cite a contract outside the repository"; fail=1
fi
if grep -rnE 'wg::Device\b|backend\.hpp' src/dns; then
  echo "the lines above tie src/dns to the device or its backends"; fail=1
fi
exit "$fail"
