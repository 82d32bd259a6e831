
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


char *ngx_gov_events_directive(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
void ngx_gov_events_create_conf(ngx_gov_events_conf_t *ecf);
char *ngx_gov_events_init_conf(ngx_conf_t *cf, ngx_gov_events_conf_t *ecf,
    ngx_str_t *prefix);

/*
 * "body" (a script that may call gov_event(APPKEY, ID, TYPE, ITEM, FROM,
 * TO, KEY, VALUE), the last five optional) with the function defined
 * before it, and the statistics' functions (ngx_gov_tally.c): gov_event
 * is a no-op without
 * gov_events.  Built once per worker.
 */
const char *ngx_gov_events_script(const char *body, size_t len,
    size_t *out_len);

/*
 * The head of the command that runs such a script about one application:
 * argv[0..4] = EVAL, the script as above, no keys, the prefix, the id.
 */
void ngx_gov_events_cmd(const char **argv, size_t *argvlen,
    const char *body, size_t len, ngx_str_t *prefix, ngx_str_t *id);


#endif /* _NGX_GOV_EVENTS_H_INCLUDED_ */
