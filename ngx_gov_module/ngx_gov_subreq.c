
/*
 * Copyright (C) ngx_gov_module authors
 */


/*
 * Subrequests with headers of their own: a department's step, a
 * notification, a request to an identity provider.  Background and in
 * memory: the request they hang from reads the answer in its
 * post-subrequest handler.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_gov_answer.h"
#include "ngx_gov_breaker.h"
#include "ngx_gov_subreq.h"


typedef struct {
    ngx_http_post_subrequest_t   ps;        /* what nginx calls */
    ngx_http_post_subrequest_t  *user;      /* what the caller gave */
    ngx_uint_t                   called;
    ngx_uint_t                   slot;      /* the target's breaker */
    ngx_uint_t                   probe;     /* its half-open probe */
} ngx_gov_subreq_once_t;


static ngx_int_t ngx_gov_subrequest_done(ngx_http_request_t *sr, void *data,
    ngx_int_t rc);


static ngx_str_t   ngx_gov_subreq_post = ngx_string("POST ");

/* the breaker of the subrequest whose handler runs now */
static ngx_uint_t  ngx_gov_subreq_slot = NGX_GOV_BREAKER_NONE;


/*
 * nginx may run a subrequest's completion handler twice: when the proxy
 * gives up (502, 504) the subrequest is finalized with the error, then
 * again as its error answer ends.  The caller's handler is called once,
 * with the first.
 */

ngx_http_post_subrequest_t *
ngx_gov_subrequest_once(ngx_pool_t *pool, ngx_http_post_subrequest_t *ps)
{
    ngx_gov_subreq_once_t  *once;

    if (ps == NULL) {
        return NULL;
    }

    once = ngx_pcalloc(pool, sizeof(ngx_gov_subreq_once_t));
    if (once == NULL) {
        return NULL;
    }

    once->ps.handler = ngx_gov_subrequest_done;
    once->ps.data = once;
    once->user = ps;
    once->slot = NGX_GOV_BREAKER_NONE;

    return &once->ps;
}


ngx_int_t
ngx_gov_subrequest_guard(ngx_http_request_t *r, ngx_str_t *target,
    ngx_http_post_subrequest_t *ps)
{
    ngx_msec_t              left;
    ngx_gov_subreq_once_t  *once;

    once = (ngx_gov_subreq_once_t *) ps;

    if (ngx_gov_breaker_ask(r->connection->log, target, &once->slot,
                            &once->probe, &left)
        == NGX_DECLINED)
    {
        ngx_log_debug2(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                       "gov subrequest to \"%V\" not sent: its breaker is "
                       "open for %M ms", target, left);
        return NGX_DECLINED;
    }

    return NGX_OK;
}


time_t
ngx_gov_subrequest_retry_after(ngx_str_t *target)
{
    time_t  left;

    left = ngx_gov_breaker_left(target);

    return left > 0 ? left : 1;
}


ngx_uint_t
ngx_gov_subrequest_say(u_char *buf, ngx_str_t *more)
{
    return ngx_gov_breaker_say(ngx_gov_subreq_slot, buf, more);
}


static ngx_int_t
ngx_gov_subrequest_done(ngx_http_request_t *sr, void *data, ngx_int_t rc)
{
    ngx_gov_subreq_once_t *once = data;

    ngx_int_t   rv;
    ngx_str_t   body;
    ngx_uint_t  status;

    if (once->called++) {
        ngx_log_debug1(NGX_LOG_DEBUG_HTTP, sr->connection->log, 0,
                       "gov subrequest done again (%i), already answered",
                       rc);
        return rc;
    }

    if (once->slot != NGX_GOV_BREAKER_NONE) {
        status = ngx_gov_subrequest_answer(sr, rc, &body);
        ngx_gov_breaker_tell(sr->connection->log, once->slot, once->probe,
                             status);
    }

    ngx_gov_subreq_slot = once->slot;

    rv = once->user->handler(sr, once->user->data, rc);

    ngx_gov_subreq_slot = NGX_GOV_BREAKER_NONE;

    return rv;
}


char *
ngx_gov_subrequest_conf_uri(ngx_conf_t *cf, ngx_command_t *cmd,
    ngx_str_t *uri, ngx_uint_t no_args)
{
    ngx_uint_t  i;

    if (uri->len == 0 || uri->data[0] != '/'
        || (no_args && ngx_strlchr(uri->data, uri->data + uri->len, '?')))
    {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid URI \"%V\" in \"%V\": a location of the "
                           "server with gov_bundles, starting with \"/\"%s",
                           uri, &cmd->name,
                           no_args ? ", without arguments" : "");
        return NGX_CONF_ERROR;
    }

    for (i = 0; i < uri->len; i++) {
        if (uri->data[i] <= ' ' || uri->data[i] == '"'
            || uri->data[i] >= 0x7f)
        {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "invalid URI \"%V\" in \"%V\": printable "
                               "ASCII only", uri, &cmd->name);
            return NGX_CONF_ERROR;
        }
    }

    return NGX_CONF_OK;
}


