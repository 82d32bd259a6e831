
/*
 * Copyright (C) ngx_gov_module authors
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_gov_metrics.h"
#include "ngx_gov_idmark.h"
#include "ngx_gov_tally.h"
#include "ngx_gov_stats.h"
#include "ngx_gov_elicense.h"
#include "ngx_gov_seal.h"
#include "ngx_gov_breaker.h"
#include "ngx_gov_route.h"
#include "ngx_gov_lock.h"
#include "ngx_gov_events.h"
#include "ngx_gov_pcache.h"
#include "ngx_gov_answer.h"
#include "ngx_gov_page.h"
#include "ngx_gov_token.h"
#include "ngx_gov_session.h"
#include "ngx_gov_oidc.h"
#include "ngx_gov_queue.h"
#include "ngx_gov_prefs.h"
#include "ngx_gov_access.h"
#include "ngx_gov_health.h"
#include "ngx_gov_status.h"
#include "ngx_gov_bundle_conf.h"
#include "ngx_gov_guide.h"
#include "ngx_gov_dispatch.h"
#include "ngx_gov_archive.h"
#include "ngx_gov_notify.h"
#include "ngx_gov_callback.h"
#include "ngx_gov_progress.h"
#include "ngx_gov_upload.h"


static ngx_int_t ngx_http_gov_preconfiguration(ngx_conf_t *cf);
static ngx_int_t ngx_http_gov_postconfiguration(ngx_conf_t *cf);
static void *ngx_http_gov_create_main_conf(ngx_conf_t *cf);
static char *ngx_http_gov_init_main_conf(ngx_conf_t *cf, void *conf);
static void *ngx_http_gov_create_loc_conf(ngx_conf_t *cf);
static char *ngx_http_gov_merge_loc_conf(ngx_conf_t *cf, void *parent,
    void *child);
static ngx_int_t ngx_http_gov_init_process(ngx_cycle_t *cycle);
static void ngx_http_gov_exit_process(ngx_cycle_t *cycle);

static char *ngx_http_gov_redis(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_http_gov_handler_directive(ngx_conf_t *cf,
    ngx_command_t *cmd, void *conf);

static ngx_int_t ngx_http_gov_log_handler(ngx_http_request_t *r);


static ngx_conf_enum_t  ngx_http_gov_auth_modes[] = {
    { ngx_string("off"), NGX_HTTP_GOV_AUTH_OFF },
    { ngx_string("optional"), NGX_HTTP_GOV_AUTH_OPTIONAL },
    { ngx_string("required"), NGX_HTTP_GOV_AUTH_REQUIRED },
    { ngx_null_string, 0 }
};


static ngx_command_t  ngx_http_gov_commands[] = {

    { ngx_string("gov_redis"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_1MORE,
      ngx_http_gov_redis,
      NGX_HTTP_MAIN_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("gov_redis_prefix"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_str_slot,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_http_gov_main_conf_t, redis_prefix),
      NULL },

    { ngx_string("gov_status"),
      NGX_HTTP_LOC_CONF|NGX_CONF_NOARGS,
      ngx_http_gov_handler_directive,
      NGX_HTTP_LOC_CONF_OFFSET,
      NGX_GOV_H_STATUS,
      NULL },

    { ngx_string("gov_health"),
      NGX_HTTP_LOC_CONF|NGX_CONF_NOARGS,
      ngx_http_gov_handler_directive,
      NGX_HTTP_LOC_CONF_OFFSET,
      NGX_GOV_H_HEALTH,
      NULL },

    { ngx_string("gov_login"),
      NGX_HTTP_LOC_CONF|NGX_CONF_NOARGS|NGX_CONF_TAKE1,
      ngx_http_gov_handler_directive,
      NGX_HTTP_LOC_CONF_OFFSET,
      NGX_GOV_H_LOGIN,
      NULL },

    { ngx_string("gov_queue_zone"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_2MORE,
      ngx_gov_queue_zone_directive,
      NGX_HTTP_MAIN_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("gov_queue"),
      NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_gov_queue_directive,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("gov_oidc"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_BLOCK|NGX_CONF_TAKE1,
      ngx_gov_oidc_block,
      NGX_HTTP_MAIN_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("gov_text_size"),
      NGX_HTTP_LOC_CONF|NGX_CONF_NOARGS,
      ngx_http_gov_handler_directive,
      NGX_HTTP_LOC_CONF_OFFSET,
      NGX_GOV_H_TEXT_SIZE,
      NULL },

    { ngx_string("gov_oidc_callback"),
      NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_http_gov_handler_directive,
      NGX_HTTP_LOC_CONF_OFFSET,
      NGX_GOV_H_OIDC_CALLBACK,
      NULL },

    { ngx_string("gov_logout"),
      NGX_HTTP_LOC_CONF|NGX_CONF_NOARGS,
      ngx_http_gov_handler_directive,
      NGX_HTTP_LOC_CONF_OFFSET,
      NGX_GOV_H_LOGOUT,
      NULL },

    { ngx_string("gov_stats"),
      NGX_HTTP_LOC_CONF|NGX_CONF_NOARGS|NGX_CONF_TAKE1,
      ngx_http_gov_handler_directive,
      NGX_HTTP_LOC_CONF_OFFSET,
      NGX_GOV_H_STATS,
      NULL },

    { ngx_string("gov_breaker"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_1MORE,
      ngx_gov_breaker_directive,
      NGX_HTTP_MAIN_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("gov_elicense"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE12,
      ngx_gov_elicense_directive,
      NGX_HTTP_MAIN_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("gov_operator_claim"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE2,
      ngx_gov_operator_claim_directive,
      NGX_HTTP_MAIN_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("gov_bundles"),
      NGX_HTTP_LOC_CONF|NGX_CONF_NOARGS,
      ngx_http_gov_handler_directive,
      NGX_HTTP_LOC_CONF_OFFSET,
      NGX_GOV_H_BUNDLES,
      NULL },

    { ngx_string("gov_callback"),
      NGX_HTTP_LOC_CONF|NGX_CONF_NOARGS,
      ngx_http_gov_handler_directive,
      NGX_HTTP_LOC_CONF_OFFSET,
      NGX_GOV_H_CALLBACK,
      NULL },

    { ngx_string("gov_progress"),
      NGX_HTTP_LOC_CONF|NGX_CONF_NOARGS,
      ngx_http_gov_handler_directive,
      NGX_HTTP_LOC_CONF_OFFSET,
      NGX_GOV_H_PROGRESS,
      NULL },

    { ngx_string("gov_upload"),
      NGX_HTTP_LOC_CONF|NGX_CONF_NOARGS,
      ngx_http_gov_handler_directive,
      NGX_HTTP_LOC_CONF_OFFSET,
      NGX_GOV_H_UPLOAD,
      NULL },

    { ngx_string("gov_upload_store"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_1MORE,
      ngx_gov_upload_store_directive,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_http_gov_main_conf_t, upload),
      NULL },

    { ngx_string("gov_upload_link_secret_file"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_gov_upload_secret_directive,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_http_gov_main_conf_t, upload),
      NULL },

    { ngx_string("gov_upload_link_ttl"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_sec_slot,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_http_gov_main_conf_t, upload.link_ttl),
      NULL },

    { ngx_string("gov_events"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_NOARGS|NGX_CONF_TAKE12,
      ngx_gov_events_directive,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_http_gov_main_conf_t, events),
      NULL },

    { ngx_string("gov_notify"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE12,
      ngx_gov_notify_directive,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_http_gov_main_conf_t, events),
      NULL },

    { ngx_string("gov_archive_notify"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_gov_archive_notify_directive,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_http_gov_main_conf_t, events),
      NULL },

    { ngx_string("gov_retention"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE123,
      ngx_gov_retention_directive,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_http_gov_main_conf_t, events),
      NULL },

    { ngx_string("gov_archive"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_gov_archive_directive,
      NGX_HTTP_MAIN_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("gov_notify_claim_idle"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_msec_slot,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_http_gov_main_conf_t, events.claim_idle),
      NULL },

    { ngx_string("gov_trusted_origin"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_CONF_1MORE,
      ngx_http_gov_trusted_origin,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("gov_progress_cache"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE123,
      ngx_gov_pcache_directive,
      NGX_HTTP_MAIN_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("gov_progress_refresh"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_msec_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_gov_loc_conf_t, progress_refresh),
      NULL },

    { ngx_string("gov_data_key_file"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE12,
      ngx_gov_data_key_directive,
      NGX_HTTP_MAIN_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("gov_security_headers"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_FLAG,
      ngx_conf_set_flag_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_gov_loc_conf_t, security_headers),
      NULL },

    { ngx_string("gov_hsts"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_gov_hsts_directive,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("gov_templates"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_gov_templates_directive,
      NGX_HTTP_MAIN_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("gov_material"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE2|NGX_CONF_TAKE3|NGX_CONF_TAKE4,
      ngx_gov_material,
      NGX_HTTP_MAIN_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("gov_field"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_2MORE,
      ngx_gov_field,
      NGX_HTTP_MAIN_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("gov_item"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_BLOCK|NGX_CONF_TAKE1,
      ngx_gov_item,
      NGX_HTTP_MAIN_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("gov_bundle"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_BLOCK|NGX_CONF_TAKE1,
      ngx_gov_bundle,
      NGX_HTTP_MAIN_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("gov_region"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE4,
      ngx_gov_region,
      NGX_HTTP_MAIN_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("gov_calendar"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_gov_calendar,
      NGX_HTTP_MAIN_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("gov_dispatch_timeout"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_msec_slot,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_http_gov_main_conf_t, bundles.dispatch_timeout),
      NULL },

    { ngx_string("gov_callback_legacy_signatures"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_FLAG,
      ngx_conf_set_flag_slot,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_http_gov_main_conf_t, bundles.legacy_signatures),
      NULL },

    { ngx_string("gov_jwt_key_file"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE123,
      ngx_http_gov_jwt_key_file,
      NGX_HTTP_MAIN_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("gov_jwt_cache"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_http_gov_jwt_cache,
      NGX_HTTP_MAIN_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("gov_jwt_issuer"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_str_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_gov_loc_conf_t, issuer),
      NULL },

    { ngx_string("gov_jwt_audience"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_str_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_gov_loc_conf_t, audience),
      NULL },

    { ngx_string("gov_jwt_leeway"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_sec_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_gov_loc_conf_t, leeway),
      NULL },

    { ngx_string("gov_jwt_require"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_1MORE,
      ngx_http_gov_jwt_require,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("gov_session_cookie"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_1MORE,
      ngx_http_gov_session_cookie,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("gov_session_ttl"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE12,
      ngx_http_gov_session_ttl,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("gov_auth"),
      NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_enum_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_gov_loc_conf_t, auth),
      &ngx_http_gov_auth_modes },

    { ngx_string("gov_auth_login_url"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_str_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_gov_loc_conf_t, login_url),
      NULL },

    { ngx_string("gov_identity_headers"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_FLAG,
      ngx_conf_set_flag_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_gov_loc_conf_t, identity_headers),
      NULL },

      ngx_null_command
};


static ngx_http_module_t  ngx_http_gov_module_ctx = {
    ngx_http_gov_preconfiguration,         /* preconfiguration */
    ngx_http_gov_postconfiguration,        /* postconfiguration */

    ngx_http_gov_create_main_conf,         /* create main configuration */
    ngx_http_gov_init_main_conf,           /* init main configuration */

    NULL,                                  /* create server configuration */
    NULL,                                  /* merge server configuration */

    ngx_http_gov_create_loc_conf,          /* create location configuration */
    ngx_http_gov_merge_loc_conf            /* merge location configuration */
};


