
/*
 * Copyright (C) ngx_gov_module authors
 *
 * Retention and the archive (ngx_gov_archive.c, CONTRACT section 16):
 * "gov_retention" takes final applications out of Redis once the
 * "gov_archive_notify" target acknowledged their "archived" event, and
 * "gov_archive" answers lookups of the applications no longer in Redis.
 */


#ifndef _NGX_GOV_ARCHIVE_H_INCLUDED_
#define _NGX_GOV_ARCHIVE_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_gov_conf.h"
#include "ngx_gov_redis.h"


/*
 * The end of an archive lookup: NGX_OK with "reply" what the lookup's
 * Redis reads would have given (ngx_gov_progress.c: the six fields, the
 * steps, the wrong codes as "fails" said, a refresh not due), in the
 * request's pool; NGX_DECLINED when the archive does not hold it (404);
 * NGX_ERROR when the archive could not say (503).
 */
typedef void (*ngx_gov_archive_done_pt)(ngx_http_request_t *r, void *data,
    ngx_int_t rc, redisReply *reply);

char *ngx_gov_retention_directive(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
char *ngx_gov_archive_directive(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
char *ngx_gov_archive_init_conf(ngx_conf_t *cf,
    ngx_http_gov_main_conf_t *gmcf);

ngx_int_t ngx_gov_archive_init_process(ngx_cycle_t *cycle);
void ngx_gov_archive_exit_process(ngx_cycle_t *cycle);

/* 1 when gov_archive is set */
ngx_uint_t ngx_gov_archive_on(ngx_http_request_t *r);

/* seconds until the archive is asked again (its breaker open), else 1 */
time_t ngx_gov_archive_left(ngx_http_request_t *r);

/*
 * Asks the archive for application "id" on behalf of "subject" (may be
 * empty); "fails" is the wrong query codes counted in Redis (NULL: none).
 * "done" follows, never before this returns.  NGX_OK; NGX_DECLINED while
 * the archive's breaker is open; NGX_ERROR.
 */
ngx_int_t ngx_gov_archive_fetch(ngx_http_request_t *r, ngx_str_t *id,
    ngx_str_t *subject, ngx_str_t *fails, ngx_gov_archive_done_pt done,
    void *data);

/*
 * The acknowledgement of an archived event by the gov_archive_notify
 * target (run by ngx_gov_notify.c in place of its plain one, same ARGV:
 * stream, group, consumer, order lists, event id, application): acknowledged,
 * and the application removed if that event still carries its last
 * document.
 */
const char *ngx_gov_archive_ack_script(size_t *len);


#endif /* _NGX_GOV_ARCHIVE_H_INCLUDED_ */
