# bench/lib.sh: what the benchmark scripts share.  Sourced, not run:
#
#   bench_need_lua       stops unless the Lua peer can be loaded
#   bench_keys           an HS256 key (kid h1) in $work/keys, its JWKS
#                        (keys.jwks) and the departments' secret
#                        (conf/dept.secret)
#   bench_token ARGS...  gov-token with that key: --sub, --ttl, --count...
#   bench_init NAME      $work (conf logs keys tmp redis), $port and the
#                        free ports after it ($rport = $port + 1), and the
#                        clean-up of everything started, on exit
#   bench_redis [CPU]    a Redis without persistence on $rport (pinned to
#                        CPU when given), ready when this returns
#   bench_spawn CMD...   a helper process in the background, stopped on exit
#   bench_nginx_start    nginx with $work/conf/nginx.conf
#   bench_nginx_stop     a graceful stop, waited for
#   bench_median V...    the median of the values
#   bench_figures TEXT   "requests/s p99 non2xx" of wrk --latency output
#   bench_cpu N          "busy total" jiffies of CPU N so far
#   bench_busy A B       CPU busy percent between two bench_cpu figures
#   bench_main_conf [nolua] [CONNECTIONS]
#                        nginx.conf's main part: Lua (unless "nolua") and
#                        $module loaded, one worker pinned to $cpu1
#   bench_http_conf      the first lines of http {}: no access log, temp
#                        paths, Lua's path, Redis and the JWKS in $work
#   bench_newborn URI    a two-item bundle whose items' backend is URI
#   bench_five PREFIX    the five-item bundle "five" (FV), item dN's
#                        backend PREFIX/dN
#   bench_peers KEY      the locations /static (return 200 of
#                        $static_body) and /lua (nginx + Lua: one GET of
#                        the Redis key the Lua expression KEY names)
#
# $root must be set by the caller; the settings every script takes from
# the environment are set here: $nginx (NGINX, default /usr/sbin/nginx),
# $module (GOV_MODULE, default the plain build), $tool (gov-token), $conns
# (BENCH_CONNECTIONS, 64), $cpu1 (BENCH_NGINX_CPU, 0: nginx's worker),
# $cpu2 (BENCH_CLIENT_CPU, 1: wrk), $cpu3 (BENCH_REDIS_CPU, $cpu2: Redis).

nginx=${NGINX:-/usr/sbin/nginx}
module=${GOV_MODULE:-$root/build/plain/objs/ngx_http_gov_module.so}
tool=$root/build/gov-token
conns=${BENCH_CONNECTIONS:-64}
cpu1=${BENCH_NGINX_CPU:-0}
cpu2=${BENCH_CLIENT_CPU:-1}
cpu3=${BENCH_REDIS_CPU:-$cpu2}

bench_pids=()

bench_cleanup() {
    kill -QUIT "$(cat "$work/logs/nginx.pid" 2>/dev/null)" 2>/dev/null || true
    for p in "${bench_pids[@]}"; do kill "$p" 2>/dev/null || true; done
    sleep 0.5
    [ -n "${BENCH_KEEP:-}" ] || rm -rf "$work"
}

bench_need_lua() {
    [ -f /usr/lib/nginx/modules/ngx_http_lua_module.so ] && return 0
    echo "the Lua peer needs libnginx-mod-http-lua and lua-nginx-redis" >&2
    exit 1
}

bench_keys() {
    head -c 32 /dev/urandom > "$work/keys/hs.secret"
    "$tool" --key "$work/keys/hs.secret" --alg HS256 --kid h1 --print-jwks \
        > "$work/keys/keys.jwks"
    printf 'bench-secret-0123456789\n' > "$work/conf/dept.secret"
}

bench_token() {
    "$tool" --key "$work/keys/hs.secret" --alg HS256 --kid h1 "$@"
}

bench_init() {
    work=$(mktemp -d "/tmp/gov-bench-$1-XXXXXX")
    trap bench_cleanup EXIT
    mkdir -p "$work"/{conf,logs,keys,tmp,redis,html}
    port=$((20000 + RANDOM % 10000))
    rport=$((port + 1))
}

bench_spawn() {
    "$@" &
    bench_pids+=($!)
}

bench_redis() {
    local pin=()
    [ -n "${1:-}" ] && pin=(taskset -c "$1")
    bench_spawn "${pin[@]}" redis-server --port "$rport" --bind 127.0.0.1 \
        --save '' --appendonly no --dir "$work/redis" --daemonize no \
        --logfile "$work/logs/redis.log"
    for _ in $(seq 50); do
        redis-cli -p "$rport" ping >/dev/null 2>&1 && return 0
        sleep 0.1
    done
    echo "bench: Redis did not start" >&2
    return 1
}

