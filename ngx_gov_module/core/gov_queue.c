
/*
 * Copyright (C) ngx_gov_module authors
 */


#include <stdio.h>
#include <string.h>

#include "gov_sig.h"
#include "gov_queue.h"


size_t
gov_queue_pass(const unsigned char *key, size_t key_len, const char *zone,
    size_t zone_len, long long expires, char *out)
{
    int   n;
    char  ts[24], sig[7 + 64];

    if (expires < 0 || expires > 999999999999LL) {
        return 0;
    }

    n = snprintf(ts, sizeof(ts), "%lld", expires);

    gov_sig_make(key, key_len, ts, (size_t) n, zone, zone_len, sig);

    memcpy(out, "p.", 2);
    memcpy(out + 2, ts, (size_t) n);
    out[2 + n] = '.';
    memcpy(out + 3 + n, sig + 7, 64);

    return 3 + (size_t) n + 64;
}


int
gov_queue_pass_ok(const unsigned char *key, size_t key_len, const char *zone,
    size_t zone_len, const char *value, size_t len, long long now)
{
    char        sig[7 + 64];
    size_t      i, n;
    long long   expires;

    if (len < 2 + 1 + 1 + 64 || len > GOV_QUEUE_PASS_MAX
        || value[0] != 'p' || value[1] != '.')
    {
        return 0;
    }

    n = len - 2 - 1 - 64;

    if (value[2 + n] != '.') {
        return 0;
    }

    expires = 0;

    for (i = 0; i < n; i++) {
        if (value[2 + i] < '0' || value[2 + i] > '9') {
            return 0;
        }

        expires = expires * 10 + (value[2 + i] - '0');
    }

    if (value[2] == '0' || expires <= now) {
        return 0;
    }

    memcpy(sig, "sha256=", 7);
    memcpy(sig + 7, value + 3 + n, 64);

    return gov_sig_check(key, key_len, value + 2, n, zone, zone_len, sig,
                         sizeof(sig))
           == GOV_SIG_OK;
}


int
gov_queue_ticket(const char *value, size_t len, long long *number,
    const char **token)
{
    char       c;
    size_t     i, n;
    long long  v;

    if (len < 2 + 1 + 1 + GOV_QUEUE_TOKEN_LEN
        || len > 2 + 15 + 1 + GOV_QUEUE_TOKEN_LEN
        || value[0] != 't' || value[1] != '.')
    {
        return 0;
    }

    n = len - 2 - 1 - GOV_QUEUE_TOKEN_LEN;

    if (value[2 + n] != '.' || value[2] == '0') {
        return 0;
    }

    v = 0;

    for (i = 0; i < n; i++) {
        c = value[2 + i];

        if (c < '0' || c > '9') {
            return 0;
        }

        v = v * 10 + (c - '0');
    }

    for (i = 3 + n; i < len; i++) {
        c = value[i];

        if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) {
            return 0;
        }
    }

    *number = v;
    *token = value + 3 + n;

    return 1;
}


long long
gov_queue_refresh(long long eta)
{
    /* a fifth of the wait: the page's lag stays small beside it */

    if (eta <= 5) {
        return 1;
    }

    if (eta >= 50) {
        return 10;
    }

    return eta / 5;
}
