#!/usr/bin/env bash
#
# bench/progress-mix.sh (make bench): progress lookups under a load
# tester's mix.  N applications, one citizen each, are created through the
# submission endpoint (the department answers at once); then every request
# picks a random (application, its owner's bearer token) pair, uniformly or
# with Zipf (s = 1) popularity, with HS256 and with RS256 tokens, against,
# in the same run and the same nginx:
#
#   static  return 200 with a body of the document's size (the ceiling),
#           asked with the same requests as gov: the HS256 tokens
#           (static-RS256: the RS256 ones, gov-RS256's ceiling), so that
#           a longer token's cost to nginx is on both sides
#   gov     gov_progress, micro-cache zone sized as README recommends
#   lua     nginx + Lua (lua-resty-redis): one GET of the application's
#           document per request, no identity at all
#
# The nginx worker is pinned to the first CPU, wrk and Redis to the second,
# as bench/progress.sh does.  For each gov run, gov_status gives the
# micro-cache hit rate and the Redis commands per lookup.
#
#   bench/progress-mix.sh [SECONDS] [SIZES]      defaults: 8 "10000 100000"
#
# MIX_RUNS (default 1) repeats the cases (each run every case in turn)
# and reports the medians;
# MIX_ACCESS (default "uniform zipf") and MIX_CASES (default "static
# static-RS256 gov-HS256 gov-RS256 lua") choose what runs, e.g. one long
# case to watch
# the worker's RSS;
# MIX_PERF=1 profiles the worker (perf, software clock) during the HS256
# runs (MIX_PERF=CASE: that case's, e.g. gov-RS256):
# build/bench/perf-N-ACCESS.txt;
# MIX_ZONE_KB_PER_APP (default 1.25) sizes the zone: N * it, in kB.

set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
dur=${1:-8}
sizes=${2:-"10000 100000"}
runs=${MIX_RUNS:-1}
per_app=${MIX_ZONE_KB_PER_APP:-1.25}

. "$root/bench/lib.sh"

bench_need_lua

bench_init mix
bport=$((port + 2))
bench_redis "$cpu2"

# keys: an HS256 secret and an RSA key, both in one JWKS
head -c 32 /dev/urandom > "$work/keys/hs.secret"
openssl genrsa -out "$work/keys/rs.key" 2048 2>/dev/null
perl -MJSON::PP -e '
    my @k;
    for my $f (@ARGV) { push @k, @{ decode_json(scalar `$f`)->{keys} } }
    print encode_json({ keys => \@k });' \
    "$tool --key $work/keys/hs.secret --alg HS256 --kid h1 --print-jwks" \
    "$tool --key $work/keys/rs.key --alg RS256 --kid r1 --print-jwks" \
    > "$work/keys/keys.jwks"
printf 'bench-secret-0123456789\n' > "$work/conf/dept.secret"

