
/*
 * Copyright (C) ngx_gov_module authors
 *
 * Application validation (一次告知): every problem of a submission, all at
 * once.  No nginx header: patterns are matched through a callback.
 */


#ifndef _GOV_APP_H_INCLUDED_
#define _GOV_APP_H_INCLUDED_


#include <stddef.h>
#include <jansson.h>


/* a value's length at most, in characters */
#define GOV_APP_VALUE_MAX  1024


/* 1: matches, 0: does not, -1: the matcher failed */
typedef int (*gov_app_match_pt)(void *pattern, const char *s, size_t len);


typedef struct {
    const char         *id;
    int                 required;
    void               *pattern;        /* NULL: any text */
} gov_app_field_t;


typedef struct {
    const char         *id;
    int                 elicense;       /* may be given as "elicense" */
    int                 tolerable;      /* working days it may come later
                                           (容缺受理), 0: never */
} gov_app_material_t;


typedef struct {
    const gov_app_field_t     *fields;
    size_t                     nfields;
    const gov_app_material_t  *materials;
    size_t                     nmaterials;
    gov_app_match_pt           match;
} gov_app_spec_t;


/*
 * Checks {"fields":{...},"materials":{...}} against the spec.  Returns 0
 * when valid, else 1 and *problems = {"error":"invalid_application",
 * "missing":[IDS],"invalid":[{"id","reason"}]} (a new reference).
 * Reasons: not_an_object, not_a_string, too_long, control_character,
 * pattern_mismatch, unknown_field, unknown_material, elicense_not_allowed;
 * for "promises" (容缺受理: [IDS] of materials missing now, to come later):
 * not_an_array (id "promises"), not_a_string, unknown_material,
 * not_tolerable.  A tolerable material promised is not missing.
 */
int gov_app_validate(const gov_app_spec_t *spec, json_t *doc,
    json_t **problems);

/*
 * The promises an application keeps: each id of "promises" once, in the
 * spec's order, that is tolerable and not given in "materials".  A new
 * reference to an array of strings (empty when none), or NULL.
 */
json_t *gov_app_promised(const gov_app_spec_t *spec, json_t *doc);

/*
 * A supplement of promised materials (POST /progress/ID/materials):
 * {"materials":{ID:REFERENCE,...}} against "pending" (the ids still
 * promised).  Returns 0 when valid, else 1 and *problems =
 * {"error":"invalid_supplement","missing":[IDS],"invalid":[{"id",
 * "reason"}]}: "missing" lists the pending ids when none is given;
 * reasons: not_an_object, not_promised, not_a_string, too_long,
 * control_character, elicense_not_allowed.
 */
int gov_app_supply_check(json_t *pending, json_t *doc, json_t **problems);

/*
 * An application posted as an HTML form (application/x-www-form-urlencoded):
 * "fields.ID=VALUE" and "materials.ID=REFERENCE" pairs, "elicense.ID"
 * (a checkbox) that stands for "elicense" when no reference is given, and
 * "promises.ID" (a checkbox, 承诺后补) that adds ID to "promises".
 * Empty values are left out (validation then reports them missing); other
 * names are ignored.  Returns {"fields":{...},"materials":{...}} (a new
 * reference), or NULL when the text is malformed: a bad percent-escape, a
 * name given twice, a value that is not UTF-8.
 */
json_t *gov_app_from_form(const char *text, size_t len);

/*
 * What the application form shows: the guide's fields and materials, each
 * with the value given ("doc", may be NULL) and, from "problems" (may be
 * NULL), its error in plain Chinese; "errors" lists them all in the
 * guide's order, "invalid" is true when there is any.  Returns
 * {"fields":[{id,label,pattern,required,value,error}],
 *  "materials":[{id,name,elicense,use_elicense,tolerable,promised,value,
 *  error}],
 *  "errors":[{id,message}],"invalid":BOOL} (a new reference), or NULL.
 */
json_t *gov_app_form_view(json_t *guide, json_t *doc, json_t *problems);


#endif /* _GOV_APP_H_INCLUDED_ */
