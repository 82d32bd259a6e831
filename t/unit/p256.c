
/*
 * Copyright (C) ngx_gov_module authors
 *
 * ES256 with the key's own table (core/gov_p256.c) held against OpenSSL's
 * EVP_PKEY_verify(): valid signatures, high S, and every damage a forger
 * would try (a bit flipped, r or s zero, the order, above it, swapped,
 * another digest, another key) get the same verdict from both.
 */


#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <openssl/rsa.h>

#include "tap.h"
#include "gov_p256.h"


#define ROUNDS  300


static EVP_PKEY *keygen(void);
static void sign(EVP_PKEY *pkey, const unsigned char *dgst,
    unsigned char *sig);
static int oracle(EVP_PKEY *pkey, const unsigned char *dgst,
    const unsigned char *sig);
static void put_bn(const BIGNUM *bn, unsigned char *out);


int
main(void)
{
    int             i, m, ours, theirs, agree, total, valid, unready;
    BIGNUM         *n, *v;
    EVP_PKEY       *pkey, *other, *rsa;
    gov_p256_t     *k;
    unsigned char   dgst[32], sig[64], bad[64];

    pkey = keygen();
    other = keygen();
    rsa = EVP_RSA_gen(2048);

    ok(pkey && other && rsa, "keys made");

    ok(gov_p256_new(rsa) == NULL, "an RSA key has no P-256 table");

    k = gov_p256_new(pkey);
    ok(k != NULL, "a P-256 key");

    /* the first GOV_P256_LAZY checks are the caller's */

    RAND_bytes(dgst, sizeof(dgst));
    sign(pkey, dgst, sig);

    unready = 0;

    for (i = 0; i < GOV_P256_LAZY; i++) {
        unready += gov_p256_verify(k, dgst, sig, 64) == -1;
    }

    is_int(unready, GOV_P256_LAZY, "the first %d checks are left to OpenSSL",
           GOV_P256_LAZY);
    is_int(gov_p256_verify(k, dgst, sig, 64), 1,
           "then the table: a valid signature");
    ok(gov_p256_fast(k), "... the key has its table");
    is_int(gov_p256_verify(k, dgst, sig, 63), 0, "a short signature: no");

    n = BN_new();
    v = BN_new();
    BN_hex2bn(&n, "FFFFFFFF00000000FFFFFFFFFFFFFFFF"
                  "BCE6FAADA7179E84F3B9CAC2FC632551");

    agree = 0;
    total = 0;
    valid = 0;

    for (i = 0; i < ROUNDS; i++) {
        RAND_bytes(dgst, sizeof(dgst));
        sign(pkey, dgst, sig);

        for (m = 0; m < 12; m++) {
            memcpy(bad, sig, 64);

            switch (m) {
            case 0:                             /* as signed */
                break;
            case 1:                             /* a bit of r */
                bad[i % 32] ^= (unsigned char) (1 << (i % 8));
                break;
            case 2:                             /* a bit of s */
                bad[32 + i % 32] ^= (unsigned char) (1 << (i % 8));
                break;
            case 3:                             /* r = 0 */
                memset(bad, 0, 32);
                break;
            case 4:                             /* s = 0 */
                memset(bad + 32, 0, 32);
                break;
            case 5:                             /* r = n */
                put_bn(n, bad);
                break;
            case 6:                             /* s = n */
                put_bn(n, bad + 32);
                break;
            case 7:                             /* s = n - s: valid too */
                BN_bin2bn(sig + 32, 32, v);
                BN_sub(v, n, v);
                put_bn(v, bad + 32);
                break;
            case 8:                             /* r + n, all ones */
                memset(bad, 0xff, 32);
                break;
            case 9:                             /* swapped */
                memcpy(bad, sig + 32, 32);
                memcpy(bad + 32, sig, 32);
                break;
            case 10:                            /* another digest */
                dgst[i % 32] ^= 1;
                break;
            default:                            /* another key's */
                sign(other, dgst, bad);
                break;
            }

            ours = gov_p256_verify(k, dgst, bad, 64);
            theirs = oracle(pkey, dgst, bad);

            total++;
            agree += (ours == theirs);
            valid += (ours == 1);

            if (ours != theirs) {
                printf("# round %d, damage %d: ours %d, OpenSSL %d\n",
                       i, m, ours, theirs);
            }

            if (m == 10) {
                dgst[i % 32] ^= 1;
            }
        }
    }

    is_int(agree, total, "%d signatures, the same verdict as OpenSSL's",
           total);
    is_int(valid, 2 * ROUNDS, "every valid one (and its high-S twin) "
           "accepted, no damaged one");

    BN_free(n);
    BN_free(v);
    gov_p256_free(k);
    EVP_PKEY_free(pkey);
    EVP_PKEY_free(other);
    EVP_PKEY_free(rsa);

    return done_testing();
}


static EVP_PKEY *
keygen(void)
{
    return EVP_EC_gen("P-256");
}


/* R || S of an ECDSA signature OpenSSL made */

static void
sign(EVP_PKEY *pkey, const unsigned char *dgst, unsigned char *sig)
{
    size_t                len;
    ECDSA_SIG            *es;
    EVP_PKEY_CTX         *ctx;
    const BIGNUM         *r, *s;
    unsigned char         der[80];
    const unsigned char  *p;

    ctx = EVP_PKEY_CTX_new(pkey, NULL);
    len = sizeof(der);

    if (ctx == NULL || EVP_PKEY_sign_init(ctx) != 1
        || EVP_PKEY_sign(ctx, der, &len, dgst, 32) != 1)
    {
        memset(sig, 0, 64);
        EVP_PKEY_CTX_free(ctx);
        return;
    }

    EVP_PKEY_CTX_free(ctx);

    p = der;
    es = d2i_ECDSA_SIG(NULL, &p, (long) len);
    ECDSA_SIG_get0(es, &r, &s);
    put_bn(r, sig);
    put_bn(s, sig + 32);
    ECDSA_SIG_free(es);
}


static int
oracle(EVP_PKEY *pkey, const unsigned char *dgst, const unsigned char *sig)
{
    int             ok, len;
    BIGNUM         *r, *s;
    ECDSA_SIG      *es;
    EVP_PKEY_CTX   *ctx;
    unsigned char  *der;

    es = ECDSA_SIG_new();
    r = BN_bin2bn(sig, 32, NULL);
    s = BN_bin2bn(sig + 32, 32, NULL);
    ECDSA_SIG_set0(es, r, s);

    der = NULL;
    len = i2d_ECDSA_SIG(es, &der);
    ECDSA_SIG_free(es);

    ctx = EVP_PKEY_CTX_new(pkey, NULL);
    ok = ctx && len > 0 && EVP_PKEY_verify_init(ctx) == 1
         && EVP_PKEY_verify(ctx, der, (size_t) len, dgst, 32) == 1;

    EVP_PKEY_CTX_free(ctx);
    OPENSSL_free(der);

    return ok;
}


static void
put_bn(const BIGNUM *bn, unsigned char *out)
{
    BN_bn2binpad(bn, out, 32);
}
