
/*
 * Copyright (C) ngx_gov_module authors
 *
 * Dispatch to the departments and the retry queue (ngx_gov_dispatch.c).
 */


#ifndef _NGX_GOV_DISPATCH_H_INCLUDED_
#define _NGX_GOV_DISPATCH_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include <jansson.h>

#include "ngx_gov_conf.h"

/* a claimed step is pushed this far ahead in the retry queue (ms) */
#define NGX_GOV_LEASE_MS          30000


/* what became of one step */
#define NGX_GOV_OUT_PENDING       0
#define NGX_GOV_OUT_RECEIVED      1
#define NGX_GOV_OUT_REFUSED       2
#define NGX_GOV_OUT_FAILED        3
#define NGX_GOV_OUT_HELD          4     /* not tried: its breaker is open */


typedef struct ngx_gov_batch_s  ngx_gov_batch_t;


typedef struct {
    ngx_gov_batch_t          *batch;
    ngx_gov_item_t           *item;
    ngx_str_t                 app_id;
    ngx_uint_t                attempts;
    ngx_uint_t                outcome;
    ngx_msec_t                held;         /* HELD: its breaker's time left */
    ngx_str_t                 text;         /* receipt or refusal reason */
    ngx_uint_t                notice;       /* NGX_GOV_NOTICE_* */
} ngx_gov_dispatch_t;


/* what a delivery is: the step, or news of it */
#define NGX_GOV_NOTICE_NONE        0
#define NGX_GOV_NOTICE_WITHDRAWAL  1     /* X-Gov-Withdrawal: 1 */
#define NGX_GOV_NOTICE_CORRECTION  2     /* X-Gov-Correction: 1, the answer */
#define NGX_GOV_NOTICE_SUPPLEMENT  3     /* X-Gov-Supplement: 1, promised
                                            materials (容缺受理) */


/* a set of steps sent together, from a client request or a fake one */

struct ngx_gov_batch_s {
    ngx_http_request_t       *request;
    ngx_gov_dispatch_t       *steps;
    ngx_uint_t                nsteps;
    ngx_uint_t                pending;
    ngx_uint_t                fake;
    ngx_event_t               free_ev;
    void                    (*done)(ngx_gov_batch_t *batch);
    void                     *data;
};


/* the POST body a department gets for one item of an application */
json_t *ngx_gov_payload(json_t *doc, ngx_str_t *id, ngx_gov_item_t *item);

ngx_gov_batch_t *ngx_gov_batch_create(ngx_http_request_t *r, ngx_uint_t n);

/*
 * sends one step: a background subrequest to the item's backend, routed
 * by the application's "fields" when it has variables
 */
ngx_int_t ngx_gov_dispatch(ngx_gov_batch_t *batch, ngx_gov_dispatch_t *d,
    ngx_str_t *payload, ngx_str_t *subject, ngx_str_t *actor,
    json_t *fields);

ngx_int_t ngx_gov_dispatch_init_process(ngx_cycle_t *cycle);
void ngx_gov_dispatch_exit_process(ngx_cycle_t *cycle);

/* a request without a client, for subrequests a timer starts */
ngx_http_request_t *ngx_gov_fake_request(ngx_cycle_t *cycle);
void ngx_gov_fake_request_free(ngx_http_request_t *r);


#endif /* _NGX_GOV_DISPATCH_H_INCLUDED_ */
