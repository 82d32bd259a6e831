
/*
 * Copyright (C) ngx_gov_module authors
 *
 * Application-id high-water marks in shared memory (ngx_gov_idmark.c).
 */


#ifndef _NGX_GOV_IDMARK_H_INCLUDED_
#define _NGX_GOV_IDMARK_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>


#define NGX_GOV_IDMARK_BUNDLES  64


ngx_int_t ngx_gov_idmark_add_zone(ngx_conf_t *cf);

/* the highest sequence issued on "day" for the bundle, 0 if none */
ngx_uint_t ngx_gov_idmark_get(ngx_uint_t bundle, ngx_uint_t day);

/* raises the mark to "n" if it is higher */
void ngx_gov_idmark_seen(ngx_uint_t bundle, ngx_uint_t day, ngx_uint_t n);


#endif /* _NGX_GOV_IDMARK_H_INCLUDED_ */
