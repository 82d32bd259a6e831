
/*
 * Copyright (C) ngx_gov_module authors
 */


#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <stdio.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>

#include "gov_b64.h"
#include "gov_seal.h"


#define GOV_SEAL_GCM_NONCE      12
#define GOV_SEAL_CTR_IV         16


static int gov_seal_hmac(const EVP_MD *md, const unsigned char *key,
    size_t keylen, const char *label, unsigned char *out);
static EVP_CIPHER *gov_seal_cipher(int alg);
static void gov_seal_head(const gov_seal_key_t *key, char *head);
static int gov_seal_sm4_mac(const gov_seal_key_t *key, const char *head,
    const unsigned char *ad, size_t adlen, const unsigned char *iv,
    const unsigned char *ct, size_t len, unsigned char *tag);
static int gov_seal_hex(int c);


/* fetched once per process: OpenSSL 3 would look them up at every use */
static EVP_CIPHER  *gov_seal_aes_gcm;
static EVP_CIPHER  *gov_seal_sm4_ctr;


int
gov_seal_alg(const char *name, size_t len)
{
    if (len == 11 && memcmp(name, "aes-256-gcm", 11) == 0) {
        return GOV_SEAL_AES;
    }

    if (len == 7 && memcmp(name, "sm4-sm3", 7) == 0) {
        return GOV_SEAL_SM4;
    }

    return 0;
}


int
gov_seal_key(gov_seal_key_t *key, int alg, const char *text, size_t len,
    char *err, size_t errlen)
{
    int             hi, lo;
    size_t          i, n;
    const EVP_MD   *md;
    unsigned char   raw[GOV_SEAL_RAW_LEN], out[EVP_MAX_MD_SIZE];

    while (len && (text[len - 1] == '\n' || text[len - 1] == '\r'
                   || text[len - 1] == ' ' || text[len - 1] == '\t'))
    {
        len--;
    }

    while (len && (*text == ' ' || *text == '\t' || *text == '\n'
                   || *text == '\r'))
    {
        text++;
        len--;
    }

    if (len != 2 * GOV_SEAL_RAW_LEN) {
        snprintf(err, errlen, "holds %zu characters, not 64 hex digits",
                 len);
        return -1;
    }

    for (i = 0, n = 0; n < GOV_SEAL_RAW_LEN; i += 2, n++) {
        hi = gov_seal_hex(text[i]);
        lo = gov_seal_hex(text[i + 1]);

        if (hi < 0 || lo < 0) {
            snprintf(err, errlen, "character %zu is not a hex digit",
                     hi < 0 ? i + 1 : i + 2);
            return -1;
        }

        raw[n] = (unsigned char) (hi << 4 | lo);
    }

    memset(key, 0, sizeof(gov_seal_key_t));
    key->alg = alg;

    md = (alg == GOV_SEAL_SM4) ? EVP_sm3() : EVP_sha256();

    if (md == NULL
        || gov_seal_hmac(md, raw, sizeof(raw), alg == GOV_SEAL_SM4
                         ? "gov-seal sm4-sm3 enc" : "gov-seal aes-256-gcm enc",
                         out) != 0)
    {
        goto failed;
    }

    memcpy(key->enc, out, 32);

    if (alg == GOV_SEAL_SM4) {
        if (gov_seal_hmac(md, raw, sizeof(raw), "gov-seal sm4-sm3 mac", out)
            != 0)
        {
            goto failed;
        }

        memcpy(key->mac, out, 32);
    }

    if (gov_seal_hmac(md, raw, sizeof(raw), alg == GOV_SEAL_SM4
                      ? "gov-seal sm4-sm3 id" : "gov-seal aes-256-gcm id",
                      out) != 0)
    {
        goto failed;
    }

    for (i = 0; i < GOV_SEAL_ID_LEN / 2; i++) {
        snprintf(key->id + 2 * i, 3, "%02x", out[i]);
    }

    OPENSSL_cleanse(raw, sizeof(raw));
    OPENSSL_cleanse(out, sizeof(out));

    if (gov_seal_cipher(alg) == NULL) {
        snprintf(err, errlen, "this OpenSSL has no %s",
                 alg == GOV_SEAL_SM4 ? "SM4-CTR" : "AES-256-GCM");
        return -1;
    }

    return 0;

failed:

    OPENSSL_cleanse(raw, sizeof(raw));
    snprintf(err, errlen, "OpenSSL could not derive its keys");

    return -1;
}


