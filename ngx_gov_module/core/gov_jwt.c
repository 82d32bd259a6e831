
/*
 * Copyright (C) ngx_gov_module authors
 */


#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/params.h>
#include <openssl/rsa.h>
#include <openssl/param_build.h>
#include <openssl/pem.h>

#include "gov_b64.h"
#include "gov_jwt.h"
#include "gov_p256.h"


#define GOV_JWT_SUB_MAX     256
#define GOV_JWT_SIG_MAX     2048
#define GOV_RSA_MIN_BITS    2048


typedef struct {
    const char  *name;
    int          alg;
} gov_jwt_alg_name_t;


/*
 * The header segments of the last tokens that selected a key, as sent:
 * tokens of one issuer share a few, so a header is decoded and parsed
 * once, not once a token.  Only headers that passed every check are
 * kept, with the key they selected.
 */

#define GOV_JWT_HEADERS     8
#define GOV_JWT_HEADER_MAX  256

typedef struct {
    size_t             len;
    const gov_jwk_t   *key;
    char               text[GOV_JWT_HEADER_MAX];
} gov_jwt_header_t;


typedef struct {
    size_t             next;
    gov_jwt_header_t   seen[GOV_JWT_HEADERS];
} gov_jwt_headers_t;


static int gov_keyset_push(gov_keyset_t *ks, const char *kid, int alg,
    const unsigned char *key, size_t key_len, EVP_PKEY *pkey, char *err,
    size_t errlen);
static int gov_keyset_add_pem(gov_keyset_t *ks, const char *data,
    size_t len, const char *alg, const char *kid, char *err, size_t errlen);
static int gov_keyset_add_jwk(gov_keyset_t *ks, json_t *jwk,
    const char *alg, char *err, size_t errlen);
static int gov_pkey_check(EVP_PKEY *pkey, int alg, char *err, size_t errlen);
static int gov_jwk_prepare(gov_jwk_t *k);
static void gov_jwk_unprepare(gov_jwk_t *k);
static int gov_pkey_default_alg(EVP_PKEY *pkey);
static int gov_jwt_sig_ok(const gov_jwk_t *key, const char *input,
    size_t len, const unsigned char *sig, size_t siglen);
static int gov_jwt_ecdsa_der(const unsigned char *sig, size_t siglen,
    int alg, unsigned char **der, int *derlen);
static const char *gov_jwt_md(int alg);
static int gov_jwt_select_key(const gov_keyset_t *ks, const char *kid,
    int alg, const gov_jwk_t **key);
static unsigned char *gov_jwk_member(json_t *jwk, const char *name,
    size_t *len, char *err, size_t errlen);
static EVP_PKEY *gov_jwk_rsa(json_t *jwk, char *err, size_t errlen);
static EVP_PKEY *gov_jwk_ec(json_t *jwk, char *err, size_t errlen);
static json_t *gov_jwt_segment(const char *s, size_t len);
static int gov_jwt_header_key(const gov_keyset_t *ks, const char *h,
    size_t hlen, const gov_jwk_t **key);
static int gov_jwt_bad_string(const char *s, size_t max);


static const char  *gov_auth_reasons[] = {
    "ok",
    "missing",
    "malformed",
    "bad_signature",
    "alg_not_allowed",
    "unknown_key",
    "expired",
    "not_yet_valid",
    "bad_issuer",
    "bad_audience",
    "missing_claim",
    "session_expired"
};


static const gov_jwt_alg_name_t  gov_jwt_algs[] = {
    { "HS256", GOV_JWT_HS256 },
    { "HS384", GOV_JWT_HS384 },
    { "HS512", GOV_JWT_HS512 },
    { "RS256", GOV_JWT_RS256 },
    { "RS384", GOV_JWT_RS384 },
    { "RS512", GOV_JWT_RS512 },
    { "ES256", GOV_JWT_ES256 },
    { "ES384", GOV_JWT_ES384 },
    { "ES512", GOV_JWT_ES512 },
    { NULL, 0 }
};


const char *
gov_auth_reason_str(int reason)
{
    if (reason < 0 || reason >= GOV_AUTH_REASONS) {
        return "malformed";
    }

    return gov_auth_reasons[reason];
}


int
gov_jwt_alg_from_str(const char *s)
{
    const gov_jwt_alg_name_t  *a;

    /* case-sensitive on purpose: "none", "None", "hs256" are all refused */

    for (a = gov_jwt_algs; a->name; a++) {
        if (strcmp(s, a->name) == 0) {
            return a->alg;
        }
    }

    return -1;
}


const char *
gov_jwt_alg_str(int alg)
{
    const gov_jwt_alg_name_t  *a;

    for (a = gov_jwt_algs; a->name; a++) {
        if (a->alg == alg) {
            return a->name;
        }
    }

    return "none";
}


static int
gov_alg_is_hs(int alg)
{
    return alg == GOV_JWT_HS256 || alg == GOV_JWT_HS384
           || alg == GOV_JWT_HS512;
}


static int
gov_alg_is_rs(int alg)
{
    return alg == GOV_JWT_RS256 || alg == GOV_JWT_RS384
           || alg == GOV_JWT_RS512;
}


void
gov_keyset_free(gov_keyset_t *ks)
{
    size_t  i;

    for (i = 0; i < ks->nkeys; i++) {
        free(ks->keys[i].kid);

        if (ks->keys[i].key) {
            OPENSSL_cleanse(ks->keys[i].key, ks->keys[i].key_len);
            free(ks->keys[i].key);
        }

        gov_jwk_unprepare(&ks->keys[i]);
        EVP_PKEY_free(ks->keys[i].pkey);
    }

    free(ks->keys);
    free(ks->headers);

    ks->keys = NULL;
    ks->headers = NULL;
    ks->nkeys = 0;
    ks->cap = 0;
}


