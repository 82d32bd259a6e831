#!/usr/bin/env bash
#
# bench/submit.sh: submissions of a five-item bundle.
#
#  1. submissions per second against five fast local backends (nginx
#     itself answers them), wrk for DURATION seconds;
#  2. one submission's latency with five backends that each answer after
#     DELAY seconds, as a ratio of DELAY: the fan-out is parallel, so the
#     ratio stays near 1 (target at most 1.2), where sequential dispatch
#     would give 5.
#
#   bench/submit.sh [DURATION] [DELAY]        (defaults 8 and 0.2)
#
# Needs: make build token, wrk, redis-server, perl.

set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
dur=${1:-8}
delay=${2:-0.2}

. "$root/bench/lib.sh"

bench_init submit
fport=$((port + 2))
sport=$((port + 3))
bench_redis
bench_spawn perl "$root/bench/slow_backend.pl" "$sport" "$delay"

bench_keys

conf() {
    cat > "$work/conf/nginx.conf" <<CONF
load_module $module;
$( [ "$(id -u)" = 0 ] && echo "user root root;" )
worker_processes 1;
pid $work/logs/nginx.pid;
error_log $work/logs/error.log warn;
events { worker_connections 8192; }
http {
    access_log off;
    client_body_temp_path $work/tmp;
    proxy_temp_path $work/tmp;
    gov_redis 127.0.0.1:$rport timeout=5s connections=2;
    gov_jwt_key_file $work/keys/keys.jwks;
    gov_dispatch_timeout 10s;
$(bench_five "/internal/$1")

    upstream fast { server 127.0.0.1:$fport; keepalive 64; }

    server {
        listen 127.0.0.1:$port backlog=4096;
        location /bundles/ { gov_bundles; }
        location /internal/fast/ {
            internal;
            proxy_pass http://fast/;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
        }
        location /internal/slow/ {
            internal;
            proxy_pass http://127.0.0.1:$sport/;
        }
    }

    server {
        listen 127.0.0.1:$fport;
        location / { return 200 '{"receipt":"R1"}'; }
    }
}
CONF
}

start() { conf "$1"; bench_nginx_start; }
stop() { bench_nginx_stop; }

export GOV_TOKEN
GOV_TOKEN=$(bench_token \
            --sub 110101199001011234 --ttl 86400)
body='{"fields":{"name":"张三","id_number":"11010119900101123X"},"materials":{"id_card":"ref-1"}}'

report=$root/build/bench/submit.txt
mkdir -p "$(dirname "$report")"

{
echo "bench/submit.sh: $(date -u +%Y-%m-%dT%H:%MZ), $(nproc) cores," \
     "nginx 1 worker, five-item bundle"

start fast
out=$(wrk -t1 -c16 -d"${dur}s" --latency -s "$root/bench/submit.lua" \
      "http://127.0.0.1:$port/bundles/five/applications")
rps=$(awk '/^Requests\/sec:/ {print $2}' <<<"$out")
p99=$(awk '$1 == "99%" {print $2}' <<<"$out")
bad=$(awk '/Non-2xx or 3xx responses:/ {print $NF}' <<<"$out")
apps=$(redis-cli -p "$rport" eval "return #redis.call('keys', 'gov:app:*')" 0)
echo "fast backends: $rps submissions/s (each fanned out to 5), p99 $p99," \
     "non-2xx ${bad:-0}, $apps applications persisted"
stop

start slow
total=0
n=10
for i in $(seq $n); do
    t=$(curl -s -o /dev/null -w '%{time_total}' -X POST \
        -H "Authorization: Bearer $GOV_TOKEN" \
        -H 'Content-Type: application/json' --data "$body" \
        "http://127.0.0.1:$port/bundles/five/applications")
    total=$(awk -v a="$total" -v b="$t" 'BEGIN {print a + b}')
done
avg=$(awk -v a="$total" -v n="$n" 'BEGIN {printf "%.3f", a / n}')
ratio=$(awk -v a="$avg" -v d="$delay" 'BEGIN {printf "%.2f", a / d}')
echo "five backends answering after ${delay}s each: one submission takes" \
     "${avg}s on average over $n, ratio $ratio of the slowest backend"
stop
} | tee "$report"
