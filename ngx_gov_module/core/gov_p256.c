
/*
 * Copyright (C) ngx_gov_module authors
 */


/*
 * ECDSA verification computes u1 * G + u2 * Q, where G is the curve's
 * generator and Q the public key.  OpenSSL multiplies by G with a table it
 * ships (a fixed-base comb), and by Q with a window made afresh on every
 * call, which is most of a verification's cost.  A key checks thousands of
 * tokens with the same Q, so here Q gets a table too: a copy of the P-256
 * group whose generator is Q, given OpenSSL's own precomputation
 * (EC_GROUP_precompute_mult(), about 150 kB and 20 ms a key); then both
 * products are fixed-base multiplications, and a check costs about half of
 * OpenSSL's (24 us against 49 on the machine of README's figures).
 *
 * The table is made once the key has checked GOV_P256_LAZY signatures
 * (before that, the caller checks with OpenSSL's own), so that keys
 * fetched by a worker (an identity provider's JWKS) cost the 20 ms only
 * when they are used, and a key used for one token never.  The arithmetic
 * is the standard's (SEC 1, 4.1.4) on OpenSSL's big numbers and points;
 * libjwt's verdict is the oracle in t/unit/jwtdiff.c and
 * fuzz/fuzz_jwtdiff.c.
 */


/* EC_GROUP_precompute_mult() is deprecated since OpenSSL 3.0, not gone */
#define OPENSSL_SUPPRESS_DEPRECATED

#include <stdlib.h>
#include <string.h>

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/obj_mac.h>

#include "gov_p256.h"


struct gov_p256_s {
    EVP_PKEY       *pkey;
    EC_GROUP       *group;        /* P-256 */
    EC_GROUP       *keyed;        /* P-256, Q its generator, a table */
    BN_CTX         *bn;
    EC_POINT       *p1;
    EC_POINT       *p2;
    BIGNUM         *r, *s, *e, *w, *u1, *u2, *x;
    unsigned long   checks;
    int             fast;         /* 1: the table; -1: it failed */
};


static int gov_p256_table(gov_p256_t *k);
static int gov_p256_check(gov_p256_t *k, const unsigned char *dgst,
    const unsigned char *sig);


gov_p256_t *
gov_p256_new(void *pkey)
{
    char         curve[32];
    size_t       len;
    gov_p256_t  *k;

    if (EVP_PKEY_get_base_id(pkey) != EVP_PKEY_EC
        || EVP_PKEY_get_utf8_string_param(pkey, OSSL_PKEY_PARAM_GROUP_NAME,
                                          curve, sizeof(curve), &len) != 1
        || strcmp(curve, "prime256v1") != 0)
    {
        ERR_clear_error();
        return NULL;
    }

    k = calloc(1, sizeof(gov_p256_t));
    if (k == NULL) {
        return NULL;
    }

    if (EVP_PKEY_up_ref(pkey) != 1) {
        free(k);
        return NULL;
    }

    k->pkey = pkey;
    k->group = EC_GROUP_new_by_curve_name(NID_X9_62_prime256v1);
    k->bn = BN_CTX_new();
    k->r = BN_new();
    k->s = BN_new();
    k->e = BN_new();
    k->w = BN_new();
    k->u1 = BN_new();
    k->u2 = BN_new();
    k->x = BN_new();

    if (k->group == NULL || k->bn == NULL
        || k->r == NULL || k->s == NULL || k->e == NULL || k->w == NULL
        || k->u1 == NULL || k->u2 == NULL || k->x == NULL)
    {
        gov_p256_free(k);
        ERR_clear_error();
        return NULL;
    }

    k->p1 = EC_POINT_new(k->group);
    k->p2 = EC_POINT_new(k->group);

    if (k->p1 == NULL || k->p2 == NULL) {
        gov_p256_free(k);
        return NULL;
    }

    return k;
}


