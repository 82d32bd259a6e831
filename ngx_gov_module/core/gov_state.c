
/*
 * Copyright (C) ngx_gov_module authors
 */


#include <string.h>

#include "gov_date.h"
#include "gov_state.h"


#define B(s)  (1u << (s))


static const char  *gov_state_names[] = {
    "queued", "received", "correction", "accepted", "reviewing", "special",
    "approved", "denied", "refused", "withdrawn", "delivered"
};


static const char  *gov_state_names_zh[] = {
    "待推送", "已接件", "补正中", "已受理", "审查中", "特别程序",
    "办结（准予）", "办结（不予许可）", "不予受理", "已撤回", "已送达"
};


/* the table of CONTRACT section 5: what each state may move to */

static const unsigned  gov_state_moves[] = {
    /* queued */      B(GOV_STEP_RECEIVED) | B(GOV_STEP_REFUSED),
    /* received */    B(GOV_STEP_ACCEPTED) | B(GOV_STEP_CORRECTION)
                      | B(GOV_STEP_REFUSED) | B(GOV_STEP_WITHDRAWN),
    /* correction */  B(GOV_STEP_RECEIVED) | B(GOV_STEP_ACCEPTED)
                      | B(GOV_STEP_REFUSED) | B(GOV_STEP_WITHDRAWN),
    /* accepted */    B(GOV_STEP_REVIEWING) | B(GOV_STEP_APPROVED)
                      | B(GOV_STEP_DENIED) | B(GOV_STEP_SPECIAL)
                      | B(GOV_STEP_CORRECTION) | B(GOV_STEP_WITHDRAWN),
    /* reviewing */   B(GOV_STEP_APPROVED) | B(GOV_STEP_DENIED)
                      | B(GOV_STEP_SPECIAL) | B(GOV_STEP_CORRECTION)
                      | B(GOV_STEP_WITHDRAWN),
    /* special */     B(GOV_STEP_REVIEWING) | B(GOV_STEP_APPROVED)
                      | B(GOV_STEP_DENIED),
    /* approved */    B(GOV_STEP_DELIVERED),
    /* denied */      0,
    /* refused */     0,
    /* withdrawn */   0,
    /* delivered */   0
};


/* a rough share of the work done when a step is in each state */

static const int  gov_state_percents[] = {
    0, 20, 30, 40, 60, 60, 90, 100, 100, 100, 100
};


int
gov_state_from_str(const char *s, size_t len)
{
    int  i;

    for (i = 0; i < GOV_STEP_STATES; i++) {
        if (strlen(gov_state_names[i]) == len
            && memcmp(gov_state_names[i], s, len) == 0)
        {
            return i;
        }
    }

    return -1;
}


const char *
gov_state_name(int state)
{
    return (state >= 0 && state < GOV_STEP_STATES) ? gov_state_names[state]
                                                   : "unknown";
}


const char *
gov_state_name_zh(int state)
{
    return (state >= 0 && state < GOV_STEP_STATES)
           ? gov_state_names_zh[state] : "未知";
}


int
gov_state_can(int from, int to)
{
    if (from < 0 || from >= GOV_STEP_STATES || to < 0
        || to >= GOV_STEP_STATES)
    {
        return 0;
    }

    return (gov_state_moves[from] & B(to)) != 0;
}


int
gov_state_terminal(int state)
{
    return state >= 0 && state < GOV_STEP_STATES
           && gov_state_moves[state] == 0;
}


int
gov_state_paused(int state)
{
    return state == GOV_STEP_CORRECTION || state == GOV_STEP_SPECIAL;
}


int
gov_state_withdrawable(int state)
{
    return state == GOV_STEP_QUEUED || state == GOV_STEP_RECEIVED
           || state == GOV_STEP_CORRECTION || state == GOV_STEP_ACCEPTED
           || state == GOV_STEP_REVIEWING;
}


int
gov_state_done(int state)
{
    return state == GOV_STEP_APPROVED || state == GOV_STEP_DELIVERED;
}


int
gov_state_attention(int state)
{
    return state == GOV_STEP_CORRECTION || state == GOV_STEP_REFUSED
           || state == GOV_STEP_DENIED;
}


int
gov_state_percent(int state)
{
    return (state >= 0 && state < GOV_STEP_STATES) ? gov_state_percents[state]
                                                   : 0;
}


static json_t *gov_callback_ids(json_t *v);
static json_t *gov_callback_request(json_t *v);
static json_t *gov_callback_result(json_t *v);


int
gov_callback_parse(const char *body, size_t len, gov_callback_t *cb)
{
    int      state;
    json_t  *v;

    memset(cb, 0, sizeof(gov_callback_t));

    cb->doc = json_loadb(body, len, JSON_REJECT_DUPLICATES, NULL);

    v = json_object_get(cb->doc, "state");

    if (!json_is_string(v)) {
        json_decref(cb->doc);
        cb->doc = NULL;
        return GOV_CALLBACK_INVALID;
    }

    state = gov_state_from_str(json_string_value(v), json_string_length(v));

    if (state < 0) {
        json_decref(cb->doc);
        cb->doc = NULL;
        return GOV_CALLBACK_UNKNOWN_STATE;
    }

    v = json_object_get(cb->doc, "receipt");

    if (json_is_string(v) && json_string_length(v) <= GOV_CALLBACK_RECEIPT_MAX)
    {
        cb->receipt = json_string_value(v);
        cb->receipt_len = json_string_length(v);
    }

    v = json_object_get(cb->doc, "note");

    if (json_is_string(v) && json_string_length(v) <= GOV_CALLBACK_NOTE_MAX) {
        cb->note = json_string_value(v);
        cb->note_len = json_string_length(v);
    }

    v = json_object_get(cb->doc, "request");

    if (v && !json_is_null(v)) {
        cb->request = (state == GOV_STEP_CORRECTION)
                      ? gov_callback_request(v) : NULL;

        if (cb->request == NULL) {
            gov_callback_free(cb);
            return GOV_CALLBACK_BAD_REQUEST;
        }
    }

    v = json_object_get(cb->doc, "result");

    if (v && !json_is_null(v)) {
        cb->result = (state == GOV_STEP_APPROVED
                      || state == GOV_STEP_DELIVERED)
                     ? gov_callback_result(v) : NULL;

        if (cb->result == NULL) {
            gov_callback_free(cb);
            return GOV_CALLBACK_BAD_RESULT;
        }
    }

    return state;
}


