
/*
 * Copyright (C) ngx_gov_module authors
 *
 * 好差评 ratings (ngx_gov_rating.c).
 */


#ifndef _NGX_GOV_RATING_H_INCLUDED_
#define _NGX_GOV_RATING_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include <jansson.h>

/*
 * Reads and checks a rating's body (JSON, or the progress page's form):
 * 1 with *body (a new reference) and *form set, or 0 with the answer's
 * code in *rc.
 */
ngx_uint_t ngx_gov_rating_check(ngx_http_request_t *r, json_t **body,
    ngx_uint_t *form, ngx_int_t *rc);

/*
 * Stores the rating of a finished application ("app" its document) once:
 * NGX_OK when the answer will follow, NGX_DECLINED when Redis is down,
 * NGX_ERROR.
 */
ngx_int_t ngx_gov_rating_store(ngx_http_request_t *r, ngx_str_t *id,
    json_t *body, ngx_uint_t form, json_t *app);


#endif /* _NGX_GOV_RATING_H_INCLUDED_ */
