
/*
 * Copyright (C) ngx_gov_module authors
 *
 * Unit tests of the upload core: multipart/form-data streaming
 * (gov_multipart.c), type sniffing and download links (gov_sniff.c).
 */


#include <stdlib.h>
#include <string.h>

#include "tap.h"
#include "gov_multipart.h"
#include "gov_sniff.h"


typedef struct {
    char    log[8192];      /* "[name|filename|type]data" per part */
    size_t  len;
    int     parts;
    int     stop_at;        /* a callback stops at this part, 0: never */
} collect_t;


static void
put(collect_t *c, const char *p, size_t n)
{
    if (c->len + n < sizeof(c->log)) {
        memcpy(c->log + c->len, p, n);
        c->len += n;
        c->log[c->len] = '\0';
    }
}


static int
on_begin(void *data, const gov_mp_part_t *part)
{
    collect_t  *c = data;

    c->parts++;
    put(c, "[", 1);
    put(c, part->name, part->name_len);
    put(c, "|", 1);
    put(c, part->filename ? part->filename : "-",
        part->filename ? part->filename_len : 1);
    put(c, "|", 1);
    put(c, part->type, strlen(part->type));
    put(c, "]", 1);

    return c->stop_at == c->parts;
}


static int
on_data(void *data, const char *p, size_t len)
{
    put(data, p, len);
    return 0;
}


static int
on_end(void *data)
{
    put(data, "$", 1);
    return 0;
}


static const gov_mp_handlers_t  handlers = { on_begin, on_data, on_end };


/* the body fed in pieces cut at "cuts" (sorted offsets, -1 ends) */

static int
parse(const char *boundary, const char *body, size_t len, const int *cuts,
    collect_t *c)
{
    int       rc;
    size_t    from, to;
    gov_mp_t  mp;

    memset(c, 0, sizeof(collect_t));
    gov_mp_init(&mp, boundary, strlen(boundary), &handlers, c);

    from = 0;

    for ( ;; ) {
        to = (cuts && *cuts >= 0) ? (size_t) *cuts++ : len;

        rc = gov_mp_feed(&mp, body + from, to - from);
        if (rc != GOV_MP_OK) {
            return rc;
        }

        from = to;

        if (from == len) {
            break;
        }
    }

    return gov_mp_finish(&mp);
}


