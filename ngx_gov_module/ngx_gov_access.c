
/*
 * Copyright (C) ngx_gov_module authors
 */


/*
 * Access: the identity of a request (bearer token, else session cookie),
 * gov_auth in the access phase, X-Gov-* headers stripped from clients and
 * set for upstreams, the 401 answers, and the $gov_* variables.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_gov_metrics.h"
#include "ngx_gov_answer.h"
#include "ngx_gov_page.h"
#include "ngx_gov_token.h"
#include "ngx_gov_access.h"
#include "gov_b64.h"
#include "gov_http.h"


#define NGX_HTTP_GOV_ID_NONE       0
#define NGX_HTTP_GOV_ID_PENDING    1
#define NGX_HTTP_GOV_ID_DONE       2


typedef struct {
    ngx_uint_t                      state;
    ngx_int_t                       reason;
    ngx_uint_t                      redis_down;
    json_t                         *claims;     /* NULL: not parsed yet */
    ngx_str_t                       token;      /* the bearer token */
    ngx_str_t                       subject;
    ngx_str_t                       actor;
    ngx_str_t                       name;
    ngx_str_t                       session_key;
    void                           *flow;       /* a flow's own state */
    ngx_http_request_t             *request;
    ngx_http_gov_identity_done_pt   done;

    /* a department's callback headers, kept when stripped */
    ngx_str_t                       cb_timestamp;
    ngx_str_t                       cb_signature;
} ngx_http_gov_auth_ctx_t;


static ngx_str_t  ngx_http_gov_www_authenticate =
    ngx_string("Bearer realm=\"gov\", error=\"invalid_token\"");


static ngx_int_t ngx_http_gov_strip_handler(ngx_http_request_t *r);
static ngx_int_t ngx_http_gov_access_handler(ngx_http_request_t *r);
static void ngx_http_gov_access_resume(ngx_http_request_t *r);
static ngx_int_t ngx_http_gov_deny_handler(ngx_http_request_t *r);
static ngx_int_t ngx_http_gov_identity_headers(ngx_http_request_t *r,
    ngx_http_gov_auth_ctx_t *ctx);
static void ngx_http_gov_auth_cleanup(void *data);
static ngx_http_gov_auth_ctx_t *ngx_http_gov_auth_ctx(ngx_http_request_t *r);
static void ngx_http_gov_set_identity(ngx_http_request_t *r,
    ngx_http_gov_auth_ctx_t *ctx, json_t *claims);
static ngx_int_t ngx_http_gov_session_lookup(ngx_http_request_t *r,
    ngx_http_gov_auth_ctx_t *ctx, ngx_str_t *sid);
static void ngx_http_gov_session_done(redisReply *reply, void *data);
static ngx_uint_t ngx_http_gov_origin_is(ngx_str_t *origin, ngx_str_t *value,
    ngx_uint_t referer);
static ngx_int_t ngx_http_gov_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data);
static ngx_int_t ngx_http_gov_claim_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data);


#define NGX_HTTP_GOV_VAR_SUBJECT  0
#define NGX_HTTP_GOV_VAR_ACTOR    1
#define NGX_HTTP_GOV_VAR_REASON   2
#define NGX_HTTP_GOV_VAR_MASKED   3


static ngx_http_variable_t  ngx_http_gov_vars[] = {

    { ngx_string("gov_subject"), NULL, ngx_http_gov_variable,
      NGX_HTTP_GOV_VAR_SUBJECT, NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("gov_actor"), NULL, ngx_http_gov_variable,
      NGX_HTTP_GOV_VAR_ACTOR, NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("gov_auth_reason"), NULL, ngx_http_gov_variable,
      NGX_HTTP_GOV_VAR_REASON, NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("gov_subject_masked"), NULL, ngx_http_gov_variable,
      NGX_HTTP_GOV_VAR_MASKED, NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("gov_claim_"), NULL, ngx_http_gov_claim_variable,
      0, NGX_HTTP_VAR_NOCACHEABLE|NGX_HTTP_VAR_PREFIX, 0 },

      ngx_http_null_variable
};


ngx_int_t
ngx_http_gov_auth_add_variables(ngx_conf_t *cf)
{
    ngx_http_variable_t  *var, *v;

    for (v = ngx_http_gov_vars; v->name.len; v++) {
        var = ngx_http_add_variable(cf, &v->name, v->flags);
        if (var == NULL) {
            return NGX_ERROR;
        }

        var->get_handler = v->get_handler;
        var->data = v->data;
    }

    return NGX_OK;
}


ngx_int_t
ngx_http_gov_auth_init(ngx_conf_t *cf)
{
    ngx_http_handler_pt        *h;
    ngx_http_core_main_conf_t  *cmcf;

    cmcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_core_module);

    h = ngx_array_push(&cmcf->phases[NGX_HTTP_POST_READ_PHASE].handlers);
    if (h == NULL) {
        return NGX_ERROR;
    }

    *h = ngx_http_gov_strip_handler;

    h = ngx_array_push(&cmcf->phases[NGX_HTTP_ACCESS_PHASE].handlers);
    if (h == NULL) {
        return NGX_ERROR;
    }

    *h = ngx_http_gov_access_handler;

    return NGX_OK;
}


