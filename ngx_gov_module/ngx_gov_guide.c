
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
#include "gov_http.h"


static void ngx_gov_apply_identity(ngx_http_request_t *r);
static json_t *ngx_gov_guide_view(ngx_gov_bundles_conf_t *bc,
    ngx_gov_bundle_t *b, json_t *answers);


/* gov_bundles */


ngx_int_t
ngx_http_gov_bundles_handler(ngx_http_request_t *r)
{
    u_char                  *p, *end, *slash;
    json_t                  *data, *answers;
    ngx_int_t                rc;
    ngx_str_t                rest, text;
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

        /* ?FIELD=VALUE for the situations: the citizen's own list */
        answers = ngx_gov_bundle_answers(r, b);

        if (ngx_http_gov_wants_html(r)) {
            data = ngx_gov_guide_view(bc, b, answers);

            rc = ngx_http_gov_page(r, NGX_HTTP_OK, "guide", data);
            if (rc != NGX_DECLINED) {
                json_decref(answers);
                return rc;
            }
        }

        rc = ngx_gov_bundle_guide(r->pool, bc, b, answers, &text);
        json_decref(answers);

        if (rc != NGX_OK) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        return ngx_http_gov_send_json(r, NGX_HTTP_OK, &text);
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
    json_t            *answers;
    ngx_int_t          rc, reason;
    ngx_str_t          subject, actor, text;
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
            /* an API client: the form is the guide (for its situation) */
            answers = ngx_gov_bundle_answers(r, b);
            rc = ngx_gov_bundle_guide(r->pool, ngx_gov_bc(r), b, answers,
                                      &text);
            json_decref(answers);

            rc = (rc == NGX_OK)
                 ? ngx_http_gov_send_json(r, NGX_HTTP_OK, &text)
                 : NGX_HTTP_INTERNAL_SERVER_ERROR;
        }
    }

    ngx_http_finalize_request(r, rc);
}


/*
 * The guide page's view: the guide for the answers, the situation
 * questions with what was answered, whether all are, and the answers as
 * a query for the links to the form.
 */

static json_t *
ngx_gov_guide_view(ngx_gov_bundles_conf_t *bc, ngx_gov_bundle_t *b,
    json_t *answers)
{
    char         *q;
    size_t        i, len;
    json_t       *data, *sit, *v, *items, *it;
    ngx_uint_t    all;
    const char   *key;

    data = ngx_gov_bundle_guide_json(bc, b, answers);
    if (data == NULL) {
        return NULL;
    }

    json_object_set(data, "title", json_object_get(data, "name"));

    if (b->whens.nelts == 0) {
        return data;
    }

    all = 1;

    json_array_foreach(json_object_get(data, "situations"), i, sit) {
        if (!json_is_string(json_object_get(sit, "answer"))) {
            all = 0;
            json_object_set_new(sit, "answer", json_string(""));
        }
    }

    json_object_set_new(data, "answered", json_boolean(all));
    json_object_set_new(data, "asks", json_true());

    /* conditional items: the question they depend on, in words */

    items = json_object_get(data, "items");

    json_array_foreach(items, i, it) {
        v = json_object_get(json_object_get(it, "when"), "field");
        if (v == NULL) {
            continue;
        }

        json_array_foreach(json_object_get(data, "situations"), len, sit) {
            if (json_equal(json_object_get(sit, "field"), v)) {
                json_object_set(json_object_get(it, "when"), "label",
                                json_object_get(sit, "label"));
            }
        }
    }

    /* the answers carried to the form: field=value&... */

    len = 1;

    json_object_foreach(answers, key, v) {
        len += 3 * (ngx_strlen(key) + json_string_length(v)) + 2;
    }

    q = ngx_alloc(len, ngx_cycle->log);
    if (q == NULL) {
        json_decref(data);
        return NULL;
    }

    len = 0;

    json_object_foreach(answers, key, v) {
        if (len) {
            q[len++] = '&';
        }

        len += gov_pct_encode(q + len, key, ngx_strlen(key));
        q[len++] = '=';
        len += gov_pct_encode(q + len, json_string_value(v),
                              json_string_length(v));
    }

    json_object_set_new(data, "query", len ? json_stringn(q, len)
                                           : json_string(""));
    ngx_free(q);

    return data;
}
