
/*
 * Copyright (C) ngx_gov_module authors
 */


/*
 * gov_health: a readiness probe that asks Redis for a PING.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_gov_conf.h"
#include "ngx_gov_answer.h"
#include "ngx_gov_health.h"


typedef struct {
    ngx_http_request_t       *request;
} ngx_http_gov_health_ctx_t;


static void ngx_http_gov_health_done(redisReply *reply, void *data);


ngx_int_t
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
        return ngx_http_gov_send_json(r, NGX_HTTP_OK,
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
        rc = ngx_http_gov_send_json(r, NGX_HTTP_OK, &ok);

    } else {
        rc = ngx_http_gov_unavailable(r);
    }

    ngx_http_finalize_request(r, rc);
    ngx_http_run_posted_requests(c);
}
