#!/usr/bin/env bash
#
# bench/events.sh: the outbox and its notifications (gov_events,
# gov_notify), on a five-item bundle whose backends nginx answers itself.
#
#  1. submissions per second without gov_events and with it, ROUNDS
#     rounds of DURATION seconds each, in turns (ABBA), medians: the
#     outbox's cost (target at most 10% slower); with it and a gov_notify
#     target taking every event in the first three rounds;
#  2. the delivery lag: each event's time from its append ("at") to its
#     arrival at the target, p50 and p99, at a steady 500 submissions/s
#     (3,000 events/s), and at saturation (where it is the backlog);
#  3. events delivered per second to a fast local target: a new group
#     made at the stream's start, drained by one worker.
#
#   bench/events.sh [DURATION] [ROUNDS]        (defaults 6 and 9)
#
# Needs: make build token, wrk, redis-server.

set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
dur=${1:-6}
rounds=${2:-9}

. "$root/bench/lib.sh"


bench_init events
fport=$((port + 2))
bench_redis "$cpu3"

bench_keys

# conf EVENTS NOTIFY: the lines of gov_events and gov_notify, or none
conf() {
    cat > "$work/conf/nginx.conf" <<CONF
$(bench_main_conf nolua 8192)
http {
    access_log off;
    client_body_temp_path $work/tmp;
    proxy_temp_path $work/tmp;
    log_format lag '\$msec \$request_body';
    gov_redis 127.0.0.1:$rport timeout=5s connections=2;
    gov_jwt_key_file $work/keys/keys.jwks;
    gov_dispatch_timeout 10s;
    $1
    $2
$(bench_five /internal/fast)

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
        # a target that notes when each event came: its lag is that
        # time less its "at"
        location = /internal/lag {
            internal;
            log_subrequest on;
            access_log $work/logs/lag.log lag;
            return 204;
        }
        location = /internal/drain { internal; return 204; }
    }

    server {
        listen 127.0.0.1:$fport;
        location / { return 200 '{"receipt":"R1"}'; }
    }
}
CONF
}

export GOV_TOKEN
GOV_TOKEN=$(bench_token \
            --sub 110101199001011234 --ttl 86400)

report=$root/build/bench/events.txt
mkdir -p "$(dirname "$report")"

# the CPU time (clock ticks, user and system) of nginx's worker
worker_ticks() {
    local w
    w=$(pgrep -P "$(cat "$work/logs/nginx.pid")" | head -1)
    awk '{print $14 + $15}' "/proc/$w/stat"
}

# submissions/s, Redis's time in scripts per submission (us), and the
# nginx worker's CPU time per submission (us): the two costs that the
# machine's noise does not move as it moves the rate
submit() {
    local out rps n us t0 t1
    redis-cli -p "$rport" config resetstat >/dev/null
    t0=$(worker_ticks)
    out=$(taskset -c "$cpu2" wrk -t1 -c"$conns" -d"${dur}s" --latency \
          -s "$root/bench/submit.lua" \
          "http://127.0.0.1:$port/bundles/five/applications")
    t1=$(worker_ticks)
    rps=$(awk '/^Requests\/sec:/ {print $2}' <<<"$out")
    n=$(awk '/requests in/ {print $1}' <<<"$out")
    us=$(redis-cli -p "$rport" info commandstats \
         | awk -F'[=,]' '/^cmdstat_eval(sha)?:/ {t += $4} END {print t}')
    awk -v r="$rps" -v t="$us" -v n="$n" -v c=$((t1 - t0)) \
        -v hz="$(getconf CLK_TCK)" \
        'BEGIN {printf "%s %.1f %.1f\n", r, t / n, c * 1e6 / hz / n}'
}

# waits until the group has read and acknowledged every event
drained() {
    local group=$1 lag pending
    for _ in $(seq 600); do
        lag=$(redis-cli -p "$rport" xinfo groups gov:events \
              | awk -v g="$group" '$0 == "name" {getline; n = $0}
                                   $0 == "lag" {getline; if (n == g) print}')
        pending=$(redis-cli -p "$rport" xpending gov:events "$group" | head -1)
        [ "${lag:-1}" = 0 ] && [ "${pending:-1}" = 0 ] && return 0
        sleep 0.1
    done
    return 1
}

# a target's group starts after what runs without it appended
skip_backlog() {
    redis-cli -p "$rport" xgroup setid gov:events "$1" '$' >/dev/null 2>&1 \
        || true
}

# lag.log's lines as lags (ms), then their p50, p99 and max
lags() {
    # "1796156440.961 {\x22id\x22:...,\x22at\x22:1796156440955,...}"
    awk 'match($0, /x22at\\x22:[0-9]+/) {
             at = substr($0, RSTART + 10, RLENGTH - 10)
             printf "%.0f\n", $1 * 1000 - at }' "$work/logs/lag.log" \
        | sort -g | awk -v what="$1" '{v[NR] = $1} END {
            if (NR == 0) { print "no lag measured"; exit }
            printf "delivery lag %s, %d events: p50 %.0f ms, p99 %.0f ms," \
                   " max %.0f ms\n", what, NR,
                   v[int(NR * 0.50) ? int(NR * 0.50) : 1],
                   v[int(NR * 0.99) ? int(NR * 0.99) : 1], v[NR] }'
    rm -f "$work/logs/lag.log"
}

