
/*
 * Copyright (C) ngx_gov_module authors
 *
 * ES256 signatures checked with a table made for the key.  No nginx
 * header: unit-tested and fuzzed (against libjwt) alone.
 */


#ifndef _GOV_P256_H_INCLUDED_
#define _GOV_P256_H_INCLUDED_


#include <stddef.h>


typedef struct gov_p256_s  gov_p256_t;


/* for an EVP_PKEY on P-256; NULL on any other key, or without memory */
gov_p256_t *gov_p256_new(void *pkey);
void gov_p256_free(gov_p256_t *k);

/*
 * 1 when "sig" (the JWS form: R || S, 32 bytes each) signs the SHA-256
 * digest "dgst" with the key, else 0; -1 while the key has no table yet
 * (its first GOV_P256_LAZY checks, or the table could not be made): the
 * caller checks with OpenSSL's EVP_PKEY_verify().  Not for two threads at
 * once.
 */
int gov_p256_verify(gov_p256_t *k, const unsigned char *dgst,
    const unsigned char *sig, size_t siglen);

/* 1 once the key's table is made (after GOV_P256_LAZY checks) */
int gov_p256_fast(const gov_p256_t *k);

#define GOV_P256_LAZY  64


#endif /* _GOV_P256_H_INCLUDED_ */
