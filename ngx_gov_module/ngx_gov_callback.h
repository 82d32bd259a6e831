
/*
 * Copyright (C) ngx_gov_module authors
 *
 * gov_callback: departments move steps (ngx_gov_callback.c).
 */


#ifndef _NGX_GOV_CALLBACK_H_INCLUDED_
#define _NGX_GOV_CALLBACK_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_gov_conf.h"
#include "ngx_gov_redis.h"

ngx_int_t ngx_http_gov_callback_handler(ngx_http_request_t *r);

/* shared memory for the once-an-hour word on legacy signatures */
ngx_int_t ngx_gov_callback_add_zone(ngx_conf_t *cf);

/*
 * the script that moves a step, for callbacks and refreshes alike;
 * "signers" who signed a callback (" - ID "), NULL for a refresh
 */
ngx_int_t ngx_gov_state_cmd(ngx_pool_t *pool, ngx_gov_bundles_conf_t *bc,
    ngx_str_t *prefix, ngx_str_t *id, ngx_gov_item_t *it, ngx_int_t state,
    ngx_str_t *receipt, ngx_str_t *note, ngx_str_t *request,
    ngx_str_t *result, ngx_str_t *replay, ngx_str_t *signers,
    ngx_gov_redis_args_t *cmd);


#endif /* _NGX_GOV_CALLBACK_H_INCLUDED_ */
