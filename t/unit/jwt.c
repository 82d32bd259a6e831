
/*
 * Copyright (C) ngx_gov_module authors
 *
 * Unit tests of the JWT core: key pinning, the known attacks on libjwt 1.10,
 * token syntax and claim checks.  Keys are generated at run time.
 */


#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jwt.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/pem.h>
#include <openssl/core_names.h>

#include "tap.h"
#include "gov_b64.h"
#include "gov_jwt.h"
#include "jwtdiff.h"


/* a PEM of the key, private or public (jwtdiff.h) */

static char *
pem_of(EVP_PKEY *pkey, int private)
{
    size_t  len;

    return jwtdiff_pem(pkey, private, &len);
}


static char *
b64(const void *data, size_t len)
{
    char  *out;

    out = malloc(gov_b64url_encoded_len(len) + 1);
    out[gov_b64url_encode(out, data, len)] = '\0';

    return out;
}


/* "pad": the field size for EC coordinates (RFC 7518 wants them full) */
static char *
b64_bn(EVP_PKEY *pkey, const char *param, int pad)
{
    BIGNUM         *bn = NULL;
    char           *out;
    unsigned char   buf[1024];
    int             n;

    EVP_PKEY_get_bn_param(pkey, param, &bn);
    n = pad ? BN_bn2binpad(bn, buf, pad) : BN_bn2bin(bn, buf);
    BN_free(bn);
    out = b64(buf, n);

    return out;
}


/* a token with the given header and payload, signed by libjwt */
static char *
mint(const char *alg, const char *kid, const char *claims,
    const unsigned char *key, size_t key_len)
{
    jwt_t  *jwt;
    char   *out;

    jwt_new(&jwt);
    jwt_add_grants_json(jwt, claims);

    if (kid) {
        jwt_add_header(jwt, "kid", kid);
    }

    jwt_set_alg(jwt, (jwt_alg_t) gov_jwt_alg_from_str(alg), key,
                (int) key_len);
    out = jwt_encode_str(jwt);
    jwt_free(jwt);

    return out;
}


/* a token assembled by hand, HMAC-SHA256 signed with "secret" */
static char *
forge(const char *header, const char *payload, const void *secret,
    size_t secret_len)
{
    char          *h, *p, *s, *out;
    size_t         n;
    unsigned int   mlen;
    unsigned char  mac[64];

    h = b64(header, strlen(header));
    p = b64(payload, strlen(payload));

    n = strlen(h) + strlen(p) + 2 + 100;
    out = malloc(n);
    snprintf(out, n, "%s.%s", h, p);

    HMAC(EVP_sha256(), secret, (int) secret_len, (unsigned char *) out,
         strlen(out), mac, &mlen);

    s = b64(mac, mlen);
    snprintf(out, n, "%s.%s.%s", h, p, s);

    free(h);
    free(p);
    free(s);

    return out;
}


static int
verify(gov_keyset_t *ks, const char *token)
{
    int      rc;
    json_t  *claims;

    rc = gov_jwt_verify(ks, token, strlen(token), &claims);
    json_decref(claims);

    return rc;
}


static int
check(const char *claims_json, gov_claim_policy_t *p, long long now)
{
    int      rc;
    json_t  *claims;

    claims = json_loads(claims_json, 0, NULL);
    rc = gov_jwt_check_claims(claims, p, now);
    json_decref(claims);

    return rc;
}


static const char  secret[] = "0123456789abcdef0123456789abcdef";


