
/*
 * Copyright (C) ngx_gov_module authors
 *
 * Exponential backoff with jitter.  No nginx header: unit-tested alone.
 */


#ifndef _GOV_BACKOFF_H_INCLUDED_
#define _GOV_BACKOFF_H_INCLUDED_


#include <stdint.h>


/*
 * Returns the delay in milliseconds before attempt number "attempt"
 * (0 for the first retry): base * 2^attempt, capped at "cap", then
 * "equal jitter": a value drawn uniformly from [delay / 2, delay] using
 * "rnd" (any 32-bit random value).  Never returns 0 when base > 0.
 */
uint64_t gov_backoff_delay(unsigned attempt, uint64_t base, uint64_t cap,
    uint32_t rnd);


#endif /* _GOV_BACKOFF_H_INCLUDED_ */
