
/*
 * Copyright (C) ngx_gov_module authors
 */


#include <string.h>

#include "gov_http.h"


#define GOV_RETURN_TO_MAX  2048


static int gov_hex(int c);


static int
gov_hex(int c)
{
    if (c >= '0' && c <= '9') {
        return c - '0';
    }

    c |= 0x20;

    if (c >= 'a' && c <= 'f') {
        return c - 'a' + 10;
    }

    return -1;
}


int
gov_cookie_get(const char *hdr, size_t len, const char *name,
    size_t name_len, const char **value, size_t *value_len)
{
    size_t       i, start, nend, vstart, vend;

    i = 0;

    while (i < len) {

        while (i < len && (hdr[i] == ' ' || hdr[i] == '\t' || hdr[i] == ';'))
        {
            i++;
        }

        start = i;

        while (i < len && hdr[i] != '=' && hdr[i] != ';') {
            i++;
        }

        nend = i;

        while (nend > start && (hdr[nend - 1] == ' ' || hdr[nend - 1] == '\t'))
        {
            nend--;
        }

        if (i >= len || hdr[i] == ';') {
            /* a cookie without "=": skip it */
            continue;
        }

        i++;

        while (i < len && (hdr[i] == ' ' || hdr[i] == '\t')) {
            i++;
        }

        vstart = i;

        while (i < len && hdr[i] != ';') {
            i++;
        }

        vend = i;

        while (vend > vstart && (hdr[vend - 1] == ' ' || hdr[vend - 1] == '\t'))
        {
            vend--;
        }

        if (vend - vstart >= 2 && hdr[vstart] == '"' && hdr[vend - 1] == '"') {
            vstart++;
            vend--;
        }

        if (nend - start == name_len
            && memcmp(hdr + start, name, name_len) == 0)
        {
            *value = hdr + vstart;
            *value_len = vend - vstart;
            return 1;
        }
    }

    return 0;
}


long
gov_pct_decode(char *dst, const char *src, size_t len, int plus)
{
    int     hi, lo;
    char   *d;
    size_t  i;

    d = dst;

    for (i = 0; i < len; i++) {

        if (src[i] == '%') {
            if (i + 2 >= len) {
                return -1;
            }

            hi = gov_hex((unsigned char) src[i + 1]);
            lo = gov_hex((unsigned char) src[i + 2]);

            if (hi < 0 || lo < 0) {
                return -1;
            }

            *d++ = (char) (hi << 4 | lo);
            i += 2;
            continue;
        }

        if (plus && src[i] == '+') {
            *d++ = ' ';
            continue;
        }

        *d++ = src[i];
    }

    return (long) (d - dst);
}


size_t
gov_pct_encode(char *dst, const char *src, size_t len)
{
    size_t          i, n;
    unsigned char   c;
    static const char  hex[] = "0123456789ABCDEF";

    n = 0;

    for (i = 0; i < len; i++) {
        c = (unsigned char) src[i];

        if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z')
            || (c >= '0' && c <= '9') || c == '-' || c == '.' || c == '_'
            || c == '~')
        {
            if (dst) {
                dst[n] = (char) c;
            }

            n++;
            continue;
        }

        if (dst) {
            dst[n] = '%';
            dst[n + 1] = hex[c >> 4];
            dst[n + 2] = hex[c & 0x0f];
        }

        n += 3;
    }

    return n;
}


long
gov_form_get(const char *text, size_t len, const char *name, char *out,
    size_t size)
{
    long         n;
    size_t       i, start, eq, nlen;

    nlen = strlen(name);
    i = 0;

    while (i <= len) {
        start = i;

        while (i < len && text[i] != '&') {
            i++;
        }

        /* text[start .. i) is one "name=value" pair */

        eq = start;
        while (eq < i && text[eq] != '=') {
            eq++;
        }

        if (eq - start == nlen && memcmp(text + start, name, nlen) == 0) {

            if (eq == i) {
                return 0;
            }

            if (i - eq - 1 > size) {
                return -2;
            }

            n = gov_pct_decode(out, text + eq + 1, i - eq - 1, 1);

            return n < 0 ? -2 : n;
        }

        i++;
    }

    return -1;
}


int
gov_return_to_ok(const char *s, size_t len)
{
    int            hi, lo, v;
    size_t         i;
    unsigned char  c;

    if (len == 0 || len > GOV_RETURN_TO_MAX || s[0] != '/') {
        return 0;
    }

    if (len > 1 && (s[1] == '/' || s[1] == '\\')) {
        return 0;
    }

    for (i = 0; i < len; i++) {
        c = (unsigned char) s[i];

        if (c <= 0x20 || c == 0x7f || c == '\\') {
            return 0;
        }

        if (c == '%') {
            if (i + 2 >= len) {
                return 0;
            }

            hi = gov_hex((unsigned char) s[i + 1]);
            lo = gov_hex((unsigned char) s[i + 2]);

            if (hi < 0 || lo < 0) {
                return 0;
            }

            v = hi << 4 | lo;

            if (v < 0x20 || v == 0x7f || v == '/' || v == '\\' || v == '%')
            {
                return 0;
            }
        }
    }

    return 1;
}