void
ngx_http_gov_auth_init_loc_conf(ngx_http_gov_loc_conf_t *glcf)
{
    glcf->auth = NGX_CONF_UNSET_UINT;
    glcf->identity_headers = NGX_CONF_UNSET;
    glcf->leeway = NGX_CONF_UNSET;
    glcf->require = NGX_CONF_UNSET_PTR;
    glcf->cookie_secure = NGX_CONF_UNSET_UINT;
    glcf->cookie_samesite = NGX_CONF_UNSET_UINT;
    glcf->session_idle = NGX_CONF_UNSET;
    glcf->session_absolute = NGX_CONF_UNSET;
    glcf->progress_refresh = NGX_CONF_UNSET_MSEC;
    glcf->trusted_origins = NGX_CONF_UNSET_PTR;
}


char *
ngx_http_gov_auth_merge_loc_conf(ngx_conf_t *cf,
    ngx_http_gov_loc_conf_t *prev, ngx_http_gov_loc_conf_t *conf)
{
    ngx_str_t    *s;
    ngx_uint_t    i;
    const char  **names;

    static ngx_str_t  default_require[] = {
        ngx_string("sub"), ngx_string("exp")
    };

    ngx_conf_merge_uint_value(conf->auth, prev->auth,
                              NGX_HTTP_GOV_AUTH_OFF);
    ngx_conf_merge_str_value(conf->login_url, prev->login_url, "");
    ngx_conf_merge_value(conf->identity_headers, prev->identity_headers, 1);

    if (conf->issuer.data == NULL) {
        conf->issuer = prev->issuer;
    }

    if (conf->audience.data == NULL) {
        conf->audience = prev->audience;
    }

    ngx_conf_merge_sec_value(conf->leeway, prev->leeway, 60);
    ngx_conf_merge_ptr_value(conf->require, prev->require, NULL);

    ngx_conf_merge_str_value(conf->cookie_name, prev->cookie_name, "GOVSID");
    ngx_conf_merge_uint_value(conf->cookie_secure, prev->cookie_secure, 1);
    ngx_conf_merge_uint_value(conf->cookie_samesite, prev->cookie_samesite,
                              NGX_HTTP_GOV_SAMESITE_LAX);
    ngx_conf_merge_str_value(conf->cookie_domain, prev->cookie_domain, "");
    ngx_conf_merge_sec_value(conf->session_idle, prev->session_idle, 1800);
    ngx_conf_merge_sec_value(conf->session_absolute, prev->session_absolute,
                             8 * 3600);

    ngx_conf_merge_msec_value(conf->progress_refresh, prev->progress_refresh,
                              30000);
    ngx_conf_merge_ptr_value(conf->trusted_origins, prev->trusted_origins,
                             NULL);

    if (conf->session_absolute < conf->session_idle) {
        conf->session_absolute = conf->session_idle;
    }

    if (conf->cookie_samesite == NGX_HTTP_GOV_SAMESITE_NONE
        && !conf->cookie_secure)
    {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "gov_session_cookie: \"samesite=none\" needs "
                           "\"secure\" (browsers drop it otherwise)");
        return NGX_CONF_ERROR;
    }

    /* the claim policy the core checks, built once per location */

    conf->policy.issuer = conf->issuer.data ? (char *) conf->issuer.data
                                            : NULL;
    conf->policy.audience = conf->audience.data ? (char *) conf->audience.data
                                                : NULL;
    conf->policy.leeway = conf->leeway;

    if (conf->require == NULL) {
        s = default_require;
        conf->policy.nrequire = 2;

    } else {
        s = conf->require->elts;
        conf->policy.nrequire = conf->require->nelts;
    }

    names = ngx_palloc(cf->pool, (conf->policy.nrequire + 1)
                                 * sizeof(const char *));
    if (names == NULL) {
        return NGX_CONF_ERROR;
    }

    for (i = 0; i < conf->policy.nrequire; i++) {
        names[i] = (const char *) s[i].data;
    }

    conf->policy.require = names;

    return NGX_CONF_OK;
}


/* every client-sent X-Gov-* header goes, on every request */


/*
 * Every client-sent X-Gov-* header goes, on every request.  One pass over
 * nginx's header list, over 120 lines: the invariants stated below hold
 * across the whole pass, which is easier to check in one piece.
 */

