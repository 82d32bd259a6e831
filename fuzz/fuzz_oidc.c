
/*
 * Copyright (C) ngx_gov_module authors
 *
 * libFuzzer target: what an OpenID provider sends (the discovery
 * document, the token endpoint's answer), and the ID token's claims.
 */


#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "gov_oidc.h"


int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char                 err[256], *t;
    json_t              *c;
    gov_keyset_t         ks;
    gov_oidc_provider_t  p;

    if (gov_oidc_discovery((const char *) data, size,
                           "https://idp.example/realms/zj", &p, err,
                           sizeof(err)) == 0)
    {
        gov_oidc_provider_free(&p);
    }

    t = gov_oidc_id_token((const char *) data, size, err, sizeof(err));
    free(t);

    c = json_loadb((const char *) data, size, 0, NULL);
    if (json_is_object(c)) {
        (void) gov_oidc_check_id_token(c, "portal", "N");
    }

    json_decref(c);

    /* a provider's JWKS, as the callback loads it */
    memset(&ks, 0, sizeof(gov_keyset_t));
    (void) gov_keyset_add_jwks(&ks, (const char *) data, size,
                               (1u << GOV_JWT_RS256) | (1u << GOV_JWT_ES256),
                               err, sizeof(err));
    gov_keyset_free(&ks);

    return 0;
}
