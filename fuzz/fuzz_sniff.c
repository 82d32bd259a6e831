
/*
 * Copyright (C) ngx_gov_module authors
 *
 * libFuzzer target: the type sniffer.  The input is a file fed whole and
 * in pieces whose size comes from its last byte; the type must not
 * depend on how the bytes arrived.
 */


#include <stddef.h>
#include <stdint.h>

#include "gov_sniff.h"


int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    int          t1, t2;
    size_t       i, n, step;
    gov_sniff_t  s;

    step = size ? (size_t) data[size - 1] * 7 + 1 : 1;

    gov_sniff_init(&s);
    gov_sniff_feed(&s, data, size);
    t1 = gov_sniff_result(&s);
    gov_sniff_free(&s);

    gov_sniff_init(&s);

    for (i = 0; i < size; i += n) {
        n = size - i < step ? size - i : step;
        gov_sniff_feed(&s, data + i, n);
    }

    t2 = gov_sniff_result(&s);
    gov_sniff_free(&s);

    if (t1 != t2 || t1 < 0 || t1 >= GOV_TYPE_N) {
        __builtin_trap();
    }

    return 0;
}