void
gov_callback_free(gov_callback_t *cb)
{
    json_decref(cb->request);
    json_decref(cb->result);
    json_decref(cb->doc);

    cb->request = NULL;
    cb->result = NULL;
    cb->doc = NULL;
}


/* an array of distinct ids (letters, digits, "_", "-"), as a new array */

static json_t *
gov_callback_ids(json_t *v)
{
    size_t       i, j, n;
    json_t      *out, *e;
    const char  *s;

    if (v == NULL) {
        return json_array();
    }

    if (!json_is_array(v) || json_array_size(v) > GOV_CALLBACK_IDS_MAX) {
        return NULL;
    }

    out = json_array();

    json_array_foreach(v, i, e) {
        s = json_string_value(e);
        n = json_string_length(e);

        if (s == NULL || n == 0 || n > GOV_CALLBACK_ID_MAX) {
            json_decref(out);
            return NULL;
        }

        for (j = 0; j < n; j++) {
            if (!((s[j] >= 'a' && s[j] <= 'z') || (s[j] >= 'A' && s[j] <= 'Z')
                  || (s[j] >= '0' && s[j] <= '9') || s[j] == '_'
                  || s[j] == '-'))
            {
                json_decref(out);
                return NULL;
            }
        }

        for (j = 0; j < i; j++) {
            if (json_equal(json_array_get(v, j), e)) {
                json_decref(out);
                return NULL;
            }
        }

        json_array_append(out, e);
    }

    return out;
}


static json_t *
gov_callback_request(json_t *v)
{
    json_t      *req, *materials, *fields, *note, *due;
    const char  *key;
    json_t      *e;

    if (!json_is_object(v)) {
        return NULL;
    }

    json_object_foreach(v, key, e) {
        if (strcmp(key, "materials") != 0 && strcmp(key, "fields") != 0
            && strcmp(key, "note") != 0 && strcmp(key, "due") != 0)
        {
            return NULL;
        }
    }

    note = json_object_get(v, "note");
    due = json_object_get(v, "due");

    if ((note && !(json_is_string(note)
                   && json_string_length(note) <= GOV_CALLBACK_NOTE_MAX))
        || (due && !(json_is_string(due)
                     && gov_date_parse(json_string_value(due),
                                       json_string_length(due)) >= 0)))
    {
        return NULL;
    }

    materials = gov_callback_ids(json_object_get(v, "materials"));
    fields = gov_callback_ids(json_object_get(v, "fields"));

    if (materials == NULL || fields == NULL
        || (json_array_size(materials) == 0 && json_array_size(fields) == 0
            && (note == NULL || json_string_length(note) == 0)))
    {
        json_decref(materials);
        json_decref(fields);
        return NULL;
    }

    req = json_object();
    json_object_set_new(req, "materials", materials);
    json_object_set_new(req, "fields", fields);
    json_object_set(req, "note", note ? note : json_null());
    json_object_set(req, "due", due ? due : json_null());

    return req;
}


static json_t *
gov_callback_result(json_t *v)
{
    json_t      *kind, *number, *note, *e;
    const char  *key;

    if (!json_is_object(v)) {
        return NULL;
    }

    json_object_foreach(v, key, e) {
        if (strcmp(key, "kind") != 0 && strcmp(key, "number") != 0
            && strcmp(key, "note") != 0)
        {
            return NULL;
        }
    }

    kind = json_object_get(v, "kind");
    number = json_object_get(v, "number");
    note = json_object_get(v, "note");

    if (!json_is_string(kind)
        || gov_result_kind_zh(json_string_value(kind)) == NULL
        || (number && !(json_is_string(number)
                        && json_string_length(number)
                           <= GOV_CALLBACK_RECEIPT_MAX))
        || (note && !(json_is_string(note)
                      && json_string_length(note) <= GOV_CALLBACK_NOTE_MAX)))
    {
        return NULL;
    }

    return json_pack("{s:O,s:O,s:O}", "kind", kind,
                     "number", number ? number : json_null(),
                     "note", note ? note : json_null());
}


const char *
gov_result_kind_zh(const char *kind)
{
    static const char  *kinds[][2] = {
        { "elicense", "电子证照" },
        { "mail", "邮寄" },
        { "pickup", "窗口领取" },
        { "download", "下载" },
    };

    size_t  i;

    for (i = 0; kind && i < sizeof(kinds) / sizeof(kinds[0]); i++) {
        if (strcmp(kind, kinds[i][0]) == 0) {
            return kinds[i][1];
        }
    }

    return NULL;
}
