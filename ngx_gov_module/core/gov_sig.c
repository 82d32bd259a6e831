
/*
 * Copyright (C) ngx_gov_module authors
 */


#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "gov_sig.h"


typedef struct {
    const void  *data;
    size_t       len;
} gov_sig_part_t;


static int gov_sig_hmac(const unsigned char *secret, size_t secret_len,
    const gov_sig_part_t *parts, size_t n, unsigned char *mac);
static int gov_sig_mac(const unsigned char *secret, size_t secret_len,
    const char *ts, size_t ts_len, const char *body, size_t body_len,
    unsigned char *mac);
static int gov_sig_v2_mac(const gov_sig_request_t *req,
    const unsigned char *secret, size_t secret_len, unsigned char *mac);
static int gov_sig_unhex(const char *hex, unsigned char *out);
static int gov_sig_equal(const unsigned char *mac, const char *hex);
static void gov_sig_hex(const unsigned char *mac, char *out);


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


/* HMAC-SHA256 over the parts one after another */

static int
gov_sig_hmac(const unsigned char *secret, size_t secret_len,
    const gov_sig_part_t *parts, size_t n, unsigned char *mac)
{
    int           ok;
    size_t        i, len;
    EVP_MAC      *hmac;
    OSSL_PARAM    params[2];
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

    ok = EVP_MAC_init(ctx, secret, secret_len, params);

    for (i = 0; ok && i < n; i++) {
        ok = EVP_MAC_update(ctx, parts[i].data, parts[i].len);
    }

    ok = ok && EVP_MAC_final(ctx, mac, &len, 32) && len == 32;

    EVP_MAC_CTX_free(ctx);

    return ok ? 0 : -1;
}


/* v1: TIMESTAMP "." BODY */

static int
gov_sig_mac(const unsigned char *secret, size_t secret_len, const char *ts,
    size_t ts_len, const char *body, size_t body_len, unsigned char *mac)
{
    gov_sig_part_t  parts[] = {
        { ts, ts_len }, { ".", 1 }, { body, body_len }
    };

    return gov_sig_hmac(secret, secret_len, parts, 3, mac);
}


/* v2: TIMESTAMP "\n" METHOD "\n" PATH "\n" BODY */

static int
gov_sig_v2_mac(const gov_sig_request_t *req, const unsigned char *secret,
    size_t secret_len, unsigned char *mac)
{
    gov_sig_part_t  parts[] = {
        { req->ts, req->ts_len }, { "\n", 1 },
        { req->method, req->method_len }, { "\n", 1 },
        { req->path, req->path_len }, { "\n", 1 },
        { req->body, req->body_len }
    };

    return gov_sig_hmac(secret, secret_len, parts, 7, mac);
}


/* 64 hex digits, either case, to 32 bytes */

static int
gov_sig_unhex(const char *hex, unsigned char *out)
{
    int     hi, lo;
    size_t  i;

    for (i = 0; i < 32; i++) {
        hi = hex[2 * i];
        lo = hex[2 * i + 1];

        hi = (hi >= '0' && hi <= '9') ? hi - '0'
             : ((hi | 0x20) >= 'a' && (hi | 0x20) <= 'f')
               ? (hi | 0x20) - 'a' + 10 : -1;
        lo = (lo >= '0' && lo <= '9') ? lo - '0'
             : ((lo | 0x20) >= 'a' && (lo | 0x20) <= 'f')
               ? (lo | 0x20) - 'a' + 10 : -1;

        if (hi < 0 || lo < 0) {
            return -1;
        }

        out[i] = (unsigned char) (hi << 4 | lo);
    }

    return 0;
}


/* the MAC against 64 hex digits, in constant time */

