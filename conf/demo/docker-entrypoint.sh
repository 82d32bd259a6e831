#!/bin/sh
#
# Entry point of the Docker image: Redis (when gov_redis points at the
# container's own 127.0.0.1:6380), the demo department backends, the demo
# notification targets and identity provider, then nginx
# in the foreground on 0.0.0.0:8080.

set -eu

prefix=/srv/gov
mkdir -p "$prefix/logs" "$prefix/tmp" "$prefix/redis" "$prefix/html" \
         "$prefix/uploads"
if [ "$(id -u)" = 0 ]; then
    chown nobody "$prefix/uploads"  # the workers store uploads there
fi

"$prefix/conf/demo/login-page.sh" /usr/local/bin/gov-token "$prefix/html/demo"

if grep -Eq '^[[:space:]]*gov_redis[[:space:]]+127\.0\.0\.1:6380' \
        "$prefix/conf/nginx.conf"
then
    redis-server --port 6380 --bind 127.0.0.1 --dir "$prefix/redis" \
        --save '' --appendonly yes --daemonize yes \
        --logfile "$prefix/logs/redis.log"
fi

perl "$prefix/conf/demo/departments.pl" --port 9101 \
    --callback http://127.0.0.1:8080/callback \
    --log "$prefix/logs/departments.log" &

perl "$prefix/conf/demo/notify.pl" --port 9102 \
    --portal http://127.0.0.1:8080 --log "$prefix/logs/notify.log" &

perl "$prefix/conf/demo/archive.pl" --port 9104 \
    --dir "$prefix/archive" --log "$prefix/logs/archive.log" &

perl "$prefix/conf/demo/idp.pl" --port 9103 \
    --issuer http://127.0.0.1:8080/idp --token /usr/local/bin/gov-token \
    --log "$prefix/logs/idp.log" &

# inside a container the portal listens on every address; the edited copy
# sits next to conf/ so that the paths it names relative to its own folder
# (keys, secrets, bundles.conf, ../templates) still resolve, and conf/ may
# stay a read-only mount
# (run/ itself is the image's, writable by the user it runs as)
mkdir -p "$prefix/run"
rm -rf "$prefix/run/"*
cp -r "$prefix/conf/." "$prefix/run/"
sed 's/listen 127\.0\.0\.1:8080;/listen 8080;/' "$prefix/conf/nginx.conf" \
    > "$prefix/run/nginx.conf"

exec nginx -p "$prefix/" -c run/nginx.conf -e /dev/stderr -g 'daemon off;'