size_t
gov_seal(const gov_seal_key_t *key, const unsigned char *ad, size_t adlen,
    const unsigned char *in, size_t len, char *out)
{
    int              n, ok;
    size_t           nlen, total;
    unsigned char   *buf, *nonce, *ct, *tag;
    EVP_CIPHER      *cipher;
    EVP_CIPHER_CTX  *ctx;

    cipher = gov_seal_cipher(key->alg);
    if (cipher == NULL) {
        return 0;
    }

    nlen = (key->alg == GOV_SEAL_AES) ? GOV_SEAL_GCM_NONCE : GOV_SEAL_CTR_IV;
    total = nlen + len + GOV_SEAL_TAG_LEN;

    buf = malloc(total);
    if (buf == NULL) {
        return 0;
    }

    nonce = buf;
    ct = buf + nlen;
    tag = ct + len;

    gov_seal_head(key, out);

    ctx = EVP_CIPHER_CTX_new();

    ok = ctx != NULL
         && RAND_bytes(nonce, (int) nlen) == 1
         && EVP_EncryptInit_ex2(ctx, cipher, key->enc, nonce, NULL) == 1;

    if (ok && key->alg == GOV_SEAL_AES) {
        ok = EVP_EncryptUpdate(ctx, NULL, &n, (unsigned char *) out,
                               GOV_SEAL_HEAD_LEN) == 1
             && (adlen == 0
                 || EVP_EncryptUpdate(ctx, NULL, &n, ad, (int) adlen) == 1);
    }

    ok = ok
         && (len == 0
             || EVP_EncryptUpdate(ctx, ct, &n, in, (int) len) == 1)
         && EVP_EncryptFinal_ex(ctx, ct + len, &n) == 1;

    if (ok) {
        if (key->alg == GOV_SEAL_AES) {
            ok = EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_GET_TAG,
                                     GOV_SEAL_TAG_LEN, tag) == 1;

        } else {
            ok = gov_seal_sm4_mac(key, out, ad, adlen, nonce, ct, len, tag)
                 == 0;
        }
    }

    EVP_CIPHER_CTX_free(ctx);

    if (!ok) {
        OPENSSL_cleanse(buf, total);
        free(buf);
        return 0;
    }

    n = (int) gov_b64url_encode(out + GOV_SEAL_HEAD_LEN, buf, total);

    free(buf);

    return GOV_SEAL_HEAD_LEN + (size_t) n;
}


