
/*
 * Copyright (C) ngx_gov_module authors
 */


/*
 * Application-id high-water marks in shared memory: the highest sequence
 * this node issued today per bundle, kept across reloads, so that ids
 * continue above it if Redis comes back without its data.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_gov_shm.h"
#include "ngx_gov_idmark.h"


/* per bundle, the highest application sequence issued: day << 20 | n */
static ngx_atomic_t  *ngx_gov_idmarks;


ngx_int_t
ngx_gov_idmark_add_zone(ngx_conf_t *cf)
{
    return ngx_gov_shm_add(cf, "ngx_gov_idmarks",
                           NGX_GOV_IDMARK_BUNDLES * sizeof(ngx_atomic_t),
                           (void **) &ngx_gov_idmarks);
}


/*
 * The highest sequence number this node issued today for a bundle's
 * application ids, kept across reloads: if Redis comes back without its
 * data, new ids continue above it instead of repeating ids that
 * departments already know.
 */

ngx_uint_t
ngx_gov_idmark_get(ngx_uint_t bundle, ngx_uint_t day)
{
    ngx_atomic_uint_t  v;

    if (ngx_gov_idmarks == NULL || bundle >= NGX_GOV_IDMARK_BUNDLES) {
        return 0;
    }

    v = ngx_gov_idmarks[bundle];

    return (v >> 20) == day ? (ngx_uint_t) (v & 0xfffff) : 0;
}


void
ngx_gov_idmark_seen(ngx_uint_t bundle, ngx_uint_t day, ngx_uint_t n)
{
    ngx_atomic_uint_t  old, v;

    if (ngx_gov_idmarks == NULL || bundle >= NGX_GOV_IDMARK_BUNDLES
        || n > 0xfffff)
    {
        return;
    }

    v = ((ngx_atomic_uint_t) day << 20) | n;

    for ( ;; ) {
        old = ngx_gov_idmarks[bundle];

        if (old >= v
            || ngx_atomic_cmp_set(&ngx_gov_idmarks[bundle], old, v))
        {
            return;
        }
    }
}
