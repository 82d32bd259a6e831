#!/usr/bin/env bash
#
# bench/capacity.sh: what Redis holds for years (gov_retention, CONTRACT
# section 16), on this machine.
#
#  1. bytes per live application by bundle size: 1,000 applications of a
#     one-, two- and five-item bundle, each into an empty Redis, its
#     used_memory before and after (no events: the stream is sized apart,
#     by gov_events maxlen);
#  2. DAYS days of PER_DAY applications (bench/capacity.pl: withdrawals,
#     corrections, ratings) with nginx's clock moved a day at a time
#     (libfaketime), under "gov_retention finished=KEEP withdrawn=30d",
#     the demo archive (conf/demo/archive.pl) taking what leaves: one line
#     a day of Redis's used_memory, the applications it holds and the
#     archive's; the run ends with the archive holding every application
#     that left exactly once (its files against its deliveries, and every
#     application of Redis or the archive).
#
#   bench/capacity.sh [DAYS] [PER_DAY] [KEEP]     (defaults 200 1000 90d)
#
# Needs: make build token, redis-server, libfaketime.  About an hour
# with the defaults on the 2-core machine of README.

set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
days=${1:-200}
per_day=${2:-1000}
keep=${3:-90d}

. "$root/bench/lib.sh"

faketime_lib=$(ls /usr/lib/*/faketime/libfaketime.so.1 2>/dev/null | head -1)
[ -n "$faketime_lib" ] || { echo "capacity: install faketime" >&2; exit 1; }

bench_init capacity
aport=$((port + 2))
bench_redis "$cpu3"
bench_keys
mkdir -p "$work/archive"
printf '+0s\n' > "$work/faketime"

token=$(bench_token --sub 110101199001011234 --ttl $((400 * 86400)))
secret=$(cat "$work/conf/dept.secret")

# conf HTTP_LINES BUNDLES: the portal, its departments answered by nginx
conf() {
    cat > "$work/conf/nginx.conf" <<CONF
$(bench_main_conf nolua 8192)
env FAKETIME_TIMESTAMP_FILE;
env FAKETIME_NO_CACHE;
env FAKETIME_DONT_FAKE_MONOTONIC;
http {
$(bench_http_conf | grep -v lua_package_path)
    gov_dispatch_timeout 10s;
    $1
$2

    upstream archive { server 127.0.0.1:$aport; keepalive 8; }

    server {
        listen 127.0.0.1:$port backlog=4096;
        location /bundles/ { gov_bundles; }
        location /progress/ { gov_progress; }
        location /callback/ { gov_callback; }
        location /internal/dept {
            internal;
            proxy_pass http://127.0.0.1:$port/dept-answers;
        }
        location /dept-answers {
            default_type application/json;
            return 200 '{"receipt":"R-1"}';
        }
        location = /internal/archive-in {
            internal;
            proxy_pass http://archive/;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
        }
        location /internal/archive/ {
            internal;
            proxy_pass http://archive/;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
        }
        location = /gov/status { gov_status; }
    }
}
CONF
}

one_item() {
    cat <<CONF
    gov_material id_card "身份证";
    gov_field name "姓名";
    gov_item one { name "事项"; department "部门"; backend /internal/dept;
                   callback_secret_file dept.secret;
                   materials id_card; fields name; time_limit 5; }
    gov_bundle one { name "一事项"; code ON; items one; time_limit 5; }
CONF
}

# --- 1. bytes per live application --------------------------------------------

[ -n "${CAPACITY_NO_SIZES:-}" ] || {
echo "# bytes per live application (the second 1,000 of each, used_memory)"

# submit BUNDLE FROM TO: applications FROM..TO of the bundle, status counts
submit() {
    local i more
    for i in $(seq "$2" "$3"); do
        more=
        [ "$1" = five ] \
            && more=",\"id_number\":\"11010119900101123$((i % 10))\""
        curl -s -o /dev/null -w '%{http_code}\n' \
            -H "Authorization: Bearer $token" \
            -H 'Content-Type: application/json' \
            -d "{\"fields\":{\"name\":\"王$i\"$more},\"materials\":{\"id_card\":\"r-$i\"}}" \
            "http://127.0.0.1:$port/bundles/$1/applications"
    done | sort | uniq -c | awk -v b="$1" '{printf "#   %s: %d answered %s\n", b, $1, $2}'
}

used() {
    redis-cli -p "$rport" info memory | awk -F: '/^used_memory:/ {print $2+0}'
}

for b in one newborn five; do
    case $b in
        one)     bundle=$(one_item); items=1 ;;
        newborn) bundle=$(bench_newborn /internal/dept); items=2 ;;
        five)    bundle=$(bench_five /internal/dept); items=5 ;;
    esac
    conf "" "$bundle"
    redis-cli -p "$rport" flushall >/dev/null
    bench_nginx_start
    submit "$b" 1 1000
    before=$(used)
    submit "$b" 1001 2000
    after=$(used)
    keys=$(redis-cli -p "$rport" dbsize)
    echo "bytes_per_application items=$items $(( (after - before) / 1000 ))" \
         "(keys $keys for 2,000)"
    bench_nginx_stop
done
}

# --- 2. the days ------------------------------------------------------------------

redis-cli -p "$rport" flushall >/dev/null
bench_spawn perl "$root/conf/demo/archive.pl" --port "$aport" \
    --dir "$work/archive"

conf "$(cat <<CONF
    gov_events maxlen=20000;
    gov_notify_claim_idle 10s;
    gov_retention finished=$keep withdrawn=30d sweep=1s;
    gov_archive_notify /internal/archive-in;
    gov_archive /internal/archive;
CONF
)" "$(bench_newborn /internal/dept)"

LD_PRELOAD=$faketime_lib FAKETIME_TIMESTAMP_FILE=$work/faketime \
FAKETIME_NO_CACHE=1 FAKETIME_DONT_FAKE_MONOTONIC=1 \
    bench_nginx_start

echo "# $days days of $per_day applications, finished=$keep withdrawn=30d"
perl "$root/bench/capacity.pl" "$port" "$rport" "$work" "$days" "$per_day" \
    "$secret" "$token" | tee "$work/days.txt"

# every application that left is in the archive once, nothing twice
live=$(redis-cli -p "$rport" --scan --pattern 'gov:app:*' | wc -l)
files=$(ls "$work/archive" | grep -c '\.json$' || true)
distinct=$(cut -d' ' -f1 "$work/archive/deliveries.log" | sort -u | wc -l)
both=$( { redis-cli -p "$rport" --scan --pattern 'gov:app:*' \
            | sed 's/^gov:app://'; ls "$work/archive" | sed -n 's/\.json$//p'; } \
        | sort | uniq -d | wc -l)
echo "# in Redis $live, archived $files (distinct deliveries $distinct)," \
     "in both $both"

awk -v d1=120 -v d2=$((days - 1)) '
    $1 == d1 {a = $2} $1 == d2 {b = $2}
    END { if (a && b) printf "# used_memory day %d %.1f MB, day %d %.1f MB: %+.1f%%\n",
                             d1, a / 1048576, d2, b / 1048576, 100 * (b - a) / a }' \
    "$work/days.txt"

echo "# nginx's error.log: $(grep -c '\[error\]\|\[crit\]\|\[alert\]' "$work/logs/error.log" || true) errors"
# the run's folder goes with it: what went wrong is said here
grep '\[error\]\|\[crit\]\|\[alert\]' "$work/logs/error.log" | head -5 \
    | sed 's/^/#   /' || true
