
/*
 * Copyright (C) ngx_gov_module authors
 */


#include <string.h>
#include <strings.h>

#include <openssl/evp.h>

#include "gov_csp.h"


static const char *gov_csp_find(const char *p, const char *end,
    const char *what, size_t n);


int
gov_csp_style_hashes(const char *text, size_t len, gov_mbuf_t *out)
{
    int             tagged;
    char            b64[64];
    const char     *p, *end, *open, *body, *close;
    unsigned int    mdlen;
    unsigned char   md[EVP_MAX_MD_SIZE];

    p = text;
    end = text + len;
    tagged = 0;

    for ( ;; ) {
        open = gov_csp_find(p, end, "<style", 6);
        if (open == NULL) {
            return tagged;
        }

        /* "<style>" or "<style attr...>", not "<styles" */

        p = open + 6;

        if (p < end && *p != '>' && *p != ' ' && *p != '\t' && *p != '\n'
            && *p != '\r')
        {
            continue;
        }

        body = memchr(p, '>', end - p);
        if (body == NULL) {
            return tagged;
        }

        body++;

        close = gov_csp_find(body, end, "</style", 7);
        if (close == NULL) {
            return tagged;
        }

        p = close + 7;

        if (gov_csp_find(body, close, "{{", 2) != NULL) {
            tagged++;
            continue;
        }

        if (EVP_Digest(body, close - body, md, &mdlen, EVP_sha256(), NULL)
            != 1)
        {
            return -1;
        }

        EVP_EncodeBlock((unsigned char *) b64, md, (int) mdlen);

        if (gov_mbuf_append(out, " 'sha256-", 9) != 0
            || gov_mbuf_append(out, b64, strlen(b64)) != 0
            || gov_mbuf_append(out, "'", 1) != 0)
        {
            return -1;
        }
    }
}


/* "what" (lower case) in [p, end), case-insensitively */

static const char *
gov_csp_find(const char *p, const char *end, const char *what, size_t n)
{
    for ( /* void */ ; (size_t) (end - p) >= n; p++) {
        if (strncasecmp(p, what, n) == 0) {
            return p;
        }
    }

    return NULL;
}
