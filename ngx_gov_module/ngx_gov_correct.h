
/*
 * Copyright (C) ngx_gov_module authors
 *
 * Answering a correction request online (补正, CONTRACT section 9): the
 * citizen's answer read, checked against what the department asked, and
 * persisted; the retry queue then delivers it with X-Gov-Correction: 1.
 */


#ifndef _NGX_GOV_CORRECT_H_INCLUDED_
#define _NGX_GOV_CORRECT_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include <jansson.h>

#include "ngx_gov_conf.h"


/*
 * The body as {"fields":{...},"materials":{...}}, from JSON or a form:
 * 1 with *doc (a new reference), or 0 with the answer's code in *rc.
 */
ngx_uint_t ngx_gov_correct_read(ngx_http_request_t *r, json_t **doc,
    ngx_int_t *rc);

/*
 * Exactly what "request" (the step's correction) asked, each value
 * checked as a submission's: NULL, or the problems (a new reference,
 * {"error":"invalid_correction","missing":[...],"invalid":[...]}).
 */
json_t *ngx_gov_correct_check(ngx_gov_bundle_t *b, json_t *request,
    json_t *doc);

/*
 * Persists the answer for step "it" of "id": "done" then runs with 0 when
 * it was kept, or the answer's HTTP status and error (409, 422 with
 * unknown_upload, 503).  NGX_OK, NGX_DECLINED (Redis down), NGX_ERROR.
 */
typedef void (*ngx_gov_correct_done_pt)(ngx_http_request_t *r, void *data,
    ngx_uint_t status, const char *error);

ngx_int_t ngx_gov_correct_store(ngx_http_request_t *r, ngx_str_t *id,
    ngx_str_t *item, json_t *doc, ngx_str_t *subject, ngx_str_t *actor,
    ngx_gov_correct_done_pt done, void *data);

/*
 * 容缺受理: persists promised materials supplied ("doc" checked by
 * gov_app_supply_check()) for application "id" of bundle "b", to be
 * delivered to each open step that needs them; "done" as above (409
 * not_promised when one was supplied meanwhile, application_closed when
 * no step is open).
 */
ngx_int_t ngx_gov_supply_store(ngx_http_request_t *r, ngx_str_t *id,
    ngx_gov_bundle_t *b, json_t *doc, ngx_str_t *subject, ngx_str_t *actor,
    ngx_gov_correct_done_pt done, void *data);


#endif /* _NGX_GOV_CORRECT_H_INCLUDED_ */
