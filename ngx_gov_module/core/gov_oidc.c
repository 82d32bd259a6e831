
/*
 * Copyright (C) ngx_gov_module authors
 */


#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/evp.h>
#include <openssl/rand.h>

#include "gov_b64.h"
#include "gov_http.h"
#include "gov_oidc.h"


static char *gov_oidc_string(json_t *doc, const char *name, int required,
    char *err, size_t errlen);
static size_t gov_oidc_origin_len(const char *url);
static int gov_oidc_lists(json_t *doc, const char *name, const char *value);
static long gov_oidc_param(char *out, size_t size, size_t at,
    const char *name, const char *value);


static const char  *gov_oidc_reasons[] = {
    "ok",
    "bad_nonce",
    "bad_azp",
    "missing_claim"
};


int
gov_oidc_discovery(const char *json, size_t len, const char *issuer,
    gov_oidc_provider_t *p, char *err, size_t errlen)
{
    size_t        origin;
    json_t       *doc;
    const char   *path;
    json_error_t  jerr;

    memset(p, 0, sizeof(gov_oidc_provider_t));

    doc = json_loadb(json, len, JSON_REJECT_DUPLICATES, &jerr);

    if (!json_is_object(doc)) {
        snprintf(err, errlen, "the discovery document is not a JSON object");
        json_decref(doc);
        return -1;
    }

    p->issuer = gov_oidc_string(doc, "issuer", 1, err, errlen);
    if (p->issuer == NULL) {
        goto failed;
    }

    if (strcmp(p->issuer, issuer) != 0) {
        snprintf(err, errlen, "the discovery document names the issuer "
                 "\"%.200s\", not \"%.200s\"", p->issuer, issuer);
        goto failed;
    }

    p->authorization_endpoint = gov_oidc_string(doc,
                                                "authorization_endpoint", 1,
                                                err, errlen);
    p->token_endpoint = p->authorization_endpoint
                        ? gov_oidc_string(doc, "token_endpoint", 1, err,
                                          errlen)
                        : NULL;
    p->jwks_uri = p->token_endpoint
                  ? gov_oidc_string(doc, "jwks_uri", 1, err, errlen)
                  : NULL;

    if (p->jwks_uri == NULL) {
        goto failed;
    }

    if (json_object_get(doc, "end_session_endpoint")) {
        p->end_session_endpoint = gov_oidc_string(doc, "end_session_endpoint",
                                                  1, err, errlen);
        if (p->end_session_endpoint == NULL) {
            goto failed;
        }
    }

    /* the back channel goes through the proxy to the issuer's origin */

    origin = gov_oidc_origin_len(p->issuer);

    if (origin == 0) {
        snprintf(err, errlen, "the issuer \"%.200s\" is not an http(s) URL",
                 p->issuer);
        goto failed;
    }

    if (gov_oidc_origin_len(p->token_endpoint) != origin
        || strncmp(p->token_endpoint, p->issuer, origin) != 0)
    {
        snprintf(err, errlen, "the token endpoint \"%.200s\" is not on the "
                 "issuer's host, so not behind the proxy",
                 p->token_endpoint);
        goto failed;
    }

    if (gov_oidc_origin_len(p->jwks_uri) != origin
        || strncmp(p->jwks_uri, p->issuer, origin) != 0)
    {
        snprintf(err, errlen, "the jwks_uri \"%.200s\" is not on the "
                 "issuer's host, so not behind the proxy", p->jwks_uri);
        goto failed;
    }

    if (gov_oidc_origin_len(p->authorization_endpoint) == 0
        || (p->end_session_endpoint
            && gov_oidc_origin_len(p->end_session_endpoint) == 0))
    {
        snprintf(err, errlen, "an endpoint is not an http(s) URL");
        goto failed;
    }

    if (gov_oidc_lists(doc, "response_types_supported", "code") == 0) {
        snprintf(err, errlen, "the provider does not offer the code flow");
        goto failed;
    }

    if (gov_oidc_lists(doc, "code_challenge_methods_supported", "S256")
        == 0)
    {
        snprintf(err, errlen, "the provider does not offer PKCE with S256");
        goto failed;
    }

    path = gov_oidc_url_path(p->token_endpoint);
    p->token_path = strdup(*path ? path : "/");
    path = gov_oidc_url_path(p->jwks_uri);
    p->jwks_path = strdup(*path ? path : "/");

    if (p->token_path == NULL || p->jwks_path == NULL) {
        snprintf(err, errlen, "out of memory");
        goto failed;
    }

    json_decref(doc);

    return 0;

failed:

    json_decref(doc);
    gov_oidc_provider_free(p);

    return -1;
}


void
gov_oidc_provider_free(gov_oidc_provider_t *p)
{
    free(p->issuer);
    free(p->authorization_endpoint);
    free(p->token_endpoint);
    free(p->jwks_uri);
    free(p->end_session_endpoint);
    free(p->token_path);
    free(p->jwks_path);

    memset(p, 0, sizeof(gov_oidc_provider_t));
}


