
/*
 * Copyright (C) ngx_gov_module authors
 */


/*
 * 电子证照: a material given as "elicense" is checked at submission with
 * GET URI?material=ID&holder=SUBJECT, every material in parallel: 200 the
 * library holds it, 404 it does not (the submission's 422 says
 * elicense_not_found with every other problem), anything else or no answer
 * means the library cannot say (503).  Answers are cached in Redis for
 * "cache=" (default 10m) under the hash of material and holder, so no ID
 * number is a key.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include <openssl/evp.h>

#include "ngx_gov_answer.h"
#include "ngx_gov_subreq.h"
#include "ngx_gov_elicense.h"
#include "gov_http.h"


typedef struct ngx_gov_elicense_ctx_s  ngx_gov_elicense_ctx_t;


typedef struct {
    ngx_str_t                 material;
    u_char                    key[64];      /* hex of the hash */
    ngx_int_t                 found;        /* 1, 0, -1: unknown */
    ngx_uint_t                asked;        /* of the library, not cached */
    ngx_gov_elicense_ctx_t   *ctx;
} ngx_gov_elicense_one_t;


struct ngx_gov_elicense_ctx_s {
    ngx_http_request_t       *request;
    ngx_str_t                 holder;
    ngx_gov_elicense_one_t   *ones;
    ngx_uint_t                n;
    ngx_uint_t                pending;
    ngx_uint_t                failed;
    ngx_gov_elicense_done_pt  done;
    void                     *data;
    ngx_event_t               ev;
};


static void ngx_gov_elicense_cached(redisReply *reply, void *data);
static ngx_int_t ngx_gov_elicense_ask(ngx_gov_elicense_ctx_t *ctx,
    ngx_gov_elicense_one_t *one);
static ngx_int_t ngx_gov_elicense_answered(ngx_http_request_t *sr,
    void *data, ngx_int_t rc);
static void ngx_gov_elicense_resume(ngx_event_t *ev);
static void ngx_gov_elicense_keep(ngx_gov_elicense_ctx_t *ctx);
static void ngx_gov_elicense_cleanup(void *data);


/* gov_elicense URI [cache=TIME] */

char *
ngx_gov_elicense_directive(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_gov_main_conf_t  *gmcf = conf;

    ngx_str_t   *value, s;
    ngx_uint_t   i;

    if (gmcf->elicense_uri.data) {
        return "is duplicate";
    }

    value = cf->args->elts;

    if (ngx_gov_subrequest_conf_uri(cf, cmd, &value[1], 1) != NGX_CONF_OK) {
        return NGX_CONF_ERROR;
    }

    gmcf->elicense_uri = value[1];
    gmcf->elicense_cache = 600;

    for (i = 2; i < cf->args->nelts; i++) {
        if (ngx_strncmp(value[i].data, "cache=", 6) == 0) {
            s.data = value[i].data + 6;
            s.len = value[i].len - 6;

            gmcf->elicense_cache = ngx_parse_time(&s, 1);

            if (gmcf->elicense_cache == (time_t) NGX_ERROR) {
                ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                                   "invalid \"%V\" in \"gov_elicense\": a "
                                   "time, 0 for no cache", &value[i]);
                return NGX_CONF_ERROR;
            }

            continue;
        }

        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid parameter \"%V\" in \"gov_elicense\", "
                           "only \"cache=TIME\"", &value[i]);
        return NGX_CONF_ERROR;
    }

    return NGX_CONF_OK;
}


ngx_uint_t
ngx_gov_elicense_on(ngx_http_request_t *r)
{
    ngx_http_gov_main_conf_t  *gmcf;

    gmcf = ngx_http_get_module_main_conf(r, ngx_http_gov_module);

    return gmcf->elicense_uri.len != 0;
}


time_t
ngx_gov_elicense_left(ngx_http_request_t *r)
{
    ngx_http_gov_main_conf_t  *gmcf;

    gmcf = ngx_http_get_module_main_conf(r, ngx_http_gov_module);

    return ngx_gov_subrequest_retry_after(&gmcf->elicense_uri);
}


