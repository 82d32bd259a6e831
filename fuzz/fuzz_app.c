
/*
 * Copyright (C) ngx_gov_module authors
 *
 * libFuzzer target: application bodies through the validator, as JSON
 * and as an HTML form, the form view built from the problems, the
 * promises kept (容缺受理) and the same bytes as a supplement.
 */


#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "gov_app.h"


int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);


static int
fuzz_match(void *pattern, const char *s, size_t len)
{
    return len > 0 && s[0] == *(const char *) pattern;
}


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    json_t  *doc, *problems, *guide, *view, *pending;

    static const gov_app_field_t  fields[] = {
        { "name", 1, NULL }, { "id_number", 1, "1" }, { "phone", 0, "1" }
    };

    static const gov_app_material_t  materials[] = {
        { "birth_cert", 1, 0 }, { "photo", 0, 3 }
    };

    gov_app_spec_t  spec = { fields, 3, materials, 2, fuzz_match };

    /* the same bytes as a form: the form view of what it gives */

    doc = gov_app_from_form((const char *) data, size);

    if (doc) {
        guide = json_pack("{s:[{s:s,s:s,s:b},{s:s,s:s,s:b}],"
                          "s:[{s:s,s:s,s:b}]}",
                          "fields", "id", "name", "label", "N", "required", 1,
                          "id", "phone", "label", "P", "required", 0,
                          "materials", "id", "birth_cert", "name", "B",
                          "elicense", 1);

        if (gov_app_validate(&spec, doc, &problems) == 1
            && problems == NULL)
        {
            __builtin_trap();
        }

        view = gov_app_form_view(guide, doc, problems);
        if (view == NULL) {
            __builtin_trap();
        }

        json_decref(view);
        json_decref(problems);
        json_decref(guide);
        json_decref(doc);
    }

    doc = json_loadb((const char *) data, size, JSON_REJECT_DUPLICATES, NULL);
    if (doc == NULL) {
        return 0;
    }

    if (gov_app_validate(&spec, doc, &problems) == 1 && problems == NULL) {
        __builtin_trap();
    }

    json_decref(problems);

    /* 容缺受理: the promises kept, and the bytes as a supplement */

    pending = gov_app_promised(&spec, doc);
    if (pending == NULL) {
        __builtin_trap();
    }

    json_array_append_new(pending, json_string("birth_cert"));

    if (gov_app_supply_check(pending, doc, &problems) == 1
        && problems == NULL)
    {
        __builtin_trap();
    }

    json_decref(problems);
    json_decref(pending);
    json_decref(doc);

    return 0;
}
