
/*
 * Copyright (C) ngx_gov_module authors
 *
 * The statistics' counters (ngx_gov_tally.c): Lua functions every
 * changing script has before it, so that what it changes is counted in
 * the same atomic step; the clock those scripts count by; and a number
 * this node's workers move on every counted change, so that a page of
 * figures is drawn again only when they may have changed.
 */


#ifndef _NGX_GOV_TALLY_H_INCLUDED_
#define _NGX_GOV_TALLY_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>

#include "gov_calendar.h"


/* "YYYY-MM DAY WORKDAYS 0|1": the month, day number, ordinal, workday */
#define NGX_GOV_TALLY_CLOCK_LEN  (sizeof("2026-12 ") - 1 + 2 * NGX_INT_T_LEN \
                                  + 4)


ngx_int_t ngx_gov_tally_add_zone(ngx_conf_t *cf);

/* the Lua functions, for a key prefix: their size, then written at "p" */
size_t ngx_gov_tally_lua_size(ngx_str_t *prefix);
u_char *ngx_gov_tally_lua(u_char *p, ngx_str_t *prefix);

/* the clock of "now" by calendar "cal" (NULL: weekends only) */
size_t ngx_gov_tally_clock(const gov_calendar_t *cal, time_t now, u_char *buf);

void ngx_gov_tally_touch(void);
ngx_atomic_uint_t ngx_gov_tally_generation(void);


#endif /* _NGX_GOV_TALLY_H_INCLUDED_ */