ngx_module_t  ngx_http_gov_module = {
    NGX_MODULE_V1,
    &ngx_http_gov_module_ctx,              /* module context */
    ngx_http_gov_commands,                 /* module directives */
    NGX_HTTP_MODULE,                       /* module type */
    NULL,                                  /* init master */
    NULL,                                  /* init module */
    ngx_http_gov_init_process,             /* init process */
    NULL,                                  /* init thread */
    NULL,                                  /* exit thread */
    ngx_http_gov_exit_process,             /* exit process */
    NULL,                                  /* exit master */
    NGX_MODULE_V1_PADDING
};


static ngx_int_t
ngx_http_gov_preconfiguration(ngx_conf_t *cf)
{
    if (ngx_http_gov_auth_add_variables(cf) != NGX_OK) {
        return NGX_ERROR;
    }

    return ngx_gov_route_add_variables(cf);
}


static ngx_int_t
ngx_http_gov_postconfiguration(ngx_conf_t *cf)
{
    ngx_http_handler_pt        *h;
    ngx_http_core_main_conf_t  *cmcf;

    if (ngx_gov_metrics_add_zone(cf) != NGX_OK
        || ngx_gov_idmark_add_zone(cf) != NGX_OK
        || ngx_gov_lock_add_zone(cf) != NGX_OK
        || ngx_gov_callback_add_zone(cf) != NGX_OK
        || ngx_gov_breaker_add_zone(cf) != NGX_OK
        || ngx_gov_tally_add_zone(cf) != NGX_OK)
    {
        return NGX_ERROR;
    }

    if (ngx_gov_upload_init(cf) != NGX_OK) {
        return NGX_ERROR;
    }

    if (ngx_gov_oidc_postconfiguration(cf) != NGX_OK) {
        return NGX_ERROR;
    }

    if (ngx_gov_queue_postconfiguration(cf) != NGX_OK) {
        return NGX_ERROR;
    }

    /* the answer service draws browsers' error pages through the pages */
    ngx_gov_answer_set_error_page(ngx_http_gov_error_page);

    cmcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_core_module);

    h = ngx_array_push(&cmcf->phases[NGX_HTTP_LOG_PHASE].handlers);
    if (h == NULL) {
        return NGX_ERROR;
    }

    *h = ngx_http_gov_log_handler;

    return ngx_http_gov_auth_init(cf);
}


