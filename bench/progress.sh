#!/usr/bin/env bash
#
# bench/progress.sh (make bench): progress lookups, all in one run against
# one nginx, each answer the same size.  The nginx worker is pinned to the
# first CPU, wrk and Redis to the second (the same for every case), so that
# runs compare without the scheduler moving them about:
#
#   a. return 200 with a body of the document's size (the ceiling)
#   b. gov_progress, bearer JWT, micro-cache hit
#   c. gov_progress with the micro-cache off: Redis on every request
#   d. nginx + Lua (Debian's libnginx-mod-http-lua and lua-nginx-redis):
#      a Redis GET of the same document on every request
#
# Each case runs three times, a with b and c with d in turn, so that a
# slow moment of the machine falls on both sides of a ratio; the ratios
# are of the medians.  Targets: b/a >= 0.85, c/d >= 2.0, zero non-2xx.
# Then REQUESTS (default one million) hot lookups, reporting the worker's
# RSS before and after.
#
#   bench/progress.sh [SECONDS] [REQUESTS]

set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
dur=${1:-8}
total=${2:-1000000}

. "$root/bench/lib.sh"

bench_need_lua

bench_init progress
bport=$((port + 2))
bench_redis "$cpu3"

# a department backend that takes every step
cat > "$work/backend.pl" <<'PERL'
use IO::Socket::INET;
my $l = IO::Socket::INET->new(LocalAddr => '127.0.0.1', LocalPort => $ARGV[0],
                              Listen => 64, ReuseAddr => 1) or die;
while (my $c = $l->accept) {
    local $/ = "\r\n"; my $len = 0;
    while (my $h = <$c>) { $len = $1 if $h =~ /^Content-Length:\s*(\d+)/i;
                           last if $h eq "\r\n"; }
    read($c, my $b, $len);
    print $c "HTTP/1.1 200 OK\r\nContent-Length: 16\r\nConnection: close\r\n\r\n"
           . '{"receipt":"R1"}';
    close $c;
}
PERL
bench_spawn perl "$work/backend.pl" "$bport"

bench_keys

cache_line="gov_progress_cache zone=progress:10m ttl=1s;"