/*
 * Appends a key: "key" is an oct secret (copied), or "pkey" an RSA or EC
 * public key, whose reference is taken on success only.
 */

static int
gov_keyset_push(gov_keyset_t *ks, const char *kid, int alg,
    const unsigned char *key, size_t key_len, EVP_PKEY *pkey, char *err,
    size_t errlen)
{
    size_t      i, cap;
    gov_jwk_t  *k, *keys;

    if (kid) {
        for (i = 0; i < ks->nkeys; i++) {
            if (ks->keys[i].kid && strcmp(ks->keys[i].kid, kid) == 0) {
                snprintf(err, errlen, "duplicate key id \"%s\"", kid);
                return -1;
            }
        }
    }

    /* the headers seen point into the keys, which may move */
    free(ks->headers);
    ks->headers = NULL;

    if (ks->nkeys == ks->cap) {
        cap = ks->cap ? ks->cap * 2 : 4;
        keys = realloc(ks->keys, cap * sizeof(gov_jwk_t));
        if (keys == NULL) {
            snprintf(err, errlen, "out of memory");
            return -1;
        }

        ks->keys = keys;
        ks->cap = cap;
    }

    k = &ks->keys[ks->nkeys];
    memset(k, 0, sizeof(gov_jwk_t));

    k->alg = alg;

    if (kid) {
        k->kid = strdup(kid);
        if (k->kid == NULL) {
            snprintf(err, errlen, "out of memory");
            return -1;
        }
    }

    if (pkey == NULL) {
        k->key = malloc(key_len + 1);
        if (k->key == NULL) {
            free(k->kid);
            snprintf(err, errlen, "out of memory");
            return -1;
        }

        memcpy(k->key, key, key_len);
        k->key[key_len] = '\0';
        k->key_len = key_len;
    }

    k->pkey = pkey;

    if (gov_jwk_prepare(k) != 0) {
        gov_jwk_unprepare(k);

        if (k->key) {
            OPENSSL_cleanse(k->key, k->key_len);
            free(k->key);
        }

        free(k->kid);
        snprintf(err, errlen, "the key cannot be made ready to verify");
        return -1;
    }

    ks->nkeys++;

    return 0;
}


/*
 * What a verification needs, made once: the hash fetched from its
 * provider, an HMAC context keyed with the secret, or a public-key
 * context set up to verify with the algorithm's padding and hash.  A
 * verification then neither fetches nor parses anything.
 */

static int
gov_jwk_prepare(gov_jwk_t *k)
{
    EVP_MAC       *mac;
    OSSL_PARAM     params[2];
    const char    *name;
    EVP_PKEY_CTX  *pctx;

    name = gov_jwt_md(k->alg);

    k->md = EVP_MD_fetch(NULL, name, NULL);
    if (k->md == NULL) {
        return -1;
    }

    if (k->pkey == NULL) {
        mac = EVP_MAC_fetch(NULL, "HMAC", NULL);
        if (mac == NULL) {
            return -1;
        }

        k->mac = EVP_MAC_CTX_new(mac);
        EVP_MAC_free(mac);

        if (k->mac == NULL) {
            return -1;
        }

        params[0] = OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST,
                                                     (char *) name, 0);
        params[1] = OSSL_PARAM_construct_end();

        return EVP_MAC_init(k->mac, k->key, k->key_len, params) == 1
               ? 0 : -1;
    }

    pctx = EVP_PKEY_CTX_new_from_pkey(NULL, k->pkey, NULL);
    if (pctx == NULL) {
        return -1;
    }

    k->vctx = pctx;

    if (EVP_PKEY_verify_init(pctx) != 1
        || (gov_alg_is_rs(k->alg)
            && EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PADDING) != 1)
        || EVP_PKEY_CTX_set_signature_md(pctx, k->md) != 1)
    {
        return -1;
    }

    if (k->alg == GOV_JWT_ES256) {
        /* NULL (no memory): OpenSSL's check alone */
        k->p256 = gov_p256_new(k->pkey);
    }

    return 0;
}


static void
gov_jwk_unprepare(gov_jwk_t *k)
{
    EVP_MAC_CTX_free(k->mac);
    EVP_PKEY_CTX_free(k->vctx);
    EVP_MD_free(k->md);
    gov_p256_free(k->p256);

    k->mac = NULL;
    k->vctx = NULL;
    k->md = NULL;
    k->p256 = NULL;
}


