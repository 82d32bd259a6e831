
/*
 * Copyright (C) ngx_gov_module authors
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_gov_module.h"
#include "ngx_gov_redis.h"
#include "ngx_gov_metrics.h"
#include "ngx_gov_pcache.h"


typedef struct {
    ngx_http_request_t       *request;
} ngx_http_gov_health_ctx_t;


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
static char *ngx_http_gov_jwt_cache(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);

static void ngx_http_gov_redis_cleanup(void *data);
static ngx_int_t ngx_http_gov_log_handler(ngx_http_request_t *r);
static ngx_int_t ngx_http_gov_health_handler(ngx_http_request_t *r);
static void ngx_http_gov_health_done(redisReply *reply, void *data);


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
      NGX_HTTP_LOC_CONF|NGX_CONF_NOARGS,
      ngx_http_gov_handler_directive,
      NGX_HTTP_LOC_CONF_OFFSET,
      NGX_GOV_H_LOGIN,
      NULL },

    { ngx_string("gov_logout"),
      NGX_HTTP_LOC_CONF|NGX_CONF_NOARGS,
      ngx_http_gov_handler_directive,
      NGX_HTTP_LOC_CONF_OFFSET,
      NGX_GOV_H_LOGOUT,
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

    { ngx_string("gov_progress_cache"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE12,
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

    { ngx_string("gov_templates"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_gov_templates_directive,
      NGX_HTTP_MAIN_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("gov_material"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE23,
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


static ngx_str_t  ngx_http_gov_json_type = ngx_string("application/json");


static ngx_int_t
ngx_http_gov_preconfiguration(ngx_conf_t *cf)
{
    return ngx_http_gov_auth_add_variables(cf);
}


static ngx_int_t
ngx_http_gov_postconfiguration(ngx_conf_t *cf)
{
    ngx_http_handler_pt        *h;
    ngx_http_core_main_conf_t  *cmcf;

    if (ngx_gov_metrics_add_zone(cf) != NGX_OK) {
        return NGX_ERROR;
    }

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
     *     gmcf->keyset = { NULL, 0, 0 };
     */

    gmcf->jwt_cache = NGX_CONF_UNSET_UINT;
    gmcf->bundles.dispatch_timeout = NGX_CONF_UNSET_MSEC;

    if (ngx_array_init(&gmcf->bundles.materials, cf->pool, 8,
                       sizeof(ngx_gov_material_t)) != NGX_OK
        || ngx_array_init(&gmcf->bundles.fields, cf->pool, 8,
                          sizeof(ngx_gov_field_t)) != NGX_OK
        || ngx_array_init(&gmcf->bundles.items, cf->pool, 8,
                          sizeof(ngx_gov_item_t)) != NGX_OK
        || ngx_array_init(&gmcf->bundles.bundles, cf->pool, 4,
                          sizeof(ngx_gov_bundle_t)) != NGX_OK)
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

    ngx_conf_init_uint_value(gmcf->jwt_cache, 10000);

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

    ngx_http_gov_auth_init_loc_conf(glcf);

    return glcf;
}


static char *
ngx_http_gov_merge_loc_conf(ngx_conf_t *cf, void *parent, void *child)
{
    ngx_http_gov_loc_conf_t *prev = parent;
    ngx_http_gov_loc_conf_t *conf = child;

    /* handlers are per location and never inherited */

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

    return ngx_gov_dispatch_init_process(cycle);
}


static void
ngx_http_gov_exit_process(ngx_cycle_t *cycle)
{
    ngx_gov_dispatch_exit_process(cycle);
    ngx_gov_progress_exit_process(cycle);
    ngx_http_gov_auth_exit_process(cycle);
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
        clcf->handler = ngx_gov_metrics_status_handler;
        break;

    case NGX_GOV_H_HEALTH:
        clcf->handler = ngx_http_gov_health_handler;
        break;

    case NGX_GOV_H_LOGIN:
        clcf->handler = ngx_http_gov_login_handler;
        break;

    case NGX_GOV_H_LOGOUT:
        clcf->handler = ngx_http_gov_logout_handler;
        break;

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
    }

    return NGX_CONF_OK;
}


static char *
ngx_http_gov_jwt_cache(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_gov_main_conf_t *gmcf = conf;

    ngx_int_t   n;
    ngx_str_t  *value;

    if (gmcf->jwt_cache != NGX_CONF_UNSET_UINT) {
        return "is duplicate";
    }

    value = cf->args->elts;

    if (ngx_strcmp(value[1].data, "off") == 0) {
        gmcf->jwt_cache = 0;
        return NGX_CONF_OK;
    }

    n = ngx_atoi(value[1].data, value[1].len);

    if (n <= 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid gov_jwt_cache \"%V\", must be \"off\" "
                           "or a number of entries", &value[1]);
        return NGX_CONF_ERROR;
    }

    gmcf->jwt_cache = n;

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