ngx_int_t
ngx_gov_elicense_check(ngx_http_request_t *r, ngx_str_t *holder,
    json_t *materials, ngx_gov_elicense_done_pt done, void *data)
{
    u_char                     hash[32], *k;
    size_t                     i, n;
    json_t                    *v;
    ngx_int_t                  rc;
    ngx_str_t                  tag;
    ngx_pool_cleanup_t        *cln;
    ngx_gov_elicense_ctx_t    *ctx;
    ngx_gov_elicense_one_t    *one;
    ngx_http_gov_main_conf_t  *gmcf;
    EVP_MD_CTX                *md;

    const char  **argv;
    size_t       *argvlen;

    gmcf = ngx_http_get_module_main_conf(r, ngx_http_gov_module);

    /* as many as the bundle has e-licence materials: all in parallel */
    n = json_array_size(materials);

    cln = ngx_pool_cleanup_add(r->pool, sizeof(ngx_gov_elicense_ctx_t));
    if (cln == NULL) {
        return NGX_ERROR;
    }

    ctx = cln->data;
    ngx_memzero(ctx, sizeof(ngx_gov_elicense_ctx_t));
    cln->handler = ngx_gov_elicense_cleanup;

    ctx->request = r;
    ctx->holder = *holder;
    ctx->done = done;
    ctx->data = data;
    ctx->n = n;
    ctx->ev.handler = ngx_gov_elicense_resume;
    ctx->ev.data = ctx;
    ctx->ev.log = r->connection->log;

    ctx->ones = ngx_pcalloc(r->pool, (n + 1) * sizeof(ngx_gov_elicense_one_t));
    argv = ngx_palloc(r->pool, (n + 1) * sizeof(char *));
    argvlen = ngx_palloc(r->pool, (n + 1) * sizeof(size_t));
    md = EVP_MD_CTX_new();

    /* a holder's answers are one shard: one MGET reads them */

    if (ngx_gov_redis_name_tag(r->pool, &gmcf->redis_prefix, holder, &tag)
        != NGX_OK)
    {
        EVP_MD_CTX_free(md);
        return NGX_ERROR;
    }

    k = ngx_pnalloc(r->pool, n * (tag.len + 5 + 64) + 1);

    if (ctx->ones == NULL || argv == NULL || argvlen == NULL || k == NULL
        || md == NULL)
    {
        EVP_MD_CTX_free(md);
        return NGX_ERROR;
    }

    argv[0] = "MGET";
    argvlen[0] = 4;

    for (i = 0; i < n; i++) {
        v = json_array_get(materials, i);
        one = &ctx->ones[i];

        /* the caller's JSON may go: the id is copied */
        one->material.len = json_string_length(v);
        one->material.data = ngx_pnalloc(r->pool, one->material.len + 1);
        if (one->material.data == NULL) {
            EVP_MD_CTX_free(md);
            return NGX_ERROR;
        }

        ngx_memcpy(one->material.data, json_string_value(v),
                   one->material.len);
        one->found = -1;
        one->ctx = ctx;

        /* the key: the hash of material and holder, no ID number in it */

        if (EVP_DigestInit_ex(md, EVP_sha256(), NULL) != 1
            || EVP_DigestUpdate(md, one->material.data, one->material.len)
               != 1
            || EVP_DigestUpdate(md, "\n", 1) != 1
            || EVP_DigestUpdate(md, holder->data, holder->len) != 1
            || EVP_DigestFinal_ex(md, hash, NULL) != 1)
        {
            EVP_MD_CTX_free(md);
            return NGX_ERROR;
        }

        ngx_hex_dump(one->key, hash, 32);

        argv[i + 1] = (char *) k;
        k = ngx_sprintf(k, "%Velic:%*s", &tag, (size_t) 64, one->key);
        argvlen[i + 1] = (u_char *) k - (u_char *) argv[i + 1];
    }

    EVP_MD_CTX_free(md);

    if (gmcf->elicense_cache == 0 || gmcf->redis == NULL) {
        ngx_post_event(&ctx->ev, &ngx_posted_events);
        ctx->pending = (ngx_uint_t) -1;     /* ask the library */
        return NGX_OK;
    }

    rc = ngx_http_gov_redis_send(r, ngx_gov_elicense_cached, ctx,
                                 (int) n + 1, argv, argvlen);

    if (rc == NGX_DECLINED) {
        /* Redis down: the library is asked, nothing cached */
        ctx->pending = (ngx_uint_t) -1;
        ngx_post_event(&ctx->ev, &ngx_posted_events);
        return NGX_OK;
    }

    return rc;
}


