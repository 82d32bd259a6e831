# ngx_gov_module demo image.
#
#   docker build -t ngx-gov .
#   docker run -p 8080:8080 ngx-gov
#
# The build stage compiles the dynamic module against Debian's nginx through
# nginx-dev; the runtime stage has Debian's nginx, the module (which needs
# no library but OpenSSL), gov-token (libjwt, jansson), gov-sign, conf/ and
# templates/.  Redis runs inside the container unless conf/nginx.conf's
# gov_redis is changed to point elsewhere (mount your own conf/ at
# /srv/gov/conf).

FROM debian:bookworm AS build

RUN apt-get update \
    && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
       nginx nginx-dev libjwt-dev libhiredis-dev libjansson-dev \
       libpcre2-dev libssl-dev zlib1g-dev gcc make cmake dpkg-dev \
       debian-archive-keyring \
    && rm -rf /var/lib/apt/lists/*

# the module carries hiredis and jansson inside it (see config); jansson is
# built from Debian's source package by make
WORKDIR /src
COPY config Makefile ./
COPY ngx_gov_module ngx_gov_module
RUN make build token


FROM debian:bookworm

# no documentation, manual pages or locales beyond what Debian requires:
# the image stays as small as Debian's own packages allow
RUN printf '%s\n' 'path-exclude /usr/share/doc/*' \
        'path-include /usr/share/doc/*/copyright' \
        'path-exclude /usr/share/man/*' 'path-exclude /usr/share/info/*' \
        'path-exclude /usr/share/locale/*' \
        > /etc/dpkg/dpkg.cfg.d/01-slim \
    && apt-get update \
    && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
       nginx libjwt0 libjansson4 redis-server perl \
    && rm -rf /var/lib/apt/lists/* /var/cache/apt/*.bin /var/log/*.log \
    && useradd --system --uid 10001 --home-dir /srv/gov --no-create-home gov

COPY --from=build /src/build/plain/objs/ngx_http_gov_module.so \
     /srv/gov/modules/ngx_http_gov_module.so
COPY --from=build /src/build/gov-token /usr/local/bin/gov-token
COPY --from=build /src/build/gov-sign /usr/local/bin/gov-sign
COPY conf /srv/gov/conf
COPY templates /srv/gov/templates

# nginx and Redis run as the unprivileged user gov: port 8080, every path
# they write under /srv/gov
RUN mkdir -p /srv/gov/logs /srv/gov/tmp /srv/gov/redis /srv/gov/html \
             /srv/gov/uploads /srv/gov/run /srv/gov/archive \
    && chown -R gov:gov /srv/gov/logs /srv/gov/tmp /srv/gov/redis \
                        /srv/gov/html /srv/gov/uploads /srv/gov/run \
                        /srv/gov/archive

USER gov

EXPOSE 8080

CMD ["/srv/gov/conf/demo/docker-entrypoint.sh"]
