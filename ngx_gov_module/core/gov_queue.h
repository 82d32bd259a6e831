
/*
 * Copyright (C) ngx_gov_module authors
 *
 * The waiting room's cookies (CONTRACT section 11), without nginx: an
 * admitted visitor's pass, "p.EXPIRES.HMAC" (HMAC-SHA256 over the expiry
 * and the zone's name, so a pass of one zone is worth nothing in another),
 * and a waiting visitor's ticket, "t.NUMBER.TOKEN" (the token is random
 * and checked in Redis); and how often the waiting page looks again.
 */


#ifndef _GOV_QUEUE_H_INCLUDED_
#define _GOV_QUEUE_H_INCLUDED_


#include <stddef.h>


/* "p." + up to 12 digits + "." + 64 hex digits */
#define GOV_QUEUE_PASS_MAX     (2 + 12 + 1 + 64)
#define GOV_QUEUE_TOKEN_LEN    32


/* writes the pass into out (GOV_QUEUE_PASS_MAX bytes), returns its length */
size_t gov_queue_pass(const unsigned char *key, size_t key_len,
    const char *zone, size_t zone_len, long long expires, char *out);

/* 1: a pass this key made for this zone, not expired at "now" */
int gov_queue_pass_ok(const unsigned char *key, size_t key_len,
    const char *zone, size_t zone_len, const char *value, size_t len,
    long long now);

/* 1: a well-formed ticket; its number and token (GOV_QUEUE_TOKEN_LEN) */
int gov_queue_ticket(const char *value, size_t len, long long *number,
    const char **token);

/* seconds until the waiting page looks again, for an estimated wait */
long long gov_queue_refresh(long long eta);


#endif /* _GOV_QUEUE_H_INCLUDED_ */
