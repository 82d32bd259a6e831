
/*
 * Copyright (C) ngx_gov_module authors
 */


#include <string.h>
#include <strings.h>

#include "gov_multipart.h"


#define MP_PREAMBLE     0
#define MP_AFTER        1       /* right after a delimiter */
#define MP_AFTER_DASH   2       /* "-" of the close delimiter */
#define MP_PAD          3       /* transport padding before CRLF */
#define MP_AFTER_CR     4
#define MP_HEADERS      5
#define MP_DATA         6
#define MP_EPILOGUE     7
#define MP_ERROR        8
#define MP_ABORTED      9


static int gov_mp_fail(gov_mp_t *mp, const char *error);
static int gov_mp_scan(gov_mp_t *mp, const char **pp, const char *end);
static int gov_mp_emit(gov_mp_t *mp, const char *p, size_t len);
static int gov_mp_after(gov_mp_t *mp, char ch);
static int gov_mp_header_byte(gov_mp_t *mp, char ch);
static int gov_mp_headers(gov_mp_t *mp);
static int gov_mp_disposition(gov_mp_t *mp, const char *p, const char *end);
static const char *gov_mp_param(const char *p, const char *end,
    char *name, size_t name_size, char *value, size_t value_size,
    size_t *value_len);
static int gov_mp_ext_value(const char *v, size_t len, char *out,
    size_t size, size_t *out_len);
static int gov_mp_text_ok(const char *s, size_t len);
static size_t gov_mp_basename(char *s, size_t len);
static int gov_mp_bchar(unsigned char ch);


size_t
gov_mp_boundary(const char *ctype, size_t len, char *out)
{
    char         name[16], value[GOV_MP_BOUNDARY_MAX + 2];
    size_t       n, i, vlen;
    const char  *p, *end;

    static const char  mfd[] = "multipart/form-data";

    n = sizeof(mfd) - 1;

    if (len < n || strncasecmp(ctype, mfd, n) != 0) {
        return 0;
    }

    p = ctype + n;
    end = ctype + len;

    while (p < end && (*p == ' ' || *p == '\t')) {
        p++;
    }

    if (p < end && *p != ';') {
        return 0;
    }

    while (p < end) {
        p = gov_mp_param(p, end, name, sizeof(name), value, sizeof(value),
                         &vlen);
        if (p == NULL) {
            return 0;
        }

        if (strcasecmp(name, "boundary") != 0) {
            continue;
        }

        if (vlen == 0 || vlen > GOV_MP_BOUNDARY_MAX
            || value[vlen - 1] == ' ')
        {
            return 0;
        }

        for (i = 0; i < vlen; i++) {
            if (!gov_mp_bchar((unsigned char) value[i])) {
                return 0;
            }
        }

        memcpy(out, value, vlen);
        out[vlen] = '\0';

        return vlen;
    }

    return 0;
}


void
gov_mp_init(gov_mp_t *mp, const char *boundary, size_t len,
    const gov_mp_handlers_t *handlers, void *data)
{
    mp->state = MP_PREAMBLE;
    mp->handlers = handlers;
    mp->data = data;
    mp->error = NULL;
    mp->parts = 0;
    mp->head_len = 0;

    if (len == 0 || len > GOV_MP_BOUNDARY_MAX) {
        (void) gov_mp_fail(mp, "bad boundary");
        return;
    }

    memcpy(mp->delim, "\r\n--", 4);
    memcpy(mp->delim + 4, boundary, len);
    mp->delim_len = len + 4;

    /* the body may open with the delimiter itself: its CRLF is implied */
    mp->matched = 2;
}


