
/*
 * Copyright (C) ngx_gov_module authors
 *
 * HTTP text helpers without nginx: cookies, form and query parameters,
 * percent-encoding, and the check that keeps login redirects on site.
 */


#ifndef _GOV_HTTP_H_INCLUDED_
#define _GOV_HTTP_H_INCLUDED_


#include <stddef.h>


/*
 * Finds cookie "name" in one Cookie header value ("a=b; c=d").  Returns 1
 * and the value (quotes removed, not decoded), or 0.
 */
int gov_cookie_get(const char *hdr, size_t len, const char *name,
    size_t name_len, const char **value, size_t *value_len);

/*
 * Percent-decodes "len" bytes into "dst" (at least "len" bytes); "plus"
 * turns '+' into a space (forms).  Returns the decoded length, or -1 on a
 * malformed escape.
 */
long gov_pct_decode(char *dst, const char *src, size_t len, int plus);

/*
 * Percent-encodes every byte but the unreserved ones (RFC 3986: ALPHA DIGIT
 * - . _ ~).  With dst NULL returns the length needed.
 */
size_t gov_pct_encode(char *dst, const char *src, size_t len);

/*
 * Finds parameter "name" in application/x-www-form-urlencoded text (a form
 * body or a query string) and decodes it into "out".  Returns its length,
 * -1 when absent, -2 when malformed or longer than "size".
 */
long gov_form_get(const char *text, size_t len, const char *name,
    char *out, size_t size);

/*
 * 1 when the (decoded) return_to value is a same-origin relative path that
 * a browser cannot turn into another origin: it starts with one "/", holds
 * no backslash, control character, space, nor an encoded slash, backslash
 * or control character.
 */
int gov_return_to_ok(const char *s, size_t len);


#endif /* _GOV_HTTP_H_INCLUDED_ */
