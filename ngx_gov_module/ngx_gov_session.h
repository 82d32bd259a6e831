
/*
 * Copyright (C) ngx_gov_module authors
 *
 * Cookie sessions: gov_session_cookie, gov_session_ttl, gov_login and
 * gov_logout (ngx_gov_session.c).
 */


#ifndef _NGX_GOV_SESSION_H_INCLUDED_
#define _NGX_GOV_SESSION_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>


char *ngx_http_gov_session_cookie(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
char *ngx_http_gov_session_ttl(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);

ngx_int_t ngx_http_gov_login_handler(ngx_http_request_t *r);
ngx_int_t ngx_http_gov_logout_handler(ngx_http_request_t *r);


#endif /* _NGX_GOV_SESSION_H_INCLUDED_ */
