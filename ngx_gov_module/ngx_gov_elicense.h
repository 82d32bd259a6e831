
/*
 * Copyright (C) ngx_gov_module authors
 *
 * E-licences (电子证照, ngx_gov_elicense.c): "gov_elicense URI" checks each
 * material a citizen gives as "elicense" against the licence library, in
 * parallel subrequests, the answers cached in Redis.
 */


#ifndef _NGX_GOV_ELICENSE_H_INCLUDED_
#define _NGX_GOV_ELICENSE_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_gov_conf.h"


/*
 * The checks' end: NGX_OK with "missing" the materials the library does
 * not hold for the holder (a new reference, maybe empty), or NGX_DECLINED
 * when the library or Redis could not answer (then "missing" is NULL).
 */
typedef void (*ngx_gov_elicense_done_pt)(ngx_http_request_t *r, void *data,
    ngx_int_t rc, json_t *missing);

char *ngx_gov_elicense_directive(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);

/* 1 when gov_elicense is set */
ngx_uint_t ngx_gov_elicense_on(ngx_http_request_t *r);

/* seconds until the library is asked again (its breaker open), else 1 */
time_t ngx_gov_elicense_left(ngx_http_request_t *r);

/*
 * Checks the material ids in "materials" (a JSON array) for "holder";
 * "done" follows (never before this returns).  NGX_OK, or NGX_ERROR.
 */
ngx_int_t ngx_gov_elicense_check(ngx_http_request_t *r, ngx_str_t *holder,
    json_t *materials, ngx_gov_elicense_done_pt done, void *data);


#endif /* _NGX_GOV_ELICENSE_H_INCLUDED_ */
