
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

/* GOV_AUTH_OK with the claims (owned by the cache), or a reason */
ngx_int_t ngx_http_gov_verify(ngx_http_request_t *r, ngx_str_t *token,
    json_t **claims);

ngx_int_t ngx_http_gov_sha256_digest(u_char *data, size_t len, u_char *hash);

void ngx_http_gov_token_exit_process(ngx_cycle_t *cycle);


#endif /* _NGX_GOV_TOKEN_H_INCLUDED_ */
