
/*
 * Copyright (C) ngx_gov_module authors
 *
 * A circuit breaker's states and moves (gov_breaker.c).  No nginx header:
 * unit-tested alone; the nginx side (ngx_gov_breaker.c) keeps one per
 * dependency target in shared memory and calls these under its lock.
 */


#ifndef _GOV_BREAKER_H_INCLUDED_
#define _GOV_BREAKER_H_INCLUDED_


#include <stdint.h>


#define GOV_BREAKER_CLOSED   0
#define GOV_BREAKER_OPEN     1
#define GOV_BREAKER_HALF     2          /* one probe let through */

/* what gov_breaker_ask() says */
#define GOV_BREAKER_PASS     0
#define GOV_BREAKER_PROBE    1
#define GOV_BREAKER_REFUSE   2

/* what gov_breaker_tell() says changed */
#define GOV_BREAKER_SAME     0
#define GOV_BREAKER_OPENED   1
#define GOV_BREAKER_CLOSING  2

/* half-open, the probe out: its answer is near, look again this soon */
#define GOV_BREAKER_PROBE_WAIT  1000


typedef struct {
    uint32_t   state;
    uint32_t   failures;        /* in a row */
    uint64_t   until;           /* open: refused until; half: the probe's
                                   deadline (a probe never answered) */
    uint64_t   opened;          /* times opened */
    uint64_t   failed;          /* failures in all */
    uint64_t   refused;         /* requests refused without trying */
} gov_breaker_t;


/*
 * May a request go to the target at "now" (milliseconds, any monotonic
 * clock)?  PASS (closed), PROBE (the open time is over: this one tries,
 * the others wait for its answer at most "open" ms) or REFUSE, with
 * *left the milliseconds until the next probe (open), or until it is
 * worth asking again while the probe is out (at most PROBE_WAIT).
 */
int gov_breaker_ask(gov_breaker_t *b, uint64_t now, uint64_t open,
    uint64_t *left);

/*
 * The answer of one request: "ok" (the target answered), "probe" (the
 * one gov_breaker_ask() let through half-open).  "threshold" failures in
 * a row open it for "open" ms; a probe that fails opens it again; any
 * success closes it.  Says OPENED or CLOSING when the state changed.
 */
int gov_breaker_tell(gov_breaker_t *b, int ok, int probe, uint64_t now,
    unsigned threshold, uint64_t open);

/* the milliseconds gov_breaker_ask() would say are left (0: it may go) */
uint64_t gov_breaker_left(const gov_breaker_t *b, uint64_t now);


#endif /* _GOV_BREAKER_H_INCLUDED_ */
