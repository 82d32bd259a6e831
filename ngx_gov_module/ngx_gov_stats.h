
/*
 * Copyright (C) ngx_gov_module authors
 *
 * Public statistics and rectification (ngx_gov_stats.c): gov_stats
 * publishes the figures the changing scripts count, as JSON and as a page
 * with server-drawn charts; operators list open bad ratings and rectify
 * them (gov_operator_claim).
 */


#ifndef _NGX_GOV_STATS_H_INCLUDED_
#define _NGX_GOV_STATS_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_gov_conf.h"


/* how long a worker answers figures from memory when nothing changed */
#define NGX_GOV_STATS_TTL         10000

ngx_int_t ngx_gov_stats_handler(ngx_http_request_t *r);
char *ngx_gov_stats_args(ngx_conf_t *cf, ngx_http_gov_loc_conf_t *glcf);
char *ngx_gov_operator_claim_directive(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
void ngx_gov_stats_init_main_conf(ngx_http_gov_main_conf_t *gmcf);
void ngx_gov_stats_exit_process(ngx_cycle_t *cycle);


#endif /* _NGX_GOV_STATS_H_INCLUDED_ */
