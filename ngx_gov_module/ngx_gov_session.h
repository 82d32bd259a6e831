
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

#include <jansson.h>


char *ngx_http_gov_session_cookie(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
char *ngx_http_gov_session_ttl(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);

ngx_int_t ngx_http_gov_login_handler(ngx_http_request_t *r);
ngx_int_t ngx_http_gov_logout_handler(ngx_http_request_t *r);

/*
 * A session for verified "claims", created as gov_login creates it, and
 * the answer: 303 to "return_to" (a checked same-origin path) for a
 * browser, else 200 with the subject.  "logout" (may be NULL) is the
 * identity provider's end-session URL, kept for gov_logout.  NGX_DONE:
 * the request is finalized when Redis has stored it; else a status.
 */
ngx_int_t ngx_http_gov_session_start(ngx_http_request_t *r, json_t *claims,
    ngx_str_t *return_to, ngx_uint_t browser, ngx_str_t *logout);


#endif /* _NGX_GOV_SESSION_H_INCLUDED_ */