static void *
ngx_http_gov_create_main_conf(ngx_conf_t *cf)
{
    ngx_http_gov_main_conf_t  *gmcf;

    gmcf = ngx_pcalloc(cf->pool, sizeof(ngx_http_gov_main_conf_t));
    if (gmcf == NULL) {
        return NULL;
    }

    /*
     * set by ngx_pcalloc():
     *
     *     gmcf->redis = NULL;
     *     gmcf->redis_prefix = { 0, NULL };
     *     gmcf->keyset = { NULL, 0, 0, NULL };
     */

    gmcf->jwt_cache = NGX_CONF_UNSET_UINT;
    gmcf->breaker_failures = NGX_CONF_UNSET_UINT;
    gmcf->breaker_open = NGX_CONF_UNSET_MSEC;
    gmcf->bundles.dispatch_timeout = NGX_CONF_UNSET_MSEC;
    gmcf->bundles.legacy_signatures = NGX_CONF_UNSET;
    ngx_gov_upload_create_conf(&gmcf->upload);
    ngx_gov_events_create_conf(&gmcf->events);

    if (ngx_array_init(&gmcf->bundles.materials, cf->pool, 8,
                       sizeof(ngx_gov_material_t)) != NGX_OK
        || ngx_array_init(&gmcf->bundles.fields, cf->pool, 8,
                          sizeof(ngx_gov_field_t)) != NGX_OK
        || ngx_array_init(&gmcf->bundles.items, cf->pool, 8,
                          sizeof(ngx_gov_item_t)) != NGX_OK
        || ngx_array_init(&gmcf->bundles.bundles, cf->pool, 4,
                          sizeof(ngx_gov_bundle_t)) != NGX_OK
        || ngx_array_init(&gmcf->bundles.regions, cf->pool, 2,
                          sizeof(ngx_gov_region_t)) != NGX_OK)
    {
        return NULL;
    }

    return gmcf;
}