int
gov_keyset_add(gov_keyset_t *ks, const char *data, size_t len,
    const char *alg, const char *kid, char *err, size_t errlen)
{
    int           rc;
    size_t        i, n, before;
    json_t       *doc, *keys, *jwk;
    json_error_t  jerr;

    i = 0;
    while (i < len && (data[i] == ' ' || data[i] == '\t' || data[i] == '\r'
                       || data[i] == '\n'))
    {
        i++;
    }

    if (len - i >= 10 && memcmp(data + i, "-----BEGIN", 10) == 0) {
        return gov_keyset_add_pem(ks, data + i, len - i, alg, kid,
                                  err, errlen);
    }

    if (kid) {
        snprintf(err, errlen, "\"kid=\" applies to PEM keys only, "
                 "a JWKS names its keys itself");
        return -1;
    }

    doc = json_loadb(data, len, JSON_REJECT_DUPLICATES, &jerr);
    if (doc == NULL) {
        snprintf(err, errlen, "neither a PEM public key nor a JWKS: %s "
                 "(line %d)", jerr.text, jerr.line);
        return -1;
    }

    before = ks->nkeys;
    rc = 0;

    keys = json_object_get(doc, "keys");

    if (json_is_array(keys)) {
        n = json_array_size(keys);

        for (i = 0; i < n && rc == 0; i++) {
            jwk = json_array_get(keys, i);
            rc = gov_keyset_add_jwk(ks, jwk, alg, err, errlen);
        }

    } else if (json_is_object(doc) && json_object_get(doc, "kty")) {
        rc = gov_keyset_add_jwk(ks, doc, alg, err, errlen);

    } else {
        snprintf(err, errlen, "a JWKS needs a \"keys\" array");
        rc = -1;
    }

    json_decref(doc);

    if (rc == 0 && ks->nkeys == before) {
        snprintf(err, errlen, "no signature verification key in the JWKS");
        return -1;
    }

    return rc;
}


int
gov_keyset_add_jwks(gov_keyset_t *ks, const char *data, size_t len,
    unsigned algs, char *err, size_t errlen)
{
    int           a;
    size_t        i, n, before;
    json_t       *doc, *keys, *jwk, *v;
    const char   *kty, *crv;
    json_error_t  jerr;

    doc = json_loadb(data, len, JSON_REJECT_DUPLICATES, &jerr);
    keys = json_object_get(doc, "keys");

    if (!json_is_array(keys)) {
        snprintf(err, errlen, "not a JWKS (a \"keys\" array)");
        json_decref(doc);
        return -1;
    }

    before = ks->nkeys;
    n = json_array_size(keys);
    snprintf(err, errlen, "no key for the allowed algorithms");

    for (i = 0; i < n; i++) {
        jwk = json_array_get(keys, i);

        v = json_object_get(jwk, "kty");
        kty = json_is_string(v) ? json_string_value(v) : "";

        v = json_object_get(jwk, "alg");

        if (json_is_string(v)) {
            a = gov_jwt_alg_from_str(json_string_value(v));

        } else if (v) {
            continue;

        } else if (strcmp(kty, "RSA") == 0) {
            a = (algs & (1u << GOV_JWT_RS256)) ? GOV_JWT_RS256
                : (algs & (1u << GOV_JWT_RS384)) ? GOV_JWT_RS384
                : GOV_JWT_RS512;

        } else if (strcmp(kty, "EC") == 0) {
            v = json_object_get(jwk, "crv");
            crv = json_is_string(v) ? json_string_value(v) : "";
            a = strcmp(crv, "P-256") == 0 ? GOV_JWT_ES256
                : strcmp(crv, "P-384") == 0 ? GOV_JWT_ES384
                : strcmp(crv, "P-521") == 0 ? GOV_JWT_ES512 : -1;

        } else {
            a = -1;
        }

        if (a < 0 || gov_alg_is_hs(a) || !(algs & (1u << a))) {
            /* not one the relying party accepts: passed over */
            continue;
        }

        /* a key that does not load is passed over, the others stay */
        (void) gov_keyset_add_jwk(ks, jwk, gov_jwt_alg_str(a), err, errlen);
    }

    json_decref(doc);

    return ks->nkeys > before ? 0 : -1;
}


static int
gov_keyset_add_pem(gov_keyset_t *ks, const char *data, size_t len,
    const char *alg, const char *kid, char *err, size_t errlen)
{
    int        a;
    BIO       *bio;
    EVP_PKEY  *pkey;

    if (alg == NULL) {
        snprintf(err, errlen, "a PEM key needs \"alg=\" to pin its "
                 "algorithm");
        return -1;
    }

    a = gov_jwt_alg_from_str(alg);
    if (a < 0) {
        snprintf(err, errlen, "unsupported algorithm \"%s\"", alg);
        return -1;
    }

    if (gov_alg_is_hs(a)) {
        snprintf(err, errlen, "%s needs a secret: use an \"oct\" JWK, "
                 "never a PEM public key", alg);
        return -1;
    }

    bio = BIO_new_mem_buf(data, (int) len);
    if (bio == NULL) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }

    pkey = PEM_read_bio_PUBKEY(bio, NULL, NULL, NULL);
    BIO_free(bio);

    if (pkey == NULL) {
        snprintf(err, errlen, "no PEM public key found (a private key or "
                 "certificate is not accepted)");
        return -1;
    }

    if (gov_pkey_check(pkey, a, err, errlen) != 0
        || gov_keyset_push(ks, kid, a, NULL, 0, pkey, err, errlen) != 0)
    {
        EVP_PKEY_free(pkey);
        return -1;
    }

    return 0;
}


