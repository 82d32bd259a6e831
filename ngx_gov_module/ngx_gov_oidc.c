
/*
 * Copyright (C) ngx_gov_module authors
 */


/*
 * OpenID Connect login, the authorization code flow with PKCE (OpenID
 * Connect Core 1.0, RFC 7636, RFC 9700): gov_oidc NAME {}, gov_login
 * oidc=NAME and gov_oidc_callback NAME.  The provider is reached only
 * through subrequests to its proxy location; what needs no nginx
 * (discovery checks, URLs, PKCE, the ID token's own claims) is in the
 * core (gov_oidc.c).
 *
 * A login: discovery (cached per worker), state, nonce and verifier kept
 * in Redis for 10 minutes with a hash of a cookie that binds them to the
 * browser, 302 to the authorization endpoint.  The callback takes the
 * state once (GETDEL), exchanges the code on the back channel, verifies
 * the ID token with the provider's keys (fetched once and shared through
 * Redis; an unknown kid refreshes them at most once a minute across all
 * workers and nodes) and creates the session as gov_login does.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_gov_conf.h"
#include "ngx_gov_metrics.h"
#include "ngx_gov_redis.h"
#include "ngx_gov_answer.h"
#include "ngx_gov_page.h"
#include "ngx_gov_subreq.h"
#include "ngx_gov_token.h"
#include "ngx_gov_access.h"
#include "ngx_gov_session.h"
#include "ngx_gov_oidc.h"
#include "gov_http.h"
#include "gov_oidc.h"


#define NGX_GOV_OIDC_STATE_TTL      600     /* seconds */
#define NGX_GOV_OIDC_REFRESH_MS     60000   /* an unknown kid's refresh */
#define NGX_GOV_OIDC_RETRY_MS       5000    /* ... after a failed one */
#define NGX_GOV_OIDC_STR_(n)        #n
#define NGX_GOV_OIDC_STR(n)         NGX_GOV_OIDC_STR_(n)
#define NGX_GOV_OIDC_DISCOVERY_TTL  3600    /* per worker */
#define NGX_GOV_OIDC_LEEWAY         60
#define NGX_GOV_OIDC_BUFFER         65536   /* the proxy's answers */
#define NGX_GOV_OIDC_ERROR_MAX      64

#define ngx_gov_oidc_word(c)                                                  \
    (((c) >= 'a' && (c) <= 'z') || ((c) >= 'A' && (c) <= 'Z')                 \
     || ((c) >= '0' && (c) <= '9') || (c) == '_' || (c) == '-')


struct ngx_gov_oidc_s {
    ngx_str_t                  name;
    ngx_str_t                  issuer;        /* NUL-ended */
    ngx_str_t                  issuer_path;   /* no slash at the end */
    ngx_str_t                  client_id;     /* NUL-ended */
    ngx_str_t                  secret;        /* zeroed once used */
    ngx_str_t                  basic;         /* "Basic ..." */
    ngx_str_t                  proxy;         /* no slash at the end */
    ngx_str_t                  redirect_uri;  /* a path */
    ngx_str_t                  scope;         /* NUL-ended */
    ngx_str_t                  post_logout;   /* a path, or empty */
    ngx_str_t                  login;         /* its gov_login location */
    unsigned                   algs;          /* 1 << GOV_JWT_* */
    ngx_str_t                  file;
    ngx_uint_t                 line;

    /* this worker's */
    gov_oidc_provider_t        disc;
    time_t                     disc_at;       /* 0: not discovered */
    gov_keyset_t               keys;
};


typedef struct {
    ngx_str_t                  name;
    ngx_uint_t                 callback;
    ngx_http_gov_loc_conf_t   *glcf;
    ngx_http_core_srv_conf_t  *cscf;
    ngx_http_core_loc_conf_t  *clcf;
    ngx_str_t                  file;
    ngx_uint_t                 line;
} ngx_gov_oidc_use_t;


typedef struct ngx_gov_oidc_ctx_s  ngx_gov_oidc_ctx_t;

typedef void (*ngx_gov_oidc_next_pt)(ngx_gov_oidc_ctx_t *ctx);

struct ngx_gov_oidc_ctx_s {
    ngx_http_request_t        *request;
    ngx_gov_oidc_t            *op;

    /* a subrequest's answer and what follows it */
    ngx_event_t                ev;
    ngx_gov_oidc_next_pt       next;
    ngx_gov_oidc_next_pt       after;         /* once discovered */
    ngx_uint_t                 status;
    ngx_str_t                  body;
    ngx_uint_t                 say;           /* its failure logged */
    ngx_str_t                  more;          /* ... with what it hid */
    u_char                     more_buf[NGX_GOV_BREAKER_MORE_LEN];

    ngx_str_t                  return_to;
    ngx_str_t                  code;
    ngx_str_t                  iss;           /* RFC 9207, when sent */
    ngx_str_t                  error;         /* the provider's error= */
    ngx_str_t                  location;      /* the authorization URL */
    ngx_str_t                  binding;       /* the browser's cookie */
    json_t                    *state;         /* the state's record */
    char                      *id_token;
    ngx_uint_t                 keys_fetched;  /* the IdP asked already */
    ngx_uint_t                 refreshed;     /* the unknown kid's turn */
    ngx_uint_t                 keys_failed;   /* the last fetch failed */
    ngx_uint_t                 mark_read;     /* ... as Redis says */
};


static char *ngx_gov_oidc_param(ngx_conf_t *cf, ngx_command_t *dummy,
    void *conf);
static char *ngx_gov_oidc_secret(ngx_conf_t *cf, ngx_gov_oidc_t *op,
    ngx_str_t *path);
static ngx_int_t ngx_gov_oidc_basic(ngx_conf_t *cf, ngx_gov_oidc_t *op);
static char *ngx_gov_oidc_check(ngx_conf_t *cf, ngx_gov_oidc_t *op);
static ngx_http_core_loc_conf_t *ngx_gov_oidc_find_location(
    ngx_http_core_loc_conf_t *clcf, u_char *uri, size_t len);
static ngx_int_t ngx_gov_oidc_check_use(ngx_conf_t *cf,
    ngx_gov_oidc_use_t *use);
static void ngx_gov_oidc_cleanup(void *data);
static void ngx_gov_oidc_ctx_cleanup(void *data);

static ngx_gov_oidc_ctx_t *ngx_gov_oidc_ctx(ngx_http_request_t *r);
static void ngx_gov_oidc_finish(ngx_gov_oidc_ctx_t *ctx, ngx_int_t rc);
static ngx_int_t ngx_gov_oidc_fetch(ngx_gov_oidc_ctx_t *ctx,
    const char *path, ngx_str_t *payload, ngx_gov_oidc_next_pt next);
static ngx_int_t ngx_gov_oidc_fetched(ngx_http_request_t *sr, void *data,
    ngx_int_t rc);
static void ngx_gov_oidc_resume(ngx_event_t *ev);
static void ngx_gov_oidc_discover(ngx_gov_oidc_ctx_t *ctx,
    ngx_gov_oidc_next_pt next);
static void ngx_gov_oidc_discovered(ngx_gov_oidc_ctx_t *ctx);
static ngx_int_t ngx_gov_oidc_key(ngx_http_request_t *r, ngx_str_t *part,
    const char *tail, size_t len, ngx_str_t *key);
static ngx_int_t ngx_gov_oidc_redirect_uri(ngx_http_request_t *r,
    ngx_str_t *path, ngx_str_t *out);
static ngx_int_t ngx_gov_oidc_binding(ngx_http_request_t *r,
    ngx_gov_oidc_t *op, ngx_str_t *value, time_t max_age);

static void ngx_gov_oidc_authorize(ngx_gov_oidc_ctx_t *ctx);
static void ngx_gov_oidc_stored(redisReply *reply, void *data);

static ngx_int_t ngx_gov_oidc_unauthenticated(ngx_http_request_t *r,
    const char *reason);
static ngx_int_t ngx_gov_oidc_idp_error(ngx_http_request_t *r,
    ngx_str_t *error);
static ngx_int_t ngx_gov_oidc_refused(ngx_http_request_t *r,
    const char *reason);
static void ngx_gov_oidc_state(redisReply *reply, void *data);
static void ngx_gov_oidc_dropped(redisReply *reply, void *data);
static void ngx_gov_oidc_exchange(ngx_gov_oidc_ctx_t *ctx);
static void ngx_gov_oidc_exchanged(ngx_gov_oidc_ctx_t *ctx);
static void ngx_gov_oidc_verify(ngx_gov_oidc_ctx_t *ctx);
static void ngx_gov_oidc_keys_read(redisReply *reply, void *data);
static void ngx_gov_oidc_keys_fetch(ngx_gov_oidc_ctx_t *ctx);
static void ngx_gov_oidc_keys_fetched(ngx_gov_oidc_ctx_t *ctx);
static void ngx_gov_oidc_refresh_mark(ngx_gov_oidc_ctx_t *ctx,
    ngx_uint_t set);
static void ngx_gov_oidc_mark_read(redisReply *reply, void *data);
static void ngx_gov_oidc_keys_turn(redisReply *reply, void *data);
static void ngx_gov_oidc_keys_get(ngx_gov_oidc_ctx_t *ctx);
static void ngx_gov_oidc_command(ngx_gov_oidc_ctx_t *ctx,
    ngx_gov_redis_handler_pt handler, int argc, const char **argv,
    const size_t *argvlen);
