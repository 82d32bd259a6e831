
/*
 * Copyright (C) ngx_gov_module authors
 *
 * gov_bundles: the list, the guide and the form page; submissions are
 * handed to the submission room (ngx_gov_guide.c).
 */


#ifndef _NGX_GOV_GUIDE_H_INCLUDED_
#define _NGX_GOV_GUIDE_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>


ngx_int_t ngx_http_gov_bundles_handler(ngx_http_request_t *r);


#endif /* _NGX_GOV_GUIDE_H_INCLUDED_ */
