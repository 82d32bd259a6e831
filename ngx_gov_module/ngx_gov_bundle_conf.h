
/*
 * Copyright (C) ngx_gov_module authors
 *
 * The configuration of bundles: gov_material, gov_field, gov_item {},
 * gov_bundle {}, gov_calendar, checked and compiled when the
 * configuration loads; and the lookups of the model (ngx_gov_bundle_conf.c).
 */


#ifndef _NGX_GOV_BUNDLE_CONF_H_INCLUDED_
#define _NGX_GOV_BUNDLE_CONF_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_gov_conf.h"

ngx_gov_bundles_conf_t *ngx_gov_bundles_conf(ngx_conf_t *cf);
gov_app_match_pt ngx_gov_bundles_matcher(void);
char *ngx_gov_bundles_init_conf(ngx_conf_t *cf, ngx_gov_bundles_conf_t *bc);

char *ngx_gov_material(ngx_conf_t *cf, ngx_command_t *cmd, void *conf);
char *ngx_gov_field(ngx_conf_t *cf, ngx_command_t *cmd, void *conf);
char *ngx_gov_item(ngx_conf_t *cf, ngx_command_t *cmd, void *conf);
char *ngx_gov_bundle(ngx_conf_t *cf, ngx_command_t *cmd, void *conf);
char *ngx_gov_calendar(ngx_conf_t *cf, ngx_command_t *cmd, void *conf);
char *ngx_gov_region(ngx_conf_t *cf, ngx_command_t *cmd, void *conf);

/*
 * The index of the element "id" names in "a" (materials, fields, items,
 * bundles, regions: each starts with its ngx_str_t id), or NGX_ERROR.
 */
ngx_int_t ngx_gov_find(ngx_array_t *a, size_t size, ngx_str_t *id);

/* the bundles of a request's configuration */
ngx_gov_bundles_conf_t *ngx_gov_bc(ngx_http_request_t *r);
ngx_gov_bundle_t *ngx_gov_find_bundle(ngx_gov_bundles_conf_t *bc, u_char *id,
    size_t len);

/* the bundle of an application id (its code prefix) */
ngx_gov_bundle_t *ngx_gov_app_bundle(ngx_gov_bundles_conf_t *bc,
    ngx_str_t *id);

/* 1 when some item of the bundle has a status URI to ask */
ngx_uint_t ngx_gov_bundle_asks(ngx_gov_bundles_conf_t *bc,
    ngx_gov_bundle_t *b);

/* the bundle the request's URI names after the location's prefix */
ngx_gov_bundle_t *ngx_gov_uri_bundle(ngx_http_request_t *r);

/*
 * Situations (情形): which of the bundle's items an application's fields
 * choose (chosen[j] for the bundle's j-th item; the number chosen), the
 * validator's spec for them (fields and materials only the items left out
 * ask for are taken out of "doc"), and the guide for a citizen's answers
 * ({"FIELD":"VALUE"}; NULL: the whole guide, conditions shown).
 */
ngx_uint_t ngx_gov_bundle_choose(ngx_gov_bundles_conf_t *bc,
    ngx_gov_bundle_t *b, json_t *fields, u_char *chosen);
ngx_int_t ngx_gov_bundle_spec_for(ngx_pool_t *pool,
    ngx_gov_bundles_conf_t *bc, ngx_gov_bundle_t *b, u_char *chosen,
    json_t *doc, gov_app_spec_t *spec);
ngx_int_t ngx_gov_bundle_guide(ngx_pool_t *pool, ngx_gov_bundles_conf_t *bc,
    ngx_gov_bundle_t *b, json_t *answers, ngx_str_t *out);
json_t *ngx_gov_bundle_guide_json(ngx_gov_bundles_conf_t *bc,
    ngx_gov_bundle_t *b, json_t *answers);

/* the answers to the bundle's situations in the query; NULL without any */
json_t *ngx_gov_bundle_answers(ngx_http_request_t *r, ngx_gov_bundle_t *b);


#endif /* _NGX_GOV_BUNDLE_CONF_H_INCLUDED_ */
