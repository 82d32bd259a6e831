
/*
 * Copyright (C) ngx_gov_module authors
 *
 * Single-flight locks across workers that expire by themselves
 * (ngx_gov_lock.c).
 */


#ifndef _NGX_GOV_LOCK_H_INCLUDED_
#define _NGX_GOV_LOCK_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>


ngx_int_t ngx_gov_lock_add_zone(ngx_conf_t *cf);

/* 1 when the lock of "hash" was free (or expired) and is now held */
ngx_uint_t ngx_gov_lock_try(uint32_t hash, ngx_msec_t ttl);
void ngx_gov_lock_release(uint32_t hash);

/* keeps the lock until "until" (on ngx_current_msec's clock) */
void ngx_gov_lock_release_at(uint32_t hash, ngx_msec_t until);


#endif /* _NGX_GOV_LOCK_H_INCLUDED_ */