int
gov_open(const gov_seal_key_t *keys, size_t nkeys, const unsigned char *ad,
    size_t adlen, const char *in, size_t len, unsigned char *out,
    size_t *outlen, size_t *used)
{
    int                    n, ok, alg;
    long                   total;
    size_t                 i, nlen, clen;
    unsigned char         *buf, mac[GOV_SEAL_TAG_LEN];
    EVP_CIPHER            *cipher;
    EVP_CIPHER_CTX        *ctx;
    const gov_seal_key_t  *key;

    if (!gov_sealed(in, len)) {
        return GOV_SEAL_PLAIN;
    }

    alg = (in[4] == 'a') ? GOV_SEAL_AES : GOV_SEAL_SM4;
    key = NULL;

    for (i = 0; i < nkeys; i++) {
        if (keys[i].alg == alg
            && memcmp(keys[i].id, in + 6, GOV_SEAL_ID_LEN) == 0)
        {
            key = &keys[i];
            *used = i;
            break;
        }
    }

    if (key == NULL) {
        return GOV_SEAL_UNKNOWN_KEY;
    }

    cipher = gov_seal_cipher(alg);
    if (cipher == NULL) {
        return GOV_SEAL_ERROR;
    }

    nlen = (alg == GOV_SEAL_AES) ? GOV_SEAL_GCM_NONCE : GOV_SEAL_CTR_IV;

    buf = malloc(gov_b64url_decoded_max(len - GOV_SEAL_HEAD_LEN) + 1);
    if (buf == NULL) {
        return GOV_SEAL_ERROR;
    }

    total = gov_b64url_decode(buf, in + GOV_SEAL_HEAD_LEN,
                              len - GOV_SEAL_HEAD_LEN);

    if (total < (long) (nlen + GOV_SEAL_TAG_LEN)) {
        free(buf);
        return GOV_SEAL_DAMAGED;
    }

    clen = (size_t) total - nlen - GOV_SEAL_TAG_LEN;

    if (alg == GOV_SEAL_SM4) {
        /* encrypt-then-MAC: the tag first, nothing decrypted before */

        if (gov_seal_sm4_mac(key, in, ad, adlen, buf, buf + nlen, clen, mac)
            != 0)
        {
            free(buf);
            return GOV_SEAL_ERROR;
        }

        if (CRYPTO_memcmp(mac, buf + nlen + clen, GOV_SEAL_TAG_LEN) != 0) {
            free(buf);
            return GOV_SEAL_DAMAGED;
        }
    }

    ctx = EVP_CIPHER_CTX_new();

    ok = ctx != NULL
         && EVP_DecryptInit_ex2(ctx, cipher, key->enc, buf, NULL) == 1;

    if (ok && alg == GOV_SEAL_AES) {
        ok = EVP_DecryptUpdate(ctx, NULL, &n, (const unsigned char *) in,
                               GOV_SEAL_HEAD_LEN) == 1
             && (adlen == 0
                 || EVP_DecryptUpdate(ctx, NULL, &n, ad, (int) adlen) == 1)
             && EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_TAG,
                                    GOV_SEAL_TAG_LEN, buf + nlen + clen) == 1;
    }

    if (!ok) {
        EVP_CIPHER_CTX_free(ctx);
        free(buf);
        return GOV_SEAL_ERROR;
    }

    ok = (clen == 0
          || EVP_DecryptUpdate(ctx, out, &n, buf + nlen, (int) clen) == 1)
         && EVP_DecryptFinal_ex(ctx, out + clen, &n) == 1;

    EVP_CIPHER_CTX_free(ctx);
    free(buf);

    if (!ok) {
        /* GCM's tag did not hold */
        OPENSSL_cleanse(out, clen);
        return GOV_SEAL_DAMAGED;
    }

    *outlen = clen;

    return GOV_SEAL_OK;
}


int
gov_sealed(const char *in, size_t len)
{
    size_t  i;

    if (len < GOV_SEAL_HEAD_LEN || memcmp(in, "~g1.", 4) != 0
        || (in[4] != 'a' && in[4] != 's') || in[5] != '.'
        || in[GOV_SEAL_HEAD_LEN - 1] != '.')
    {
        return 0;
    }

    for (i = 6; i < 6 + GOV_SEAL_ID_LEN; i++) {
        if (gov_seal_hex(in[i]) < 0) {
            return 0;
        }
    }

    return 1;
}


const char *
gov_sealed_id(const char *in, size_t len)
{
    return gov_sealed(in, len) ? in + 6 : NULL;
}


int
gov_seal_sm3(const unsigned char *in, size_t len, unsigned char *md)
{
    unsigned int  n;

    return EVP_Digest(in, len, md, &n, EVP_sm3(), NULL) == 1 ? 0 : -1;
}


