
/*
 * Copyright (C) ngx_gov_module authors
 *
 * Notifications (ngx_gov_notify.c): each gov_notify target a consumer
 * group of the events stream, read by the workers of every node.
 */


#ifndef _NGX_GOV_NOTIFY_H_INCLUDED_
#define _NGX_GOV_NOTIFY_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_gov_conf.h"


char *ngx_gov_notify_directive(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
char *ngx_gov_archive_notify_directive(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
char *ngx_gov_notify_init_conf(ngx_conf_t *cf,
    ngx_http_gov_main_conf_t *gmcf);

ngx_int_t ngx_gov_notify_init_process(ngx_cycle_t *cycle);
void ngx_gov_notify_exit_process(ngx_cycle_t *cycle);


#endif /* _NGX_GOV_NOTIFY_H_INCLUDED_ */
