
/*
 * Copyright (C) ngx_gov_module authors
 *
 * The base floor of the nginx side: the module's configuration as every
 * room reads it (main and location configuration, the bundle model:
 * materials, fields, items, bundles) and the module itself.  Types only;
 * it includes nothing of the module but the core.  See LAYERS.
 */


#ifndef _NGX_GOV_CONF_H_INCLUDED_
#define _NGX_GOV_CONF_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "gov_app.h"
#include "gov_calendar.h"
#include "gov_jwt.h"


/*
 * The model in Redis.
 *
 * Redis keys (PREFIX is gov_redis_prefix):
 *   PREFIX app:ID        hash: doc (the application JSON), code (SHA-256 of
 *                        the query code), subject
 *   PREFIX steps:ID      hash: ITEM -> step JSON {state, receipt, reason,
 *                        note, attempts, updated_at, accepted_day,
 *                        paused_since, pauses}
 *   PREFIX retry         sorted set of "ID|ITEM" by the time (ms) a step is
 *                        due; a claimed step is pushed a lease ahead, so a
 *                        worker that dies leaves it to another
 *   PREFIX seq:CODEDATE  the day's application sequence
 *   PREFIX idem:SUBJECT:HASH   Idempotency-Key -> first answer (24h)
 *   PREFIX user:SUBJECT  sorted set of the subject's applications
 *   PREFIX replay:HASH   accepted callback signatures (15 minutes)
 *   PREFIX up:HEX        hash of an upload: type, size, at (ms), refs
 *                        (applications naming it), o:SUBJECT -> the
 *                        file name as the owner sent it
 *   PREFIX upidle        sorted set of unreferenced uploads by the time
 *                        (ms) they became so; swept after keep_unused
 *   PREFIX updel:HEX     an upload being swept (60 s)
 *   PREFIX upsweep       the sweeper's turn, one worker of all nodes
 *   PREFIX STREAM        the events (gov_events): a stream, one entry per
 *                        change, appended by the script that makes it;
 *                        each gov_notify target a consumer group
 *   PREFIX final         sorted set of the applications every step of
 *                        which is final, by the time (ms, Redis's clock)
 *                        they may leave Redis (gov_retention)
 *   PREFIX arsweep       the retention sweeper's turn
 *   PREFIX oidc:state:STATE   a login under way at an OpenID provider:
 *                        nonce, PKCE verifier, return_to, the browser's
 *                        binding (10 minutes, taken once with GETDEL)
 *   PREFIX oidc:NAME:jwks     the provider's JWKS as last fetched
 *   PREFIX oidc:NAME:refresh  an unknown kid's JWKS refresh (1 minute)
 */


/* defined by the Redis service (ngx_gov_redis.h) */
typedef struct ngx_gov_redis_conf_s  ngx_gov_redis_conf_t;

/* an OpenID Connect provider, defined by its room (ngx_gov_oidc.c) */
typedef struct ngx_gov_oidc_s  ngx_gov_oidc_t;


typedef struct {
    ngx_str_t                 id;
    ngx_str_t                 name;
    ngx_uint_t                elicense;
    ngx_uint_t                tolerable;    /* working days, 0: not */
} ngx_gov_material_t;


typedef struct {
    ngx_str_t                 id;
    ngx_str_t                 label;
    ngx_str_t                 pattern;      /* as configured */
    ngx_regex_t              *regex;        /* anchored: the whole value */
    ngx_uint_t                optional;
} ngx_gov_field_t;


typedef struct {
    ngx_str_t                 id;
    ngx_str_t                 name;
    ngx_str_t                 department;
    ngx_str_t                 backend;      /* as configured */
    ngx_str_t                 status;
    ngx_http_complex_value_t *backend_cv;   /* with variables, else NULL */
    ngx_http_complex_value_t *status_cv;
    ngx_str_t                 secret;
    ngx_array_t               materials;    /* ngx_str_t, then indexes */
    ngx_array_t               fields;
    ngx_array_t               depends;
    ngx_uint_t               *material_idx;
    ngx_uint_t               *field_idx;
    ngx_uint_t               *depends_idx;
    ngx_uint_t                time_limit;
    ngx_str_t                 file;
    ngx_uint_t                line;
} ngx_gov_item_t;