static int
gov_keyset_add_jwk(gov_keyset_t *ks, json_t *jwk, const char *alg,
    char *err, size_t errlen)
{
    int             a, rc;
    size_t          len, min;
    json_t         *v;
    EVP_PKEY       *pkey;
    const char     *kty, *kid, *jalg;
    unsigned char  *key;

    if (!json_is_object(jwk)) {
        snprintf(err, errlen, "a JWK must be an object");
        return -1;
    }

    v = json_object_get(jwk, "use");
    if (v && (!json_is_string(v) || strcmp(json_string_value(v), "sig"))) {
        /* an encryption key in a mixed JWKS: not ours */
        return 0;
    }

    v = json_object_get(jwk, "kty");
    if (!json_is_string(v)) {
        snprintf(err, errlen, "a JWK needs \"kty\"");
        return -1;
    }

    kty = json_string_value(v);

    v = json_object_get(jwk, "kid");
    if (v && !json_is_string(v)) {
        snprintf(err, errlen, "\"kid\" must be a string");
        return -1;
    }

    kid = v ? json_string_value(v) : NULL;

    v = json_object_get(jwk, "alg");
    if (v && !json_is_string(v)) {
        snprintf(err, errlen, "\"alg\" must be a string");
        return -1;
    }

    jalg = v ? json_string_value(v) : NULL;

    if (jalg && alg && strcmp(jalg, alg) != 0) {
        snprintf(err, errlen, "key \"%s\" is pinned to %s by the JWKS, "
                 "not %s", kid ? kid : "", jalg, alg);
        return -1;
    }

    if (jalg == NULL) {
        jalg = alg;
    }

    a = -1;

    if (jalg) {
        a = gov_jwt_alg_from_str(jalg);
        if (a < 0) {
            snprintf(err, errlen, "key \"%s\": unsupported algorithm \"%s\"",
                     kid ? kid : "", jalg);
            return -1;
        }
    }

    if (strcmp(kty, "oct") == 0) {
        if (a < 0 || !gov_alg_is_hs(a)) {
            snprintf(err, errlen, "oct key \"%s\" needs \"alg\" HS256, "
                     "HS384 or HS512", kid ? kid : "");
            return -1;
        }

        key = gov_jwk_member(jwk, "k", &len, err, errlen);
        if (key == NULL) {
            return -1;
        }

        /* RFC 7518 3.2: a key at least as long as the hash */
        min = a == GOV_JWT_HS256 ? 32 : a == GOV_JWT_HS384 ? 48 : 64;

        if (len < min) {
            snprintf(err, errlen, "oct key \"%s\" is %zu bytes, %s needs "
                     "at least %zu", kid ? kid : "", len, jalg, min);
            free(key);
            return -1;
        }

        rc = gov_keyset_push(ks, kid, a, key, len, NULL, err, errlen);
        OPENSSL_cleanse(key, len);
        free(key);

        return rc;
    }

    if (strcmp(kty, "RSA") == 0) {
        pkey = gov_jwk_rsa(jwk, err, errlen);

    } else if (strcmp(kty, "EC") == 0) {
        pkey = gov_jwk_ec(jwk, err, errlen);

    } else {
        snprintf(err, errlen, "key \"%s\": unsupported kty \"%s\"",
                 kid ? kid : "", kty);
        return -1;
    }

    if (pkey == NULL) {
        return -1;
    }

    if (a < 0) {
        a = gov_pkey_default_alg(pkey);
    }

    if (gov_pkey_check(pkey, a, err, errlen) != 0
        || gov_keyset_push(ks, kid, a, NULL, 0, pkey, err, errlen) != 0)
    {
        EVP_PKEY_free(pkey);
        return -1;
    }

    return 0;
}


static unsigned char *
gov_jwk_member(json_t *jwk, const char *name, size_t *len, char *err,
    size_t errlen)
{
    long            n;
    size_t          slen;
    json_t         *v;
    const char     *s;
    unsigned char  *buf;

    v = json_object_get(jwk, name);
    if (!json_is_string(v)) {
        snprintf(err, errlen, "JWK member \"%s\" is missing", name);
        return NULL;
    }

    s = json_string_value(v);
    slen = json_string_length(v);

    buf = malloc(gov_b64url_decoded_max(slen) + 1);
    if (buf == NULL) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }

    n = gov_b64url_decode(buf, s, slen);
    if (n <= 0) {
        snprintf(err, errlen, "JWK member \"%s\" is not base64url", name);
        free(buf);
        return NULL;
    }

    *len = (size_t) n;

    return buf;
}


static EVP_PKEY *
gov_jwk_rsa(json_t *jwk, char *err, size_t errlen)
{
    BIGNUM          *n, *e;
    size_t           nlen, elen;
    EVP_PKEY        *pkey;
    OSSL_PARAM      *params;
    EVP_PKEY_CTX    *ctx;
    unsigned char   *nb, *eb;
    OSSL_PARAM_BLD  *bld;

    nb = gov_jwk_member(jwk, "n", &nlen, err, errlen);
    if (nb == NULL) {
        return NULL;
    }

    eb = gov_jwk_member(jwk, "e", &elen, err, errlen);
    if (eb == NULL) {
        free(nb);
        return NULL;
    }

    n = BN_bin2bn(nb, (int) nlen, NULL);
    e = BN_bin2bn(eb, (int) elen, NULL);
    free(nb);
    free(eb);

    pkey = NULL;
    params = NULL;
    ctx = NULL;

    bld = OSSL_PARAM_BLD_new();

    if (n == NULL || e == NULL || bld == NULL
        || !OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_N, n)
        || !OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_E, e)
        || (params = OSSL_PARAM_BLD_to_param(bld)) == NULL
        || (ctx = EVP_PKEY_CTX_new_from_name(NULL, "RSA", NULL)) == NULL
        || EVP_PKEY_fromdata_init(ctx) <= 0
        || EVP_PKEY_fromdata(ctx, &pkey, EVP_PKEY_PUBLIC_KEY, params) <= 0)
    {
        snprintf(err, errlen, "invalid RSA JWK");
        pkey = NULL;
    }

    EVP_PKEY_CTX_free(ctx);
    OSSL_PARAM_free(params);
    OSSL_PARAM_BLD_free(bld);
    BN_free(n);
    BN_free(e);

    return pkey;
}


