
/*
 * Copyright (C) ngx_gov_module authors
 */


/*
 * Identity: bearer JWTs (verified by the core, remembered per worker in a
 * bounded LRU keyed by the token's SHA-256), cookie sessions in Redis,
 * gov_auth access control, identity variables and headers, gov_login and
 * gov_logout.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include <openssl/evp.h>
#include <openssl/rand.h>

#include "ngx_http_gov_module.h"
#include "ngx_gov_metrics.h"
#include "gov_b64.h"
#include "gov_http.h"
#include "gov_jwt.h"


#define NGX_HTTP_GOV_SID_BYTES     32
#define NGX_HTTP_GOV_SID_LEN       43
#define NGX_HTTP_GOV_HASH_LEN      32
#define NGX_HTTP_GOV_NEG_TTL       60
#define NGX_HTTP_GOV_NOEXP_TTL     300

#define NGX_HTTP_GOV_ID_NONE       0
#define NGX_HTTP_GOV_ID_PENDING    1
#define NGX_HTTP_GOV_ID_DONE       2


typedef struct {
    ngx_uint_t                      state;
    ngx_int_t                       reason;
    ngx_uint_t                      redis_down;
    json_t                         *claims;
    ngx_str_t                       subject;
    ngx_str_t                       actor;
    ngx_str_t                       name;
    ngx_str_t                       session_key;
    ngx_http_request_t             *request;
    ngx_http_gov_identity_done_pt   done;

    /* a department's callback headers, kept when stripped */
    ngx_str_t                       cb_timestamp;
    ngx_str_t                       cb_signature;
} ngx_http_gov_auth_ctx_t;


typedef struct {
    ngx_rbtree_node_t               node;
    ngx_queue_t                     queue;
    u_char                          hash[NGX_HTTP_GOV_HASH_LEN];
    time_t                          expires;
    ngx_int_t                       reason;
    json_t                         *claims;

    /* the last location policy checked, so a hit checks only times */
    const gov_claim_policy_t       *policy;
    ngx_int_t                       policy_reason;
    gov_jwt_times_t                 times;
} ngx_http_gov_jwt_node_t;


typedef struct {
    ngx_http_request_t             *request;
    ngx_str_t                       sid;
    ngx_str_t                       return_to;
    ngx_str_t                       subject;
    ngx_str_t                       actor;
    ngx_uint_t                      browser;
} ngx_http_gov_login_ctx_t;


static void ngx_http_gov_auth_cleanup(void *data);
static ngx_http_gov_auth_ctx_t *ngx_http_gov_auth_ctx(ngx_http_request_t *r);
static ngx_int_t ngx_http_gov_strip_handler(ngx_http_request_t *r);
static ngx_int_t ngx_http_gov_access_handler(ngx_http_request_t *r);
static void ngx_http_gov_access_resume(ngx_http_request_t *r);
static ngx_int_t ngx_http_gov_deny_handler(ngx_http_request_t *r);
static ngx_int_t ngx_http_gov_identity_headers(ngx_http_request_t *r,
    ngx_http_gov_auth_ctx_t *ctx);
static void ngx_http_gov_set_identity(ngx_http_request_t *r,
    ngx_http_gov_auth_ctx_t *ctx, json_t *claims);
static ngx_int_t ngx_http_gov_verify(ngx_http_request_t *r, ngx_str_t *token,
    json_t **claims);
static ngx_int_t ngx_http_gov_session_lookup(ngx_http_request_t *r,
    ngx_http_gov_auth_ctx_t *ctx, ngx_str_t *sid);
static void ngx_http_gov_session_done(redisReply *reply, void *data);
static ngx_int_t ngx_http_gov_session_key(ngx_http_request_t *r,
    ngx_str_t *sid, ngx_str_t *key);
static ngx_int_t ngx_http_gov_get_cookie(ngx_http_request_t *r,
    ngx_str_t *name, ngx_str_t *value);
static ngx_int_t ngx_http_gov_set_cookie(ngx_http_request_t *r,
    ngx_http_gov_loc_conf_t *glcf, ngx_str_t *sid, time_t max_age);

static ngx_int_t ngx_http_gov_sha256_digest(u_char *data, size_t len,
    u_char *hash);
