
/*
 * Copyright (C) ngx_gov_module authors
 */


/*
 * Data keys.  "gov_data_key_file PATH [alg=aes-256-gcm|sm4-sm3]" may be
 * given several times and a file may hold several keys, a line each: the
 * first key of all seals, every key opens, so keys rotate without a
 * stop.  A value is bound to "APP_ID NUL FIELD" (the associated data):
 * copied into another application or field it does not open.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include <openssl/crypto.h>

#include "ngx_gov_conf.h"
#include "ngx_gov_metrics.h"
#include "ngx_gov_seal.h"
#include "gov_seal.h"


#define NGX_GOV_SEAL_AD_MAX     256
#define NGX_GOV_SEAL_SAY_MS     1000     /* unreadable values: said so */


static void ngx_gov_seal_cleanup(void *data);
static size_t ngx_gov_seal_ad(u_char *ad, ngx_str_t *app, const char *field);


static ngx_msec_t  ngx_gov_seal_said;
static ngx_uint_t  ngx_gov_seal_unsaid;


char *
ngx_gov_data_key_directive(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_gov_main_conf_t *gmcf = conf;

    int                  alg;
    char                 err[128];
    u_char              *buf, *p, *end, *eol;
    ssize_t              n;
    ngx_fd_t             fd;
    ngx_str_t           *value, path;
    ngx_uint_t           i, k, line, found;
    ngx_file_info_t      fi;
    gov_seal_key_t      *key, *keys;
    ngx_pool_cleanup_t  *cln;

    value = cf->args->elts;
    alg = GOV_SEAL_AES;

    for (i = 2; i < cf->args->nelts; i++) {
        if (ngx_strncmp(value[i].data, "alg=", 4) == 0) {
            alg = gov_seal_alg((char *) value[i].data + 4, value[i].len - 4);
            if (alg != 0) {
                continue;
            }
        }

        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"gov_data_key_file\": \"%V\" is not "
                           "\"alg=aes-256-gcm\" or \"alg=sm4-sm3\"",
                           &value[i]);
        return NGX_CONF_ERROR;
    }

    if (gmcf->data_keys == NULL) {
        gmcf->data_keys = ngx_array_create(cf->pool, 2,
                                           sizeof(gov_seal_key_t));
        if (gmcf->data_keys == NULL) {
            return NGX_CONF_ERROR;
        }

        cln = ngx_pool_cleanup_add(cf->pool, 0);
        if (cln == NULL) {
            return NGX_CONF_ERROR;
        }

        cln->handler = ngx_gov_seal_cleanup;
        cln->data = gmcf->data_keys;
    }

    path = value[1];

    if (ngx_conf_full_name(cf->cycle, &path, 1) != NGX_OK) {
        return NGX_CONF_ERROR;
    }

    fd = ngx_open_file(path.data, NGX_FILE_RDONLY, NGX_FILE_OPEN, 0);
    if (fd == NGX_INVALID_FILE) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, ngx_errno,
                           "\"gov_data_key_file\": cannot open \"%V\"",
                           &path);
        return NGX_CONF_ERROR;
    }

    if (ngx_fd_info(fd, &fi) == NGX_FILE_ERROR) {
        (void) ngx_close_file(fd);
        ngx_conf_log_error(NGX_LOG_EMERG, cf, ngx_errno,
                           "\"gov_data_key_file\": cannot read \"%V\"",
                           &path);
        return NGX_CONF_ERROR;
    }

    if (fi.st_mode & (S_IROTH|S_IWOTH)) {
        ngx_conf_log_error(NGX_LOG_WARN, cf, 0,
                           "\"gov_data_key_file\": \"%V\" may be read by "
                           "anyone (chmod 0600 or 0640)", &path);
    }

    buf = ngx_pnalloc(cf->temp_pool, 64 * 1024);
    n = buf ? ngx_read_fd(fd, buf, 64 * 1024) : -1;
    (void) ngx_close_file(fd);

    if (n < 0 || n == 64 * 1024) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, ngx_errno,
                           "\"gov_data_key_file\": cannot read \"%V\" "
                           "(at most 64k)", &path);
        return NGX_CONF_ERROR;
    }

    /* a key a line; empty lines and "#" comments skipped */

    p = buf;
    end = buf + n;
    found = 0;

    for (line = 1; p < end; line++, p = eol + 1) {
        eol = ngx_strlchr(p, end, '\n');
        if (eol == NULL) {
            eol = end;
        }

        while (p < eol && (*p == ' ' || *p == '\t' || *p == '\r')) {
            p++;
        }

        if (p == eol || *p == '#') {
            continue;
        }

        key = ngx_array_push(gmcf->data_keys);
        if (key == NULL) {
            return NGX_CONF_ERROR;
        }

        if (gov_seal_key(key, alg, (char *) p, eol - p, err, sizeof(err))
            != 0)
        {
            gmcf->data_keys->nelts--;
            ngx_explicit_memzero(buf, n);
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "\"gov_data_key_file\": \"%V\" line %ui: "
                               "the key %s", &path, line, err);
            return NGX_CONF_ERROR;
        }

        keys = gmcf->data_keys->elts;

        for (k = 0; k + 1 < gmcf->data_keys->nelts; k++) {
            if (keys[k].alg == key->alg
                && ngx_strcmp(keys[k].id, key->id) == 0)
            {
                gmcf->data_keys->nelts--;
                ngx_explicit_memzero(buf, n);
                ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                                   "\"gov_data_key_file\": \"%V\" line %ui: "
                                   "the same key twice (id %s)", &path,
                                   line, key->id);
                return NGX_CONF_ERROR;
            }
        }

        found++;
    }

    ngx_explicit_memzero(buf, n);

    if (found == 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"gov_data_key_file\": \"%V\" holds no key "
                           "(64 hex digits a line)", &path);
        return NGX_CONF_ERROR;
    }

    ngx_conf_log_error(NGX_LOG_WARN, cf, 0,
                       "\"gov_data_key_file\": %ui key%s of \"%V\" "
                       "checked; this version does not seal what it stores "
                       "yet", found, found == 1 ? "" : "s", &path);

    return NGX_CONF_OK;
}