static void ngx_gov_oidc_set_nx(ngx_gov_oidc_ctx_t *ctx, ngx_str_t *key,
    ngx_str_t *value, const char *unit, const char *ttl,
    ngx_gov_redis_handler_pt handler);
static ngx_int_t ngx_gov_oidc_keys_load(ngx_gov_oidc_t *op, ngx_log_t *log,
    const char *doc, size_t len);
static void ngx_gov_oidc_login(ngx_gov_oidc_ctx_t *ctx, json_t *claims);


static ngx_command_t  ngx_gov_oidc_params[] = {
    { ngx_string("issuer"), NGX_CONF_TAKE1, NULL, 0, 0, NULL },
    { ngx_string("client_id"), NGX_CONF_TAKE1, NULL, 0, 0, NULL },
    { ngx_string("client_secret_file"), NGX_CONF_TAKE1, NULL, 0, 0, NULL },
    { ngx_string("proxy"), NGX_CONF_TAKE1, NULL, 0, 0, NULL },
    { ngx_string("redirect_uri"), NGX_CONF_TAKE1, NULL, 0, 0, NULL },
    { ngx_string("scope"), NGX_CONF_TAKE1, NULL, 0, 0, NULL },
    { ngx_string("post_logout_redirect_uri"), NGX_CONF_TAKE1, NULL, 0, 0,
      NULL },
    { ngx_string("id_token_alg"), NGX_CONF_1MORE, NULL, 0, 0, NULL },
    ngx_null_command
};


/* gov_oidc NAME { ... } */

char *
ngx_gov_oidc_block(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_gov_main_conf_t *gmcf = conf;

    char                *rv;
    ngx_str_t           *value;
    ngx_uint_t           i;
    ngx_conf_t           save;
    ngx_gov_oidc_t      *op, **opp;
    ngx_pool_cleanup_t  *cln;

    value = cf->args->elts;

    if (gmcf->oidc == NULL) {
        gmcf->oidc = ngx_array_create(cf->pool, 2, sizeof(ngx_gov_oidc_t *));
        if (gmcf->oidc == NULL) {
            return NGX_CONF_ERROR;
        }
    }

    opp = gmcf->oidc->elts;

    for (i = 0; i < gmcf->oidc->nelts; i++) {
        if (opp[i]->name.len == value[1].len
            && ngx_strncmp(opp[i]->name.data, value[1].data, value[1].len)
               == 0)
        {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "duplicate gov_oidc \"%V\"", &value[1]);
            return NGX_CONF_ERROR;
        }
    }

    for (i = 0; i < value[1].len; i++) {
        if (!ngx_gov_oidc_word(value[1].data[i])) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "invalid gov_oidc name \"%V\": letters, "
                               "digits, \"-\" and \"_\" only", &value[1]);
            return NGX_CONF_ERROR;
        }
    }

    op = ngx_pcalloc(cf->pool, sizeof(ngx_gov_oidc_t));
    opp = ngx_array_push(gmcf->oidc);
    cln = ngx_pool_cleanup_add(cf->pool, 0);

    if (op == NULL || opp == NULL || cln == NULL) {
        return NGX_CONF_ERROR;
    }

    *opp = op;
    op->name = value[1];
    op->file = cf->conf_file->file.name;
    op->line = cf->conf_file->line;

    cln->handler = ngx_gov_oidc_cleanup;
    cln->data = op;

    save = *cf;
    cf->handler = ngx_gov_oidc_param;
    cf->handler_conf = (void *) op;

    rv = ngx_conf_parse(cf, NULL);

    *cf = save;

    if (rv != NGX_CONF_OK) {
        return rv;
    }

    return ngx_gov_oidc_check(cf, op);
}


static char *
ngx_gov_oidc_param(ngx_conf_t *cf, ngx_command_t *dummy, void *conf)
{
    ngx_gov_oidc_t  *op = conf;

    int             a;
    ngx_str_t      *value, *to;
    ngx_uint_t      i;
    ngx_command_t  *p;

    value = cf->args->elts;

    for (p = ngx_gov_oidc_params; p->name.len; p++) {
        if (p->name.len == value[0].len
            && ngx_strncmp(p->name.data, value[0].data, value[0].len) == 0)
        {
            break;
        }
    }

    if (p->name.len == 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "unknown directive \"%V\" in gov_oidc", &value[0]);
        return NGX_CONF_ERROR;
    }

    if ((p->type == NGX_CONF_TAKE1 && cf->args->nelts != 2)
        || cf->args->nelts < 2)
    {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid number of arguments in \"%V\" of "
                           "gov_oidc", &value[0]);
        return NGX_CONF_ERROR;
    }

    if (ngx_strcmp(value[0].data, "client_secret_file") == 0) {
        return ngx_gov_oidc_secret(cf, op, &value[1]);
    }

    if (ngx_strcmp(value[0].data, "id_token_alg") == 0) {
        if (op->algs) {
            return "is duplicate";
        }

        for (i = 1; i < cf->args->nelts; i++) {
            a = gov_jwt_alg_from_str((char *) value[i].data);

            if (a < GOV_JWT_RS256) {
                ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                                   "invalid id_token_alg \"%V\": RS256, "
                                   "RS384, RS512, ES256, ES384 or ES512",
                                   &value[i]);
                return NGX_CONF_ERROR;
            }

            op->algs |= 1u << a;
        }

        return NGX_CONF_OK;
    }

    to = ngx_strcmp(value[0].data, "issuer") == 0 ? &op->issuer
         : ngx_strcmp(value[0].data, "client_id") == 0 ? &op->client_id
         : ngx_strcmp(value[0].data, "proxy") == 0 ? &op->proxy
         : ngx_strcmp(value[0].data, "redirect_uri") == 0 ? &op->redirect_uri
         : ngx_strcmp(value[0].data, "scope") == 0 ? &op->scope
         : &op->post_logout;

    if (to->data) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"%V\" is duplicate in gov_oidc", &value[0]);
        return NGX_CONF_ERROR;
    }

    *to = value[1];

    return NGX_CONF_OK;
}


/* the client's secret, read when the configuration loads */

static char *
ngx_gov_oidc_secret(ngx_conf_t *cf, ngx_gov_oidc_t *op, ngx_str_t *path)
{
    u_char           *secret;
    size_t            len;
    ssize_t           n;
    ngx_str_t         name;
    ngx_file_t        file;
    ngx_file_info_t   fi;

    if (op->secret.data) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"client_secret_file\" is duplicate in gov_oidc");
        return NGX_CONF_ERROR;
    }

    name = *path;

    if (ngx_conf_full_name(cf->cycle, &name, 1) != NGX_OK) {
        return NGX_CONF_ERROR;
    }

    ngx_memzero(&file, sizeof(ngx_file_t));
    file.name = name;
    file.log = cf->log;

    file.fd = ngx_open_file(name.data, NGX_FILE_RDONLY, NGX_FILE_OPEN, 0);
    if (file.fd == NGX_INVALID_FILE) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, ngx_errno,
                           "gov_oidc \"%V\": cannot read the client secret "
                           "file \"%V\"", &op->name, &name);
        return NGX_CONF_ERROR;
    }

    if (ngx_fd_info(file.fd, &fi) == NGX_FILE_ERROR
        || ngx_file_size(&fi) > 4096)
    {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "gov_oidc \"%V\": the client secret file \"%V\" "
                           "cannot be read or is over 4k", &op->name, &name);
        (void) ngx_close_file(file.fd);
        return NGX_CONF_ERROR;
    }

    len = (size_t) ngx_file_size(&fi);

    secret = ngx_pnalloc(cf->pool, len + 1);
    if (secret == NULL) {
        (void) ngx_close_file(file.fd);
        return NGX_CONF_ERROR;
    }

    n = ngx_read_file(&file, secret, len, 0);
    (void) ngx_close_file(file.fd);

    if (n < 0 || (size_t) n != len) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "gov_oidc \"%V\": cannot read the client secret "
                           "file \"%V\"", &op->name, &name);
        return NGX_CONF_ERROR;
    }

    while (len && (secret[len - 1] == '\n' || secret[len - 1] == '\r'
                   || secret[len - 1] == ' '))
    {
        len--;
    }

    secret[len] = '\0';

    if (len == 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "gov_oidc \"%V\": the client secret file \"%V\" "
                           "is empty", &op->name, &name);
        return NGX_CONF_ERROR;
    }

    op->secret.data = secret;
    op->secret.len = len;

    return NGX_CONF_OK;
}


/* client_secret_basic: the header is made once, the secret not kept */

static ngx_int_t
ngx_gov_oidc_basic(ngx_conf_t *cf, ngx_gov_oidc_t *op)
{
    long    n;
    size_t  size;

    size = 4 * (3 * (op->client_id.len + op->secret.len) + 3) / 3 + 16;

    op->basic.data = ngx_pnalloc(cf->pool, size);
    if (op->basic.data == NULL) {
        return NGX_ERROR;
    }

    n = gov_oidc_basic((char *) op->basic.data, size,
                       (char *) op->client_id.data,
                       (char *) op->secret.data);

    ngx_explicit_memzero(op->secret.data, op->secret.len);

    if (n < 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "gov_oidc \"%V\": the client id and secret are "
                           "too long", &op->name);
        return NGX_ERROR;
    }

    op->basic.len = n;

    return NGX_OK;
}


