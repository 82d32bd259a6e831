
/*
 * Copyright (C) ngx_gov_module authors
 */


/*
 * Single-flight locks across workers, in shared memory, that expire by
 * themselves.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_gov_shm.h"
#include "ngx_gov_lock.h"


#define NGX_GOV_LOCKS  1024


/* the time (ms) each lock expires, 0 when free */
static ngx_atomic_t  *ngx_gov_locks;


ngx_int_t
ngx_gov_lock_add_zone(ngx_conf_t *cf)
{
    return ngx_gov_shm_add(cf, "ngx_gov_locks",
                           NGX_GOV_LOCKS * sizeof(ngx_atomic_t),
                           (void **) &ngx_gov_locks);
}


/*
 * A lock across workers, in shared memory, that expires by itself: a
 * worker that dies holding it does not hold it for ever.  Two keys may
 * share a slot; the cost is a skipped refresh, never a wrong answer.
 */

ngx_uint_t
ngx_gov_lock_try(uint32_t hash, ngx_msec_t ttl)
{
    ngx_atomic_t       *slot;
    ngx_atomic_uint_t   old;

    if (ngx_gov_locks == NULL) {
        return 1;
    }

    slot = &ngx_gov_locks[hash % NGX_GOV_LOCKS];
    old = *slot;

    if (old != 0 && (ngx_msec_int_t) ((ngx_msec_t) old - ngx_current_msec) > 0)
    {
        return 0;
    }

    return ngx_atomic_cmp_set(slot, old,
                              (ngx_atomic_uint_t) (ngx_current_msec + ttl));
}


void
ngx_gov_lock_release(uint32_t hash)
{
    if (ngx_gov_locks) {
        ngx_gov_locks[hash % NGX_GOV_LOCKS] = 0;
    }
}


/*
 * Keep the lock until "until" (a point on ngx_current_msec's clock), so
 * that a lookup which read a stale "not yet refreshed" answer before the
 * holder's mark was stored does not start another round once it ends.
 */

void
ngx_gov_lock_release_at(uint32_t hash, ngx_msec_t until)
{
    if (ngx_gov_locks == NULL) {
        return;
    }

    ngx_gov_locks[hash % NGX_GOV_LOCKS] =
        ((ngx_msec_int_t) (until - ngx_current_msec) > 0) ? until : 0;
}
