
/*
 * Copyright (C) ngx_gov_module authors
 */


#include "gov_backoff.h"


uint64_t
gov_backoff_delay(unsigned attempt, uint64_t base, uint64_t cap, uint32_t rnd)
{
    uint64_t  delay, half;

    if (base == 0) {
        return 0;
    }

    if (cap < base) {
        cap = base;
    }

    delay = base;

    while (attempt-- > 0) {
        if (delay >= cap / 2) {
            delay = cap;
            break;
        }

        delay *= 2;
    }

    if (delay > cap) {
        delay = cap;
    }

    half = delay / 2;

    delay = half + rnd % (delay - half + 1);

    return delay ? delay : 1;
}
