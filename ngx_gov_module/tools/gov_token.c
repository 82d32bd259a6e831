
/*
 * Copyright (C) ngx_gov_module authors
 *
 * gov-token: mints JWTs for operators and load testers.
 *
 *   gov-token --key FILE --alg ALG [--kid KID] --sub SUBJECT
 *             [--name NAME] [--act AGENT] [--iss ISSUER] [--aud AUDIENCE]
 *             [--ttl SECONDS] [--nbf SECONDS] [--no-exp]
 *             [--claim NAME=VALUE ...] [--claims JSON]
 *
 * FILE is a PEM private key for RS* and ES*, and for HS* an "oct" JWK (or a
 * JWKS whose first oct key is used) or a file of raw secret bytes.
 * --ttl sets exp to now + SECONDS (default 3600); --nbf sets nbf to now +
 * SECONDS (may be negative); --act makes the token a delegation (帮办代办):
 * {"act":{"sub":AGENT}}.  The token is printed on standard output.
 */


#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>
#include <jwt.h>

#include "gov_b64.h"
#include "gov_jwt.h"


static void gov_token_usage(void);
static unsigned char *gov_token_read(const char *path, size_t *len);
static unsigned char *gov_token_secret(unsigned char *data, size_t *len);


int
main(int argc, char **argv)
{
    int             i, alg, no_exp, have_nbf;
    long            ttl, nbf;
    char           *out, *eq;
    jwt_t          *jwt;
    size_t          key_len;
    json_t         *claims, *extra, *act;
    time_t          now;
    const char     *key_file, *alg_name, *kid, *sub, *name, *actor, *iss;
    const char     *aud, *claims_json;
    json_error_t    jerr;
    unsigned char  *key;

    key_file = NULL;
    alg_name = NULL;
    kid = NULL;
    sub = NULL;
    name = NULL;
    actor = NULL;
    iss = NULL;
    aud = NULL;
    claims_json = NULL;
    ttl = 3600;
    nbf = 0;
    have_nbf = 0;
    no_exp = 0;

    claims = json_object();
    now = time(NULL);

    for (i = 1; i < argc; i++) {

#define gov_token_arg(opt)                                                   \
        (strcmp(argv[i], opt) == 0 && i + 1 < argc && ++i)

        if (gov_token_arg("--key")) {
            key_file = argv[i];

        } else if (gov_token_arg("--alg")) {
            alg_name = argv[i];

        } else if (gov_token_arg("--kid")) {
            kid = argv[i];

        } else if (gov_token_arg("--sub")) {
            sub = argv[i];

        } else if (gov_token_arg("--name")) {
            name = argv[i];

        } else if (gov_token_arg("--act")) {
            actor = argv[i];

        } else if (gov_token_arg("--iss")) {
            iss = argv[i];

        } else if (gov_token_arg("--aud")) {
            aud = argv[i];

        } else if (gov_token_arg("--ttl")) {
            ttl = strtol(argv[i], NULL, 10);

        } else if (gov_token_arg("--nbf")) {
            nbf = strtol(argv[i], NULL, 10);
            have_nbf = 1;

        } else if (strcmp(argv[i], "--no-exp") == 0) {
            no_exp = 1;

        } else if (gov_token_arg("--claim")) {
            eq = strchr(argv[i], '=');
            if (eq == NULL) {
                gov_token_usage();
                return 2;
            }

            *eq = '\0';
            json_object_set_new(claims, argv[i], json_string(eq + 1));

        } else if (gov_token_arg("--claims")) {
            claims_json = argv[i];

        } else {
            gov_token_usage();
            return 2;
        }
    }

    if (key_file == NULL || alg_name == NULL) {
        gov_token_usage();
        return 2;
    }

    alg = gov_jwt_alg_from_str(alg_name);
    if (alg < 0) {
        fprintf(stderr, "gov-token: unsupported algorithm \"%s\"\n",
                alg_name);
        return 2;
    }

    key = gov_token_read(key_file, &key_len);
    if (key == NULL) {
        fprintf(stderr, "gov-token: cannot read \"%s\": %s\n", key_file,
                strerror(errno));
        return 1;
    }

    if (alg <= JWT_ALG_HS512) {
        key = gov_token_secret(key, &key_len);
        if (key == NULL) {
            fprintf(stderr, "gov-token: no oct key in \"%s\"\n", key_file);
            return 1;
        }
    }

    if (sub) {
        json_object_set_new(claims, "sub", json_string(sub));
    }

    if (name) {
        json_object_set_new(claims, "name", json_string(name));
    }

    if (actor) {
        act = json_object();
        json_object_set_new(act, "sub", json_string(actor));
        json_object_set_new(claims, "act", act);
    }

    if (iss) {
        json_object_set_new(claims, "iss", json_string(iss));
    }

    if (aud) {
        json_object_set_new(claims, "aud", json_string(aud));
    }

    json_object_set_new(claims, "iat", json_integer(now));

    if (!no_exp) {
        json_object_set_new(claims, "exp", json_integer(now + ttl));
    }

    if (have_nbf) {
        json_object_set_new(claims, "nbf", json_integer(now + nbf));
    }

    if (claims_json) {
        extra = json_loads(claims_json, 0, &jerr);
        if (!json_is_object(extra)) {
            fprintf(stderr, "gov-token: --claims: %s\n", jerr.text);
            return 2;
        }

        json_object_update(claims, extra);
        json_decref(extra);
    }

    out = json_dumps(claims, JSON_COMPACT);

    if (jwt_new(&jwt) != 0
        || jwt_add_grants_json(jwt, out) != 0
        || (kid && jwt_add_header(jwt, "kid", kid) != 0)
        || jwt_set_alg(jwt, (jwt_alg_t) alg, key, (int) key_len) != 0)
    {
        fprintf(stderr, "gov-token: cannot build the token\n");
        return 1;
    }

    free(out);

    out = jwt_encode_str(jwt);
    if (out == NULL) {
        fprintf(stderr, "gov-token: cannot sign with \"%s\" (%s)\n",
                key_file, strerror(errno));
        return 1;
    }

    printf("%s\n", out);

    free(out);
    jwt_free(jwt);
    json_decref(claims);
    free(key);

    return 0;
}