static void ngx_http_gov_jwt_cache_init(void);
static ngx_http_gov_jwt_node_t *ngx_http_gov_jwt_cache_get(u_char *hash);
static ngx_http_gov_jwt_node_t *ngx_http_gov_jwt_cache_put(ngx_uint_t max,
    u_char *hash, ngx_int_t reason, json_t *claims, time_t expires);
static void ngx_http_gov_jwt_cache_free(ngx_http_gov_jwt_node_t *node);

static void ngx_http_gov_login_body(ngx_http_request_t *r);
static ngx_int_t ngx_http_gov_login_failed(ngx_http_request_t *r,
    ngx_int_t reason);
static ngx_int_t ngx_http_gov_challenge(ngx_http_request_t *r,
    ngx_int_t reason, const char *title, const char *message);
static void ngx_http_gov_login_done(redisReply *reply, void *data);
static void ngx_http_gov_logout_done(redisReply *reply, void *data);
static ngx_int_t ngx_http_gov_logout_answer(ngx_http_request_t *r);

static ngx_int_t ngx_http_gov_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data);
static ngx_int_t ngx_http_gov_claim_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data);


static EVP_MD             *ngx_http_gov_sha256;
static ngx_rbtree_t        ngx_http_gov_jwt_tree;
static ngx_rbtree_node_t   ngx_http_gov_jwt_sentinel;
static ngx_queue_t         ngx_http_gov_jwt_lru;
static ngx_uint_t          ngx_http_gov_jwt_count;
static ngx_uint_t          ngx_http_gov_jwt_inited;


static ngx_str_t  ngx_http_gov_www_authenticate =
    ngx_string("Bearer realm=\"gov\", error=\"invalid_token\"");


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


/* configuration */


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


static void
ngx_http_gov_keyset_cleanup(void *data)
{
    gov_keyset_free(data);
}


char *
ngx_http_gov_jwt_key_file(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_gov_main_conf_t *gmcf = conf;

    char                 err[256];
    u_char              *alg, *kid, *buf;
    size_t               size;
    ssize_t              n;
    ngx_fd_t             fd;
    ngx_str_t           *value, path;
    ngx_uint_t           i;
    ngx_file_info_t      fi;
    ngx_pool_cleanup_t  *cln;

    value = cf->args->elts;
    path = value[1];
    alg = NULL;
    kid = NULL;

    for (i = 2; i < cf->args->nelts; i++) {

        if (ngx_strncmp(value[i].data, "alg=", 4) == 0) {
            alg = value[i].data + 4;
            continue;
        }

        if (ngx_strncmp(value[i].data, "kid=", 4) == 0 && value[i].len > 4) {
            kid = value[i].data + 4;
            continue;
        }

        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid parameter \"%V\" in gov_jwt_key_file",
                           &value[i]);
        return NGX_CONF_ERROR;
    }

    if (ngx_conf_full_name(cf->cycle, &path, 1) != NGX_OK) {
        return NGX_CONF_ERROR;
    }

    fd = ngx_open_file(path.data, NGX_FILE_RDONLY, NGX_FILE_OPEN, 0);
    if (fd == NGX_INVALID_FILE) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, ngx_errno,
                           "cannot open key file \"%V\"", &path);
        return NGX_CONF_ERROR;
    }

    if (ngx_fd_info(fd, &fi) == NGX_FILE_ERROR
        || (size = (size_t) ngx_file_size(&fi)) > 1024 * 1024)
    {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, ngx_errno,
                           "key file \"%V\" cannot be read or is over 1m",
                           &path);
        (void) ngx_close_file(fd);
        return NGX_CONF_ERROR;
    }

    buf = ngx_pnalloc(cf->temp_pool, size + 1);
    if (buf == NULL) {
        (void) ngx_close_file(fd);
        return NGX_CONF_ERROR;
    }

    n = ngx_read_fd(fd, buf, size);
    (void) ngx_close_file(fd);

    if (n == -1 || (size_t) n != size) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, ngx_errno,
                           "cannot read key file \"%V\"", &path);
        return NGX_CONF_ERROR;
    }

    if (gmcf->keyset.cap == 0) {
        cln = ngx_pool_cleanup_add(cf->pool, 0);
        if (cln == NULL) {
            return NGX_CONF_ERROR;
        }

        cln->handler = ngx_http_gov_keyset_cleanup;
        cln->data = &gmcf->keyset;
    }

    err[0] = '\0';

    if (gov_keyset_add(&gmcf->keyset, (char *) buf, size, (char *) alg,
                       (char *) kid, err, sizeof(err))
        != 0)
    {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0, "key file \"%V\": %s",
                           &path, err);
        return NGX_CONF_ERROR;
    }

    ngx_explicit_memzero(buf, size);

    return NGX_CONF_OK;
}


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