/*
 * Sends a Redis command on behalf of a request.  The command is tied to the
 * request's pool: if the request is finalized first (the client went away),
 * the pool cleanup cancels the command and its handler never runs.  So the
 * handler's data may live in r->pool, and r itself is never handed to the
 * Redis layer.
 */

ngx_int_t
ngx_http_gov_redis_send(ngx_http_request_t *r,
    ngx_gov_redis_handler_pt handler, void *data, int argc,
    const char **argv, const size_t *argvlen)
{
    ngx_gov_redis_args_t  cmd;

    cmd.argc = argc;
    cmd.argv = argv;
    cmd.argvlen = argvlen;

    return ngx_http_gov_redis_send_n(r, handler, data, 1, &cmd);
}


ngx_int_t
ngx_http_gov_redis_send_n(ngx_http_request_t *r,
    ngx_gov_redis_handler_pt handler, void *data, ngx_uint_t n,
    ngx_gov_redis_args_t *cmds)
{
    ngx_pool_cleanup_t    *cln;
    ngx_gov_redis_cmd_t  **owner;

    cln = ngx_pool_cleanup_add(r->pool, sizeof(ngx_gov_redis_cmd_t *));
    if (cln == NULL) {
        return NGX_ERROR;
    }

    owner = cln->data;
    *owner = NULL;

    cln->handler = ngx_http_gov_redis_cleanup;

    return ngx_gov_redis_send_n(r->connection->log, handler, data, owner,
                                n, cmds);
}


static void
ngx_http_gov_redis_cleanup(void *data)
{
    ngx_gov_redis_cancel(data);
}


ngx_int_t
ngx_http_gov_send(ngx_http_request_t *r, ngx_uint_t status,
    ngx_str_t *content_type, ngx_str_t *body)
{
    ngx_int_t     rc;
    ngx_buf_t    *b;
    ngx_chain_t   out;

    r->headers_out.status = status;
    r->headers_out.content_length_n = body->len;
    r->headers_out.content_type = *content_type;
    r->headers_out.content_type_len = content_type->len;
    r->headers_out.content_type_lowcase = NULL;

    if (body->len == 0) {
        r->header_only = 1;
    }

    rc = ngx_http_send_header(r);

    if (rc == NGX_ERROR || rc > NGX_OK || r->header_only) {
        return rc;
    }

    b = ngx_calloc_buf(r->pool);
    if (b == NULL) {
        return NGX_ERROR;
    }

    b->pos = body->data;
    b->last = body->data + body->len;
    b->memory = 1;
    b->last_buf = (r == r->main) ? 1 : 0;
    b->last_in_chain = 1;

    out.buf = b;
    out.next = NULL;

    return ngx_http_output_filter(r, &out);
}


ngx_int_t
ngx_http_gov_send_json(ngx_http_request_t *r, ngx_uint_t status,
    ngx_str_t *body)
{
    return ngx_http_gov_send(r, status, &ngx_http_gov_json_type, body);
}


/* a JSON value (the reference is taken) as compact text and a newline */

ngx_int_t
ngx_http_gov_json_dump(ngx_http_request_t *r, json_t *json, ngx_str_t *out)
{
    char  *dump;

    dump = json ? json_dumps(json, JSON_COMPACT) : NULL;
    json_decref(json);

    if (dump == NULL) {
        return NGX_ERROR;
    }

    out->len = ngx_strlen(dump);
    out->data = ngx_pnalloc(r->pool, out->len + 1);

    if (out->data == NULL) {
        free(dump);
        return NGX_ERROR;
    }

    ngx_memcpy(out->data, dump, out->len);
    out->data[out->len++] = '\n';
    free(dump);

    return NGX_OK;
}


