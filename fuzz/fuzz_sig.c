
/*
 * Copyright (C) ngx_gov_module authors
 *
 * libFuzzer target: callback signature headers (v1 and v2) and
 * timestamps, and callback bodies.  The input is split at the first
 * newline: header value, then body (and, for v2, the path).
 */


#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <strings.h>

#include "gov_sig.h"
#include "gov_state.h"


int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    int             state;
    char            good[72];
    long long       ts;
    gov_callback_t  cb;
    const char   *s = (const char *) data, *nl;
    size_t        hlen;

    nl = memchr(s, '\n', size);
    hlen = nl ? (size_t) (nl - s) : size;

    (void) gov_sig_timestamp(s, hlen, 1795600000, 300, &ts);

    if (gov_sig_check((const unsigned char *) "secret-0123456789", 17,
                      "1795600000", 10, nl ? nl + 1 : "",
                      nl ? size - hlen - 1 : 0, s, hlen)
        == GOV_SIG_OK)
    {
        /* only the right signature passes */
        gov_sig_make((const unsigned char *) "secret-0123456789", 17,
                     "1795600000", 10, nl ? nl + 1 : "",
                     nl ? size - hlen - 1 : 0, good);

        if (hlen != 71 || strncasecmp(good, s, 71) != 0) {
            __builtin_trap();
        }
    }

    /* v2: the header against a request whose path is the body's */
    {
        char               v2[68];
        gov_sig_request_t  req;

        req.ts = "1795600000";
        req.ts_len = 10;
        req.method = "POST";
        req.method_len = 4;
        req.path = nl ? nl + 1 : "";
        req.path_len = nl ? size - hlen - 1 : 0;
        req.body = "{}";
        req.body_len = 2;

        if (gov_sig_verify(&req, (const unsigned char *) "secret-0123456789",
                           17, s, hlen, 0)
            == GOV_SIG_OK)
        {
            gov_sig_v2_make(&req,
                            (const unsigned char *) "secret-0123456789", 17,
                            v2);

            if (hlen != 67 || strncasecmp(v2, s, 67) != 0) {
                __builtin_trap();
            }
        }
    }

    /* the body as a department's callback */

    state = gov_callback_parse(nl ? nl + 1 : "", nl ? size - hlen - 1 : 0,
                               &cb);

    if ((state >= 0) != (cb.doc != NULL)
        || (cb.receipt && cb.receipt_len > GOV_CALLBACK_RECEIPT_MAX)
        || (cb.note && cb.note_len > GOV_CALLBACK_NOTE_MAX))
    {
        __builtin_trap();
    }

    gov_callback_free(&cb);

    return 0;
}