/* a member that must be a string without control characters */

static char *
gov_oidc_string(json_t *doc, const char *name, int required, char *err,
    size_t errlen)
{
    size_t       i, n;
    char        *s;
    json_t      *v;
    const char  *t;

    v = json_object_get(doc, name);

    if (v == NULL && !required) {
        return NULL;
    }

    if (!json_is_string(v)) {
        snprintf(err, errlen, "the discovery document has no string \"%s\"",
                 name);
        return NULL;
    }

    t = json_string_value(v);
    n = json_string_length(v);

    if (n == 0 || n > GOV_OIDC_URL_MAX) {
        snprintf(err, errlen, "\"%s\" is empty or too long", name);
        return NULL;
    }

    for (i = 0; i < n; i++) {
        if ((unsigned char) t[i] <= ' ' || t[i] == 0x7f) {
            snprintf(err, errlen, "\"%s\" holds a space or a control "
                     "character", name);
            return NULL;
        }
    }

    s = strdup(t);
    if (s == NULL) {
        snprintf(err, errlen, "out of memory");
    }

    return s;
}


/* the length of "scheme://host[:port]", 0 when not an http(s) URL */

static size_t
gov_oidc_origin_len(const char *url)
{
    size_t  n;

    if (strncmp(url, "https://", 8) == 0) {
        n = 8;

    } else if (strncmp(url, "http://", 7) == 0) {
        n = 7;

    } else {
        return 0;
    }

    if (url[n] == '\0' || url[n] == '/' || url[n] == '?' || url[n] == '#') {
        return 0;
    }

    while (url[n] && url[n] != '/' && url[n] != '?' && url[n] != '#') {
        if (url[n] == '@') {
            /* no credentials in a provider's URL */
            return 0;
        }

        n++;
    }

    return n;
}


const char *
gov_oidc_url_path(const char *url)
{
    size_t  n;

    n = gov_oidc_origin_len(url);

    return n ? url + n : NULL;
}


/* 1 when the array "name" holds "value", 0 when it does not, -1 absent */

static int
gov_oidc_lists(json_t *doc, const char *name, const char *value)
{
    size_t   i;
    json_t  *a, *v;

    a = json_object_get(doc, name);
    if (!json_is_array(a)) {
        return -1;
    }

    json_array_foreach(a, i, v) {
        if (json_is_string(v) && strcmp(json_string_value(v), value) == 0) {
            return 1;
        }
    }

    return 0;
}


int
gov_oidc_random(char out[GOV_OIDC_RANDOM_LEN + 1])
{
    unsigned char  r[32];

    if (RAND_bytes(r, sizeof(r)) != 1) {
        return -1;
    }

    out[gov_b64url_encode(out, r, sizeof(r))] = '\0';

    return 0;
}


int
gov_oidc_challenge(const char *verifier, char out[GOV_OIDC_RANDOM_LEN + 1])
{
    unsigned int   n;
    unsigned char  md[EVP_MAX_MD_SIZE];

    if (EVP_Digest(verifier, strlen(verifier), md, &n, EVP_sha256(), NULL)
        != 1)
    {
        return -1;
    }

    out[gov_b64url_encode(out, md, n)] = '\0';

    return 0;
}


/* appends "&name=value" ("?" first), value percent-encoded */

static long
gov_oidc_param(char *out, size_t size, size_t at, const char *name,
    const char *value)
{
    size_t  n, v;

    n = strlen(name);
    v = gov_pct_encode(NULL, value, strlen(value));

    if (at + 1 + n + 1 + v + 1 > size) {
        return -1;
    }

    out[at++] = '&';
    memcpy(out + at, name, n);
    at += n;
    out[at++] = '=';
    at += gov_pct_encode(out + at, value, strlen(value));
    out[at] = '\0';

    return (long) at;
}


long
gov_oidc_authorize_url(char *out, size_t size, const char *endpoint,
    const char *client_id, const char *redirect_uri, const char *scope,
    const char *state, const char *nonce, const char *challenge)
{
    long        at;
    size_t      n;
    const char  *names[] = { "response_type", "client_id", "redirect_uri",
                             "scope", "state", "nonce", "code_challenge",
                             "code_challenge_method" };
    const char  *values[8];
    size_t       i;

    values[0] = "code";
    values[1] = client_id;
    values[2] = redirect_uri;
    values[3] = scope;
    values[4] = state;
    values[5] = nonce;
    values[6] = challenge;
    values[7] = "S256";

    n = strlen(endpoint);

    if (n + 1 > size) {
        return -1;
    }

    memcpy(out, endpoint, n);
    out[n] = '\0';
    at = (long) n;

    for (i = 0; i < 8; i++) {
        at = gov_oidc_param(out, size, (size_t) at, names[i], values[i]);
        if (at < 0) {
            return -1;
        }
    }

    /* the first parameter starts the query, or follows the endpoint's */
    out[n] = strchr(endpoint, '?') ? '&' : '?';

    return at;
}