int
gov_mp_feed(gov_mp_t *mp, const char *p, size_t len)
{
    int          rc;
    const char  *end;

    end = p + len;

    while (p < end) {

        switch (mp->state) {

        case MP_PREAMBLE:
        case MP_DATA:
            rc = gov_mp_scan(mp, &p, end);
            if (rc != GOV_MP_OK) {
                return rc;
            }
            break;

        case MP_AFTER:
        case MP_AFTER_DASH:
        case MP_PAD:
        case MP_AFTER_CR:
            rc = gov_mp_after(mp, *p++);
            if (rc != GOV_MP_OK) {
                return rc;
            }
            break;

        case MP_HEADERS:
            rc = gov_mp_header_byte(mp, *p++);
            if (rc != GOV_MP_OK) {
                return rc;
            }
            break;

        case MP_EPILOGUE:
            return GOV_MP_OK;

        case MP_ABORTED:
            return GOV_MP_ABORTED;

        default:
            return GOV_MP_MALFORMED;
        }
    }

    if (mp->state == MP_ERROR) {
        return GOV_MP_MALFORMED;
    }

    return mp->state == MP_ABORTED ? GOV_MP_ABORTED : GOV_MP_OK;
}


int
gov_mp_finish(gov_mp_t *mp)
{
    switch (mp->state) {

    case MP_EPILOGUE:
        return GOV_MP_OK;

    case MP_ABORTED:
        return GOV_MP_ABORTED;

    case MP_ERROR:
        return GOV_MP_MALFORMED;

    default:
        return gov_mp_fail(mp, "the body ends before its close delimiter");
    }
}


const char *
gov_mp_error(gov_mp_t *mp)
{
    if (mp->state == MP_ABORTED) {
        return "stopped";
    }

    return mp->error ? mp->error : "malformed";
}


static int
gov_mp_fail(gov_mp_t *mp, const char *error)
{
    mp->state = MP_ERROR;
    mp->error = error;

    return GOV_MP_MALFORMED;
}


/*
 * Data (or the preamble) up to the next delimiter.  A delimiter opens
 * with the only CR it holds (a boundary has none), so a mismatch after
 * a partial match gives back the matched prefix and looks again at the
 * byte that broke it.
 */

static int
gov_mp_scan(gov_mp_t *mp, const char **pp, const char *end)
{
    const char  *p, *q;

    p = *pp;

    while (p < end) {

        if (mp->matched == 0) {
            q = memchr(p, '\r', end - p);

            if (q == NULL) {
                q = end;
            }

            if (gov_mp_emit(mp, p, q - p) != GOV_MP_OK) {
                return GOV_MP_ABORTED;
            }

            p = q;

            if (p == end) {
                break;
            }

            mp->matched = 1;
            p++;
            continue;
        }

        if (*p == mp->delim[mp->matched]) {
            mp->matched++;
            p++;

            if (mp->matched < mp->delim_len) {
                continue;
            }

            /* a delimiter */

            mp->matched = 0;

            if (mp->state == MP_DATA && mp->handlers->end
                && mp->handlers->end(mp->data) != 0)
            {
                mp->state = MP_ABORTED;
                return GOV_MP_ABORTED;
            }

            mp->state = MP_AFTER;
            break;
        }

        /* not a delimiter after all: what matched was data */

        if (gov_mp_emit(mp, mp->delim, mp->matched) != GOV_MP_OK) {
            return GOV_MP_ABORTED;
        }

        mp->matched = 0;
    }

    *pp = p;

    return GOV_MP_OK;
}


static int
gov_mp_emit(gov_mp_t *mp, const char *p, size_t len)
{
    if (len == 0 || mp->state != MP_DATA) {
        return GOV_MP_OK;
    }

    if (mp->handlers->data && mp->handlers->data(mp->data, p, len) != 0) {
        mp->state = MP_ABORTED;
        return GOV_MP_ABORTED;
    }

    return GOV_MP_OK;
}


/* what follows a delimiter: "--" closes, else padding and CRLF */

