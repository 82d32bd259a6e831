
/*
 * Copyright (C) ngx_gov_module authors
 */


/*
 * The bundle list, the guide (一次告知) and the application form page.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_gov_answer.h"
#include "ngx_gov_page.h"
#include "ngx_gov_access.h"
#include "ngx_gov_bundle_conf.h"
#include "ngx_gov_form.h"
#include "ngx_gov_submit.h"
#include "ngx_gov_guide.h"


static void ngx_gov_apply_identity(ngx_http_request_t *r);


/* gov_bundles */


ngx_int_t
ngx_http_gov_bundles_handler(ngx_http_request_t *r)
{
    u_char                  *p, *end, *slash;
    json_t                  *data;
    ngx_int_t                rc;
    ngx_str_t                rest;
    ngx_gov_bundle_t        *b;
    ngx_gov_bundles_conf_t  *bc;

    bc = ngx_gov_bc(r);

    ngx_http_gov_uri_rest(r, &rest);

    p = rest.data;
    end = rest.data + rest.len;

    if (rest.len == 0) {
        rc = ngx_http_gov_get_only(r);
        if (rc != NGX_OK) {
            return rc;
        }

        if (ngx_http_gov_wants_html(r)) {
            data = json_loadb((char *) bc->list.data, bc->list.len, 0, NULL);
            json_object_set_new(data, "title", json_string("一件事"));

            rc = ngx_http_gov_page(r, NGX_HTTP_OK, "bundles", data);
            if (rc != NGX_DECLINED) {
                return rc;
            }
        }

        return ngx_http_gov_send_json(r, NGX_HTTP_OK, &bc->list);
    }

    slash = ngx_strlchr(p, end, '/');

    b = ngx_gov_find_bundle(bc, p, (slash ? slash : end) - p);

    if (b == NULL) {
        rc = ngx_http_discard_request_body(r);
        if (rc != NGX_OK) {
            return rc;
        }

        return ngx_http_gov_error(r, NGX_HTTP_NOT_FOUND, "unknown_bundle");
    }

    if (slash == NULL) {
        rc = ngx_http_gov_get_only(r);
        if (rc != NGX_OK) {
            return rc;
        }

        if (ngx_http_gov_wants_html(r)) {
            data = json_loadb((char *) b->guide.data, b->guide.len, 0, NULL);
            json_object_set(data, "title", json_object_get(data, "name"));

            rc = ngx_http_gov_page(r, NGX_HTTP_OK, "guide", data);
            if (rc != NGX_DECLINED) {
                return rc;
            }
        }

        return ngx_http_gov_send_json(r, NGX_HTTP_OK, &b->guide);
    }

    if ((size_t) (end - slash) == sizeof("/apply") - 1
        && ngx_strncmp(slash, "/apply", end - slash) == 0)
    {
        /* the application form: for the applicant, so identity first */

        rc = ngx_http_gov_get_only(r);
        if (rc != NGX_OK) {
            return rc;
        }

        r->main->count++;

        ngx_http_gov_identity_then(r, ngx_gov_apply_identity);

        return NGX_DONE;
    }

    if ((size_t) (end - slash) != sizeof("/applications") - 1
        || ngx_strncmp(slash, "/applications", end - slash) != 0)
    {
        rc = ngx_http_discard_request_body(r);
        if (rc != NGX_OK) {
            return rc;
        }

        return ngx_http_gov_error(r, NGX_HTTP_NOT_FOUND, "not_found");
    }

    return ngx_gov_submit_handler(r);
}


static void
ngx_gov_apply_identity(ngx_http_request_t *r)
{
    ngx_int_t          rc, reason;
    ngx_str_t          subject, actor;
    ngx_gov_bundle_t  *b;

    b = ngx_gov_uri_bundle(r);

    reason = ngx_http_gov_whoami(r, &subject, &actor);

    if (reason == NGX_DECLINED) {
        rc = ngx_http_gov_unavailable(r);

    } else if (reason != GOV_AUTH_OK) {
        rc = ngx_http_gov_unauthenticated(r, reason);

    } else {
        rc = ngx_http_gov_wants_html(r)
             ? ngx_gov_apply_page(r, b, NULL, NULL, NULL, NGX_HTTP_OK)
             : NGX_DECLINED;

        if (rc == NGX_DECLINED) {
            /* an API client: the form is the guide */
            rc = ngx_http_gov_send_json(r, NGX_HTTP_OK, &b->guide);
        }
    }

    ngx_http_finalize_request(r, rc);
}
