
/*
 * Copyright (C) ngx_gov_module authors
 *
 * Shared by t/unit/jwtdiff.c, t/unit/jwt.c and fuzz/fuzz_jwtdiff.c: keys
 * of all nine algorithms, tokens minted by libjwt, signature damage, and
 * the two verdicts (ours and libjwt's) on one token.
 */


#ifndef _JWTDIFF_H_INCLUDED_
#define _JWTDIFF_H_INCLUDED_


#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jwt.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/pem.h>
#include <openssl/rand.h>

#include "gov_b64.h"
#include "gov_jwt.h"


#define JWTDIFF_NKEYS      9
#define JWTDIFF_MUTATIONS  10


typedef struct {
    const char     *name;
    int             alg;
    unsigned char  *sign;       /* private PEM or secret */
    size_t          sign_len;
    unsigned char  *verify;     /* public PEM or secret, for libjwt */
    size_t          verify_len;
    gov_keyset_t    ks;         /* ours, the key alone */
} jwtdiff_key_t;


static inline char *
jwtdiff_pem(EVP_PKEY *pkey, int private, size_t *len)
{
    BIO   *bio;
    char  *data, *out;
    long   n;

    bio = BIO_new(BIO_s_mem());

    if (private) {
        PEM_write_bio_PrivateKey(bio, pkey, NULL, NULL, 0, NULL, NULL);
    } else {
        PEM_write_bio_PUBKEY(bio, pkey);
    }

    n = BIO_get_mem_data(bio, &data);
    out = malloc((size_t) n + 1);
    memcpy(out, data, (size_t) n);
    out[n] = '\0';
    *len = (size_t) n;
    BIO_free(bio);

    return out;
}


static inline void
jwtdiff_keys(jwtdiff_key_t *keys)
{
    int              i;
    char             err[256], jwk[512], k[128];
    size_t           n;
    EVP_PKEY        *pkey;
    static const char  *names[] = { "HS256", "HS384", "HS512", "RS256",
                                    "RS384", "RS512", "ES256", "ES384",
                                    "ES512" };
    static const char  *curves[] = { "P-256", "P-384", "P-521" };

    for (i = 0; i < JWTDIFF_NKEYS; i++) {
        memset(&keys[i], 0, sizeof(jwtdiff_key_t));
        keys[i].name = names[i];
        keys[i].alg = gov_jwt_alg_from_str(names[i]);

        if (i < 3) {
            n = 32 + 16 * (size_t) i;
            keys[i].sign = malloc(n);
            RAND_bytes(keys[i].sign, (int) n);
            keys[i].sign_len = n;
            keys[i].verify = keys[i].sign;
            keys[i].verify_len = n;

            k[gov_b64url_encode(k, keys[i].sign, n)] = '\0';
            snprintf(jwk, sizeof(jwk), "{\"kty\":\"oct\",\"alg\":\"%s\","
                     "\"k\":\"%s\"}", names[i], k);

            if (gov_keyset_add(&keys[i].ks, jwk, strlen(jwk), NULL, NULL,
                               err, sizeof(err)) != 0)
            {
                fprintf(stderr, "%s: %s\n", names[i], err);
                exit(2);
            }

            continue;
        }

        pkey = i < 6 ? EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t) 2048)
                     : EVP_PKEY_Q_keygen(NULL, NULL, "EC", curves[i - 6]);

        keys[i].sign = (unsigned char *) jwtdiff_pem(pkey, 1,
                                                     &keys[i].sign_len);
        keys[i].verify = (unsigned char *) jwtdiff_pem(pkey, 0,
                                                       &keys[i].verify_len);
        EVP_PKEY_free(pkey);

        if (gov_keyset_add(&keys[i].ks, (char *) keys[i].verify,
                           keys[i].verify_len, names[i], NULL, err,
                           sizeof(err)) != 0)
        {
            fprintf(stderr, "%s: %s\n", names[i], err);
            exit(2);
        }
    }
}


static inline void
jwtdiff_free(jwtdiff_key_t *keys)
{
    int  i;

    for (i = 0; i < JWTDIFF_NKEYS; i++) {
        if (keys[i].verify != keys[i].sign) {
            free(keys[i].verify);
        }

        free(keys[i].sign);
        gov_keyset_free(&keys[i].ks);
    }
}


