
/*
 * Copyright (C) ngx_gov_module authors
 */


#include <stdlib.h>
#include <string.h>
#include <stdio.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "gov_sniff.h"


static void gov_sniff_reverse(unsigned char *p, size_t n);
static int gov_sniff_ofd(const unsigned char *buf, size_t n, uint64_t base);
static unsigned gov_le16(const unsigned char *p);
static uint32_t gov_le32(const unsigned char *p);


static const struct {
    const char  *name;
    const char  *mime;
    const char  *ext;
} gov_types[GOV_TYPE_N] = {
    { NULL, NULL, NULL },
    { "pdf", "application/pdf", ".pdf" },
    { "jpeg", "image/jpeg", ".jpg" },
    { "png", "image/png", ".png" },
    { "ofd", "application/ofd", ".ofd" }
};


void
gov_sniff_init(gov_sniff_t *s)
{
    memset(s, 0, sizeof(gov_sniff_t));
}


void
gov_sniff_feed(gov_sniff_t *s, const void *data, size_t len)
{
    size_t                n, before;
    const unsigned char  *p = data;

    before = (size_t) (s->total < GOV_SNIFF_HEAD ? s->total : GOV_SNIFF_HEAD);

    if (before < GOV_SNIFF_HEAD) {
        n = GOV_SNIFF_HEAD - before;
        n = n < len ? n : len;
        memcpy(s->head + before, p, n);
    }

    if (!s->zip && s->total < 4 && s->total + len >= 4
        && memcmp(s->head, "PK\3\4", 4) == 0)
    {
        s->zip = 1;
        s->tail = malloc(GOV_SNIFF_TAIL);

        if (s->tail == NULL) {
            s->failed = 1;

        } else {
            /* what came before this call is all in the head */
            memcpy(s->tail, s->head, before);
            s->tail_pos = before;
        }
    }

    s->total += len;

    if (s->tail == NULL) {
        return;
    }

    if (len >= GOV_SNIFF_TAIL) {
        memcpy(s->tail, p + len - GOV_SNIFF_TAIL, GOV_SNIFF_TAIL);
        s->tail_pos = 0;
        return;
    }

    n = GOV_SNIFF_TAIL - s->tail_pos;

    if (len <= n) {
        memcpy(s->tail + s->tail_pos, p, len);
        s->tail_pos = (s->tail_pos + len) % GOV_SNIFF_TAIL;
        return;
    }

    memcpy(s->tail + s->tail_pos, p, n);
    memcpy(s->tail, p + n, len - n);
    s->tail_pos = len - n;
}


int
gov_sniff_result(gov_sniff_t *s)
{
    size_t                n;
    const unsigned char  *h = s->head;

    if (s->total >= 5 && memcmp(h, "%PDF-", 5) == 0) {
        return GOV_TYPE_PDF;
    }

    if (s->total >= 3 && h[0] == 0xff && h[1] == 0xd8 && h[2] == 0xff) {
        return GOV_TYPE_JPEG;
    }

    if (s->total >= 8 && memcmp(h, "\x89PNG\r\n\x1a\n", 8) == 0) {
        return GOV_TYPE_PNG;
    }

    if (!s->zip || s->tail == NULL) {
        return GOV_TYPE_UNKNOWN;
    }

    if (s->total > GOV_SNIFF_TAIL) {
        /* the ring, made linear: oldest byte first */
        gov_sniff_reverse(s->tail, s->tail_pos);
        gov_sniff_reverse(s->tail + s->tail_pos, GOV_SNIFF_TAIL - s->tail_pos);
        gov_sniff_reverse(s->tail, GOV_SNIFF_TAIL);
        s->tail_pos = 0;
        n = GOV_SNIFF_TAIL;

    } else {
        n = (size_t) s->total;
    }

    return gov_sniff_ofd(s->tail, n, s->total - n) ? GOV_TYPE_OFD
                                                    : GOV_TYPE_UNKNOWN;
}


void
gov_sniff_free(gov_sniff_t *s)
{
    free(s->tail);
    s->tail = NULL;
}


static void
gov_sniff_reverse(unsigned char *p, size_t n)
{
    size_t         i;
    unsigned char  c;

    for (i = 0; i < n / 2; i++) {
        c = p[i];
        p[i] = p[n - 1 - i];
        p[n - 1 - i] = c;
    }
}


/*
 * The end-of-central-directory record (its comment reaching exactly the
 * end), the central directory right before it, and an entry named
 * "OFD.xml" at the root.  ZIP64 and multi-disk archives are not OFD.
 */