static void
ngx_gov_elicense_cached(redisReply *reply, void *data)
{
    ngx_gov_elicense_ctx_t *ctx = data;

    ngx_uint_t           i;
    redisReply          *e;

    if (reply && reply->type == REDIS_REPLY_ARRAY
        && reply->elements == ctx->n)
    {
        for (i = 0; i < ctx->n; i++) {
            e = reply->element[i];

            if (e->type == REDIS_REPLY_STRING && e->len == 1) {
                ctx->ones[i].found = (e->str[0] == '1');
            }
        }
    }

    ctx->pending = (ngx_uint_t) -1;
    ngx_gov_elicense_resume(&ctx->ev);
}


/*
 * The loop of the checks: first (pending -1) the library is asked for
 * what the cache did not know, in parallel; once every answer is in, the
 * caller goes on.
 */

static void
ngx_gov_elicense_resume(ngx_event_t *ev)
{
    ngx_gov_elicense_ctx_t *ctx = ev->data;

    json_t              *missing;
    ngx_uint_t           i;
    ngx_http_request_t  *r;

    r = ctx->request;

    if (ctx->pending == (ngx_uint_t) -1) {
        ctx->pending = 0;

        for (i = 0; i < ctx->n; i++) {
            if (ctx->ones[i].found >= 0) {
                continue;
            }

            if (ngx_gov_elicense_ask(ctx, &ctx->ones[i]) != NGX_OK) {
                ctx->failed = 1;
                continue;
            }

            ctx->pending++;
        }

        if (ctx->pending) {
            ngx_http_run_posted_requests(r->connection);
            return;
        }
    }

    if (ctx->pending) {
        return;
    }

    if (ctx->failed) {
        ctx->done(r, ctx->data, NGX_DECLINED, NULL);
        return;
    }

    ngx_gov_elicense_keep(ctx);

    missing = json_array();

    for (i = 0; i < ctx->n; i++) {
        if (ctx->ones[i].found == 0) {
            json_array_append_new(missing,
                                  json_stringn((char *)
                                               ctx->ones[i].material.data,
                                               ctx->ones[i].material.len));
        }
    }

    ctx->done(r, ctx->data, NGX_OK, missing);
}


static ngx_int_t
ngx_gov_elicense_ask(ngx_gov_elicense_ctx_t *ctx, ngx_gov_elicense_one_t *one)
{
    u_char                      *p;
    ngx_str_t                    args;
    ngx_http_request_t          *r;
    ngx_http_post_subrequest_t  *ps;
    ngx_http_gov_main_conf_t    *gmcf;

    const char  *names[1];
    ngx_str_t    values[1];

    r = ctx->request;
    gmcf = ngx_http_get_module_main_conf(r, ngx_http_gov_module);

    args.data = ngx_pnalloc(r->pool, sizeof("material=&holder=") - 1
                                     + 3 * (one->material.len
                                            + ctx->holder.len));
    ps = ngx_palloc(r->pool, sizeof(ngx_http_post_subrequest_t));

    if (args.data == NULL || ps == NULL) {
        return NGX_ERROR;
    }

    p = ngx_cpymem(args.data, "material=", sizeof("material=") - 1);
    p += gov_pct_encode((char *) p, (char *) one->material.data,
                        one->material.len);
    p = ngx_cpymem(p, "&holder=", sizeof("&holder=") - 1);
    p += gov_pct_encode((char *) p, (char *) ctx->holder.data,
                        ctx->holder.len);
    args.len = p - args.data;

    ps->handler = ngx_gov_elicense_answered;
    ps->data = one;
    one->asked = 1;

    names[0] = "Accept";
    ngx_str_set(&values[0], "application/json");

    /* the holder's ID number stays out of the upstream lines of the log */
    ngx_http_gov_log_hide_holder(r);

    return ngx_gov_subrequest(r, &gmcf->elicense_uri, &args, NULL, NULL,
                              names, values, 1, ps, NULL);
}