static EVP_PKEY *
gov_jwk_ec(json_t *jwk, char *err, size_t errlen)
{
    size_t           xlen, ylen, flen;
    json_t          *v;
    EVP_PKEY        *pkey;
    OSSL_PARAM      *params;
    const char      *crv, *group;
    EVP_PKEY_CTX    *ctx, *check;
    unsigned char   *x, *y, pub[1 + 2 * 66];
    OSSL_PARAM_BLD  *bld;

    v = json_object_get(jwk, "crv");
    if (!json_is_string(v)) {
        snprintf(err, errlen, "EC JWK needs \"crv\"");
        return NULL;
    }

    crv = json_string_value(v);

    if (strcmp(crv, "P-256") == 0) {
        group = "prime256v1";
        flen = 32;

    } else if (strcmp(crv, "P-384") == 0) {
        group = "secp384r1";
        flen = 48;

    } else if (strcmp(crv, "P-521") == 0) {
        group = "secp521r1";
        flen = 66;

    } else {
        snprintf(err, errlen, "unsupported EC curve \"%s\"", crv);
        return NULL;
    }

    x = gov_jwk_member(jwk, "x", &xlen, err, errlen);
    if (x == NULL) {
        return NULL;
    }

    y = gov_jwk_member(jwk, "y", &ylen, err, errlen);
    if (y == NULL) {
        free(x);
        return NULL;
    }

    if (xlen != flen || ylen != flen) {
        snprintf(err, errlen, "EC JWK coordinates for %s must be %zu bytes",
                 crv, flen);
        free(x);
        free(y);
        return NULL;
    }

    pub[0] = 0x04;
    memcpy(pub + 1, x, flen);
    memcpy(pub + 1 + flen, y, flen);
    free(x);
    free(y);

    pkey = NULL;
    params = NULL;
    ctx = NULL;
    check = NULL;

    bld = OSSL_PARAM_BLD_new();

    if (bld == NULL
        || !OSSL_PARAM_BLD_push_utf8_string(bld, OSSL_PKEY_PARAM_GROUP_NAME,
                                            group, 0)
        || !OSSL_PARAM_BLD_push_octet_string(bld, OSSL_PKEY_PARAM_PUB_KEY,
                                             pub, 1 + 2 * flen)
        || (params = OSSL_PARAM_BLD_to_param(bld)) == NULL
        || (ctx = EVP_PKEY_CTX_new_from_name(NULL, "EC", NULL)) == NULL
        || EVP_PKEY_fromdata_init(ctx) <= 0
        || EVP_PKEY_fromdata(ctx, &pkey, EVP_PKEY_PUBLIC_KEY, params) <= 0
        || (check = EVP_PKEY_CTX_new_from_pkey(NULL, pkey, NULL)) == NULL
        || EVP_PKEY_public_check(check) <= 0)
    {
        snprintf(err, errlen, "invalid EC JWK: the point is not on %s", crv);
        EVP_PKEY_free(pkey);
        pkey = NULL;
    }

    EVP_PKEY_CTX_free(check);
    EVP_PKEY_CTX_free(ctx);
    OSSL_PARAM_free(params);
    OSSL_PARAM_BLD_free(bld);

    return pkey;
}


static int
gov_pkey_curve_alg(EVP_PKEY *pkey)
{
    char  group[64];

    if (!EVP_PKEY_get_utf8_string_param(pkey, OSSL_PKEY_PARAM_GROUP_NAME,
                                        group, sizeof(group), NULL))
    {
        return -1;
    }

    if (strcmp(group, "prime256v1") == 0) {
        return GOV_JWT_ES256;
    }

    if (strcmp(group, "secp384r1") == 0) {
        return GOV_JWT_ES384;
    }

    if (strcmp(group, "secp521r1") == 0) {
        return GOV_JWT_ES512;
    }

    return -1;
}


static int
gov_pkey_default_alg(EVP_PKEY *pkey)
{
    if (EVP_PKEY_get_base_id(pkey) == EVP_PKEY_RSA) {
        return GOV_JWT_RS256;
    }

    return gov_pkey_curve_alg(pkey);
}


static int
gov_pkey_check(EVP_PKEY *pkey, int alg, char *err, size_t errlen)
{
    int  id, bits, curve;

    id = EVP_PKEY_get_base_id(pkey);

    if (id == EVP_PKEY_RSA) {
        if (!gov_alg_is_rs(alg)) {
            snprintf(err, errlen, "an RSA key cannot be pinned to %s",
                     gov_jwt_alg_str(alg));
            return -1;
        }

        bits = EVP_PKEY_get_bits(pkey);

        if (bits < GOV_RSA_MIN_BITS) {
            snprintf(err, errlen, "RSA key of %d bits is too weak, "
                     "at least %d needed", bits, GOV_RSA_MIN_BITS);
            return -1;
        }

        if (bits > GOV_JWT_SIG_MAX * 8) {
            snprintf(err, errlen, "RSA key of %d bits is larger than "
                     "%d, the most supported", bits, GOV_JWT_SIG_MAX * 8);
            return -1;
        }

        return 0;
    }

    if (id == EVP_PKEY_EC) {
        curve = gov_pkey_curve_alg(pkey);

        if (curve < 0) {
            snprintf(err, errlen, "unsupported EC curve: use P-256, P-384 "
                     "or P-521");
            return -1;
        }

        if (curve != alg) {
            snprintf(err, errlen, "an EC key on this curve verifies %s "
                     "only, not %s", gov_jwt_alg_str(curve),
                     gov_jwt_alg_str(alg));
            return -1;
        }

        return 0;
    }

    snprintf(err, errlen, "unsupported key type: use RSA or EC");

    return -1;
}


