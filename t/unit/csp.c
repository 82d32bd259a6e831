
/*
 * Copyright (C) ngx_gov_module authors
 *
 * Unit tests of the pages' style hashes (gov_csp.c).
 */


#include <stdio.h>
#include <string.h>
#include <stdlib.h>

#include "tap.h"
#include "gov_csp.h"


static int
hashes(const char *text, char *out, size_t size)
{
    int          rc;
    gov_mbuf_t   b;

    memset(&b, 0, sizeof(gov_mbuf_t));

    rc = gov_csp_style_hashes(text, strlen(text), &b);

    snprintf(out, size, "%.*s", (int) b.len, b.data ? b.data : "");
    gov_mbuf_free(&b);

    return rc;
}


int
main(void)
{
    int   rc;
    char  out[512];

    rc = hashes("<p>no style</p>", out, sizeof(out));
    is_int(rc, 0, "no style: nothing tagged");
    ok(out[0] == '\0', "no style: no source");

    /* printf 'body{color:red}' | openssl dgst -sha256 -binary | base64 */
    rc = hashes("<head><style>body{color:red}</style></head>", out,
                sizeof(out));
    is_int(rc, 0, "a literal block");
    ok(strcmp(out, " 'sha256-FcQqt3aNlV7AZnGV4zkQRVeCeJOxbMPnQSx258L803E='")
       == 0, "its hash: %s", out);

    rc = hashes("<STYLE media=\"all\">\nbody{color:red}\n</Style>"
                "<style>{{x}}</style><styles>no</styles>", out, sizeof(out));
    is_int(rc, 1, "a block with a tag counted apart");
    ok(strncmp(out, " 'sha256-", 9) == 0 && strchr(out + 9, ' ') == NULL,
       "one hash, with attributes and any case: %s", out);

    rc = hashes("<style>unclosed", out, sizeof(out));
    is_int(rc, 0, "an unclosed block: nothing");
    ok(out[0] == '\0', "and no source");

    printf("1..%d\n", tap_n);

    return tap_failed ? 1 : 0;
}
