
/*
 * Copyright (C) ngx_gov_module authors
 *
 * Subrequests with headers of their own (ngx_gov_subreq.c): what the
 * dispatch of steps, the notifications and the OpenID Connect client send
 * to internal locations.
 */


#ifndef _NGX_GOV_SUBREQ_H_INCLUDED_
#define _NGX_GOV_SUBREQ_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_gov_breaker.h"


/*
 * A background subrequest, its answer kept in memory, to the location
 * "uri" (with "args" when not NULL): a GET when "payload" is NULL, else a
 * POST of "payload" as "content_type".  It carries Content-Type and
 * Content-Length (a POST) and the "n" headers given; nothing of the
 * request it hangs from is passed on but the Host.  "srp", when not
 * NULL, gets the subrequest.  The handler of "ps" runs once.  With a
 * handler, "uri" is a target with a circuit breaker (ngx_gov_breaker.h):
 * NGX_DECLINED, nothing sent, while it is open.
 */
ngx_int_t ngx_gov_subrequest(ngx_http_request_t *r, ngx_str_t *uri,
    ngx_str_t *args, const char *content_type, ngx_str_t *payload,
    const char **names, ngx_str_t *values, ngx_uint_t n,
    ngx_http_post_subrequest_t *ps, ngx_http_request_t **srp);

/*
 * The URI of a location subrequests go to, as a directive "cmd" names it
 * (its first argument): "/...", printable ASCII, no '"'; with "no_args"
 * no '?' either.  NGX_CONF_OK, or NGX_CONF_ERROR with the mistake said.
 */
char *ngx_gov_subrequest_conf_uri(ngx_conf_t *cf, ngx_command_t *cmd,
    ngx_str_t *uri, ngx_uint_t no_args);

/* the same to "uri" (a path below "target"), whose breaker is target's */
ngx_int_t ngx_gov_subrequest_at(ngx_http_request_t *r, ngx_str_t *target,
    ngx_str_t *uri, ngx_str_t *args, const char *content_type,
    ngx_str_t *payload, const char **names, ngx_str_t *values, ngx_uint_t n,
    ngx_http_post_subrequest_t *ps, ngx_http_request_t **srp);

/*
 * "ps" whose handler runs once, whatever nginx does (NULL: out of
 * memory); ngx_gov_subrequest() wraps its own, a caller of
 * ngx_http_subrequest() wraps with this.
 */
ngx_http_post_subrequest_t *ngx_gov_subrequest_once(ngx_pool_t *pool,
    ngx_http_post_subrequest_t *ps);

/*
 * The breaker of "target" for a subrequest whose "ps" came from
 * ngx_gov_subrequest_once(): NGX_OK to send it (its answer is told to
 * the breaker), NGX_DECLINED while the breaker is open.
 */
ngx_int_t ngx_gov_subrequest_guard(ngx_http_request_t *r, ngx_str_t *target,
    ngx_http_post_subrequest_t *ps);

/*
 * In a subrequest's handler: whether to log its failure (at most once a
 * second per target), "more" what the line ends with (see
 * ngx_gov_breaker_say(); "buf": NGX_GOV_BREAKER_MORE_LEN bytes).
 */
ngx_uint_t ngx_gov_subrequest_say(u_char *buf, ngx_str_t *more);

/* Retry-After for a target: the seconds its breaker stays open, at least 1 */
time_t ngx_gov_subrequest_retry_after(ngx_str_t *target);

/* the answer of a subrequest: its status (0: none) and body in memory */
ngx_uint_t ngx_gov_subrequest_answer(ngx_http_request_t *sr, ngx_int_t rc,
    ngx_str_t *body);


#endif /* _NGX_GOV_SUBREQ_H_INCLUDED_ */