static inline char *
jwtdiff_mint(jwtdiff_key_t *key, const char *claims)
{
    jwt_t  *jwt;
    char   *out;

    jwt_new(&jwt);
    jwt_add_grants_json(jwt, claims);
    jwt_set_alg(jwt, (jwt_alg_t) key->alg, key->sign, (int) key->sign_len);
    out = jwt_encode_str(jwt);
    jwt_free(jwt);

    return out;
}


/* 1: our verifier accepts the token */
static inline int
jwtdiff_ours(jwtdiff_key_t *key, const char *token, size_t len)
{
    int      rc;
    json_t  *claims;

    rc = gov_jwt_verify(&key->ks, token, len, &claims);
    json_decref(claims);

    return rc == GOV_AUTH_OK;
}


/* 1: libjwt accepts the token with the key, under the key's algorithm */
static inline int
jwtdiff_oracle(jwtdiff_key_t *key, const char *token, size_t len)
{
    int     ok;
    char   *copy;
    jwt_t  *jwt;

    copy = malloc(len + 1);
    memcpy(copy, token, len);
    copy[len] = '\0';

    jwt = NULL;
    ok = jwt_decode(&jwt, copy, key->verify, (int) key->verify_len) == 0
         && jwt != NULL && (int) jwt_get_alg(jwt) == key->alg;

    jwt_free(jwt);
    free(copy);

    return ok;
}


/*
 * Damages the signature of "token" (mutation m, variant j) and returns the
 * new token: bit flips at either end and in the middle, truncation,
 * trailing or leading bytes, all zeros, R and S swapped or reversed, an
 * HMAC made with the public key as the secret (the algorithm confusion
 * attack), and nothing at all.
 */
static inline char *
jwtdiff_damage(jwtdiff_key_t *key, const char *token, int m, int j)
{
    long            n;
    char           *out, *dot;
    size_t          head, half, i, len, olen;
    unsigned char   sig[1200], tmp[1200];
    unsigned int    mlen;

    dot = strrchr(token, '.');
    head = (size_t) (dot - token);
    n = gov_b64url_decode(sig, dot + 1, strlen(dot + 1));
    len = n > 0 ? (size_t) n : 0;
    j &= 7;

    switch (m) {

    case 0:
        sig[0] ^= (unsigned char) (1 << j);
        break;

    case 1:
        sig[len - 1] ^= (unsigned char) (1 << j);
        break;

    case 2:
        sig[len / 2] ^= (unsigned char) (1 << j);
        break;

    case 3:
        len -= (size_t) j + 1;
        break;

    case 4:
        memset(sig + len, 0, (size_t) j + 1);
        len += (size_t) j + 1;
        break;

    case 5:
        memmove(sig + j + 1, sig, len);
        memset(sig, 0, (size_t) j + 1);
        len += (size_t) j + 1;
        break;

    case 6:
        len -= (size_t) j;
        memset(sig, 0, len);
        break;

    case 7:
        half = len / 2;
        memcpy(tmp, sig, len);
        for (i = 0; i < len; i++) {
            sig[i] = j & 1 ? tmp[len - 1 - i] : tmp[(i + half) % len];
        }
        break;

    case 8:
        /* with the public key as the secret; for HS*, a secret one short */
        HMAC(EVP_sha256(), key->verify,
             (int) key->verify_len - (key->alg <= GOV_JWT_HS512),
             (const unsigned char *) token, head, sig, &mlen);
        len = mlen;
        break;

    default:
        len = 0;
        break;
    }

    olen = head + 1 + gov_b64url_encoded_len(len) + 1;
    out = malloc(olen);
    memcpy(out, token, head + 1);
    out[head + 1 + gov_b64url_encode(out + head + 1, sig, len)] = '\0';

    return out;
}


/* 1 when both verdicts on the damaged token agree; counts acceptances */
static inline int
jwtdiff_compare(jwtdiff_key_t *key, const char *token, int m, int j,
    int *accepted)
{
    int    a, b;
    char  *t;

    t = jwtdiff_damage(key, token, m, j);

    a = jwtdiff_ours(key, t, strlen(t));
    b = jwtdiff_oracle(key, t, strlen(t));

    if (a != b) {
        fprintf(stderr, "# %s mutation %d/%d: ours %d, libjwt %d: %s\n",
                key->name, m, j, a, b, t);
    }

    *accepted += a;
    free(t);

    return a == b;
}


#endif /* _JWTDIFF_H_INCLUDED_ */