static ngx_int_t
ngx_http_gov_strip_handler(ngx_http_request_t *r)
{
    ngx_uint_t                i;
    ngx_list_t               *list;
    ngx_table_elt_t          *h;
    ngx_list_part_t          *part, *prev, *rest;
    ngx_http_gov_auth_ctx_t  *ctx;

    /*
     * Elements are never moved: r->headers_in keeps pointers to them.
     * Parts are split, shortened or unlinked instead, and no part but the
     * first is left empty: header loops elsewhere read the first element
     * of every later part without checking.  The last part's room for new
     * headers is kept equal to list->nalloc.
     */

    list = &r->headers_in.headers;
    prev = NULL;
    part = &list->part;

    while (part) {
        h = part->elts;

        for (i = 0; i < part->nelts; i++) {
            if (h[i].key.len >= 6
                && ngx_strncasecmp(h[i].key.data, (u_char *) "x-gov-", 6)
                   == 0)
            {
                break;
            }
        }

        if (i == part->nelts) {
            prev = part;
            part = part->next;
            continue;
        }

        if (h[i].key.len == 15
            && (ngx_strncasecmp(h[i].key.data, (u_char *) "x-gov-timestamp",
                                15) == 0
                || ngx_strncasecmp(h[i].key.data,
                                   (u_char *) "x-gov-signature", 15) == 0))
        {
            /* gov_callback reads these; nothing else ever sees them */

            ctx = ngx_http_gov_auth_ctx(r);
            if (ctx == NULL) {
                return NGX_HTTP_INTERNAL_SERVER_ERROR;
            }

            if ((h[i].key.data[6] | 0x20) == 't') {
                ctx->cb_timestamp = h[i].value;

            } else {
                ctx->cb_signature = h[i].value;
            }

        } else {
            ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                          "gov: client sent \"%V\" header, removed",
                          &h[i].key);
        }

        if (part->nelts == 1) {

            if (prev == NULL) {
                /* the first part may be empty */
                part->nelts = 0;
                prev = part;
                part = part->next;
                continue;
            }

            prev->next = part->next;

            if (list->last == part) {
                list->last = prev;

                if (prev->nelts) {
                    /* full: the next header gets a new part */
                    list->nalloc = prev->nelts;

                } else {
                    /* the empty first part: fresh room, nothing moves */
                    prev->elts = ngx_palloc(r->pool,
                                            list->nalloc * list->size);
                    if (prev->elts == NULL) {
                        return NGX_HTTP_INTERNAL_SERVER_ERROR;
                    }
                }
            }

            part = prev->next;
            continue;
        }

        if (i == 0) {
            part->elts = &h[1];
            part->nelts--;

            if (list->last == part) {
                list->nalloc--;
            }

            continue;
        }

        if (i + 1 == part->nelts) {
            /* the last one of its part: its slot is simply reused */
            part->nelts = i;
            prev = part;
            part = part->next;
            continue;
        }

        rest = ngx_palloc(r->pool, sizeof(ngx_list_part_t));
        if (rest == NULL) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        rest->elts = &h[i + 1];
        rest->nelts = part->nelts - i - 1;
        rest->next = part->next;

        part->nelts = i;
        part->next = rest;

        if (list->last == part) {
            list->last = rest;
            list->nalloc -= i + 1;
        }

        prev = part;
        part = rest;
    }

    return NGX_DECLINED;
}


/* access control */


static ngx_int_t
ngx_http_gov_access_handler(ngx_http_request_t *r)
{
    ngx_int_t                 rc;
    ngx_http_gov_auth_ctx_t  *ctx;
    ngx_http_gov_loc_conf_t  *glcf;

    glcf = ngx_http_get_module_loc_conf(r, ngx_http_gov_module);

    if (glcf->auth == NGX_HTTP_GOV_AUTH_OFF) {
        return NGX_DECLINED;
    }

    ctx = ngx_http_get_module_ctx(r, ngx_http_gov_module);

    if (ctx == NULL || ctx->state == NGX_HTTP_GOV_ID_NONE) {

        /* a CORS preflight carries no credentials: never challenge it */

        if (r->method == NGX_HTTP_OPTIONS
            && ngx_http_gov_find_header(r, "origin", 6)
            && ngx_http_gov_find_header(r, "access-control-request-method",
                                        29))
        {
            return NGX_DECLINED;
        }

        rc = ngx_http_gov_identity(r, ngx_http_gov_access_resume);

        if (rc == NGX_ERROR) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        ctx = ngx_http_get_module_ctx(r, ngx_http_gov_module);
    }

    if (ctx->state == NGX_HTTP_GOV_ID_PENDING) {
        return NGX_AGAIN;
    }

    if (ctx->redis_down
        || (ctx->reason != GOV_AUTH_OK
            && glcf->auth == NGX_HTTP_GOV_AUTH_REQUIRED))
    {
        /* answered in the content phase, like any other response */
        r->content_handler = ngx_http_gov_deny_handler;
        return NGX_DECLINED;
    }

    if (ctx->reason == GOV_AUTH_OK && glcf->identity_headers) {
        if (ngx_http_gov_identity_headers(r, ctx) != NGX_OK) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }
    }

    return NGX_DECLINED;
}


static void
ngx_http_gov_access_resume(ngx_http_request_t *r)
{
    ngx_connection_t  *c;

    c = r->connection;

    ngx_http_core_run_phases(r);
    ngx_http_run_posted_requests(c);
}


