
/*
 * Copyright (C) ngx_gov_module authors
 */


/*
 * Cookie sessions in Redis: gov_session_cookie, gov_session_ttl, the
 * session lookup, gov_login (a verified token becomes a session) and
 * gov_logout.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include <openssl/rand.h>

#include "ngx_gov_metrics.h"
#include "ngx_gov_answer.h"
#include "ngx_gov_token.h"
#include "ngx_gov_session.h"
#include "ngx_gov_access.h"
#include "gov_b64.h"
#include "gov_http.h"


typedef struct {
    ngx_http_request_t             *request;
    ngx_str_t                       sid;
    ngx_str_t                       return_to;
    ngx_str_t                       subject;
    ngx_str_t                       actor;
    ngx_str_t                       logout;
    ngx_uint_t                      browser;
} ngx_http_gov_login_ctx_t;


static ngx_int_t ngx_http_gov_set_cookie(ngx_http_request_t *r,
    ngx_http_gov_loc_conf_t *glcf, ngx_str_t *sid, time_t max_age);
static void ngx_http_gov_login_body(ngx_http_request_t *r);
static ngx_int_t ngx_http_gov_login_args(ngx_http_request_t *r,
    ngx_str_t *token, ngx_str_t *return_to, json_t **doc);
static ngx_int_t ngx_http_gov_login_field(ngx_http_request_t *r,
    ngx_str_t *body, char *name, ngx_str_t *value);
static ngx_int_t ngx_http_gov_login_store(ngx_http_request_t *r,
    ngx_http_gov_login_ctx_t *lctx, json_t *claims);
static ngx_int_t ngx_http_gov_login_copy(ngx_http_request_t *r,
    const char *s, ngx_str_t *to);
static ngx_int_t ngx_http_gov_login_failed(ngx_http_request_t *r,
    ngx_int_t reason);
static void ngx_http_gov_login_done(redisReply *reply, void *data);
static void ngx_http_gov_logout_done(redisReply *reply, void *data);
static ngx_int_t ngx_http_gov_logout_answer(ngx_http_request_t *r,
    ngx_str_t *logout);


char *
ngx_http_gov_session_cookie(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_gov_loc_conf_t *glcf = conf;

    u_char      *p;
    ngx_str_t   *value;
    ngx_uint_t   i;

    if (glcf->cookie_name.data) {
        return "is duplicate";
    }

    value = cf->args->elts;

    for (p = value[1].data; p < value[1].data + value[1].len; p++) {
        if (*p <= 0x20 || *p >= 0x7f || ngx_strchr("()<>@,;:\\\"/[]?={}", *p))
        {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "invalid cookie name \"%V\"", &value[1]);
            return NGX_CONF_ERROR;
        }
    }

    glcf->cookie_name = value[1];

    for (i = 2; i < cf->args->nelts; i++) {

        if (ngx_strcmp(value[i].data, "secure") == 0) {
            glcf->cookie_secure = 1;

        } else if (ngx_strcmp(value[i].data, "insecure") == 0) {
            glcf->cookie_secure = 0;

        } else if (ngx_strcmp(value[i].data, "samesite=lax") == 0) {
            glcf->cookie_samesite = NGX_HTTP_GOV_SAMESITE_LAX;

        } else if (ngx_strcmp(value[i].data, "samesite=strict") == 0) {
            glcf->cookie_samesite = NGX_HTTP_GOV_SAMESITE_STRICT;

        } else if (ngx_strcmp(value[i].data, "samesite=none") == 0) {
            glcf->cookie_samesite = NGX_HTTP_GOV_SAMESITE_NONE;

        } else if (ngx_strncmp(value[i].data, "domain=", 7) == 0
                   && value[i].len > 7)
        {
            for (p = value[i].data + 7; p < value[i].data + value[i].len; p++)
            {
                if (*p <= 0x20 || *p >= 0x7f || *p == ';' || *p == ',') {
                    ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                                       "invalid cookie domain \"%V\"",
                                       &value[i]);
                    return NGX_CONF_ERROR;
                }
            }

            glcf->cookie_domain.data = value[i].data + 7;
            glcf->cookie_domain.len = value[i].len - 7;

        } else {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "invalid parameter \"%V\" in "
                               "gov_session_cookie", &value[i]);
            return NGX_CONF_ERROR;
        }
    }

    return NGX_CONF_OK;
}


char *
ngx_http_gov_session_ttl(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_gov_loc_conf_t *glcf = conf;

    ngx_str_t  *value;

    if (glcf->session_idle != NGX_CONF_UNSET) {
        return "is duplicate";
    }

    value = cf->args->elts;

    glcf->session_idle = ngx_parse_time(&value[1], 1);

    if (glcf->session_idle == (time_t) NGX_ERROR || glcf->session_idle < 60)
    {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid idle session lifetime \"%V\", "
                           "must be at least 1m", &value[1]);
        return NGX_CONF_ERROR;
    }

    glcf->session_absolute = glcf->session_idle;

    if (cf->args->nelts == 3) {
        glcf->session_absolute = ngx_parse_time(&value[2], 1);

        if (glcf->session_absolute == (time_t) NGX_ERROR
            || glcf->session_absolute < glcf->session_idle)
        {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "invalid absolute session lifetime \"%V\", "
                               "must be at least the idle lifetime",
                               &value[2]);
            return NGX_CONF_ERROR;
        }
    }

    return NGX_CONF_OK;
}


static ngx_int_t
ngx_http_gov_set_cookie(ngx_http_request_t *r, ngx_http_gov_loc_conf_t *glcf,
    ngx_str_t *sid, time_t max_age)
{
    u_char     *p;
    size_t      len;
    ngx_str_t   value;

    static const char  *samesite[] = { "; SameSite=Lax", "; SameSite=Strict",
                                       "; SameSite=None" };

    len = glcf->cookie_name.len + 1 + sid->len
          + sizeof("; Path=/; Max-Age=") - 1 + NGX_TIME_T_LEN
          + sizeof("; Expires=Thu, 01 Jan 1970 00:00:00 GMT") - 1
          + sizeof("; HttpOnly; Secure; SameSite=Strict") - 1
          + sizeof("; Domain=") - 1 + glcf->cookie_domain.len;

    value.data = ngx_pnalloc(r->pool, len);
    if (value.data == NULL) {
        return NGX_ERROR;
    }

    p = ngx_sprintf(value.data, "%V=%V; Path=/; Max-Age=%T",
                    &glcf->cookie_name, sid, max_age);

    if (max_age == 0) {
        p = ngx_cpymem(p, "; Expires=Thu, 01 Jan 1970 00:00:00 GMT",
                       sizeof("; Expires=Thu, 01 Jan 1970 00:00:00 GMT") - 1);
    }

    if (glcf->cookie_domain.len) {
        p = ngx_sprintf(p, "; Domain=%V", &glcf->cookie_domain);
    }

    p = ngx_cpymem(p, "; HttpOnly", sizeof("; HttpOnly") - 1);

    if (glcf->cookie_secure) {
        p = ngx_cpymem(p, "; Secure", sizeof("; Secure") - 1);
    }

    p = ngx_sprintf(p, "%s", samesite[glcf->cookie_samesite]);

    value.len = p - value.data;

    return ngx_http_gov_add_header(r, &r->headers_out.headers, "Set-Cookie",
                                   &value);
}


/* gov_login */