static char *
ngx_gov_oidc_check(ngx_conf_t *cf, ngx_gov_oidc_t *op)
{
    const char  *path, *missing;

    missing = op->issuer.data == NULL ? "issuer"
              : op->client_id.data == NULL ? "client_id"
              : op->secret.data == NULL ? "client_secret_file"
              : op->proxy.data == NULL ? "proxy"
              : op->redirect_uri.data == NULL ? "redirect_uri" : NULL;

    if (missing) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "gov_oidc \"%V\" has no \"%s\"", &op->name,
                           missing);
        return NGX_CONF_ERROR;
    }

    /* values in a configuration are NUL-ended */

    path = gov_oidc_url_path((char *) op->issuer.data);

    if (path == NULL || ngx_strchr(path, '?') || ngx_strchr(path, '#')) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "gov_oidc \"%V\": the issuer \"%V\" must be an "
                           "http(s) URL without query", &op->name,
                           &op->issuer);
        return NGX_CONF_ERROR;
    }

    op->issuer_path.data = (u_char *) path;
    op->issuer_path.len = ngx_strlen(path);

    while (op->issuer_path.len
           && op->issuer_path.data[op->issuer_path.len - 1] == '/')
    {
        op->issuer_path.len--;
    }

    if (op->proxy.data[0] != '/') {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "gov_oidc \"%V\": \"proxy\" must be the URI of a "
                           "location, \"%V\" is not", &op->name, &op->proxy);
        return NGX_CONF_ERROR;
    }

    while (op->proxy.len > 1 && op->proxy.data[op->proxy.len - 1] == '/') {
        op->proxy.len--;
    }

    if (!gov_return_to_ok((char *) op->redirect_uri.data,
                          op->redirect_uri.len)
        || ngx_strlchr(op->redirect_uri.data,
                       op->redirect_uri.data + op->redirect_uri.len, '?'))
    {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "gov_oidc \"%V\": \"redirect_uri\" must be a "
                           "path of this site, \"%V\" is not", &op->name,
                           &op->redirect_uri);
        return NGX_CONF_ERROR;
    }

    if (op->post_logout.data
        && !gov_return_to_ok((char *) op->post_logout.data,
                             op->post_logout.len))
    {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "gov_oidc \"%V\": \"post_logout_redirect_uri\" "
                           "must be a path of this site, \"%V\" is not",
                           &op->name, &op->post_logout);
        return NGX_CONF_ERROR;
    }

    if (op->scope.data == NULL) {
        ngx_str_set(&op->scope, "openid");

    } else if (ngx_strstr(op->scope.data, "openid") == NULL) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "gov_oidc \"%V\": \"scope\" must include "
                           "\"openid\"", &op->name);
        return NGX_CONF_ERROR;
    }

    if (op->algs == 0) {
        /* what OpenID Connect providers sign with unless registered */
        op->algs = 1u << GOV_JWT_RS256;
    }

    if (ngx_gov_oidc_basic(cf, op) != NGX_OK) {
        return NGX_CONF_ERROR;
    }

    return NGX_CONF_OK;
}


char *
ngx_gov_oidc_use(ngx_conf_t *cf, void *conf, ngx_str_t *name,
    ngx_uint_t callback)
{
    ngx_http_gov_main_conf_t  *gmcf;
    ngx_gov_oidc_use_t        *use;

    gmcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_gov_module);

    if (gmcf->oidc_uses == NULL) {
        gmcf->oidc_uses = ngx_array_create(cf->pool, 4,
                                           sizeof(ngx_gov_oidc_use_t));
        if (gmcf->oidc_uses == NULL) {
            return NGX_CONF_ERROR;
        }
    }

    use = ngx_array_push(gmcf->oidc_uses);
    if (use == NULL) {
        return NGX_CONF_ERROR;
    }

    use->name = *name;
    use->callback = callback;
    use->glcf = conf;
    use->cscf = ngx_http_conf_get_module_srv_conf(cf, ngx_http_core_module);
    use->clcf = ngx_http_conf_get_module_loc_conf(cf, ngx_http_core_module);
    use->file = cf->conf_file->file.name;
    use->line = cf->conf_file->line;

    return NGX_CONF_OK;
}


/*
 * Every gov_login oidc= and gov_oidc_callback names a provider; in the
 * server of each, the provider's proxy location exists and its
 * redirect_uri is a gov_oidc_callback of the same provider.
 */

ngx_int_t
ngx_gov_oidc_postconfiguration(ngx_conf_t *cf)
{
    ngx_uint_t                 i, j;
    ngx_gov_oidc_t           **opp;
    ngx_gov_oidc_use_t        *use;
    ngx_http_gov_main_conf_t  *gmcf;

    gmcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_gov_module);

    if (gmcf->oidc && gmcf->redis == NULL) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"gov_oidc\" needs \"gov_redis\": logins under "
                           "way are kept there");
        return NGX_ERROR;
    }

    if (gmcf->oidc_uses == NULL) {
        return NGX_OK;
    }

    use = gmcf->oidc_uses->elts;

    for (i = 0; i < gmcf->oidc_uses->nelts; i++) {

        opp = gmcf->oidc ? gmcf->oidc->elts : NULL;

        for (j = 0; gmcf->oidc && j < gmcf->oidc->nelts; j++) {
            if (opp[j]->name.len == use[i].name.len
                && ngx_strncmp(opp[j]->name.data, use[i].name.data,
                               use[i].name.len) == 0)
            {
                use[i].glcf->oidc = opp[j];

                if (!use[i].callback && opp[j]->login.len == 0) {
                    /* where a declined login is tried again */
                    opp[j]->login = use[i].clcf->name;
                }

                break;
            }
        }

        if (use[i].glcf->oidc == NULL) {
            ngx_log_error(NGX_LOG_EMERG, cf->log, 0,
                          "no gov_oidc \"%V\" for %s in %V:%ui",
                          &use[i].name,
                          use[i].callback ? "gov_oidc_callback"
                                          : "gov_login oidc=",
                          &use[i].file, use[i].line);
            return NGX_ERROR;
        }
    }

    for (i = 0; i < gmcf->oidc_uses->nelts; i++) {
        if (ngx_gov_oidc_check_use(cf, &use[i]) != NGX_OK) {
            return NGX_ERROR;
        }
    }

    return NGX_OK;
}


static ngx_int_t
ngx_gov_oidc_check_use(ngx_conf_t *cf, ngx_gov_oidc_use_t *use)
{
    u_char                    *p;
    size_t                     len;
    ngx_gov_oidc_t            *op;
    ngx_http_gov_loc_conf_t   *glcf;
    ngx_http_core_loc_conf_t  *root, *clcf;

    op = use->glcf->oidc;
    root = use->cscf->ctx->loc_conf[ngx_http_core_module.ctx_index];

    /* the proxy: a location of its own, not the server's catch-all */

    len = op->proxy.len + op->issuer_path.len
          + sizeof("/.well-known/openid-configuration") - 1;

    p = ngx_pnalloc(cf->temp_pool, len);
    if (p == NULL) {
        return NGX_ERROR;
    }

    ngx_sprintf(p, "%V%V/.well-known/openid-configuration", &op->proxy,
                &op->issuer_path);

    clcf = ngx_gov_oidc_find_location(root, p, len);

    if (clcf == NULL || clcf->name.len < 2 || clcf->named) {
        ngx_log_error(NGX_LOG_EMERG, cf->log, 0,
                      "gov_oidc \"%V\" (%V:%ui): no location for its proxy "
                      "\"%V\" in the server of %V:%ui", &op->name, &op->file,
                      op->line, &op->proxy, &use->file, use->line);
        return NGX_ERROR;
    }

    if (clcf->subrequest_output_buffer_size < NGX_GOV_OIDC_BUFFER) {
        /* discovery documents and JWKS are larger than a page */
        clcf->subrequest_output_buffer_size = NGX_GOV_OIDC_BUFFER;
    }

    if (use->callback) {
        return NGX_OK;
    }

    clcf = ngx_gov_oidc_find_location(root, op->redirect_uri.data,
                                      op->redirect_uri.len);

    glcf = clcf ? clcf->loc_conf[ngx_http_gov_module.ctx_index] : NULL;

    if (glcf == NULL || glcf->handler != NGX_GOV_H_OIDC_CALLBACK
        || glcf->oidc != op)
    {
        ngx_log_error(NGX_LOG_EMERG, cf->log, 0,
                      "gov_oidc \"%V\": its redirect_uri \"%V\" is not "
                      "handled by \"gov_oidc_callback %V\" in the server of "
                      "gov_login at %V:%ui", &op->name, &op->redirect_uri,
                      &op->name, &use->file, use->line);
        return NGX_ERROR;
    }

    return NGX_OK;
}


/*
 * The exact or longest prefix location of a URI among the static
 * locations of a server (nested ones too), as nginx finds it; NULL when
 * none.  Regular expressions are not looked at.
 */

static ngx_http_core_loc_conf_t *
ngx_gov_oidc_find_location(ngx_http_core_loc_conf_t *clcf, u_char *uri,
    size_t len)
{
    u_char                         *u;
    size_t                          n, left;
    ngx_int_t                       rc;
    ngx_http_core_loc_conf_t       *found;
    ngx_http_location_tree_node_t  *node;

    found = NULL;
    node = clcf->static_locations;
    u = uri;
    left = len;

    while (node) {
        n = (left <= (size_t) node->len) ? left : node->len;

        rc = ngx_filename_cmp(u, node->name, n);

        if (rc != 0) {
            node = (rc < 0) ? node->left : node->right;
            continue;
        }

        if (left > (size_t) node->len) {
            if (node->inclusive) {
                found = node->inclusive;
                u += node->len;
                left -= node->len;
                node = node->tree;
                continue;
            }

            node = node->right;
            continue;
        }

        if (left == (size_t) node->len) {
            return node->exact ? node->exact : node->inclusive;
        }

        node = node->left;
    }

    if (found && found->static_locations) {
        clcf = ngx_gov_oidc_find_location(found, uri, len);
        if (clcf) {
            return clcf;
        }
    }

    return found;
}