static void
test_multipart(void)
{
    int         rc, cuts[3], bad;
    char        b[GOV_MP_BOUNDARY_MAX + 1];
    size_t      i, j, len;
    collect_t   c, whole;
    const char  *body;

    is_int(gov_mp_boundary("multipart/form-data; boundary=abc", 33, b), 3,
           "boundary: a token");
    is_str(b, "abc", "boundary: its value");
    is_int(gov_mp_boundary("Multipart/Form-Data;boundary=\"a b:c\"", 36, b),
           5, "boundary: quoted, with a space and a colon");
    is_int(gov_mp_boundary("multipart/mixed; boundary=abc", 29, b), 0,
           "boundary: another multipart type is refused");
    is_int(gov_mp_boundary("multipart/form-data", 19, b), 0,
           "boundary: missing");
    is_int(gov_mp_boundary("multipart/form-data; boundary=a\rb", 33, b), 0,
           "boundary: a CR is not a bchar");
    is_int(gov_mp_boundary("multipart/form-data; boundary="
                           "12345678901234567890123456789012345678901234567890"
                           "123456789012345678901", 101, b), 0,
           "boundary: 71 characters are too many");

    body = "preamble\r\n"
           "--XyZ\r\n"
           "Content-Disposition: form-data; name=\"fields.name\"\r\n"
           "\r\n"
           "张三\r\n"
           "--XyZ\r\n"
           "content-disposition: form-data; name=\"materials.photo\"; "
           "filename=\"C:\\\\Users\\\\me\\\\photo.jpg\"\r\n"
           "Content-Type: image/jpeg\r\n"
           "\r\n"
           "\r\n--XyA-not-quite\r\n--Xy\r\r\n\r\n"
           "\r\n"
           "--XyZ\r\n"
           "Content-Disposition: form-data; name=\"file\"; "
           "filename=\"a.pdf\"; filename*=UTF-8''%E6%9D%90%E6%96%99.pdf\r\n"
           "\r\n"
           "\r\n"
           "--XyZ--\r\n"
           "epilogue --XyZ junk";

    len = strlen(body);

    rc = parse("XyZ", body, len, NULL, &whole);
    is_int(rc, GOV_MP_OK, "multipart: a form of three parts");
    is_int(whole.parts, 3, "multipart: three parts");
    is_str(whole.log,
           "[fields.name|-|]张三$"
           "[materials.photo|photo.jpg|image/jpeg]"
           "\r\n--XyA-not-quite\r\n--Xy\r\r\n\r\n$"
           "[file|材料.pdf|]$",
           "multipart: names, basenames, filename* over filename, data "
           "with near-delimiters kept whole");

    /* every split into two and three pieces gives the same */

    bad = 0;

    for (i = 0; i <= len; i++) {
        cuts[0] = (int) i;
        cuts[1] = -1;

        if (parse("XyZ", body, len, cuts, &c) != GOV_MP_OK
            || strcmp(c.log, whole.log) != 0)
        {
            bad++;
        }
    }

    is_int(bad, 0, "multipart: split at every one of %zu positions", len);

    bad = 0;

    for (i = 0; i <= len; i += 3) {
        for (j = i; j <= len; j += 5) {
            cuts[0] = (int) i;
            cuts[1] = (int) j;
            cuts[2] = -1;

            if (parse("XyZ", body, len, cuts, &c) != GOV_MP_OK
                || strcmp(c.log, whole.log) != 0)
            {
                bad++;
            }
        }
    }

    is_int(bad, 0, "multipart: split in three at many positions");

    {
        int  one[1024];

        for (i = 0; i < len && i < 1023; i++) {
            one[i] = (int) i;
        }

        one[i] = -1;

        rc = parse("XyZ", body, len, one, &c);
        ok(rc == GOV_MP_OK && strcmp(c.log, whole.log) == 0,
           "multipart: fed byte by byte");
    }

    /* mistakes */

    rc = parse("XyZ", "--XyZ\r\nContent-Disposition: form-data; "
               "name=\"a\"\r\n\r\nvalue", 45, NULL, &c);
    is_int(rc, GOV_MP_MALFORMED, "multipart: no close delimiter");

    rc = parse("XyZ", "--XyZ--\r\n", 9, NULL, &c);
    ok(rc == GOV_MP_OK && c.parts == 0,
       "multipart: no part at all, as browsers send a form of no field");

    body = "--XyZ\r\nContent-Type: text/plain\r\n\r\nx\r\n--XyZ--";
    rc = parse("XyZ", body, strlen(body), NULL, &c);
    is_int(rc, GOV_MP_MALFORMED, "multipart: a part without disposition");

    body = "--XyZ\r\nContent-Disposition: attachment; name=\"a\"\r\n\r\n"
           "x\r\n--XyZ--";
    rc = parse("XyZ", body, strlen(body), NULL, &c);
    is_int(rc, GOV_MP_MALFORMED, "multipart: not form-data");

    body = "--XyZ\r\nContent-Disposition: form-data; filename=\"a\"\r\n\r\n"
           "x\r\n--XyZ--";
    rc = parse("XyZ", body, strlen(body), NULL, &c);
    is_int(rc, GOV_MP_MALFORMED, "multipart: a part without a name");

    body = "--XyZ\r\nContent-Disposition: form-data; name=\"a\"; "
           "filename=\"\xff\xfe.pdf\"\r\n\r\nx\r\n--XyZ--";
    rc = parse("XyZ", body, strlen(body), NULL, &c);
    is_int(rc, GOV_MP_MALFORMED, "multipart: a filename not UTF-8");

    body = "--XyZ\r\nContent-Disposition: form-data; name=\"a\"; "
           "filename*=GBK''%B2%C4\r\n\r\nx\r\n--XyZ--";
    rc = parse("XyZ", body, strlen(body), NULL, &c);
    is_int(rc, GOV_MP_MALFORMED, "multipart: filename* in another charset");

    body = "--XyZ\r\nContent-Disposition: form-data; name=\"a\r\n\r\n"
           "x\r\n--XyZ--";
    rc = parse("XyZ", body, strlen(body), NULL, &c);
    is_int(rc, GOV_MP_MALFORMED, "multipart: an unclosed quote");

    body = "--XyZ\r\nContent-Disposition: form-data; name=a\n\n"
           "x\r\n--XyZ--";
    rc = parse("XyZ", body, strlen(body), NULL, &c);
    is_int(rc, GOV_MP_MALFORMED, "multipart: header lines ending in LF");

    body = "--XyZX\r\nContent-Disposition: form-data; name=a\r\n\r\n"
           "x\r\n--XyZ--";
    rc = parse("XyZ", body, strlen(body), NULL, &c);
    is_int(rc, GOV_MP_MALFORMED, "multipart: a boundary run on");

    {
        static char  big[GOV_MP_HEADERS_MAX + 200];

        strcpy(big, "--XyZ\r\nContent-Disposition: form-data; name=a\r\n"
                    "X-Pad: ");
        memset(big + strlen(big), 'p', GOV_MP_HEADERS_MAX);
        strcat(big, "\r\n\r\nx\r\n--XyZ--");

        rc = parse("XyZ", big, strlen(big), NULL, &c);
        is_int(rc, GOV_MP_MALFORMED, "multipart: headers over the limit");
    }

    {
        static char  many[(GOV_MP_PARTS_MAX + 2) * 64];
        int          k;

        many[0] = '\0';

        for (k = 0; k < GOV_MP_PARTS_MAX + 1; k++) {
            strcat(many, "--XyZ\r\nContent-Disposition: form-data; "
                         "name=a\r\n\r\nx\r\n");
        }

        strcat(many, "--XyZ--");

        rc = parse("XyZ", many, strlen(many), NULL, &c);
        is_int(rc, GOV_MP_MALFORMED, "multipart: more parts than allowed");
    }

    body = "--XyZ\r\nContent-Disposition: form-data; name=a\r\n\r\n"
           "x\r\n--XyZ\r\nContent-Disposition: form-data; name=b\r\n\r\n"
           "y\r\n--XyZ--";
    memset(&c, 0, sizeof(c));
    {
        gov_mp_t  mp;

        c.stop_at = 2;
        gov_mp_init(&mp, "XyZ", 3, &handlers, &c);
        rc = gov_mp_feed(&mp, body, strlen(body));
        is_int(rc, GOV_MP_ABORTED, "multipart: a callback stops the parse");
        is_int(gov_mp_feed(&mp, "x", 1), GOV_MP_ABORTED,
               "multipart: and it stays stopped");
    }
}