{
echo "bench/events.sh: $(date -u +%Y-%m-%dT%H:%MZ), $(nproc) cores," \
     "nginx 1 worker on CPU $cpu1, wrk on CPU $cpu2, Redis on CPU $cpu3," \
     "$conns connections," \
     "five-item bundle (6 events a submission)," \
     "$rounds rounds of ${dur}s"

off=() on=() notify=() r_on=() r_notify=() us_off=() us_on=()
cpu_off=() cpu_on=()
for r in $(seq "$rounds"); do
    # without and with, in turns (ABBA), so that the machine's drift
    # falls on both alike
    for which in $( [ $((r % 2)) = 1 ] && echo "off on" || echo "on off"); do
        if [ "$which" = off ]; then
            conf "" ""
            bench_nginx_start; read -r a ua ca <<<"$(submit)"
        else
            conf "gov_events;" ""
            bench_nginx_start; read -r b ub cb <<<"$(submit)"
        fi
        bench_nginx_stop
    done

    # with a target too, in the first three rounds (it waits for the
    # target to catch up)
    c=-
    if [ "$r" -le 3 ]; then
        skip_backlog /internal/lag
        conf "gov_events;" \
             "gov_notify /internal/lag; gov_notify_claim_idle 30s;"
        bench_nginx_start; read -r c _ <<<"$(submit)"
        drained /internal/lag || echo "the lag target did not drain"
        bench_nginx_stop
        notify+=("$c")
        r_notify+=("$(awk -v a="$a" -v c="$c" 'BEGIN {print c / a}')")
    fi

    echo "round $r: submissions/s without gov_events $a (Redis ${ua}us," \
         "nginx ${ca}us a submission), with it $b (${ub}us, ${cb}us)," \
         "with it and a target $c"
    off+=("$a") on+=("$b") us_off+=("$ua") us_on+=("$ub")
    cpu_off+=("$ca") cpu_on+=("$cb")
    r_on+=("$(awk -v a="$a" -v b="$b" 'BEGIN {print b / a}')")
done

echo "medians: submissions/s without gov_events $(bench_median "${off[@]}")," \
     "with it $(bench_median "${on[@]}"), with it and a target" \
     "$(bench_median "${notify[@]}"); Redis time in scripts a submission" \
     "$(bench_median "${us_off[@]}")us without, $(bench_median "${us_on[@]}")us with;" \
     "nginx's CPU time a submission $(bench_median "${cpu_off[@]}")us" \
     "without, $(bench_median "${cpu_on[@]}")us with"
awk -v b="$(bench_median "${r_on[@]}")" \
    -v c="$(bench_median "${r_notify[@]}")" 'BEGIN {
    printf "the outbox costs %.1f%% of submissions/s (median of the rounds'"'"'" \
           " ratios; target at most 10%%); with a target reading it, in" \
           " the same worker, %.1f%%\n", 100 * (1 - b), 100 * (1 - c) }'

lags "at saturation (the backlog)"

skip_backlog /internal/lag
conf "gov_events;" "gov_notify /internal/lag; gov_notify_claim_idle 30s;"
bench_nginx_start
out=$(taskset -c "$cpu2" wrk -t1 -c10 -d"${dur}s" \
      -s "$root/bench/submit-paced.lua" \
      "http://127.0.0.1:$port/bundles/five/applications")
drained /internal/lag || echo "the lag target did not drain"
bench_nginx_stop
lags "at $(awk '/^Requests\/sec:/ {printf "%.0f", $2}' <<<"$out") submissions/s"

# a new group at the stream's start: everything to deliver
total=$(redis-cli -p "$rport" xlen gov:events)
redis-cli -p "$rport" xgroup create gov:events /internal/drain 0 >/dev/null
conf "gov_events;" "gov_notify /internal/drain; gov_notify_claim_idle 30s;"
start=$(date +%s.%N)
bench_nginx_start
drained /internal/drain || echo "the drain did not finish"
end=$(date +%s.%N)
bench_nginx_stop
awk -v n="$total" -v s="$start" -v e="$end" 'BEGIN {
    printf "delivered to a fast local target: %d events in %.1f s," \
           " %.0f events/s (one worker)\n", n, e - s, n / (e - s) }'
} | tee "$report"