ngx_int_t
ngx_http_gov_login_handler(ngx_http_request_t *r)
{
    ngx_int_t  rc;

    if (r->method == NGX_HTTP_GET) {
        rc = ngx_http_discard_request_body(r);
        if (rc != NGX_OK) {
            return rc;
        }

        r->main->count++;
        ngx_http_gov_login_body(r);

        return NGX_DONE;
    }

    return ngx_http_gov_read_post(r, ngx_http_gov_login_body);
}


static void
ngx_http_gov_login_body(ngx_http_request_t *r)
{
    json_t                    *doc, *claims;
    ngx_int_t                  rc, reason;
    ngx_str_t                  token, return_to;
    ngx_http_gov_who_t         who;
    ngx_http_gov_login_ctx_t  *lctx;

    if (ngx_http_gov_same_site(r) != NGX_OK) {
        /* login CSRF: a foreign page must not log the browser in */
        ngx_http_finalize_request(r, ngx_http_gov_cross_site(r));
        return;
    }

    lctx = ngx_pcalloc(r->pool, sizeof(ngx_http_gov_login_ctx_t));
    if (lctx == NULL) {
        ngx_http_finalize_request(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
        return;
    }

    lctx->request = r;
    lctx->browser = ngx_http_gov_wants_html(r);

    doc = NULL;

    rc = ngx_http_gov_login_args(r, &token, &return_to, &doc);
    if (rc != NGX_OK) {
        json_decref(doc);
        ngx_http_finalize_request(r, rc == NGX_ERROR
                                     ? NGX_HTTP_INTERNAL_SERVER_ERROR : rc);
        return;
    }

    /* only a same-origin relative path, anything else goes to "/" */

    if (return_to.len && gov_return_to_ok((char *) return_to.data,
                                          return_to.len))
    {
        lctx->return_to.data = ngx_pnalloc(r->pool, return_to.len);
        if (lctx->return_to.data == NULL) {
            json_decref(doc);
            ngx_http_finalize_request(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
            return;
        }

        ngx_memcpy(lctx->return_to.data, return_to.data, return_to.len);
        lctx->return_to.len = return_to.len;

    } else {
        ngx_str_set(&lctx->return_to, "/");
    }

    if (token.len == 0) {
        json_decref(doc);
        ngx_http_finalize_request(r, ngx_http_gov_login_failed(
                                         r, GOV_AUTH_MISSING));
        return;
    }

    reason = ngx_http_gov_verify(r, &token, &who, &claims);
    json_decref(doc);

    ngx_gov_metrics_inc(NGX_GOV_M_AUTH + reason);

    if (reason != GOV_AUTH_OK) {
        ngx_http_finalize_request(r, ngx_http_gov_login_failed(r, reason));
        return;
    }

    rc = ngx_http_gov_queued(r, ngx_http_gov_login_store(r, lctx, claims));
    json_decref(claims);

    if (rc != NGX_DONE) {
        ngx_http_finalize_request(r, rc);
    }

    /* else ngx_http_gov_login_done() finalizes */
}


ngx_int_t
ngx_http_gov_session_start(ngx_http_request_t *r, json_t *claims,
    ngx_str_t *return_to, ngx_uint_t browser, ngx_str_t *logout)
{
    ngx_http_gov_login_ctx_t  *lctx;

    lctx = ngx_pcalloc(r->pool, sizeof(ngx_http_gov_login_ctx_t));
    if (lctx == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    lctx->request = r;
    lctx->browser = browser;
    lctx->return_to = *return_to;

    if (logout) {
        lctx->logout = *logout;
    }

    ngx_gov_metrics_inc(NGX_GOV_M_AUTH + GOV_AUTH_OK);

    return ngx_http_gov_queued(r, ngx_http_gov_login_store(r, lctx, claims));
}


/*
 * The token and return_to: from the query (an identity provider's
 * redirect; the token is masked in the logs), a JSON body or a form.
 * NGX_OK, an HTTP status, or NGX_ERROR.  "doc" holds what the strings
 * point into and is released by the caller.
 */

static ngx_int_t
ngx_http_gov_login_args(ngx_http_request_t *r, ngx_str_t *token,
    ngx_str_t *return_to, json_t **doc)
{
    json_t      *v;
    ngx_int_t    rc;
    ngx_str_t    body;
    ngx_uint_t   type;

    ngx_str_null(token);
    ngx_str_null(return_to);

    if (r->method == NGX_HTTP_GET) {
        if (ngx_http_gov_query_arg(r, "token", token, 1) != NGX_OK
            || ngx_http_gov_query_arg(r, "return_to", return_to, 0) != NGX_OK)
        {
            return NGX_ERROR;
        }

        return NGX_OK;
    }

    rc = ngx_http_gov_read_body(r, &body);
    if (rc != NGX_OK) {
        return rc;
    }

    type = ngx_http_gov_body_type(r);

    if (type == NGX_GOV_BODY_JSON) {
        *doc = json_loadb((char *) body.data, body.len,
                          JSON_REJECT_DUPLICATES, NULL);
        if (!json_is_object(*doc)) {
            return NGX_HTTP_BAD_REQUEST;
        }

        v = json_object_get(*doc, "token");
        if (json_is_string(v)) {
            token->data = (u_char *) json_string_value(v);
            token->len = json_string_length(v);
        }

        v = json_object_get(*doc, "return_to");
        if (json_is_string(v)) {
            return_to->data = (u_char *) json_string_value(v);
            return_to->len = json_string_length(v);
        }

        return NGX_OK;
    }

    if (type == NGX_GOV_BODY_FORM) {
        if (ngx_http_gov_login_field(r, &body, "token", token) != NGX_OK
            || ngx_http_gov_login_field(r, &body, "return_to", return_to)
               != NGX_OK)
        {
            return NGX_ERROR;
        }

        return NGX_OK;
    }

    return NGX_HTTP_UNSUPPORTED_MEDIA_TYPE;
}


static ngx_int_t
ngx_http_gov_login_field(ngx_http_request_t *r, ngx_str_t *body, char *name,
    ngx_str_t *value)
{
    long  n;

    value->data = ngx_pnalloc(r->pool, body->len + 1);
    if (value->data == NULL) {
        return NGX_ERROR;
    }

    n = gov_form_get((char *) body->data, body->len, name,
                     (char *) value->data, body->len);
    value->len = n < 0 ? 0 : (size_t) n;

    return NGX_OK;
}


/*
 * The session: subject and actor copied (the claims go away with the
 * caller), an opaque random id of 256 bits of which Redis stores only the
 * hash, SET with the idle expiry.  NGX_OK (ngx_http_gov_login_done()
 * follows), NGX_DECLINED when Redis is down, NGX_ERROR.
 */

static ngx_int_t
ngx_http_gov_login_store(ngx_http_request_t *r,
    ngx_http_gov_login_ctx_t *lctx, json_t *claims)
{
    json_t                   *value;
    ngx_str_t                 key, body;
    ngx_http_gov_loc_conf_t  *glcf;
    u_char                    random[NGX_HTTP_GOV_SID_BYTES];
    u_char                    ms[NGX_TIME_T_LEN + 4];
    const char               *argv[6];
    size_t                    argvlen[6];

    glcf = ngx_http_get_module_loc_conf(r, ngx_http_gov_module);

    if (ngx_http_gov_login_copy(r, gov_jwt_subject(claims), &lctx->subject)
        != NGX_OK
        || ngx_http_gov_login_copy(r, gov_jwt_actor(claims), &lctx->actor)
           != NGX_OK)
    {
        return NGX_ERROR;
    }

    if (RAND_bytes(random, NGX_HTTP_GOV_SID_BYTES) != 1) {
        return NGX_ERROR;
    }

    lctx->sid.data = ngx_pnalloc(r->pool, NGX_HTTP_GOV_SID_LEN);
    if (lctx->sid.data == NULL) {
        return NGX_ERROR;
    }

    lctx->sid.len = gov_b64url_encode((char *) lctx->sid.data, random,
                                      NGX_HTTP_GOV_SID_BYTES);

    if (ngx_http_gov_session_key(r, &lctx->sid, &key) != NGX_OK) {
        return NGX_ERROR;
    }

    value = json_pack("{s:O,s:I,s:I}", "claims", claims,
                      "created", (json_int_t) ngx_time(),
                      "abs", (json_int_t) (ngx_time()
                                           + glcf->session_absolute));

    if (value && lctx->logout.len) {
        /* the identity provider's end-session URL, for gov_logout */
        json_object_set_new(value, "logout",
                            json_stringn((char *) lctx->logout.data,
                                         lctx->logout.len));
    }
    if (ngx_gov_json_text(r->pool, value, 0, &body) != NGX_OK) {
        return NGX_ERROR;
    }

    argv[0] = "SET";
    argvlen[0] = 3;
    argv[1] = (const char *) key.data;
    argvlen[1] = key.len;
    argv[2] = (const char *) body.data;
    argvlen[2] = body.len;
    argv[3] = "PX";
    argvlen[3] = 2;
    argv[4] = (const char *) ms;
    argvlen[4] = ngx_sprintf(ms, "%T000", glcf->session_idle) - ms;
    argv[5] = "NX";
    argvlen[5] = 2;

    return ngx_http_gov_redis_send(r, ngx_http_gov_login_done, lctx, 6, argv,
                                   argvlen);
}


/* a C string into the pool; NULL leaves "to" empty */

static ngx_int_t
ngx_http_gov_login_copy(ngx_http_request_t *r, const char *s, ngx_str_t *to)
{
    if (s == NULL) {
        ngx_str_null(to);
        return NGX_OK;
    }

    to->len = ngx_strlen(s);
    to->data = ngx_pnalloc(r->pool, to->len);
    if (to->data == NULL) {
        return NGX_ERROR;
    }

    ngx_memcpy(to->data, s, to->len);

    return NGX_OK;
}


/*
 * gov_login refused the token: 401 with the reason, and for a browser
 * the login page saying why, never a redirect back to the login URL
 * (which may be what sent it here).
 */

static ngx_int_t
ngx_http_gov_login_failed(ngx_http_request_t *r, ngx_int_t reason)
{
    return ngx_http_gov_challenge(r, reason, "登录没有成功",
                                  reason == GOV_AUTH_EXPIRED
                                  ? "登录凭证已经过期，请重新登录。"
                                  : reason == GOV_AUTH_MISSING
                                  ? "没有收到登录凭证，请从登录页面登录。"
                                  : "登录凭证无法验证，请重新登录。");
}


static void
ngx_http_gov_login_done(redisReply *reply, void *data)
{
    ngx_http_gov_login_ctx_t *lctx = data;

    json_t                   *obj;
    ngx_int_t                 rc;
    ngx_str_t                 body;
    ngx_connection_t         *c;
    ngx_http_request_t       *r;
    ngx_http_gov_loc_conf_t  *glcf;

    r = lctx->request;
    c = r->connection;
    glcf = ngx_http_get_module_loc_conf(r, ngx_http_gov_module);

    if (reply == NULL || reply->type != REDIS_REPLY_STATUS) {
        rc = ngx_http_gov_unavailable(r);
        goto done;
    }

    ngx_gov_metrics_inc(NGX_GOV_M_SESSIONS_CREATED);

    if (ngx_http_gov_set_cookie(r, glcf, &lctx->sid, glcf->session_absolute)
        != NGX_OK)
    {
        rc = NGX_HTTP_INTERNAL_SERVER_ERROR;
        goto done;
    }

    if (lctx->browser) {
        if (ngx_http_gov_location(r, &lctx->return_to) != NGX_OK) {
            rc = NGX_HTTP_INTERNAL_SERVER_ERROR;
            goto done;
        }

        body.len = 0;
        body.data = NULL;

        rc = ngx_http_gov_send(r, NGX_HTTP_SEE_OTHER,
                               &r->headers_out.content_type, &body);
        goto done;
    }

    obj = json_object();

    if (obj) {
        json_object_set_new(obj, "subject",
                            json_stringn((char *) lctx->subject.data,
                                         lctx->subject.len));
        json_object_set_new(obj, "actor",
                            lctx->actor.len
                            ? json_stringn((char *) lctx->actor.data,
                                           lctx->actor.len)
                            : json_null());
    }

    if (ngx_http_gov_json_dump(r, obj, &body) != NGX_OK) {
        rc = NGX_HTTP_INTERNAL_SERVER_ERROR;
        goto done;
    }

    rc = ngx_http_gov_send_json(r, NGX_HTTP_OK, &body);

done:

    ngx_http_finalize_request(r, rc);
    ngx_http_run_posted_requests(c);
}


/* gov_logout */


ngx_int_t
ngx_http_gov_logout_handler(ngx_http_request_t *r)
{
    ngx_int_t                  rc;
    ngx_str_t                  sid, key;
    ngx_http_gov_loc_conf_t   *glcf;
    ngx_http_gov_login_ctx_t  *lctx;

    const char  *argv[2];
    size_t       argvlen[2];

    if (r->method != NGX_HTTP_POST) {
        return NGX_HTTP_NOT_ALLOWED;
    }

    rc = ngx_http_discard_request_body(r);
    if (rc != NGX_OK) {
        return rc;
    }

    if (ngx_http_gov_same_site(r) != NGX_OK) {
        return ngx_http_gov_cross_site(r);
    }

    glcf = ngx_http_get_module_loc_conf(r, ngx_http_gov_module);

    if (ngx_http_gov_get_cookie(r, &glcf->cookie_name, &sid) != NGX_OK
        || sid.len != NGX_HTTP_GOV_SID_LEN)
    {
        return ngx_http_gov_logout_answer(r, NULL);
    }

    if (ngx_http_gov_session_key(r, &sid, &key) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    /* GETDEL: the session goes, and what it says of its end is read */
    argv[0] = "GETDEL";
    argvlen[0] = 6;
    argv[1] = (const char *) key.data;
    argvlen[1] = key.len;

    lctx = ngx_pcalloc(r->pool, sizeof(ngx_http_gov_login_ctx_t));
    if (lctx == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    lctx->request = r;

    rc = ngx_http_gov_redis_send(r, ngx_http_gov_logout_done, lctx, 2, argv,
                                 argvlen);

    if (rc == NGX_DECLINED) {
        /* the session stays in Redis: say so, but drop the cookie */
        ngx_str_null(&sid);

        if (ngx_http_gov_set_cookie(r, glcf, &sid, 0) != NGX_OK) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        return ngx_http_gov_unavailable(r);
    }

    if (rc != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    r->main->count++;

    return NGX_DONE;
}


static void
ngx_http_gov_logout_done(redisReply *reply, void *data)
{
    ngx_http_gov_login_ctx_t *lctx = data;

    ngx_int_t            rc;
    ngx_connection_t    *c;
    ngx_http_request_t  *r;

    r = lctx->request;
    c = r->connection;

    json_t              *doc, *v;
    ngx_str_t            logout;

    ngx_str_null(&logout);
    doc = NULL;

    if (reply == NULL
        || (reply->type != REDIS_REPLY_STRING
            && reply->type != REDIS_REPLY_NIL))
    {
        rc = ngx_http_gov_unavailable(r);
        goto done;
    }

    if (reply->type == REDIS_REPLY_STRING) {
        doc = json_loadb(reply->str, reply->len, 0, NULL);
        v = json_object_get(doc, "logout");

        if (json_is_string(v)) {
            logout.data = (u_char *) json_string_value(v);
            logout.len = json_string_length(v);
        }
    }

    rc = ngx_http_gov_logout_answer(r, logout.len ? &logout : NULL);

done:

    json_decref(doc);

    ngx_http_finalize_request(r, rc);
    ngx_http_run_posted_requests(c);
}


/*
 * The answer to a logout: the cookie expired, and for a browser 303 to
 * "/", or to the identity provider's end-session URL when the session
 * came from one (RP-initiated logout); other clients get 204, with that
 * URL in Location.  "logout" is copied: it may point into a reply.
 */

static ngx_int_t
ngx_http_gov_logout_answer(ngx_http_request_t *r, ngx_str_t *logout)
{
    ngx_str_t                 empty, location;
    ngx_http_gov_loc_conf_t  *glcf;

    glcf = ngx_http_get_module_loc_conf(r, ngx_http_gov_module);

    ngx_str_null(&empty);

    if (ngx_http_gov_set_cookie(r, glcf, &empty, 0) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (logout) {
        location.data = ngx_pnalloc(r->pool, logout->len);
        if (location.data == NULL) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        location.len = logout->len;
        ngx_memcpy(location.data, logout->data, logout->len);

    } else {
        ngx_str_set(&location, "/");
    }

    if (ngx_http_gov_wants_html(r)) {
        if (ngx_http_gov_location(r, &location) != NGX_OK) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        return ngx_http_gov_send(r, NGX_HTTP_SEE_OTHER,
                                 &r->headers_out.content_type, &empty);
    }

    if (logout && ngx_http_gov_location(r, &location) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return ngx_http_gov_send(r, NGX_HTTP_NO_CONTENT,
                             &r->headers_out.content_type, &empty);
}
