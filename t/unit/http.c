
/*
 * Copyright (C) ngx_gov_module authors
 *
 * Unit tests of the HTTP text helpers and base64url.
 */


#include <string.h>

#include "tap.h"
#include "gov_b64.h"
#include "gov_http.h"


static int
rt(const char *s)
{
    return gov_return_to_ok(s, strlen(s));
}


static const char *
cookie(const char *hdr, const char *name)
{
    static char   buf[256];
    const char   *v;
    size_t        n;

    if (!gov_cookie_get(hdr, strlen(hdr), name, strlen(name), &v, &n)) {
        return "(none)";
    }

    memcpy(buf, v, n);
    buf[n] = '\0';

    return buf;
}


static const char *
form(const char *text, const char *name)
{
    static char  buf[64];
    long         n;

    n = gov_form_get(text, strlen(text), name, buf, sizeof(buf) - 1);

    if (n == -1) {
        return "(none)";
    }

    if (n == -2) {
        return "(bad)";
    }

    buf[n] = '\0';

    return buf;
}


int
main(void)
{
    int            i;
    long           n;
    char           enc[64], out[64];
    unsigned char  bin[64], dec[64];

    /* return_to: only same-origin relative paths */

    ok(rt("/"), "/ is fine");
    ok(rt("/progress/NB20261125000042?x=1#top"), "a path with query");
    ok(rt("/a%20b"), "an encoded space inside is fine");
    ok(!rt(""), "empty");
    ok(!rt("//evil.example"), "//evil");
    ok(!rt("/\\evil.example"), "/\\evil");
    ok(!rt("\\\\evil.example"), "\\\\evil");
    ok(!rt("https://evil.example"), "https://evil");
    ok(!rt("http:evil.example"), "http:evil");
    ok(!rt("javascript:alert(1)"), "javascript:");
    ok(!rt("evil.example"), "a relative name");
    ok(!rt("/%2F%2Fevil.example"), "encoded // after /");
    ok(!rt("/%2fevil"), "lower-case encoded slash");
    ok(!rt("/%5Cevil"), "encoded backslash");
    ok(!rt("/%09/evil"), "encoded tab");
    ok(!rt("/\t/evil"), "a raw tab (browsers drop it)");
    ok(!rt("/\r\nSet-Cookie: x=1"), "CRLF injection");
    ok(!rt("/%0d%0aSet-Cookie:x"), "encoded CRLF");
    ok(!rt("/%252F%252Fevil"), "double-encoded slash");
    ok(!rt("/a b"), "a raw space");
    ok(!rt("/%"), "a broken escape");
    ok(!rt("/%zz"), "a non-hex escape");

    /* cookies */

    is_str(cookie("GOVSID=abc", "GOVSID"), "abc", "one cookie");
    is_str(cookie("a=1; GOVSID=abc; b=2", "GOVSID"), "abc", "in the middle");
    is_str(cookie("a=1;GOVSID=\"abc\"", "GOVSID"), "abc", "quoted");
    is_str(cookie("XGOVSID=x; GOVSID=y", "GOVSID"), "y", "no prefix match");
    is_str(cookie("GOVSIDX=x", "GOVSID"), "(none)", "no suffix match");
    is_str(cookie("flag; GOVSID=z", "GOVSID"), "z", "after a bare cookie");
    is_str(cookie("GOVSID=", "GOVSID"), "", "empty value");
    is_str(cookie("", "GOVSID"), "(none)", "empty header");
    is_str(cookie(";;; ;", "GOVSID"), "(none)", "only separators");
    is_str(cookie("GOVSID=a=b", "GOVSID"), "a=b", "= inside the value");

    /* forms and queries */

    is_str(form("token=abc&return_to=%2Fx%3Fy", "return_to"), "/x?y",
           "decoded parameter");
    is_str(form("token=a+b", "token"), "a b", "plus is a space");
    is_str(form("xtoken=1&token=2", "token"), "2", "exact names");
    is_str(form("token", "token"), "", "a name without =");
    is_str(form("a=1", "token"), "(none)", "absent");
    is_str(form("token=%zz", "token"), "(bad)", "bad escape");
    is_str(form("", "token"), "(none)", "empty text");

    n = gov_pct_decode(out, "%E5%BC%A0%E4%B8%89", 18, 0);
    out[n < 0 ? 0 : n] = '\0';
    is_str(out, "张三", "UTF-8 decodes");

    n = (long) gov_pct_encode(enc, "张三 <a>\r\n", strlen("张三 <a>\r\n"));
    enc[n] = '\0';
    is_str(enc, "%E5%BC%A0%E4%B8%89%20%3Ca%3E%0D%0A",
           "percent-encoding leaves no header-breaking byte");
    is_int(gov_pct_encode(NULL, "abc-._~", 7), 7, "unreserved kept");

    /* base64url */

    for (i = 0; i < 64; i++) {
        bin[i] = (unsigned char) (i * 37 + 11);
    }

    for (i = 0; i <= 40; i++) {
        size_t  m = gov_b64url_encode(enc, bin, (size_t) i);
        n = gov_b64url_decode(dec, enc, m);

        if (n != i || memcmp(dec, bin, (size_t) i) != 0) {
            break;
        }
    }

    is_int(i, 41, "base64url round trips for 0..40 bytes");

    is_int(gov_b64url_decode(dec, "QQ", 2), 1, "\"QQ\" is \"A\"");
    is_int(gov_b64url_decode(dec, "QR", 2), -1,
           "non-zero trailing bits refused");
    is_int(gov_b64url_decode(dec, "QQ==", 4), -1, "padding refused");
    is_int(gov_b64url_decode(dec, "Q", 1), -1, "a length of 1 mod 4");
    is_int(gov_b64url_decode(dec, "a+b/", 4), -1, "standard base64 refused");
    ok(gov_b64url_valid("abc-_", 5) && !gov_b64url_valid("ab.c", 4),
       "alphabet check");

    return done_testing();
}
