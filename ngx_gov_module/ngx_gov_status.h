
/*
 * Copyright (C) ngx_gov_module authors
 *
 * gov_status (ngx_gov_status.c).
 */


#ifndef _NGX_GOV_STATUS_H_INCLUDED_
#define _NGX_GOV_STATUS_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>


ngx_int_t ngx_http_gov_status_handler(ngx_http_request_t *r);


#endif /* _NGX_GOV_STATUS_H_INCLUDED_ */
