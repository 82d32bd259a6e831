
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
#include "ngx_gov_bundle_conf.h"
#include "ngx_gov_form.h"


/* "1.2 MB", "34 KB", "120 字节" into "buf" (32 bytes) */

const char *
ngx_gov_size_text(json_int_t size, char *buf)
{
    if (size >= 1024 * 1024) {
        ngx_sprintf((u_char *) buf, "%.1f MB%Z",
                    (double) size / (1024 * 1024));

    } else if (size >= 1024) {
        ngx_sprintf((u_char *) buf, "%L KB%Z", (int64_t) (size + 1023) / 1024);

    } else {
        ngx_sprintf((u_char *) buf, "%L 字节%Z", (int64_t) size);
    }

    return buf;
}


/*
 * The application form: blank, or as submitted with every problem shown
 * next to its field and listed on top (一次告知); a fresh idempotency key,
 * so that submitting the same form twice creates one application.
 */

ngx_int_t
ngx_gov_apply_page(ngx_http_request_t *r, ngx_gov_bundle_t *b, json_t *doc,
    json_t *problems, json_t *uploads, ngx_uint_t status)
{
    u_char   random[16], key[32];
    char     size[32];
    size_t   i;
    ngx_http_gov_main_conf_t  *gmcf;
    json_t  *guide, *view, *m, *meta, *answers, *asked;
    const char  *value;

    if (RAND_bytes(random, sizeof(random)) != 1) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ngx_hex_dump(key, random, sizeof(random));

    /*
     * The form for the situation: as answered in the form sent back, or
     * in the query from the guide (then the answers fill the form)
     */

    answers = NULL;
    asked = NULL;

    if (b->whens.nelts) {
        if (doc) {
            answers = json_incref(json_object_get(doc, "fields"));

        } else {
            answers = ngx_gov_bundle_answers(r, b);

            if (answers) {
                asked = json_pack("{s:O}", "fields", answers);
            }
        }
    }

    guide = ngx_gov_bundle_guide_json(ngx_gov_bc(r), b,
                                      json_is_object(answers) ? answers
                                                              : NULL);
    view = guide ? gov_app_form_view(guide, doc ? doc : asked, problems)
                 : NULL;

    json_decref(answers);
    json_decref(asked);

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

    gmcf = ngx_http_get_module_main_conf(r, ngx_http_gov_module);

    /* with a store, the form posts its files with it */
    json_object_set_new(view, "uploads",
                        json_boolean(gmcf->upload.path.len != 0));

    /* files stored already are shown and kept, never asked for again */

    json_array_foreach(json_object_get(view, "materials"), i, m) {
        value = json_string_value(json_object_get(m, "value"));

        if (value == NULL || ngx_strlen(value) != 7 + 64
            || ngx_strncmp(value, "upload:", 7) != 0)
        {
            continue;
        }

        meta = uploads ? json_object_get(uploads, value + 7) : NULL;

        json_object_set_new(m, "uploaded", json_pack("{s:O?,s:s}",
            "file", meta ? json_object_get(meta, "name") : NULL,
            "size", ngx_gov_size_text(
                        meta ? json_integer_value(json_object_get(meta,
                                                                  "size"))
                             : 0, size)));
    }

    return ngx_http_gov_page(r, status, "apply", view);
}
