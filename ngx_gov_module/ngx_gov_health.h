
/*
 * Copyright (C) ngx_gov_module authors
 *
 * gov_health (ngx_gov_health.c).
 */


#ifndef _NGX_GOV_HEALTH_H_INCLUDED_
#define _NGX_GOV_HEALTH_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>


ngx_int_t ngx_http_gov_health_handler(ngx_http_request_t *r);


#endif /* _NGX_GOV_HEALTH_H_INCLUDED_ */