int
main(void)
{
    int              i;
    char             err[256], jwks[8192], claims[512], *t, *t2, *rsa_pub;
    char            *rsa_priv, *ec_priv, *ec_pub, *ec2_priv, *ec384_priv, *n;
    char            *e, *x, *y, *k, big[9000];
    time_t           now;
    EVP_PKEY        *rsa, *ec, *ec2, *ec384, *rsa1024;
    gov_keyset_t     ks, ks2;
    const char      *req[] = { "sub", "exp" };
    gov_claim_policy_t  policy;

    now = time(NULL);

    rsa = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t) 2048);
    rsa1024 = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t) 1024);
    ec = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
    ec2 = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
    ec384 = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-384");

    rsa_pub = pem_of(rsa, 0);
    rsa_priv = pem_of(rsa, 1);
    ec_pub = pem_of(ec, 0);
    ec_priv = pem_of(ec, 1);
    ec2_priv = pem_of(ec2, 1);
    ec384_priv = pem_of(ec384, 1);

    /* --- key files ---------------------------------------------------- */

    memset(&ks, 0, sizeof(ks));

    ok(gov_keyset_add(&ks, rsa_pub, strlen(rsa_pub), NULL, NULL, err,
                      sizeof(err)) == -1
       && strstr(err, "needs \"alg=\""), "PEM without alg= refused: %s", err);

    ok(gov_keyset_add(&ks, rsa_pub, strlen(rsa_pub), "HS256", NULL, err,
                      sizeof(err)) == -1
       && strstr(err, "oct"), "PEM pinned to HS256 refused: %s", err);

    ok(gov_keyset_add(&ks, rsa_pub, strlen(rsa_pub), "ES256", NULL, err,
                      sizeof(err)) == -1,
       "RSA PEM pinned to ES256 refused: %s", err);

    ok(gov_keyset_add(&ks, ec_pub, strlen(ec_pub), "ES384", NULL, err,
                      sizeof(err)) == -1,
       "P-256 PEM pinned to ES384 refused: %s", err);

    t = pem_of(rsa1024, 0);
    ok(gov_keyset_add(&ks, t, strlen(t), "RS256", NULL, err,
                      sizeof(err)) == -1 && strstr(err, "too weak"),
       "1024-bit RSA refused: %s", err);
    free(t);

    ok(gov_keyset_add(&ks, rsa_priv, strlen(rsa_priv), "RS256", NULL, err,
                      sizeof(err)) == -1,
       "a private key file is refused: %s", err);

    ok(gov_keyset_add(&ks, rsa_pub, strlen(rsa_pub), "none", NULL, err,
                      sizeof(err)) == -1, "alg=none refused: %s", err);

    is_int(gov_keyset_add(&ks, rsa_pub, strlen(rsa_pub), "RS256", "rsa1",
                          err, sizeof(err)), 0, "RSA PEM pinned to RS256");
    is_int(gov_keyset_add(&ks, rsa_pub, strlen(rsa_pub), "RS512", "rsa1",
                          err, sizeof(err)), -1, "duplicate kid refused");
    is_int(gov_keyset_add(&ks, ec_pub, strlen(ec_pub), "ES256", "ec1",
                          err, sizeof(err)), 0, "EC PEM pinned to ES256");

    n = b64_bn(rsa, OSSL_PKEY_PARAM_RSA_N, 0);
    e = b64_bn(rsa, OSSL_PKEY_PARAM_RSA_E, 0);
    x = b64_bn(ec, OSSL_PKEY_PARAM_EC_PUB_X, 32);
    y = b64_bn(ec, OSSL_PKEY_PARAM_EC_PUB_Y, 32);
    k = b64(secret, 32);

    snprintf(jwks, sizeof(jwks),
             "{\"keys\":["
             "{\"kty\":\"RSA\",\"kid\":\"jr\",\"n\":\"%s\",\"e\":\"%s\"},"
             "{\"kty\":\"EC\",\"kid\":\"je\",\"crv\":\"P-256\","
             "\"x\":\"%s\",\"y\":\"%s\"},"
             "{\"kty\":\"oct\",\"kid\":\"jh\",\"alg\":\"HS256\",\"k\":\"%s\"},"
             "{\"kty\":\"oct\",\"use\":\"enc\",\"k\":\"%s\"}"
             "]}", n, e, x, y, k, k);

    memset(&ks2, 0, sizeof(ks2));
    is_int(gov_keyset_add(&ks2, jwks, strlen(jwks), NULL, NULL, err,
                          sizeof(err)), 0, "JWKS with RSA, EC and oct keys");
    is_int(ks2.nkeys, 3, "the encryption key is skipped");
    is_int(ks2.keys[0].alg, JWT_ALG_RS256, "RSA defaults to RS256");
    is_int(ks2.keys[1].alg, JWT_ALG_ES256, "P-256 defaults to ES256");
    is_int(ks2.keys[2].alg, JWT_ALG_HS256, "oct pinned by its alg");

    ok(gov_keyset_add(&ks2, jwks, strlen(jwks), NULL, "x", err,
                      sizeof(err)) == -1, "kid= with a JWKS refused: %s",
       err);

    snprintf(jwks, sizeof(jwks), "{\"keys\":[{\"kty\":\"oct\",\"k\":\"%s\"}]}",
             k);
    ok(gov_keyset_add(&ks2, jwks, strlen(jwks), NULL, NULL, err,
                      sizeof(err)) == -1 && strstr(err, "needs \"alg\""),
       "oct key without alg refused: %s", err);

    snprintf(jwks, sizeof(jwks), "{\"keys\":[{\"kty\":\"oct\",\"kid\":\"s\","
             "\"alg\":\"HS256\",\"k\":\"c2hvcnQ\"}]}");
    ok(gov_keyset_add(&ks2, jwks, strlen(jwks), NULL, NULL, err,
                      sizeof(err)) == -1 && strstr(err, "at least 32"),
       "short HS256 secret refused: %s", err);

    snprintf(jwks, sizeof(jwks), "{\"keys\":[{\"kty\":\"EC\",\"kid\":\"bad\","
             "\"crv\":\"P-256\",\"x\":\"%s\",\"y\":\"%s\"}]}", x, x);
    ok(gov_keyset_add(&ks2, jwks, strlen(jwks), NULL, NULL, err,
                      sizeof(err)) == -1 && strstr(err, "not on"),
       "EC point off the curve refused: %s", err);

    snprintf(jwks, sizeof(jwks), "{\"keys\":[{\"kty\":\"OKP\",\"kid\":\"o\","
             "\"crv\":\"Ed25519\",\"x\":\"%s\"}]}", x);
    ok(gov_keyset_add(&ks2, jwks, strlen(jwks), NULL, NULL, err,
                      sizeof(err)) == -1 && strstr(err, "unsupported kty"),
       "unsupported kty refused: %s", err);

    snprintf(jwks, sizeof(jwks), "{\"keys\":[{\"kty\":\"RSA\",\"kid\":\"a\","
             "\"kid\":\"b\",\"n\":\"%s\",\"e\":\"%s\"}]}", n, e);
    ok(gov_keyset_add(&ks2, jwks, strlen(jwks), NULL, NULL, err,
                      sizeof(err)) == -1, "duplicate JSON keys in a JWKS "
       "refused: %s", err);

    snprintf(jwks, sizeof(jwks), "{\"keys\":[{\"kty\":\"RSA\",\"kid\":\"ps\","
             "\"alg\":\"PS256\",\"n\":\"%s\",\"e\":\"%s\"}]}", n, e);
    ok(gov_keyset_add(&ks2, jwks, strlen(jwks), NULL, NULL, err,
                      sizeof(err)) == -1, "unsupported alg refused: %s", err);

    ok(gov_keyset_add(&ks2, "{}", 2, NULL, NULL, err, sizeof(err)) == -1,
       "a JSON document without keys refused: %s", err);

    /* an identity provider's JWKS: what is not ours is passed over */

    {
        gov_keyset_t  idp;
        char          mixed[8192];

        snprintf(mixed, sizeof(mixed),
                 "{\"keys\":["
                 "{\"kty\":\"RSA\",\"kid\":\"r1\",\"n\":\"%s\","
                 "\"e\":\"%s\"},"
                 "{\"kty\":\"RSA\",\"kid\":\"ps\",\"alg\":\"PS256\","
                 "\"n\":\"%s\",\"e\":\"%s\"},"
                 "{\"kty\":\"EC\",\"kid\":\"e1\",\"crv\":\"P-256\","
                 "\"x\":\"%s\",\"y\":\"%s\"},"
                 "{\"kty\":\"OKP\",\"kid\":\"o\",\"crv\":\"Ed25519\","
                 "\"x\":\"%s\"},"
                 "{\"kty\":\"oct\",\"kid\":\"h\",\"alg\":\"HS256\","
                 "\"k\":\"%s\"},"
                 "{\"kty\":\"EC\",\"kid\":\"bad\",\"crv\":\"P-256\","
                 "\"x\":\"%s\",\"y\":\"%s\"},"
                 "{\"kty\":\"RSA\",\"use\":\"enc\",\"n\":\"%s\","
                 "\"e\":\"%s\"}"
                 "]}", n, e, n, e, x, y, x, k, x, x, n, e);

        memset(&idp, 0, sizeof(idp));
        is_int(gov_keyset_add_jwks(&idp, mixed, strlen(mixed),
                                   1u << GOV_JWT_RS256, err, sizeof(err)),
               0, "a provider's JWKS for RS256");
        is_int(idp.nkeys, 1, "only the RSA signature key without alg");
        ok(idp.nkeys == 1 && strcmp(idp.keys[0].kid, "r1") == 0
           && idp.keys[0].alg == GOV_JWT_RS256, "r1 pinned to RS256");
        gov_keyset_free(&idp);

        memset(&idp, 0, sizeof(idp));
        is_int(gov_keyset_add_jwks(&idp, mixed, strlen(mixed),
                                   (1u << GOV_JWT_RS256)
                                   | (1u << GOV_JWT_ES256),
                                   err, sizeof(err)),
               0, "the same for RS256 and ES256");
        is_int(idp.nkeys, 2, "the RSA key and the good EC key");
        gov_keyset_free(&idp);

        memset(&idp, 0, sizeof(idp));
        ok(gov_keyset_add_jwks(&idp, mixed, strlen(mixed),
                               (1u << GOV_JWT_HS256) | (1u << GOV_JWT_ES384),
                               err, sizeof(err)) == -1 && idp.nkeys == 0,
           "no key for HS256 or ES384: refused: %s", err);
        ok(gov_keyset_add_jwks(&idp, "[1]", 3, 1u << GOV_JWT_RS256, err,
                               sizeof(err)) == -1,
           "not a JWKS: refused: %s", err);
        ok(gov_keyset_add_jwks(&idp, "garbage", 7, 1u << GOV_JWT_RS256, err,
                               sizeof(err)) == -1,
           "garbage: refused: %s", err);
        gov_keyset_free(&idp);
    }

    /* --- valid tokens ------------------------------------------------- */

    snprintf(claims, sizeof(claims),
             "{\"sub\":\"110101199001011234\",\"exp\":%lld,\"name\":\"张三\"}",
             (long long) now + 600);

    t = mint("RS256", "jr", claims, (unsigned char *) rsa_priv,
             strlen(rsa_priv));
    is_int(verify(&ks2, t), GOV_AUTH_OK, "RS256 token verifies");
    free(t);

    t = mint("ES256", "je", claims, (unsigned char *) ec_priv,
             strlen(ec_priv));
    is_int(verify(&ks2, t), GOV_AUTH_OK, "ES256 token verifies");
    free(t);

    t = mint("HS256", "jh", claims, (unsigned char *) secret, 32);
    is_int(verify(&ks2, t), GOV_AUTH_OK, "HS256 token verifies");
    free(t);

    t = mint("ES256", NULL, claims, (unsigned char *) ec_priv,
             strlen(ec_priv));
    is_int(verify(&ks2, t), GOV_AUTH_OK,
           "without kid: the one key pinned to ES256 is used");
    free(t);

    /* --- the attacks -------------------------------------------------- */

    {
        const char  *nones[] = { "none", "None", "NONE", "nOnE" };

        for (i = 0; i < 4; i++) {
            char  h[64], *a;
            snprintf(h, sizeof(h), "{\"alg\":\"%s\",\"typ\":\"JWT\"}",
                     nones[i]);
            a = forge(h, claims, "", 0);
            *strrchr(a, '.') = '\0';
            strcat(a, ".");
            is_int(verify(&ks2, a), GOV_AUTH_ALG_NOT_ALLOWED,
                   "alg \"%s\" refused", nones[i]);
            free(a);
        }
    }

    t = forge("{\"alg\":\"HS256\",\"kid\":\"jr\"}", claims, rsa_pub,
              strlen(rsa_pub));
    is_int(verify(&ks2, t), GOV_AUTH_ALG_NOT_ALLOWED,
           "HS256 signed with the RSA key's PEM, kid of the RSA key");
    free(t);

    t = forge("{\"alg\":\"HS256\"}", claims, rsa_pub, strlen(rsa_pub));
    is_int(verify(&ks, t), GOV_AUTH_UNKNOWN_KEY,
           "HS256 signed with the RSA PEM, no kid, no HS key configured");
    free(t);

    t = forge("{\"alg\":\"HS256\"}", claims, ks2.keys[0].key,
              ks2.keys[0].key_len);
    is_int(verify(&ks2, t), GOV_AUTH_BAD_SIGNATURE,
           "HS256 signed with the RSA PEM, no kid, the HS key selected");
    free(t);

    t = forge("{\"alg\":\"HS256\",\"kid\":\"je\"}", claims, ec_pub,
              strlen(ec_pub));
    is_int(verify(&ks2, t), GOV_AUTH_ALG_NOT_ALLOWED,
           "HS256 signed with the EC key's PEM");
    free(t);

    snprintf(jwks, sizeof(jwks), "{\"kty\":\"RSA\",\"n\":\"%s\",\"e\":\"%s\"}",
             n, e);
    t = forge("{\"alg\":\"HS256\",\"kid\":\"jr\"}", claims, jwks,
              strlen(jwks));
    is_int(verify(&ks2, t), GOV_AUTH_ALG_NOT_ALLOWED,
           "HS256 signed with the RSA JWK's JSON");
    free(t);

    t = mint("RS256", "je", claims, (unsigned char *) rsa_priv,
             strlen(rsa_priv));
    is_int(verify(&ks2, t), GOV_AUTH_ALG_NOT_ALLOWED,
           "a kid that selects a key of another algorithm");
    free(t);

    t = mint("RS256", "nope", claims, (unsigned char *) rsa_priv,
             strlen(rsa_priv));
    is_int(verify(&ks2, t), GOV_AUTH_UNKNOWN_KEY, "an unknown kid");
    free(t);

    t = mint("ES384", "je", claims, (unsigned char *) ec384_priv,
             strlen(ec384_priv));
    is_int(verify(&ks2, t), GOV_AUTH_ALG_NOT_ALLOWED,
           "ES384 token against the P-256 key");
    free(t);

    t = mint("ES256", "je", claims, (unsigned char *) ec2_priv,
             strlen(ec2_priv));
    is_int(verify(&ks2, t), GOV_AUTH_BAD_SIGNATURE,
           "ES256 token signed by another P-256 key");
    free(t);

    t = mint("RS256", "jr", claims, (unsigned char *) rsa_priv,
             strlen(rsa_priv));

    t2 = strdup(t);
    t2[strchr(t2, '.') - t2 - 2] ^= 1;
    ok(verify(&ks2, t2) == GOV_AUTH_BAD_SIGNATURE
       || verify(&ks2, t2) == GOV_AUTH_MALFORMED, "tampered header");
    free(t2);

    t2 = strdup(t);
    t2[strchr(t2, '.') - t2 + 5] ^= 1;
    ok(verify(&ks2, t2) == GOV_AUTH_BAD_SIGNATURE
       || verify(&ks2, t2) == GOV_AUTH_MALFORMED, "tampered payload");
    free(t2);

    t2 = strdup(t);
    t2[strlen(t2) - 5] = t2[strlen(t2) - 5] == 'A' ? 'B' : 'A';
    is_int(verify(&ks2, t2), GOV_AUTH_BAD_SIGNATURE, "tampered signature");
    free(t2);

    t2 = strdup(t);
    strrchr(t2, '.')[1] = '\0';
    is_int(verify(&ks2, t2), GOV_AUTH_BAD_SIGNATURE, "signature removed");
    *strrchr(t2, '.') = '\0';
    is_int(verify(&ks2, t2), GOV_AUTH_MALFORMED, "signature and dot removed");
    free(t2);

    t2 = malloc(strlen(t) + 8);
    sprintf(t2, "%s.xyz", t);
    is_int(verify(&ks2, t2), GOV_AUTH_MALFORMED, "an extra dot segment");
    sprintf(t2, ".%s", t);
    is_int(verify(&ks2, t2), GOV_AUTH_MALFORMED, "an empty header segment");
    free(t2);

    {
        const char  bad[] = { '+', '/', '=', ' ', '\n', '%', '\0' };

        for (i = 0; bad[i]; i++) {
            t2 = strdup(t);
            t2[10] = bad[i];
            is_int(verify(&ks2, t2), GOV_AUTH_MALFORMED,
                   "character 0x%02x outside base64url", bad[i]);
            free(t2);
        }
    }

    memset(big, 'A', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    memcpy(big, t, strlen(t));
    is_int(verify(&ks2, big), GOV_AUTH_MALFORMED, "a token over 8 KiB");

    is_int(verify(&ks2, ""), GOV_AUTH_MISSING, "an empty token is missing");
    free(t);

    t = forge("{\"alg\":\"HS256\",\"alg\":\"HS256\",\"kid\":\"jh\"}", claims,
              secret, 32);
    is_int(verify(&ks2, t), GOV_AUTH_MALFORMED, "duplicate keys in header");
    free(t);

    snprintf(claims, sizeof(claims), "{\"sub\":\"a\",\"sub\":\"b\","
             "\"exp\":%lld}", (long long) now + 600);
    t = forge("{\"alg\":\"HS256\",\"kid\":\"jh\"}", claims, secret, 32);
    is_int(verify(&ks2, t), GOV_AUTH_MALFORMED, "duplicate keys in payload");
    free(t);

    snprintf(claims, sizeof(claims), "{\"sub\":\"a\",\"exp\":%lld}",
             (long long) now + 600);
    t = forge("{\"alg\":\"HS256\",\"kid\":\"jh\"}", claims, secret, 32);
    is_int(verify(&ks2, t), GOV_AUTH_OK, "the forged HS256 helper is sound");
    free(t);

    t = forge("{\"alg\":\"HS256\",\"kid\":\"jh\",\"typ\":\"at+jwt\"}", claims,
              secret, 32);
    is_int(verify(&ks2, t), GOV_AUTH_MALFORMED, "typ other than JWT");
    free(t);

    t = forge("{\"alg\":\"HS256\",\"kid\":\"jh\",\"crit\":[\"exp\"]}", claims,
              secret, 32);
    is_int(verify(&ks2, t), GOV_AUTH_MALFORMED, "a crit header");
    free(t);

    t = forge("[\"alg\",\"HS256\"]", claims, secret, 32);
    is_int(verify(&ks2, t), GOV_AUTH_MALFORMED, "a header that is no object");
    free(t);

    t = forge("{\"alg\":\"PS256\"}", claims, secret, 32);
    is_int(verify(&ks2, t), GOV_AUTH_ALG_NOT_ALLOWED, "an unsupported alg");
    free(t);

    /* --- claims -------------------------------------------------------- */

    memset(&policy, 0, sizeof(policy));
    policy.leeway = 60;
    policy.require = req;
    policy.nrequire = 2;

#define C(fmt, ...)  (snprintf(claims, sizeof(claims), fmt, __VA_ARGS__), \
                      claims)

    is_int(check(C("{\"sub\":\"a\",\"exp\":%lld}", (long long) now + 1),
                 &policy, now), GOV_AUTH_OK, "valid");
    is_int(check(C("{\"sub\":\"a\",\"exp\":%lld}", (long long) now - 30),
                 &policy, now), GOV_AUTH_OK, "expired inside the leeway");
    is_int(check(C("{\"sub\":\"a\",\"exp\":%lld}", (long long) now - 60),
                 &policy, now), GOV_AUTH_EXPIRED, "expired at the leeway");
    is_int(check(C("{\"sub\":\"a\",\"exp\":%lld}", (long long) now - 3600),
                 &policy, now), GOV_AUTH_EXPIRED, "expired long ago");
    is_int(check(C("{\"sub\":\"a\",\"exp\":%lld,\"nbf\":%lld}",
                   (long long) now + 600, (long long) now + 30),
                 &policy, now), GOV_AUTH_OK, "nbf inside the leeway");
    is_int(check(C("{\"sub\":\"a\",\"exp\":%lld,\"nbf\":%lld}",
                   (long long) now + 600, (long long) now + 61),
                 &policy, now), GOV_AUTH_NOT_YET_VALID, "nbf outside it");
    is_int(check(C("{\"sub\":\"a\",\"exp\":%lld,\"iat\":%lld}",
                   (long long) now + 600, (long long) now + 3600),
                 &policy, now), GOV_AUTH_NOT_YET_VALID, "iat in the future");
    is_int(check("{\"sub\":\"a\"}", &policy, now), GOV_AUTH_MISSING_CLAIM,
           "missing exp when required");
    is_int(check(C("{\"exp\":%lld}", (long long) now + 60), &policy, now),
           GOV_AUTH_MISSING_CLAIM, "missing sub when required");
    is_int(check("{\"sub\":\"a\",\"exp\":\"2099\"}", &policy, now),
           GOV_AUTH_MALFORMED, "non-numeric exp");
    is_int(check("{\"sub\":\"a\",\"exp\":null}", &policy, now),
           GOV_AUTH_MALFORMED, "null exp");
    is_int(check(C("{\"sub\":\"a\\nb\",\"exp\":%lld}", (long long) now + 60),
                 &policy, now), GOV_AUTH_MALFORMED, "sub with a newline");
    is_int(check(C("{\"sub\":\"\",\"exp\":%lld}", (long long) now + 60),
                 &policy, now), GOV_AUTH_MALFORMED, "empty sub");
    is_int(check(C("{\"sub\":\"a\",\"exp\":%lld,\"act\":\"x\"}",
                   (long long) now + 60), &policy, now),
           GOV_AUTH_MALFORMED, "act that is no object");
    is_int(check(C("{\"sub\":\"a\",\"exp\":%lld,\"act\":{\"sub\":\"ag\"}}",
                   (long long) now + 60), &policy, now),
           GOV_AUTH_OK, "act with a sub");

    policy.issuer = "https://idp.gov.example";
    policy.audience = "portal";

    is_int(check(C("{\"sub\":\"a\",\"exp\":%lld,\"iss\":\"https://idp.gov."
                   "example\",\"aud\":\"portal\"}", (long long) now + 60),
                 &policy, now), GOV_AUTH_OK, "iss and aud match");
    is_int(check(C("{\"sub\":\"a\",\"exp\":%lld,\"iss\":\"https://evil\","
                   "\"aud\":\"portal\"}", (long long) now + 60),
                 &policy, now), GOV_AUTH_BAD_ISSUER, "another issuer");
    is_int(check(C("{\"sub\":\"a\",\"exp\":%lld,\"aud\":\"portal\"}",
                   (long long) now + 60), &policy, now), GOV_AUTH_BAD_ISSUER,
           "no issuer");
    is_int(check(C("{\"sub\":\"a\",\"exp\":%lld,\"iss\":\"https://idp.gov."
                   "example\",\"aud\":[\"x\",\"portal\"]}",
                   (long long) now + 60), &policy, now), GOV_AUTH_OK,
           "aud array containing the audience");
    is_int(check(C("{\"sub\":\"a\",\"exp\":%lld,\"iss\":\"https://idp.gov."
                   "example\",\"aud\":[\"x\",\"y\"]}", (long long) now + 60),
                 &policy, now), GOV_AUTH_BAD_AUDIENCE,
           "aud array without it");
    is_int(check(C("{\"sub\":\"a\",\"exp\":%lld,\"iss\":\"https://idp.gov."
                   "example\",\"aud\":\"other\"}", (long long) now + 60),
                 &policy, now), GOV_AUTH_BAD_AUDIENCE, "another audience");
    is_int(check(C("{\"sub\":\"a\",\"exp\":%lld,\"iss\":\"https://idp.gov."
                   "example\",\"aud\":[1]}", (long long) now + 60),
                 &policy, now), GOV_AUTH_MALFORMED, "aud array of numbers");

    /*
     * Headers seen are remembered with the key they chose: the memo never
     * skips a signature, never keeps a refused header, and holds its
     * answers after it has turned over.
     */

    {
        char           pl[128], hd[128], *ta, *tb, *tx;
        gov_keyset_t   ks3;
        const char     sb[] = "another secret, 32 bytes long!!!";
        char          *kb;

        kb = b64(sb, 32);
        snprintf(jwks, sizeof(jwks),
                 "{\"keys\":["
                 "{\"kty\":\"oct\",\"kid\":\"a\",\"alg\":\"HS256\","
                 "\"k\":\"%s\"},"
                 "{\"kty\":\"oct\",\"kid\":\"b\",\"alg\":\"HS256\","
                 "\"k\":\"%s\"}]}", k, kb);
        free(kb);

        memset(&ks3, 0, sizeof(ks3));
        is_int(gov_keyset_add(&ks3, jwks, strlen(jwks), NULL, NULL, err,
                              sizeof(err)), 0, "two oct keys");

        snprintf(pl, sizeof(pl), "{\"sub\":\"a\",\"exp\":%lld}",
                 (long long) now + 60);
        ta = forge("{\"alg\":\"HS256\",\"kid\":\"a\"}", pl, secret, 32);
        tb = forge("{\"alg\":\"HS256\",\"kid\":\"a\"}", pl, sb, 32);

        is_int(verify(&ks3, ta), GOV_AUTH_OK, "memo: first sight");
        is_int(verify(&ks3, ta), GOV_AUTH_OK, "memo: again");
        is_int(verify(&ks3, tb), GOV_AUTH_BAD_SIGNATURE,
               "memo: the same header, another key's signature");
        free(tb);

        tb = forge("{\"alg\":\"HS256\",\"kid\":\"b\"}", pl, sb, 32);
        is_int(verify(&ks3, tb), GOV_AUTH_OK, "memo: the other key");

        tx = forge("{\"alg\":\"HS384\",\"kid\":\"a\"}", pl, secret, 32);
        is_int(verify(&ks3, tx), GOV_AUTH_ALG_NOT_ALLOWED,
               "memo: a refused header");
        is_int(verify(&ks3, tx), GOV_AUTH_ALG_NOT_ALLOWED,
               "memo: refused again");
        free(tx);

        for (i = 0; i < 20; i++) {
            snprintf(hd, sizeof(hd), "{\"alg\":\"HS256\",\"kid\":\"a\","
                     "\"x\":%d}", i);
            tx = forge(hd, pl, secret, 32);

            if (verify(&ks3, tx) != GOV_AUTH_OK) {
                free(tx);
                break;
            }

            free(tx);
        }

        is_int(i, 20, "memo: twenty headers in turn");
        is_int(verify(&ks3, ta), GOV_AUTH_OK, "memo: turned over, first");
        is_int(verify(&ks3, tb), GOV_AUTH_OK, "memo: turned over, other");

        free(ta);
        free(tb);
        gov_keyset_free(&ks3);
    }

    is_str(gov_auth_reason_str(GOV_AUTH_ALG_NOT_ALLOWED), "alg_not_allowed",
           "reason names");
    is_str(gov_auth_reason_str(GOV_AUTH_SESSION_EXPIRED), "session_expired",
           "reason names, last");

    gov_keyset_free(&ks);
    gov_keyset_free(&ks2);

    free(n);
    free(e);
    free(x);
    free(y);
    free(k);
    free(rsa_pub);
    free(rsa_priv);
    free(ec_pub);
    free(ec_priv);
    free(ec2_priv);
    free(ec384_priv);
    EVP_PKEY_free(rsa);
    EVP_PKEY_free(rsa1024);
    EVP_PKEY_free(ec);
    EVP_PKEY_free(ec2);
    EVP_PKEY_free(ec384);

    return done_testing();
}