static int
gov_mp_after(gov_mp_t *mp, char ch)
{
    switch (mp->state) {

    case MP_AFTER:
        if (ch == '-') {
            mp->state = MP_AFTER_DASH;
            return GOV_MP_OK;
        }

        /* fall through */

    case MP_PAD:
        if (ch == ' ' || ch == '\t') {
            mp->state = MP_PAD;
            return GOV_MP_OK;
        }

        if (ch == '\r') {
            mp->state = MP_AFTER_CR;
            return GOV_MP_OK;
        }

        return gov_mp_fail(mp, "a boundary is followed by other text");

    case MP_AFTER_DASH:
        if (ch != '-') {
            return gov_mp_fail(mp, "a boundary is followed by other text");
        }

        /* no part at all: what browsers send for a form of no field */

        mp->state = MP_EPILOGUE;
        return GOV_MP_OK;

    default: /* MP_AFTER_CR */
        if (ch != '\n') {
            return gov_mp_fail(mp, "a boundary line lacks its LF");
        }

        if (++mp->parts > GOV_MP_PARTS_MAX) {
            return gov_mp_fail(mp, "too many parts");
        }

        mp->head_len = 0;
        mp->state = MP_HEADERS;
        return GOV_MP_OK;
    }
}


static int
gov_mp_header_byte(gov_mp_t *mp, char ch)
{
    if (mp->head_len == GOV_MP_HEADERS_MAX) {
        return gov_mp_fail(mp, "a part's headers are too long");
    }

    if (mp->head_len && mp->head[mp->head_len - 1] == '\r' && ch != '\n') {
        return gov_mp_fail(mp, "a part's header holds a bare CR");
    }

    mp->head[mp->head_len++] = ch;

    if (ch != '\n') {
        return GOV_MP_OK;
    }

    if (mp->head_len < 2 || mp->head[mp->head_len - 2] != '\r') {
        return gov_mp_fail(mp, "a part's header line ends without CRLF");
    }

    if (mp->head_len == 2) {
        return gov_mp_fail(mp, "a part has no Content-Disposition");
    }

    if (mp->head_len < 4
        || memcmp(mp->head + mp->head_len - 4, "\r\n\r\n", 4) != 0)
    {
        return GOV_MP_OK;
    }

    return gov_mp_headers(mp);
}


/* the header block is complete: name, filename and type, then begin */

static int
gov_mp_headers(gov_mp_t *mp)
{
    int             disposition;
    char           *p, *end, *line, *colon, *v, *ve;
    size_t          n;
    gov_mp_part_t   part;

    disposition = 0;
    mp->name[0] = '\0';
    mp->type[0] = '\0';

    p = mp->head;
    end = mp->head + mp->head_len - 2;       /* the empty line's CRLF */

    part.filename = NULL;
    part.filename_len = 0;

    while (p < end) {
        line = p;
        p = memchr(p, '\r', end - p);     /* each line ends with CRLF */
        ve = p;
        p += 2;

        colon = memchr(line, ':', ve - line);
        if (colon == NULL || colon == line) {
            return gov_mp_fail(mp, "a part's header line has no name");
        }

        v = colon + 1;

        while (v < ve && (*v == ' ' || *v == '\t')) {
            v++;
        }

        while (ve > v && (ve[-1] == ' ' || ve[-1] == '\t')) {
            ve--;
        }

        n = colon - line;

        if (n == 19 && strncasecmp(line, "Content-Disposition", 19) == 0) {
            if (disposition++) {
                return gov_mp_fail(mp, "a part has two Content-Disposition");
            }

            if (gov_mp_disposition(mp, v, ve) != GOV_MP_OK) {
                return GOV_MP_MALFORMED;
            }

        } else if (n == 12 && strncasecmp(line, "Content-Type", 12) == 0) {
            if ((size_t) (ve - v) > GOV_MP_TYPE_MAX
                || !gov_mp_text_ok(v, ve - v))
            {
                return gov_mp_fail(mp, "a part's Content-Type is too long");
            }

            memcpy(mp->type, v, ve - v);
            mp->type[ve - v] = '\0';
        }
    }

    if (!disposition) {
        return gov_mp_fail(mp, "a part has no Content-Disposition");
    }

    part.name = mp->name;
    part.name_len = strlen(mp->name);
    part.type = mp->type;

    if (mp->has_file) {
        part.filename = mp->filename;
        part.filename_len = strlen(mp->filename);
    }

    mp->state = MP_DATA;

    if (mp->handlers->begin && mp->handlers->begin(mp->data, &part) != 0) {
        mp->state = MP_ABORTED;
        return GOV_MP_ABORTED;
    }

    return GOV_MP_OK;
}