/* a ZIP of stored entries, as an OFD package is laid out */

static size_t
make_zip(unsigned char *out, const char **names, int n, size_t pad,
    size_t comment)
{
    int        i;
    size_t     len, cd, nlen, offs[8];

#define LE16(p, v)  ((p)[0] = (v) & 0xff, (p)[1] = ((v) >> 8) & 0xff)
#define LE32(p, v)  (LE16(p, v), LE16((p) + 2, (v) >> 16))

    len = 0;

    for (i = 0; i < n; i++) {
        nlen = strlen(names[i]);
        offs[i] = len;
        memset(out + len, 0, 30);
        LE32(out + len, 0x04034b50);
        LE16(out + len + 26, nlen);
        memcpy(out + len + 30, names[i], nlen);
        len += 30 + nlen;
    }

    memset(out + len, 'z', pad);        /* file data, stored */
    len += pad;

    cd = len;

    for (i = 0; i < n; i++) {
        nlen = strlen(names[i]);
        memset(out + len, 0, 46);
        LE32(out + len, 0x02014b50);
        LE16(out + len + 28, nlen);
        LE32(out + len + 42, offs[i]);
        memcpy(out + len + 46, names[i], nlen);
        len += 46 + nlen;
    }

    memset(out + len, 0, 22);
    LE32(out + len, 0x06054b50);
    LE16(out + len + 8, n);
    LE16(out + len + 10, n);
    LE32(out + len + 12, len - cd);
    LE32(out + len + 16, cd);
    LE16(out + len + 20, comment);
    len += 22;
    memset(out + len, 'c', comment);
    len += comment;

    return len;
}


static int
sniff(const unsigned char *p, size_t len, size_t step)
{
    int          t;
    size_t       i, n;
    gov_sniff_t  s;

    gov_sniff_init(&s);

    for (i = 0; i < len; i += n) {
        n = (len - i < step) ? len - i : step;
        gov_sniff_feed(&s, p + i, n);
    }

    t = gov_sniff_result(&s);
    gov_sniff_free(&s);

    return t;
}


