
/*
 * Copyright (C) ngx_gov_module authors
 */


/*
 * OpenID Connect, the relying party's side (OpenID Connect Core 1.0,
 * Discovery 1.0, RFC 7636 PKCE, RFC 6749): what needs no nginx.  The
 * discovery document read and checked, the authorization request's URL,
 * PKCE, the client's Basic credentials, the token response read, and the
 * ID token's claims checked beyond those of any token (nonce, azp).
 */


#ifndef _GOV_OIDC_H_INCLUDED_
#define _GOV_OIDC_H_INCLUDED_


#include <stddef.h>

#include <jansson.h>

#include "gov_jwt.h"


#define GOV_OIDC_URL_MAX        2048
#define GOV_OIDC_RANDOM_LEN     43      /* 32 random bytes, base64url */


typedef struct {
    char        *issuer;
    char        *authorization_endpoint;
    char        *token_endpoint;
    char        *jwks_uri;
    char        *end_session_endpoint;  /* NULL: none */
    char        *token_path;            /* the token endpoint's path */
    char        *jwks_path;             /* the JWKS's path */
} gov_oidc_provider_t;


/*
 * Reads a discovery document for "issuer": its "issuer" must be "issuer"
 * exactly; authorization_endpoint, token_endpoint and jwks_uri absolute
 * http(s) URLs, the last two on the issuer's own origin (they are reached
 * through the proxy location that leads there); "code" among the response
 * types and "S256" among the PKCE methods when the document lists them.
 * Returns 0, or -1 with the reason in "err".  The strings are the
 * provider's to free with gov_oidc_provider_free().
 */
int gov_oidc_discovery(const char *json, size_t len, const char *issuer,
    gov_oidc_provider_t *p, char *err, size_t errlen);
void gov_oidc_provider_free(gov_oidc_provider_t *p);

/* the path (and query) of an absolute URL; NULL when it is not one */
const char *gov_oidc_url_path(const char *url);

/* 32 random bytes as base64url (43 characters and a NUL); 0 or -1 */
int gov_oidc_random(char out[GOV_OIDC_RANDOM_LEN + 1]);

/* the PKCE S256 challenge of "verifier": base64url(SHA-256(verifier)) */
int gov_oidc_challenge(const char *verifier, char out[GOV_OIDC_RANDOM_LEN + 1]);

/*
 * The authorization request: the endpoint with response_type=code,
 * client_id, redirect_uri, scope, state, nonce, code_challenge and
 * code_challenge_method=S256, each percent-encoded, after the endpoint's
 * own query if it has one.  Returns the length, or -1 when longer than
 * "size".
 */
long gov_oidc_authorize_url(char *out, size_t size, const char *endpoint,
    const char *client_id, const char *redirect_uri, const char *scope,
    const char *state, const char *nonce, const char *challenge);

/* the token request's body (authorization_code, with the verifier) */
long gov_oidc_token_body(char *out, size_t size, const char *code,
    const char *redirect_uri, const char *verifier);

/*
 * "Basic " and base64 of the form-encoded client id, ":", the form-encoded
 * secret (RFC 6749 2.3.1).  Returns the length, or -1.
 */
long gov_oidc_basic(char *out, size_t size, const char *client_id,
    const char *secret);

/*
 * Reads the token endpoint's answer: the ID token (a new string to free),
 * or NULL with the reason in "err" (the provider's "error" code when it
 * sent one).
 */
char *gov_oidc_id_token(const char *json, size_t len, char *err,
    size_t errlen);

typedef enum {
    GOV_OIDC_OK = 0,
    GOV_OIDC_BAD_NONCE,
    GOV_OIDC_BAD_AZP,
    GOV_OIDC_MISSING_CLAIM
} gov_oidc_reason_e;

/*
 * The ID token's claims beyond any token's (which gov_jwt_check_claims
 * checks with the issuer and client id as policy): "nonce" must be the
 * one sent; with several audiences "azp" must be the client; "sub" and
 * "iat" must be there.
 */
int gov_oidc_check_id_token(json_t *claims, const char *client_id,
    const char *nonce);
const char *gov_oidc_reason_str(int reason);


#endif /* _GOV_OIDC_H_INCLUDED_ */