/*
 * form-data; name="..."; filename="..."; filename*=UTF-8''...  A
 * filename may be given empty: a file input left empty.
 */

static int
gov_mp_disposition(gov_mp_t *mp, const char *p, const char *end)
{
    int     has_file, has_ext;
    char    pname[16], value[GOV_MP_NAME_MAX * 3 + 1];
    size_t  vlen, n;

    if (end - p < 9 || strncasecmp(p, "form-data", 9) != 0
        || (end - p > 9 && p[9] != ';' && p[9] != ' ' && p[9] != '\t'))
    {
        return gov_mp_fail(mp, "a part is not form-data");
    }

    p += 9;
    has_file = 0;
    has_ext = 0;
    mp->filename[0] = '\0';

    while (p < end) {
        p = gov_mp_param(p, end, pname, sizeof(pname), value, sizeof(value),
                         &vlen);
        if (p == NULL) {
            return gov_mp_fail(mp, "a part's Content-Disposition is "
                                   "malformed");
        }

        if (strcasecmp(pname, "name") == 0) {
            if (vlen == 0 || vlen > GOV_MP_NAME_MAX
                || !gov_mp_text_ok(value, vlen))
            {
                return gov_mp_fail(mp, "a part's name is empty, too long "
                                       "or not UTF-8 text");
            }

            memcpy(mp->name, value, vlen);
            mp->name[vlen] = '\0';

        } else if (strcasecmp(pname, "filename*") == 0) {
            if (gov_mp_ext_value(value, vlen, mp->filename,
                                 sizeof(mp->filename), &n) != 0)
            {
                return gov_mp_fail(mp, "a part's filename* is not UTF-8 "
                                       "text");
            }

            has_file = 1;
            has_ext = 1;

        } else if (strcasecmp(pname, "filename") == 0) {
            has_file = 1;

            if (has_ext) {
                continue;                 /* filename* wins */
            }

            if (vlen > GOV_MP_FILENAME_MAX || !gov_mp_text_ok(value, vlen)) {
                return gov_mp_fail(mp, "a part's filename is too long or "
                                       "not UTF-8 text");
            }

            memcpy(mp->filename, value, vlen);
            mp->filename[vlen] = '\0';
        }
    }

    if (mp->name[0] == '\0') {
        return gov_mp_fail(mp, "a part has no name");
    }

    n = gov_mp_basename(mp->filename, strlen(mp->filename));
    mp->filename[n] = '\0';

    mp->has_file = has_file;

    return GOV_MP_OK;
}


/*
 * One "; NAME=VALUE" parameter (VALUE a token or a quoted string) into
 * NUL-terminated copies.  Returns where the next one starts, or NULL.
 */

static const char *
gov_mp_param(const char *p, const char *end, char *name, size_t name_size,
    char *value, size_t value_size, size_t *value_len)
{
    size_t  n;

    while (p < end && (*p == ' ' || *p == '\t')) {
        p++;
    }

    if (p == end || *p != ';') {
        return NULL;
    }

    p++;

    while (p < end && (*p == ' ' || *p == '\t')) {
        p++;
    }

    n = 0;

    while (p < end && *p != '=' && *p != ' ' && *p != ';') {
        if (n + 1 == name_size) {
            return NULL;
        }

        name[n++] = *p++;
    }

    name[n] = '\0';

    while (p < end && (*p == ' ' || *p == '\t')) {
        p++;
    }

    if (n == 0 || p == end || *p != '=') {
        return NULL;
    }

    p++;

    while (p < end && (*p == ' ' || *p == '\t')) {
        p++;
    }

    n = 0;

    if (p < end && *p == '"') {
        p++;

        for ( ;; ) {
            if (p == end) {
                return NULL;
            }

            if (*p == '"') {
                p++;
                break;
            }

            if (*p == '\\' && p + 1 < end) {
                p++;
            }

            if (n + 1 == value_size) {
                return NULL;
            }

            value[n++] = *p++;
        }

    } else {
        while (p < end && *p != ';' && *p != ' ' && *p != '\t') {
            if (n + 1 == value_size) {
                return NULL;
            }

            value[n++] = *p++;
        }
    }

    value[n] = '\0';
    *value_len = n;

    while (p < end && (*p == ' ' || *p == '\t')) {
        p++;
    }

    return p;
}


