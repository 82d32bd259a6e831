#!/usr/bin/env bash
#
# bench/jwt.sh: a protected static response with RS256, ES256 and HS256
# bearer tokens, as a ratio of the same response unprotected, measured in
# the same run against the same nginx (one worker; wrk on the other core).
# Then the same with the verified-token cache off.
#
#   bench/jwt.sh [DURATION_SECONDS]      (default 8)
#
# Needs: make build token, wrk.  Prints a table; writes it to
# build/bench/jwt.txt as well.

set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
dur=${1:-8}
nginx=${NGINX:-/usr/sbin/nginx}
module=${GOV_MODULE:-$root/build/plain/objs/ngx_http_gov_module.so}
tool=$root/build/gov-token
conns=${BENCH_CONNECTIONS:-64}

for f in "$module" "$tool"; do
    [ -x "$f" ] || [ -f "$f" ] || { echo "missing $f: run make" >&2; exit 1; }
done
command -v wrk >/dev/null || { echo "wrk is missing: apt-get install wrk" >&2; exit 1; }

work=$(mktemp -d /tmp/gov-bench-XXXXXX)
trap 'kill -QUIT $(cat "$work/logs/nginx.pid" 2>/dev/null) 2>/dev/null || true; sleep 0.5; rm -rf "$work"' EXIT
mkdir -p "$work"/{conf,logs,html,keys,tmp}

openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 \
    -out "$work/keys/rsa.key" 2>/dev/null
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 \
    -out "$work/keys/ec.key" 2>/dev/null
head -c 32 /dev/urandom > "$work/keys/hs.secret"

{
    echo '{"keys":['
    "$tool" --key "$work/keys/rsa.key" --alg RS256 --kid r1 --print-jwks \
        | sed -n '/^    {/,/^    }/p'
    echo ','
    "$tool" --key "$work/keys/ec.key" --alg ES256 --kid e1 --print-jwks \
        | sed -n '/^    {/,/^    }/p'
    echo ','
    "$tool" --key "$work/keys/hs.secret" --alg HS256 --kid h1 --print-jwks \
        | sed -n '/^    {/,/^    }/p'
    echo ']}'
} > "$work/keys/keys.jwks"

# a small static response, the same body protected or not
head -c 512 /dev/zero | tr '\0' 'x' > "$work/html/index.txt"

port=$((20000 + RANDOM % 20000))

conf() {
    cat > "$work/conf/nginx.conf" <<CONF
load_module $module;
$( [ "$(id -u)" = 0 ] && echo "user root root;" )
worker_processes 1;
pid $work/logs/nginx.pid;
error_log $work/logs/error.log warn;
events { worker_connections 4096; }
http {
    access_log off;
    client_body_temp_path $work/tmp;
    gov_jwt_key_file $work/keys/keys.jwks;
    gov_jwt_cache $1;
    server {
        listen 127.0.0.1:$port reuseport backlog=4096;
        location /u/ { alias $work/html/; }
        location /p/ { gov_auth required; alias $work/html/; }
    }
}
CONF
}

start() {
    conf "$1"
    "$nginx" -p "$work/" -c "$work/conf/nginx.conf" -e "$work/logs/error.log"
    sleep 0.5
}

stop() {
    kill -QUIT "$(cat "$work/logs/nginx.pid")"
    while [ -f "$work/logs/nginx.pid" ]; do sleep 0.1; done
}

rs=$("$tool" --key "$work/keys/rsa.key" --alg RS256 --kid r1 --sub 110101199001011234 --ttl 86400)
es=$("$tool" --key "$work/keys/ec.key" --alg ES256 --kid e1 --sub 110101199001011234 --ttl 86400)
hs=$("$tool" --key "$work/keys/hs.secret" --alg HS256 --kid h1 --sub 110101199001011234 --ttl 86400)

# run NAME PATH [TOKEN]: prints "requests/s p99 non2xx"
run() {
    local out hdr=()
    [ -n "${3:-}" ] && hdr=(-H "Authorization: Bearer $3")
    # a short warm-up fills the cache and the connection pool
    wrk -t1 -c"$conns" -d1s "${hdr[@]}" "http://127.0.0.1:$port$2" >/dev/null
    out=$(wrk -t1 -c"$conns" -d"${dur}s" --latency "${hdr[@]}" \
          "http://127.0.0.1:$port$2")
    local rps p99 bad
    rps=$(awk '/^Requests\/sec:/ {print $2}' <<<"$out")
    p99=$(awk '$1 == "99%" {print $2}' <<<"$out")
    bad=$(awk '/Non-2xx or 3xx responses:/ {print $NF}' <<<"$out")
    echo "$rps ${p99:-?} ${bad:-0}"
}

report=$root/build/bench/jwt.txt
mkdir -p "$(dirname "$report")"

{
echo "bench/jwt.sh: $(date -u +%Y-%m-%dT%H:%MZ), $(nproc) cores, ${dur}s per run," \
     "$conns connections, nginx 1 worker"
printf '%-26s %12s %10s %8s %7s\n' case 'requests/s' p99 non2xx ratio

for cache in 10000 off; do
    start "$cache"
    read -r base p99 bad < <(run base /u/index.txt)
    printf '%-26s %12s %10s %8s %7s\n' "static, unprotected" "$base" "$p99" "$bad" 1.00
    for alg in RS256 ES256 HS256; do
        case $alg in RS256) tok=$rs;; ES256) tok=$es;; HS256) tok=$hs;; esac
        read -r rps p99 bad < <(run "$alg" /p/index.txt "$tok")
        ratio=$(awk -v a="$rps" -v b="$base" 'BEGIN {printf "%.2f", a / b}')
        printf '%-26s %12s %10s %8s %7s\n' "$alg, cache $cache" "$rps" "$p99" "$bad" "$ratio"
    done
    stop
done
} | tee "$report"
