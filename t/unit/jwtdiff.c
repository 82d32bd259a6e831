
/*
 * Copyright (C) ngx_gov_module authors
 *
 * The OpenSSL verifier of the core held against libjwt 1.10, the oracle:
 * tokens of all nine algorithms, valid and with their signatures damaged
 * in every way a forger would try, must be accepted or refused by both.
 * Our verifier is stricter about syntax; on the signature itself the two
 * must never disagree.
 */


#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jwt.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

#include "tap.h"
#include "gov_b64.h"
#include "gov_jwt.h"
#include "jwtdiff.h"


int
main(void)
{
    int            i, j, m, agree, total, accepted;
    char          *t;
    jwtdiff_key_t  keys[JWTDIFF_NKEYS], other[JWTDIFF_NKEYS];

    ok((int) JWT_ALG_HS256 == (int) GOV_JWT_HS256
       && (int) JWT_ALG_ES512 == (int) GOV_JWT_ES512,
       "our algorithm numbers are libjwt's");

    jwtdiff_keys(keys);
    jwtdiff_keys(other);

    for (i = 0; i < JWTDIFF_NKEYS; i++) {
        t = jwtdiff_mint(&keys[i], "{\"sub\":\"a\",\"exp\":4102444800}");

        is_int(jwtdiff_ours(&keys[i], t, strlen(t)), 1,
               "%s: a valid token verifies", keys[i].name);
        is_int(jwtdiff_oracle(&keys[i], t, strlen(t)), 1,
               "%s: libjwt agrees", keys[i].name);

        agree = 0;
        total = 0;
        accepted = 0;

        for (m = 0; m < JWTDIFF_MUTATIONS; m++) {
            for (j = 0; j < 8; j++) {
                total++;
                agree += jwtdiff_compare(&keys[i], t, m, j, &accepted);
            }
        }

        is_int(agree, total, "%s: %d damaged signatures, both agree on each",
               keys[i].name, total);
        is_int(accepted, 0, "%s: none of them accepted", keys[i].name);

        /* the same token against another key of the same algorithm */
        ok(!jwtdiff_ours(&other[i], t, strlen(t))
           && !jwtdiff_oracle(&other[i], t, strlen(t)),
           "%s: both refuse it with another key", keys[i].name);

        free(t);
    }

    jwtdiff_free(keys);
    jwtdiff_free(other);

    return done_testing();
}
