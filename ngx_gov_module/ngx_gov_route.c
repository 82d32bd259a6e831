
/*
 * Copyright (C) ngx_gov_module authors
 */


/*
 * Routing by field (跨省通办, 收受分离): an item's backend or status may
 * hold variables, $gov_field_NAME among them, so that a map sends one
 * application's step to another region's gateway.  The URI is evaluated
 * for each application when its step is sent or asked about; inside those
 * subrequests $gov_field_NAME still holds that application's fields (they
 * share the variables of the request they hang from, so the fields are
 * found by the subrequest itself).
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_gov_bundle_conf.h"
#include "ngx_gov_route.h"


#define NGX_GOV_FIELD_PREFIX  "gov_field_"


typedef struct {
    ngx_queue_t               queue;
    ngx_http_request_t       *request;
    json_t                   *fields;
} ngx_gov_route_bound_t;


static ngx_int_t ngx_gov_route_field_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data);
static void ngx_gov_route_unbind(void *data);
static ngx_int_t ngx_gov_route_valid(ngx_str_t *uri);


/* the fields of the application whose URI is being evaluated now */
static json_t       *ngx_gov_route_now;

/* the subrequests under way with their application's fields */
static ngx_queue_t   ngx_gov_route_bound;


static ngx_str_t  ngx_gov_route_var = ngx_string(NGX_GOV_FIELD_PREFIX);


ngx_int_t
ngx_gov_route_add_variables(ngx_conf_t *cf)
{
    ngx_http_variable_t  *var;

    var = ngx_http_add_variable(cf, &ngx_gov_route_var,
                                NGX_HTTP_VAR_NOCACHEABLE
                                |NGX_HTTP_VAR_PREFIX);
    if (var == NULL) {
        return NGX_ERROR;
    }

    var->get_handler = ngx_gov_route_field_variable;

    return NGX_OK;
}


static ngx_int_t
ngx_gov_route_field_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data)
{
    ngx_str_t  *name = (ngx_str_t *) data;

    u_char                 *field;
    size_t                  len;
    json_t                 *fields, *value;
    const char             *key;
    ngx_queue_t            *q;
    ngx_gov_route_bound_t  *b;

    fields = ngx_gov_route_now;

    if (fields == NULL && ngx_gov_route_bound.next) {
        for (q = ngx_queue_head(&ngx_gov_route_bound);
             q != ngx_queue_sentinel(&ngx_gov_route_bound);
             q = ngx_queue_next(q))
        {
            b = ngx_queue_data(q, ngx_gov_route_bound_t, queue);

            if (b->request == r) {
                fields = b->fields;
                break;
            }
        }
    }

    v->not_found = 1;

    if (fields == NULL) {
        return NGX_OK;
    }

    /* variable names are lower case: field ids are matched regardless */

    field = name->data + sizeof(NGX_GOV_FIELD_PREFIX) - 1;
    len = name->len - (sizeof(NGX_GOV_FIELD_PREFIX) - 1);

    json_object_foreach(fields, key, value) {
        if (ngx_strlen(key) != len
            || ngx_strncasecmp((u_char *) key, field, len) != 0
            || !json_is_string(value))
        {
            continue;
        }

        v->len = json_string_length(value);
        v->data = ngx_pnalloc(r->pool, v->len + 1);
        if (v->data == NULL) {
            return NGX_ERROR;
        }

        ngx_memcpy(v->data, json_string_value(value), v->len);
        v->valid = 1;
        v->no_cacheable = 1;
        v->not_found = 0;
        break;
    }

    return NGX_OK;
}