int
gov_seal_sm4_block(const unsigned char *key, const unsigned char *in,
    unsigned char *out)
{
    int              n, ok;
    EVP_CIPHER      *ecb;
    EVP_CIPHER_CTX  *ctx;

    ecb = EVP_CIPHER_fetch(NULL, "SM4-ECB", NULL);
    ctx = EVP_CIPHER_CTX_new();

    ok = ecb != NULL && ctx != NULL
         && EVP_EncryptInit_ex2(ctx, ecb, key, NULL, NULL) == 1
         && EVP_CIPHER_CTX_set_padding(ctx, 0) == 1
         && EVP_EncryptUpdate(ctx, out, &n, in, 16) == 1
         && EVP_EncryptFinal_ex(ctx, out + n, &n) == 1;

    EVP_CIPHER_CTX_free(ctx);
    EVP_CIPHER_free(ecb);

    return ok ? 0 : -1;
}


static int
gov_seal_hmac(const EVP_MD *md, const unsigned char *key, size_t keylen,
    const char *label, unsigned char *out)
{
    unsigned int  n;

    return HMAC(md, key, (int) keylen, (const unsigned char *) label,
                strlen(label), out, &n) != NULL ? 0 : -1;
}


static EVP_CIPHER *
gov_seal_cipher(int alg)
{
    if (alg == GOV_SEAL_AES) {
        if (gov_seal_aes_gcm == NULL) {
            gov_seal_aes_gcm = EVP_CIPHER_fetch(NULL, "AES-256-GCM", NULL);
        }

        return gov_seal_aes_gcm;
    }

    if (alg == GOV_SEAL_SM4) {
        if (gov_seal_sm4_ctr == NULL) {
            gov_seal_sm4_ctr = EVP_CIPHER_fetch(NULL, "SM4-CTR", NULL);
        }

        return gov_seal_sm4_ctr;
    }

    return NULL;
}


static void
gov_seal_head(const gov_seal_key_t *key, char *head)
{
    memcpy(head, "~g1.", 4);
    head[4] = (key->alg == GOV_SEAL_AES) ? 'a' : 's';
    head[5] = '.';
    memcpy(head + 6, key->id, GOV_SEAL_ID_LEN);
    head[GOV_SEAL_HEAD_LEN - 1] = '.';
}


/*
 * HMAC-SM3 over the header, the associated data's length (8 bytes, big
 * endian) and itself, the counter block and the ciphertext: the first 16
 * bytes.
 */

static int
gov_seal_sm4_mac(const gov_seal_key_t *key, const char *head,
    const unsigned char *ad, size_t adlen, const unsigned char *iv,
    const unsigned char *ct, size_t len, unsigned char *tag)
{
    int             i;
    size_t          total;
    unsigned int    n;
    unsigned char  *buf, *p, md[EVP_MAX_MD_SIZE];

    total = GOV_SEAL_HEAD_LEN + 8 + adlen + GOV_SEAL_CTR_IV + len;

    buf = malloc(total);
    if (buf == NULL) {
        return -1;
    }

    p = buf;
    memcpy(p, head, GOV_SEAL_HEAD_LEN);
    p += GOV_SEAL_HEAD_LEN;

    for (i = 7; i >= 0; i--) {
        *p++ = (unsigned char) ((uint64_t) adlen >> (8 * i));
    }

    if (adlen) {
        memcpy(p, ad, adlen);
        p += adlen;
    }

    memcpy(p, iv, GOV_SEAL_CTR_IV);
    p += GOV_SEAL_CTR_IV;

    if (len) {
        memcpy(p, ct, len);
    }

    if (HMAC(EVP_sm3(), key->mac, 32, buf, total, md, &n) == NULL) {
        free(buf);
        return -1;
    }

    free(buf);
    memcpy(tag, md, GOV_SEAL_TAG_LEN);

    return 0;
}


static int
gov_seal_hex(int c)
{
    if (c >= '0' && c <= '9') {
        return c - '0';
    }

    if (c >= 'a' && c <= 'f') {
        return c - 'a' + 10;
    }

    if (c >= 'A' && c <= 'F') {
        return c - 'A' + 10;
    }

    return -1;
}
