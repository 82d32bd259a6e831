
/*
 * Copyright (C) ngx_gov_module authors
 *
 * The progress micro-cache in shared memory (gov_progress_cache).
 */


#ifndef _NGX_GOV_PCACHE_H_INCLUDED_
#define _NGX_GOV_PCACHE_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>


typedef struct {
    ngx_str_t                 subject;
    ngx_str_t                 actor;
    ngx_str_t                 etag;
    ngx_str_t                 body;
} ngx_gov_pcache_entry_t;


char *ngx_gov_pcache_directive(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
ngx_int_t ngx_gov_pcache_init_process(ngx_cycle_t *cycle);

/*
 * Where a lookup stood when it asked Redis for a document: an entry made
 * of the answer may outlive the ttl (up to "track") only if Redis has
 * reported every change since (ngx_gov_pcache_put()).
 */
typedef struct {
    ngx_uint_t                live;
    ngx_uint_t                epoch;
    uint32_t                  seq;
} ngx_gov_pcache_mark_t;

void ngx_gov_pcache_mark(ngx_gov_pcache_mark_t *m);

/*
 * NGX_OK with a copy in r->pool; NGX_DECLINED on a miss, or when the entry
 * is older than "max_age" (gov_progress_refresh)
 */
ngx_int_t ngx_gov_pcache_get(ngx_http_request_t *r, ngx_str_t *id,
    ngx_msec_t max_age, ngx_gov_pcache_entry_t *e);
/* "m": the mark taken before the document was asked for, or NULL */
void ngx_gov_pcache_put(ngx_http_request_t *r, ngx_str_t *id,
    ngx_gov_pcache_entry_t *e, ngx_gov_pcache_mark_t *m);

/* drops an application's cached document, in every worker at once */
void ngx_gov_pcache_drop(ngx_str_t *id);

/* "in" followed by the zone's figures for gov_status, in "pool" */
ngx_int_t ngx_gov_pcache_text(ngx_pool_t *pool, ngx_str_t *in,
    ngx_str_t *out);


#endif /* _NGX_GOV_PCACHE_H_INCLUDED_ */
