
/*
 * Copyright (C) ngx_gov_module authors
 *
 * Pages: templates compiled at configuration time, rendered per request
 * (ngx_gov_page.c).
 */


#ifndef _NGX_GOV_PAGE_H_INCLUDED_
#define _NGX_GOV_PAGE_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>


#include <jansson.h>


char *ngx_gov_templates_directive(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);

/* the page "name" with "data"; NGX_DECLINED when there is no template */
ngx_int_t ngx_http_gov_page(ngx_http_request_t *r, ngx_uint_t status,
    const char *name, json_t *data);
ngx_int_t ngx_http_gov_error_page(ngx_http_request_t *r, ngx_uint_t status,
    const char *error);


#endif /* _NGX_GOV_PAGE_H_INCLUDED_ */