static void
test_sniff(void)
{
    size_t          len;
    unsigned char  *zip;
    const char     *ofd[] = { "Doc_0/Document.xml", "OFD.xml" };
    const char     *deep[] = { "Doc_0/OFD.xml", "x" };
    char            sig[64], exp[32];
    int             n;

    static const unsigned char  png[] = "\x89PNG\r\n\x1a\n\0\0\0\rIHDR";
    static const char  polyglot[] = "%PDF-1.4\n<html><script>alert(1)"
                                    "</script></html>";
    static const char  html[] = "<!doctype html><html>%PDF-1.4</html>";

    is_int(sniff((const unsigned char *) polyglot, sizeof(polyglot) - 1, 1),
           GOV_TYPE_PDF, "sniff: a PDF (and HTML after it) is a PDF");
    is_int(sniff((const unsigned char *) "\xff\xd8\xff\xe0\0\x10JFIF", 10, 3),
           GOV_TYPE_JPEG, "sniff: JPEG");
    is_int(sniff(png, sizeof(png) - 1, 2), GOV_TYPE_PNG, "sniff: PNG");
    is_int(sniff((const unsigned char *) html, sizeof(html) - 1, 7),
           GOV_TYPE_UNKNOWN, "sniff: HTML is nothing we take");
    is_int(sniff((const unsigned char *) "%PD", 3, 1), GOV_TYPE_UNKNOWN,
           "sniff: too short for a PDF");
    is_int(sniff((const unsigned char *) "", 0, 1), GOV_TYPE_UNKNOWN,
           "sniff: empty");

    zip = malloc(2 * GOV_SNIFF_TAIL);

    len = make_zip(zip, ofd, 2, 1000, 0);
    is_int(sniff(zip, len, len), GOV_TYPE_OFD, "sniff: an OFD package");
    is_int(sniff(zip, len, 1), GOV_TYPE_OFD, "sniff: fed byte by byte");

    len = make_zip(zip, ofd, 2, 1000, 300);
    is_int(sniff(zip, len, 77), GOV_TYPE_OFD, "sniff: with a ZIP comment");

    len = make_zip(zip, ofd, 2, GOV_SNIFF_TAIL + 12345, 10);
    is_int(sniff(zip, len, 4096), GOV_TYPE_OFD,
           "sniff: larger than the tail kept, in 4k buffers");
    is_int(sniff(zip, len, 100000), GOV_TYPE_OFD,
           "sniff: larger than the tail kept, in odd buffers");

    len = make_zip(zip, deep, 2, 100, 0);
    is_int(sniff(zip, len, 9), GOV_TYPE_UNKNOWN,
           "sniff: OFD.xml not at the root is no OFD");

    len = make_zip(zip, ofd, 2, 100, 0);
    zip[len - 22 + 16] ^= 1;            /* the directory's offset */
    is_int(sniff(zip, len, len), GOV_TYPE_UNKNOWN,
           "sniff: a directory offset that does not fit");

    len = make_zip(zip, ofd, 2, 100, 0);
    is_int(sniff(zip, len - 1, len), GOV_TYPE_UNKNOWN,
           "sniff: a ZIP cut short");

    free(zip);

    is_str(gov_type_name(GOV_TYPE_OFD), "ofd", "type names");
    is_int(gov_type_from_name("jpeg", 4), GOV_TYPE_JPEG, "type from name");
    is_int(gov_type_from_name("gif", 3), GOV_TYPE_UNKNOWN,
           "unknown type name");
    is_str(gov_type_mime(GOV_TYPE_PDF), "application/pdf", "type MIME");

    /* links */

    gov_link_sign((const unsigned char *) "k", 1, "ab", 2, 1800000000, sig);
    n = snprintf(exp, sizeof(exp), "%d", 1800000000);

    is_int(gov_link_check((const unsigned char *) "k", 1, "ab", 2, exp, n,
                          sig, 64, 1790000000), GOV_LINK_OK,
           "link: a good signature before it expires");
    is_int(gov_link_check((const unsigned char *) "k", 1, "ab", 2, exp, n,
                          sig, 64, 1800000001), GOV_LINK_EXPIRED,
           "link: expired");
    is_int(gov_link_check((const unsigned char *) "k", 1, "ac", 2, exp, n,
                          sig, 64, 1790000000), GOV_LINK_BAD,
           "link: another file");
    is_int(gov_link_check((const unsigned char *) "k", 1, "ab", 2,
                          "1900000000", 10, sig, 64, 1790000000),
           GOV_LINK_BAD, "link: a later expiry is not signed");
    is_int(gov_link_check((const unsigned char *) "j", 1, "ab", 2, exp, n,
                          sig, 64, 1790000000), GOV_LINK_BAD,
           "link: another secret");
    is_int(gov_link_check((const unsigned char *) "k", 1, "ab", 2, "-1", 2,
                          sig, 64, 0), GOV_LINK_BAD, "link: not a number");
}


int
main(void)
{
    test_multipart();
    test_sniff();

    return done_testing();
}