char *
ngx_http_gov_jwt_require(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_gov_loc_conf_t *glcf = conf;

    ngx_str_t   *value, *s;
    ngx_uint_t   i;

    if (glcf->require != NGX_CONF_UNSET_PTR) {
        return "is duplicate";
    }

    glcf->require = ngx_array_create(cf->pool, cf->args->nelts,
                                     sizeof(ngx_str_t));
    if (glcf->require == NULL) {
        return NGX_CONF_ERROR;
    }

    value = cf->args->elts;

    for (i = 1; i < cf->args->nelts; i++) {
        s = ngx_array_push(glcf->require);
        if (s == NULL) {
            return NGX_CONF_ERROR;
        }

        *s = value[i];
    }

    return NGX_CONF_OK;
}


/* every client-sent X-Gov-* header goes, on every request */


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


/*
 * 401 with WWW-Authenticate and the reason: JSON, or for a browser the
 * login page with "title" and, when given, "message".
 */

static ngx_int_t
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
    json_t                   *claims;
    ngx_str_t                 token, sid;
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

            ctx->reason = ngx_http_gov_verify(r, &token, &claims);

            if (ctx->reason == GOV_AUTH_OK) {
                ngx_http_gov_set_identity(r, ctx, claims);
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
 * Verifies a token and checks its claims against the location's policy.
 * Returns a gov_auth_reason_e; on GOV_AUTH_OK *claims holds a reference.
 */

static ngx_int_t
ngx_http_gov_verify(ngx_http_request_t *r, ngx_str_t *token, json_t **claims)
{
    time_t                     now, expires;
    u_char                     hash[NGX_HTTP_GOV_HASH_LEN];
    json_t                    *c;
    ngx_int_t                  reason;
    long long                  exp;
    gov_claim_policy_t        *policy;
    ngx_http_gov_jwt_node_t   *node;
    ngx_http_gov_loc_conf_t   *glcf;
    ngx_http_gov_main_conf_t  *gmcf;

    *claims = NULL;

    if (token->len == 0 || token->len > GOV_JWT_MAX_LEN) {
        return GOV_AUTH_MALFORMED;
    }

    gmcf = ngx_http_get_module_main_conf(r, ngx_http_gov_module);
    glcf = ngx_http_get_module_loc_conf(r, ngx_http_gov_module);
    policy = &glcf->policy;

    now = ngx_time();
    node = NULL;

    if (gmcf->jwt_cache) {
        if (ngx_http_gov_sha256_digest(token->data, token->len, hash)
            != NGX_OK)
        {
            return GOV_AUTH_MALFORMED;
        }

        node = ngx_http_gov_jwt_cache_get(hash);

        if (node && node->expires <= now) {
            ngx_http_gov_jwt_cache_free(node);
            node = NULL;
        }
    }

    if (node) {
        ngx_gov_metrics_inc(NGX_GOV_M_JWT_CACHE_HIT);

        if (node->claims == NULL) {
            return node->reason;
        }

    } else {
        if (gmcf->jwt_cache) {
            ngx_gov_metrics_inc(NGX_GOV_M_JWT_CACHE_MISS);
        }

        reason = gov_jwt_verify(&gmcf->keyset, (char *) token->data,
                                token->len, &c);

        if (reason != GOV_AUTH_OK) {
            ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                          "gov auth: token rejected: %s",
                          gov_auth_reason_str(reason));

            if (gmcf->jwt_cache) {
                (void) ngx_http_gov_jwt_cache_put(gmcf->jwt_cache, hash,
                                                  reason, NULL,
                                                  now + NGX_HTTP_GOV_NEG_TTL);
            }

            return reason;
        }

        if (gmcf->jwt_cache) {
            /* remembered never longer than the token's exp */
            exp = gov_jwt_exp(c);
            expires = exp ? (time_t) exp : now + NGX_HTTP_GOV_NOEXP_TTL;

            if (expires > now) {
                node = ngx_http_gov_jwt_cache_put(gmcf->jwt_cache, hash,
                                                  GOV_AUTH_OK, c, expires);
            }
        }

        if (node == NULL) {
            reason = gov_jwt_check_claims(c, policy, now);
            goto checked;
        }

        json_decref(c);
    }

    if (node->policy != policy) {
        node->policy = policy;
        node->policy_reason = gov_jwt_check_static(node->claims, policy);

        if (node->policy_reason == GOV_AUTH_OK) {
            gov_jwt_get_times(node->claims, &node->times);
        }
    }

    reason = node->policy_reason;

    if (reason == GOV_AUTH_OK) {
        reason = gov_jwt_check_time(&node->times, policy->leeway, now);
    }

    c = json_incref(node->claims);

checked:

    if (reason != GOV_AUTH_OK) {
        ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                      "gov auth: token claims rejected: %s",
                      gov_auth_reason_str(reason));
        json_decref(c);
        return reason;
    }

    *claims = c;

    return GOV_AUTH_OK;
}


