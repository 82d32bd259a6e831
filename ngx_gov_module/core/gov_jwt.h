
/*
 * Copyright (C) ngx_gov_module authors
 *
 * JWT verification with OpenSSL: keys pinned to one algorithm each (JWKS
 * or PEM) and turned into OpenSSL key objects once, when they are loaded;
 * strict token syntax, duplicate JSON keys refused, and claim checks (exp,
 * nbf, iat, iss, aud, required claims).  No nginx header and no libjwt:
 * unit-tested and fuzzed alone, and held against libjwt 1.10 (the oracle)
 * by a differential test and fuzz target.
 */


#ifndef _GOV_JWT_H_INCLUDED_
#define _GOV_JWT_H_INCLUDED_


#include <stddef.h>
#include <jansson.h>


#define GOV_JWT_MAX_LEN  8192


/* the algorithms, numbered as libjwt 1.10 numbers its jwt_alg_t */
enum {
    GOV_JWT_HS256 = 1,
    GOV_JWT_HS384,
    GOV_JWT_HS512,
    GOV_JWT_RS256,
    GOV_JWT_RS384,
    GOV_JWT_RS512,
    GOV_JWT_ES256,
    GOV_JWT_ES384,
    GOV_JWT_ES512
};


/* the reasons of CONTRACT section 3, in that order */
typedef enum {
    GOV_AUTH_OK = 0,
    GOV_AUTH_MISSING,
    GOV_AUTH_MALFORMED,
    GOV_AUTH_BAD_SIGNATURE,
    GOV_AUTH_ALG_NOT_ALLOWED,
    GOV_AUTH_UNKNOWN_KEY,
    GOV_AUTH_EXPIRED,
    GOV_AUTH_NOT_YET_VALID,
    GOV_AUTH_BAD_ISSUER,
    GOV_AUTH_BAD_AUDIENCE,
    GOV_AUTH_MISSING_CLAIM,
    GOV_AUTH_SESSION_EXPIRED,
    GOV_AUTH_REASONS
} gov_auth_reason_e;


typedef struct {
    char             *kid;          /* NULL: none */
    int               alg;          /* GOV_JWT_*, the one pinned algorithm */
    unsigned char    *key;          /* the oct secret (HS*), else NULL */
    size_t            key_len;
    void             *pkey;         /* EVP_PKEY of RS* and ES* keys */

    /* made when the key is added, used by every verification */
    void             *md;           /* EVP_MD of the algorithm's hash */
    void             *vctx;         /* EVP_PKEY_CTX ready to verify */
    void             *mac;          /* EVP_MAC_CTX keyed (HS*) */
    void             *p256;         /* gov_p256_t (ES256) */
} gov_jwk_t;


typedef struct {
    gov_jwk_t        *keys;
    size_t            nkeys;
    size_t            cap;
    void             *headers;      /* headers seen, their keys (lazily) */
} gov_keyset_t;


typedef struct {
    const char       *issuer;       /* NULL: not checked */
    const char       *audience;     /* NULL: not checked */
    long long         leeway;       /* seconds */
    const char      **require;
    size_t            nrequire;
} gov_claim_policy_t;


const char *gov_auth_reason_str(int reason);

/* "HS256" ... "ES512" to GOV_JWT_*; -1 for anything else (and "none") */
int gov_jwt_alg_from_str(const char *s);
const char *gov_jwt_alg_str(int alg);

/*
 * Adds the keys of one file: a JWKS document ({"keys":[...]}), a single JWK,
 * or a PEM public key.  "alg" (may be NULL) pins PEM keys (required there)
 * and JWKs without "alg"; "kid" (may be NULL) names a PEM key.  Returns 0, or
 * -1 with a message in "err".
 */
int gov_keyset_add(gov_keyset_t *ks, const char *data, size_t len,
    const char *alg, const char *kid, char *err, size_t errlen);
void gov_keyset_free(gov_keyset_t *ks);

/*
 * Adds the signature keys of an identity provider's JWKS that verify one
 * of the algorithms in "algs" (bits 1 << GOV_JWT_*, never HS*): a key
 * naming its "alg" is taken when that one is allowed; one without is
 * pinned to the allowed RS* (RSA) or the ES* of its curve (EC).  Other
 * keys (encryption, oct, other algorithms, broken) are passed over.
 * Returns 0, or -1 with "err" when it is no JWKS or no key was taken.
 */
int gov_keyset_add_jwks(gov_keyset_t *ks, const char *data, size_t len,
    unsigned algs, char *err, size_t errlen);

/*
 * Checks the token's syntax, selects its key, verifies the signature with
 * the key's prepared OpenSSL objects (no key parsing here) and returns
 * GOV_AUTH_OK with the payload in *claims (a new reference), or a reason.
 * Claims are not checked here.
 */
int gov_jwt_verify(const gov_keyset_t *ks, const char *token, size_t len,
    json_t **claims);

/*
 * The payload of a token gov_jwt_verify() accepted (a new reference), or
 * NULL: for who needs the claims again later.  Checks nothing.
 */
json_t *gov_jwt_payload(const char *token, size_t len);

typedef struct {
    int               has_exp;
    int               has_nbf;
    int               has_iat;
    double            exp;
    double            nbf;
    double            iat;
} gov_jwt_times_t;


/* checks claim types, required claims, exp/nbf/iat, iss and aud */
int gov_jwt_check_claims(json_t *claims, const gov_claim_policy_t *policy,
    long long now);

/*
 * The same in two halves, so that a cached token pays only for the second:
 * what depends on the policy alone (types, required claims, iss, aud), and
 * what depends on the time (exp, nbf, iat, from gov_jwt_get_times() after
 * gov_jwt_check_static() accepted the claims).
 */
int gov_jwt_check_static(json_t *claims, const gov_claim_policy_t *policy);
void gov_jwt_get_times(json_t *claims, gov_jwt_times_t *times);
int gov_jwt_check_time(const gov_jwt_times_t *times, long long leeway,
    long long now);

/* the exp claim when it is a number, else 0 */
long long gov_jwt_exp(json_t *claims);

/* sub, act.sub (NULL without delegation), name (NULL when absent) */
const char *gov_jwt_subject(json_t *claims);
const char *gov_jwt_actor(json_t *claims);
const char *gov_jwt_name(json_t *claims);

/*
 * 1 when the claim "name" is the string "value" or an array holding it
 * (gov_operator_claim: role "operator", or roles ["operator", ...]).
 */
int gov_jwt_claim_holds(json_t *claims, const char *name, const char *value);


#endif /* _GOV_JWT_H_INCLUDED_ */
