
/*
 * Copyright (C) ngx_gov_module authors
 */


#include <string.h>

#include "gov_app.h"


static void gov_app_invalid(json_t *invalid, const char *id,
    const char *reason);
static const char *gov_app_check_text(json_t *v);


static void
gov_app_invalid(json_t *invalid, const char *id, const char *reason)
{
    json_array_append_new(invalid, json_pack("{s:s,s:s}", "id", id,
                                             "reason", reason));
}


/* NULL when the value is acceptable text, else the reason */

static const char *
gov_app_check_text(json_t *v)
{
    size_t          i, len;
    const unsigned char  *s;

    if (!json_is_string(v)) {
        return "not_a_string";
    }

    len = json_string_length(v);
    s = (const unsigned char *) json_string_value(v);

    if (len > GOV_APP_VALUE_MAX) {
        return "too_long";
    }

    for (i = 0; i < len; i++) {
        /* tab, newline and carriage return are text; other controls not */
        if ((s[i] < 0x20 && s[i] != '\t' && s[i] != '\n' && s[i] != '\r')
            || s[i] == 0x7f)
        {
            return "control_character";
        }
    }

    return NULL;
}


int
gov_app_validate(const gov_app_spec_t *spec, json_t *doc, json_t **problems)
{
    int          rc;
    size_t       i, len;
    json_t      *fields, *materials, *missing, *invalid, *v;
    const char  *key, *reason, *s;

    *problems = NULL;

    missing = json_array();
    invalid = json_array();

    if (missing == NULL || invalid == NULL) {
        json_decref(missing);
        json_decref(invalid);
        return -1;
    }

    if (!json_is_object(doc)) {
        gov_app_invalid(invalid, "(body)", "not_an_object");
        goto done;
    }

    fields = json_object_get(doc, "fields");
    materials = json_object_get(doc, "materials");

    if (fields && !json_is_object(fields)) {
        gov_app_invalid(invalid, "fields", "not_an_object");
        fields = NULL;
    }

    if (materials && !json_is_object(materials)) {
        gov_app_invalid(invalid, "materials", "not_an_object");
        materials = NULL;
    }

    /* fields: required ones present and non-empty, each value checked */

    for (i = 0; i < spec->nfields; i++) {
        v = fields ? json_object_get(fields, spec->fields[i].id) : NULL;

        if (v == NULL || (json_is_string(v) && json_string_length(v) == 0)) {
            if (spec->fields[i].required) {
                json_array_append_new(missing,
                                      json_string(spec->fields[i].id));
            }

            continue;
        }

        reason = gov_app_check_text(v);

        if (reason == NULL && spec->fields[i].pattern && spec->match) {
            rc = spec->match(spec->fields[i].pattern, json_string_value(v),
                             json_string_length(v));

            if (rc != 1) {
                reason = "pattern_mismatch";
            }
        }

        if (reason) {
            gov_app_invalid(invalid, spec->fields[i].id, reason);
        }
    }

    if (fields) {
        json_object_foreach(fields, key, v) {
            for (i = 0; i < spec->nfields; i++) {
                if (strcmp(key, spec->fields[i].id) == 0) {
                    break;
                }
            }

            if (i == spec->nfields) {
                gov_app_invalid(invalid, key, "unknown_field");
            }
        }
    }

    /* materials: every one given, "elicense" only where allowed */

    for (i = 0; i < spec->nmaterials; i++) {
        v = materials ? json_object_get(materials, spec->materials[i].id)
                      : NULL;

        if (v == NULL || (json_is_string(v) && json_string_length(v) == 0)) {
            json_array_append_new(missing,
                                  json_string(spec->materials[i].id));
            continue;
        }

        reason = gov_app_check_text(v);

        if (reason == NULL) {
            s = json_string_value(v);
            len = json_string_length(v);

            if (len == 8 && memcmp(s, "elicense", 8) == 0
                && !spec->materials[i].elicense)
            {
                reason = "elicense_not_allowed";
            }
        }

        if (reason) {
            gov_app_invalid(invalid, spec->materials[i].id, reason);
        }
    }

    if (materials) {
        json_object_foreach(materials, key, v) {
            for (i = 0; i < spec->nmaterials; i++) {
                if (strcmp(key, spec->materials[i].id) == 0) {
                    break;
                }
            }

            if (i == spec->nmaterials) {
                gov_app_invalid(invalid, key, "unknown_material");
            }
        }
    }

done:

    if (json_array_size(missing) == 0 && json_array_size(invalid) == 0) {
        json_decref(missing);
        json_decref(invalid);
        return 0;
    }

    *problems = json_pack("{s:s,s:o,s:o}", "error", "invalid_application",
                          "missing", missing, "invalid", invalid);

    return *problems ? 1 : -1;
}
