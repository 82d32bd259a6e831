
/*
 * Copyright (C) ngx_gov_module authors
 *
 * gov-sign: signs a department's request to the portal (CONTRACT
 * section 5, v2), for department developers and operators.
 *
 *   gov-sign --secret-file FILE --path PATH [--method METHOD]
 *            [--timestamp UNIX] [--body-file FILE|-]
 *
 * prints the two headers to send with the request:
 *
 *   X-Gov-Timestamp: UNIX
 *   X-Gov-Signature: v2=HEX
 *
 * HEX being hex HMAC-SHA256 with the secret over TIMESTAMP "\n" METHOD "\n"
 * PATH "\n" BODY.  The secret file is read as nginx reads
 * callback_secret_file (a final newline is not part of it); PATH is the
 * request's path without the query ("?..." is dropped); the body comes
 * from the file, "-" for standard input, or is empty.  METHOD defaults to
 * POST, the timestamp to now.
 */


#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "gov_sig.h"


#define GOV_SIGN_SECRET_MAX  4096
#define GOV_SIGN_BODY_MAX    (16 * 1024 * 1024)


static void gov_sign_usage(void);
static char *gov_sign_read(const char *path, size_t max, size_t *len);


int
main(int argc, char **argv)
{
    int                 i;
    char               *secret, *body, ts[32], sig[68];
    size_t              secret_len, body_len;
    const char         *secret_file, *path, *method, *body_file, *when, *q;
    gov_sig_request_t   req;

    secret_file = NULL;
    path = NULL;
    method = "POST";
    body_file = NULL;
    when = NULL;

    for (i = 1; i < argc; i++) {

#define GOV_SIGN_OPT(opt) \
        (strcmp(argv[i], opt) == 0 && i + 1 < argc && ++i)

        if (GOV_SIGN_OPT("--secret-file")) {
            secret_file = argv[i];

        } else if (GOV_SIGN_OPT("--path")) {
            path = argv[i];

        } else if (GOV_SIGN_OPT("--method")) {
            method = argv[i];

        } else if (GOV_SIGN_OPT("--timestamp")) {
            when = argv[i];

        } else if (GOV_SIGN_OPT("--body-file")) {
            body_file = argv[i];

        } else {
            gov_sign_usage();
            return 2;
        }
    }

    if (secret_file == NULL || path == NULL || path[0] != '/') {
        gov_sign_usage();
        return 2;
    }

    secret = gov_sign_read(secret_file, GOV_SIGN_SECRET_MAX, &secret_len);
    if (secret == NULL) {
        return 1;
    }

    while (secret_len
           && (secret[secret_len - 1] == '\n'
               || secret[secret_len - 1] == '\r'))
    {
        secret_len--;
    }

    if (secret_len < 16) {
        fprintf(stderr, "gov-sign: the secret in %s is shorter than 16 "
                "bytes, nginx would refuse it\n", secret_file);
        return 1;
    }

    body_len = 0;
    body = NULL;

    if (body_file) {
        body = gov_sign_read(body_file, GOV_SIGN_BODY_MAX, &body_len);
        if (body == NULL) {
            return 1;
        }
    }

    if (when) {
        if (strlen(when) == 0 || strlen(when) > 12
            || strspn(when, "0123456789") != strlen(when))
        {
            fprintf(stderr, "gov-sign: --timestamp takes UNIX seconds, "
                    "not \"%s\"\n", when);
            return 2;
        }

        snprintf(ts, sizeof(ts), "%s", when);

    } else {
        snprintf(ts, sizeof(ts), "%lld", (long long) time(NULL));
    }

    q = strchr(path, '?');

    req.ts = ts;
    req.ts_len = strlen(ts);
    req.method = method;
    req.method_len = strlen(method);
    req.path = path;
    req.path_len = q ? (size_t) (q - path) : strlen(path);
    req.body = body ? body : "";
    req.body_len = body_len;

    gov_sig_v2_make(&req, (unsigned char *) secret, secret_len, sig);
    sig[67] = '\0';

    printf("X-Gov-Timestamp: %s\nX-Gov-Signature: %s\n", ts, sig);

    free(secret);
    free(body);

    return 0;
}


static void
gov_sign_usage(void)
{
    fprintf(stderr,
        "usage: gov-sign --secret-file FILE --path PATH [--method METHOD]\n"
        "                [--timestamp UNIX] [--body-file FILE|-]\n"
        "prints X-Gov-Timestamp and X-Gov-Signature (v2) for the request\n");
}


/* a whole file ("-": standard input) of at most "max" bytes */

static char *
gov_sign_read(const char *path, size_t max, size_t *len)
{
    FILE    *f;
    char    *buf;
    size_t   n;

    f = strcmp(path, "-") == 0 ? stdin : fopen(path, "rb");
    if (f == NULL) {
        perror(path);
        return NULL;
    }

    buf = malloc(max + 1);
    if (buf == NULL) {
        fprintf(stderr, "gov-sign: out of memory\n");
        if (f != stdin) {
            fclose(f);
        }
        return NULL;
    }

    n = fread(buf, 1, max + 1, f);

    if (ferror(f) || n > max) {
        fprintf(stderr, "gov-sign: %s: %s\n", path,
                n > max ? "too large" : "read error");
        free(buf);
        if (f != stdin) {
            fclose(f);
        }
        return NULL;
    }

    if (f != stdin) {
        fclose(f);
    }

    *len = n;

    return buf;
}