conf() {
    local zone=$1 static=$2
    cat > "$work/conf/nginx.conf" <<CONF
$(bench_main_conf)
http {
$(bench_http_conf)
    gov_progress_cache zone=progress:${zone}k;
$(bench_newborn /internal/dept)

    server {
        listen 127.0.0.1:$port backlog=4096;
        location /bundles/ { gov_bundles; }
        location /progress/ { gov_progress; }
        location = /gov/status { gov_status; }
        location /internal/dept { internal;
                                  proxy_pass http://127.0.0.1:$bport/; }
$(bench_peers '"bench:doc:" .. ngx.var.arg_id')
    }

    # the departments: every step received at once
    server {
        listen 127.0.0.1:$bport;
        location / { default_type application/json;
                     return 200 '{"receipt":"R1"}'; }
    }

    map \$host \$static_body { default "$static"; }
}
CONF
}

start() { conf "$1" "$2"; bench_nginx_start; }
stop() { bench_nginx_stop; }

# wrk with bench/mix.lua: "requests/s p99 non2xx busy1% busy2%", the
# last two how busy nginx's CPU and the client's were (/proc/stat: a
# ratio is the server's only where its CPU is the one at 100%)
run() {
    local out a1 a2 b1 b2
    a1=$(bench_cpu "$cpu1") a2=$(bench_cpu "$cpu2")
    out=$(taskset -c "$cpu2" wrk -t1 -c"$conns" -d"$1" --latency \
          -s "$root/bench/mix.lua" "http://127.0.0.1:$port" -- "${@:2}")
    b1=$(bench_cpu "$cpu1") b2=$(bench_cpu "$cpu2")
    echo "$(bench_figures "$out") $(bench_busy "$a1" "$b1")" \
         "$(bench_busy "$a2" "$b2")"
}

# one figure of gov_status, 0 when absent
metric() {
    awk -v m="$2" '$1 == m {print $2; f = 1} END {if (!f) print 0}' "$1"
}

status() { curl -s "http://127.0.0.1:$port/gov/status" > "$1"; }

median() { bench_median "$@"; }

report=$root/build/bench/progress-mix.txt
mkdir -p "$(dirname "$report")"

{
echo "bench/progress-mix.sh: $(date -u +%Y-%m-%dT%H:%MZ), $(nproc) cores," \
     "${dur}s per run, $runs run(s) per case, $conns connections," \
     "nginx 1 worker on CPU $cpu1, wrk and Redis on CPU $cpu2"
printf '%-8s %-8s %-12s %11s %9s %6s %4s %4s %6s %6s %6s %6s\n' apps access \
       case 'requests/s' p99 non2xx ngx% cli% hit% cmd/lk x-lua x-stat

for n in $sizes; do
    zone=$(awk -v n="$n" -v k="$per_app" 'BEGIN {printf "%d", n * k + 1024}')

    redis-cli -p "$rport" flushall >/dev/null
    bench_token \
        --sub 110101199 --ttl 86400 --count "$n" > "$work/hs.tokens"
    "$tool" --key "$work/keys/rs.key" --alg RS256 --kid r1 \
        --sub 110101199 --ttl 86400 --count "$n" > "$work/rs.tokens"

    # N applications through the submission endpoint, 8 clients
    start "$zone" x
    perl -MHTTP::Tiny -e '
        my ($port, $file, $procs) = @ARGV;
        open my $fh, "<", $file or die; my @t = <$fh>; chomp @t;
        my @kids;
        for my $k (0 .. $procs - 1) {
            my $pid = fork // die;
            if ($pid) { push @kids, $pid; next }
            # a connection per request: HTTP::Tiny writes a POST in two
            # parts, and on a kept-alive socket Nagle and the delayed ACK
            # would hold every second part 40 ms
            my $ua = HTTP::Tiny->new(keep_alive => 0);
            open my $out, ">", "$file.$k" or die;
            for (my $i = $k; $i < @t; $i += $procs) {
                my $r = $ua->post("http://127.0.0.1:$port/bundles/newborn/applications",
                    { headers => { Authorization => "Bearer $t[$i]",
                                   "Content-Type" => "application/json" },
                      content => q({"fields":{"name":"张三"},"materials":{"id_card":"r"}}) });
                $r->{content} =~ /"id":"([A-Z0-9]+)"/ or die "submission: $r->{status}";
                print $out "$1 $i\n";
            }
            exit 0;
        }
        waitpid $_, 0 for @kids;
        exit(grep { $? } @kids);' "$port" "$work/hs.tokens" 8
    cat "$work"/hs.tokens.* > "$work/created"

    # "ID TOKEN" pairs, by the token's line, for both algorithms
    for alg in hs rs; do
        awk 'NR == FNR {t[FNR - 1] = $0; next} {print $1, t[$2]}' \
            "$work/$alg.tokens" "$work/created" > "$work/$alg.pairs"
    done

    # every application looked up by its owner: the snapshots (again
    # until each has one: a slow moment of the machine must not leave
    # some to be rendered during the runs)
    for _ in 1 2 3 4 5; do
        run "$((n / 4000 + 2))s" "$work/hs.pairs" seq uniform > /dev/null
        docs=$(redis-cli -p "$rport" eval \
               "return #redis.call('KEYS', 'gov:doc:*')" 0)
        [ "$docs" -ge "$n" ] && break
    done

    # the Lua peer's documents: the same bytes the lookup answers
    doc1=$(head -1 "$work/hs.pairs")
    size=$(curl -s -H "Authorization: Bearer ${doc1#* }" \
           "http://127.0.0.1:$port/progress/${doc1%% *}" | wc -c)
    redis-cli -p "$rport" eval "
        for _, k in ipairs(redis.call('KEYS', 'gov:doc:*')) do
            local v = redis.call('GET', k)
            local body = string.match(v, '^G1\t[^\t]*\t[^\t]*\t[^\t]*\t[^\n]*\n(.*)$')
            if body then
                redis.call('SET', 'bench:doc:' .. string.sub(k, 9), body)
            end
        end return 1" 0 >/dev/null
    stop

    static=$(head -c "$size" /dev/zero | tr '\0' 'x')
    start "$zone" "$static"

    wpid=$(pgrep -P "$(cat "$work/logs/nginx.pid")" | head -1)
    rss0=$(awk '/VmRSS/ {print $2}' "/proc/$wpid/status")
    cases=${MIX_CASES:-static static-RS256 gov-HS256 gov-RS256 lua}

    for access in ${MIX_ACCESS:-uniform zipf}; do
        declare -A vals=() p99s=() errs=() hits=() cmds=() u1s=() u2s=()

        # run by run, every case in turn: a slow moment of the machine
        # falls on all of them, not on one case's runs
        for i in $(seq "$runs"); do
            for c in $cases; do
                case $c in
                    static) args=("$work/hs.pairs" static "$access") ;;
                    static-RS256) args=("$work/rs.pairs" static "$access") ;;
                    gov-HS256) args=("$work/hs.pairs" gov "$access") ;;
                    gov-RS256) args=("$work/rs.pairs" gov "$access") ;;
                    lua) args=("$work/hs.pairs" lua "$access") ;;
                esac

                # warm: every pair once in turn (a steady state: the
                # micro-cache and the token cache hold what they will),
                # then a second of the mix itself
                # (again while a pass still misses: a slow moment)
                if [[ $c == gov-* ]]; then
                    for _ in 1 2 3 4; do
                        status "$work/w0"
                        run "$((n / 25000 + 1))s" "${args[0]}" seq uniform \
                            > /dev/null
                        status "$work/w1"
                        wm=$(( $(metric "$work/w1" 'gov_cache_total{cache="progress",result="miss"}') \
                             - $(metric "$work/w0" 'gov_cache_total{cache="progress",result="miss"}') ))
                        [ "$wm" -lt $((n / 100)) ] && break
                    done
                fi
                run 1s "${args[@]}" > /dev/null
                status "$work/s0"

                if [ -n "${MIX_PERF:-}" ] \
                   && [ "$c" = "$([ "$MIX_PERF" = 1 ] && echo gov-HS256 \
                                   || echo "$MIX_PERF")" ]
                then
                    perf record -q -e cpu-clock -g -o "$work/perf.data" \
                        -p "$(pgrep -P "$(cat "$work/logs/nginx.pid")" \
                              | head -1)" -- sleep "$((dur - 1))" \
                        > /dev/null 2>&1 &
                    perfpid=$!
                fi

                read -r v p e u1 u2 < <(run "${dur}s" "${args[@]}")
                status "$work/s1"

                if [ -n "${perfpid:-}" ]; then
                    wait "$perfpid" || true
                    perfpid=
                    perf report -i "$work/perf.data" --stdio --no-children \
                        --sort dso,symbol 2>/dev/null | grep -E '^ +[0-9.]+%' \
                        | head -25 \
                        > "$root/build/bench/perf-$n-$access.txt" || true
                fi

                h0=$(metric "$work/s0" 'gov_cache_total{cache="progress",result="hit"}')
                h1=$(metric "$work/s1" 'gov_cache_total{cache="progress",result="hit"}')
                m0=$(metric "$work/s0" 'gov_cache_total{cache="progress",result="miss"}')
                m1=$(metric "$work/s1" 'gov_cache_total{cache="progress",result="miss"}')
                r0=$(metric "$work/s0" gov_redis_commands_total)
                r1=$(metric "$work/s1" gov_redis_commands_total)

                vals[$c]+="$v " p99s[$c]+="$p " u1s[$c]+="$u1 "
                u2s[$c]+="$u2 " errs[$c]=$(( ${errs[$c]:-0} + e ))
                hits[$c]+="$(awk -v h=$((h1 - h0)) -v m=$((m1 - m0)) \
                             'BEGIN {printf "%.1f", h + m ? 100 * h / (h + m) : 0}') "
                cmds[$c]+="$(awk -v r=$((r1 - r0)) -v h=$((h1 - h0)) -v m=$((m1 - m0)) \
                             'BEGIN {printf "%.2f", h + m ? r / (h + m) : 0}') "
            done
        done

        res_lua='' res_static='' res_static_RS256=''

        for c in $cases; do
            # shellcheck disable=SC2086
            v=$(median ${vals[$c]})
            eval "res_${c//-/_}=$v"
        done

        for c in $cases; do
            var=res_${c//-/_}
            # shellcheck disable=SC2086
            printf '%-8s %-8s %-12s %11s %9s %6s %4s %4s' "$n" "$access" \
                "$c" "${!var}" "$(median ${p99s[$c]})" "${errs[$c]}" \
                "$(median ${u1s[$c]})" "$(median ${u2s[$c]})"

            if [[ $c == gov-* ]]; then
                # shellcheck disable=SC2086
                printf ' %6s %6s' "$(median ${hits[$c]})" \
                    "$(median ${cmds[$c]})"
                # the ceiling of the same requests
                s=$res_static
                [ "$c" = gov-RS256 ] && s=${res_static_RS256:-$res_static}
                awk -v g="${!var}" -v l="$res_lua" -v s="$s" \
                    'BEGIN {if (l && s) printf " %6.2f %6.2f", g / l, g / s}'
            fi
            echo
        done

        unset vals p99s errs hits cmds u1s u2s
    done

    echo "$n applications: zone ${zone} kB; worker RSS $rss0 kB before" \
         "the cases, $(awk '/VmRSS/ {print $2}' \
          "/proc/$wpid/status") kB after; evictions $(metric <(curl -s \
          "http://127.0.0.1:$port/gov/status") 'gov_cache_evictions_total{cache="progress"}')"
    stop
done
echo "ngx%, cli%: how busy nginx's CPU and the client's (wrk, Redis) were;" \
     "x-lua: gov_progress / the Lua peer (target >= 2.0);" \
     "x-stat: gov_progress / return 200 of the same requests" \
     "(static; static-RS256 for gov-RS256) (target >= 0.8)"
} | tee "$report"