static void
ngx_gov_oidc_cleanup(void *data)
{
    ngx_gov_oidc_t  *op = data;

    gov_oidc_provider_free(&op->disc);
    gov_keyset_free(&op->keys);
    op->disc_at = 0;
}


void
ngx_gov_oidc_exit_process(ngx_cycle_t *cycle)
{
    ngx_uint_t                 i;
    ngx_gov_oidc_t           **opp;
    ngx_http_gov_main_conf_t  *gmcf;

    gmcf = ngx_http_cycle_get_module_main_conf(cycle, ngx_http_gov_module);

    if (gmcf == NULL || gmcf->oidc == NULL) {
        return;
    }

    opp = gmcf->oidc->elts;

    for (i = 0; i < gmcf->oidc->nelts; i++) {
        ngx_gov_oidc_cleanup(opp[i]);
    }
}


/* the requests: a context, subrequests to the provider, the end */


static ngx_gov_oidc_ctx_t *
ngx_gov_oidc_ctx(ngx_http_request_t *r)
{
    ngx_gov_oidc_ctx_t       *ctx;
    ngx_pool_cleanup_t       *cln;
    ngx_http_gov_loc_conf_t  *glcf;

    glcf = ngx_http_get_module_loc_conf(r, ngx_http_gov_module);

    ctx = ngx_pcalloc(r->pool, sizeof(ngx_gov_oidc_ctx_t));
    cln = ngx_pool_cleanup_add(r->pool, 0);

    if (ctx == NULL || cln == NULL) {
        return NULL;
    }

    ctx->request = r;
    ctx->op = glcf->oidc;
    ctx->ev.handler = ngx_gov_oidc_resume;
    ctx->ev.data = ctx;
    ctx->ev.log = r->connection->log;

    cln->handler = ngx_gov_oidc_ctx_cleanup;
    cln->data = ctx;

    return ctx;
}


/* what a request holds outside its pool, whichever way it ends */

static void
ngx_gov_oidc_ctx_cleanup(void *data)
{
    ngx_gov_oidc_ctx_t *ctx = data;

    json_decref(ctx->state);
    ctx->state = NULL;

    if (ctx->id_token) {
        ngx_explicit_memzero(ctx->id_token, ngx_strlen(ctx->id_token));
        free(ctx->id_token);
        ctx->id_token = NULL;
    }

    if (ctx->ev.posted) {
        ngx_delete_posted_event(&ctx->ev);
    }
}


static void
ngx_gov_oidc_finish(ngx_gov_oidc_ctx_t *ctx, ngx_int_t rc)
{
    ngx_connection_t    *c;
    ngx_http_request_t  *r;

    r = ctx->request;
    c = r->connection;

    ngx_gov_oidc_ctx_cleanup(ctx);

    if (rc == NGX_DONE) {
        /* the session's store finalizes */
        return;
    }

    ngx_http_finalize_request(r, rc);
    ngx_http_run_posted_requests(c);
}


/*
 * A subrequest through the proxy location: GET "path" (the path of a
 * URL on the provider's origin), or POST "payload" (the token request,
 * with the client's credentials).  "next" runs from the event loop once
 * it answered.
 */

static ngx_int_t
ngx_gov_oidc_fetch(ngx_gov_oidc_ctx_t *ctx, const char *path,
    ngx_str_t *payload, ngx_gov_oidc_next_pt next)
{
    u_char                      *p, *q;
    size_t                       len;
    ngx_int_t                    rc;
    ngx_str_t                    uri, args, values[2];
    ngx_uint_t                   n;
    const char                  *names[2];
    ngx_gov_oidc_t              *op;
    ngx_http_request_t          *r;
    ngx_http_post_subrequest_t  *ps;

    r = ctx->request;
    op = ctx->op;

    len = ngx_strlen(path);

    uri.data = ngx_pnalloc(r->pool, op->proxy.len + len);
    ps = ngx_palloc(r->pool, sizeof(ngx_http_post_subrequest_t));

    if (uri.data == NULL || ps == NULL) {
        return NGX_ERROR;
    }

    p = ngx_cpymem(uri.data, op->proxy.data, op->proxy.len);
    q = (u_char *) ngx_strchr(path, '?');

    if (q) {
        ngx_memcpy(p, path, q - (u_char *) path);
        uri.len = (p - uri.data) + (q - (u_char *) path);
        args.data = q + 1;
        args.len = len - (q - (u_char *) path) - 1;

    } else {
        ngx_memcpy(p, path, len);
        uri.len = (p - uri.data) + len;
        ngx_str_null(&args);
    }

    ps->handler = ngx_gov_oidc_fetched;
    ps->data = ctx;

    ctx->next = next;
    ctx->status = 0;
    ngx_str_null(&ctx->body);

    names[0] = "Accept";
    ngx_str_set(&values[0], "application/json");
    n = 1;

    if (payload) {
        names[1] = "Authorization";
        values[1] = op->basic;
        n = 2;
    }

    rc = ngx_gov_subrequest(r, &uri, args.len ? &args : NULL,
                            "application/x-www-form-urlencoded", payload,
                            names, values, n, ps, NULL);

    if (rc == NGX_DECLINED) {
        /* the provider's breaker is open: as if it had not answered */
        ctx->say = 0;

        if (!ctx->ev.posted) {
            ngx_post_event(&ctx->ev, &ngx_posted_events);
        }

        return NGX_OK;
    }

    if (rc != NGX_OK) {
        return NGX_ERROR;
    }

    ngx_http_run_posted_requests(r->connection);

    return NGX_OK;
}


static ngx_int_t
ngx_gov_oidc_fetched(ngx_http_request_t *sr, void *data, ngx_int_t rc)
{
    ngx_gov_oidc_ctx_t *ctx = data;

    ngx_str_t  body;

    ctx->status = ngx_gov_subrequest_answer(sr, rc, &body);

    ctx->say = (ctx->status == NGX_HTTP_OK)
               || ngx_gov_subrequest_say(ctx->more_buf, &ctx->more);

    if (body.len) {
        ctx->body.data = ngx_pnalloc(ctx->request->pool, body.len + 1);
        if (ctx->body.data == NULL) {
            ctx->status = 0;

        } else {
            ngx_memcpy(ctx->body.data, body.data, body.len);
            ctx->body.data[body.len] = '\0';
            ctx->body.len = body.len;
        }

        /* the answer may hold tokens: none stays in the upstream's buffer */
        ngx_explicit_memzero(body.data, body.len);
    }

    /* called while the subrequest is being finalized: go on from the loop */

    if (!ctx->ev.posted) {
        ngx_post_event(&ctx->ev, &ngx_posted_events);
    }

    return rc;
}


static void
ngx_gov_oidc_resume(ngx_event_t *ev)
{
    ngx_gov_oidc_ctx_t *ctx = ev->data;

    ctx->next(ctx);
}


/* the provider's metadata, fetched and checked, kept an hour per worker */

static void
ngx_gov_oidc_discover(ngx_gov_oidc_ctx_t *ctx, ngx_gov_oidc_next_pt next)
{
    u_char          *path;
    ngx_gov_oidc_t  *op;

    op = ctx->op;

    if (op->disc_at && ngx_time() - op->disc_at < NGX_GOV_OIDC_DISCOVERY_TTL)
    {
        next(ctx);
        return;
    }

    path = ngx_pnalloc(ctx->request->pool, op->issuer_path.len
                       + sizeof("/.well-known/openid-configuration"));
    if (path == NULL) {
        ngx_gov_oidc_finish(ctx, NGX_HTTP_INTERNAL_SERVER_ERROR);
        return;
    }

    ngx_sprintf(path, "%V/.well-known/openid-configuration%Z",
                &op->issuer_path);

    ctx->after = next;

    if (ngx_gov_oidc_fetch(ctx, (char *) path, NULL,
                           ngx_gov_oidc_discovered)
        != NGX_OK)
    {
        ngx_gov_oidc_finish(ctx, NGX_HTTP_INTERNAL_SERVER_ERROR);
    }
}


static void
ngx_gov_oidc_discovered(ngx_gov_oidc_ctx_t *ctx)
{
    char                 err[512];
    ngx_gov_oidc_t      *op;
    gov_oidc_provider_t  disc;

    op = ctx->op;

    if (ctx->status != NGX_HTTP_OK || ctx->body.len == 0) {
        if (ctx->say) {
            ngx_log_error(NGX_LOG_ERR, ctx->request->connection->log, 0,
                          "gov oidc \"%V\": discovery answered %ui through "
                          "\"%V\"%V", &op->name, ctx->status, &op->proxy,
                          &ctx->more);
        }

        goto failed;
    }

    if (gov_oidc_discovery((char *) ctx->body.data, ctx->body.len,
                           (char *) op->issuer.data, &disc, err, sizeof(err))
        != 0)
    {
        ngx_log_error(NGX_LOG_ERR, ctx->request->connection->log, 0,
                      "gov oidc \"%V\": discovery document refused: %s",
                      &op->name, err);
        goto failed;
    }

    /* no request holds a pointer into the old one across a wait */

    gov_oidc_provider_free(&op->disc);
    op->disc = disc;
    op->disc_at = ngx_time();

    ctx->after(ctx);
    return;

failed:

    if (op->disc_at) {
        /* the provider's metadata as it was: better than none */
        ctx->after(ctx);
        return;
    }

    ngx_gov_oidc_finish(ctx, ngx_http_gov_error(ctx->request,
                                                NGX_HTTP_BAD_GATEWAY,
                                                "idp_unavailable"));
}


