
/*
 * Copyright (C) ngx_gov_module authors
 *
 * Department signatures, compared in constant time.  No nginx header.
 *
 *   v2 (every signed request): X-Gov-Signature: v2=HEX, HEX being
 *   HMAC-SHA256 with the secret over TIMESTAMP "\n" METHOD "\n" PATH "\n"
 *   BODY, PATH as sent, without the query: one application, one item, one
 *   request;
 *   v1 (legacy callbacks, and the waiting room's tickets): sha256=HEX over
 *   TIMESTAMP "." BODY.
 */


#ifndef _GOV_SIG_H_INCLUDED_
#define _GOV_SIG_H_INCLUDED_


#include <stddef.h>


#define GOV_SIG_OK         0
#define GOV_SIG_MALFORMED  -1
#define GOV_SIG_MISMATCH   -2
#define GOV_SIG_STALE      -3
#define GOV_SIG_LEGACY     -4     /* a v1 signature where v1 is off */

/* the forms, as gov_sig_form() tells them apart */
#define GOV_SIG_V1         1
#define GOV_SIG_V2         2


/* what a v2 signature covers */
typedef struct {
    const char               *ts;
    size_t                    ts_len;
    const char               *method;
    size_t                    method_len;
    const char               *path;
    size_t                    path_len;
    const char               *body;
    size_t                    body_len;
} gov_sig_request_t;


/* a decimal UNIX time within "window" seconds of "now" */
int gov_sig_timestamp(const char *ts, size_t len, long long now,
    long long window, long long *value);

int gov_sig_check(const unsigned char *secret, size_t secret_len,
    const char *ts, size_t ts_len, const char *body, size_t body_len,
    const char *sig, size_t sig_len);

/* writes "sha256=" and 64 hex digits (71 bytes, no NUL) */
void gov_sig_make(const unsigned char *secret, size_t secret_len,
    const char *ts, size_t ts_len, const char *body, size_t body_len,
    char *out);


/* GOV_SIG_V2 ("v2=" and 64 hex), GOV_SIG_V1 ("sha256=" and 64), or
 * GOV_SIG_MALFORMED */
int gov_sig_form(const char *sig, size_t sig_len);

int gov_sig_v2_check(const gov_sig_request_t *req,
    const unsigned char *secret, size_t secret_len, const char *sig,
    size_t sig_len);

/*
 * A department's signature of a request in either form: GOV_SIG_OK for
 * v2, GOV_SIG_V1 for a good v1 while "legacy" allows it, GOV_SIG_LEGACY
 * for a v1 while it does not (not checked), GOV_SIG_MISMATCH or
 * GOV_SIG_MALFORMED.
 */
int gov_sig_verify(const gov_sig_request_t *req, const unsigned char *secret,
    size_t secret_len, const char *sig, size_t sig_len, int legacy);

/* writes "v2=" and 64 hex digits (67 bytes, no NUL) */
void gov_sig_v2_make(const gov_sig_request_t *req,
    const unsigned char *secret, size_t secret_len, char *out);


#endif /* _GOV_SIG_H_INCLUDED_ */