static ngx_int_t
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


static ngx_int_t
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


/*
 * SHA-256, with the algorithm fetched once per process: OpenSSL 3 would
 * otherwise look it up (under a lock) on every call.
 */

static ngx_int_t
ngx_http_gov_sha256_digest(u_char *data, size_t len, u_char *hash)
{
    if (ngx_http_gov_sha256 == NULL) {
        ngx_http_gov_sha256 = EVP_MD_fetch(NULL, "SHA2-256", NULL);
        if (ngx_http_gov_sha256 == NULL) {
            return NGX_ERROR;
        }
    }

    if (EVP_Digest(data, len, hash, NULL, ngx_http_gov_sha256, NULL) != 1) {
        return NGX_ERROR;
    }

    return NGX_OK;
}


/* the verified-token cache: per worker, bounded, least recently used out */


static void
ngx_http_gov_jwt_cache_init(void)
{
    ngx_rbtree_init(&ngx_http_gov_jwt_tree, &ngx_http_gov_jwt_sentinel,
                    ngx_rbtree_insert_value);
    ngx_queue_init(&ngx_http_gov_jwt_lru);
    ngx_http_gov_jwt_count = 0;
    ngx_http_gov_jwt_inited = 1;
}


static ngx_http_gov_jwt_node_t *
ngx_http_gov_jwt_cache_get(u_char *hash)
{
    ngx_rbtree_key_t          key;
    ngx_rbtree_node_t        *node, *sentinel;
    ngx_http_gov_jwt_node_t  *jn;

    if (!ngx_http_gov_jwt_inited) {
        ngx_http_gov_jwt_cache_init();
    }

    ngx_memcpy(&key, hash, sizeof(ngx_rbtree_key_t));

    node = ngx_http_gov_jwt_tree.root;
    sentinel = ngx_http_gov_jwt_tree.sentinel;

    while (node != sentinel) {

        if (key < node->key) {
            node = node->left;
            continue;
        }

        if (key > node->key) {
            node = node->right;
            continue;
        }

        jn = (ngx_http_gov_jwt_node_t *) node;

        if (ngx_memcmp(jn->hash, hash, NGX_HTTP_GOV_HASH_LEN) == 0) {
            ngx_queue_remove(&jn->queue);
            ngx_queue_insert_head(&ngx_http_gov_jwt_lru, &jn->queue);
            return jn;
        }

        /* equal keys are inserted to the right */
        node = node->right;
    }

    return NULL;
}


