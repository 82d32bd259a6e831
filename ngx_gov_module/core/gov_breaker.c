
/*
 * Copyright (C) ngx_gov_module authors
 */


#include "gov_breaker.h"


int
gov_breaker_ask(gov_breaker_t *b, uint64_t now, uint64_t open,
    uint64_t *left)
{
    if (b->state == GOV_BREAKER_CLOSED) {
        return GOV_BREAKER_PASS;
    }

    if (now < b->until) {
        /* open, or half-open with its probe still out */
        *left = gov_breaker_left(b, now);
        b->refused++;
        return GOV_BREAKER_REFUSE;
    }

    /* the open time is over, or the probe never answered: one tries */

    b->state = GOV_BREAKER_HALF;
    b->until = now + open;

    return GOV_BREAKER_PROBE;
}


uint64_t
gov_breaker_left(const gov_breaker_t *b, uint64_t now)
{
    uint64_t  left;

    if (b->state == GOV_BREAKER_CLOSED || now >= b->until) {
        return 0;
    }

    left = b->until - now;

    if (b->state == GOV_BREAKER_HALF && left > GOV_BREAKER_PROBE_WAIT) {
        left = GOV_BREAKER_PROBE_WAIT;
    }

    return left;
}


int
gov_breaker_tell(gov_breaker_t *b, int ok, int probe, uint64_t now,
    unsigned threshold, uint64_t open)
{
    if (ok) {
        b->failures = 0;

        if (b->state == GOV_BREAKER_CLOSED) {
            return GOV_BREAKER_SAME;
        }

        b->state = GOV_BREAKER_CLOSED;
        b->until = 0;

        return GOV_BREAKER_CLOSING;
    }

    b->failed++;

    if (b->failures < UINT32_MAX) {
        b->failures++;
    }

    if ((b->state == GOV_BREAKER_HALF && probe)
        || (b->state == GOV_BREAKER_CLOSED && threshold
            && b->failures >= threshold))
    {
        b->state = GOV_BREAKER_OPEN;
        b->until = now + open;
        b->opened++;

        return GOV_BREAKER_OPENED;
    }

    return GOV_BREAKER_SAME;
}