static char *
ngx_http_gov_init_main_conf(ngx_conf_t *cf, void *conf)
{
    ngx_http_gov_main_conf_t  *gmcf = conf;

    if (gmcf->redis_prefix.data == NULL) {
        ngx_str_set(&gmcf->redis_prefix, "gov:");
    }

    /* the prefix is written into scripts as a Lua string */

    if (ngx_strlchr(gmcf->redis_prefix.data,
                    gmcf->redis_prefix.data + gmcf->redis_prefix.len, '\'')
        || ngx_strlchr(gmcf->redis_prefix.data,
                       gmcf->redis_prefix.data + gmcf->redis_prefix.len, '\\')
        || ngx_strlchr(gmcf->redis_prefix.data,
                       gmcf->redis_prefix.data + gmcf->redis_prefix.len, '\n'))
    {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid \"gov_redis_prefix\" \"%V\": "
                           "no quote, backslash or newline",
                           &gmcf->redis_prefix);
        return NGX_CONF_ERROR;
    }

    /* in a cluster the prefix goes inside a hash tag: {PREFIXn} */

    if ((ngx_strlchr(gmcf->redis_prefix.data,
                     gmcf->redis_prefix.data + gmcf->redis_prefix.len, '{')
         || ngx_strlchr(gmcf->redis_prefix.data,
                        gmcf->redis_prefix.data + gmcf->redis_prefix.len,
                        '}')
         || gmcf->redis_prefix.len > NGX_GOV_REDIS_PREFIX_MAX)
        && gmcf->redis && gmcf->redis->cluster)
    {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid \"gov_redis_prefix\" \"%V\" for "
                           "\"gov_redis cluster=\": no \"{\" or \"}\" "
                           "(the prefix goes inside a hash tag), at most "
                           "%d characters", &gmcf->redis_prefix,
                           NGX_GOV_REDIS_PREFIX_MAX);
        return NGX_CONF_ERROR;
    }

    ngx_conf_init_uint_value(gmcf->jwt_cache, 100000);
    ngx_conf_init_uint_value(gmcf->breaker_failures,
                             NGX_GOV_BREAKER_FAILURES_DEFAULT);
    ngx_conf_init_msec_value(gmcf->breaker_open,
                             NGX_GOV_BREAKER_OPEN_DEFAULT);

    ngx_gov_stats_init_main_conf(gmcf);

    if (ngx_gov_upload_init_conf(cf, &gmcf->upload) != NGX_CONF_OK) {
        return NGX_CONF_ERROR;
    }

    if (ngx_gov_events_init_conf(cf, &gmcf->events, &gmcf->redis_prefix)
        != NGX_CONF_OK)
    {
        return NGX_CONF_ERROR;
    }

    if (ngx_gov_notify_init_conf(cf, gmcf) != NGX_CONF_OK) {
        return NGX_CONF_ERROR;
    }

    if (ngx_gov_archive_init_conf(cf, gmcf) != NGX_CONF_OK) {
        return NGX_CONF_ERROR;
    }

    return ngx_gov_bundles_init_conf(cf, &gmcf->bundles);
}


