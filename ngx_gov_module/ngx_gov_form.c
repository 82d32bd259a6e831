
/*
 * Copyright (C) ngx_gov_module authors
 */


/*
 * The application form page: blank, or with the citizen's values and
 * every mistake shown next to its field (used by the guide for
 * GET /bundles/ID/apply and by submissions for a form with mistakes).
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_gov_page.h"
#include "ngx_gov_form.h"


/*
 * The application form: blank, or as submitted with every problem shown
 * next to its field and listed on top (一次告知); a fresh idempotency key,
 * so that submitting the same form twice creates one application.
 */

ngx_int_t
ngx_gov_apply_page(ngx_http_request_t *r, ngx_gov_bundle_t *b, json_t *doc,
    json_t *problems, ngx_uint_t status)
{
    u_char   random[16], key[32];
    json_t  *guide, *view;

    if (RAND_bytes(random, sizeof(random)) != 1) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ngx_hex_dump(key, random, sizeof(random));

    guide = json_loadb((char *) b->guide.data, b->guide.len, 0, NULL);
    view = guide ? gov_app_form_view(guide, doc, problems) : NULL;

    if (view == NULL) {
        json_decref(guide);
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    json_object_set(view, "id", json_object_get(guide, "id"));
    json_object_set(view, "name", json_object_get(guide, "name"));
    json_object_set(view, "time_limit", json_object_get(guide, "time_limit"));
    json_object_set(view, "title", json_object_get(guide, "name"));
    json_object_set_new(view, "idempotency_key",
                        json_stringn((char *) key, sizeof(key)));
    json_decref(guide);

    return ngx_http_gov_page(r, status, "apply", view);
}
