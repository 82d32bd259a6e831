
/*
 * Copyright (C) ngx_gov_module authors
 *
 * libFuzzer target: sealed values as Redis hands them back (gov_open), a
 * text anyone who can write to Redis controls.  The input is opened as
 * sealed text under an AES and an SM4 key; whatever it is, nothing is
 * read or written out of bounds and only a real seal opens.  Then the
 * input is sealed under each key and must open to itself, and not open
 * bound to another place.
 */


#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "gov_seal.h"


int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);


static gov_seal_key_t  keys[2];
static int             ready;


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    int             k, rc;
    char            err[128], *sealed;
    size_t          n, len, used;
    unsigned char  *out;

    static const unsigned char  ad[] = "NB20261207000001\0fields.name";

    if (!ready) {
        if (gov_seal_key(&keys[0], GOV_SEAL_AES,
                         "00112233445566778899aabbccddeeff"
                         "00112233445566778899aabbccddeeff", 64, err,
                         sizeof(err)) != 0
            || gov_seal_key(&keys[1], GOV_SEAL_SM4,
                            "ffeeddccbbaa99887766554433221100"
                            "ffeeddccbbaa99887766554433221100", 64, err,
                            sizeof(err)) != 0)
        {
            abort();
        }

        ready = 1;
    }

    out = malloc(size + 1);
    if (out == NULL) {
        return 0;
    }

    rc = gov_open(keys, 2, ad, sizeof(ad) - 1, (const char *) data, size,
                  out, &len, &used);

    if (rc == GOV_SEAL_OK && len > size) {
        abort();
    }

    if (rc == GOV_SEAL_PLAIN && gov_sealed((const char *) data, size)) {
        abort();
    }

    free(out);

    if (size > 4096) {
        return 0;
    }

    sealed = malloc(gov_seal_len(size));
    out = malloc(gov_seal_len(size));

    for (k = 0; sealed && out && k < 2; k++) {
        n = gov_seal(&keys[k], ad, sizeof(ad) - 1, data, size, sealed);

        if (n == 0 || n > gov_seal_len(size)) {
            abort();
        }

        rc = gov_open(keys, 2, ad, sizeof(ad) - 1, sealed, n, out, &len,
                      &used);

        if (rc != GOV_SEAL_OK || len != size || used != (size_t) k
            || (size && memcmp(out, data, size) != 0))
        {
            abort();
        }

        rc = gov_open(keys, 2, ad, sizeof(ad) - 2, sealed, n, out, &len,
                      &used);

        if (rc != GOV_SEAL_DAMAGED) {
            abort();
        }
    }

    free(sealed);
    free(out);

    return 0;
}
