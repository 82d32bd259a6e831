
/*
 * Copyright (C) ngx_gov_module authors
 *
 * The outbox (ngx_gov_events.c): every script that changes an application
 * appends its event to a Redis stream in the same step.
 */


#ifndef _NGX_GOV_EVENTS_H_INCLUDED_
#define _NGX_GOV_EVENTS_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_gov_conf.h"
#include "ngx_gov_redis.h"


char *ngx_gov_events_directive(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
void ngx_gov_events_create_conf(ngx_gov_events_conf_t *ecf);
char *ngx_gov_events_init_conf(ngx_conf_t *cf, ngx_gov_events_conf_t *ecf,
    ngx_str_t *prefix);

/*
 * "body" (a script that may call gov_event(APPKEY, ID, TYPE, ITEM, FROM,
 * TO, KEY, VALUE), the last five optional, and returns the event's id)
 * with the function defined before it, and the statistics' functions
 * (ngx_gov_tally.c): gov_event is a no-op without gov_events.  A script
 * that changes when an application may leave Redis (gov_retention) says
 * first when the change is, gov_now(MS), on the node's clock; else it is
 * Redis's.  Built once per worker.
 */
const char *ngx_gov_events_script(const char *body, size_t len,
    size_t *out_len);

/*
 * The head of the command that runs such a script about one application:
 * argv[0..4] = EVAL, the script as above, no keys yet, the tag of the
 * application's shard (set in "tag"), the id.
 */
ngx_int_t ngx_gov_events_cmd(ngx_pool_t *pool, const char **argv,
    size_t *argvlen, const char *body, size_t len, ngx_str_t *prefix,
    ngx_str_t *id, ngx_str_t *tag);


/*
 * The keys a script declares (README, "Keys in Redis Cluster"), in the
 * shard "tag", as "spec" names them, space-separated: "app:%" is
 * TAGapp:ID ("%" the id), "retry" is TAGretry, "stats" the month's and
 * the year's counters of now, "events" the stream of the outbox (a key
 * of the shard by that name without gov_events, so that the count stays
 * the same) and the "final" set gov_event() keeps for gov_retention.  Written into "buf" (NGX_GOV_EVENTS_KEYS_BUF bytes); returns
 * the number of keys, or 0 when they do not fit.
 */
#define NGX_GOV_EVENTS_KEYS_BUF  2048

ngx_uint_t ngx_gov_events_keys(u_char *buf, ngx_str_t *tag, ngx_str_t *id,
    const char *spec, ngx_str_t *keys, ngx_uint_t max);

/*
 * The same into an EVAL's argv (argv[2] "0"), from "pool", and then the
 * uploads' records ("TAGup:HEX") of the "nup" hexes in "up", if any.
 */
ngx_int_t ngx_gov_events_eval_keys(ngx_pool_t *pool, ngx_str_t *tag,
    ngx_str_t *id, const char *spec, const char **up, size_t *uplen,
    ngx_uint_t nup, ngx_gov_redis_args_t *cmd);


#endif /* _NGX_GOV_EVENTS_H_INCLUDED_ */
