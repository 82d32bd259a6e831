#!/usr/bin/env bash
#
# bench/queue.sh (make bench): the waiting room at ten times its rate for a
# minute, two nodes, one Redis; see bench/queue.pl for what is measured.
#
#   bench/queue.sh [RATE] [ARRIVE] [DRAIN]        defaults: 10 60 60

set -euo pipefail
cd "$(dirname "$0")/.."
exec perl bench/queue.pl "${1:-10}" "${2:-60}" "${3:-60}"