static ngx_http_gov_jwt_node_t *
ngx_http_gov_jwt_cache_put(ngx_uint_t max, u_char *hash, ngx_int_t reason,
    json_t *claims, time_t expires)
{
    ngx_queue_t              *q;
    ngx_http_gov_jwt_node_t  *jn;

    if (!ngx_http_gov_jwt_inited) {
        ngx_http_gov_jwt_cache_init();
    }

    while (ngx_http_gov_jwt_count >= max) {
        q = ngx_queue_last(&ngx_http_gov_jwt_lru);
        ngx_http_gov_jwt_cache_free(
            ngx_queue_data(q, ngx_http_gov_jwt_node_t, queue));
    }

    jn = ngx_alloc(sizeof(ngx_http_gov_jwt_node_t), ngx_cycle->log);
    if (jn == NULL) {
        return NULL;
    }

    ngx_memcpy(jn->hash, hash, NGX_HTTP_GOV_HASH_LEN);
    ngx_memcpy(&jn->node.key, hash, sizeof(ngx_rbtree_key_t));
    jn->expires = expires;
    jn->reason = reason;
    jn->claims = claims ? json_incref(claims) : NULL;
    jn->policy = NULL;
    jn->policy_reason = GOV_AUTH_OK;

    ngx_rbtree_insert(&ngx_http_gov_jwt_tree, &jn->node);
    ngx_queue_insert_head(&ngx_http_gov_jwt_lru, &jn->queue);
    ngx_http_gov_jwt_count++;

    return jn;
}


static void
ngx_http_gov_jwt_cache_free(ngx_http_gov_jwt_node_t *jn)
{
    ngx_rbtree_delete(&ngx_http_gov_jwt_tree, &jn->node);
    ngx_queue_remove(&jn->queue);

    if (jn->claims) {
        json_decref(jn->claims);
    }

    ngx_free(jn);
    ngx_http_gov_jwt_count--;
}


void
ngx_http_gov_auth_exit_process(ngx_cycle_t *cycle)
{
    ngx_queue_t  *q;

    if (!ngx_http_gov_jwt_inited) {
        goto done;
    }

    while (!ngx_queue_empty(&ngx_http_gov_jwt_lru)) {
        q = ngx_queue_head(&ngx_http_gov_jwt_lru);
        ngx_http_gov_jwt_cache_free(
            ngx_queue_data(q, ngx_http_gov_jwt_node_t, queue));
    }

    ngx_http_gov_jwt_inited = 0;

done:

    if (ngx_http_gov_sha256) {
        EVP_MD_free(ngx_http_gov_sha256);
        ngx_http_gov_sha256 = NULL;
    }
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

    char                     *dump, key[256];
    size_t                    len;
    json_t                   *claim;
    ngx_http_gov_auth_ctx_t  *ctx;

    ctx = ngx_http_get_module_ctx(r, ngx_http_gov_module);

    len = name->len - (sizeof("gov_claim_") - 1);

    if (ctx == NULL || ctx->claims == NULL || len == 0 || len >= sizeof(key))
    {
        v->not_found = 1;
        return NGX_OK;
    }

    ngx_memcpy(key, name->data + sizeof("gov_claim_") - 1, len);
    key[len] = '\0';

    claim = json_object_get(ctx->claims, key);

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

    if (r->method != NGX_HTTP_POST) {
        return NGX_HTTP_NOT_ALLOWED;
    }

    rc = ngx_http_read_client_request_body(r, ngx_http_gov_login_body);

    if (rc >= NGX_HTTP_SPECIAL_RESPONSE) {
        return rc;
    }

    return NGX_DONE;
}


