#!/usr/bin/env bash
#
# bench/queue.sh (make bench): the waiting room at ten times its rate for a
# minute, two nodes, one Redis; see bench/queue.pl for what is measured.
#
#   bench/queue.sh [RATE] [ARRIVE] [DRAIN]        defaults: 10 60 60
#   bench/queue.sh abandon                        30% walk away at once:
#       10/s for 10 s, drained for 120 s; those who stay are let in at the
#       rate and a newcomer after the last turn waits at most a second

set -euo pipefail
cd "$(dirname "$0")/.."

if [ "${1:-}" = abandon ]; then
    QUEUE_ABANDON=0.3 exec perl bench/queue.pl 10 10 120
fi

exec perl bench/queue.pl "${1:-10}" "${2:-60}" "${3:-60}"
