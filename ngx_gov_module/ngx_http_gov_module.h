
/*
 * Copyright (C) ngx_gov_module authors
 */


#ifndef _NGX_HTTP_GOV_MODULE_H_INCLUDED_
#define _NGX_HTTP_GOV_MODULE_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_gov_redis.h"
#include "ngx_gov_bundle.h"
#include "gov_jwt.h"


#define NGX_HTTP_GOV_AUTH_OFF       0
#define NGX_HTTP_GOV_AUTH_OPTIONAL  1
#define NGX_HTTP_GOV_AUTH_REQUIRED  2

#define NGX_HTTP_GOV_SAMESITE_LAX     0
#define NGX_HTTP_GOV_SAMESITE_STRICT  1
#define NGX_HTTP_GOV_SAMESITE_NONE    2


typedef struct {
    ngx_gov_redis_conf_t     *redis;
    ngx_str_t                 redis_prefix;

    gov_keyset_t              keyset;
    ngx_uint_t                jwt_cache;    /* entries per worker, 0: off */

    ngx_gov_bundles_conf_t    bundles;
    ngx_http_conf_ctx_t      *dispatch_ctx; /* the server of gov_bundles */

    ngx_shm_zone_t           *pcache_zone;
    ngx_msec_t                pcache_ttl;

    ngx_array_t              *templates;    /* ngx_gov_template_t */
} ngx_http_gov_main_conf_t;


typedef struct {
    ngx_uint_t                handler;      /* ngx_gov_handler_e */

    ngx_uint_t                auth;
    ngx_str_t                 login_url;
    ngx_flag_t                identity_headers;

    ngx_str_t                 issuer;
    ngx_str_t                 audience;
    time_t                    leeway;
    ngx_array_t              *require;      /* of ngx_str_t */
    gov_claim_policy_t        policy;

    ngx_str_t                 cookie_name;
    ngx_uint_t                cookie_secure;
    ngx_uint_t                cookie_samesite;
    ngx_str_t                 cookie_domain;
    time_t                    session_idle;
    time_t                    session_absolute;

    ngx_msec_t                progress_refresh;
} ngx_http_gov_loc_conf_t;


typedef void (*ngx_http_gov_identity_done_pt)(ngx_http_request_t *r);


/* ngx_http_gov_module.c */
ngx_int_t ngx_http_gov_redis_send(ngx_http_request_t *r,
    ngx_gov_redis_handler_pt handler, void *data, int argc,
    const char **argv, const size_t *argvlen);
ngx_int_t ngx_http_gov_redis_send_n(ngx_http_request_t *r,
    ngx_gov_redis_handler_pt handler, void *data, ngx_uint_t n,
    ngx_gov_redis_args_t *cmds);
ngx_int_t ngx_http_gov_send(ngx_http_request_t *r, ngx_uint_t status,
    ngx_str_t *content_type, ngx_str_t *body);
ngx_int_t ngx_http_gov_send_json(ngx_http_request_t *r, ngx_uint_t status,
    ngx_str_t *body);
ngx_int_t ngx_http_gov_json_dump(ngx_http_request_t *r, json_t *json,
    ngx_str_t *out);
ngx_int_t ngx_http_gov_json_answer(ngx_http_request_t *r, ngx_uint_t status,
    json_t *json);
ngx_int_t ngx_http_gov_error(ngx_http_request_t *r, ngx_uint_t status,
    const char *error);
ngx_int_t ngx_http_gov_unavailable(ngx_http_request_t *r);
ngx_int_t ngx_http_gov_add_header(ngx_http_request_t *r, ngx_list_t *list,
    const char *key, ngx_str_t *value);
ngx_int_t ngx_http_gov_location(ngx_http_request_t *r, ngx_str_t *location);
ngx_table_elt_t *ngx_http_gov_find_header(ngx_http_request_t *r,
    const char *lowcase_key, size_t len);
ngx_uint_t ngx_http_gov_wants_html(ngx_http_request_t *r);
ngx_int_t ngx_http_gov_get_only(ngx_http_request_t *r);
void ngx_http_gov_mask(ngx_http_request_t *r, ngx_str_t *secret);
ngx_int_t ngx_http_gov_read_body(ngx_http_request_t *r, ngx_str_t *body);

/* ngx_gov_page.c */
char *ngx_gov_templates_directive(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
ngx_int_t ngx_http_gov_page(ngx_http_request_t *r, ngx_uint_t status,
    const char *name, json_t *data);
ngx_int_t ngx_http_gov_error_page(ngx_http_request_t *r, ngx_uint_t status,
    const char *error);

/* ngx_gov_auth.c */
ngx_int_t ngx_http_gov_auth_add_variables(ngx_conf_t *cf);
ngx_int_t ngx_http_gov_auth_init(ngx_conf_t *cf);
void ngx_http_gov_auth_init_loc_conf(ngx_http_gov_loc_conf_t *glcf);
char *ngx_http_gov_auth_merge_loc_conf(ngx_conf_t *cf,
    ngx_http_gov_loc_conf_t *prev, ngx_http_gov_loc_conf_t *conf);
void ngx_http_gov_auth_exit_process(ngx_cycle_t *cycle);

char *ngx_http_gov_jwt_key_file(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
char *ngx_http_gov_session_cookie(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
char *ngx_http_gov_session_ttl(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
char *ngx_http_gov_jwt_require(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);

ngx_int_t ngx_http_gov_login_handler(ngx_http_request_t *r);
ngx_int_t ngx_http_gov_unauthenticated(ngx_http_request_t *r,
    ngx_int_t reason);
void ngx_http_gov_callback_headers(ngx_http_request_t *r,
    ngx_str_t *timestamp, ngx_str_t *signature);
ngx_int_t ngx_http_gov_whoami(ngx_http_request_t *r, ngx_str_t *subject,
    ngx_str_t *actor);
ngx_int_t ngx_http_gov_logout_handler(ngx_http_request_t *r);

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


extern ngx_module_t  ngx_http_gov_module;


#endif /* _NGX_HTTP_GOV_MODULE_H_INCLUDED_ */