ngx_int_t
ngx_http_gov_json_answer(ngx_http_request_t *r, ngx_uint_t status,
    json_t *json)
{
    ngx_str_t  body;

    if (ngx_http_gov_json_dump(r, json, &body) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return ngx_http_gov_send_json(r, status, &body);
}


/* {"error":"..."}: every error body of the module */

ngx_int_t
ngx_http_gov_error(ngx_http_request_t *r, ngx_uint_t status,
    const char *error)
{
    u_char     *p;
    ngx_int_t   rc;
    ngx_str_t   body;

    if (ngx_http_gov_wants_html(r)) {
        rc = ngx_http_gov_error_page(r, status, error);
        if (rc != NGX_DECLINED) {
            return rc;
        }
    }

    p = ngx_pnalloc(r->pool, sizeof("{\"error\":\"\"}\n") + ngx_strlen(error));
    if (p == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    body.data = p;
    body.len = ngx_sprintf(p, "{\"error\":\"%s\"}\n", error) - p;

    return ngx_http_gov_send_json(r, status, &body);
}


ngx_int_t
ngx_http_gov_add_header(ngx_http_request_t *r, ngx_list_t *list,
    const char *key, ngx_str_t *value)
{
    size_t            len;
    ngx_table_elt_t  *h;

    h = ngx_list_push(list);
    if (h == NULL) {
        return NGX_ERROR;
    }

    len = ngx_strlen(key);

    h->key.data = (u_char *) key;
    h->key.len = len;
    h->value = *value;

    h->lowcase_key = ngx_pnalloc(r->pool, len);
    if (h->lowcase_key == NULL) {
        return NGX_ERROR;
    }

    h->hash = ngx_hash_strlow(h->lowcase_key, h->key.data, len);

    return NGX_OK;
}


ngx_table_elt_t *
ngx_http_gov_find_header(ngx_http_request_t *r, const char *lowcase_key,
    size_t len)
{
    ngx_uint_t        i;
    ngx_list_part_t  *part;
    ngx_table_elt_t  *h;

    part = &r->headers_in.headers.part;
    h = part->elts;

    for (i = 0; /* void */; i++) {

        if (i >= part->nelts) {
            if (part->next == NULL) {
                return NULL;
            }

            part = part->next;
            h = part->elts;
            i = 0;
        }

        if (h[i].key.len == len
            && ngx_strncmp(h[i].lowcase_key, lowcase_key, len) == 0)
        {
            return &h[i];
        }
    }
}


/*
 * A redirect's Location, kept as given: a relative path stays relative
 * (RFC 7231), so that it can only ever lead back to this origin.
 */

ngx_int_t
ngx_http_gov_location(ngx_http_request_t *r, ngx_str_t *location)
{
    ngx_http_clear_location(r);

    return ngx_http_gov_add_header(r, &r->headers_out.headers, "Location",
                                   location);
}


/*
 * Overwrites every occurrence of a secret taken from the query string (a
 * token, a query code) in the request line and URI with '*', so that
 * neither the access log nor error log lines ever hold it whole.
 */

void
ngx_http_gov_mask(ngx_http_request_t *r, ngx_str_t *secret)
{
    u_char      *p, *last, *copy;
    ngx_uint_t   i;
    ngx_str_t   *where[3];

    if (secret->len < 4) {
        return;
    }

    /* the secret may itself lie in the buffer being masked */

    copy = ngx_pnalloc(r->pool, secret->len);
    if (copy == NULL) {
        return;
    }

    ngx_memcpy(copy, secret->data, secret->len);

    where[0] = &r->request_line;
    where[1] = &r->unparsed_uri;
    where[2] = &r->args;

    for (i = 0; i < 3; i++) {
        if (where[i]->data == NULL || where[i]->len < secret->len) {
            continue;
        }

        p = where[i]->data;
        last = where[i]->data + where[i]->len - secret->len;

        while (p <= last) {
            if (*p == *copy && ngx_memcmp(p, copy, secret->len) == 0) {
                ngx_memset(p, '*', secret->len);
                p += secret->len;
                continue;
            }

            p++;
        }
    }
}


/* a browser navigation: the client takes HTML */

ngx_uint_t
ngx_http_gov_wants_html(ngx_http_request_t *r)
{
    ngx_table_elt_t  *accept;

    accept = ngx_http_gov_find_header(r, "accept", 6);

    if (accept == NULL) {
        return 0;
    }

    return ngx_strlcasestrn(accept->value.data,
                            accept->value.data + accept->value.len,
                            (u_char *) "text/html", 9 - 1)
           != NULL;
}


/* a GET or HEAD, its body (if any) discarded; else 405 */

ngx_int_t
ngx_http_gov_get_only(ngx_http_request_t *r)
{
    if (!(r->method & (NGX_HTTP_GET|NGX_HTTP_HEAD))) {
        return NGX_HTTP_NOT_ALLOWED;
    }

    return ngx_http_discard_request_body(r);
}


/* the request body, in memory and in one piece */

ngx_int_t
ngx_http_gov_read_body(ngx_http_request_t *r, ngx_str_t *body)
{
    u_char       *p;
    size_t        len;
    ngx_buf_t    *b;
    ngx_chain_t  *cl;

    ngx_str_null(body);

    if (r->request_body == NULL || r->request_body->bufs == NULL) {
        return NGX_OK;
    }

    if (r->request_body->temp_file) {
        /* larger than client_body_buffer_size: too large for us */
        return NGX_HTTP_REQUEST_ENTITY_TOO_LARGE;
    }

    len = 0;

    for (cl = r->request_body->bufs; cl; cl = cl->next) {
        b = cl->buf;

        if (b->in_file) {
            return NGX_HTTP_REQUEST_ENTITY_TOO_LARGE;
        }

        len += b->last - b->pos;
    }

    if (r->request_body->bufs->next == NULL) {
        body->data = r->request_body->bufs->buf->pos;
        body->len = len;
        return NGX_OK;
    }

    body->data = ngx_pnalloc(r->pool, len);
    if (body->data == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    p = body->data;

    for (cl = r->request_body->bufs; cl; cl = cl->next) {
        p = ngx_cpymem(p, cl->buf->pos, cl->buf->last - cl->buf->pos);
    }

    body->len = len;

    return NGX_OK;
}


ngx_int_t
ngx_http_gov_unavailable(ngx_http_request_t *r)
{
    ngx_int_t         rc;
    ngx_table_elt_t  *h;

    static ngx_str_t  body =
        ngx_string("{\"error\":\"unavailable\",\"reason\":\"storage\"}\n");

    h = ngx_list_push(&r->headers_out.headers);
    if (h == NULL) {
        return NGX_ERROR;
    }

    h->hash = 1;
    ngx_str_set(&h->key, "Retry-After");
    ngx_str_set(&h->value, "1");

    if (ngx_http_gov_wants_html(r)) {
        rc = ngx_http_gov_error_page(r, NGX_HTTP_SERVICE_UNAVAILABLE,
                                     "unavailable");
        if (rc != NGX_DECLINED) {
            return rc;
        }
    }

    return ngx_http_gov_send(r, NGX_HTTP_SERVICE_UNAVAILABLE,
                             &ngx_http_gov_json_type, &body);
}


static ngx_int_t
ngx_http_gov_health_handler(ngx_http_request_t *r)
{
    ngx_int_t                   rc;
    ngx_http_gov_main_conf_t   *gmcf;
    ngx_http_gov_health_ctx_t  *ctx;

    static const char   *argv[] = { "PING" };
    static const size_t  argvlen[] = { 4 };
    static ngx_str_t     off =
        ngx_string("{\"status\":\"ok\",\"redis\":\"off\"}\n");

    rc = ngx_http_gov_get_only(r);
    if (rc != NGX_OK) {
        return rc;
    }

    gmcf = ngx_http_get_module_main_conf(r, ngx_http_gov_module);

    if (gmcf->redis == NULL) {
        return ngx_http_gov_send(r, NGX_HTTP_OK, &ngx_http_gov_json_type,
                                 &off);
    }

    ctx = ngx_palloc(r->pool, sizeof(ngx_http_gov_health_ctx_t));
    if (ctx == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ctx->request = r;

    rc = ngx_http_gov_redis_send(r, ngx_http_gov_health_done, ctx,
                                 1, argv, argvlen);

    if (rc == NGX_DECLINED) {
        return ngx_http_gov_unavailable(r);
    }

    if (rc != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    r->main->count++;

    if (!r->discard_body) {
        /* notice a client that goes away while Redis answers */
        r->read_event_handler = ngx_http_test_reading;
    }

    return NGX_DONE;
}


static void
ngx_http_gov_health_done(redisReply *reply, void *data)
{
    ngx_http_gov_health_ctx_t *ctx = data;

    ngx_int_t            rc;
    ngx_connection_t    *c;
    ngx_http_request_t  *r;

    static ngx_str_t  ok = ngx_string("{\"status\":\"ok\",\"redis\":\"up\"}\n");

    r = ctx->request;
    c = r->connection;

    if (reply && reply->type == REDIS_REPLY_STATUS) {
        rc = ngx_http_gov_send(r, NGX_HTTP_OK, &ngx_http_gov_json_type, &ok);

    } else {
        rc = ngx_http_gov_unavailable(r);
    }

    ngx_http_finalize_request(r, rc);
    ngx_http_run_posted_requests(c);
}
