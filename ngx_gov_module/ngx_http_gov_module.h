
/*
 * Copyright (C) ngx_gov_module authors
 */


#ifndef _NGX_HTTP_GOV_MODULE_H_INCLUDED_
#define _NGX_HTTP_GOV_MODULE_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_gov_redis.h"


typedef struct {
    ngx_gov_redis_conf_t     *redis;
    ngx_str_t                 redis_prefix;
} ngx_http_gov_main_conf_t;


typedef struct {
    ngx_uint_t                handler;      /* ngx_gov_handler_e */
} ngx_http_gov_loc_conf_t;


ngx_int_t ngx_http_gov_redis_send(ngx_http_request_t *r,
    ngx_gov_redis_handler_pt handler, void *data, int argc,
    const char **argv, const size_t *argvlen);
ngx_int_t ngx_http_gov_send(ngx_http_request_t *r, ngx_uint_t status,
    ngx_str_t *content_type, ngx_str_t *body);
ngx_int_t ngx_http_gov_unavailable(ngx_http_request_t *r);


extern ngx_module_t  ngx_http_gov_module;


#endif /* _NGX_HTTP_GOV_MODULE_H_INCLUDED_ */
