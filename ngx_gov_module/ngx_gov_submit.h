
/*
 * Copyright (C) ngx_gov_module authors
 *
 * Submissions (ngx_gov_submit.c).
 */


#ifndef _NGX_GOV_SUBMIT_H_INCLUDED_
#define _NGX_GOV_SUBMIT_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>


/* POST /bundles/ID/applications: reads the body, then submits */
ngx_int_t ngx_gov_submit_handler(ngx_http_request_t *r);


#endif /* _NGX_GOV_SUBMIT_H_INCLUDED_ */
