#!/usr/bin/env bash
#
# bench/stats.sh (make bench): the public statistics (gov_stats), all in
# one run against one nginx, each answer the same size; the nginx worker
# pinned to the first CPU, wrk and Redis to the second:
#
#   a. return 200 with a body of the figures' size (the ceiling)
#   b. gov_stats, the worker's memory of the figures (a busy day)
#   c. gov_stats ttl=0: one HGETALL and the document drawn every request
#   d. nginx + Lua: a Redis GET of the same document every request
#
# Three runs of each, a with b and c with d in turn; the ratios are of the
# medians.  Targets: b/a >= 0.85, c/d >= 0.5 (c draws from the counters
# what d fetches ready-made), zero non-2xx.
#
#   bench/stats.sh [SECONDS]

set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
dur=${1:-8}

. "$root/bench/lib.sh"

bench_need_lua

bench_init stats
bench_redis "$cpu2"

bench_keys

conf() {
    cat > "$work/conf/nginx.conf" <<CONF
$(bench_main_conf)
http {
$(bench_http_conf)
$(bench_newborn /internal/nhc)

    server {
        listen 127.0.0.1:$port backlog=4096;
        location /stats/ { gov_stats; }
        location /fresh/ { gov_stats ttl=0; }
$(bench_peers '"bench:stats"')
    }
    map \$host \$static_body { default "$1"; }
}
CONF
}

start() { conf "$1"; bench_nginx_start; }
stop() { bench_nginx_stop; }

run() {
    local out
    taskset -c "$cpu2" wrk -t1 -c"$conns" -d1s "http://127.0.0.1:$port$1" \
        >/dev/null
    out=$(taskset -c "$cpu2" wrk -t1 -c"$conns" -d"${dur}s" --latency \
          "http://127.0.0.1:$port$1")
    bench_figures "$out"
}

# a month's counters as the scripts keep them
month=$(date +%Y-%m)
redis-cli -p "$rport" hset "gov:stats:$month" \
    b:newborn:applications 1200 b:newborn:finished 1100 \
    b:newborn:on_time 1050 b:newborn:days 4400 b:newborn:ratings 800 \
    b:newborn:satisfied 760 b:newborn:bad 12 b:newborn:rectified 9 \
    i:nhc:applications 1200 i:nhc:finished 1150 i:nhc:on_time 1149 \
    i:nhc:days 2300 i:nhc:ratings 790 i:nhc:satisfied 750 i:nhc:bad 10 \
    i:cdc:applications 1200 i:cdc:finished 1120 i:cdc:on_time 1000 \
    i:cdc:days 3300 i:cdc:ratings 780 i:cdc:satisfied 700 i:cdc:bad 20 \
    >/dev/null

start "x"
doc=$(curl -s "http://127.0.0.1:$port/stats/")
redis-cli -p "$rport" set bench:stats "$doc" >/dev/null
stop

static=$(head -c "$(printf '%s' "$doc" | wc -c)" /dev/zero | tr '\0' 'x')

report=$root/build/bench/stats.txt
mkdir -p "$(dirname "$report")"

{
echo "bench/stats.sh: $(date -u +%Y-%m-%dT%H:%MZ), $(nproc) cores," \
     "${dur}s per run, $conns connections, nginx 1 worker on CPU $cpu1," \
     "wrk and Redis on CPU $cpu2," \
     "$(printf '%s' "$doc" | wc -c)-byte answers"
printf '%-44s %12s %10s %7s\n' case 'requests/s' p99 non2xx

row() { printf '%-44s %12s %10s %7s\n' "$@"; }

start "$static"
as=() bs=() cs=() ds=() non2xx=0
for i in 1 2 3; do
    read -r a ap an < <(run /static)
    row "a. return 200 (run $i)" "$a" "$ap" "$an"
    read -r b bp bn < <(run /stats/)
    row "b. gov_stats, kept by the worker (run $i)" "$b" "$bp" "$bn"
    as+=("$a") bs+=("$b")
    non2xx=$((non2xx + an + bn))
done
for i in 1 2 3; do
    read -r c cp cn < <(run /fresh/)
    row "c. gov_stats ttl=0, Redis each time ($i)" "$c" "$cp" "$cn"
    read -r d dp dn < <(run /lua)
    row "d. nginx + Lua, GET of the document ($i)" "$d" "$dp" "$dn"
    cs+=("$c") ds+=("$d")
    non2xx=$((non2xx + cn + dn))
done
stop

a=$(bench_median "${as[@]}") b=$(bench_median "${bs[@]}")
c=$(bench_median "${cs[@]}") d=$(bench_median "${ds[@]}")
ba=$(awk -v x="$b" -v y="$a" 'BEGIN {printf "%.2f", x / y}')
cd_=$(awk -v x="$c" -v y="$d" 'BEGIN {printf "%.2f", x / y}')
echo "medians: a $a, b $b, c $c, d $d"
echo "b/a $ba (target >= 0.85), c/d $cd_ (target >= 0.5), non-2xx $non2xx"
if awk -v ba="$ba" -v n="$non2xx" 'BEGIN {exit !(ba >= 0.85 && n == 0)}'
then echo "result: pass"; else echo "result: FAIL"; fi
} | tee "$report"

grep -q '^result: pass' "$report"
