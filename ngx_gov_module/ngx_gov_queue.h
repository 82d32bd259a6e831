
/*
 * Copyright (C) ngx_gov_module authors
 *
 * The waiting room (ngx_gov_queue.c, CONTRACT section 11).
 */


#ifndef _NGX_GOV_QUEUE_H_INCLUDED_
#define _NGX_GOV_QUEUE_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>


char *ngx_gov_queue_zone_directive(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
char *ngx_gov_queue_directive(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);

void ngx_gov_queue_init_loc_conf(void *glcf);
void ngx_gov_queue_merge_loc_conf(void *prev, void *conf);

ngx_int_t ngx_gov_queue_postconfiguration(ngx_conf_t *cf);

ngx_int_t ngx_gov_queue_init_process(ngx_cycle_t *cycle);
void ngx_gov_queue_exit_process(ngx_cycle_t *cycle);


#endif /* _NGX_GOV_QUEUE_H_INCLUDED_ */