static void *
ngx_http_gov_create_loc_conf(ngx_conf_t *cf)
{
    ngx_http_gov_loc_conf_t  *glcf;

    glcf = ngx_pcalloc(cf->pool, sizeof(ngx_http_gov_loc_conf_t));
    if (glcf == NULL) {
        return NULL;
    }

    /*
     * set by ngx_pcalloc():
     *
     *     glcf->handler = NGX_GOV_H_NONE;
     *     glcf->login_url = { 0, NULL };
     *     glcf->issuer = { 0, NULL };
     *     glcf->audience = { 0, NULL };
     *     glcf->cookie_name = { 0, NULL };
     *     glcf->cookie_domain = { 0, NULL };
     */

    glcf->security_headers = NGX_CONF_UNSET;
    glcf->hsts = NGX_CONF_UNSET;

    ngx_http_gov_auth_init_loc_conf(glcf);
    ngx_gov_queue_init_loc_conf(glcf);

    return glcf;
}


static char *
ngx_http_gov_merge_loc_conf(ngx_conf_t *cf, void *parent, void *child)
{
    ngx_http_gov_loc_conf_t *prev = parent;
    ngx_http_gov_loc_conf_t *conf = child;

    /* handlers are per location and never inherited */

    ngx_gov_queue_merge_loc_conf(prev, conf);

    ngx_conf_merge_value(conf->security_headers, prev->security_headers, 1);
    ngx_conf_merge_sec_value(conf->hsts, prev->hsts, 180 * 86400);

    return ngx_http_gov_auth_merge_loc_conf(cf, prev, conf);
}


