
/*
 * Copyright (C) ngx_gov_module authors
 *
 * The step state machine of CONTRACT section 5.  No nginx header.
 */


#ifndef _GOV_STATE_H_INCLUDED_
#define _GOV_STATE_H_INCLUDED_


#include <stddef.h>
#include <jansson.h>


typedef enum {
    GOV_STEP_QUEUED = 0,
    GOV_STEP_RECEIVED,
    GOV_STEP_CORRECTION,
    GOV_STEP_ACCEPTED,
    GOV_STEP_REVIEWING,
    GOV_STEP_SPECIAL,
    GOV_STEP_APPROVED,
    GOV_STEP_DENIED,
    GOV_STEP_REFUSED,
    GOV_STEP_WITHDRAWN,
    GOV_STEP_DELIVERED,
    GOV_STEP_STATES
} gov_step_state_e;


/* -1 for an unknown name */
int gov_state_from_str(const char *s, size_t len);
const char *gov_state_name(int state);      /* "queued" */
const char *gov_state_name_zh(int state);   /* "待推送" */

int gov_state_can(int from, int to);        /* a legal move */
int gov_state_terminal(int state);          /* nothing may follow */
int gov_state_paused(int state);            /* the clock stops */
int gov_state_done(int state);              /* 办结: approved, delivered */
int gov_state_withdrawable(int state);     /* a withdrawal stops it */
int gov_state_attention(int state);         /* the citizen must act */

/* how far along a step is, for the progress bar: 0 .. 100 */
int gov_state_percent(int state);


#define GOV_CALLBACK_INVALID        -1     /* not JSON, no "state" string */
#define GOV_CALLBACK_UNKNOWN_STATE  -2
#define GOV_CALLBACK_BAD_REQUEST    -3     /* "request" malformed or misplaced */
#define GOV_CALLBACK_BAD_RESULT     -4     /* "result" malformed or misplaced */
#define GOV_CALLBACK_IDS_MAX        32     /* ids a correction may name */
#define GOV_CALLBACK_ID_MAX         64
#define GOV_CALLBACK_RECEIPT_MAX    128
#define GOV_CALLBACK_NOTE_MAX       1024


typedef struct {
    json_t       *doc;                  /* the parsed body, to json_decref */
    const char   *receipt;              /* NULL when not given or too long */
    size_t        receipt_len;
    const char   *note;                 /* likewise */
    size_t        note_len;
    json_t       *request;              /* {"materials","fields","note",
                                           "due"}, normalized, or NULL */
    json_t       *result;               /* {"kind","number","note"} or NULL */
} gov_callback_t;


/*
 * A department's callback body {"state":S,"receipt":R,"note":N}, with
 * "request" (补正告知: "materials" and "fields", arrays of ids, "note",
 * "due" as YYYY-MM-DD; at least one id or the note) only to "correction",
 * and "result" ("kind": elicense, mail, pickup or download, "number",
 * "note") only to "approved" or "delivered".  Returns the state, or
 * GOV_CALLBACK_INVALID, GOV_CALLBACK_UNKNOWN_STATE, GOV_CALLBACK_BAD_REQUEST,
 * GOV_CALLBACK_BAD_RESULT (then cb->doc is NULL).  The receipt and note
 * point into cb->doc; cb->request and cb->result are new objects, freed
 * with cb->doc by gov_callback_free().
 */
int gov_callback_parse(const char *body, size_t len, gov_callback_t *cb);
void gov_callback_free(gov_callback_t *cb);

/* "电子证照", "邮寄", "窗口领取", "下载" for a result's kind, else NULL */
const char *gov_result_kind_zh(const char *kind);


#endif /* _GOV_STATE_H_INCLUDED_ */