static void
ngx_gov_seal_cleanup(void *data)
{
    ngx_array_t  *keys = data;

    OPENSSL_cleanse(keys->elts, keys->nelts * keys->size);
}


ngx_uint_t
ngx_gov_sealing(ngx_http_gov_main_conf_t *gmcf)
{
    return gmcf->data_keys != NULL && gmcf->data_keys->nelts > 0;
}


ngx_int_t
ngx_gov_seal(ngx_http_gov_main_conf_t *gmcf, ngx_pool_t *pool,
    ngx_str_t *app, const char *field, ngx_str_t *in, ngx_str_t *out)
{
    u_char  ad[NGX_GOV_SEAL_AD_MAX];
    size_t  adlen;

    if (!ngx_gov_sealing(gmcf)) {
        *out = *in;
        return NGX_OK;
    }

    out->data = ngx_pnalloc(pool, gov_seal_len(in->len));
    if (out->data == NULL) {
        return NGX_ERROR;
    }

    adlen = ngx_gov_seal_ad(ad, app, field);

    out->len = gov_seal(gmcf->data_keys->elts, ad, adlen, in->data, in->len,
                        (char *) out->data);

    return out->len ? NGX_OK : NGX_ERROR;
}


ngx_int_t
ngx_gov_open(ngx_http_gov_main_conf_t *gmcf, ngx_pool_t *pool,
    ngx_log_t *log, ngx_str_t *app, const char *field, ngx_str_t *in,
    ngx_str_t *out)
{
    int          rc;
    u_char       ad[NGX_GOV_SEAL_AD_MAX];
    size_t       adlen, len, used;
    const char  *id;

    if (!gov_sealed((char *) in->data, in->len)) {
        *out = *in;
        return NGX_OK;
    }

    rc = GOV_SEAL_UNKNOWN_KEY;

    if (ngx_gov_sealing(gmcf)) {
        out->data = ngx_pnalloc(pool, in->len);
        if (out->data == NULL) {
            return NGX_ERROR;
        }

        adlen = ngx_gov_seal_ad(ad, app, field);

        rc = gov_open(gmcf->data_keys->elts, gmcf->data_keys->nelts, ad,
                      adlen, (char *) in->data, in->len, out->data, &len,
                      &used);

        if (rc == GOV_SEAL_OK) {
            out->len = len;
            return NGX_OK;
        }

        if (rc == GOV_SEAL_ERROR) {
            return NGX_ERROR;
        }
    }

    ngx_gov_metrics_inc(NGX_GOV_M_UNREADABLE);

    id = gov_sealed_id((char *) in->data, in->len);

    if ((ngx_msec_int_t) (ngx_current_msec - ngx_gov_seal_said)
        >= NGX_GOV_SEAL_SAY_MS)
    {
        ngx_log_error(NGX_LOG_ERR, log, 0,
                      "gov: %s of %V under key %*s is %s, not served "
                      "(and %ui more in the last second)", field, app,
                      (size_t) GOV_SEAL_ID_LEN, id,
                      rc == GOV_SEAL_UNKNOWN_KEY ? "under a key not loaded"
                                                 : "damaged or bound elsewhere",
                      ngx_gov_seal_unsaid);
        ngx_gov_seal_said = ngx_current_msec;
        ngx_gov_seal_unsaid = 0;

    } else {
        ngx_gov_seal_unsaid++;
    }

    return NGX_DECLINED;
}


