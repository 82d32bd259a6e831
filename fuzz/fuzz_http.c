
/*
 * Copyright (C) ngx_gov_module authors
 *
 * libFuzzer target: cookie, form and query parsing, percent-coding and the
 * return_to check, with the invariants they promise.
 */


#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "gov_b64.h"
#include "gov_http.h"


int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    long            n;
    char           *buf, *enc;
    size_t          len, i;
    const char     *s = (const char *) data, *v;
    unsigned char  *bin;

    (void) gov_cookie_get(s, size, "GOVSID", 6, &v, &len);

    buf = malloc(size + 1);
    if (buf == NULL) {
        return 0;
    }

    (void) gov_form_get(s, size, "token", buf, size);

    n = gov_pct_decode(buf, s, size, 1);
    if (n > (long) size) {
        __builtin_trap();
    }

    /* a path that passes the check never leaves the origin */

    if (gov_return_to_ok(s, size)) {
        if (size == 0 || s[0] != '/' || (size > 1 && s[1] == '/')
            || memchr(s, '\\', size) || memchr(s, '\n', size))
        {
            __builtin_trap();
        }
    }

    /* percent-encoding leaves no byte that could break a header */

    len = gov_pct_encode(NULL, s, size);
    enc = malloc(len + 1);

    if (enc) {
        if (gov_pct_encode(enc, s, size) != len) {
            __builtin_trap();
        }

        for (i = 0; i < len; i++) {
            if ((unsigned char) enc[i] < 0x21 || (unsigned char) enc[i] > 0x7e)
            {
                __builtin_trap();
            }
        }

        free(enc);
    }

    bin = malloc(gov_b64url_decoded_max(size) + 1);
    if (bin) {
        n = gov_b64url_decode(bin, s, size);
        if (n > (long) gov_b64url_decoded_max(size)) {
            __builtin_trap();
        }

        free(bin);
    }

    free(buf);

    return 0;
}