/* PREFIX "oidc:" PART TAIL */

static ngx_int_t
ngx_gov_oidc_key(ngx_http_request_t *r, ngx_str_t *part, const char *tail,
    size_t len, ngx_str_t *key)
{
    u_char                    *p;
    ngx_http_gov_main_conf_t  *gmcf;

    gmcf = ngx_http_get_module_main_conf(r, ngx_http_gov_module);

    key->data = ngx_pnalloc(r->pool, gmcf->redis_prefix.len
                            + sizeof("oidc:") - 1 + part->len + len);
    if (key->data == NULL) {
        return NGX_ERROR;
    }

    p = ngx_sprintf(key->data, "%Voidc:%V", &gmcf->redis_prefix, part);
    p = ngx_cpymem(p, tail, len);

    key->len = p - key->data;

    return NGX_OK;
}


/* the redirect_uri as the provider sees it: this site's origin, the path */

static ngx_int_t
ngx_gov_oidc_redirect_uri(ngx_http_request_t *r, ngx_str_t *path,
    ngx_str_t *out)
{
    u_char     *p;
    ngx_str_t   host;
    const char *scheme;

    scheme = "http";

#if (NGX_HTTP_SSL)
    if (r->connection->ssl) {
        scheme = "https";
    }
#endif

    if (r->headers_in.host) {
        host = r->headers_in.host->value;

    } else {
        host = r->headers_in.server;
    }

    p = ngx_pnalloc(r->pool, sizeof("https://") + host.len + path->len);
    if (p == NULL) {
        return NGX_ERROR;
    }

    out->data = p;
    p = ngx_sprintf(p, "%s://%V%V", scheme, &host, path);
    *p = '\0';
    out->len = p - out->data;

    return NGX_OK;
}


/*
 * The cookie binding a login to the browser that started it: the state
 * record keeps its hash, the callback must come with it (a state sent to
 * another browser is refused).  Lax: the provider's redirect is a
 * top-level navigation.  "max_age" 0 expires it.
 */

static ngx_int_t
ngx_gov_oidc_binding(ngx_http_request_t *r, ngx_gov_oidc_t *op,
    ngx_str_t *value, time_t max_age)
{
    u_char                   *p;
    ngx_str_t                 cookie;
    ngx_http_gov_loc_conf_t  *glcf;

    glcf = ngx_http_get_module_loc_conf(r, ngx_http_gov_module);

    p = ngx_pnalloc(r->pool, glcf->cookie_name.len + value->len
                    + sizeof("-oidc=; Path=/; Max-Age=; HttpOnly; Secure; "
                             "SameSite=Lax") + NGX_TIME_T_LEN);
    if (p == NULL) {
        return NGX_ERROR;
    }

    cookie.data = p;
    p = ngx_sprintf(p, "%V-oidc=%V; Path=/; Max-Age=%T; HttpOnly%s; "
                    "SameSite=Lax", &glcf->cookie_name, value, max_age,
                    glcf->cookie_secure ? "; Secure" : "");
    cookie.len = p - cookie.data;

    return ngx_http_gov_add_header(r, &r->headers_out.headers, "Set-Cookie",
                                   &cookie);
}


/* one Redis command of a flow: "handler" goes on, or the request ends */

static void
ngx_gov_oidc_command(ngx_gov_oidc_ctx_t *ctx,
    ngx_gov_redis_handler_pt handler, int argc, const char **argv,
    const size_t *argvlen)
{
    ngx_int_t  rc;

    rc = ngx_http_gov_queued(ctx->request,
                             ngx_http_gov_redis_send(ctx->request, handler,
                                                     ctx, argc, argv,
                                                     argvlen));
    if (rc != NGX_DONE) {
        ngx_gov_oidc_finish(ctx, rc);
    }
}


/* SET KEY VALUE EX|PX TTL NX */

static void
ngx_gov_oidc_set_nx(ngx_gov_oidc_ctx_t *ctx, ngx_str_t *key,
    ngx_str_t *value, const char *unit, const char *ttl,
    ngx_gov_redis_handler_pt handler)
{
    const char  *argv[6];
    size_t       argvlen[6];

    argv[0] = "SET";
    argvlen[0] = 3;
    argv[1] = (char *) key->data;
    argvlen[1] = key->len;
    argv[2] = (char *) value->data;
    argvlen[2] = value->len;
    argv[3] = unit;
    argvlen[3] = 2;
    argv[4] = ttl;
    argvlen[4] = ngx_strlen(ttl);
    argv[5] = "NX";
    argvlen[5] = 2;

    ngx_gov_oidc_command(ctx, handler, 6, argv, argvlen);
}


/* gov_login oidc=NAME: off to the provider */


