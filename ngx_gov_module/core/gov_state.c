
/*
 * Copyright (C) ngx_gov_module authors
 */


#include <string.h>

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

    return state;
}
