
/*
 * Copyright (C) ngx_gov_module authors
 *
 * gov_progress: progress lookups, and the entry of ratings
 * (ngx_gov_progress.c).
 */


#ifndef _NGX_GOV_PROGRESS_H_INCLUDED_
#define _NGX_GOV_PROGRESS_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>


ngx_int_t ngx_http_gov_progress_handler(ngx_http_request_t *r);
void ngx_gov_progress_exit_process(ngx_cycle_t *cycle);


#endif /* _NGX_GOV_PROGRESS_H_INCLUDED_ */
