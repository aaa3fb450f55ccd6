#!/usr/bin/env bash
# Two "hosts" (network namespaces joined by a veth pair, scripts/netns-group), one rank in each:
# `tandem run --tp 2` and `--pp 2` over TCP between them print what one process prints. Exit 77
# (ctest: skipped, with the reason on stderr) where namespaces cannot be made.
#   two_hosts.sh TANDEM_BINARY MODEL
set -euo pipefail
bin="$1" model="$2"
root="$(cd "$(dirname "$0")/../.." && pwd)"
args=(run -m "$model" -p "Once upon a time" -n 32 --temp 0 -t 1)
want="$("$bin" "${args[@]}" 2>/dev/null)"
for split in "--tp 2" "--pp 2"; do
  set +e
  # shellcheck disable=SC2086  # the split is two words on purpose
  got="$("$root/scripts/netns-group" -- "$bin" "${args[@]}" $split)"
  rc=$?
  set -e
  [ $rc = 77 ] && exit 77
  [ $rc = 0 ] || { echo "two_hosts: the two-rank run with $split failed (exit $rc)" >&2; exit 1; }
  if [ "$got" != "$want" ]; then
    echo "two_hosts: $split: outputs differ" >&2
    echo "one process: $want" >&2
    echo "two hosts:   $got" >&2
    exit 1
  fi
  echo "two_hosts: $split across two network namespaces printed the same $(wc -c <<<"$got") bytes as one process"
done
