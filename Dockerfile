# ngx_gov_module demo image.
#
#   docker build -t ngx-gov .
#   docker run -p 8080:8080 ngx-gov
#
# The build stage compiles the dynamic module against Debian's nginx through
# nginx-dev; the runtime stage has Debian's nginx, the module (which needs
# no library but OpenSSL), gov-token (libjwt, jansson), conf/ and
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

RUN apt-get update \
    && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
       nginx libjwt0 libjansson4 redis-server redis-tools perl \
    && rm -rf /var/lib/apt/lists/*

COPY --from=build /src/build/plain/objs/ngx_http_gov_module.so \
     /srv/gov/modules/ngx_http_gov_module.so
COPY --from=build /src/build/gov-token /usr/local/bin/gov-token
COPY conf /srv/gov/conf
COPY templates /srv/gov/templates

EXPOSE 8080

CMD ["/srv/gov/conf/demo/docker-entrypoint.sh"]