static ngx_int_t
ngx_http_gov_init_process(ngx_cycle_t *cycle)
{
    ngx_http_gov_main_conf_t  *gmcf;

    if (ngx_process != NGX_PROCESS_WORKER
        && ngx_process != NGX_PROCESS_SINGLE)
    {
        return NGX_OK;
    }

    gmcf = ngx_http_cycle_get_module_main_conf(cycle, ngx_http_gov_module);
    if (gmcf == NULL) {
        return NGX_OK;
    }

    if (ngx_gov_metrics_init_process(cycle) != NGX_OK) {
        return NGX_ERROR;
    }

    if (gmcf->redis) {
        if (ngx_gov_redis_init_process(cycle, gmcf->redis) != NGX_OK) {
            return NGX_ERROR;
        }
    }

    if (ngx_gov_pcache_init_process(cycle) != NGX_OK) {
        return NGX_ERROR;
    }

    if (ngx_gov_upload_init_process(cycle) != NGX_OK) {
        return NGX_ERROR;
    }

    if (ngx_gov_dispatch_init_process(cycle) != NGX_OK) {
        return NGX_ERROR;
    }

    if (ngx_gov_archive_init_process(cycle) != NGX_OK) {
        return NGX_ERROR;
    }

    if (ngx_gov_queue_init_process(cycle) != NGX_OK) {
        return NGX_ERROR;
    }

    return ngx_gov_notify_init_process(cycle);
}


static void
ngx_http_gov_exit_process(ngx_cycle_t *cycle)
{
    ngx_gov_notify_exit_process(cycle);
    ngx_gov_archive_exit_process(cycle);
    ngx_gov_queue_exit_process(cycle);
    ngx_gov_dispatch_exit_process(cycle);
    ngx_gov_upload_exit_process(cycle);
    ngx_gov_progress_exit_process(cycle);
    ngx_gov_stats_exit_process(cycle);
    ngx_gov_oidc_exit_process(cycle);
    ngx_http_gov_token_exit_process(cycle);
    ngx_gov_redis_exit_process(cycle);
    ngx_gov_metrics_exit_process(cycle);
}


static char *
ngx_http_gov_redis(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_gov_main_conf_t  *gmcf = conf;

    if (gmcf->redis) {
        return "is duplicate";
    }

    gmcf->redis = ngx_pcalloc(cf->pool, sizeof(ngx_gov_redis_conf_t));
    if (gmcf->redis == NULL) {
        return NGX_CONF_ERROR;
    }

    return ngx_gov_redis_parse(cf, gmcf->redis);
}