static json_t *
gov_jwt_segment(const char *s, size_t len)
{
    long            n;
    json_t         *json;
    unsigned char  *buf;

    buf = malloc(gov_b64url_decoded_max(len) + 1);
    if (buf == NULL) {
        return NULL;
    }

    n = gov_b64url_decode(buf, s, len);
    if (n <= 0) {
        free(buf);
        return NULL;
    }

    json = json_loadb((const char *) buf, (size_t) n,
                      JSON_REJECT_DUPLICATES, NULL);
    free(buf);

    if (json && !json_is_object(json)) {
        json_decref(json);
        return NULL;
    }

    return json;
}


int
gov_jwt_verify(const gov_keyset_t *ks, const char *token, size_t len,
    json_t **claims)
{
    int               rc, n;
    size_t            hlen, plen, slen;
    unsigned char     sig[GOV_JWT_SIG_MAX];
    json_t           *payload;
    const char       *d1, *d2;
    const gov_jwk_t  *key;

    *claims = NULL;

    if (len == 0) {
        return GOV_AUTH_MISSING;
    }

    if (len > GOV_JWT_MAX_LEN) {
        return GOV_AUTH_MALFORMED;
    }

    d1 = memchr(token, '.', len);
    if (d1 == NULL) {
        return GOV_AUTH_MALFORMED;
    }

    d2 = memchr(d1 + 1, '.', len - (size_t) (d1 + 1 - token));
    if (d2 == NULL) {
        return GOV_AUTH_MALFORMED;
    }

    hlen = (size_t) (d1 - token);
    plen = (size_t) (d2 - d1 - 1);
    slen = len - (size_t) (d2 + 1 - token);

    if (hlen == 0 || plen == 0
        || !gov_b64url_valid(token, hlen)
        || !gov_b64url_valid(d1 + 1, plen)
        || !gov_b64url_valid(d2 + 1, slen))
    {
        /* a third dot is outside the alphabet too */
        return GOV_AUTH_MALFORMED;
    }

    payload = gov_jwt_segment(d1 + 1, plen);
    if (payload == NULL) {
        return GOV_AUTH_MALFORMED;
    }

    rc = gov_jwt_header_key(ks, token, hlen, &key);
    if (rc != GOV_AUTH_OK) {
        goto done;
    }

    if (slen == 0 || gov_b64url_decoded_max(slen) > sizeof(sig)) {
        /* longer than any key's signature (RSA of 16384 bits) */
        rc = GOV_AUTH_BAD_SIGNATURE;
        goto done;
    }

    /* the key was chosen by its pinned algorithm, and "alg" matched it */

    n = (int) gov_b64url_decode(sig, d2 + 1, slen);

    if (n <= 0 || !gov_jwt_sig_ok(key, token, (size_t) (d2 - token), sig,
                                  (size_t) n))
    {
        rc = GOV_AUTH_BAD_SIGNATURE;
        goto done;
    }

    *claims = payload;

    return GOV_AUTH_OK;

done:

    json_decref(payload);

    return rc;
}


/* the key a token's header selects, or why none */

static int
gov_jwt_header_key(const gov_keyset_t *ks, const char *h, size_t hlen,
    const gov_jwk_t **key)
{
    int                 a, rc;
    size_t              i;
    json_t             *header, *v;
    const char         *kid;
    gov_jwt_header_t   *seen;
    gov_jwt_headers_t  *hs;

    hs = ks->headers;

    if (hs && hlen <= GOV_JWT_HEADER_MAX) {
        for (i = 0; i < GOV_JWT_HEADERS; i++) {
            seen = &hs->seen[i];

            if (seen->len == hlen && memcmp(seen->text, h, hlen) == 0) {
                *key = seen->key;
                return GOV_AUTH_OK;
            }
        }
    }

    header = gov_jwt_segment(h, hlen);
    if (header == NULL) {
        return GOV_AUTH_MALFORMED;
    }

    rc = GOV_AUTH_MALFORMED;

    v = json_object_get(header, "alg");
    if (!json_is_string(v)) {
        goto done;
    }

    a = gov_jwt_alg_from_str(json_string_value(v));

    v = json_object_get(header, "typ");
    if (v && (!json_is_string(v)
              || strcasecmp(json_string_value(v), "JWT") != 0))
    {
        goto done;
    }

    if (json_object_get(header, "crit")) {
        /* no extension is understood, so none may be critical */
        goto done;
    }

    v = json_object_get(header, "kid");
    if (v && !json_is_string(v)) {
        goto done;
    }

    kid = v ? json_string_value(v) : NULL;

    if (a < 0) {
        rc = GOV_AUTH_ALG_NOT_ALLOWED;
        goto done;
    }

    rc = gov_jwt_select_key(ks, kid, a, key);
    if (rc != GOV_AUTH_OK || hlen > GOV_JWT_HEADER_MAX) {
        goto done;
    }

    if (hs == NULL) {
        /* the set is the caller's to keep; its memo is ours */
        hs = calloc(1, sizeof(gov_jwt_headers_t));
        ((gov_keyset_t *) ks)->headers = hs;
    }

    if (hs) {
        seen = &hs->seen[hs->next];
        hs->next = (hs->next + 1) % GOV_JWT_HEADERS;

        memcpy(seen->text, h, hlen);
        seen->len = hlen;
        seen->key = *key;
    }

done:

    json_decref(header);

    return rc;
}


