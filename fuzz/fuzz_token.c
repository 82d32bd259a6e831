
/*
 * Copyright (C) ngx_gov_module authors
 *
 * libFuzzer target: the token parser and verifier, then the claim checks.
 */


#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "gov_jwt.h"


/* an oct key and a P-256 key, so that both verification paths run */

static const char  fuzz_jwks[] =
    "{\"keys\":["
    "{\"kty\":\"oct\",\"kid\":\"h1\",\"alg\":\"HS256\","
    "\"k\":\"MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY\"},"
    "{\"kty\":\"EC\",\"kid\":\"e1\",\"crv\":\"P-256\","
    "\"x\":\"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU\","
    "\"y\":\"x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0\"}"
    "]}";


int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char                err[256];
    json_t             *claims;
    const char         *req[] = { "sub", "exp" };
    gov_claim_policy_t  policy;

    static gov_keyset_t  ks;
    static int           ready;

    if (!ready) {
        if (gov_keyset_add(&ks, fuzz_jwks, sizeof(fuzz_jwks) - 1, NULL, NULL,
                           err, sizeof(err))
            != 0)
        {
            __builtin_trap();
        }

        ready = 1;
    }

    if (gov_jwt_verify(&ks, (const char *) data, size, &claims)
        == GOV_AUTH_OK)
    {
        memset(&policy, 0, sizeof(policy));
        policy.issuer = "https://idp.gov.example";
        policy.audience = "portal";
        policy.leeway = 60;
        policy.require = req;
        policy.nrequire = 2;

        (void) gov_jwt_check_claims(claims, &policy, 1795600000);
        (void) gov_jwt_subject(claims);
        (void) gov_jwt_actor(claims);
        (void) gov_jwt_name(claims);
        (void) gov_jwt_exp(claims);

        json_decref(claims);
    }

    return 0;
}