ngx_int_t
ngx_gov_oidc_login_handler(ngx_http_request_t *r)
{
    ngx_int_t            rc;
    ngx_str_t            return_to;
    ngx_gov_oidc_ctx_t  *ctx;

    rc = ngx_http_gov_get_only(r);
    if (rc != NGX_OK) {
        return rc;
    }

    ctx = ngx_gov_oidc_ctx(r);
    if (ctx == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (ngx_http_gov_query_arg(r, "return_to", &return_to, 0) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    /* only a same-origin relative path, anything else goes to "/" */

    if (return_to.len
        && gov_return_to_ok((char *) return_to.data, return_to.len))
    {
        ctx->return_to = return_to;

    } else {
        ngx_str_set(&ctx->return_to, "/");
    }

    r->main->count++;

    ngx_gov_oidc_discover(ctx, ngx_gov_oidc_authorize);

    return NGX_DONE;
}


static void
ngx_gov_oidc_authorize(ngx_gov_oidc_ctx_t *ctx)
{
    long                 n;
    json_t              *rec;
    ngx_str_t            key, body, redirect, part;
    ngx_gov_oidc_t      *op;
    ngx_http_request_t  *r;
    char                 state[GOV_OIDC_RANDOM_LEN + 1];
    char                 nonce[GOV_OIDC_RANDOM_LEN + 1];
    char                 verifier[GOV_OIDC_RANDOM_LEN + 1];
    char                 challenge[GOV_OIDC_RANDOM_LEN + 1];
    char                 binding[GOV_OIDC_RANDOM_LEN + 1];
    char                 bhash[GOV_OIDC_RANDOM_LEN + 1];

    r = ctx->request;
    op = ctx->op;

    if (gov_oidc_random(state) != 0 || gov_oidc_random(nonce) != 0
        || gov_oidc_random(verifier) != 0 || gov_oidc_random(binding) != 0
        || gov_oidc_challenge(verifier, challenge) != 0
        || gov_oidc_challenge(binding, bhash) != 0
        || ngx_gov_oidc_redirect_uri(r, &op->redirect_uri, &redirect)
           != NGX_OK)
    {
        ngx_gov_oidc_finish(ctx, NGX_HTTP_INTERNAL_SERVER_ERROR);
        return;
    }

    ctx->location.data = ngx_pnalloc(r->pool, GOV_OIDC_URL_MAX);
    ctx->binding.data = ngx_pnalloc(r->pool, GOV_OIDC_RANDOM_LEN);

    if (ctx->location.data == NULL || ctx->binding.data == NULL) {
        ngx_gov_oidc_finish(ctx, NGX_HTTP_INTERNAL_SERVER_ERROR);
        return;
    }

    n = gov_oidc_authorize_url((char *) ctx->location.data, GOV_OIDC_URL_MAX,
                               op->disc.authorization_endpoint,
                               (char *) op->client_id.data,
                               (char *) redirect.data,
                               (char *) op->scope.data, state, nonce,
                               challenge);
    if (n < 0) {
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "gov oidc \"%V\": the authorization URL is too long",
                      &op->name);
        ngx_gov_oidc_finish(ctx, NGX_HTTP_INTERNAL_SERVER_ERROR);
        return;
    }

    ctx->location.len = n;
    ngx_memcpy(ctx->binding.data, binding, GOV_OIDC_RANDOM_LEN);
    ctx->binding.len = GOV_OIDC_RANDOM_LEN;

    rec = json_pack("{s:s%,s:s,s:s,s:s%,s:s,s:s%,s:I}",
                    "p", op->name.data, op->name.len,
                    "n", nonce, "v", verifier,
                    "r", ctx->return_to.data, ctx->return_to.len,
                    "b", bhash,
                    "u", redirect.data, redirect.len,
                    "t", (json_int_t) ngx_time());

    ngx_str_set(&part, "state:");

    if (ngx_gov_json_text(r->pool, rec, 0, &body) != NGX_OK
        || ngx_gov_oidc_key(r, &part, state, GOV_OIDC_RANDOM_LEN, &key)
           != NGX_OK)
    {
        ngx_gov_oidc_finish(ctx, NGX_HTTP_INTERNAL_SERVER_ERROR);
        return;
    }

    ngx_gov_oidc_set_nx(ctx, &key, &body, "EX", "600", ngx_gov_oidc_stored);
}


static void
ngx_gov_oidc_stored(redisReply *reply, void *data)
{
    ngx_gov_oidc_ctx_t *ctx = data;

    ngx_str_t            empty;
    ngx_http_request_t  *r;

    r = ctx->request;

    if (reply == NULL || reply->type != REDIS_REPLY_STATUS) {
        ngx_gov_oidc_finish(ctx, ngx_http_gov_unavailable(r));
        return;
    }

    ngx_str_null(&empty);
    ngx_str_set(&r->headers_out.content_type, "text/html");

    if (ngx_gov_oidc_binding(r, ctx->op, &ctx->binding,
                             NGX_GOV_OIDC_STATE_TTL)
        != NGX_OK
        || ngx_http_gov_location(r, &ctx->location) != NGX_OK)
    {
        ngx_gov_oidc_finish(ctx, NGX_HTTP_INTERNAL_SERVER_ERROR);
        return;
    }

    ngx_gov_oidc_finish(ctx, ngx_http_gov_send(r, NGX_HTTP_MOVED_TEMPORARILY,
                                               &r->headers_out.content_type,
                                               &empty));
}


/* gov_oidc_callback: the provider sends the browser back */


ngx_int_t
ngx_gov_oidc_callback_handler(ngx_http_request_t *r)
{
    ngx_int_t            rc;
    ngx_str_t            error, state, key, part;
    ngx_gov_oidc_ctx_t  *ctx;
    const char          *argv[2];
    size_t               argvlen[2];

    rc = ngx_http_gov_get_only(r);
    if (rc != NGX_OK) {
        return rc;
    }

    ctx = ngx_gov_oidc_ctx(r);
    if (ctx == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (ngx_http_gov_query_arg(r, "code", &ctx->code, 1) != NGX_OK
        || ngx_http_gov_query_arg(r, "state", &state, 1) != NGX_OK
        || ngx_http_gov_query_arg(r, "error", &error, 0) != NGX_OK
        || ngx_http_gov_query_arg(r, "iss", &ctx->iss, 0) != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ngx_str_null(&key);
    ngx_str_set(&part, "state:");

    if (state.len && state.len <= 256
        && ngx_gov_oidc_key(r, &part, (char *) state.data, state.len, &key)
           != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    argv[0] = "GETDEL";
    argvlen[0] = 6;
    argv[1] = (char *) key.data;
    argvlen[1] = key.len;

    if (error.len) {
        /*
         * The login ends here: its state goes too, before the answer (if
         * Redis is down, the state expires by itself).
         */
        ctx->error = error;

        if (key.len
            && ngx_http_gov_redis_send(r, ngx_gov_oidc_dropped, ctx, 2, argv,
                                       argvlen)
               == NGX_OK)
        {
            r->main->count++;
            return NGX_DONE;
        }

        return ngx_gov_oidc_idp_error(r, &error);
    }

    if (key.len == 0 || ctx->code.len == 0 || ctx->code.len > 2048) {
        ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                      "gov oidc: a callback without state or code");
        return ngx_gov_oidc_refused(r, "missing");
    }

    rc = ngx_http_gov_queued(r, ngx_http_gov_redis_send(r,
                                                        ngx_gov_oidc_state,
                                                        ctx, 2, argv,
                                                        argvlen));
    if (rc != NGX_DONE) {
        return rc;
    }

    r->main->count++;

    return NGX_DONE;
}


static void
ngx_gov_oidc_dropped(redisReply *reply, void *data)
{
    ngx_gov_oidc_ctx_t *ctx = data;

    ngx_gov_oidc_finish(ctx, ngx_gov_oidc_idp_error(ctx->request,
                                                    &ctx->error));
}


/* 400: a state unknown, expired, used, of another browser or provider */

static ngx_int_t
ngx_gov_oidc_refused(ngx_http_request_t *r, const char *reason)
{
    ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                  "gov oidc: login state refused: %s", reason);

    return ngx_http_gov_error(r, NGX_HTTP_BAD_REQUEST, "invalid_state");
}


/* 401: the ID token did not verify ("reason" as gov_auth's, or nonce) */

static ngx_int_t
ngx_gov_oidc_unauthenticated(ngx_http_request_t *r, const char *reason)
{
    u_char     *p;
    ngx_int_t   rc;
    ngx_str_t   body;

    ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                  "gov oidc: ID token refused: %s", reason);

    if (ngx_http_gov_wants_html(r)) {
        rc = ngx_http_gov_page(r, NGX_HTTP_UNAUTHORIZED, "login",
                 json_pack("{s:s,s:s,s:s}", "title", "登录没有成功",
                           "reason", reason,
                           "message", "统一身份认证平台的登录凭证无法验证，"
                                      "请重新登录。"));
        if (rc != NGX_DECLINED) {
            return rc;
        }
    }

    p = ngx_pnalloc(r->pool, 96);
    if (p == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    body.data = p;
    body.len = ngx_snprintf(p, 96, "{\"error\":\"unauthenticated\","
                            "\"reason\":\"%s\"}\n", reason) - p;

    return ngx_http_gov_send_json(r, NGX_HTTP_UNAUTHORIZED, &body);
}


/* 401: the provider said no (error=...), named, never echoed raw */

static ngx_int_t
ngx_gov_oidc_idp_error(ngx_http_request_t *r, ngx_str_t *error)
{
    u_char                   *p;
    ngx_int_t                 rc;
    ngx_str_t                 body, *login;
    ngx_uint_t                i;
    const char               *code, *message;
    ngx_http_gov_loc_conf_t  *glcf;

    code = (char *) error->data;

    for (i = 0; i < error->len; i++) {
        if (!ngx_gov_oidc_word(error->data[i]) && error->data[i] != '.') {
            break;
        }
    }

    if (i < error->len || error->len > NGX_GOV_OIDC_ERROR_MAX) {
        code = "invalid";
    }

    ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                  "gov oidc: the identity provider answered error \"%s\"",
                  code);

    message = ngx_strcmp(code, "access_denied") == 0
              ? "您在统一身份认证平台取消了登录，或没有同意授权。"
                "如需办理业务，请重新登录。"
              : (ngx_strcmp(code, "temporarily_unavailable") == 0
                 || ngx_strcmp(code, "server_error") == 0)
              ? "统一身份认证平台暂时无法完成登录，请稍后再试。"
              : (ngx_strcmp(code, "login_required") == 0
                 || ngx_strcmp(code, "consent_required") == 0
                 || ngx_strcmp(code, "interaction_required") == 0)
              ? "统一身份认证平台需要您再次确认身份，请重新登录。"
              : "统一身份认证平台没有完成登录，请重新登录。";

    if (ngx_http_gov_wants_html(r)) {
        /* a link to try again: gov_login_url, else the provider's login */
        glcf = ngx_http_get_module_loc_conf(r, ngx_http_gov_module);
        login = glcf->login_url.len ? &glcf->login_url
                : glcf->oidc ? &glcf->oidc->login : NULL;

        rc = ngx_http_gov_page(r, NGX_HTTP_UNAUTHORIZED, "login",
                 json_pack("{s:s,s:s,s:s+++,s:s%}", "title", "登录没有完成",
                           "reason", code, "message", message,
                           "（统一身份认证平台的答复：", code, "）",
                           "login_url",
                           login && login->len ? (char *) login->data : "",
                           login ? login->len : 0));
        if (rc != NGX_DECLINED) {
            return rc;
        }
    }

    p = ngx_pnalloc(r->pool, 64 + NGX_GOV_OIDC_ERROR_MAX);
    if (p == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    body.data = p;
    body.len = ngx_sprintf(p, "{\"error\":\"idp_error\",\"reason\":\"%s\"}\n",
                           code) - p;

    return ngx_http_gov_send_json(r, NGX_HTTP_UNAUTHORIZED, &body);
}


/* the state record: this provider's, this browser's, not expired */

static void
ngx_gov_oidc_state(redisReply *reply, void *data)
{
    ngx_gov_oidc_ctx_t *ctx = data;

    json_t                   *rec;
    ngx_str_t                 name, cookie;
    json_int_t                t;
    const char               *p, *b;
    ngx_gov_oidc_t           *op;
    ngx_http_request_t       *r;
    ngx_http_gov_loc_conf_t  *glcf;
    char                      bhash[GOV_OIDC_RANDOM_LEN + 1];
    u_char                    binding[GOV_OIDC_RANDOM_LEN + 1];

    r = ctx->request;
    op = ctx->op;

    if (reply == NULL
        || (reply->type != REDIS_REPLY_STRING
            && reply->type != REDIS_REPLY_NIL))
    {
        ngx_gov_oidc_finish(ctx, ngx_http_gov_unavailable(r));
        return;
    }

    if (reply->type == REDIS_REPLY_NIL) {
        ngx_gov_oidc_finish(ctx, ngx_gov_oidc_refused(r, "unknown, expired "
                                                         "or used"));
        return;
    }

    rec = json_loadb(reply->str, reply->len, 0, NULL);
    ctx->state = rec;

    p = json_string_value(json_object_get(rec, "p"));
    b = json_string_value(json_object_get(rec, "b"));
    t = json_integer_value(json_object_get(rec, "t"));

    if (p == NULL || b == NULL
        || !json_is_string(json_object_get(rec, "n"))
        || !json_is_string(json_object_get(rec, "v"))
        || !json_is_string(json_object_get(rec, "r"))
        || !json_is_string(json_object_get(rec, "u")))
    {
        ngx_gov_oidc_finish(ctx, ngx_gov_oidc_refused(r, "unreadable"));
        return;
    }

    if (ngx_strlen(p) != op->name.len
        || ngx_strncmp(p, op->name.data, op->name.len) != 0)
    {
        /* mix-up: a login started at another provider */
        ngx_gov_oidc_finish(ctx, ngx_gov_oidc_refused(r, "another "
                                                         "provider's"));
        return;
    }

    if (ngx_time() - (time_t) t > NGX_GOV_OIDC_STATE_TTL) {
        ngx_gov_oidc_finish(ctx, ngx_gov_oidc_refused(r, "expired"));
        return;
    }

    if (ctx->iss.len
        && (ctx->iss.len != op->issuer.len
            || ngx_strncmp(ctx->iss.data, op->issuer.data, op->issuer.len)
               != 0))
    {
        /* RFC 9207: the answer names another issuer than the one asked */
        ngx_gov_oidc_finish(ctx, ngx_gov_oidc_refused(r, "another issuer"));
        return;
    }

    glcf = ngx_http_get_module_loc_conf(r, ngx_http_gov_module);

    name.len = glcf->cookie_name.len + sizeof("-oidc") - 1;
    name.data = ngx_pnalloc(r->pool, name.len);
    if (name.data == NULL) {
        ngx_gov_oidc_finish(ctx, NGX_HTTP_INTERNAL_SERVER_ERROR);
        return;
    }

    ngx_sprintf(name.data, "%V-oidc", &glcf->cookie_name);

    if (ngx_http_gov_get_cookie(r, &name, &cookie) != NGX_OK
        || cookie.len != GOV_OIDC_RANDOM_LEN)
    {
        ngx_gov_oidc_finish(ctx, ngx_gov_oidc_refused(r, "no binding "
                                                         "cookie"));
        return;
    }

    ngx_memcpy(binding, cookie.data, GOV_OIDC_RANDOM_LEN);
    binding[GOV_OIDC_RANDOM_LEN] = '\0';

    if (gov_oidc_challenge((char *) binding, bhash) != 0
        || ngx_strcmp(bhash, b) != 0)
    {
        /* a state sent to another browser than the one that started it */
        ngx_gov_oidc_finish(ctx, ngx_gov_oidc_refused(r, "another "
                                                         "browser's"));
        return;
    }

    ngx_gov_oidc_discover(ctx, ngx_gov_oidc_exchange);
}


/* the code for tokens, on the back channel */

static void
ngx_gov_oidc_exchange(ngx_gov_oidc_ctx_t *ctx)
{
    long                 n;
    size_t               size;
    ngx_str_t            payload;
    ngx_http_request_t  *r;

    r = ctx->request;

    size = 3 * ctx->code.len + 3 * GOV_OIDC_URL_MAX;

    payload.data = ngx_pnalloc(r->pool, size);
    if (payload.data == NULL) {
        ngx_gov_oidc_finish(ctx, NGX_HTTP_INTERNAL_SERVER_ERROR);
        return;
    }

    n = gov_oidc_token_body((char *) payload.data, size,
                            (char *) ctx->code.data,
                            json_string_value(json_object_get(ctx->state,
                                                              "u")),
                            json_string_value(json_object_get(ctx->state,
                                                              "v")));
    if (n < 0) {
        ngx_gov_oidc_finish(ctx, ngx_gov_oidc_refused(r, "too long"));
        return;
    }

    payload.len = n;

    if (ngx_gov_oidc_fetch(ctx, ctx->op->disc.token_path, &payload,
                           ngx_gov_oidc_exchanged)
        != NGX_OK)
    {
        ngx_gov_oidc_finish(ctx, NGX_HTTP_INTERNAL_SERVER_ERROR);
    }
}


static void
ngx_gov_oidc_exchanged(ngx_gov_oidc_ctx_t *ctx)
{
    char                 err[256];
    ngx_http_request_t  *r;

    r = ctx->request;
    err[0] = '\0';

    if (ctx->status == NGX_HTTP_OK && ctx->body.len) {
        ctx->id_token = gov_oidc_id_token((char *) ctx->body.data,
                                          ctx->body.len, err, sizeof(err));

    } else if (ctx->body.len) {
        /* only the provider's error code is kept, never what it sent */
        (void) gov_oidc_id_token((char *) ctx->body.data, ctx->body.len,
                                 err, sizeof(err));
    }

    if (ctx->body.len) {
        ngx_explicit_memzero(ctx->body.data, ctx->body.len);
    }

    if (ctx->id_token == NULL) {
        if (ctx->say) {
            ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                          "gov oidc \"%V\": the token endpoint answered "
                          "%ui%s%s%V", &ctx->op->name, ctx->status,
                          err[0] ? ": " : "", err, &ctx->more);
        }

        ngx_gov_oidc_finish(ctx, ngx_http_gov_error(r, NGX_HTTP_BAD_GATEWAY,
                                                    "idp_unavailable"));
        return;
    }

    ngx_gov_oidc_verify(ctx);
}


/* the ID token: the provider's keys, its issuer, us, the nonce */

static void
ngx_gov_oidc_verify(ngx_gov_oidc_ctx_t *ctx)
{
    json_t              *claims;
    ngx_int_t            rc;
    ngx_str_t            key, one;
    gov_claim_policy_t   policy;
    ngx_gov_oidc_t      *op;
    ngx_http_request_t  *r;

    r = ctx->request;
    op = ctx->op;
    claims = NULL;

    if (op->keys.nkeys == 0 && !ctx->keys_fetched) {
        /* this worker has no keys yet: what another fetched, in Redis */
        ngx_gov_oidc_keys_get(ctx);
        return;
    }

    if (op->keys.nkeys == 0) {
        ngx_gov_oidc_finish(ctx, ngx_http_gov_error(r, NGX_HTTP_BAD_GATEWAY,
                                                    "idp_unavailable"));
        return;
    }

    rc = gov_jwt_verify(&op->keys, ctx->id_token, ngx_strlen(ctx->id_token),
                        &claims);

    if (rc == GOV_AUTH_UNKNOWN_KEY && !ctx->refreshed) {
        /* a key new to us: one refresh a minute, of all workers */

        ctx->refreshed = 1;
        ngx_str_set(&one, "1");

        if (ngx_gov_oidc_key(r, &op->name, ":refresh", 8, &key) != NGX_OK) {
            ngx_gov_oidc_finish(ctx, NGX_HTTP_INTERNAL_SERVER_ERROR);
            return;
        }

        ngx_gov_oidc_set_nx(ctx, &key, &one, "PX",
                            NGX_GOV_OIDC_STR(NGX_GOV_OIDC_REFRESH_MS),
                            ngx_gov_oidc_keys_turn);
        return;
    }

    if (rc == GOV_AUTH_UNKNOWN_KEY && !ctx->keys_failed && !ctx->mark_read) {
        /* did the refresh of this minute (another's) fail? */
        ctx->mark_read = 1;
        ngx_gov_oidc_refresh_mark(ctx, 0);
        return;
    }

    if (rc == GOV_AUTH_UNKNOWN_KEY && ctx->keys_failed) {
        /* a key we could not fetch: the provider is down, not the token */
        ngx_gov_oidc_finish(ctx, ngx_http_gov_error(r, NGX_HTTP_BAD_GATEWAY,
                                                    "idp_unavailable"));
        return;
    }

    if (rc != GOV_AUTH_OK) {
        ngx_gov_oidc_finish(ctx, ngx_gov_oidc_unauthenticated(r,
                                                 gov_auth_reason_str(rc)));
        return;
    }

    policy.issuer = (char *) op->issuer.data;
    policy.audience = (char *) op->client_id.data;
    policy.leeway = NGX_GOV_OIDC_LEEWAY;
    policy.require = NULL;
    policy.nrequire = 0;

    rc = gov_jwt_check_claims(claims, &policy, ngx_time());

    if (rc != GOV_AUTH_OK) {
        json_decref(claims);
        ngx_gov_oidc_finish(ctx, ngx_gov_oidc_unauthenticated(r,
                                                 gov_auth_reason_str(rc)));
        return;
    }

    rc = gov_oidc_check_id_token(claims, (char *) op->client_id.data,
                                 json_string_value(json_object_get(ctx->state,
                                                                   "n")));
    if (rc != GOV_OIDC_OK) {
        json_decref(claims);
        ngx_gov_oidc_finish(ctx, ngx_gov_oidc_unauthenticated(r,
                                                 gov_oidc_reason_str(rc)));
        return;
    }

    ngx_gov_oidc_login(ctx, claims);
    json_decref(claims);
}


static void
ngx_gov_oidc_keys_read(redisReply *reply, void *data)
{
    ngx_gov_oidc_ctx_t *ctx = data;

    if (reply && reply->type == REDIS_REPLY_STRING
        && ngx_gov_oidc_keys_load(ctx->op, ctx->request->connection->log,
                                  reply->str, reply->len)
           == NGX_OK)
    {
        ngx_gov_oidc_verify(ctx);
        return;
    }

    if (ctx->keys_fetched) {
        /* the refresh was another's: what we have, or nothing */
        ngx_gov_oidc_verify(ctx);
        return;
    }

    ngx_gov_oidc_keys_fetch(ctx);
}


/* whose turn it is to refresh the keys: ours, or another's this minute */

static void
ngx_gov_oidc_keys_turn(redisReply *reply, void *data)
{
    ngx_gov_oidc_ctx_t *ctx = data;

    if (reply && reply->type == REDIS_REPLY_STATUS) {
        ngx_gov_oidc_keys_fetch(ctx);
        return;
    }

    if (reply == NULL) {
        ngx_gov_oidc_verify(ctx);
        return;
    }

    /* refreshed in the last minute: perhaps with the key we miss */

    ctx->keys_fetched = 1;
    ngx_gov_oidc_keys_get(ctx);
}


/* the provider's keys as last fetched by any worker, from Redis */

static void
ngx_gov_oidc_keys_get(ngx_gov_oidc_ctx_t *ctx)
{
    ngx_str_t    key;
    const char  *argv[2];
    size_t       argvlen[2];

    if (ngx_gov_oidc_key(ctx->request, &ctx->op->name, ":jwks", 5, &key)
        != NGX_OK)
    {
        ngx_gov_oidc_finish(ctx, NGX_HTTP_INTERNAL_SERVER_ERROR);
        return;
    }

    argv[0] = "GET";
    argvlen[0] = 3;
    argv[1] = (char *) key.data;
    argvlen[1] = key.len;

    ngx_gov_oidc_command(ctx, ngx_gov_oidc_keys_read, 2, argv, argvlen);
}


static void
ngx_gov_oidc_keys_fetch(ngx_gov_oidc_ctx_t *ctx)
{
    ctx->keys_fetched = 1;

    ngx_log_error(NGX_LOG_INFO, ctx->request->connection->log, 0,
                  "gov oidc \"%V\": fetching the provider's keys",
                  &ctx->op->name);

    if (ngx_gov_oidc_fetch(ctx, ctx->op->disc.jwks_path, NULL,
                           ngx_gov_oidc_keys_fetched)
        != NGX_OK)
    {
        ngx_gov_oidc_finish(ctx, NGX_HTTP_INTERNAL_SERVER_ERROR);
    }
}


static void
ngx_gov_oidc_keys_fetched(ngx_gov_oidc_ctx_t *ctx)
{
    ngx_str_t            key;
    ngx_http_request_t  *r;
    const char          *argv[3];
    size_t               argvlen[3];

    r = ctx->request;

    if (ctx->status != NGX_HTTP_OK
        || ngx_gov_oidc_keys_load(ctx->op, r->connection->log,
                                  (char *) ctx->body.data, ctx->body.len)
           != NGX_OK)
    {
        if (ctx->say) {
            ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                          "gov oidc \"%V\": no keys from the JWKS "
                          "(answered %ui)%V", &ctx->op->name, ctx->status,
                          &ctx->more);
        }

        /*
         * The keys as they were, if any: a kid known already still
         * logs in, an unknown one is the provider's failure (502); the
         * next try comes after NGX_GOV_OIDC_RETRY_MS, not a minute.
         */
        ctx->keys_failed = 1;
        ngx_gov_oidc_refresh_mark(ctx, 1);
        ngx_gov_oidc_verify(ctx);
        return;
    }

    /* shared: the other workers and nodes read it, not the provider */

    if (ngx_gov_oidc_key(r, &ctx->op->name, ":jwks", 5, &key) == NGX_OK) {
        argv[0] = "SET";
        argvlen[0] = 3;
        argv[1] = (char *) key.data;
        argvlen[1] = key.len;
        argv[2] = (char *) ctx->body.data;
        argvlen[2] = ctx->body.len;

        (void) ngx_gov_redis_send(r->connection->log, NULL, NULL, NULL, 3,
                                  argv, argvlen);
    }

    ngx_gov_oidc_verify(ctx);
}