static char *
ngx_http_gov_handler_directive(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf)
{
    ngx_http_gov_loc_conf_t  *glcf = conf;

    ngx_str_t                  *value, name;
    ngx_http_core_loc_conf_t   *clcf;
    ngx_http_core_srv_conf_t   *cscf;
    ngx_http_gov_main_conf_t   *gmcf;

    if (glcf->handler != NGX_GOV_H_NONE) {
        return "is duplicate: a location has one gov handler";
    }

    clcf = ngx_http_conf_get_module_loc_conf(cf, ngx_http_core_module);

    if (clcf->handler) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"%V\" conflicts with another content handler "
                           "in this location", &cmd->name);
        return NGX_CONF_ERROR;
    }

    glcf->handler = cmd->offset;

    switch (cmd->offset) {

    case NGX_GOV_H_STATUS:
        clcf->handler = ngx_http_gov_status_handler;
        break;

    case NGX_GOV_H_HEALTH:
        clcf->handler = ngx_http_gov_health_handler;
        break;

    case NGX_GOV_H_LOGIN:
        clcf->handler = ngx_http_gov_login_handler;

        if (cf->args->nelts == 1) {
            break;
        }

        value = cf->args->elts;

        if (ngx_strncmp(value[1].data, "oidc=", 5) != 0
            || value[1].len == 5)
        {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "invalid parameter \"%V\" in gov_login, "
                               "only \"oidc=NAME\"", &value[1]);
            return NGX_CONF_ERROR;
        }

        name.data = value[1].data + 5;
        name.len = value[1].len - 5;
        clcf->handler = ngx_gov_oidc_login_handler;

        return ngx_gov_oidc_use(cf, glcf, &name, 0);

    case NGX_GOV_H_OIDC_CALLBACK:
        clcf->handler = ngx_gov_oidc_callback_handler;
        value = cf->args->elts;

        return ngx_gov_oidc_use(cf, glcf, &value[1], 1);

    case NGX_GOV_H_LOGOUT:
        clcf->handler = ngx_http_gov_logout_handler;
        break;

    case NGX_GOV_H_TEXT_SIZE:
        clcf->handler = ngx_gov_text_size_handler;
        break;

    case NGX_GOV_H_STATS:
        clcf->handler = ngx_gov_stats_handler;

        return ngx_gov_stats_args(cf, glcf);

    case NGX_GOV_H_BUNDLES:
        clcf->handler = ngx_http_gov_bundles_handler;

        /* retries run their subrequests in this location's server */

        gmcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_gov_module);
        cscf = ngx_http_conf_get_module_srv_conf(cf, ngx_http_core_module);

        if (gmcf->dispatch_ctx == NULL) {
            gmcf->dispatch_ctx = cscf->ctx;
        }

        break;

    case NGX_GOV_H_CALLBACK:
        clcf->handler = ngx_http_gov_callback_handler;
        break;

    case NGX_GOV_H_PROGRESS:
        clcf->handler = ngx_http_gov_progress_handler;
        break;

    case NGX_GOV_H_UPLOAD:
        clcf->handler = ngx_gov_upload_handler;

        gmcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_gov_module);

        if (gmcf->upload.used_line == 0) {
            gmcf->upload.used_file = cf->conf_file->file.name;
            gmcf->upload.used_line = cf->conf_file->line;
        }

        break;
    }

    return NGX_CONF_OK;
}


static ngx_int_t
ngx_http_gov_log_handler(ngx_http_request_t *r)
{
    ngx_http_gov_loc_conf_t  *glcf;

    glcf = ngx_http_get_module_loc_conf(r, ngx_http_gov_module);

    if (glcf->handler != NGX_GOV_H_NONE) {
        ngx_gov_metrics_request(glcf->handler, r->headers_out.status);
    }

    return NGX_OK;
}