ngx_int_t
ngx_gov_route_uri(ngx_http_request_t *r, ngx_gov_item_t *it,
    ngx_uint_t which, json_t *fields, ngx_str_t *uri)
{
    ngx_int_t                  rc;
    ngx_uint_t                *index;
    ngx_http_complex_value_t  *cv;

    cv = which == NGX_GOV_ROUTE_BACKEND ? it->backend_cv : it->status_cv;

    if (cv == NULL) {
        *uri = which == NGX_GOV_ROUTE_BACKEND ? it->backend : it->status;
        return NGX_OK;
    }

    /*
     * The variables it names are evaluated afresh: a map's answer for one
     * application is not another's, and they share this request.
     */

    if (cv->flushes && r->variables) {
        for (index = cv->flushes; *index != (ngx_uint_t) -1; index++) {
            r->variables[*index].valid = 0;
            r->variables[*index].not_found = 0;
        }
    }

    ngx_gov_route_now = fields;
    rc = ngx_http_complex_value(r, cv, uri);
    ngx_gov_route_now = NULL;

    if (rc != NGX_OK) {
        return NGX_ERROR;
    }

    if (ngx_gov_route_valid(uri) != NGX_OK) {
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "gov: the %s of item \"%V\" (\"%V\") made \"%V\", "
                      "not a location URI",
                      which == NGX_GOV_ROUTE_BACKEND ? "backend" : "status",
                      &it->id, which == NGX_GOV_ROUTE_BACKEND
                               ? &it->backend : &it->status, uri);
        return NGX_DECLINED;
    }

    return NGX_OK;
}


/* "/" then printable ASCII without spaces, "?", "#" or a ".." segment */

static ngx_int_t
ngx_gov_route_valid(ngx_str_t *uri)
{
    size_t  i;

    if (uri->len < 2 || uri->len > 1024 || uri->data[0] != '/') {
        return NGX_ERROR;
    }

    for (i = 0; i < uri->len; i++) {
        if (uri->data[i] <= ' ' || uri->data[i] >= 0x7f
            || uri->data[i] == '?' || uri->data[i] == '#'
            || uri->data[i] == '%' || uri->data[i] == '\\')
        {
            return NGX_ERROR;
        }

        if (uri->data[i] == '.' && i + 1 < uri->len
            && uri->data[i + 1] == '.' && uri->data[i - 1] == '/'
            && (i + 2 == uri->len || uri->data[i + 2] == '/'))
        {
            return NGX_ERROR;
        }
    }

    return NGX_OK;
}


ngx_gov_region_t *
ngx_gov_route_region(ngx_gov_bundles_conf_t *bc, ngx_str_t *uri)
{
    ngx_uint_t         i;
    ngx_gov_region_t  *regions, *best;

    regions = bc->regions.elts;
    best = NULL;

    for (i = 0; i < bc->regions.nelts; i++) {
        if (uri->len >= regions[i].prefix.len
            && ngx_strncmp(uri->data, regions[i].prefix.data,
                           regions[i].prefix.len) == 0
            && (best == NULL || regions[i].prefix.len > best->prefix.len))
        {
            best = &regions[i];
        }
    }

    return best;
}


ngx_gov_region_t *
ngx_gov_route_region_id(ngx_gov_bundles_conf_t *bc, u_char *id, size_t len)
{
    ngx_int_t   k;
    ngx_str_t   name;

    name.data = id;
    name.len = len;

    k = ngx_gov_find(&bc->regions, sizeof(ngx_gov_region_t), &name);

    return k == NGX_ERROR ? NULL : (ngx_gov_region_t *) bc->regions.elts + k;
}


ngx_int_t
ngx_gov_route_bind(ngx_http_request_t *sr, json_t *fields)
{
    ngx_pool_cleanup_t     *cln;
    ngx_gov_route_bound_t  *b;

    if (fields == NULL) {
        return NGX_OK;
    }

    if (ngx_gov_route_bound.next == NULL) {
        ngx_queue_init(&ngx_gov_route_bound);
    }

    cln = ngx_pool_cleanup_add(sr->pool, sizeof(ngx_gov_route_bound_t));
    if (cln == NULL) {
        return NGX_ERROR;
    }

    b = cln->data;
    b->request = sr;
    b->fields = json_incref(fields);

    cln->handler = ngx_gov_route_unbind;

    ngx_queue_insert_tail(&ngx_gov_route_bound, &b->queue);

    return NGX_OK;
}


static void
ngx_gov_route_unbind(void *data)
{
    ngx_gov_route_bound_t  *b = data;

    ngx_queue_remove(&b->queue);
    json_decref(b->fields);
}
