
/*
 * Copyright (C) ngx_gov_module authors
 *
 * Access: the identity of a request, gov_auth, identity headers and
 * variables, and the 401 answers (ngx_gov_access.c).
 */


#ifndef _NGX_GOV_ACCESS_H_INCLUDED_
#define _NGX_GOV_ACCESS_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_gov_conf.h"

/* session ids: 32 random bytes, base64url in the cookie */
#define NGX_HTTP_GOV_SID_BYTES     32
#define NGX_HTTP_GOV_SID_LEN       43


typedef void (*ngx_http_gov_identity_done_pt)(ngx_http_request_t *r);


ngx_int_t ngx_http_gov_auth_add_variables(ngx_conf_t *cf);
ngx_int_t ngx_http_gov_auth_init(ngx_conf_t *cf);
void ngx_http_gov_auth_init_loc_conf(ngx_http_gov_loc_conf_t *glcf);
char *ngx_http_gov_auth_merge_loc_conf(ngx_conf_t *cf,
    ngx_http_gov_loc_conf_t *prev, ngx_http_gov_loc_conf_t *conf);

/*
 * Resolves the request's identity (bearer token, else session cookie).
 * Returns NGX_OK when done, NGX_AGAIN while a session lookup is pending
 * ("done" is called when it completes), NGX_ERROR.
 */
ngx_int_t ngx_http_gov_identity(ngx_http_request_t *r,
    ngx_http_gov_identity_done_pt done);

/* the same, for content handlers: "done" runs now or later, or 500 */
void ngx_http_gov_identity_then(ngx_http_request_t *r,
    ngx_http_gov_identity_done_pt done);

/* GOV_AUTH_OK with the subject and actor, a reason, or NGX_DECLINED */
ngx_int_t ngx_http_gov_whoami(ngx_http_request_t *r, ngx_str_t *subject,
    ngx_str_t *actor);

/* the verified identity's claims, NULL without one (owned by the request) */
json_t *ngx_http_gov_claims(ngx_http_request_t *r);

ngx_int_t ngx_http_gov_unauthenticated(ngx_http_request_t *r,
    ngx_int_t reason);
ngx_int_t ngx_http_gov_challenge(ngx_http_request_t *r, ngx_int_t reason,
    const char *title, const char *message);

/* a department's signature headers, kept when X-Gov-* were stripped */
void ngx_http_gov_callback_headers(ngx_http_request_t *r,
    ngx_str_t *timestamp, ngx_str_t *signature);

/*
 * The slot a flow keeps its state of a request in (the module has one
 * context per request, this room's); NULL when out of memory.
 */
void **ngx_http_gov_flow_slot(ngx_http_request_t *r);

/* what the slot holds, NULL when nothing (creates no context) */
void *ngx_http_gov_flow(ngx_http_request_t *r);

/*
 * Cross-site requests (CONTRACT section 3): NGX_OK, or NGX_DECLINED when
 * a state-changing request without a bearer token comes from an origin
 * that is neither the portal's own nor a gov_trusted_origin.
 */
ngx_int_t ngx_http_gov_same_site(ngx_http_request_t *r);

/* 403 {"error":"cross_site"} (a browser: the error page) */
ngx_int_t ngx_http_gov_cross_site(ngx_http_request_t *r);

char *ngx_http_gov_trusted_origin(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);

/* the Redis key of a session id, and the session cookie of a request */
ngx_int_t ngx_http_gov_session_key(ngx_http_request_t *r, ngx_str_t *sid,
    ngx_str_t *key);
ngx_int_t ngx_http_gov_get_cookie(ngx_http_request_t *r, ngx_str_t *name,
    ngx_str_t *value);


#endif /* _NGX_GOV_ACCESS_H_INCLUDED_ */