static int
gov_sniff_ofd(const unsigned char *buf, size_t n, uint64_t base)
{
    size_t     i, lowest, pos, entry;
    unsigned   entries, k, nlen, xlen, clen;
    uint32_t   cd_size, cd_off;

    if (n < 22) {
        return 0;
    }

    lowest = n - 22 > 65535 ? n - 22 - 65535 : 0;

    for (i = n - 22; ; i--) {
        if (gov_le32(buf + i) == 0x06054b50
            && gov_le16(buf + i + 20) == n - i - 22)
        {
            break;
        }

        if (i == lowest) {
            return 0;
        }
    }

    if (gov_le16(buf + i + 4) != 0 || gov_le16(buf + i + 6) != 0) {
        return 0;
    }

    entries = gov_le16(buf + i + 10);
    cd_size = gov_le32(buf + i + 12);
    cd_off = gov_le32(buf + i + 16);

    if (cd_off == 0xffffffff || entries == 0xffff
        || cd_off < base || (uint64_t) cd_off + cd_size != base + i)
    {
        return 0;
    }

    pos = (size_t) (cd_off - base);

    for (k = 0; k < entries; k++) {
        if (i - pos < 46 || gov_le32(buf + pos) != 0x02014b50) {
            return 0;
        }

        nlen = gov_le16(buf + pos + 28);
        xlen = gov_le16(buf + pos + 30);
        clen = gov_le16(buf + pos + 32);
        entry = 46 + (size_t) nlen + xlen + clen;

        if (i - pos < entry) {
            return 0;
        }

        if (nlen == 7 && memcmp(buf + pos + 46, "OFD.xml", 7) == 0) {
            return 1;
        }

        pos += entry;
    }

    return 0;
}


static unsigned
gov_le16(const unsigned char *p)
{
    return p[0] | (p[1] << 8);
}


static uint32_t
gov_le32(const unsigned char *p)
{
    return (uint32_t) p[0] | ((uint32_t) p[1] << 8)
           | ((uint32_t) p[2] << 16) | ((uint32_t) p[3] << 24);
}


const char *
gov_type_name(int type)
{
    return (type > 0 && type < GOV_TYPE_N) ? gov_types[type].name : NULL;
}


int
gov_type_from_name(const char *name, size_t len)
{
    int  t;

    for (t = 1; t < GOV_TYPE_N; t++) {
        if (strlen(gov_types[t].name) == len
            && memcmp(gov_types[t].name, name, len) == 0)
        {
            return t;
        }
    }

    return GOV_TYPE_UNKNOWN;
}


const char *
gov_type_mime(int type)
{
    return (type > 0 && type < GOV_TYPE_N) ? gov_types[type].mime
                                           : "application/octet-stream";
}


const char *
gov_type_ext(int type)
{
    return (type > 0 && type < GOV_TYPE_N) ? gov_types[type].ext : "";
}


void
gov_link_sign(const unsigned char *secret, size_t secret_len,
    const char *hex, size_t hex_len, long long expires, char *out)
{
    int             n;
    char            msg[160];
    unsigned char   mac[EVP_MAX_MD_SIZE];
    unsigned int    mac_len, i;

    static const char  digits[] = "0123456789abcdef";

    if (hex_len > 128) {
        hex_len = 128;
    }

    n = snprintf(msg, sizeof(msg), "%.*s.%lld", (int) hex_len, hex, expires);

    mac_len = 0;
    (void) HMAC(EVP_sha256(), secret, (int) secret_len,
                (unsigned char *) msg, (size_t) n, mac, &mac_len);

    for (i = 0; i < 32; i++) {
        out[2 * i] = digits[mac[i] >> 4];
        out[2 * i + 1] = digits[mac[i] & 0xf];
    }
}


int
gov_link_check(const unsigned char *secret, size_t secret_len,
    const char *hex, size_t hex_len, const char *expires, size_t exp_len,
    const char *sig, size_t sig_len, long long now)
{
    char        good[64];
    size_t      i;
    long long   exp;

    if (exp_len == 0 || exp_len > 12 || sig_len != 64) {
        return GOV_LINK_BAD;
    }

    exp = 0;

    for (i = 0; i < exp_len; i++) {
        if (expires[i] < '0' || expires[i] > '9') {
            return GOV_LINK_BAD;
        }

        exp = exp * 10 + (expires[i] - '0');
    }

    gov_link_sign(secret, secret_len, hex, hex_len, exp, good);

    if (CRYPTO_memcmp(good, sig, 64) != 0) {
        return GOV_LINK_BAD;
    }

    return exp < now ? GOV_LINK_EXPIRED : GOV_LINK_OK;
}
