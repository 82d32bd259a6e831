
/*
 * Copyright (C) ngx_gov_module authors
 *
 * libFuzzer target: the waiting room's cookies.  The input is a cookie
 * value, checked as a pass and read as a ticket; and, as a zone name, a
 * pass made for it must be valid in it and in no zone one byte shorter.
 */


#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "gov_queue.h"


int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char                 pass[GOV_QUEUE_PASS_MAX];
    size_t               n;
    long long            num;
    const char          *tok, *s;
    const unsigned char  key[] = "fuzz-key-0123456789abcdef0123456";

    s = (const char *) data;

    (void) gov_queue_pass_ok(key, 32, "peak", 4, s, size, 1796000000);

    if (gov_queue_ticket(s, size, &num, &tok)) {
        if (num <= 0 || tok != s + size - GOV_QUEUE_TOKEN_LEN) {
            abort();
        }
    }

    n = gov_queue_pass(key, 32, s, size, 1796000100, pass);

    if (n == 0 || !gov_queue_pass_ok(key, 32, s, size, pass, n, 1796000000)) {
        abort();
    }

    if (size && gov_queue_pass_ok(key, 32, s, size - 1, pass, n, 1796000000))
    {
        abort();
    }

    return 0;
}