static ngx_int_t
ngx_gov_elicense_answered(ngx_http_request_t *sr, void *data, ngx_int_t rc)
{
    ngx_gov_elicense_one_t *one = data;

    u_char                   more_buf[NGX_GOV_BREAKER_MORE_LEN];
    ngx_str_t                body, more;
    ngx_uint_t               status;
    ngx_gov_elicense_ctx_t  *ctx;

    ctx = one->ctx;

    status = ngx_gov_subrequest_answer(sr, rc, &body);

    if (status == NGX_HTTP_OK) {
        one->found = 1;

    } else if (status == NGX_HTTP_NOT_FOUND) {
        one->found = 0;

    } else {
        if (ngx_gov_subrequest_say(more_buf, &more)) {
            ngx_log_error(NGX_LOG_WARN, sr->connection->log, 0,
                          "gov elicense: the library answered %ui for "
                          "material \"%V\"%V", status, &one->material,
                          &more);
        }

        ctx->failed = 1;
    }

    /* called while the subrequest is being finalized: go on from the loop */

    if (--ctx->pending == 0 && !ctx->ev.posted) {
        ngx_post_event(&ctx->ev, &ngx_posted_events);
    }

    return rc;
}


/* the library's answers kept for "cache=" */

static void
ngx_gov_elicense_keep(ngx_gov_elicense_ctx_t *ctx)
{
    u_char                    *key, ttl[NGX_TIME_T_LEN];
    ngx_str_t                  tag;
    ngx_uint_t                 i;
    ngx_http_request_t        *r;
    ngx_http_gov_main_conf_t  *gmcf;

    const char  *argv[5];
    size_t       argvlen[5];

    r = ctx->request;
    gmcf = ngx_http_get_module_main_conf(r, ngx_http_gov_module);

    if (gmcf->elicense_cache == 0 || gmcf->redis == NULL) {
        return;
    }

    if (ngx_gov_redis_name_tag(r->pool, &gmcf->redis_prefix, &ctx->holder,
                               &tag)
        != NGX_OK)
    {
        return;
    }

    key = ngx_pnalloc(r->pool, tag.len + 5 + 64);
    if (key == NULL) {
        return;
    }

    for (i = 0; i < ctx->n; i++) {
        if (!ctx->ones[i].asked || ctx->ones[i].found < 0) {
            continue;
        }

        argv[0] = "SET";
        argvlen[0] = 3;
        argv[1] = (char *) key;
        argvlen[1] = ngx_sprintf(key, "%Velic:%*s", &tag,
                                 (size_t) 64, ctx->ones[i].key)
                     - key;
        argv[2] = ctx->ones[i].found ? "1" : "0";
        argvlen[2] = 1;
        argv[3] = "EX";
        argvlen[3] = 2;
        argv[4] = (char *) ttl;
        argvlen[4] = ngx_sprintf(ttl, "%T", gmcf->elicense_cache) - ttl;

        (void) ngx_gov_redis_send(r->connection->log, NULL, NULL, NULL, 5,
                                  argv, argvlen);
    }
}


static void
ngx_gov_elicense_cleanup(void *data)
{
    ngx_gov_elicense_ctx_t *ctx = data;

    if (ctx->ev.posted) {
        ngx_delete_posted_event(&ctx->ev);
    }
}
