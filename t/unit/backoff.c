
/*
 * Copyright (C) ngx_gov_module authors
 *
 * Unit tests of gov_backoff_delay().
 */


#include <stdint.h>

#include "tap.h"
#include "gov_backoff.h"


int
main(void)
{
    unsigned  a;
    uint64_t  d, prev_max;

    /* no jitter at the top of the range: rnd chosen to hit delay */
    is_int(gov_backoff_delay(0, 100, 5000, 50), 100,
           "first retry: base, upper end");
    is_int(gov_backoff_delay(0, 100, 5000, 0), 50,
           "first retry: base, lower end is half");
    is_int(gov_backoff_delay(1, 100, 5000, 100), 200, "second retry doubles");
    is_int(gov_backoff_delay(3, 100, 5000, 400), 800, "fourth retry: 8x");
    is_int(gov_backoff_delay(10, 100, 5000, 2500), 5000, "capped at max");
    is_int(gov_backoff_delay(1000, 100, 5000, 2500), 5000,
           "huge attempt counts do not overflow");
    is_int(gov_backoff_delay(64, 1, UINT64_MAX, 0), UINT64_MAX / 2,
           "no overflow near UINT64_MAX");
    is_int(gov_backoff_delay(5, 0, 5000, 7), 0, "zero base: no delay");
    is_int(gov_backoff_delay(0, 100, 10, 0), 50, "cap below base: base");
    is_int(gov_backoff_delay(0, 1, 1, 0), 1, "never 0 for a positive base");

    /* every value stays in [delay/2, delay] whatever the random input */
    prev_max = 0;

    for (a = 0; a < 12; a++) {
        uint64_t  lo = UINT64_MAX, hi = 0;
        uint32_t  r;

        for (r = 0; r < 5000; r += 7) {
            d = gov_backoff_delay(a, 50, 2000, r * 2654435761u);
            if (d < lo) {
                lo = d;
            }
            if (d > hi) {
                hi = d;
            }
        }

        ok(hi <= 2000 && lo >= hi / 2 && hi >= prev_max,
           "attempt %u: jitter in [%llu, %llu], not shrinking", a,
           (unsigned long long) lo, (unsigned long long) hi);

        prev_max = hi;
    }

    return done_testing();
}
