#!/usr/bin/env bash
#
# make run: starts Redis, the demo department backends and nginx with the
# demo configuration on 127.0.0.1:8080, and stops all of it on Ctrl-C.
#
#   conf/demo/run.sh           run the demo in the foreground
#   conf/demo/run.sh --check   nginx -t on conf/ only
#
# Environment: NGINX (default /usr/sbin/nginx), GOV_MODULE_DIR (the folder
# holding ngx_http_gov_module.so, default build/plain/objs), GOV_RUN_DIR
# (the prefix, default run/ in the source tree).

set -euo pipefail

root=$(cd "$(dirname "$0")/../.." && pwd)
run=${GOV_RUN_DIR:-$root/run}
modules=${GOV_MODULE_DIR:-$root/build/plain/objs}
nginx=${NGINX:-/usr/sbin/nginx}

mkdir -p "$run/logs" "$run/tmp" "$run/redis" "$run/html" "$run/uploads"

# the workers write uploads: under root they run as nobody
if [ "$(id -u)" = 0 ]; then
    chown nobody "$run/uploads"
fi
ln -sfn "$root/conf" "$run/conf"
ln -sfn "$root/templates" "$run/templates"
ln -sfn "$modules" "$run/modules"

if [ ! -f "$modules/ngx_http_gov_module.so" ]; then
    echo "run.sh: $modules/ngx_http_gov_module.so is missing: run make" >&2
    exit 1
fi

ngx=("$nginx" -p "$run/" -c conf/nginx.conf -e logs/error.log)

if [ "${1:-}" = "--check" ]; then
    exec "${ngx[@]}" -t
fi

"$root/conf/demo/login-page.sh" "${GOV_TOKEN:-$root/build/gov-token}" \
    "$run/html/demo"

pids=()

stop() {
    trap - INT TERM EXIT
    echo
    echo "stopping..."
    pid=$(cat "$run/logs/nginx.pid" 2>/dev/null || true)
    if [ -n "$pid" ]; then
        kill -QUIT "$pid" 2>/dev/null || true
    fi
    for p in "${pids[@]}"; do
        kill "$p" 2>/dev/null || true
    done
    wait 2>/dev/null || true
    echo "stopped."
}

trap stop INT TERM EXIT

busy() {
    (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

for port in 6380 9101 9102 9103 9104 8080; do
    if busy "$port"; then
        echo "run.sh: 127.0.0.1:$port is already in use" >&2
        exit 1
    fi
done

redis-server --port 6380 --bind 127.0.0.1 --dir "$run/redis" \
    --save '' --appendonly yes --daemonize no \
    --logfile "$run/logs/redis.log" &
pids+=($!)

for _ in $(seq 50); do
    redis-cli -p 6380 ping >/dev/null 2>&1 && break
    sleep 0.1
done

perl "$root/conf/demo/departments.pl" --port 9101 \
    --callback http://127.0.0.1:8080/callback --pace "${GOV_DEMO_PACE:-20}" \
    --log "$run/logs/departments.log" &
pids+=($!)

perl "$root/conf/demo/notify.pl" --port 9102 \
    --portal http://127.0.0.1:8080 --log "$run/logs/notify.log" &
pids+=($!)

perl "$root/conf/demo/idp.pl" --port 9103 \
    --issuer http://127.0.0.1:8080/idp \
    --token "${GOV_TOKEN:-$root/build/gov-token}" --log "$run/logs/idp.log" &
pids+=($!)

perl "$root/conf/demo/archive.pl" --port 9104 --dir "$run/archive" \
    --log "$run/logs/archive.log" &
pids+=($!)

"${ngx[@]}" -t -q
"${ngx[@]}" -g 'daemon off;' &
pids+=($!)

for _ in $(seq 50); do
    busy 8080 && break
    sleep 0.1
done

cat <<MSG

ngx_gov_module demo is running:

    http://127.0.0.1:8080/             the portal
    http://127.0.0.1:8080/bundles/     一件事: the bundles and their guides
    http://127.0.0.1:8080/auth/oidc    log in through the demo identity
                                       platform (OpenID Connect) as a demo
                                       citizen or agent
    http://127.0.0.1:8080/demo/login.html  token login, for tools and tests
    http://127.0.0.1:8080/whoami       who you are
    http://127.0.0.1:8080/gov/health   Redis connection check
    http://127.0.0.1:8080/gov/status   metrics (Prometheus text)
    http://127.0.0.1:8080/notify/sms/  the demo SMS gateway: messages sent
    http://127.0.0.1:8080/notify/haocha/  the demo national 好差评 system
    http://127.0.0.1:8080/archive/     the demo archive: applications that
                                       left Redis (5 minutes after their
                                       last change once final; their
                                       progress pages still answer)

The whole journey in a browser: open the portal, log in as 张三 at the
demo identity platform, pick 新生儿出生一件事, read the guide, 开始申报,
submit the form (mistakes are all shown at once), keep the receipt, then 查看办理进度 and reload as
the demo departments move the steps (GOV_DEMO_PACE=4 make run for a quick
demo); once everything is done, rate the service on the same page.

Logs are in $run/logs.  Press Ctrl-C to stop everything.

MSG

wait -n "${pids[@]}" || true
