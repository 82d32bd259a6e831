
/*
 * Copyright (C) ngx_gov_module authors
 *
 * gov-token: mints JWTs for operators and load testers.
 *
 *   gov-token --key FILE --alg ALG [--kid KID] --sub SUBJECT
 *             [--name NAME] [--act AGENT] [--iss ISSUER] [--aud AUDIENCE]
 *             [--ttl SECONDS] [--nbf SECONDS] [--no-exp]
 *             [--claim NAME=VALUE ...] [--claims JSON] [--count N]
 *   gov-token --key FILE --alg ALG [--kid KID] --print-jwks
 *
 * FILE is a PEM private key for RS* and ES*, and for HS* an "oct" JWK (or a
 * JWKS whose first oct key is used) or a file of raw secret bytes.
 * --ttl sets exp to now + SECONDS (default 3600); --nbf sets nbf to now +
 * SECONDS (may be negative); --act makes the token a delegation (帮办代办):
 * {"act":{"sub":AGENT}}.  The token is printed on standard output.
 * --count N prints N tokens, one a line, for load tests: the subjects are
 * SUBJECT followed by a six-digit number from 000001.
 * --print-jwks prints instead the JWKS that verifies such tokens (for
 * gov_jwt_key_file): the public half of an RSA or EC key, or the oct key.
 */


#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>
#include <jwt.h>

#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

#include "gov_b64.h"
#include "gov_jwt.h"


static void gov_token_usage(void);
static char *gov_token_mint(json_t *claims, const char *kid, int alg,
    unsigned char *key, size_t key_len);
static unsigned char *gov_token_read(const char *path, size_t *len);
static unsigned char *gov_token_secret(unsigned char *data, size_t *len);
static int gov_token_print_jwks(const char *alg, const char *kid,
    unsigned char *key, size_t len);
static json_t *gov_token_b64_param(EVP_PKEY *pkey, const char *param,
    size_t pad);


