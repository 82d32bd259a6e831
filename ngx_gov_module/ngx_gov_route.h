
/*
 * Copyright (C) ngx_gov_module authors
 *
 * Routing by field (跨省通办): an item's backend and status URIs evaluated
 * for one application, $gov_field_NAME holding its fields, and the region
 * (gov_region) the URI leads to (ngx_gov_route.c).
 */


#ifndef _NGX_GOV_ROUTE_H_INCLUDED_
#define _NGX_GOV_ROUTE_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>
#include <jansson.h>

#include "ngx_gov_conf.h"


#define NGX_GOV_ROUTE_BACKEND  0
#define NGX_GOV_ROUTE_STATUS   1


/* $gov_field_NAME, at preconfiguration */
ngx_int_t ngx_gov_route_add_variables(ngx_conf_t *cf);

/*
 * The item's backend or status URI for an application with "fields" (its
 * "fields" object): the configured URI, or its variables evaluated afresh.
 * NGX_DECLINED (logged) when they make no location URI.
 */
ngx_int_t ngx_gov_route_uri(ngx_http_request_t *r, ngx_gov_item_t *it,
    ngx_uint_t which, json_t *fields, ngx_str_t *uri);

/* the region whose prefix the URI starts with (the longest), or NULL */
ngx_gov_region_t *ngx_gov_route_region(ngx_gov_bundles_conf_t *bc,
    ngx_str_t *uri);
ngx_gov_region_t *ngx_gov_route_region_id(ngx_gov_bundles_conf_t *bc,
    u_char *id, size_t len);

/* $gov_field_NAME holds "fields" in the subrequest sr, while it lives */
ngx_int_t ngx_gov_route_bind(ngx_http_request_t *sr, json_t *fields);


#endif /* _NGX_GOV_ROUTE_H_INCLUDED_ */
