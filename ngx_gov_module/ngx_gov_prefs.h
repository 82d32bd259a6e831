
/*
 * Copyright (C) ngx_gov_module authors
 *
 * A citizen's page preferences (ngx_gov_prefs.c): the text size.
 */


#ifndef _NGX_GOV_PREFS_H_INCLUDED_
#define _NGX_GOV_PREFS_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>


ngx_int_t ngx_gov_text_size_handler(ngx_http_request_t *r);


#endif /* _NGX_GOV_PREFS_H_INCLUDED_ */
