
/*
 * Copyright (C) ngx_gov_module authors
 */


#include <stdlib.h>
#include <string.h>

#include "gov_app.h"
#include "gov_http.h"


static void gov_app_invalid(json_t *invalid, const char *id,
    const char *reason);
static const char *gov_app_check_text(json_t *v);
static const char *gov_app_message(const char *reason, int material);
static const char *gov_app_problem(json_t *problems, const char *id);
static int gov_app_in(json_t *a, const char *id);
static int gov_app_verdict(const char *error, json_t *missing,
    json_t *invalid, json_t **problems);
static json_t *gov_app_view_list(json_t *list, json_t *doc, json_t *given,
    json_t *problems, json_t *errors, int material);


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
    size_t                i, len, chars;
    const unsigned char  *s;

    if (!json_is_string(v)) {
        return "not_a_string";
    }

    len = json_string_length(v);
    s = (const unsigned char *) json_string_value(v);

    /* characters, as the citizen is told: UTF-8 (jansson checked it) */

    chars = 0;

    for (i = 0; i < len; i++) {
        chars += (s[i] & 0xc0) != 0x80;
    }

    if (chars > GOV_APP_VALUE_MAX) {
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


/*
 * 一次告知: every problem of an application in one answer, fields first,
 * then materials, in the guide's order.  Over 120 lines because both
 * halves add to the same two lists, whose order is the answer; reading
 * them together shows it.
 */

int
gov_app_validate(const gov_app_spec_t *spec, json_t *doc, json_t **problems)
{
    int          rc;
    size_t       i, j, len;
    json_t      *fields, *materials, *promises, *missing, *invalid, *v;
    const char  *key, *reason, *s;

    *problems = NULL;

    missing = json_array();
    invalid = json_array();

    if (missing == NULL || invalid == NULL) {
        return gov_app_verdict("invalid_application", missing, invalid,
                               problems);
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

    /* promises (容缺受理): tolerable materials of this application */

    promises = json_object_get(doc, "promises");

    if (promises && !json_is_array(promises)) {
        gov_app_invalid(invalid, "promises", "not_an_array");
        promises = NULL;
    }

    json_array_foreach(promises, j, v) {
        if (!json_is_string(v)) {
            gov_app_invalid(invalid, "promises", "not_a_string");
            continue;
        }

        for (i = 0; i < spec->nmaterials; i++) {
            if (strcmp(json_string_value(v), spec->materials[i].id) == 0) {
                break;
            }
        }

        if (i == spec->nmaterials) {
            gov_app_invalid(invalid, json_string_value(v),
                            "unknown_material");

        } else if (!spec->materials[i].tolerable) {
            gov_app_invalid(invalid, json_string_value(v), "not_tolerable");
        }
    }

    /* materials: every one given (or promised), "elicense" where allowed */

    for (i = 0; i < spec->nmaterials; i++) {
        v = materials ? json_object_get(materials, spec->materials[i].id)
                      : NULL;

        if (v == NULL || (json_is_string(v) && json_string_length(v) == 0)) {
            if (!(spec->materials[i].tolerable
                  && gov_app_in(promises, spec->materials[i].id)))
            {
                json_array_append_new(missing,
                                      json_string(spec->materials[i].id));
            }

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

    return gov_app_verdict("invalid_application", missing, invalid,
                           problems);
}


/*
 * A check's verdict, taking both lists: 0 when they are empty, else 1
 * with *problems = {"error","missing","invalid"}; -1 out of memory.
 */

static int
gov_app_verdict(const char *error, json_t *missing, json_t *invalid,
    json_t **problems)
{
    if (missing == NULL || invalid == NULL
        || (json_array_size(missing) == 0 && json_array_size(invalid) == 0))
    {
        json_decref(missing);
        json_decref(invalid);
        return (missing == NULL || invalid == NULL) ? -1 : 0;
    }

    *problems = json_pack("{s:s,s:o,s:o}", "error", error, "missing",
                          missing, "invalid", invalid);

    return *problems ? 1 : -1;
}


/* 1 when the array "a" holds the string "id" */

static int
gov_app_in(json_t *a, const char *id)
{
    size_t   i;
    json_t  *v;

    json_array_foreach(a, i, v) {
        if (json_is_string(v) && strcmp(json_string_value(v), id) == 0) {
            return 1;
        }
    }

    return 0;
}


json_t *
gov_app_promised(const gov_app_spec_t *spec, json_t *doc)
{
    size_t   i;
    json_t  *out, *promises, *materials, *v;

    out = json_array();
    if (out == NULL) {
        return NULL;
    }

    promises = json_object_get(doc, "promises");
    materials = json_object_get(doc, "materials");

    for (i = 0; i < spec->nmaterials; i++) {
        if (!spec->materials[i].tolerable
            || !gov_app_in(promises, spec->materials[i].id))
        {
            continue;
        }

        v = json_object_get(materials, spec->materials[i].id);

        if (json_is_string(v) && json_string_length(v) > 0) {
            /* given after all: nothing to keep */
            continue;
        }

        json_array_append_new(out, json_string(spec->materials[i].id));
    }

    return out;
}


int
gov_app_supply_check(json_t *pending, json_t *doc, json_t **problems)
{
    json_t      *materials, *missing, *invalid, *v;
    const char  *key, *reason;

    *problems = NULL;

    missing = json_array();
    invalid = json_array();

    if (missing == NULL || invalid == NULL) {
        return gov_app_verdict("invalid_supplement", missing, invalid,
                               problems);
    }

    materials = json_object_get(doc, "materials");

    if (!json_is_object(doc) || (materials && !json_is_object(materials))) {
        gov_app_invalid(invalid, "materials", "not_an_object");
        goto done;
    }

    json_object_foreach(materials, key, v) {
        if (!gov_app_in(pending, key)) {
            gov_app_invalid(invalid, key, "not_promised");
            continue;
        }

        reason = gov_app_check_text(v);

        if (reason == NULL && json_string_length(v) == 0) {
            reason = "not_a_string";
        }

        if (reason == NULL && json_string_length(v) == 8
            && memcmp(json_string_value(v), "elicense", 8) == 0)
        {
            /* what the library would have had, it had at submission */
            reason = "elicense_not_allowed";
        }

        if (reason) {
            gov_app_invalid(invalid, key, reason);
        }
    }

    if (json_object_size(materials) == 0) {
        json_decref(missing);
        missing = json_deep_copy(pending);
    }

done:

    return gov_app_verdict("invalid_supplement", missing, invalid,
                           problems);
}


json_t *
gov_app_from_form(const char *text, size_t len)
{
    long         n;
    char        *name, *value;
    size_t       i, start, eq;
    json_t      *doc, *fields, *materials, *elicense, *promised, *to, *v;
    const char  *key;

    doc = json_object();
    fields = json_object();
    materials = json_object();
    elicense = json_object();
    promised = json_object();
    name = malloc(len + 1);
    value = malloc(len + 1);

    if (doc == NULL || fields == NULL || materials == NULL
        || elicense == NULL || promised == NULL || name == NULL
        || value == NULL)
    {
        goto failed;
    }

    json_object_set(doc, "fields", fields);
    json_object_set(doc, "materials", materials);

    for (i = 0; i < len; i++) {
        start = i;

        while (i < len && text[i] != '&') {
            i++;
        }

        if (i == start) {
            continue;
        }

        for (eq = start; eq < i && text[eq] != '='; eq++) {
            /* void */
        }

        n = gov_pct_decode(name, text + start, eq - start, 1);
        if (n < 0) {
            goto failed;
        }

        name[n] = '\0';

        if ((size_t) n != strlen(name)) {
            goto failed;
        }

        if (strncmp(name, "fields.", 7) == 0) {
            to = fields;
            key = name + 7;

        } else if (strncmp(name, "materials.", 10) == 0) {
            to = materials;
            key = name + 10;

        } else if (strncmp(name, "elicense.", 9) == 0) {
            to = elicense;
            key = name + 9;

        } else if (strncmp(name, "promises.", 9) == 0) {
            to = promised;
            key = name + 9;

        } else {
            continue;
        }

        if (*key == '\0') {
            continue;
        }

        if (json_object_get(to, key)) {
            goto failed;
        }

        n = (eq < i) ? gov_pct_decode(value, text + eq + 1, i - eq - 1, 1)
                     : 0;
        if (n < 0) {
            goto failed;
        }

        v = json_stringn(value, (size_t) n);
        if (v == NULL) {
            /* not UTF-8 */
            goto failed;
        }

        if (n == 0 && to != elicense && to != promised) {
            json_decref(v);
            continue;
        }

        json_object_set_new(to, key, v);
    }

    /* a ticked "use the electronic licence" box without a reference */

    json_object_foreach(elicense, key, v) {
        if (json_object_get(materials, key) == NULL) {
            json_object_set_new(materials, key, json_string("elicense"));
        }
    }

    /* ticked "承诺后补" boxes: the promises, as JSON gives them */

    if (json_object_size(promised)) {
        v = json_array();
        if (v == NULL) {
            goto failed;
        }

        json_object_set_new(doc, "promises", v);

        json_object_foreach(promised, key, to) {
            json_array_append_new(v, json_string(key));
        }
    }

    free(name);
    free(value);
    json_decref(fields);
    json_decref(materials);
    json_decref(elicense);
    json_decref(promised);

    return doc;

failed:

    free(name);
    free(value);
    json_decref(fields);
    json_decref(materials);
    json_decref(elicense);
    json_decref(promised);
    json_decref(doc);

    return NULL;
}


/* a reason of gov_app_validate() in plain Chinese */

static const char *
gov_app_message(const char *reason, int material)
{
    static const struct {
        const char  *reason;
        const char  *field;
        const char  *material;
    } messages[] = {
        { "missing", "请填写此项", "请提供此材料" },
        { "pattern_mismatch", "格式不正确，请按说明填写", "格式不正确" },
        { "too_long", "内容太长，请不要超过 1024 个字", "材料编号太长" },
        { "control_character", "含有无法识别的字符，请重新输入",
          "含有无法识别的字符，请重新输入" },
        { "not_a_string", "填写的内容无法识别", "填写的内容无法识别" },
        { "elicense_not_allowed", "此项不能使用电子证照",
          "此材料不能使用电子证照，请上传文件" },
        { "unknown_upload", "填写有误，请检查",
          "找不到这份已上传的材料，请重新上传" },
        { "unsupported_type", "填写有误，请检查",
          "只能上传 PDF、JPG、PNG 或 OFD 格式的文件" },
        { "too_large", "内容太长", "文件太大，请压缩后重新上传" },
        { "empty", "请填写此项", "文件是空的，请重新选择" },
        { "not_tolerable", "填写有误，请检查",
          "此材料不能容缺，请现在提供" },
        { "not_promised", "填写有误，请检查",
          "此材料不在您承诺后补的材料中" },
    };

    size_t  i;

    for (i = 0; i < sizeof(messages) / sizeof(messages[0]); i++) {
        if (strcmp(reason, messages[i].reason) == 0) {
            return material ? messages[i].material : messages[i].field;
        }
    }

    return "填写有误，请检查";
}


/* the reason "problems" gives for "id": "missing", another reason, NULL */

static const char *
gov_app_problem(json_t *problems, const char *id)
{
    size_t   i;
    json_t  *v;

    /* a reason first: a material promised that may not wait is both */

    json_array_foreach(json_object_get(problems, "invalid"), i, v) {
        if (json_is_string(json_object_get(v, "id"))
            && strcmp(json_string_value(json_object_get(v, "id")), id) == 0
            && json_is_string(json_object_get(v, "reason")))
        {
            return json_string_value(json_object_get(v, "reason"));
        }
    }

    json_array_foreach(json_object_get(problems, "missing"), i, v) {
        if (json_is_string(v) && strcmp(json_string_value(v), id) == 0) {
            return "missing";
        }
    }

    return NULL;
}


static json_t *
gov_app_view_list(json_t *list, json_t *doc, json_t *given,
    json_t *problems, json_t *errors, int material)
{
    size_t       i;
    json_t      *out, *o, *v, *value;
    const char  *id, *reason, *message;

    out = json_array();
    if (out == NULL) {
        return NULL;
    }

    json_array_foreach(list, i, v) {
        id = json_string_value(json_object_get(v, "id"));
        if (id == NULL) {
            continue;
        }

        o = json_deep_copy(v);
        if (o == NULL) {
            json_decref(out);
            return NULL;
        }

        value = json_object_get(given, id);

        if (material && json_is_true(json_object_get(v, "elicense"))) {
            /* offered ticked on a blank form, as the guide promises */
            json_object_set_new(o, "use_elicense", json_boolean(
                (given == NULL && problems == NULL)
                || (json_is_string(value)
                    && strcmp(json_string_value(value), "elicense") == 0)));

            if (json_is_string(value)
                && strcmp(json_string_value(value), "elicense") == 0)
            {
                value = NULL;
            }
        }

        if (material && json_integer_value(json_object_get(v, "tolerable"))
                        > 0)
        {
            /* 容缺受理: the "承诺后补" box, ticked as it was sent */
            json_object_set_new(o, "promised", json_boolean(
                gov_app_in(json_object_get(doc, "promises"), id)));
        }

        json_object_set_new(o, "value", json_is_string(value)
                                        ? json_incref(value)
                                        : json_string(""));

        reason = problems ? gov_app_problem(problems, id) : NULL;

        if (reason) {
            message = gov_app_message(reason, material);
            json_object_set_new(o, "error", json_string(message));
            json_array_append_new(errors, json_pack("{s:s,s:O,s:s}",
                "id", id, "label",
                json_object_get(v, material ? "name" : "label"),
                "message", message));
        }

        json_array_append_new(out, o);
    }

    return out;
}


json_t *
gov_app_form_view(json_t *guide, json_t *doc, json_t *problems)
{
    json_t  *view, *errors, *fields, *materials;

    errors = json_array();
    if (errors == NULL) {
        return NULL;
    }

    fields = gov_app_view_list(json_object_get(guide, "fields"), doc,
                               doc ? json_object_get(doc, "fields") : NULL,
                               problems, errors, 0);
    materials = gov_app_view_list(json_object_get(guide, "materials"), doc,
                                  doc ? json_object_get(doc, "materials")
                                      : NULL,
                                  problems, errors, 1);

    if (fields == NULL || materials == NULL) {
        json_decref(fields);
        json_decref(materials);
        json_decref(errors);
        return NULL;
    }

    /* a problem with a name the form does not have: a tampered form */

    if (problems
        && json_array_size(errors)
           < json_array_size(json_object_get(problems, "missing"))
             + json_array_size(json_object_get(problems, "invalid")))
    {
        json_array_append_new(errors, json_pack("{s:s,s:s,s:s}",
            "id", "form", "label", "表单",
            "message", "表单中有无法识别的内容，请刷新页面后重新填写"));
    }

    view = json_pack("{s:o,s:o,s:b,s:o}", "fields", fields,
                     "materials", materials,
                     "invalid", json_array_size(errors) > 0,
                     "errors", errors);

    return view;
}