/*
 * The refresh mark of the provider's keys (one refresh a minute across
 * workers and nodes): "failed" for a few seconds after a fetch that
 * failed ("set"), so the next login tries again soon and the logins
 * meanwhile know why a kid is unknown; or read back ("set" 0), then the
 * check goes on.
 */

static void
ngx_gov_oidc_refresh_mark(ngx_gov_oidc_ctx_t *ctx, ngx_uint_t set)
{
    ngx_str_t    key;
    const char  *argv[5];
    size_t       argvlen[5];

    if (ngx_gov_oidc_key(ctx->request, &ctx->op->name, ":refresh", 8, &key)
        != NGX_OK)
    {
        if (!set) {
            ngx_gov_oidc_verify(ctx);
        }

        return;
    }

    argv[1] = (char *) key.data;
    argvlen[1] = key.len;

    if (set) {
        argv[0] = "SET";
        argvlen[0] = 3;
        argv[2] = "failed";
        argvlen[2] = 6;
        argv[3] = "PX";
        argvlen[3] = 2;
        argv[4] = NGX_GOV_OIDC_STR(NGX_GOV_OIDC_RETRY_MS);
        argvlen[4] = ngx_strlen(argv[4]);

        (void) ngx_gov_redis_send(ctx->request->connection->log, NULL, NULL,
                                  NULL, 5, argv, argvlen);
        return;
    }

    argv[0] = "GET";
    argvlen[0] = 3;

    ngx_gov_oidc_command(ctx, ngx_gov_oidc_mark_read, 2, argv, argvlen);
}


