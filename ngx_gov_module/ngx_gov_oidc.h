
/*
 * Copyright (C) ngx_gov_module authors
 *
 * OpenID Connect login (ngx_gov_oidc.c): gov_oidc {}, gov_login oidc=NAME
 * and gov_oidc_callback.
 */


#ifndef _NGX_GOV_OIDC_H_INCLUDED_
#define _NGX_GOV_OIDC_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>


/* gov_oidc NAME { ... } */
char *ngx_gov_oidc_block(ngx_conf_t *cf, ngx_command_t *cmd, void *conf);

/*
 * A location using a provider: gov_login oidc=NAME ("callback" 0) or
 * gov_oidc_callback NAME (1).  The name is resolved, and the locations
 * checked against it, by ngx_gov_oidc_postconfiguration().
 */
char *ngx_gov_oidc_use(ngx_conf_t *cf, void *glcf, ngx_str_t *name,
    ngx_uint_t callback);

ngx_int_t ngx_gov_oidc_postconfiguration(ngx_conf_t *cf);

ngx_int_t ngx_gov_oidc_login_handler(ngx_http_request_t *r);
ngx_int_t ngx_gov_oidc_callback_handler(ngx_http_request_t *r);

void ngx_gov_oidc_exit_process(ngx_cycle_t *cycle);


#endif /* _NGX_GOV_OIDC_H_INCLUDED_ */
