
/*
 * Copyright (C) ngx_gov_module authors
 */


/*
 * Bearer tokens: the key files (gov_jwt_key_file), the claim policy
 * (gov_jwt_require), verification through the core, and the per-worker
 * cache of verified tokens (gov_jwt_cache).
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include <openssl/evp.h>

#include "ngx_gov_conf.h"
#include "ngx_gov_metrics.h"
#include "ngx_gov_token.h"


#define NGX_HTTP_GOV_NEG_TTL       60
#define NGX_HTTP_GOV_NOEXP_TTL     300


typedef struct ngx_http_gov_jwt_node_s  ngx_http_gov_jwt_node_t;

struct ngx_http_gov_jwt_node_s {
    ngx_http_gov_jwt_node_t        *next;   /* in its bucket */
    ngx_queue_t                     queue;
    u_char                          hash[NGX_HTTP_GOV_HASH_LEN];
    time_t                          expires;
    ngx_int_t                       reason;

    /* subject, actor, name: in the bytes after the node */
    ngx_str_t                       who[3];

    /* the last location policy checked, so a hit checks only times */
    const gov_claim_policy_t       *policy;
    ngx_int_t                       policy_reason;
    gov_jwt_times_t                 times;
};


static EVP_MD             *ngx_http_gov_sha256;
/*
 * The verified tokens of this worker: a hash table of a bucket per entry
 * (gov_jwt_cache), keyed by the token's SHA-256, with an LRU queue.
 */
static ngx_http_gov_jwt_node_t  **ngx_http_gov_jwt_buckets;
static ngx_uint_t          ngx_http_gov_jwt_mask;
static ngx_queue_t         ngx_http_gov_jwt_lru;
static ngx_uint_t          ngx_http_gov_jwt_count;
static ngx_uint_t          ngx_http_gov_jwt_inited;


static ngx_int_t ngx_http_gov_who_from(ngx_http_request_t *r,
    json_t *claims, ngx_http_gov_who_t *who);
static ngx_int_t ngx_http_gov_who_copy(ngx_http_request_t *r,
    ngx_str_t *from, ngx_str_t *to);
static ngx_int_t ngx_http_gov_jwt_cache_init(ngx_uint_t max);
static ngx_http_gov_jwt_node_t **ngx_http_gov_jwt_bucket(u_char *hash);
static ngx_http_gov_jwt_node_t *ngx_http_gov_jwt_cache_get(ngx_uint_t max,
    u_char *hash);
static ngx_http_gov_jwt_node_t *ngx_http_gov_jwt_cache_put(ngx_uint_t max,
    u_char *hash, ngx_int_t reason, json_t *claims, time_t expires);
static void ngx_http_gov_jwt_cache_free(ngx_http_gov_jwt_node_t *node);


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


/*
 * Verifies a token and checks its claims against the location's policy.
 * Returns a gov_auth_reason_e; on GOV_AUTH_OK *claims holds a reference.
 */

ngx_int_t
ngx_http_gov_verify(ngx_http_request_t *r, ngx_str_t *token,
    ngx_http_gov_who_t *who, json_t **claims)
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

    if (claims) {
        *claims = NULL;
    }

    if (token->len == 0 || token->len > GOV_JWT_MAX_LEN) {
        return GOV_AUTH_MALFORMED;
    }

    gmcf = ngx_http_get_module_main_conf(r, ngx_http_gov_module);
    glcf = ngx_http_get_module_loc_conf(r, ngx_http_gov_module);
    policy = &glcf->policy;

    now = ngx_time();
    node = NULL;
    c = NULL;

    if (gmcf->jwt_cache) {
        if (ngx_http_gov_sha256_digest(token->data, token->len, hash)
            != NGX_OK)
        {
            return GOV_AUTH_MALFORMED;
        }

        node = ngx_http_gov_jwt_cache_get(gmcf->jwt_cache, hash);

        if (node && node->expires <= now) {
            ngx_http_gov_jwt_cache_free(node);
            node = NULL;
        }
    }

    if (node) {
        ngx_gov_metrics_inc(NGX_GOV_M_JWT_CACHE_HIT);

        if (node->reason != GOV_AUTH_OK) {
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

            if (reason == GOV_AUTH_OK
                && ngx_http_gov_who_from(r, c, who) != NGX_OK)
            {
                reason = GOV_AUTH_MALFORMED;
            }

            goto checked;
        }
    }

    if (node->policy != policy) {
        /* another location's policy: its static checks once, on claims */

        if (c == NULL) {
            c = gov_jwt_payload((char *) token->data, token->len);
            if (c == NULL) {
                return GOV_AUTH_MALFORMED;
            }
        }

        node->policy = policy;
        node->policy_reason = gov_jwt_check_static(c, policy);

        if (node->policy_reason == GOV_AUTH_OK) {
            gov_jwt_get_times(c, &node->times);
        }
    }

    reason = node->policy_reason;

    if (reason == GOV_AUTH_OK) {
        reason = gov_jwt_check_time(&node->times, policy->leeway, now);
    }

    if (reason == GOV_AUTH_OK
        && (ngx_http_gov_who_copy(r, &node->who[0], &who->subject)
            != NGX_OK
            || ngx_http_gov_who_copy(r, &node->who[1], &who->actor)
               != NGX_OK
            || ngx_http_gov_who_copy(r, &node->who[2], &who->name)
               != NGX_OK))
    {
        reason = GOV_AUTH_MALFORMED;
    }

