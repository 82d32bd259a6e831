
/*
 * Copyright (C) ngx_gov_module authors
 *
 * libFuzzer target: the core's OpenSSL verifier against libjwt 1.10 (the
 * oracle).  The first byte picks one of nine keys (every algorithm), the
 * second how the rest is used: as the signature itself, XORed into a valid
 * token's signature, or as a whole token.  On the signature the two
 * verdicts must be the same; on a whole token ours may refuse more (its
 * syntax is stricter) but never accept what libjwt refuses, and never call
 * a signature bad that libjwt accepts.
 */


#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "jwtdiff.h"


int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    int            a, b, rc;
    char          *t, *dot;
    size_t         i, head, len;
    json_t        *claims;
    jwtdiff_key_t *key;
    unsigned char  sig[1200];

    static jwtdiff_key_t  keys[JWTDIFF_NKEYS];
    static char          *valid[JWTDIFF_NKEYS];
    static int            ready;

    if (!ready) {
        jwtdiff_keys(keys);

        for (i = 0; i < JWTDIFF_NKEYS; i++) {
            valid[i] = jwtdiff_mint(&keys[i],
                                    "{\"sub\":\"a\",\"exp\":4102444800}");
        }

        ready = 1;
    }

    if (size < 2 || size > 1100) {
        return 0;
    }

    key = &keys[data[0] % JWTDIFF_NKEYS];

    if (data[1] % 3 == 2) {
        a = jwtdiff_ours(key, (const char *) data + 2, size - 2);
        b = jwtdiff_oracle(key, (const char *) data + 2, size - 2);

        rc = gov_jwt_verify(&key->ks, (const char *) data + 2, size - 2,
                            &claims);
        json_decref(claims);

        if ((a && !b) || (b && rc == GOV_AUTH_BAD_SIGNATURE)) {
            __builtin_trap();
        }

        return 0;
    }

    dot = strrchr(valid[key - keys], '.');
    head = (size_t) (dot - valid[key - keys]);
    len = (size_t) gov_b64url_decode(sig, dot + 1, strlen(dot + 1));

    if (data[1] % 3 == 0) {
        len = size - 2;
        memcpy(sig, data + 2, len);

    } else {
        for (i = 2; i < size && i - 2 < len; i++) {
            sig[i - 2] ^= data[i];
        }
    }

    t = malloc(head + 2 + gov_b64url_encoded_len(len));
    memcpy(t, valid[key - keys], head + 1);
    t[head + 1 + gov_b64url_encode(t + head + 1, sig, len)] = '\0';

    a = jwtdiff_ours(key, t, strlen(t));
    b = jwtdiff_oracle(key, t, strlen(t));

    free(t);

    if (a != b) {
        __builtin_trap();
    }

    return 0;
}