static void
ngx_gov_oidc_mark_read(redisReply *reply, void *data)
{
    ngx_gov_oidc_ctx_t *ctx = data;

    if (reply && reply->type == REDIS_REPLY_STRING && reply->len == 6
        && ngx_strncmp(reply->str, "failed", 6) == 0)
    {
        ctx->keys_failed = 1;
    }

    ngx_gov_oidc_verify(ctx);
}


static ngx_int_t
ngx_gov_oidc_keys_load(ngx_gov_oidc_t *op, ngx_log_t *log, const char *doc,
    size_t len)
{
    char          err[256];
    gov_keyset_t  keys;

    ngx_memzero(&keys, sizeof(gov_keyset_t));

    if (doc == NULL || len == 0
        || gov_keyset_add_jwks(&keys, doc, len, op->algs, err, sizeof(err))
           != 0)
    {
        gov_keyset_free(&keys);

        if (doc && len) {
            ngx_log_error(NGX_LOG_ERR, log, 0,
                          "gov oidc \"%V\": the provider's JWKS: %s",
                          &op->name, err);
        }

        return NGX_ERROR;
    }

    gov_keyset_free(&op->keys);
    op->keys = keys;

    return NGX_OK;
}


/* the session, as gov_login makes it, and the provider's logout URL */

static void
ngx_gov_oidc_login(ngx_gov_oidc_ctx_t *ctx, json_t *claims)
{
    u_char              *p;
    size_t               len;
    ngx_int_t            rc;
    ngx_str_t            return_to, logout, empty, post;
    const char          *end, *r_to;
    ngx_gov_oidc_t      *op;
    ngx_http_request_t  *r;

    r = ctx->request;
    op = ctx->op;

    r_to = json_string_value(json_object_get(ctx->state, "r"));
    len = ngx_strlen(r_to);

    if (len == 0 || !gov_return_to_ok(r_to, len)) {
        r_to = "/";
        len = 1;
    }

    return_to.data = ngx_pnalloc(r->pool, len);
    if (return_to.data == NULL) {
        ngx_gov_oidc_finish(ctx, NGX_HTTP_INTERNAL_SERVER_ERROR);
        return;
    }

    ngx_memcpy(return_to.data, r_to, len);
    return_to.len = len;

    ngx_str_null(&logout);
    end = op->disc.end_session_endpoint;

    if (end) {
        post.len = 0;

        if (op->post_logout.len
            && ngx_gov_oidc_redirect_uri(r, &op->post_logout, &post)
               != NGX_OK)
        {
            ngx_gov_oidc_finish(ctx, NGX_HTTP_INTERNAL_SERVER_ERROR);
            return;
        }

        len = ngx_strlen(end) + sizeof("?client_id=") + 3 * op->client_id.len
              + sizeof("&post_logout_redirect_uri=") + 3 * post.len;

        logout.data = ngx_pnalloc(r->pool, len);
        if (logout.data == NULL) {
            ngx_gov_oidc_finish(ctx, NGX_HTTP_INTERNAL_SERVER_ERROR);
            return;
        }

        p = ngx_sprintf(logout.data, "%s%c", end,
                        ngx_strchr(end, '?') ? '&' : '?');
        p = ngx_cpymem(p, "client_id=", sizeof("client_id=") - 1);
        p += gov_pct_encode((char *) p, (char *) op->client_id.data,
                            op->client_id.len);

        if (post.len) {
            p = ngx_cpymem(p, "&post_logout_redirect_uri=",
                           sizeof("&post_logout_redirect_uri=") - 1);
            p += gov_pct_encode((char *) p, (char *) post.data, post.len);
        }

        logout.len = p - logout.data;
    }

    /* the binding cookie has done its work */

    ngx_str_null(&empty);

    if (ngx_gov_oidc_binding(r, op, &empty, 0) != NGX_OK) {
        ngx_gov_oidc_finish(ctx, NGX_HTTP_INTERNAL_SERVER_ERROR);
        return;
    }

    /* the callback is a browser's navigation, whatever it accepts */

    rc = ngx_http_gov_session_start(r, claims, &return_to, 1,
                                    logout.len ? &logout : NULL);

    ngx_gov_oidc_finish(ctx, rc);
}