ngx_int_t
ngx_gov_seal_members(ngx_http_gov_main_conf_t *gmcf, ngx_pool_t *pool,
    ngx_str_t *app, const char *prefix, json_t *obj)
{
    u_char      name[NGX_GOV_SEAL_AD_MAX];
    json_t     *v;
    ngx_str_t   in, out;
    const char *k;

    if (!ngx_gov_sealing(gmcf) || !json_is_object(obj)) {
        return NGX_OK;
    }

    json_object_foreach(obj, k, v) {
        if (!json_is_string(v)) {
            continue;
        }

        ngx_snprintf(name, sizeof(name) - 1, "%s.%s%Z", prefix, k);
        name[sizeof(name) - 1] = '\0';

        in.data = (u_char *) json_string_value(v);
        in.len = json_string_length(v);

        if (ngx_gov_seal(gmcf, pool, app, (char *) name, &in, &out)
            != NGX_OK
            || json_string_setn(v, (char *) out.data, out.len) != 0)
        {
            return NGX_ERROR;
        }
    }

    return NGX_OK;
}


ngx_int_t
ngx_gov_open_members(ngx_http_gov_main_conf_t *gmcf, ngx_pool_t *pool,
    ngx_log_t *log, ngx_str_t *app, const char *prefix, json_t *obj)
{
    u_char      name[NGX_GOV_SEAL_AD_MAX];
    json_t     *v;
    ngx_int_t   rc;
    ngx_str_t   in, out;
    const char *k;

    if (!json_is_object(obj)) {
        return NGX_OK;
    }

    json_object_foreach(obj, k, v) {
        if (!json_is_string(v)) {
            continue;
        }

        in.data = (u_char *) json_string_value(v);
        in.len = json_string_length(v);

        if (!gov_sealed((char *) in.data, in.len)) {
            continue;
        }

        ngx_snprintf(name, sizeof(name) - 1, "%s.%s%Z", prefix, k);
        name[sizeof(name) - 1] = '\0';

        rc = ngx_gov_open(gmcf, pool, log, app, (char *) name, &in, &out);
        if (rc != NGX_OK) {
            return rc;
        }

        if (json_string_setn(v, (char *) out.data, out.len) != 0) {
            return NGX_ERROR;
        }
    }

    return NGX_OK;
}


/* "APP NUL FIELD", at most NGX_GOV_SEAL_AD_MAX bytes */

static size_t
ngx_gov_seal_ad(u_char *ad, ngx_str_t *app, const char *field)
{
    u_char  *p, *last;

    last = ad + NGX_GOV_SEAL_AD_MAX;

    p = ngx_cpymem(ad, app->data, ngx_min(app->len, NGX_GOV_SEAL_AD_MAX / 2));
    *p++ = '\0';
    p = ngx_slprintf(p, last, "%s", field);

    return p - ad;
}