bench_nginx_start() {
    "${nginx:-/usr/sbin/nginx}" -p "$work/" -c "$work/conf/nginx.conf" \
        -e "$work/logs/error.log"
    sleep 0.5
}

bench_nginx_stop() {
    kill -QUIT "$(cat "$work/logs/nginx.pid")"
    while [ -f "$work/logs/nginx.pid" ]; do sleep 0.1; done
}

bench_figures() {
    echo "$(awk '/^Requests\/sec:/ {print $2}' <<<"$1")" \
         "$(awk '$1 == "99%" {print $2}' <<<"$1")" \
         "$(awk '/Non-2xx or 3xx responses:/ {print $NF}' <<<"$1" \
            | grep . || echo 0)"
}

# "busy total" jiffies of one CPU (idle and iowait are not busy)
bench_cpu() {
    awk -v c="cpu$1" '$1 == c {t = 0; for (i = 2; i <= NF; i++) t += $i;
                               print t - $5 - $6, t}' /proc/stat
}

# the CPU's busy share between two bench_cpu figures, in percent
bench_busy() {
    awk -v a="$1" -v b="$2" 'BEGIN {split(a, x, " "); split(b, y, " ");
        t = y[2] - x[2]; printf "%d", t ? 100 * (y[1] - x[1]) / t : 0}'
}

bench_main_conf() {
    local lua=1 wc=4096
    [ "${1:-}" = nolua ] && { lua=0; shift; }
    [ -n "${1:-}" ] && wc=$1
    [ "$lua" = 1 ] && cat <<CONF
load_module /usr/lib/nginx/modules/ndk_http_module.so;
load_module /usr/lib/nginx/modules/ngx_http_lua_module.so;
CONF
    cat <<CONF
load_module $module;
$( [ "$(id -u)" = 0 ] && echo "user root root;" )
worker_processes 1;
worker_cpu_affinity $(printf '1%*s' "$cpu1" '' | tr ' ' '0');
pid $work/logs/nginx.pid;
error_log $work/logs/error.log warn;
events { worker_connections $wc; }
CONF
}

bench_http_conf() {
    cat <<CONF
    access_log off;
    client_body_temp_path $work/tmp;
    proxy_temp_path $work/tmp;
    lua_package_path "/usr/share/lua/5.1/?.lua;;";
    gov_redis 127.0.0.1:$rport timeout=5s;
    gov_jwt_key_file $work/keys/keys.jwks;
CONF
}

bench_newborn() {
    cat <<CONF
    gov_material id_card "身份证";
    gov_field name "姓名";
    gov_item nhc { name "出生医学证明"; department "卫生健康委";
                   backend $1; callback_secret_file dept.secret;
                   materials id_card; fields name; time_limit 3; }
    gov_item cdc { name "预防接种证"; department "疾控中心";
                   backend $1; callback_secret_file dept.secret;
                   fields name; time_limit 5; }
    gov_bundle newborn { name "新生儿出生一件事"; code NB; items nhc cdc;
                         time_limit 10; }
CONF
}

bench_five() {
    local i
    cat <<CONF
    gov_material id_card "身份证";
    gov_field name "姓名";
    gov_field id_number "身份证号" "pattern=[0-9]{17}[0-9X]";
CONF
    for i in 1 2 3 4 5; do
        cat <<CONF
    gov_item d$i {
        name "事项$i"; department "部门$i"; backend $1/d$i;
        callback_secret_file dept.secret;
        materials id_card; fields name id_number; time_limit 5;
    }
CONF
    done
    cat <<CONF
    gov_bundle five { name "五事项"; code FV; items d1 d2 d3 d4 d5;
                      time_limit 10; }
CONF
}

bench_peers() {
    cat <<CONF
        location = /static { default_type application/json;
                             return 200 "\$static_body"; }
        location = /lua {
            default_type application/json;
            content_by_lua_block {
                local redis = require "nginx.redis"
                local red = redis:new()
                red:set_timeout(1000)
                local ok, err = red:connect("127.0.0.1", $rport)
                if not ok then return ngx.exit(503) end
                local doc = red:get($1)
                red:set_keepalive(10000, 64)
                if doc == ngx.null then return ngx.exit(404) end
                ngx.print(doc)
            }
        }
CONF
}

bench_median() {
    printf '%s\n' "$@" | sort -g \
        | awk '{v[NR] = $1} END {print v[int((NR + 1) / 2)]}'
}
