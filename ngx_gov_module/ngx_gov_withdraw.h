
/*
 * Copyright (C) ngx_gov_module authors
 *
 * Withdrawal (撤回, CONTRACT section 9): every open step of an application
 * moves to "withdrawn" in one script; departments that had a step are
 * told through the retry queue.
 */


#ifndef _NGX_GOV_WITHDRAW_H_INCLUDED_
#define _NGX_GOV_WITHDRAW_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include <jansson.h>

#include "ngx_gov_conf.h"


#define NGX_GOV_WITHDRAW_REASON_MAX  500


/*
 * Reads and checks the body ({"reason":...} as JSON, or the progress
 * page's form): 1 with *body (a new reference) and *form set, or 0 with
 * the answer's code in *rc.
 */
ngx_uint_t ngx_gov_withdraw_check(ngx_http_request_t *r, json_t **body,
    ngx_uint_t *form, ngx_int_t *rc);

/*
 * Withdraws application "id" for the applicant ("actor" empty unless an
 * agent acts): NGX_OK when the answer will follow (a browser's form: 303
 * to the progress page; else the progress document, 200), NGX_DECLINED
 * when Redis is down, NGX_ERROR.
 */
ngx_int_t ngx_gov_withdraw_store(ngx_http_request_t *r, ngx_str_t *id,
    json_t *body, ngx_uint_t form, ngx_str_t *actor);


#endif /* _NGX_GOV_WITHDRAW_H_INCLUDED_ */
