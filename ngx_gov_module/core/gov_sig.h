
/*
 * Copyright (C) ngx_gov_module authors
 *
 * Department callback signatures: X-Gov-Signature: sha256=HEX, HEX being
 * HMAC-SHA256 with the item's secret over TIMESTAMP "." BODY, compared in
 * constant time.  No nginx header.
 */


#ifndef _GOV_SIG_H_INCLUDED_
#define _GOV_SIG_H_INCLUDED_


#include <stddef.h>


#define GOV_SIG_OK         0
#define GOV_SIG_MALFORMED  -1
#define GOV_SIG_MISMATCH   -2
#define GOV_SIG_STALE      -3


/* a decimal UNIX time within "window" seconds of "now" */
int gov_sig_timestamp(const char *ts, size_t len, long long now,
    long long window, long long *value);

int gov_sig_check(const unsigned char *secret, size_t secret_len,
    const char *ts, size_t ts_len, const char *body, size_t body_len,
    const char *sig, size_t sig_len);

/* writes "sha256=" and 64 hex digits (71 bytes, no NUL) */
void gov_sig_make(const unsigned char *secret, size_t secret_len,
    const char *ts, size_t ts_len, const char *body, size_t body_len,
    char *out);


#endif /* _GOV_SIG_H_INCLUDED_ */
