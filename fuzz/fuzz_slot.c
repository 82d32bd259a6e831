
/*
 * Copyright (C) ngx_gov_module authors
 *
 * libFuzzer target: Redis Cluster's arithmetic.  The input is an error
 * reply (a redirection's slot and address must lie within it), a key (its
 * slot within range, the same as its hash tag's alone), a command split
 * at NUL bytes (the key found is one of its arguments) and an id.
 */


#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "gov_slot.h"


int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    int          k, argc, kind, shard;
    size_t       alen, i, lens[16];
    unsigned     slot;
    const char  *s, *addr, *argv[16], *open, *close;

    s = (const char *) data;

    kind = gov_slot_redirect(s, size, &slot, &addr, &alen);

    if (kind == GOV_SLOT_MOVED || kind == GOV_SLOT_ASK) {
        if (slot >= GOV_SLOTS || addr < s || addr + alen > s + size
            || alen == 0)
        {
            abort();
        }
    }

    slot = gov_slot_of(s, size);

    if (slot >= GOV_SLOTS) {
        abort();
    }

    /* a key with a tag hashes as the tag alone */

    open = memchr(s, '{', size);
    close = open ? memchr(open + 1, '}', s + size - open - 1) : NULL;

    if (close && close > open + 1
        && slot != gov_slot_of(open + 1, close - open - 1))
    {
        abort();
    }

    argc = 0;

    for (i = 0; i < size && argc < 16; argc++) {
        argv[argc] = s + i;
        lens[argc] = strnlen(s + i, size - i);
        i += lens[argc] + 1;
    }

    k = gov_slot_key_index(argc, argv, lens);

    if (k >= argc || k < -1 || k == 0) {
        abort();
    }

    shard = gov_slot_id_shard(s, size, 7);

    if (shard < -1 || shard >= 7) {
        abort();
    }

    if (gov_slot_name_shard(s, size, 7) >= 7) {
        abort();
    }

    return 0;
}