/* a situation (情形): "when FIELD PATTERN ITEM ..." in gov_bundle */
typedef struct {
    ngx_str_t                 field;
    ngx_str_t                 pattern;      /* as configured */
    ngx_regex_t              *regex;        /* anchored: the whole value */
    ngx_uint_t                field_idx;
    ngx_array_t               items;        /* ngx_str_t */
    ngx_str_t                 file;
    ngx_uint_t                line;
} ngx_gov_when_t;


typedef struct {
    ngx_str_t                 id;
    ngx_str_t                 name;
    ngx_str_t                 code;
    ngx_array_t               items;        /* ngx_str_t */
    ngx_uint_t               *item_idx;
    ngx_array_t               whens;        /* ngx_gov_when_t */
    ngx_int_t                *item_when;    /* per item: its when, -1: all */
    ngx_uint_t                time_limit;
    ngx_uint_t                asks;         /* an item has a status URI */
    ngx_str_t                 file;
    ngx_uint_t                line;

    gov_app_field_t          *app_fields;
    ngx_uint_t                napp_fields;
    gov_app_material_t       *app_materials;
    ngx_uint_t                napp_materials;

    ngx_str_t                 guide;        /* the 一次告知 JSON */
} ngx_gov_bundle_t;


/*
 * A region's gateway (跨省通办): a step whose backend, as its application's
 * fields route it, starts with "prefix" is handled there, and only the
 * region's secret signs its callbacks.
 */
typedef struct {
    ngx_str_t                 id;
    ngx_str_t                 name;
    ngx_str_t                 prefix;
    ngx_str_t                 secret;
} ngx_gov_region_t;


typedef struct {
    ngx_array_t               materials;    /* ngx_gov_material_t */
    ngx_array_t               fields;       /* ngx_gov_field_t */
    ngx_array_t               items;        /* ngx_gov_item_t */
    ngx_array_t               bundles;      /* ngx_gov_bundle_t */
    ngx_array_t               regions;      /* ngx_gov_region_t */
    gov_calendar_t            calendar;
    ngx_msec_t                dispatch_timeout;
    ngx_flag_t                legacy_signatures;
    ngx_str_t                 list;         /* GET /bundles/ JSON */
} ngx_gov_bundles_conf_t;


#define NGX_HTTP_GOV_AUTH_OFF       0
#define NGX_HTTP_GOV_AUTH_OPTIONAL  1
#define NGX_HTTP_GOV_AUTH_REQUIRED  2

#define NGX_HTTP_GOV_SAMESITE_LAX     0
#define NGX_HTTP_GOV_SAMESITE_STRICT  1
#define NGX_HTTP_GOV_SAMESITE_NONE    2


/* materials uploaded (gov_upload_store and friends) */
typedef struct {
    ngx_str_t                 path;         /* empty: no uploads */
    ngx_path_t               *temp;         /* PATH/.tmp, made by nginx */
    off_t                     max_size;
    ngx_uint_t                types;        /* 1 << GOV_TYPE_* */
    time_t                    keep_unused;
    ngx_str_t                 link_secret;
    time_t                    link_ttl;
    ngx_str_t                 file;         /* where gov_upload_store is */
    ngx_uint_t                line;
    ngx_str_t                 used_file;    /* the first gov_upload */
    ngx_uint_t                used_line;
} ngx_gov_upload_conf_t;


/* a reader of the events (gov_notify): a consumer group of the stream */
typedef struct {
    ngx_str_t                 uri;          /* the location it is POSTed to */
    ngx_str_t                 types;        /* " step rated ", empty: all */
    ngx_uint_t                archive;      /* gov_archive_notify: its
                                               acknowledgement removes */
} ngx_gov_notify_target_t;


