
/*
 * Copyright (C) ngx_gov_module authors
 *
 * Unit tests of the circuit breaker's moves (gov_breaker.c).
 */


#include <stdint.h>
#include <string.h>

#include "tap.h"
#include "gov_breaker.h"


int
main(void)
{
    int            i;
    uint64_t       left;
    gov_breaker_t  b;

    memset(&b, 0, sizeof(b));

    /* closed: everything passes; failures below the threshold keep it so */

    is_int(gov_breaker_ask(&b, 1000, 10000, &left), GOV_BREAKER_PASS,
           "closed: a request passes");

    for (i = 0; i < 4; i++) {
        is_int(gov_breaker_tell(&b, 0, 0, 1000, 5, 10000), GOV_BREAKER_SAME,
               "failure %d of 5: still closed", i + 1);
    }

    is_int(gov_breaker_tell(&b, 1, 0, 1000, 5, 10000), GOV_BREAKER_SAME,
           "a success in between: still closed");
    is_int(b.failures, 0, "... and the count in a row starts over");

    for (i = 0; i < 4; i++) {
        (void) gov_breaker_tell(&b, 0, 0, 2000, 5, 10000);
    }

    is_int(gov_breaker_tell(&b, 0, 0, 2000, 5, 10000), GOV_BREAKER_OPENED,
           "the fifth failure in a row opens it");
    is_int(b.opened, 1, "opened once");
    is_int(b.failed, 9, "nine failures in all");

    /* open: refused with the time left */

    is_int(gov_breaker_ask(&b, 5000, 10000, &left), GOV_BREAKER_REFUSE,
           "open: refused");
    is_int(left, 7000, "... 7 s before the next probe");
    is_int(gov_breaker_tell(&b, 0, 0, 5000, 5, 10000), GOV_BREAKER_SAME,
           "a late failure of a request sent before: no change");
    is_int(gov_breaker_ask(&b, 11999, 10000, &left), GOV_BREAKER_REFUSE,
           "refused until the last millisecond");
    is_int(left, 1, "... 1 ms left");

    /* half-open: one probe, the others wait for it */

    is_int(gov_breaker_ask(&b, 12000, 10000, &left), GOV_BREAKER_PROBE,
           "the open time over: one probe");
    is_int(gov_breaker_ask(&b, 12001, 10000, &left), GOV_BREAKER_REFUSE,
           "a second request while the probe is out: refused");
    is_int(left, GOV_BREAKER_PROBE_WAIT,
           "... to look again in a second: the probe's answer is near");
    is_int(gov_breaker_left(&b, 12001), GOV_BREAKER_PROBE_WAIT,
           "gov_breaker_left() says the same");
    is_int(gov_breaker_tell(&b, 0, 1, 12500, 5, 10000), GOV_BREAKER_OPENED,
           "the probe fails: open again");
    is_int(b.opened, 2, "opened twice");
    is_int(gov_breaker_ask(&b, 13000, 10000, &left), GOV_BREAKER_REFUSE,
           "open again: refused");
    is_int(left, 9500, "... for the whole open time from the probe's end");
    is_int(gov_breaker_left(&b, 13000), 9500, "gov_breaker_left() too");

    /* a probe that never answers: another after the open time */

    is_int(gov_breaker_ask(&b, 22500, 10000, &left), GOV_BREAKER_PROBE,
           "probe again");
    is_int(gov_breaker_ask(&b, 32500, 10000, &left), GOV_BREAKER_PROBE,
           "its answer never came: another probe an open time later");

    /* the probe succeeds: closed */

    is_int(gov_breaker_tell(&b, 1, 1, 32600, 5, 10000), GOV_BREAKER_CLOSING,
           "the probe answers: closed");
    is_int(gov_breaker_ask(&b, 32601, 10000, &left), GOV_BREAKER_PASS,
           "closed: requests pass again");
    is_int(gov_breaker_left(&b, 32601), 0, "... nothing left");
    is_int(b.failures, 0, "no failure in a row");
    ok(b.refused == 4, "four requests refused in all (%llu)",
       (unsigned long long) b.refused);

    /* a threshold of 0: never opens */

    memset(&b, 0, sizeof(b));

    for (i = 0; i < 100; i++) {
        (void) gov_breaker_tell(&b, 0, 0, 1000, 0, 10000);
    }

    is_int(gov_breaker_ask(&b, 1000, 10000, &left), GOV_BREAKER_PASS,
           "threshold 0 (off): a hundred failures, still closed");

    /* a success from a request sent before it opened closes it */

    memset(&b, 0, sizeof(b));

    for (i = 0; i < 3; i++) {
        (void) gov_breaker_tell(&b, 0, 0, 1000, 3, 10000);
    }

    is_int(gov_breaker_tell(&b, 1, 0, 1200, 3, 10000), GOV_BREAKER_CLOSING,
           "open, then an older request's success: closed");

    return done_testing();
}