static int
gov_sig_equal(const unsigned char *mac, const char *hex)
{
    unsigned char  given[32];

    if (gov_sig_unhex(hex, given) != 0) {
        return GOV_SIG_MALFORMED;
    }

    /* no early exit on the first differing byte */

    return CRYPTO_memcmp(mac, given, 32) == 0 ? GOV_SIG_OK : GOV_SIG_MISMATCH;
}


static void
gov_sig_hex(const unsigned char *mac, char *out)
{
    size_t  i;

    static const char  hex[] = "0123456789abcdef";

    for (i = 0; i < 32; i++) {
        out[2 * i] = hex[mac[i] >> 4];
        out[2 * i + 1] = hex[mac[i] & 0x0f];
    }
}


int
gov_sig_check(const unsigned char *secret, size_t secret_len,
    const char *ts, size_t ts_len, const char *body, size_t body_len,
    const char *sig, size_t sig_len)
{
    unsigned char  mac[32], given[32];

    if (sig_len != 7 + 64 || memcmp(sig, "sha256=", 7) != 0
        || gov_sig_unhex(sig + 7, given) != 0)
    {
        return GOV_SIG_MALFORMED;
    }

    if (gov_sig_mac(secret, secret_len, ts, ts_len, body, body_len, mac)
        != 0)
    {
        return GOV_SIG_MISMATCH;
    }

    return gov_sig_equal(mac, sig + 7);
}


void
gov_sig_make(const unsigned char *secret, size_t secret_len, const char *ts,
    size_t ts_len, const char *body, size_t body_len, char *out)
{
    unsigned char  mac[32];

    memcpy(out, "sha256=", 7);

    if (gov_sig_mac(secret, secret_len, ts, ts_len, body, body_len, mac)
        != 0)
    {
        memset(out + 7, '0', 64);
        return;
    }

    gov_sig_hex(mac, out + 7);
}


int
gov_sig_form(const char *sig, size_t sig_len)
{
    if (sig_len == 3 + 64 && memcmp(sig, "v2=", 3) == 0) {
        return GOV_SIG_V2;
    }

    if (sig_len == 7 + 64 && memcmp(sig, "sha256=", 7) == 0) {
        return GOV_SIG_V1;
    }

    return GOV_SIG_MALFORMED;
}


int
gov_sig_v2_check(const gov_sig_request_t *req, const unsigned char *secret,
    size_t secret_len, const char *sig, size_t sig_len)
{
    unsigned char  mac[32], given[32];

    if (gov_sig_form(sig, sig_len) != GOV_SIG_V2
        || gov_sig_unhex(sig + 3, given) != 0)
    {
        return GOV_SIG_MALFORMED;
    }

    if (gov_sig_v2_mac(req, secret, secret_len, mac) != 0) {
        return GOV_SIG_MISMATCH;
    }

    return gov_sig_equal(mac, sig + 3);
}


int
gov_sig_verify(const gov_sig_request_t *req, const unsigned char *secret,
    size_t secret_len, const char *sig, size_t sig_len, int legacy)
{
    switch (gov_sig_form(sig, sig_len)) {

    case GOV_SIG_V2:
        return gov_sig_v2_check(req, secret, secret_len, sig, sig_len);

    case GOV_SIG_V1:
        if (!legacy) {
            return GOV_SIG_LEGACY;
        }

        if (gov_sig_check(secret, secret_len, req->ts, req->ts_len,
                          req->body, req->body_len, sig, sig_len)
            != GOV_SIG_OK)
        {
            return GOV_SIG_MISMATCH;
        }

        return GOV_SIG_V1;

    default:
        return GOV_SIG_MALFORMED;
    }
}


void
gov_sig_v2_make(const gov_sig_request_t *req, const unsigned char *secret,
    size_t secret_len, char *out)
{
    unsigned char  mac[32];

    memcpy(out, "v2=", 3);

    if (gov_sig_v2_mac(req, secret, secret_len, mac) != 0) {
        memset(out + 3, '0', 64);
        return;
    }

    gov_sig_hex(mac, out + 3);
}
