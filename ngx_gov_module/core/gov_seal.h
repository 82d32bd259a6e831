
/*
 * Copyright (C) ngx_gov_module authors
 *
 * Values sealed at rest (CONTRACT section 17): authenticated encryption
 * bound to where the value lives (its application and field: the
 * associated data), under one of several keys, each known by an id.
 *
 *   aes-256-gcm  AES-256 in GCM, a 12-byte random nonce, a 16-byte tag;
 *   sm4-sm3      the 国密 suite (GB/T 39786): SM4 in CTR mode with a
 *                16-byte random counter block, then HMAC-SM3 over the
 *                header, the associated data, the counter block and the
 *                ciphertext, its first 16 bytes kept (encrypt-then-MAC:
 *                OpenSSL 3.0 has no SM4-GCM).
 *
 * A key file holds 64 hex digits (32 bytes): the suite's keys and the
 * key's id are derived from them by HMAC (SHA-256 or SM3) with distinct
 * labels, so the id reveals nothing of the keys.
 *
 * A sealed value is text, safe in JSON and in Redis:
 *
 *     ~g1.A.KKKKKKKK.BASE64URL
 *
 * A: "a" (aes-256-gcm) or "s" (sm4-sm3); K: the key's id, 8 hex digits;
 * then nonce, ciphertext and tag in base64url.  The header is part of the
 * authenticated data.
 */


#ifndef _GOV_SEAL_H_INCLUDED_
#define _GOV_SEAL_H_INCLUDED_


#include <stddef.h>


#define GOV_SEAL_AES            1
#define GOV_SEAL_SM4            2

#define GOV_SEAL_RAW_LEN        32
#define GOV_SEAL_ID_LEN         8

/* the header "~g1.A.KKKKKKKK." */
#define GOV_SEAL_HEAD_LEN       (4 + 2 + GOV_SEAL_ID_LEN + 1)
#define GOV_SEAL_NONCE_MAX      16
#define GOV_SEAL_TAG_LEN        16

/* the sealed text of "n" bytes, at most */
#define gov_seal_len(n)                                                      \
    (GOV_SEAL_HEAD_LEN                                                       \
     + ((GOV_SEAL_NONCE_MAX + (n) + GOV_SEAL_TAG_LEN) * 4 + 2) / 3)

/* what gov_open() says */
#define GOV_SEAL_OK             0
#define GOV_SEAL_PLAIN          1    /* not sealed text: written before */
#define GOV_SEAL_UNKNOWN_KEY    2    /* sealed under a key not given */
#define GOV_SEAL_DAMAGED        3    /* altered, cut, or bound elsewhere */
#define GOV_SEAL_ERROR          4    /* OpenSSL failed (memory) */


typedef struct {
    int            alg;
    char           id[GOV_SEAL_ID_LEN + 1];
    unsigned char  enc[32];       /* AES-256, or SM4 in its first 16 */
    unsigned char  mac[32];       /* HMAC-SM3 (sm4-sm3) */
} gov_seal_key_t;


/*
 * A key from the text of a key file: 64 hex digits, surrounding white
 * space ignored.  0, or -1 with the reason in "err".
 */
int gov_seal_key(gov_seal_key_t *key, int alg, const char *text, size_t len,
    char *err, size_t errlen);

/* "aes-256-gcm" or "sm4-sm3" to GOV_SEAL_AES, GOV_SEAL_SM4; 0 unknown */
int gov_seal_alg(const char *name, size_t len);

/*
 * Seals "len" bytes bound to "ad" into "out" (gov_seal_len(len) bytes);
 * the text's length, or 0 when OpenSSL failed.
 */
size_t gov_seal(const gov_seal_key_t *key, const unsigned char *ad,
    size_t adlen, const unsigned char *in, size_t len, char *out);

/*
 * Opens sealed text with whichever of "keys" its id names, into "out"
 * (at least "len" bytes); *outlen its length, *used the key's index.
 */
int gov_open(const gov_seal_key_t *keys, size_t nkeys,
    const unsigned char *ad, size_t adlen, const char *in, size_t len,
    unsigned char *out, size_t *outlen, size_t *used);

/* 1 when "in" is sealed text (by its header), whatever its key */
int gov_sealed(const char *in, size_t len);

/* the key id of sealed text (GOV_SEAL_ID_LEN characters), or NULL */
const char *gov_sealed_id(const char *in, size_t len);

/* the suite's primitives, for the published test vectors */
int gov_seal_sm3(const unsigned char *in, size_t len, unsigned char *md);
int gov_seal_sm4_block(const unsigned char *key, const unsigned char *in,
    unsigned char *out);


#endif /* _GOV_SEAL_H_INCLUDED_ */