checked:

    if (reason != GOV_AUTH_OK) {
        ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                      "gov auth: token claims rejected: %s",
                      gov_auth_reason_str(reason));
        json_decref(c);
        return reason;
    }

    if (claims) {
        *claims = c ? c : gov_jwt_payload((char *) token->data, token->len);

    } else {
        json_decref(c);
    }

    return GOV_AUTH_OK;
}


/* who the claims name, copied into the request's pool */

static ngx_int_t
ngx_http_gov_who_from(ngx_http_request_t *r, json_t *claims,
    ngx_http_gov_who_t *who)
{
    ngx_str_t    s;
    const char  *v;

    v = gov_jwt_subject(claims);
    s.data = (u_char *) v;
    s.len = v ? ngx_strlen(v) : 0;

    if (ngx_http_gov_who_copy(r, &s, &who->subject) != NGX_OK) {
        return NGX_ERROR;
    }

    v = gov_jwt_actor(claims);
    s.data = (u_char *) v;
    s.len = v ? ngx_strlen(v) : 0;

    if (ngx_http_gov_who_copy(r, &s, &who->actor) != NGX_OK) {
        return NGX_ERROR;
    }

    v = gov_jwt_name(claims);
    s.data = (u_char *) v;
    s.len = v ? ngx_strlen(v) : 0;

    return ngx_http_gov_who_copy(r, &s, &who->name);
}


/* a NUL-ended copy in the request's pool; NULL data stays NULL */

static ngx_int_t
ngx_http_gov_who_copy(ngx_http_request_t *r, ngx_str_t *from, ngx_str_t *to)
{
    if (from->data == NULL) {
        ngx_str_null(to);
        return NGX_OK;
    }

    to->data = ngx_pnalloc(r->pool, from->len + 1);
    if (to->data == NULL) {
        return NGX_ERROR;
    }

    if (from->len) {
        ngx_memcpy(to->data, from->data, from->len);
    }
    to->data[from->len] = '\0';
    to->len = from->len;

    return NGX_OK;
}


/*
 * SHA-256, with the algorithm fetched once per process: OpenSSL 3 would
 * otherwise look it up (under a lock) on every call.
 */

ngx_int_t
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


static ngx_int_t
ngx_http_gov_jwt_cache_init(ngx_uint_t max)
{
    ngx_uint_t  n;

    for (n = 64; n < max; n *= 2) { /* void */ }

    ngx_http_gov_jwt_buckets = ngx_calloc(n * sizeof(ngx_http_gov_jwt_node_t *),
                                          ngx_cycle->log);
    if (ngx_http_gov_jwt_buckets == NULL) {
        return NGX_ERROR;
    }

    ngx_http_gov_jwt_mask = n - 1;
    ngx_queue_init(&ngx_http_gov_jwt_lru);
    ngx_http_gov_jwt_count = 0;
    ngx_http_gov_jwt_inited = 1;

    return NGX_OK;
}


/* the bucket of a SHA-256: its first bytes are as good as any */

static ngx_http_gov_jwt_node_t **
ngx_http_gov_jwt_bucket(u_char *hash)
{
    uint32_t  key;

    ngx_memcpy(&key, hash, sizeof(uint32_t));

    return &ngx_http_gov_jwt_buckets[key & ngx_http_gov_jwt_mask];
}