/* the name of the algorithm's hash */

static const char *
gov_jwt_md(int alg)
{
    switch (alg) {

    case GOV_JWT_HS256:
    case GOV_JWT_RS256:
    case GOV_JWT_ES256:
        return "SHA256";

    case GOV_JWT_HS384:
    case GOV_JWT_RS384:
    case GOV_JWT_ES384:
        return "SHA384";

    default:
        return "SHA512";
    }
}


/*
 * The signature check proper.  HS*: HMAC of the signing input compared in
 * constant time.  RS*: RSASSA-PKCS1-v1_5.  ES*: the JWS form R || S (RFC
 * 7518 3.4, each half as long as the curve's order) turned into the DER
 * that OpenSSL verifies; ES256 once the key is in use with a table of its
 * own (gov_p256.c).  The key objects were made when the keys loaded.
 */

static int
gov_jwt_sig_ok(const gov_jwk_t *key, const char *input, size_t len,
    const unsigned char *sig, size_t siglen)
{
    int             ok, derlen;
    size_t          maclen;
    unsigned int    dlen;
    unsigned char  *der, mac[EVP_MAX_MD_SIZE], dgst[EVP_MAX_MD_SIZE];

    if (key->pkey == NULL) {
        /* a NULL key: the secret the context was keyed with, again */

        if (EVP_MAC_init(key->mac, NULL, 0, NULL) != 1
            || EVP_MAC_update(key->mac, (const unsigned char *) input, len)
               != 1
            || EVP_MAC_final(key->mac, mac, &maclen, sizeof(mac)) != 1)
        {
            return 0;
        }

        return siglen == maclen && CRYPTO_memcmp(mac, sig, maclen) == 0;
    }

    if (EVP_Digest(input, len, dgst, &dlen, key->md, NULL) != 1) {
        return 0;
    }

    if (key->p256) {
        /* ES256 with the key's own table, once it has one */
        ok = gov_p256_verify(key->p256, dgst, sig, siglen);

        if (ok != -1) {
            return ok;
        }
    }

    der = NULL;

    if (key->alg >= GOV_JWT_ES256) {
        if (gov_jwt_ecdsa_der(sig, siglen, key->alg, &der, &derlen) != 0) {
            return 0;
        }

        sig = der;
        siglen = (size_t) derlen;
    }

    ok = EVP_PKEY_verify(key->vctx, sig, siglen, dgst, dlen) == 1;

    OPENSSL_free(der);

    if (!ok) {
        /* a forged token leaves nothing for the next TLS call to find */
        ERR_clear_error();
    }

    return ok;
}


static int
gov_jwt_ecdsa_der(const unsigned char *sig, size_t siglen, int alg,
    unsigned char **der, int *derlen)
{
    size_t      half;
    BIGNUM     *r, *s;
    ECDSA_SIG  *es;

    half = alg == GOV_JWT_ES256 ? 32 : alg == GOV_JWT_ES384 ? 48 : 66;

    if (siglen != 2 * half) {
        return -1;
    }

    es = ECDSA_SIG_new();
    r = BN_bin2bn(sig, (int) half, NULL);
    s = BN_bin2bn(sig + half, (int) half, NULL);

    if (es == NULL || r == NULL || s == NULL || !ECDSA_SIG_set0(es, r, s)) {
        BN_free(r);
        BN_free(s);
        ECDSA_SIG_free(es);
        return -1;
    }

    *der = NULL;
    *derlen = i2d_ECDSA_SIG(es, der);

    ECDSA_SIG_free(es);

    return *derlen > 0 ? 0 : -1;
}


/*
 * The key a token selects: by "kid", whose pinned algorithm must be the
 * token's; without "kid", the one key pinned to the token's algorithm.
 */

static int
gov_jwt_select_key(const gov_keyset_t *ks, const char *kid, int alg,
    const gov_jwk_t **key)
{
    size_t  i, n;

    *key = NULL;

    if (kid) {
        for (i = 0; i < ks->nkeys; i++) {
            if (ks->keys[i].kid && strcmp(ks->keys[i].kid, kid) == 0) {
                *key = &ks->keys[i];
                break;
            }
        }

        if (*key == NULL) {
            return GOV_AUTH_UNKNOWN_KEY;
        }

        return (*key)->alg == alg ? GOV_AUTH_OK : GOV_AUTH_ALG_NOT_ALLOWED;
    }

    n = 0;

    for (i = 0; i < ks->nkeys; i++) {
        if (ks->keys[i].alg == alg) {
            *key = &ks->keys[i];
            n++;
        }
    }

    return n == 1 ? GOV_AUTH_OK : GOV_AUTH_UNKNOWN_KEY;
}


json_t *
gov_jwt_payload(const char *token, size_t len)
{
    const char  *d1, *d2;

    d1 = memchr(token, '.', len);
    if (d1 == NULL) {
        return NULL;
    }

    d2 = memchr(d1 + 1, '.', len - (size_t) (d1 + 1 - token));
    if (d2 == NULL) {
        return NULL;
    }

    return gov_jwt_segment(d1 + 1, (size_t) (d2 - d1 - 1));
}


static int
gov_jwt_bad_string(const char *s, size_t max)
{
    size_t  i;

    if (s[0] == '\0') {
        return 1;
    }

    for (i = 0; s[i]; i++) {
        if (i >= max || (unsigned char) s[i] < 0x20 || s[i] == 0x7f) {
            return 1;
        }
    }

    return 0;
}