/* the outbox of changes (gov_events) and its readers (gov_notify) */
typedef struct {
    ngx_str_t                 stream;       /* empty: no events */
    ngx_uint_t                maxlen;
    ngx_str_t                 key;          /* PREFIX STREAM */
    ngx_array_t              *notify;       /* ngx_gov_notify_target_t */
    ngx_msec_t                claim_idle;   /* gov_notify_claim_idle */
    ngx_str_t                 since;        /* "MS-0": loaded at, a new
                                               group's first event */
    ngx_msec_t                keep_finished;  /* gov_retention, 0: off */
    ngx_msec_t                keep_withdrawn;
    ngx_msec_t                sweep_every;  /* 0: from the times */
    ngx_str_t                 retention_file;  /* where it was set */
    ngx_uint_t                retention_line;
} ngx_gov_events_conf_t;


/* a waiting room (gov_queue_zone, CONTRACT section 11) */
typedef struct {
    ngx_str_t                 name;
    ngx_str_t                 cookie;       /* "GOVQ_" NAME */
    ngx_uint_t                index;        /* in the metrics */
    ngx_uint_t                rate;         /* admissions per 1000 s */
    time_t                    session;
    time_t                    max_wait;     /* 0: no limit */
    u_char                    key[64];      /* the zone's HMAC key, per */
    size_t                    key_len;      /* worker, as Redis holds it */
} ngx_gov_queue_t;


typedef struct {
    ngx_gov_redis_conf_t     *redis;
    ngx_str_t                 redis_prefix;

    gov_keyset_t              keyset;
    ngx_uint_t                jwt_cache;    /* entries per worker, 0: off */

    ngx_gov_bundles_conf_t    bundles;
    ngx_http_conf_ctx_t      *dispatch_ctx; /* the server of gov_bundles */

    ngx_shm_zone_t           *pcache_zone;
    ngx_msec_t                pcache_ttl;
    ngx_msec_t                pcache_track; /* 0: off */

    ngx_array_t              *templates;    /* ngx_gov_template_t */
    ngx_str_t                 csp;          /* the pages' policy */

    ngx_gov_upload_conf_t     upload;
    ngx_gov_events_conf_t     events;

    ngx_array_t              *oidc;         /* ngx_gov_oidc_t * */
    ngx_array_t              *oidc_uses;    /* the locations using them */

    ngx_array_t              *queues;       /* ngx_gov_queue_t * */

    ngx_str_t                 archive_uri;      /* gov_archive */

    ngx_array_t              *data_keys;    /* gov_seal_key_t, the first
                                               seals */

    ngx_str_t                 elicense_uri;     /* gov_elicense */
    time_t                    elicense_cache;

    ngx_str_t                 operator_claim;   /* gov_operator_claim */
    ngx_str_t                 operator_value;

    ngx_uint_t                breaker_failures; /* gov_breaker, 0: off */
    ngx_msec_t                breaker_open;
} ngx_http_gov_main_conf_t;


#define NGX_GOV_BREAKER_FAILURES_DEFAULT  5
#define NGX_GOV_BREAKER_OPEN_DEFAULT      10000


typedef struct {
    ngx_uint_t                handler;      /* ngx_gov_handler_e */

    ngx_uint_t                auth;
    ngx_str_t                 login_url;
    ngx_flag_t                identity_headers;

    ngx_str_t                 issuer;
    ngx_str_t                 audience;
    time_t                    leeway;
    ngx_array_t              *require;      /* of ngx_str_t */
    gov_claim_policy_t        policy;

    ngx_str_t                 cookie_name;
    ngx_uint_t                cookie_secure;
    ngx_uint_t                cookie_samesite;
    ngx_str_t                 cookie_domain;
    time_t                    session_idle;
    time_t                    session_absolute;

    ngx_msec_t                progress_refresh;

    ngx_array_t              *trusted_origins;  /* of ngx_str_t */

    ngx_gov_oidc_t           *oidc;         /* gov_login oidc=, callback */

    ngx_gov_queue_t          *queue;        /* gov_queue */

    ngx_msec_t                stats_ttl;    /* gov_stats ttl= */

    ngx_flag_t                security_headers;
    time_t                    hsts;         /* max-age, 0: off */
} ngx_http_gov_loc_conf_t;


extern ngx_module_t  ngx_http_gov_module;


#endif /* _NGX_GOV_CONF_H_INCLUDED_ */
