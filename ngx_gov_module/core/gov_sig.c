
/*
 * Copyright (C) ngx_gov_module authors
 */


#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "gov_sig.h"


static int gov_sig_mac(const unsigned char *secret, size_t secret_len,
    const char *ts, size_t ts_len, const char *body, size_t body_len,
    unsigned char *mac);


int
gov_sig_timestamp(const char *ts, size_t len, long long now,
    long long window, long long *value)
{
    size_t     i;
    long long  t;

    if (len == 0 || len > 12) {
        return GOV_SIG_MALFORMED;
    }

    t = 0;

    for (i = 0; i < len; i++) {
        if (ts[i] < '0' || ts[i] > '9') {
            return GOV_SIG_MALFORMED;
        }

        t = t * 10 + (ts[i] - '0');
    }

    *value = t;

    if (t > now + window || t < now - window) {
        return GOV_SIG_STALE;
    }

    return GOV_SIG_OK;
}


static int
gov_sig_mac(const unsigned char *secret, size_t secret_len, const char *ts,
    size_t ts_len, const char *body, size_t body_len, unsigned char *mac)
{
    int        ok;
    size_t     len;
    EVP_MAC   *hmac;
    OSSL_PARAM  params[2];
    EVP_MAC_CTX  *ctx;

    hmac = EVP_MAC_fetch(NULL, "HMAC", NULL);
    if (hmac == NULL) {
        return -1;
    }

    ctx = EVP_MAC_CTX_new(hmac);
    EVP_MAC_free(hmac);

    if (ctx == NULL) {
        return -1;
    }

    params[0] = OSSL_PARAM_construct_utf8_string("digest", "SHA256", 0);
    params[1] = OSSL_PARAM_construct_end();

    ok = EVP_MAC_init(ctx, secret, secret_len, params)
         && EVP_MAC_update(ctx, (const unsigned char *) ts, ts_len)
         && EVP_MAC_update(ctx, (const unsigned char *) ".", 1)
         && EVP_MAC_update(ctx, (const unsigned char *) body, body_len)
         && EVP_MAC_final(ctx, mac, &len, 32)
         && len == 32;

    EVP_MAC_CTX_free(ctx);

    return ok ? 0 : -1;
}


int
gov_sig_check(const unsigned char *secret, size_t secret_len,
    const char *ts, size_t ts_len, const char *body, size_t body_len,
    const char *sig, size_t sig_len)
{
    int            hi, lo;
    size_t         i;
    unsigned char  mac[32], given[32];

    if (sig_len != 7 + 64 || memcmp(sig, "sha256=", 7) != 0) {
        return GOV_SIG_MALFORMED;
    }

    for (i = 0; i < 32; i++) {
        hi = sig[7 + 2 * i];
        lo = sig[8 + 2 * i];

        hi = (hi >= '0' && hi <= '9') ? hi - '0'
             : ((hi | 0x20) >= 'a' && (hi | 0x20) <= 'f')
               ? (hi | 0x20) - 'a' + 10 : -1;
        lo = (lo >= '0' && lo <= '9') ? lo - '0'
             : ((lo | 0x20) >= 'a' && (lo | 0x20) <= 'f')
               ? (lo | 0x20) - 'a' + 10 : -1;

        if (hi < 0 || lo < 0) {
            return GOV_SIG_MALFORMED;
        }

        given[i] = (unsigned char) (hi << 4 | lo);
    }

    if (gov_sig_mac(secret, secret_len, ts, ts_len, body, body_len, mac)
        != 0)
    {
        return GOV_SIG_MISMATCH;
    }

    /* constant time: no early exit on the first differing byte */

    if (CRYPTO_memcmp(mac, given, 32) != 0) {
        return GOV_SIG_MISMATCH;
    }

    return GOV_SIG_OK;
}


void
gov_sig_make(const unsigned char *secret, size_t secret_len, const char *ts,
    size_t ts_len, const char *body, size_t body_len, char *out)
{
    size_t         i;
    unsigned char  mac[32];

    static const char  hex[] = "0123456789abcdef";

    memcpy(out, "sha256=", 7);

    if (gov_sig_mac(secret, secret_len, ts, ts_len, body, body_len, mac)
        != 0)
    {
        memset(out + 7, '0', 64);
        return;
    }

    for (i = 0; i < 32; i++) {
        out[7 + 2 * i] = hex[mac[i] >> 4];
        out[8 + 2 * i] = hex[mac[i] & 0x0f];
    }
}