static void
gov_token_usage(void)
{
    fprintf(stderr,
        "usage: gov-token --key FILE --alg ALG [--kid KID] --sub SUBJECT\n"
        "                 [--name NAME] [--act AGENT] [--iss ISSUER]\n"
        "                 [--aud AUDIENCE] [--ttl SECONDS] [--nbf SECONDS]\n"
        "                 [--no-exp] [--claim NAME=VALUE ...]"
        " [--claims JSON]\n");
}


static unsigned char *
gov_token_read(const char *path, size_t *len)
{
    FILE           *f;
    long            n;
    unsigned char  *buf;

    f = fopen(path, "rb");
    if (f == NULL) {
        return NULL;
    }

    if (fseek(f, 0, SEEK_END) != 0 || (n = ftell(f)) < 0
        || fseek(f, 0, SEEK_SET) != 0)
    {
        fclose(f);
        return NULL;
    }

    buf = malloc((size_t) n + 1);
    if (buf == NULL || fread(buf, 1, (size_t) n, f) != (size_t) n) {
        free(buf);
        fclose(f);
        return NULL;
    }

    fclose(f);

    buf[n] = '\0';
    *len = (size_t) n;

    return buf;
}


static unsigned char *
gov_token_secret(unsigned char *data, size_t *len)
{
    long            n;
    json_t         *doc, *k, *keys;
    size_t          i;
    unsigned char  *secret;

    doc = json_loadb((const char *) data, *len, 0, NULL);
    if (doc == NULL) {
        /* raw secret bytes */
        return data;
    }

    k = NULL;
    keys = json_object_get(doc, "keys");

    if (json_is_array(keys)) {
        for (i = 0; i < json_array_size(keys); i++) {
            k = json_object_get(json_array_get(keys, i), "k");
            if (k) {
                break;
            }
        }

    } else {
        k = json_object_get(doc, "k");
    }

    free(data);

    if (!json_is_string(k)) {
        json_decref(doc);
        return NULL;
    }

    secret = malloc(gov_b64url_decoded_max(json_string_length(k)) + 1);
    if (secret == NULL) {
        json_decref(doc);
        return NULL;
    }

    n = gov_b64url_decode(secret, json_string_value(k), json_string_length(k));
    json_decref(doc);

    if (n <= 0) {
        free(secret);
        return NULL;
    }

    *len = (size_t) n;

    return secret;
}
