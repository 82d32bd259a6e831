
/*
 * Copyright (C) ngx_gov_module authors
 *
 * The application form page (ngx_gov_form.c).
 */


#ifndef _NGX_GOV_FORM_H_INCLUDED_
#define _NGX_GOV_FORM_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include <jansson.h>

#include "ngx_gov_conf.h"

/*
 * The form of bundle "b": blank (doc NULL), or with the values of "doc"
 * and every problem of "problems" shown at its field.
 */
ngx_int_t ngx_gov_apply_page(ngx_http_request_t *r, ngx_gov_bundle_t *b,
    json_t *doc, json_t *problems, ngx_uint_t status);


#endif /* _NGX_GOV_FORM_H_INCLUDED_ */