static void
ngx_http_gov_login_body(ngx_http_request_t *r)
{
    u_char                    *p;
    long                       n;
    json_t                    *doc, *claims, *v, *value;
    ngx_int_t                  rc, reason;
    ngx_str_t                  body, arg, token, return_to, key;
    ngx_str_t                 *ct;
    ngx_http_gov_login_ctx_t  *lctx;
    ngx_http_gov_loc_conf_t   *glcf;
    u_char                     random[NGX_HTTP_GOV_SID_BYTES];
    u_char                     ms[NGX_TIME_T_LEN + 4];
    char                      *dump;
    const char                *argv[6];
    size_t                     argvlen[6];

    glcf = ngx_http_get_module_loc_conf(r, ngx_http_gov_module);

    lctx = ngx_pcalloc(r->pool, sizeof(ngx_http_gov_login_ctx_t));
    if (lctx == NULL) {
        ngx_http_finalize_request(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
        return;
    }

    lctx->request = r;
    lctx->browser = ngx_http_gov_wants_html(r);

    ngx_str_null(&token);
    ngx_str_null(&return_to);
    doc = NULL;

    if (r->method == NGX_HTTP_GET) {

        if (ngx_http_arg(r, (u_char *) "token", 5, &arg) == NGX_OK) {
            token.data = ngx_pnalloc(r->pool, arg.len + 1);
            if (token.data == NULL) {
                goto failed;
            }

            n = gov_pct_decode((char *) token.data, (char *) arg.data,
                               arg.len, 1);
            token.len = n < 0 ? 0 : (size_t) n;

            /* the token must not reach the access or error log */
            ngx_http_gov_mask(r, &arg);
        }

        if (ngx_http_arg(r, (u_char *) "return_to", 9, &arg) == NGX_OK) {
            return_to.data = ngx_pnalloc(r->pool, arg.len + 1);
            if (return_to.data == NULL) {
                goto failed;
            }

            n = gov_pct_decode((char *) return_to.data, (char *) arg.data,
                               arg.len, 1);
            return_to.len = n < 0 ? 0 : (size_t) n;
        }

    } else {
        rc = ngx_http_gov_read_body(r, &body);
        if (rc != NGX_OK) {
            ngx_http_finalize_request(r, rc);
            return;
        }

        ct = r->headers_in.content_type ? &r->headers_in.content_type->value
                                        : NULL;

        if (ct && ct->len >= 16
            && ngx_strncasecmp(ct->data, (u_char *) "application/json", 16)
               == 0)
        {
            doc = json_loadb((char *) body.data, body.len,
                             JSON_REJECT_DUPLICATES, NULL);
            if (!json_is_object(doc)) {
                json_decref(doc);
                ngx_http_finalize_request(r, NGX_HTTP_BAD_REQUEST);
                return;
            }

            v = json_object_get(doc, "token");
            if (json_is_string(v)) {
                token.data = (u_char *) json_string_value(v);
                token.len = json_string_length(v);
            }

            v = json_object_get(doc, "return_to");
            if (json_is_string(v)) {
                return_to.data = (u_char *) json_string_value(v);
                return_to.len = json_string_length(v);
            }

        } else if (ct && ct->len >= 33
                   && ngx_strncasecmp(ct->data, (u_char *)
                                      "application/x-www-form-urlencoded",
                                      33) == 0)
        {
            token.data = ngx_pnalloc(r->pool, body.len + 1);
            return_to.data = ngx_pnalloc(r->pool, body.len + 1);
            if (token.data == NULL || return_to.data == NULL) {
                goto failed;
            }

            n = gov_form_get((char *) body.data, body.len, "token",
                             (char *) token.data, body.len);
            token.len = n < 0 ? 0 : (size_t) n;

            n = gov_form_get((char *) body.data, body.len, "return_to",
                             (char *) return_to.data, body.len);
            return_to.len = n < 0 ? 0 : (size_t) n;

        } else {
            ngx_http_finalize_request(r, NGX_HTTP_UNSUPPORTED_MEDIA_TYPE);
            return;
        }
    }

    /* only a same-origin relative path, anything else goes to "/" */

    if (return_to.len && gov_return_to_ok((char *) return_to.data,
                                          return_to.len))
    {
        lctx->return_to.data = ngx_pnalloc(r->pool, return_to.len);
        if (lctx->return_to.data == NULL) {
            goto failed;
        }

        ngx_memcpy(lctx->return_to.data, return_to.data, return_to.len);
        lctx->return_to.len = return_to.len;

    } else {
        ngx_str_set(&lctx->return_to, "/");
    }

    if (token.len == 0) {
        json_decref(doc);
        rc = ngx_http_gov_login_failed(r, GOV_AUTH_MISSING);
        ngx_http_finalize_request(r, rc);
        return;
    }

    reason = ngx_http_gov_verify(r, &token, &claims);
    json_decref(doc);
    doc = NULL;

    ngx_gov_metrics_inc(NGX_GOV_M_AUTH + reason);

    if (reason != GOV_AUTH_OK) {
        rc = ngx_http_gov_login_failed(r, reason);
        ngx_http_finalize_request(r, rc);
        return;
    }

    /* subject and actor, copied: the claims go away with this function */

    p = (u_char *) gov_jwt_subject(claims);
    lctx->subject.len = ngx_strlen(p);
    lctx->subject.data = ngx_pnalloc(r->pool, lctx->subject.len);
    if (lctx->subject.data == NULL) {
        json_decref(claims);
        goto failed;
    }

    ngx_memcpy(lctx->subject.data, p, lctx->subject.len);

    p = (u_char *) gov_jwt_actor(claims);
    if (p) {
        lctx->actor.len = ngx_strlen(p);
        lctx->actor.data = ngx_pnalloc(r->pool, lctx->actor.len);
        if (lctx->actor.data == NULL) {
            json_decref(claims);
            goto failed;
        }

        ngx_memcpy(lctx->actor.data, p, lctx->actor.len);
    }

    /* an opaque random id of 256 bits; Redis stores only its hash */

    if (RAND_bytes(random, NGX_HTTP_GOV_SID_BYTES) != 1) {
        json_decref(claims);
        goto failed;
    }

    lctx->sid.data = ngx_pnalloc(r->pool, NGX_HTTP_GOV_SID_LEN);
    if (lctx->sid.data == NULL) {
        json_decref(claims);
        goto failed;
    }

    lctx->sid.len = gov_b64url_encode((char *) lctx->sid.data, random,
                                      NGX_HTTP_GOV_SID_BYTES);

    if (ngx_http_gov_session_key(r, &lctx->sid, &key) != NGX_OK) {
        json_decref(claims);
        goto failed;
    }

    value = json_pack("{s:O,s:I,s:I}", "claims", claims,
                      "created", (json_int_t) ngx_time(),
                      "abs", (json_int_t) (ngx_time()
                                           + glcf->session_absolute));
    json_decref(claims);

    if (value == NULL) {
        goto failed;
    }

    dump = json_dumps(value, JSON_COMPACT);
    json_decref(value);

    if (dump == NULL) {
        goto failed;
    }

    body.len = ngx_strlen(dump);
    body.data = ngx_pnalloc(r->pool, body.len);
    if (body.data == NULL) {
        free(dump);
        goto failed;
    }

    ngx_memcpy(body.data, dump, body.len);
    free(dump);

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

    rc = ngx_http_gov_redis_send(r, ngx_http_gov_login_done, lctx, 6, argv,
                                 argvlen);

    if (rc == NGX_DECLINED) {
        ngx_http_finalize_request(r, ngx_http_gov_unavailable(r));
        return;
    }

    if (rc != NGX_OK) {
        goto failed;
    }

    /* ngx_http_gov_login_done() finalizes */

    return;

failed:

    json_decref(doc);
    ngx_http_finalize_request(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
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

    glcf = ngx_http_get_module_loc_conf(r, ngx_http_gov_module);

    if (ngx_http_gov_get_cookie(r, &glcf->cookie_name, &sid) != NGX_OK
        || sid.len != NGX_HTTP_GOV_SID_LEN)
    {
        return ngx_http_gov_logout_answer(r);
    }

    if (ngx_http_gov_session_key(r, &sid, &key) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    argv[0] = "DEL";
    argvlen[0] = 3;
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

    if (reply == NULL || reply->type != REDIS_REPLY_INTEGER) {
        rc = ngx_http_gov_unavailable(r);

    } else {
        rc = ngx_http_gov_logout_answer(r);
    }

    ngx_http_finalize_request(r, rc);
    ngx_http_run_posted_requests(c);
}


static ngx_int_t
ngx_http_gov_logout_answer(ngx_http_request_t *r)
{
    ngx_str_t                 empty, location;
    ngx_http_gov_loc_conf_t  *glcf;

    glcf = ngx_http_get_module_loc_conf(r, ngx_http_gov_module);

    ngx_str_null(&empty);

    if (ngx_http_gov_set_cookie(r, glcf, &empty, 0) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (ngx_http_gov_wants_html(r)) {
        ngx_str_set(&location, "/");

        if (ngx_http_gov_location(r, &location) != NGX_OK) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        return ngx_http_gov_send(r, NGX_HTTP_SEE_OTHER,
                                 &r->headers_out.content_type, &empty);
    }

    return ngx_http_gov_send(r, NGX_HTTP_NO_CONTENT,
                             &r->headers_out.content_type, &empty);
}
