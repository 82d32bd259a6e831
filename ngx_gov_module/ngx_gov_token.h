
/*
 * Copyright (C) ngx_gov_module authors
 *
 * Bearer tokens: key files, the claim policy, verification and the
 * verified-token cache (ngx_gov_token.c).
 */


#ifndef _NGX_GOV_TOKEN_H_INCLUDED_
#define _NGX_GOV_TOKEN_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>


#include <jansson.h>


/* SHA-256 digests of tokens and session ids */
#define NGX_HTTP_GOV_HASH_LEN      32


char *ngx_http_gov_jwt_key_file(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
char *ngx_http_gov_jwt_require(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
char *ngx_http_gov_jwt_cache(ngx_conf_t *cf, ngx_command_t *cmd, void *conf);

/* who a verified token names; strings in the request's pool, NUL-ended */
typedef struct {
    ngx_str_t                 subject;
    ngx_str_t                 actor;        /* data NULL: no delegation */
    ngx_str_t                 name;         /* data NULL: none */
} ngx_http_gov_who_t;


/*
 * Verifies a token and checks its claims against the location's policy:
 * GOV_AUTH_OK with "who" filled in, or a reason.  When "claims" is not
 * NULL it receives the claims too (a new reference): a cached token keeps
 * only what "who" needs, so they are parsed again from the token then.
 */
ngx_int_t ngx_http_gov_verify(ngx_http_request_t *r, ngx_str_t *token,
    ngx_http_gov_who_t *who, json_t **claims);

ngx_int_t ngx_http_gov_sha256_digest(u_char *data, size_t len, u_char *hash);

void ngx_http_gov_token_exit_process(ngx_cycle_t *cycle);


#endif /* _NGX_GOV_TOKEN_H_INCLUDED_ */