ngx_int_t
ngx_gov_subrequest(ngx_http_request_t *r, ngx_str_t *uri, ngx_str_t *args,
    const char *content_type, ngx_str_t *payload, const char **names,
    ngx_str_t *values, ngx_uint_t n, ngx_http_post_subrequest_t *ps,
    ngx_http_request_t **srp)
{
    return ngx_gov_subrequest_at(r, uri, uri, args, content_type, payload,
                                 names, values, n, ps, srp);
}


ngx_int_t
ngx_gov_subrequest_at(ngx_http_request_t *r, ngx_str_t *target,
    ngx_str_t *uri, ngx_str_t *args, const char *content_type,
    ngx_str_t *payload, const char **names, ngx_str_t *values, ngx_uint_t n,
    ngx_http_post_subrequest_t *ps, ngx_http_request_t **srp)
{
    u_char                   *p;
    ngx_buf_t                *b;
    ngx_str_t                 value, server;
    ngx_uint_t                i;
    ngx_chain_t              *cl;
    ngx_table_elt_t          *first;
    ngx_http_request_t       *sr;
    ngx_http_request_body_t  *rb;

    if (ps) {
        ps = ngx_gov_subrequest_once(r->pool, ps);
        if (ps == NULL) {
            return NGX_ERROR;
        }

        if (ngx_gov_subrequest_guard(r, target, ps) != NGX_OK) {
            return NGX_DECLINED;
        }
    }

    if (ngx_http_subrequest(r, uri, args, &sr, ps,
                            NGX_HTTP_SUBREQUEST_IN_MEMORY
                            |NGX_HTTP_SUBREQUEST_BACKGROUND)
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    if (srp) {
        *srp = sr;
    }

    server = r->headers_in.server;
    ngx_memzero(&sr->headers_in, sizeof(ngx_http_headers_in_t));
    sr->headers_in.server = server;
    sr->headers_in.keep_alive_n = -1;
    sr->headers_in.content_length_n = -1;

    if (ngx_list_init(&sr->headers_in.headers, r->pool, 8,
                      sizeof(ngx_table_elt_t))
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    if (payload == NULL) {
        /* a GET: the body of the request it hangs from is not its own */
        sr->request_body = NULL;
        goto headers;
    }

    sr->method = NGX_HTTP_POST;
    sr->method_name = ngx_gov_subreq_post;
    sr->method_name.len--;
    sr->headers_in.content_length_n = payload->len;

    value.data = (u_char *) content_type;
    value.len = ngx_strlen(content_type);

    if (ngx_http_gov_add_header(sr, &sr->headers_in.headers, "Content-Type",
                                &value)
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    p = ngx_pnalloc(r->pool, NGX_SIZE_T_LEN);
    if (p == NULL) {
        return NGX_ERROR;
    }

    value.data = p;
    value.len = ngx_sprintf(p, "%uz", payload->len) - p;

    if (ngx_http_gov_add_header(sr, &sr->headers_in.headers, "Content-Length",
                                &value)
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    /* a fresh list: all in its first part, Content-Type first */
    first = sr->headers_in.headers.part.elts;
    sr->headers_in.content_type = first;
    sr->headers_in.content_length = first + 1;

    rb = ngx_pcalloc(r->pool, sizeof(ngx_http_request_body_t));
    b = ngx_calloc_buf(r->pool);
    cl = ngx_alloc_chain_link(r->pool);

    if (rb == NULL || b == NULL || cl == NULL) {
        return NGX_ERROR;
    }

    b->pos = payload->data;
    b->last = payload->data + payload->len;
    b->start = b->pos;
    b->end = b->last;
    b->memory = 1;
    b->last_buf = 1;

    cl->buf = b;
    cl->next = NULL;

    rb->bufs = cl;
    rb->buf = b;
    rb->rest = 0;

    sr->request_body = rb;

headers:

    for (i = 0; i < n; i++) {
        if (ngx_http_gov_add_header(sr, &sr->headers_in.headers, names[i],
                                    &values[i])
            != NGX_OK)
        {
            return NGX_ERROR;
        }
    }

    return NGX_OK;
}


ngx_uint_t
ngx_gov_subrequest_answer(ngx_http_request_t *sr, ngx_int_t rc,
    ngx_str_t *body)
{
    ngx_buf_t   *b;
    ngx_uint_t   status;

    status = sr->headers_out.status;

    if (rc == NGX_ERROR || (rc >= NGX_HTTP_SPECIAL_RESPONSE && status < 300))
    {
        /* no answer: the upstream failed (502, 504) or nothing was sent */
        status = rc > 0 ? (ngx_uint_t) rc : 0;
    }

    b = (sr->out && sr->out->buf) ? sr->out->buf : NULL;

    if (b && b->last > b->pos) {
        body->data = b->pos;
        body->len = b->last - b->pos;

    } else {
        ngx_str_null(body);
    }

    if (sr->headers_out.content_length_n > 0
        && (off_t) body->len < sr->headers_out.content_length_n)
    {
        /* the connection closed in the middle of the body: no answer */
        ngx_log_debug2(NGX_LOG_DEBUG_HTTP, sr->connection->log, 0,
                       "gov subrequest: %uz of %O bytes of the answer, "
                       "taken as none", body->len,
                       sr->headers_out.content_length_n);
        ngx_str_null(body);
        return 0;
    }

    return status;
}
