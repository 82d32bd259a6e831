#!/usr/bin/env bash
#
# bench/upload.sh: uploads (gov_upload) against the same nginx storing the
# same bodies with nginx's own means (the DAV module's PUT: the body in a
# temporary file, client_body_in_file_only, renamed into place, 201).
#
#  1. 1 MB and 10 MB bodies at 16 concurrent clients, DURATION seconds
#     each, both locations in the same run: MB/s and the ratio (target at
#     least 0.8);
#  2. the worker's RSS before and after a hundred 20 MB uploads (target:
#     grows by less than 2 MB);
#  3. a hot progress lookup's p99 while ten 20 MB uploads run at once,
#     again and again (target under 5 ms: the event loop is never held).
#
#   bench/upload.sh [DURATION]        (default 8)
#
# Needs: make build token, wrk, curl, redis-server.

set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
dur=${1:-8}

. "$root/bench/lib.sh"

bench_init upload
fport=$((port + 2))
bench_redis 1
mkdir -p "$work/store" "$work/dav"

bench_keys
head -c 48 /dev/urandom | od -An -tx1 | tr -d ' \n' > "$work/conf/link.secret"

cat > "$work/conf/nginx.conf" <<CONF
load_module $module;
$( [ "$(id -u)" = 0 ] && echo "user root root;" )
worker_processes 1;
worker_cpu_affinity 01;
pid $work/logs/nginx.pid;
error_log $work/logs/error.log warn;
events { worker_connections 4096; }
http {
    access_log off;
    client_body_temp_path $work/tmp;
    proxy_temp_path $work/tmp;
    client_max_body_size 25m;
    gov_redis 127.0.0.1:$rport timeout=5s;
    gov_jwt_key_file $work/keys/keys.jwks;
    gov_upload_store $work/store max_size=21m;
    gov_upload_link_secret_file $work/conf/link.secret;
    gov_progress_cache zone=progress:1m ttl=1s;
    $(bench_newborn /internal/fast/)
    upstream fast { server 127.0.0.1:$fport; keepalive 16; }
    server {
        listen 127.0.0.1:$port backlog=4096;
        location /uploads/ { gov_upload; }
        location /dav/ { root $work; dav_methods PUT;
                         create_full_put_path on; }
        location /bundles/ { gov_bundles; }
        location /progress/ { gov_progress; }
        location /internal/fast/ { internal; proxy_pass http://fast/;
                                   proxy_http_version 1.1;
                                   proxy_set_header Connection ""; }
    }
    server {
        listen 127.0.0.1:$fport;
        location / { return 200 '{"receipt":"R1"}'; }
    }
}
CONF
bench_nginx_start

export GOV_TOKEN
GOV_TOKEN=$(bench_token \
            --sub 110101199001011234 --ttl 86400)

worker() { pgrep -P "$(cat "$work/logs/nginx.pid")" | head -1; }
rss() { awk '/^VmRSS/ {print $2}' "/proc/$(worker)/status"; }

wrk_mbs() {     # METHOD URL BYTES -> "MB/s non2xx"
    local out
    out=$(UPLOAD_METHOD=$1 UPLOAD_BYTES=$3 taskset -c 1 wrk -t2 -c16 \
          -d"${dur}s" -s "$root/bench/upload.lua" "$2")
    echo "$(awk -v n="$3" '/^Requests\/sec:/ {printf "%.1f", $2 * n / 1048576}' \
            <<<"$out")" \
         "$(awk '/Non-2xx or 3xx responses:/ {print $NF}' <<<"$out" \
            | grep . || echo 0)"
}

report=$root/build/bench/upload.txt
mkdir -p "$(dirname "$report")"

{
echo "bench/upload.sh: $(date -u +%Y-%m-%dT%H:%MZ), $(nproc) cores," \
     "nginx 1 worker on CPU 0, wrk on CPU 1, 16 connections, ${dur}s each"
echo
echo "| body | gov_upload MB/s | DAV PUT MB/s | ratio |"
echo "|---|---|---|---|"
for mb in 1 10; do
    bytes=$((mb * 1048576))
    read -r g gbad < <(wrk_mbs POST "http://127.0.0.1:$port/uploads/" $bytes)
    read -r d dbad < <(wrk_mbs PUT "http://127.0.0.1:$port/dav/f$mb" $bytes)
    ratio=$(awk -v a="$g" -v b="$d" 'BEGIN {printf "%.2f", a / b}')
    echo "| $mb MB | $g (non-2xx $gbad) | $d (non-2xx $dbad) | $ratio |"
done
echo

big=$work/big.pdf
{ printf '%%PDF-1.4\n'; head -c $((20 * 1048576)) /dev/zero; } > "$big"
before=$(rss)
for i in $(seq 100); do
    curl -s -o /dev/null -H "Authorization: Bearer $GOV_TOKEN" \
        --data-binary @"$big" "http://127.0.0.1:$port/uploads/"
done
after=$(rss)
echo "worker RSS: ${before} kB before, ${after} kB after a hundred 20 MB" \
     "uploads, grown by $((after - before)) kB"

# an application to look up, then lookups while ten uploads run
id=$(curl -s -H "Authorization: Bearer $GOV_TOKEN" \
         -H 'Content-Type: application/json' \
         --data '{"fields":{"name":"张三"},"materials":{"id_card":"ref-1"}}' \
         "http://127.0.0.1:$port/bundles/newborn/applications" \
     | sed -n 's/^{"id":"\([A-Z0-9]*\)".*/\1/p')
[ -n "$id" ] || { echo "upload.sh: no application" >&2; exit 1; }

quiet=$(taskset -c 1 wrk -t1 -c4 -d5s --latency \
        -H "Authorization: Bearer $GOV_TOKEN" \
        "http://127.0.0.1:$port/progress/$id")
up_pids=()
for i in $(seq 10); do
    ( while :; do
          nice -n 19 taskset -c 1 curl -s -o /dev/null \
              -H "Authorization: Bearer $GOV_TOKEN" \
              --data-binary @"$big" "http://127.0.0.1:$port/uploads/"
      done ) &
    up_pids+=($!)
done
sleep 1
busy=$(taskset -c 1 wrk -t1 -c4 -d5s --latency \
       -H "Authorization: Bearer $GOV_TOKEN" \
       "http://127.0.0.1:$port/progress/$id")
for p in "${up_pids[@]}"; do kill "$p" 2>/dev/null || true; done
wait 2>/dev/null || true
read -r qrps qp99 qbad < <(bench_figures "$quiet")
read -r brps bp99 bbad < <(bench_figures "$busy")
echo "hot progress lookup of $id: p99 $qp99 alone ($qrps req/s, non-2xx" \
     "$qbad), p99 $bp99 while ten 20 MB uploads run ($brps req/s, non-2xx" \
     "$bbad)"
} | tee "$report"