conf() {
    cat > "$work/conf/nginx.conf" <<CONF
$(bench_main_conf)
http {
$(bench_http_conf)
    $1
$(bench_newborn /internal/nhc)

    server {
        listen 127.0.0.1:$port backlog=4096;
        location /bundles/ { gov_bundles; }
        location /progress/ { gov_progress; }
        location /internal/nhc { internal;
                                 proxy_pass http://127.0.0.1:$bport/s; }
$(bench_peers '"bench:doc"')
    }
    map \$host \$static_body { default "$2"; }
}
CONF
}

start() { conf "$1" "$2"; bench_nginx_start; }
stop() { bench_nginx_stop; }

run() {
    local out hdr=()
    [ -n "${2:-}" ] && hdr=(-H "Authorization: Bearer $2")
    taskset -c "$cpu2" wrk -t1 -c"$conns" -d1s "${hdr[@]}" \
        "http://127.0.0.1:$port$1" >/dev/null
    local c1 c2
    c1=$(bench_cpu "$cpu1") c2=$(bench_cpu "$cpu2")
    out=$(taskset -c "$cpu2" wrk -t1 -c"$conns" -d"${dur}s" --latency "${hdr[@]}" \
          "http://127.0.0.1:$port$1")
    echo "$(bench_figures "$out") $(bench_busy "$c1" "$(bench_cpu "$cpu1")")" \
         "$(bench_busy "$c2" "$(bench_cpu "$cpu2")")"
}

token=$(bench_token \
        --sub 110101199001011234 --ttl 86400)

# one application, its document, and a static body of the same size
start "$cache_line" "x"
id=$(curl -s -X POST -H "Authorization: Bearer $token" \
     -H 'Content-Type: application/json' \
     --data '{"fields":{"name":"张三"},"materials":{"id_card":"r"}}' \
     "http://127.0.0.1:$port/bundles/newborn/applications" \
     | sed 's/.*"id":"\([A-Z0-9]*\)".*/\1/')
doc=$(curl -s -H "Authorization: Bearer $token" \
      "http://127.0.0.1:$port/progress/$id")
redis-cli -p "$rport" set bench:doc "$doc" >/dev/null
stop

# the static body: as many bytes as the document (ASCII)
static=$(head -c "$(printf '%s' "$doc" | wc -c)" /dev/zero | tr '\0' 'x')

report=$root/build/bench/progress.txt
mkdir -p "$(dirname "$report")"

{
echo "bench/progress.sh: $(date -u +%Y-%m-%dT%H:%MZ), $(nproc) cores," \
     "${dur}s per run, $conns connections, nginx 1 worker on CPU $cpu1," \
     "wrk and Redis on CPU $cpu2," \
     "$(printf '%s' "$doc" | wc -c)-byte answers"
printf '%-44s %12s %10s %7s %4s %4s\n' case 'requests/s' p99 non2xx ngx% cli%

# the median of three values
median() { bench_median "$@"; }

row() { printf '%-44s %12s %10s %7s %4s %4s\n' "$@"; }

# a and b: the ceiling and the hot path, in turn, three times each
start "$cache_line" "$static"
as=() bs=() non2xx=0
for i in 1 2 3; do
    read -r a ap ab au av < <(run /static)
    row "a. return 200 (run $i)" "$a" "$ap" "$ab" "$au" "$av"
    read -r b bp bb bu bv < <(run "/progress/$id" "$token")
    row "b. gov_progress, micro-cache hit (run $i)" "$b" "$bp" "$bb" "$bu" "$bv"
    as+=("$a") bs+=("$b") non2xx=$((non2xx + ab + bb))
done

wpid=$(pgrep -P "$(cat "$work/logs/nginx.pid")" | head -1)
rss0=$(awk '/VmRSS/ {print $2}' "/proc/$wpid/status")
secs=$(awk -v n="$total" -v r="$b" 'BEGIN {s = int(n / r) + 1; print s}')
taskset -c "$cpu2" wrk -t1 -c"$conns" -d"${secs}s" \
    -H "Authorization: Bearer $token" \
    "http://127.0.0.1:$port/progress/$id" > "$work/soak.txt"
sent=$(awk '/requests in/ {print $1}' "$work/soak.txt")
rss1=$(awk '/VmRSS/ {print $2}' "/proc/$wpid/status")
stop

# c and d: Redis on every request, the module and the Lua peer in turn
start "" "$static"
cs=() ds=()
for i in 1 2 3; do
    read -r d dp db du dv < <(run /lua)
    row "d. nginx+Lua, Redis GET (run $i)" "$d" "$dp" "$db" "$du" "$dv"
    read -r c cp cb cu cv < <(run "/progress/$id" "$token")
    row "c. gov_progress, micro-cache off (run $i)" "$c" "$cp" "$cb" "$cu" "$cv"
    cs+=("$c") ds+=("$d") non2xx=$((non2xx + cb + db))
done
stop

a=$(median "${as[@]}") b=$(median "${bs[@]}")
c=$(median "${cs[@]}") d=$(median "${ds[@]}")
echo "medians: a $a, b $b, c $c, d $d requests/s; non-2xx in all runs: $non2xx"
echo "b/a = $(awk -v x="$b" -v y="$a" 'BEGIN {printf "%.2f", x / y}')" \
     "(target >= 0.85), c/d = $(awk -v x="$c" -v y="$d" 'BEGIN {printf "%.2f", x / y}')" \
     "(target >= 2.0), b/d = $(awk -v x="$b" -v y="$d" 'BEGIN {printf "%.2f", x / y}')"
echo "ngx%, cli%: how busy nginx's CPU and the client's (wrk, Redis) were"
echo "worker RSS: ${rss0} kB before, ${rss1} kB after $sent hot lookups"
} | tee "$report"
