
/*
 * Copyright (C) ngx_gov_module authors
 *
 * A circuit breaker per dependency target (a location the module sends
 * subrequests to), shared by the workers of a node (ngx_gov_breaker.c),
 * and a limit on how often one target's failures are logged.
 */


#ifndef _NGX_GOV_BREAKER_H_INCLUDED_
#define _NGX_GOV_BREAKER_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>


#define NGX_GOV_BREAKER_NONE  ((ngx_uint_t) -1)


ngx_int_t ngx_gov_breaker_add_zone(ngx_conf_t *cf);

/* "gov_breaker failures=N open=TIME | off" (http) */
char *ngx_gov_breaker_directive(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);

/*
 * May a request go to "target"?  NGX_OK, with *slot its breaker (or
 * NGX_GOV_BREAKER_NONE) and *probe set when it is the one half-open
 * probe; NGX_DECLINED while the breaker is open, *left the milliseconds
 * until the next probe.
 */
ngx_int_t ngx_gov_breaker_ask(ngx_log_t *log, ngx_str_t *target,
    ngx_uint_t *slot, ngx_uint_t *probe, ngx_msec_t *left);

/* the answer of a request ngx_gov_breaker_ask() let go ("status" 0: none) */
void ngx_gov_breaker_tell(ngx_log_t *log, ngx_uint_t slot, ngx_uint_t probe,
    ngx_uint_t status);

/*
 * Whether a failure of the target's is logged: at most once a second per
 * target and node.  0: not this one (counted); else "more" is set to what
 * the line ends with: "" or " (and N more in the last S s)" ("buf" holds
 * it, NGX_GOV_BREAKER_MORE_LEN bytes).
 */
#define NGX_GOV_BREAKER_MORE_LEN  64
ngx_uint_t ngx_gov_breaker_say(ngx_uint_t slot, u_char *buf,
    ngx_str_t *more);

/* seconds until "target" may be tried again: 0 if it may now */
time_t ngx_gov_breaker_left(ngx_str_t *target);

/* "in" with the breakers' figures after it, in the Prometheus format */
ngx_int_t ngx_gov_breaker_text(ngx_pool_t *pool, ngx_str_t *in,
    ngx_str_t *out);


#endif /* _NGX_GOV_BREAKER_H_INCLUDED_ */