int
gov_jwt_check_claims(json_t *claims, const gov_claim_policy_t *policy,
    long long now)
{
    int              rc;
    gov_jwt_times_t  times;

    rc = gov_jwt_check_static(claims, policy);
    if (rc != GOV_AUTH_OK) {
        return rc;
    }

    gov_jwt_get_times(claims, &times);

    return gov_jwt_check_time(&times, policy->leeway, now);
}


int
gov_jwt_check_static(json_t *claims, const gov_claim_policy_t *policy)
{
    size_t       i, n;
    json_t      *v, *e;
    const char  *names[] = { "exp", "nbf", "iat" };

    for (i = 0; i < 3; i++) {
        v = json_object_get(claims, names[i]);
        if (v && !json_is_number(v)) {
            return GOV_AUTH_MALFORMED;
        }
    }

    v = json_object_get(claims, "sub");
    if (v && (!json_is_string(v)
              || gov_jwt_bad_string(json_string_value(v), GOV_JWT_SUB_MAX)))
    {
        return GOV_AUTH_MALFORMED;
    }

    v = json_object_get(claims, "act");
    if (v) {
        e = json_object_get(v, "sub");

        if (!json_is_object(v) || !json_is_string(e)
            || gov_jwt_bad_string(json_string_value(e), GOV_JWT_SUB_MAX))
        {
            return GOV_AUTH_MALFORMED;
        }
    }

    v = json_object_get(claims, "iss");
    if (v && !json_is_string(v)) {
        return GOV_AUTH_MALFORMED;
    }

    v = json_object_get(claims, "aud");
    if (v && !json_is_string(v)) {
        if (!json_is_array(v)) {
            return GOV_AUTH_MALFORMED;
        }

        n = json_array_size(v);

        for (i = 0; i < n; i++) {
            if (!json_is_string(json_array_get(v, i))) {
                return GOV_AUTH_MALFORMED;
            }
        }
    }

    for (i = 0; i < policy->nrequire; i++) {
        if (json_object_get(claims, policy->require[i]) == NULL) {
            return GOV_AUTH_MISSING_CLAIM;
        }
    }

    if (policy->issuer) {
        v = json_object_get(claims, "iss");
        if (v == NULL || strcmp(json_string_value(v), policy->issuer) != 0) {
            return GOV_AUTH_BAD_ISSUER;
        }
    }

    if (policy->audience) {
        v = json_object_get(claims, "aud");

        if (v == NULL) {
            return GOV_AUTH_BAD_AUDIENCE;
        }

        if (json_is_string(v)) {
            if (strcmp(json_string_value(v), policy->audience) != 0) {
                return GOV_AUTH_BAD_AUDIENCE;
            }

        } else {
            n = json_array_size(v);

            for (i = 0; i < n; i++) {
                if (strcmp(json_string_value(json_array_get(v, i)),
                           policy->audience) == 0)
                {
                    break;
                }
            }

            if (i == n) {
                return GOV_AUTH_BAD_AUDIENCE;
            }
        }
    }

    return GOV_AUTH_OK;
}


void
gov_jwt_get_times(json_t *claims, gov_jwt_times_t *times)
{
    json_t  *v;

    v = json_object_get(claims, "exp");
    times->has_exp = json_is_number(v);
    times->exp = times->has_exp ? json_number_value(v) : 0;

    v = json_object_get(claims, "nbf");
    times->has_nbf = json_is_number(v);
    times->nbf = times->has_nbf ? json_number_value(v) : 0;

    v = json_object_get(claims, "iat");
    times->has_iat = json_is_number(v);
    times->iat = times->has_iat ? json_number_value(v) : 0;
}


int
gov_jwt_check_time(const gov_jwt_times_t *times, long long leeway,
    long long now)
{
    double  t, l;

    t = (double) now;
    l = (double) leeway;

    if (times->has_exp && t >= times->exp + l) {
        return GOV_AUTH_EXPIRED;
    }

    if (times->has_nbf && t + l < times->nbf) {
        return GOV_AUTH_NOT_YET_VALID;
    }

    if (times->has_iat && times->iat > t + l) {
        return GOV_AUTH_NOT_YET_VALID;
    }

    return GOV_AUTH_OK;
}


long long
gov_jwt_exp(json_t *claims)
{
    json_t  *v;

    v = json_object_get(claims, "exp");

    if (json_is_number(v)) {
        return (long long) json_number_value(v);
    }

    return 0;
}


const char *
gov_jwt_subject(json_t *claims)
{
    return json_string_value(json_object_get(claims, "sub"));
}


const char *
gov_jwt_actor(json_t *claims)
{
    return json_string_value(json_object_get(json_object_get(claims, "act"),
                                             "sub"));
}


const char *
gov_jwt_name(json_t *claims)
{
    json_t  *v;

    v = json_object_get(claims, "name");

    return json_is_string(v) ? json_string_value(v) : NULL;
}


int
gov_jwt_claim_holds(json_t *claims, const char *name, const char *value)
{
    size_t   i;
    json_t  *v, *e;

    v = json_object_get(claims, name);

    if (json_is_string(v)) {
        return strcmp(json_string_value(v), value) == 0;
    }

    json_array_foreach(v, i, e) {
        if (json_is_string(e) && strcmp(json_string_value(e), value) == 0) {
            return 1;
        }
    }

    return 0;
}