/* RFC 8187: UTF-8'LANG'PERCENT-ENCODED; other charsets are refused */

static int
gov_mp_ext_value(const char *v, size_t len, char *out, size_t size,
    size_t *out_len)
{
    size_t       n;
    const char  *p, *end, *q;
    int          hi, lo;

    end = v + len;

    if (len < 7 || strncasecmp(v, "UTF-8'", 6) != 0) {
        return -1;
    }

    q = memchr(v + 6, '\'', end - (v + 6));
    if (q == NULL) {
        return -1;
    }

    n = 0;

    for (p = q + 1; p < end; p++) {
        if (n + 1 == size) {
            return -1;
        }

        if (*p != '%') {
            out[n++] = *p;
            continue;
        }

        if (end - p < 3) {
            return -1;
        }

#define HEXV(c)  ((c) >= '0' && (c) <= '9' ? (c) - '0'                      \
                  : ((c) | 0x20) >= 'a' && ((c) | 0x20) <= 'f'               \
                    ? ((c) | 0x20) - 'a' + 10 : -1)

        hi = HEXV(p[1]);
        lo = HEXV(p[2]);

#undef HEXV

        if (hi < 0 || lo < 0) {
            return -1;
        }

        out[n++] = (char) (hi * 16 + lo);
        p += 2;
    }

    out[n] = '\0';
    *out_len = n;

    return (n > GOV_MP_FILENAME_MAX || !gov_mp_text_ok(out, n)) ? -1 : 0;
}


/* well-formed UTF-8 (no overlong form, no surrogate), no control */

static int
gov_mp_text_ok(const char *s, size_t len)
{
    size_t          i, k, need;
    unsigned int    cp, min;
    unsigned char   c;

    for (i = 0; i < len; i++) {
        c = (unsigned char) s[i];

        if (c < 0x80) {
            if (c < 0x20 || c == 0x7f) {
                return 0;
            }

            continue;
        }

        if ((c & 0xe0) == 0xc0) {
            need = 1; cp = c & 0x1f; min = 0x80;

        } else if ((c & 0xf0) == 0xe0) {
            need = 2; cp = c & 0x0f; min = 0x800;

        } else if ((c & 0xf8) == 0xf0) {
            need = 3; cp = c & 0x07; min = 0x10000;

        } else {
            return 0;
        }

        if (len - i - 1 < need) {
            return 0;
        }

        for (k = 1; k <= need; k++) {
            c = (unsigned char) s[i + k];

            if ((c & 0xc0) != 0x80) {
                return 0;
            }

            cp = (cp << 6) | (c & 0x3f);
        }

        if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) {
            return 0;
        }

        i += need;
    }

    return 1;
}


/* what follows the last "/" or "\": some browsers send a whole path */

static size_t
gov_mp_basename(char *s, size_t len)
{
    size_t  i, start;

    start = 0;

    for (i = 0; i < len; i++) {
        if (s[i] == '/' || s[i] == '\\') {
            start = i + 1;
        }
    }

    if (start) {
        memmove(s, s + start, len - start);
    }

    return len - start;
}


/* RFC 2046 bchars */

static int
gov_mp_bchar(unsigned char ch)
{
    if ((ch >= '0' && ch <= '9') || (ch >= 'a' && ch <= 'z')
        || (ch >= 'A' && ch <= 'Z'))
    {
        return 1;
    }

    return strchr("'()+_,-./:=? ", ch) != NULL && ch != '\0';
}
