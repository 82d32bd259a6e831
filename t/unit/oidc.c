
/*
 * Copyright (C) ngx_gov_module authors
 *
 * Unit tests of the OpenID Connect core (gov_oidc.c): discovery, the
 * authorization request, PKCE (RFC 7636's own example), the client's
 * Basic credentials, the token endpoint's answer and the ID token's
 * claims.
 */


#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tap.h"
#include "gov_b64.h"
#include "gov_oidc.h"


#define ISS  "https://idp.example.gov.cn/realms/zj"


static int
disc(const char *json, gov_oidc_provider_t *p, char *err, size_t errlen)
{
    return gov_oidc_discovery(json, strlen(json), ISS, p, err, errlen);
}


static char *
id_token(const char *json, char *err, size_t errlen)
{
    return gov_oidc_id_token(json, strlen(json), err, errlen);
}


static int
id_token_check(const char *json, const char *nonce)
{
    int      rc;
    json_t  *c;

    c = json_loads(json, 0, NULL);
    rc = gov_oidc_check_id_token(c, "portal", nonce);
    json_decref(c);

    return rc;
}


int
main(void)
{
    int                  i;
    long                 n;
    char                 err[256], url[GOV_OIDC_URL_MAX], doc[2048];
    char                 v1[GOV_OIDC_RANDOM_LEN + 1];
    char                 v2[GOV_OIDC_RANDOM_LEN + 1];
    char                 ch[GOV_OIDC_RANDOM_LEN + 1], *t;
    unsigned char        raw[64];
    gov_oidc_provider_t  p;

    /* discovery */

    snprintf(doc, sizeof(doc),
             "{\"issuer\":\"%s\","
             "\"authorization_endpoint\":\"https://login.example.gov.cn/"
             "authorize?lang=zh\","
             "\"token_endpoint\":\"%s/protocol/token\","
             "\"jwks_uri\":\"%s/certs\","
             "\"end_session_endpoint\":\"%s/logout\","
             "\"response_types_supported\":[\"code\",\"id_token\"],"
             "\"code_challenge_methods_supported\":[\"plain\",\"S256\"]}",
             ISS, ISS, ISS, ISS);

    is_int(disc(doc, &p, err, sizeof(err)), 0, "discovery read");
    is_str(p.token_path, "/realms/zj/protocol/token", "the token path");
    is_str(p.jwks_path, "/realms/zj/certs", "the JWKS path");
    is_str(p.end_session_endpoint, ISS "/logout", "the end session endpoint");
    is_str(p.authorization_endpoint,
           "https://login.example.gov.cn/authorize?lang=zh",
           "the authorization endpoint on another host");
    gov_oidc_provider_free(&p);

    ok(disc("{\"issuer\":\"" ISS "/\",\"authorization_endpoint\":\"" ISS
            "/a\",\"token_endpoint\":\"" ISS "/t\",\"jwks_uri\":\"" ISS
            "/k\"}", &p, err, sizeof(err)) == -1
       && strstr(err, "names the issuer"),
       "an issuer with another spelling (a trailing slash): %s", err);
    ok(p.issuer == NULL, "nothing kept of a refused document");

    ok(disc("{\"issuer\":\"" ISS "\",\"authorization_endpoint\":\"" ISS
            "/a\",\"token_endpoint\":\"https://evil.example/t\","
            "\"jwks_uri\":\"" ISS "/k\"}", &p, err, sizeof(err)) == -1
       && strstr(err, "token endpoint"),
       "a token endpoint on another host: %s", err);

    ok(disc("{\"issuer\":\"" ISS "\",\"authorization_endpoint\":\"" ISS
            "/a\",\"token_endpoint\":\"" ISS "/t\","
            "\"jwks_uri\":\"https://idp.example.gov.cn@evil.example/k\"}",
            &p, err, sizeof(err)) == -1,
       "a jwks_uri with credentials (another host): %s", err);

    ok(disc("{\"issuer\":\"" ISS "\",\"authorization_endpoint\":\"" ISS
            "/a\",\"token_endpoint\":\"" ISS "/t\"}", &p, err, sizeof(err))
       == -1 && strstr(err, "jwks_uri"), "no jwks_uri: %s", err);

    ok(disc("{\"issuer\":\"" ISS "\",\"authorization_endpoint\":\"" ISS
            "/a b\",\"token_endpoint\":\"" ISS "/t\",\"jwks_uri\":\"" ISS
            "/k\"}", &p, err, sizeof(err)) == -1 && strstr(err, "space"),
       "a space in an endpoint: %s", err);

    ok(disc("{\"issuer\":\"" ISS "\",\"authorization_endpoint\":\"javascript:"
            "x\",\"token_endpoint\":\"" ISS "/t\",\"jwks_uri\":\"" ISS
            "/k\"}", &p, err, sizeof(err)) == -1,
       "an authorization endpoint that is not http(s): %s", err);

    ok(disc("{\"issuer\":\"" ISS "\",\"authorization_endpoint\":\"" ISS
            "/a\",\"token_endpoint\":\"" ISS "/t\",\"jwks_uri\":\"" ISS
            "/k\",\"code_challenge_methods_supported\":[\"plain\"]}",
            &p, err, sizeof(err)) == -1 && strstr(err, "S256"),
       "no S256 offered: %s", err);

    ok(disc("{\"issuer\":\"" ISS "\",\"authorization_endpoint\":\"" ISS
            "/a\",\"token_endpoint\":\"" ISS "/t\",\"jwks_uri\":\"" ISS
            "/k\",\"response_types_supported\":[\"id_token\"]}",
            &p, err, sizeof(err)) == -1 && strstr(err, "code flow"),
       "no code flow offered: %s", err);

    ok(disc("<html>gateway timeout</html>", &p, err, sizeof(err)) == -1
       && strstr(err, "not a JSON object"), "garbage: %s", err);
    ok(disc("{\"issuer\":\"" ISS "\",\"issuer\":\"" ISS "\"}", &p, err,
            sizeof(err)) == -1, "duplicate members: %s", err);
    ok(disc("{\"issuer\":7}", &p, err, sizeof(err)) == -1,
       "an issuer that is not a string: %s", err);

    is_str(gov_oidc_url_path("https://a.example:8443/x/y?z=1"), "/x/y?z=1",
           "a URL's path");
    is_str(gov_oidc_url_path("http://a.example"), "", "no path");
    ok(gov_oidc_url_path("ftp://a.example/x") == NULL, "not http(s)");
    ok(gov_oidc_url_path("https:///x") == NULL, "no host");

    /* PKCE: RFC 7636 appendix B */

    is_int(gov_oidc_challenge("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk",
                              ch), 0, "a challenge");
    is_str(ch, "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM",
           "RFC 7636's example");

    is_int(gov_oidc_random(v1), 0, "random");
    is_int(gov_oidc_random(v2), 0, "random again");
    is_int((int) strlen(v1), 43, "43 characters (32 bytes)");
    ok(gov_b64url_valid(v1, strlen(v1)), "base64url");
    ok(strcmp(v1, v2) != 0, "two differ");
    is_int((int) gov_b64url_decode(raw, v1, strlen(v1)), 32, "32 bytes");

    /* the authorization request */

    n = gov_oidc_authorize_url(url, sizeof(url),
                               "https://idp.example/auth", "portal app",
                               "https://portal.example/auth/callback",
                               "openid profile", "S1", "N1", ch);
    is_str(url, "https://idp.example/auth?response_type=code"
           "&client_id=portal%20app"
           "&redirect_uri=https%3A%2F%2Fportal.example%2Fauth%2Fcallback"
           "&scope=openid%20profile&state=S1&nonce=N1"
           "&code_challenge=E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
           "&code_challenge_method=S256", "the authorization URL");
    is_int(n, (long) strlen(url), "its length");

    gov_oidc_authorize_url(url, sizeof(url), "https://idp.example/a?x=1",
                           "c", "r", "openid", "s", "n", "h");
    ok(strncmp(url, "https://idp.example/a?x=1&response_type=code&", 45)
       == 0, "after the endpoint's own query: %s", url);
    is_int(gov_oidc_authorize_url(url, 60, "https://idp.example/a", "c",
                                  "r", "openid", "s", "n", ch), -1,
           "too long for the buffer");

    n = gov_oidc_token_body(url, sizeof(url), "c/1+2", "https://p/cb", "V");
    is_str(url, "grant_type=authorization_code&code=c%2F1%2B2"
           "&redirect_uri=https%3A%2F%2Fp%2Fcb&code_verifier=V",
           "the token request's body");
    is_int(n, (long) strlen(url), "its length");

    /* client_secret_basic: RFC 6749 2.3.1, form-encoded then base64 */

    n = gov_oidc_basic(url, sizeof(url), "portal", "s3cr:et");
    is_str(url, "Basic cG9ydGFsOnMzY3IlM0FldA==", "Basic credentials");
    is_int(n, (long) strlen(url), "their length");
    is_int(gov_oidc_basic(url, 10, "portal", "secret"), -1, "no room");

    /* the token endpoint's answer */

    t = id_token("{\"access_token\":\"a\",\"token_type\":\"bearer\","
                 "\"id_token\":\"h.p.s\"}", err, sizeof(err));
    is_str(t, "h.p.s", "the ID token");
    free(t);

    ok(id_token("{\"error\":\"invalid_grant\",\"error_description\""
                ":\"<script>\"}", err, sizeof(err)) == NULL
       && strcmp(err, "the token endpoint refused: invalid_grant") == 0,
       "an error: %s", err);
    ok(id_token("{\"error\":\"bad<b>\"}", err, sizeof(err))
       == NULL && strcmp(err, "the token endpoint refused: bad") == 0,
       "an error code with markup: cut at the markup");
    ok(id_token("{\"token_type\":\"mac\",\"id_token\":\"x\"}", err,
                sizeof(err)) == NULL, "not Bearer: %s", err);
    ok(id_token("{\"token_type\":\"Bearer\"}", err, sizeof(err))
       == NULL && strstr(err, "id_token"), "no ID token: %s", err);
    ok(id_token("[]", err, sizeof(err)) == NULL, "an array");

    /* the ID token's own claims */

    is_int(id_token_check("{\"sub\":\"a\",\"iat\":1,\"nonce\":\"N\","
                          "\"aud\":\"portal\"}", "N"), GOV_OIDC_OK,
           "nonce, sub, iat");
    is_int(id_token_check("{\"sub\":\"a\",\"iat\":1,\"nonce\":\"M\"}", "N"),
           GOV_OIDC_BAD_NONCE, "another nonce");
    is_int(id_token_check("{\"sub\":\"a\",\"iat\":1,\"nonce\":1}", "N"),
           GOV_OIDC_BAD_NONCE, "a nonce that is not a string");
    is_int(id_token_check("{\"sub\":\"a\",\"iat\":1}", "N"),
           GOV_OIDC_MISSING_CLAIM, "no nonce");
    is_int(id_token_check("{\"iat\":1,\"nonce\":\"N\"}", "N"),
           GOV_OIDC_MISSING_CLAIM, "no sub");
    is_int(id_token_check("{\"sub\":\"a\",\"nonce\":\"N\"}", "N"),
           GOV_OIDC_MISSING_CLAIM, "no iat");
    is_int(id_token_check("{\"sub\":\"a\",\"iat\":1,\"nonce\":\"N\","
                          "\"aud\":[\"portal\",\"other\"]}", "N"),
           GOV_OIDC_BAD_AZP, "several audiences, no azp");
    is_int(id_token_check("{\"sub\":\"a\",\"iat\":1,\"nonce\":\"N\","
                          "\"aud\":[\"portal\",\"other\"],\"azp\":\"portal\"}",
                          "N"), GOV_OIDC_OK, "several audiences, azp ours");
    is_int(id_token_check("{\"sub\":\"a\",\"iat\":1,\"nonce\":\"N\","
                          "\"aud\":\"portal\",\"azp\":\"other\"}", "N"),
           GOV_OIDC_BAD_AZP, "azp another client");

    for (i = GOV_OIDC_OK; i <= GOV_OIDC_MISSING_CLAIM; i++) {
        ok(strcmp(gov_oidc_reason_str(i), "unknown") != 0, "reason %d: %s",
           i, gov_oidc_reason_str(i));
    }

    is_str(gov_oidc_reason_str(99), "unknown", "an unknown reason");

    return done_testing();
}
