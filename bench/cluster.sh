#!/usr/bin/env bash
#
# bench/cluster.sh: what Redis Cluster costs on one machine (issue #19).
# The same nginx (one worker on the first CPU) and the same configuration
# but for the gov_redis line, against
#
#   one    a single Redis
#   three  a Redis Cluster of three masters on this machine (shards=64)
#
# in one run, each case three times in turn, medians compared:
#
#   submissions/s   POST of the two-item newborn bundle by 500 citizens
#                   (many citizens: many shards), departments answering
#   lookups/s       GET /progress/ID of 500 applications, the owner's
#                   token, no micro-cache: Redis on every request
#
# On two cores the cluster cannot show a gain (three Redis processes share
# the second CPU with wrk): the ratio is the cost of routing by slot and of
# one connection per master, not what N machines give.
#
#   bench/cluster.sh [SECONDS]       (default 8)
#
# Needs: make build token, wrk, redis-server, redis-cli, curl.

set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
dur=${1:-8}
citizens=500

. "$root/bench/lib.sh"

bench_init cluster
bench_redis "$cpu2"

# three cluster nodes (their bus on the port + 10000)
cports=()
for i in 1 2 3; do
    p=$((port + 10 + i))
    cports+=("$p")
    mkdir -p "$work/redis/c$i"
    bench_spawn taskset -c "$cpu2" redis-server --port "$p" --bind 127.0.0.1 \
        --save '' --appendonly no --dir "$work/redis/c$i" --daemonize no \
        --cluster-enabled yes --cluster-config-file "$work/redis/c$i/nodes.conf" \
        --logfile "$work/logs/c$i.log"
done
for p in "${cports[@]}"; do
    for _ in $(seq 50); do
        redis-cli -p "$p" ping >/dev/null 2>&1 && break
        sleep 0.1
    done
done
redis-cli --cluster create $(printf '127.0.0.1:%s ' "${cports[@]}") \
    --cluster-replicas 0 --cluster-yes > "$work/logs/create.log" 2>&1
for _ in $(seq 100); do
    redis-cli -p "${cports[0]}" cluster info | grep -q cluster_state:ok && break
    sleep 0.1
done
cluster=$(printf '127.0.0.1:%s,' "${cports[@]}")
cluster=${cluster%,}

bench_keys

for i in $(seq "$citizens"); do
    bench_token \
        --sub "$(printf '1101011990%08d' "$i")" --ttl 86400
done > "$work/tokens.txt"

conf() {
    cat > "$work/conf/nginx.conf" <<CONF
$(bench_main_conf nolua)
http {
    access_log off;
    client_body_temp_path $work/tmp;
    proxy_temp_path $work/tmp;
    gov_redis $1 timeout=5s;
    gov_jwt_key_file $work/keys/keys.jwks;
$(bench_newborn /internal/nhc)
    server {
        listen 127.0.0.1:$port backlog=4096;
        location /bundles/ { gov_bundles; }
        location /progress/ { gov_progress; }
        location /internal/nhc { internal; return 200 '{"receipt":"R1"}'; }
    }
}
CONF
}

run() {
    local out
    out=$(taskset -c "$cpu2" wrk -t1 -c"$conns" -d"${dur}s" --latency "$@")
    bench_figures "$out"
}

# the lookups' applications: one per citizen, in each case's store
pairs() {
    while read -r tok; do
        id=$(curl -s -X POST -H "Authorization: Bearer $tok" \
             -H 'Content-Type: application/json' \
             --data '{"fields":{"name":"张三"},"materials":{"id_card":"r"}}' \
             "http://127.0.0.1:$port/bundles/newborn/applications" \
             | sed -n 's/.*"id":"\([A-Z0-9]*\)".*/\1/p')
        [ -n "$id" ] && echo "$id $tok"
    done < "$work/tokens.txt" > "$work/pairs-$1.txt"
}

report=$root/build/bench/cluster.txt
mkdir -p "$(dirname "$report")"

{
echo "bench/cluster.sh: $(date -u +%Y-%m-%dT%H:%MZ), $(nproc) cores," \
     "${dur}s per run, $conns connections, nginx 1 worker on CPU $cpu1," \
     "wrk and every Redis on CPU $cpu2, $citizens citizens"
printf '%-40s %12s %10s %7s\n' case 'requests/s' p99 non2xx

row() { printf '%-40s %12s %10s %7s\n' "$@"; }

declare -A subs looks
non2xx=0

# the applications looked up, made once in each store
for mode in one three; do
    if [ "$mode" = one ]; then conf "127.0.0.1:$rport"; else conf "cluster=$cluster"; fi
    bench_nginx_start
    pairs "$mode"
    bench_nginx_stop
done

for i in 1 2 3; do
    for mode in one three; do
        if [ "$mode" = one ]; then conf "127.0.0.1:$rport"; else conf "cluster=$cluster"; fi
        bench_nginx_start
        read -r s sp sb < <(run -s "$root/bench/submit-tokens.lua" \
            "http://127.0.0.1:$port/bundles/newborn/applications" \
            -- "$work/tokens.txt")
        row "submissions, $mode (run $i)" "$s" "$sp" "$sb"
        read -r l lp lb < <(run -s "$root/bench/mix.lua" \
            "http://127.0.0.1:$port/" -- "$work/pairs-$mode.txt" gov uniform)
        row "lookups, no cache, $mode (run $i)" "$l" "$lp" "$lb"
        subs[$mode]="${subs[$mode]:-} $s"
        looks[$mode]="${looks[$mode]:-} $l"
        non2xx=$((non2xx + sb + lb))
        bench_nginx_stop
    done
done

s1=$(bench_median ${subs[one]}) s3=$(bench_median ${subs[three]})
l1=$(bench_median ${looks[one]}) l3=$(bench_median ${looks[three]})
echo "medians: submissions one $s1, three $s3; lookups one $l1, three $l3" \
     "requests/s; non-2xx in all runs: $non2xx"
echo "cluster/one: submissions" \
     "$(awk -v x="$s3" -v y="$s1" 'BEGIN {printf "%.2f", x / y}')," \
     "lookups $(awk -v x="$l3" -v y="$l1" 'BEGIN {printf "%.2f", x / y}')"
for p in "${cports[@]}"; do
    echo "master 127.0.0.1:$p: $(redis-cli -p "$p" dbsize) keys"
done
} | tee "$report"