long
gov_oidc_token_body(char *out, size_t size, const char *code,
    const char *redirect_uri, const char *verifier)
{
    long  at;

    at = gov_oidc_param(out, size, 0, "grant_type", "authorization_code");
    at = at < 0 ? at : gov_oidc_param(out, size, (size_t) at, "code", code);
    at = at < 0 ? at : gov_oidc_param(out, size, (size_t) at, "redirect_uri",
                                      redirect_uri);
    at = at < 0 ? at : gov_oidc_param(out, size, (size_t) at,
                                      "code_verifier", verifier);
    if (at < 0) {
        return -1;
    }

    /* no "&" before the first */
    memmove(out, out + 1, (size_t) at);

    return at - 1;
}


long
gov_oidc_basic(char *out, size_t size, const char *client_id,
    const char *secret)
{
    long           rc;
    size_t         a, b, n;
    unsigned char  *plain;

    a = gov_pct_encode(NULL, client_id, strlen(client_id));
    b = gov_pct_encode(NULL, secret, strlen(secret));

    plain = malloc(a + 1 + b);
    if (plain == NULL) {
        return -1;
    }

    n = gov_pct_encode((char *) plain, client_id, strlen(client_id));
    plain[n++] = ':';
    n += gov_pct_encode((char *) plain + n, secret, strlen(secret));

    if (6 + (n + 2) / 3 * 4 + 1 > size) {
        free(plain);
        return -1;
    }

    memcpy(out, "Basic ", 6);
    rc = EVP_EncodeBlock((unsigned char *) out + 6, plain, (int) n);

    OPENSSL_cleanse(plain, n);
    free(plain);

    return rc < 0 ? -1 : 6 + rc;
}


char *
gov_oidc_id_token(const char *json, size_t len, char *err, size_t errlen)
{
    char          *t;
    json_t        *doc, *v;
    const char    *s;
    json_error_t   jerr;

    doc = json_loadb(json, len, JSON_REJECT_DUPLICATES, &jerr);

    if (!json_is_object(doc)) {
        snprintf(err, errlen, "the token endpoint's answer is not a JSON "
                 "object");
        json_decref(doc);
        return NULL;
    }

    v = json_object_get(doc, "error");

    if (v) {
        s = json_is_string(v) ? json_string_value(v) : "";

        /* the provider's code, as a code: letters, digits and "_" */
        snprintf(err, errlen, "the token endpoint refused: %.*s",
                 (int) strspn(s, "abcdefghijklmnopqrstuvwxyz"
                                 "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_"), s);
        json_decref(doc);
        return NULL;
    }

    v = json_object_get(doc, "token_type");

    if (!json_is_string(v) || strcasecmp(json_string_value(v), "Bearer") != 0)
    {
        snprintf(err, errlen, "the token endpoint's answer has no "
                 "\"token_type\" Bearer");
        json_decref(doc);
        return NULL;
    }

    v = json_object_get(doc, "id_token");

    if (!json_is_string(v) || json_string_length(v) == 0
        || json_string_length(v) > GOV_JWT_MAX_LEN)
    {
        snprintf(err, errlen, "the token endpoint's answer has no "
                 "\"id_token\"");
        json_decref(doc);
        return NULL;
    }

    t = strdup(json_string_value(v));
    if (t == NULL) {
        snprintf(err, errlen, "out of memory");
    }

    json_decref(doc);

    return t;
}


int
gov_oidc_check_id_token(json_t *claims, const char *client_id,
    const char *nonce)
{
    json_t  *v, *aud;

    v = json_object_get(claims, "sub");
    if (!json_is_string(v) || json_string_length(v) == 0) {
        return GOV_OIDC_MISSING_CLAIM;
    }

    if (!json_is_number(json_object_get(claims, "iat"))) {
        return GOV_OIDC_MISSING_CLAIM;
    }

    v = json_object_get(claims, "nonce");
    if (v == NULL) {
        return GOV_OIDC_MISSING_CLAIM;
    }

    if (!json_is_string(v) || strcmp(json_string_value(v), nonce) != 0) {
        return GOV_OIDC_BAD_NONCE;
    }

    aud = json_object_get(claims, "aud");
    v = json_object_get(claims, "azp");

    if (v || (json_is_array(aud) && json_array_size(aud) > 1)) {
        /* OpenID Connect Core 3.1.3.7, items 4 and 5 */
        if (!json_is_string(v) || strcmp(json_string_value(v), client_id)
                                  != 0)
        {
            return GOV_OIDC_BAD_AZP;
        }
    }

    return GOV_OIDC_OK;
}


const char *
gov_oidc_reason_str(int reason)
{
    if (reason < 0 || reason > GOV_OIDC_MISSING_CLAIM) {
        return "unknown";
    }

    return gov_oidc_reasons[reason];
}
