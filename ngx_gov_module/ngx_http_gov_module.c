
/*
 * Copyright (C) ngx_gov_module authors
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_gov_module.h"
#include "ngx_gov_redis.h"
#include "ngx_gov_metrics.h"


typedef struct {
    ngx_http_request_t       *request;
} ngx_http_gov_health_ctx_t;


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

static void ngx_http_gov_redis_cleanup(void *data);
static ngx_int_t ngx_http_gov_log_handler(ngx_http_request_t *r);
static ngx_int_t ngx_http_gov_health_handler(ngx_http_request_t *r);
static void ngx_http_gov_health_done(redisReply *reply, void *data);


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

      ngx_null_command
};


static ngx_http_module_t  ngx_http_gov_module_ctx = {
    NULL,                                  /* preconfiguration */
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

    return NGX_OK;
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
     */

    return gmcf;
}


static char *
ngx_http_gov_init_main_conf(ngx_conf_t *cf, void *conf)
{
    ngx_http_gov_main_conf_t  *gmcf = conf;

    if (gmcf->redis_prefix.data == NULL) {
        ngx_str_set(&gmcf->redis_prefix, "gov:");
    }

    return NGX_CONF_OK;
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
     */

    return glcf;
}


static char *
ngx_http_gov_merge_loc_conf(ngx_conf_t *cf, void *parent, void *child)
{
    /* handlers are per location and never inherited */

    return NGX_CONF_OK;
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
        return ngx_gov_redis_init_process(cycle, gmcf->redis);
    }

    return NGX_OK;
}


static void
ngx_http_gov_exit_process(ngx_cycle_t *cycle)
{
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

    ngx_http_core_loc_conf_t  *clcf;

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
    ngx_pool_cleanup_t    *cln;
    ngx_gov_redis_cmd_t  **owner;

    cln = ngx_pool_cleanup_add(r->pool, sizeof(ngx_gov_redis_cmd_t *));
    if (cln == NULL) {
        return NGX_ERROR;
    }

    owner = cln->data;
    *owner = NULL;

    cln->handler = ngx_http_gov_redis_cleanup;

    return ngx_gov_redis_send(r->connection->log, handler, data, owner,
                              argc, argv, argvlen);
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
ngx_http_gov_unavailable(ngx_http_request_t *r)
{
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

    if (!(r->method & (NGX_HTTP_GET|NGX_HTTP_HEAD))) {
        return NGX_HTTP_NOT_ALLOWED;
    }

    rc = ngx_http_discard_request_body(r);
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
