
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

/* a file size for citizens, written into "buf" (32 bytes) */
const char *ngx_gov_size_text(json_int_t size, char *buf);

/*
 * The form of bundle "b": blank (doc NULL), or with the values of "doc"
 * and every problem of "problems" shown at its field; "uploads" (may be
 * NULL): HEX -> {"name","size"} of the files its materials name, shown as
 * already uploaded.
 */
ngx_int_t ngx_gov_apply_page(ngx_http_request_t *r, ngx_gov_bundle_t *b,
    json_t *doc, json_t *problems, json_t *uploads, ngx_uint_t status);


#endif /* _NGX_GOV_FORM_H_INCLUDED_ */