int
main(int argc, char **argv)
{
    int             i, alg, no_exp, have_nbf, print_jwks;
    long            ttl, nbf, count, n;
    char           *out, *eq, subject[256];
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
    print_jwks = 0;
    count = 0;

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

        } else if (strcmp(argv[i], "--print-jwks") == 0) {
            print_jwks = 1;

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

        } else if (gov_token_arg("--count")) {
            count = strtol(argv[i], NULL, 10);

            if (count < 1 || count > 999999) {
                fprintf(stderr, "gov-token: --count takes 1 to 999999\n");
                return 2;
            }

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

    if (print_jwks) {
        json_decref(claims);
        return gov_token_print_jwks(alg_name, kid, key, key_len);
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

    if (count && (sub == NULL || strlen(sub) > sizeof(subject) - 8)) {
        fprintf(stderr, "gov-token: --count needs a --sub prefix\n");
        return 2;
    }

    for (n = 1; n <= (count ? count : 1); n++) {
        if (count) {
            snprintf(subject, sizeof(subject), "%s%06ld", sub, n);
            json_object_set_new(claims, "sub", json_string(subject));
        }

        out = gov_token_mint(claims, kid, alg, key, key_len);
        if (out == NULL) {
            fprintf(stderr, "gov-token: cannot sign with \"%s\" (%s)\n",
                    key_file, strerror(errno));
            return 1;
        }

        printf("%s\n", out);
        free(out);
    }

    json_decref(claims);
    free(key);

    return 0;
}


/* the signed token of "claims", or NULL */

static char *
gov_token_mint(json_t *claims, const char *kid, int alg, unsigned char *key,
    size_t key_len)
{
    char   *dump, *out;
    jwt_t  *jwt;

    dump = json_dumps(claims, JSON_COMPACT);
    if (dump == NULL || jwt_new(&jwt) != 0) {
        free(dump);
        return NULL;
    }

    if (jwt_add_grants_json(jwt, dump) != 0
        || (kid && jwt_add_header(jwt, "kid", kid) != 0)
        || jwt_set_alg(jwt, (jwt_alg_t) alg, key, (int) key_len) != 0)
    {
        free(dump);
        jwt_free(jwt);
        return NULL;
    }

    free(dump);

    out = jwt_encode_str(jwt);
    jwt_free(jwt);

    return out;
}


static void
gov_token_usage(void)
{
    fprintf(stderr,
        "usage: gov-token --key FILE --alg ALG [--kid KID] --sub SUBJECT\n"
        "                 [--name NAME] [--act AGENT] [--iss ISSUER]\n"
        "                 [--aud AUDIENCE] [--ttl SECONDS] [--nbf SECONDS]\n"
        "                 [--no-exp] [--claim NAME=VALUE ...]"
        " [--claims JSON] [--count N]\n"
        "       gov-token --key FILE --alg ALG [--kid KID] --print-jwks\n");
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


static json_t *
gov_token_b64_param(EVP_PKEY *pkey, const char *param, size_t pad)
{
    int             n;
    char           *out;
    BIGNUM         *bn;
    json_t         *s;
    unsigned char   buf[1024];

    bn = NULL;

    if (!EVP_PKEY_get_bn_param(pkey, param, &bn)) {
        return NULL;
    }

    n = pad ? BN_bn2binpad(bn, buf, (int) pad) : BN_bn2bin(bn, buf);
    BN_free(bn);

    if (n <= 0) {
        return NULL;
    }

    out = malloc(gov_b64url_encoded_len((size_t) n) + 1);
    if (out == NULL) {
        return NULL;
    }

    out[gov_b64url_encode(out, buf, (size_t) n)] = '\0';
    s = json_string(out);
    free(out);

    return s;
}


static int
gov_token_print_jwks(const char *alg, const char *kid, unsigned char *key,
    size_t len)
{
    BIO       *bio;
    char      *out, *k, group[64];
    json_t    *jwk, *keys, *doc;
    size_t     flen;
    EVP_PKEY  *pkey;

    jwk = json_object();

    if (kid) {
        json_object_set_new(jwk, "kid", json_string(kid));
    }

    json_object_set_new(jwk, "alg", json_string(alg));
    json_object_set_new(jwk, "use", json_string("sig"));

    if (alg[0] == 'H') {
        k = malloc(gov_b64url_encoded_len(len) + 1);
        if (k == NULL) {
            return 1;
        }

        k[gov_b64url_encode(k, key, len)] = '\0';
        json_object_set_new(jwk, "kty", json_string("oct"));
        json_object_set_new(jwk, "k", json_string(k));
        free(k);

    } else {
        bio = BIO_new_mem_buf(key, (int) len);
        pkey = PEM_read_bio_PrivateKey(bio, NULL, NULL, NULL);
        BIO_free(bio);

        if (pkey == NULL) {
            fprintf(stderr, "gov-token: no PEM private key\n");
            return 1;
        }

        if (EVP_PKEY_get_base_id(pkey) == EVP_PKEY_RSA) {
            json_object_set_new(jwk, "kty", json_string("RSA"));
            json_object_set_new(jwk, "n",
                gov_token_b64_param(pkey, OSSL_PKEY_PARAM_RSA_N, 0));
            json_object_set_new(jwk, "e",
                gov_token_b64_param(pkey, OSSL_PKEY_PARAM_RSA_E, 0));

        } else {
            if (!EVP_PKEY_get_utf8_string_param(pkey,
                                                OSSL_PKEY_PARAM_GROUP_NAME,
                                                group, sizeof(group), NULL))
            {
                EVP_PKEY_free(pkey);
                return 1;
            }

            if (strcmp(group, "prime256v1") == 0) {
                json_object_set_new(jwk, "crv", json_string("P-256"));
                flen = 32;

            } else if (strcmp(group, "secp384r1") == 0) {
                json_object_set_new(jwk, "crv", json_string("P-384"));
                flen = 48;

            } else {
                json_object_set_new(jwk, "crv", json_string("P-521"));
                flen = 66;
            }

            json_object_set_new(jwk, "kty", json_string("EC"));
            json_object_set_new(jwk, "x",
                gov_token_b64_param(pkey, OSSL_PKEY_PARAM_EC_PUB_X, flen));
            json_object_set_new(jwk, "y",
                gov_token_b64_param(pkey, OSSL_PKEY_PARAM_EC_PUB_Y, flen));
        }

        EVP_PKEY_free(pkey);
    }

    keys = json_array();
    json_array_append_new(keys, jwk);
    doc = json_object();
    json_object_set_new(doc, "keys", keys);

    out = json_dumps(doc, JSON_INDENT(2));
    json_decref(doc);

    if (out == NULL) {
        return 1;
    }

    printf("%s\n", out);
    free(out);
    free(key);

    return 0;
}