void
gov_p256_free(gov_p256_t *k)
{
    if (k == NULL) {
        return;
    }

    EC_POINT_free(k->p1);
    EC_POINT_free(k->p2);
    BN_free(k->r);
    BN_free(k->s);
    BN_free(k->e);
    BN_free(k->w);
    BN_free(k->u1);
    BN_free(k->u2);
    BN_free(k->x);
    BN_CTX_free(k->bn);
    EC_GROUP_free(k->keyed);
    EC_GROUP_free(k->group);
    EVP_PKEY_free(k->pkey);
    free(k);
}


int
gov_p256_fast(const gov_p256_t *k)
{
    return k->fast == 1;
}


int
gov_p256_verify(gov_p256_t *k, const unsigned char *dgst,
    const unsigned char *sig, size_t siglen)
{
    int  ok;

    if (k->fast == 0 && ++k->checks > GOV_P256_LAZY) {
        k->fast = gov_p256_table(k) == 0 ? 1 : -1;
        ERR_clear_error();
    }

    if (k->fast != 1) {
        return -1;
    }

    ok = siglen == 64 && gov_p256_check(k, dgst, sig);

    /* a forged token leaves nothing for the next TLS call to find */
    ERR_clear_error();

    return ok;
}


/* the group with Q for a generator, and OpenSSL's table for it */

static int
gov_p256_table(gov_p256_t *k)
{
    size_t          len;
    EC_POINT       *q;
    unsigned char   pub[65];

    if (EVP_PKEY_get_octet_string_param(k->pkey,
                                        OSSL_PKEY_PARAM_ENCODED_PUBLIC_KEY,
                                        pub, sizeof(pub), &len)
        != 1)
    {
        return -1;
    }

    k->keyed = EC_GROUP_dup(k->group);
    q = EC_POINT_new(k->group);

    if (k->keyed == NULL || q == NULL
        || EC_POINT_oct2point(k->group, q, pub, len, k->bn) != 1
        || EC_POINT_is_at_infinity(k->group, q)
        || EC_POINT_is_on_curve(k->group, q, k->bn) != 1
        || EC_GROUP_set_generator(k->keyed, q, EC_GROUP_get0_order(k->group),
                                  EC_GROUP_get0_cofactor(k->group))
           != 1
        || EC_GROUP_precompute_mult(k->keyed, k->bn) != 1)
    {
        EC_POINT_free(q);
        EC_GROUP_free(k->keyed);
        k->keyed = NULL;
        return -1;
    }

    EC_POINT_free(q);

    return 0;
}


/*
 * SEC 1, 4.1.4: r and s in [1, n - 1]; e the digest (256 bits, the
 * order's length: no truncation); w = s^-1, u1 = e w, u2 = r w (mod n);
 * R = u1 G + u2 Q not the point at infinity; valid when R.x = r (mod n).
 */

static int
gov_p256_check(gov_p256_t *k, const unsigned char *dgst,
    const unsigned char *sig)
{
    const BIGNUM  *n;

    n = EC_GROUP_get0_order(k->group);

    if (BN_bin2bn(sig, 32, k->r) == NULL
        || BN_bin2bn(sig + 32, 32, k->s) == NULL
        || BN_is_zero(k->r) || BN_cmp(k->r, n) >= 0
        || BN_is_zero(k->s) || BN_cmp(k->s, n) >= 0
        || BN_bin2bn(dgst, 32, k->e) == NULL)
    {
        return 0;
    }

    if (BN_mod_inverse(k->w, k->s, n, k->bn) == NULL
        || BN_mod_mul(k->u1, k->e, k->w, n, k->bn) != 1
        || BN_mod_mul(k->u2, k->r, k->w, n, k->bn) != 1
        || EC_POINT_mul(k->group, k->p1, k->u1, NULL, NULL, k->bn) != 1
        || EC_POINT_mul(k->keyed, k->p2, k->u2, NULL, NULL, k->bn) != 1
        || EC_POINT_add(k->group, k->p1, k->p1, k->p2, k->bn) != 1
        || EC_POINT_is_at_infinity(k->group, k->p1)
        || EC_POINT_get_affine_coordinates(k->group, k->p1, k->x, NULL,
                                           k->bn)
           != 1
        || BN_nnmod(k->x, k->x, n, k->bn) != 1)
    {
        return 0;
    }

    return BN_cmp(k->x, k->r) == 0;
}