static ngx_int_t
ngx_http_gov_deny_handler(ngx_http_request_t *r)
{
    ngx_int_t                 rc;
    ngx_http_gov_auth_ctx_t  *ctx;

    rc = ngx_http_discard_request_body(r);
    if (rc != NGX_OK) {
        return rc;
    }

    ctx = ngx_http_get_module_ctx(r, ngx_http_gov_module);

    if (ctx == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (ctx->redis_down) {
        return ngx_http_gov_unavailable(r);
    }

    return ngx_http_gov_unauthenticated(r, ctx->reason);
}


/*
 * 401 with the contract's JSON and header, or, for a browser navigation, a
 * 302 to the login page with return_to.
 */

ngx_int_t
ngx_http_gov_unauthenticated(ngx_http_request_t *r, ngx_int_t reason)
{
    u_char                   *p;
    size_t                    len;
    ngx_str_t                 body, location;
    ngx_http_gov_loc_conf_t  *glcf;

    glcf = ngx_http_get_module_loc_conf(r, ngx_http_gov_module);

    if (glcf->login_url.len
        && r->method == NGX_HTTP_GET
        && ngx_http_gov_wants_html(r))
    {
        len = glcf->login_url.len + sizeof("?return_to=") - 1
              + gov_pct_encode(NULL, (char *) r->unparsed_uri.data,
                               r->unparsed_uri.len);

        location.data = ngx_pnalloc(r->pool, len);
        if (location.data == NULL) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        p = ngx_copy(location.data, glcf->login_url.data,
                     glcf->login_url.len);
        p = ngx_cpymem(p, ngx_strlchr(glcf->login_url.data,
                                      glcf->login_url.data
                                      + glcf->login_url.len, '?')
                          ? "&return_to=" : "?return_to=",
                       sizeof("?return_to=") - 1);
        p += gov_pct_encode((char *) p, (char *) r->unparsed_uri.data,
                            r->unparsed_uri.len);
        location.len = p - location.data;

        if (ngx_http_gov_location(r, &location) != NGX_OK) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        body.len = 0;
        body.data = NULL;

        return ngx_http_gov_send(r, NGX_HTTP_MOVED_TEMPORARILY,
                                 &r->headers_out.content_type, &body);
    }

    /* a browser that cannot be sent to log in: the page says why */

    return ngx_http_gov_challenge(r, reason, "请先登录", NULL);
}


/*
 * 401 with WWW-Authenticate and the reason: JSON, or for a browser the
 * login page with "title" and, when given, "message".
 */

ngx_int_t
ngx_http_gov_challenge(ngx_http_request_t *r, ngx_int_t reason,
    const char *title, const char *message)
{
    u_char                   *p;
    ngx_int_t                 rc;
    ngx_str_t                 body;
    ngx_table_elt_t          *h;
    ngx_http_gov_loc_conf_t  *glcf;

    glcf = ngx_http_get_module_loc_conf(r, ngx_http_gov_module);

    h = ngx_list_push(&r->headers_out.headers);
    if (h == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    h->hash = 1;
    ngx_str_set(&h->key, "WWW-Authenticate");
    h->value = ngx_http_gov_www_authenticate;

    if (ngx_http_gov_wants_html(r)) {
        rc = ngx_http_gov_page(r, NGX_HTTP_UNAUTHORIZED, "login",
                 json_pack("{s:s,s:s,s:s?,s:s%}", "title", title,
                           "reason", gov_auth_reason_str(reason),
                           "message", message,
                           "login_url", glcf->login_url.len
                                        ? (char *) glcf->login_url.data : "",
                           glcf->login_url.len));
        if (rc != NGX_DECLINED) {
            return rc;
        }
    }

    p = ngx_pnalloc(r->pool, 80);
    if (p == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    body.data = p;
    body.len = ngx_sprintf(p, "{\"error\":\"unauthenticated\","
                           "\"reason\":\"%s\"}\n",
                           gov_auth_reason_str(reason))
               - p;

    return ngx_http_gov_send_json(r, NGX_HTTP_UNAUTHORIZED, &body);
}


static ngx_int_t
ngx_http_gov_identity_headers(ngx_http_request_t *r,
    ngx_http_gov_auth_ctx_t *ctx)
{
    size_t       len;
    ngx_str_t    value;
    ngx_uint_t   i;
    ngx_str_t   *src[3];

    static const char  *keys[] = { "X-Gov-Subject", "X-Gov-Actor",
                                   "X-Gov-Name" };

    /* an internal redirect resolves again: drop what an earlier pass set */
    (void) ngx_http_gov_strip_handler(r);

    src[0] = &ctx->subject;
    src[1] = &ctx->actor;
    src[2] = &ctx->name;

    for (i = 0; i < 3; i++) {
        if (src[i]->len == 0) {
            continue;
        }

        /* percent-encoded: no claim can break the header */

        len = gov_pct_encode(NULL, (char *) src[i]->data, src[i]->len);

        if (len == src[i]->len) {
            /* nothing to encode: the claim's own bytes will do */
            value = *src[i];

        } else {
            value.data = ngx_pnalloc(r->pool, len);
            if (value.data == NULL) {
                return NGX_ERROR;
            }

            value.len = gov_pct_encode((char *) value.data,
                                       (char *) src[i]->data, src[i]->len);
        }

        if (ngx_http_gov_add_header(r, &r->headers_in.headers, keys[i],
                                    &value)
            != NGX_OK)
        {
            return NGX_ERROR;
        }
    }

    return NGX_OK;
}


/* identity resolution */


static void
ngx_http_gov_auth_cleanup(void *data)
{
    ngx_http_gov_auth_ctx_t  *ctx = data;

    if (ctx->claims) {
        json_decref(ctx->claims);
        ctx->claims = NULL;
    }
}


ngx_int_t
ngx_http_gov_identity(ngx_http_request_t *r,
    ngx_http_gov_identity_done_pt done)
{
    u_char                   *p, *end;
    ngx_str_t                 token, sid;
    ngx_http_gov_who_t        who;
    ngx_http_gov_auth_ctx_t  *ctx;
    ngx_http_gov_loc_conf_t  *glcf;

    ctx = ngx_http_get_module_ctx(r, ngx_http_gov_module);

    if (ctx && ctx->state == NGX_HTTP_GOV_ID_PENDING) {
        ctx->done = done;
        return NGX_AGAIN;
    }

    if (ctx && ctx->state == NGX_HTTP_GOV_ID_DONE) {
        return NGX_OK;
    }

    ctx = ngx_http_gov_auth_ctx(r);
    if (ctx == NULL) {
        return NGX_ERROR;
    }

    ctx->done = done;
    ctx->state = NGX_HTTP_GOV_ID_DONE;
    ctx->reason = GOV_AUTH_MISSING;

    glcf = ngx_http_get_module_loc_conf(r, ngx_http_gov_module);

    /* a bearer token first */

    if (r->headers_in.authorization) {
        p = r->headers_in.authorization->value.data;
        end = p + r->headers_in.authorization->value.len;

        if (end - p >= 6 && ngx_strncasecmp(p, (u_char *) "Bearer", 6) == 0
            && (end - p == 6 || p[6] == ' '))
        {
            p += 6;

            while (p < end && *p == ' ') {
                p++;
            }

            while (end > p && end[-1] == ' ') {
                end--;
            }

            token.data = p;
            token.len = end - p;

            ctx->reason = ngx_http_gov_verify(r, &token, &who, NULL);

            if (ctx->reason == GOV_AUTH_OK) {
                /* the claims are parsed only if $gov_claim_* asks */
                ctx->token = token;
                ctx->subject = who.subject;
                ctx->actor = who.actor;
                ctx->name = who.name;
            }

            ngx_gov_metrics_inc(NGX_GOV_M_AUTH + ctx->reason);

            return NGX_OK;
        }
    }

    /* then the session cookie */

    if (ngx_http_gov_get_cookie(r, &glcf->cookie_name, &sid) == NGX_OK) {
        return ngx_http_gov_session_lookup(r, ctx, &sid);
    }

    ngx_gov_metrics_inc(NGX_GOV_M_AUTH + ctx->reason);

    return NGX_OK;
}


void
ngx_http_gov_identity_then(ngx_http_request_t *r,
    ngx_http_gov_identity_done_pt done)
{
    switch (ngx_http_gov_identity(r, done)) {

    case NGX_AGAIN:
        return;

    case NGX_ERROR:
        ngx_http_finalize_request(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
        return;

    default:
        done(r);
    }
}


static ngx_http_gov_auth_ctx_t *
ngx_http_gov_auth_ctx(ngx_http_request_t *r)
{
    ngx_pool_cleanup_t       *cln;
    ngx_http_gov_auth_ctx_t  *ctx;

    ctx = ngx_http_get_module_ctx(r, ngx_http_gov_module);

    if (ctx) {
        return ctx;
    }

    cln = ngx_pool_cleanup_add(r->pool, sizeof(ngx_http_gov_auth_ctx_t));
    if (cln == NULL) {
        return NULL;
    }

    ctx = cln->data;
    ngx_memzero(ctx, sizeof(ngx_http_gov_auth_ctx_t));

    cln->handler = ngx_http_gov_auth_cleanup;

    ctx->request = r;
    ctx->state = NGX_HTTP_GOV_ID_NONE;

    ngx_http_set_ctx(r, ctx, ngx_http_gov_module);

    return ctx;
}


/* the X-Gov-Timestamp and X-Gov-Signature a department sent */

void
ngx_http_gov_callback_headers(ngx_http_request_t *r, ngx_str_t *timestamp,
    ngx_str_t *signature)
{
    ngx_http_gov_auth_ctx_t  *ctx;

    ctx = ngx_http_get_module_ctx(r, ngx_http_gov_module);

    if (ctx == NULL) {
        ngx_str_null(timestamp);
        ngx_str_null(signature);
        return;
    }

    *timestamp = ctx->cb_timestamp;
    *signature = ctx->cb_signature;
}


/*
 * After ngx_http_gov_identity(): GOV_AUTH_OK with the subject and actor
 * (empty without delegation), the reason there is no identity, or
 * NGX_DECLINED when a session could not be checked (Redis down).
 */

ngx_int_t
ngx_http_gov_whoami(ngx_http_request_t *r, ngx_str_t *subject,
    ngx_str_t *actor)
{
    ngx_http_gov_auth_ctx_t  *ctx;

    ctx = ngx_http_get_module_ctx(r, ngx_http_gov_module);

    ngx_str_null(subject);
    ngx_str_null(actor);

    if (ctx == NULL || ctx->state != NGX_HTTP_GOV_ID_DONE) {
        return GOV_AUTH_MISSING;
    }

    if (ctx->redis_down) {
        return NGX_DECLINED;
    }

    if (ctx->reason != GOV_AUTH_OK) {
        return ctx->reason;
    }

    *subject = ctx->subject;
    *actor = ctx->actor;

    return GOV_AUTH_OK;
}


static void
ngx_http_gov_set_identity(ngx_http_request_t *r, ngx_http_gov_auth_ctx_t *ctx,
    json_t *claims)
{
    const char  *s;

    ctx->claims = claims;

    s = gov_jwt_subject(claims);
    ctx->subject.data = (u_char *) s;
    ctx->subject.len = s ? ngx_strlen(s) : 0;

    s = gov_jwt_actor(claims);
    ctx->actor.data = (u_char *) s;
    ctx->actor.len = s ? ngx_strlen(s) : 0;

    s = gov_jwt_name(claims);
    ctx->name.data = (u_char *) s;
    ctx->name.len = s ? ngx_strlen(s) : 0;
}


/*
 * The claims of the request's identity (a token's or a session's), kept
 * with the request; NULL without one.
 */

json_t *
ngx_http_gov_claims(ngx_http_request_t *r)
{
    ngx_http_gov_auth_ctx_t  *ctx;

    ctx = ngx_http_get_module_ctx(r, ngx_http_gov_module);

    if (ctx == NULL || ctx->state != NGX_HTTP_GOV_ID_DONE
        || ctx->reason != GOV_AUTH_OK)
    {
        return NULL;
    }

    if (ctx->claims == NULL && ctx->token.len) {
        /* a verified bearer token: its claims from its own payload */
        ctx->claims = gov_jwt_payload((char *) ctx->token.data,
                                      ctx->token.len);
    }

    return ctx->claims;
}


ngx_int_t
ngx_http_gov_session_key(ngx_http_request_t *r, ngx_str_t *sid,
    ngx_str_t *key)
{
    u_char                    *p;
    u_char                     hash[NGX_HTTP_GOV_HASH_LEN];
    ngx_http_gov_main_conf_t  *gmcf;

    gmcf = ngx_http_get_module_main_conf(r, ngx_http_gov_module);

    if (ngx_http_gov_sha256_digest(sid->data, sid->len, hash) != NGX_OK) {
        return NGX_ERROR;
    }

    /* Redis holds only the hash of the session id */

    key->len = gmcf->redis_prefix.len + sizeof("session:") - 1
               + 2 * NGX_HTTP_GOV_HASH_LEN;
    key->data = ngx_pnalloc(r->pool, key->len);
    if (key->data == NULL) {
        return NGX_ERROR;
    }

    p = ngx_copy(key->data, gmcf->redis_prefix.data, gmcf->redis_prefix.len);
    p = ngx_cpymem(p, "session:", sizeof("session:") - 1);
    ngx_hex_dump(p, hash, NGX_HTTP_GOV_HASH_LEN);

    return NGX_OK;
}


static ngx_int_t
ngx_http_gov_session_lookup(ngx_http_request_t *r,
    ngx_http_gov_auth_ctx_t *ctx, ngx_str_t *sid)
{
    ngx_int_t              rc;
    ngx_gov_redis_args_t   cmds[4];

    const char  *get[2], *pttl[2];
    size_t       get_len[2], pttl_len[2];

    if (sid->len != NGX_HTTP_GOV_SID_LEN
        || !gov_b64url_valid((char *) sid->data, sid->len))
    {
        ctx->reason = GOV_AUTH_SESSION_EXPIRED;
        ngx_gov_metrics_inc(NGX_GOV_M_AUTH + ctx->reason);
        return NGX_OK;
    }

    if (ngx_http_gov_session_key(r, sid, &ctx->session_key) != NGX_OK) {
        return NGX_ERROR;
    }

    cmds[0] = ngx_gov_redis_multi;
    ngx_gov_redis_key_cmd(&cmds[1], get, get_len, "GET",
                          (const char *) ctx->session_key.data,
                          ctx->session_key.len);
    ngx_gov_redis_key_cmd(&cmds[2], pttl, pttl_len, "PTTL",
                          (const char *) ctx->session_key.data,
                          ctx->session_key.len);
    cmds[3] = ngx_gov_redis_exec;

    rc = ngx_http_gov_redis_send_n(r, ngx_http_gov_session_done, ctx, 4,
                                   cmds);

    if (rc == NGX_DECLINED) {
        /* Redis is down: a session cannot be checked, never a 401 */
        ctx->redis_down = 1;
        return NGX_OK;
    }

    if (rc != NGX_OK) {
        return NGX_ERROR;
    }

    ctx->state = NGX_HTTP_GOV_ID_PENDING;

    return NGX_AGAIN;
}


static void
ngx_http_gov_session_done(redisReply *reply, void *data)
{
    ngx_http_gov_auth_ctx_t *ctx = data;

    time_t                    now, ttl, expires;
    json_t                   *session, *claims, *abs;
    long long                 pttl;
    redisReply               *value;
    ngx_http_request_t       *r;
    ngx_http_gov_loc_conf_t  *glcf;

    u_char               ms[NGX_TIME_T_LEN + 4];
    const char          *argv[3];
    size_t               argvlen[3];

    r = ctx->request;
    glcf = ngx_http_get_module_loc_conf(r, ngx_http_gov_module);

    ctx->state = NGX_HTTP_GOV_ID_DONE;

    if (reply == NULL || reply->type != REDIS_REPLY_ARRAY
        || reply->elements != 2)
    {
        ctx->redis_down = 1;
        goto done;
    }

    value = reply->element[0];
    pttl = reply->element[1]->type == REDIS_REPLY_INTEGER
           ? reply->element[1]->integer : -2;

    if (value->type != REDIS_REPLY_STRING) {
        ctx->reason = GOV_AUTH_SESSION_EXPIRED;
        goto done;
    }

    session = json_loadb(value->str, value->len, 0, NULL);
    claims = json_object_get(session, "claims");
    abs = json_object_get(session, "abs");

    if (!json_is_object(claims) || !json_is_integer(abs)) {
        json_decref(session);
        ctx->reason = GOV_AUTH_SESSION_EXPIRED;
        goto done;
    }

    now = ngx_time();
    expires = (time_t) json_integer_value(abs);

    if (expires <= now) {
        /* the absolute lifetime does not slide */
        json_decref(session);
        ctx->reason = GOV_AUTH_SESSION_EXPIRED;
        goto done;
    }

    json_incref(claims);
    json_decref(session);

    ctx->reason = GOV_AUTH_OK;
    ngx_http_gov_set_identity(r, ctx, claims);

    /*
     * Idle expiry slides, but without a write on every request: the TTL is
     * renewed once a tenth of the idle lifetime has passed since the last
     * renewal, and never beyond the absolute expiry.
     */

    if (pttl > 0 && (glcf->session_idle * 1000 - pttl)
                    > glcf->session_idle * 100)
    {
        ttl = ngx_min(glcf->session_idle, expires - now);

        argv[0] = "PEXPIRE";
        argvlen[0] = 7;
        argv[1] = (const char *) ctx->session_key.data;
        argvlen[1] = ctx->session_key.len;
        argv[2] = (const char *) ms;
        argvlen[2] = ngx_sprintf(ms, "%T000", ttl) - ms;

        (void) ngx_gov_redis_send(r->connection->log, NULL, NULL, NULL,
                                  3, argv, argvlen);
    }

done:

    ngx_gov_metrics_inc(NGX_GOV_M_AUTH + ctx->reason);

    if (ctx->done) {
        ctx->done(r);
    }
}


ngx_int_t
ngx_http_gov_get_cookie(ngx_http_request_t *r, ngx_str_t *name,
    ngx_str_t *value)
{
    size_t             len;
    ngx_uint_t         i;
    const char        *v;
    ngx_table_elt_t  **h;

    h = r->headers_in.cookies.elts;

    for (i = 0; i < r->headers_in.cookies.nelts; i++) {
        if (gov_cookie_get((char *) h[i]->value.data, h[i]->value.len,
                           (char *) name->data, name->len, &v, &len))
        {
            value->data = (u_char *) v;
            value->len = len;
            return NGX_OK;
        }
    }

    return NGX_DECLINED;
}


/* variables */


static ngx_int_t
ngx_http_gov_variable(ngx_http_request_t *r, ngx_http_variable_value_t *v,
    uintptr_t data)
{
    size_t                    i;
    const char               *s;
    ngx_str_t                *str;
    ngx_http_gov_auth_ctx_t  *ctx;

    ctx = ngx_http_get_module_ctx(r, ngx_http_gov_module);

    if (ctx == NULL || ctx->state != NGX_HTTP_GOV_ID_DONE) {
        v->not_found = 1;
        return NGX_OK;
    }

    switch (data) {

    case NGX_HTTP_GOV_VAR_SUBJECT:
        str = &ctx->subject;
        break;

    case NGX_HTTP_GOV_VAR_MASKED:

        /* for logs: "110101199001011234" as "1101**********1234" */

        if (ctx->subject.len == 0) {
            v->not_found = 1;
            return NGX_OK;
        }

        v->data = ngx_pnalloc(r->pool, ctx->subject.len);
        if (v->data == NULL) {
            return NGX_ERROR;
        }

        for (i = 0; i < ctx->subject.len; i++) {
            v->data[i] = (ctx->subject.len > 8
                          && (i < 4 || i + 4 >= ctx->subject.len))
                         ? ctx->subject.data[i] : '*';
        }

        v->len = ctx->subject.len;
        v->valid = 1;
        v->no_cacheable = 1;
        v->not_found = 0;

        return NGX_OK;

    case NGX_HTTP_GOV_VAR_ACTOR:
        str = &ctx->actor;
        break;

    default: /* NGX_HTTP_GOV_VAR_REASON */

        if (ctx->reason == GOV_AUTH_OK) {
            v->not_found = 1;
            return NGX_OK;
        }

        s = gov_auth_reason_str(ctx->reason);

        v->data = (u_char *) s;
        v->len = ngx_strlen(s);
        v->valid = 1;
        v->no_cacheable = 1;
        v->not_found = 0;

        return NGX_OK;
    }

    if (str->len == 0) {
        v->not_found = 1;
        return NGX_OK;
    }

    v->data = str->data;
    v->len = str->len;
    v->valid = 1;
    v->no_cacheable = 1;
    v->not_found = 0;

    return NGX_OK;
}


static ngx_int_t
ngx_http_gov_claim_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data)
{
    ngx_str_t *name = (ngx_str_t *) data;

    char    *dump, key[256];
    size_t   len;
    json_t  *claim, *claims;

    len = name->len - (sizeof("gov_claim_") - 1);

    claims = ngx_http_gov_claims(r);

    if (claims == NULL || len == 0 || len >= sizeof(key)) {
        v->not_found = 1;
        return NGX_OK;
    }

    ngx_memcpy(key, name->data + sizeof("gov_claim_") - 1, len);
    key[len] = '\0';

    claim = json_object_get(claims, key);

    if (claim == NULL) {
        v->not_found = 1;
        return NGX_OK;
    }

    if (json_is_string(claim)) {
        v->data = (u_char *) json_string_value(claim);
        v->len = json_string_length(claim);

    } else {
        dump = json_dumps(claim, JSON_COMPACT|JSON_ENCODE_ANY);
        if (dump == NULL) {
            return NGX_ERROR;
        }

        v->len = ngx_strlen(dump);
        v->data = ngx_pnalloc(r->pool, v->len);
        if (v->data == NULL) {
            free(dump);
            return NGX_ERROR;
        }

        ngx_memcpy(v->data, dump, v->len);
        free(dump);
    }

    v->valid = 1;
    v->no_cacheable = 1;
    v->not_found = 0;

    return NGX_OK;
}


void **
ngx_http_gov_flow_slot(ngx_http_request_t *r)
{
    ngx_http_gov_auth_ctx_t  *ctx;

    ctx = ngx_http_gov_auth_ctx(r);

    return ctx ? &ctx->flow : NULL;
}


void *
ngx_http_gov_flow(ngx_http_request_t *r)
{
    ngx_http_gov_auth_ctx_t  *ctx;

    ctx = ngx_http_get_module_ctx(r, ngx_http_gov_module);

    return ctx ? ctx->flow : NULL;
}


/*
 * Origin, else Referer, against the portal's own origin (the scheme of
 * the connection and the Host header) and the trusted ones; "Origin:
 * null" passes only with "Sec-Fetch-Site: same-origin".  A request
 * carrying neither comes from no browser page (browsers send Origin with
 * every cross-site POST), so it passes.
 */

ngx_int_t
ngx_http_gov_same_site(ngx_http_request_t *r)
{
    u_char                   *p;
    ngx_str_t                 own, *value, *trusted;
    ngx_uint_t                i, referer;
    ngx_table_elt_t          *h, *site;
    ngx_http_gov_loc_conf_t  *glcf;

    if (r->method & (NGX_HTTP_GET|NGX_HTTP_HEAD|NGX_HTTP_OPTIONS)) {
        return NGX_OK;
    }

    h = r->headers_in.authorization;

    if (h && h->value.len >= 7
        && ngx_strncasecmp(h->value.data, (u_char *) "Bearer ", 7) == 0)
    {
        return NGX_OK;
    }

    h = ngx_http_gov_find_header(r, "origin", 6);
    referer = 0;

    if (h == NULL) {
        h = r->headers_in.referer;
        referer = 1;
    }

    if (h == NULL) {
        return NGX_OK;
    }

    value = &h->value;

    if (!referer && value->len == 4
        && ngx_strncmp(value->data, "null", 4) == 0)
    {
        /*
         * A page sent with Referrer-Policy: no-referrer (a query code in
         * its address) posts its forms with "Origin: null"; the browser's
         * fetch metadata, which no page can set, says where from.
         */

        site = ngx_http_gov_find_header(r, "sec-fetch-site", 14);

        if (site && site->value.len == 11
            && ngx_strncasecmp(site->value.data, (u_char *) "same-origin", 11)
               == 0)
        {
            return NGX_OK;
        }
    }

    if (r->headers_in.host) {
        own.len = sizeof("https://") - 1 + r->headers_in.host->value.len;
        own.data = ngx_pnalloc(r->pool, own.len);
        if (own.data == NULL) {
            return NGX_DECLINED;
        }

        p = ngx_sprintf(own.data, "%s://%V",
#if (NGX_HTTP_SSL)
                        r->connection->ssl ? "https" : "http",
#else
                        "http",
#endif
                        &r->headers_in.host->value);
        own.len = p - own.data;

        if (ngx_http_gov_origin_is(&own, value, referer)) {
            return NGX_OK;
        }
    }

    glcf = ngx_http_get_module_loc_conf(r, ngx_http_gov_module);

    if (glcf->trusted_origins) {
        trusted = glcf->trusted_origins->elts;

        for (i = 0; i < glcf->trusted_origins->nelts; i++) {
            if (ngx_http_gov_origin_is(&trusted[i], value, referer)) {
                return NGX_OK;
            }
        }
    }

    ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                  "gov: cross-site request refused, %s: \"%V\"",
                  referer ? "Referer" : "Origin", value);

    return NGX_DECLINED;
}


/* an Origin equal to "origin", or a Referer within it */

static ngx_uint_t
ngx_http_gov_origin_is(ngx_str_t *origin, ngx_str_t *value,
    ngx_uint_t referer)
{
    if (value->len < origin->len
        || ngx_strncasecmp(value->data, origin->data, origin->len) != 0)
    {
        return 0;
    }

    if (value->len == origin->len) {
        return 1;
    }

    return referer && value->data[origin->len] == '/';
}


ngx_int_t
ngx_http_gov_cross_site(ngx_http_request_t *r)
{
    ngx_gov_metrics_inc(NGX_GOV_M_CROSS_SITE);

    return ngx_http_gov_error(r, NGX_HTTP_FORBIDDEN, "cross_site");
}


/* gov_trusted_origin ORIGIN ...;  scheme://host[:port], nothing more */

char *
ngx_http_gov_trusted_origin(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_gov_loc_conf_t  *glcf = conf;

    u_char      *p, *host;
    ngx_str_t   *value, *o;
    ngx_uint_t   i;

    if (glcf->trusted_origins != NGX_CONF_UNSET_PTR) {
        return "is duplicate";
    }

    glcf->trusted_origins = ngx_array_create(cf->pool, cf->args->nelts - 1,
                                             sizeof(ngx_str_t));
    if (glcf->trusted_origins == NULL) {
        return NGX_CONF_ERROR;
    }

    value = cf->args->elts;

    for (i = 1; i < cf->args->nelts; i++) {
        p = value[i].data;

        if (value[i].len > 7 && ngx_strncmp(p, "http://", 7) == 0) {
            host = p + 7;

        } else if (value[i].len > 8 && ngx_strncmp(p, "https://", 8) == 0) {
            host = p + 8;

        } else {
            host = NULL;
        }

        if (host == NULL || ngx_strlchr(host, p + value[i].len, '/')
            || ngx_strlchr(host, p + value[i].len, '?')
            || ngx_strlchr(host, p + value[i].len, '#'))
        {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "gov_trusted_origin: \"%V\" is not an origin "
                               "(scheme://host[:port], no path)", &value[i]);
            return NGX_CONF_ERROR;
        }

        o = ngx_array_push(glcf->trusted_origins);
        if (o == NULL) {
            return NGX_CONF_ERROR;
        }

        *o = value[i];
    }

    return NGX_CONF_OK;
}
