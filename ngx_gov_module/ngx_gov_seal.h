
/*
 * Copyright (C) ngx_gov_module authors
 *
 * Data keys (ngx_gov_seal.c, CONTRACT section 17): "gov_data_key_file"
 * loads them; values are sealed before they are written to Redis and
 * opened when read, bound to their application and field (core/gov_seal).
 */


#ifndef _NGX_GOV_SEAL_H_INCLUDED_
#define _NGX_GOV_SEAL_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include <jansson.h>

#include "ngx_gov_conf.h"


char *ngx_gov_data_key_directive(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);

/* 1 when values are sealed (a gov_data_key_file is set) */
ngx_uint_t ngx_gov_sealing(ngx_http_gov_main_conf_t *gmcf);

/*
 * "in" sealed for field "field" of application "app", in "pool"; "in"
 * itself when no key is set.  NGX_ERROR when OpenSSL failed.
 */
ngx_int_t ngx_gov_seal(ngx_http_gov_main_conf_t *gmcf, ngx_pool_t *pool,
    ngx_str_t *app, const char *field, ngx_str_t *in, ngx_str_t *out);

/*
 * Opened: NGX_OK with the value (plain text written before keys were set
 * passes as it is); NGX_DECLINED when it is damaged, bound elsewhere or
 * under a key not loaded: logged with the key id and application,
 * counted (gov_data_unreadable_total).
 */
ngx_int_t ngx_gov_open(ngx_http_gov_main_conf_t *gmcf, ngx_pool_t *pool,
    ngx_log_t *log, ngx_str_t *app, const char *field, ngx_str_t *in,
    ngx_str_t *out);

/*
 * The same for every string of a JSON object's members, each bound to
 * "prefix.NAME" (e.g. "fields.name"), in place.
 */
ngx_int_t ngx_gov_seal_members(ngx_http_gov_main_conf_t *gmcf,
    ngx_pool_t *pool, ngx_str_t *app, const char *prefix, json_t *obj);
ngx_int_t ngx_gov_open_members(ngx_http_gov_main_conf_t *gmcf,
    ngx_pool_t *pool, ngx_log_t *log, ngx_str_t *app, const char *prefix,
    json_t *obj);


#endif /* _NGX_GOV_SEAL_H_INCLUDED_ */