static ngx_http_gov_jwt_node_t *
ngx_http_gov_jwt_cache_get(ngx_uint_t max, u_char *hash)
{
    ngx_http_gov_jwt_node_t  *jn;

    if (!ngx_http_gov_jwt_inited
        && ngx_http_gov_jwt_cache_init(max) != NGX_OK)
    {
        return NULL;
    }

    for (jn = *ngx_http_gov_jwt_bucket(hash); jn; jn = jn->next) {
        if (ngx_memcmp(jn->hash, hash, NGX_HTTP_GOV_HASH_LEN) == 0) {
            ngx_queue_remove(&jn->queue);
            ngx_queue_insert_head(&ngx_http_gov_jwt_lru, &jn->queue);
            return jn;
        }
    }

    return NULL;
}


static ngx_http_gov_jwt_node_t *
ngx_http_gov_jwt_cache_put(ngx_uint_t max, u_char *hash, ngx_int_t reason,
    json_t *claims, time_t expires)
{
    u_char                   *p;
    ngx_str_t                 s[3];
    ngx_uint_t                i;
    ngx_queue_t              *q;
    const char               *v[3];
    ngx_http_gov_jwt_node_t  *jn;

    ngx_http_gov_jwt_node_t  **bucket;

    if (!ngx_http_gov_jwt_inited
        && ngx_http_gov_jwt_cache_init(max) != NGX_OK)
    {
        return NULL;
    }

    while (ngx_http_gov_jwt_count >= max) {
        q = ngx_queue_last(&ngx_http_gov_jwt_lru);
        ngx_http_gov_jwt_cache_free(
            ngx_queue_data(q, ngx_http_gov_jwt_node_t, queue));
    }

    ngx_str_null(&s[0]);
    ngx_str_null(&s[1]);
    ngx_str_null(&s[2]);

    if (claims) {
        v[0] = gov_jwt_subject(claims);
        v[1] = gov_jwt_actor(claims);
        v[2] = gov_jwt_name(claims);

        for (i = 0; i < 3; i++) {
            s[i].data = (u_char *) v[i];
            s[i].len = v[i] ? ngx_strlen(v[i]) : 0;
        }
    }

    jn = ngx_alloc(sizeof(ngx_http_gov_jwt_node_t)
                   + s[0].len + s[1].len + s[2].len, ngx_cycle->log);
    if (jn == NULL) {
        return NULL;
    }

    p = (u_char *) (jn + 1);

    for (i = 0; i < 3; i++) {
        jn->who[i].len = s[i].len;
        jn->who[i].data = s[i].data ? p : NULL;

        if (s[i].len) {
            p = ngx_cpymem(p, s[i].data, s[i].len);
        }
    }

    ngx_memcpy(jn->hash, hash, NGX_HTTP_GOV_HASH_LEN);
    jn->expires = expires;
    jn->reason = reason;
    jn->policy = NULL;
    jn->policy_reason = GOV_AUTH_OK;

    bucket = ngx_http_gov_jwt_bucket(hash);
    jn->next = *bucket;
    *bucket = jn;
    ngx_queue_insert_head(&ngx_http_gov_jwt_lru, &jn->queue);
    ngx_http_gov_jwt_count++;

    return jn;
}


static void
ngx_http_gov_jwt_cache_free(ngx_http_gov_jwt_node_t *jn)
{
    ngx_http_gov_jwt_node_t  **p;

    for (p = ngx_http_gov_jwt_bucket(jn->hash); *p; p = &(*p)->next) {
        if (*p == jn) {
            *p = jn->next;
            break;
        }
    }

    ngx_queue_remove(&jn->queue);

    ngx_free(jn);
    ngx_http_gov_jwt_count--;
}


void
ngx_http_gov_token_exit_process(ngx_cycle_t *cycle)
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

    ngx_free(ngx_http_gov_jwt_buckets);
    ngx_http_gov_jwt_buckets = NULL;
    ngx_http_gov_jwt_inited = 0;

done:

    if (ngx_http_gov_sha256) {
        EVP_MD_free(ngx_http_gov_sha256);
        ngx_http_gov_sha256 = NULL;
    }
}


char *
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
