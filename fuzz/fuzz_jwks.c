
/*
 * Copyright (C) ngx_gov_module authors
 *
 * libFuzzer target: key files (JWKS, single JWKs, PEM public keys).
 */


#include <stddef.h>
#include <stdint.h>

#include "gov_jwt.h"


int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char          err[256];
    gov_keyset_t  ks = { NULL, 0, 0, NULL };

    (void) gov_keyset_add(&ks, (const char *) data, size, NULL, NULL,
                          err, sizeof(err));
    (void) gov_keyset_add(&ks, (const char *) data, size, "ES256", NULL,
                          err, sizeof(err));

    gov_keyset_free(&ks);

    return 0;
}
