
/*
 * Copyright (C) ngx_gov_module authors
 */


#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gov_mustache.h"


#define GOV_MU_TEXT        0
#define GOV_MU_VAR         1
#define GOV_MU_RAW         2
#define GOV_MU_SECTION     3
#define GOV_MU_INVERTED    4
#define GOV_MU_PARTIAL     5

#define GOV_MU_MAX_DEPTH   64
#define GOV_MU_MAX_NEST    256


typedef struct {
    int                 type;
    char               *text;       /* text, or the tag's name */
    size_t              len;
    char               *indent;     /* a standalone partial's indentation */
    size_t              indent_len;
    size_t              end;        /* sections: the node after the close */
} gov_mu_node_t;


struct gov_mustache_s {
    gov_mu_node_t      *nodes;
    size_t              nnodes;
    size_t              cap;
};


typedef struct {
    gov_mbuf_t               *out;
    const char               *indent;
    size_t                    indent_len;
    int                       bol;
    gov_mustache_partial_pt   partial;
    void                     *ctx;
    json_t                   *stack[GOV_MU_MAX_DEPTH];
    size_t                    depth;
    int                       nest;
} gov_mu_state_t;


static int gov_mu_push(gov_mustache_t *t, int type, const char *s,
    size_t len);
static int gov_mu_ws(char c);
static int gov_mu_render(const gov_mustache_t *t, size_t from, size_t to,
    gov_mu_state_t *st);
static json_t *gov_mu_lookup(gov_mu_state_t *st, const char *name,
    size_t len);
static int gov_mu_truthy(json_t *v);
static int gov_mu_text(gov_mu_state_t *st, const char *s, size_t len);
static int gov_mu_value(gov_mu_state_t *st, json_t *v, int escape);


int
gov_mbuf_append(gov_mbuf_t *b, const char *s, size_t len)
{
    char    *p;
    size_t   cap;

    if (b->len + len + 1 > b->cap) {
        cap = b->cap ? b->cap : 256;

        while (cap < b->len + len + 1) {
            cap *= 2;
        }

        p = realloc(b->data, cap);
        if (p == NULL) {
            return -1;
        }

        b->data = p;
        b->cap = cap;
    }

    memcpy(b->data + b->len, s, len);
    b->len += len;
    b->data[b->len] = '\0';

    return 0;
}


void
gov_mbuf_free(gov_mbuf_t *b)
{
    free(b->data);
    b->data = NULL;
    b->len = 0;
    b->cap = 0;
}


static int
gov_mu_ws(char c)
{
    return c == ' ' || c == '\t';
}


static int
gov_mu_push(gov_mustache_t *t, int type, const char *s, size_t len)
{
    size_t          cap;
    gov_mu_node_t  *n;

    if (type == GOV_MU_TEXT && len == 0) {
        return 0;
    }

    if (t->nnodes == t->cap) {
        cap = t->cap ? t->cap * 2 : 16;
        n = realloc(t->nodes, cap * sizeof(gov_mu_node_t));
        if (n == NULL) {
            return -1;
        }

        t->nodes = n;
        t->cap = cap;
    }

    n = &t->nodes[t->nnodes];
    memset(n, 0, sizeof(gov_mu_node_t));

    n->type = type;
    n->text = malloc(len + 1);
    if (n->text == NULL) {
        return -1;
    }

    memcpy(n->text, s, len);
    n->text[len] = '\0';
    n->len = len;

    t->nnodes++;

    return 0;
}


void
gov_mustache_free(gov_mustache_t *t)
{
    size_t  i;

    if (t == NULL) {
        return;
    }

    for (i = 0; i < t->nnodes; i++) {
        free(t->nodes[i].text);
        free(t->nodes[i].indent);
    }

    free(t->nodes);
    free(t);
}


/*
 * One scanner over the template: text, then a tag of one of the kinds the
 * spec knows, with the standalone-line rule applied where a tag ends.  The
 * state (the text run, the open sections, the line) is shared by every
 * branch, so the scanner is one function of more than 120 lines, as
 * parsers are in nginx itself (ngx_http_parse_request_line()).
 */

gov_mustache_t *
gov_mustache_compile(const char *src, size_t len, char *err, size_t errlen,
    size_t *line)
{
    int              type, standalone;
    char             c;
    size_t           p, q, text_start, tag_start, tag_end, name_start;
    size_t           name_end, line_start, eol, k, open[GOV_MU_MAX_NEST];
    size_t           open_at[GOV_MU_MAX_NEST], nopen;
    const char      *close;
    size_t           close_len;
    gov_mustache_t  *t;

    t = calloc(1, sizeof(gov_mustache_t));
    if (t == NULL) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }

    *line = 0;
    nopen = 0;
    text_start = 0;
    p = 0;

    for ( ;; ) {

        /* the next "{{" */

        for (q = p; q + 1 < len; q++) {
            if (src[q] == '{' && src[q + 1] == '{') {
                break;
            }
        }

        if (q + 1 >= len) {
            break;
        }

        tag_start = q;
        c = tag_start + 2 < len ? src[tag_start + 2] : '\0';

        if (c == '{') {
            close = "}}}";
            close_len = 3;

        } else {
            close = "}}";
            close_len = 2;
        }

        for (q = tag_start + 2; q + close_len <= len; q++) {
            if (memcmp(src + q, close, close_len) == 0) {
                break;
            }
        }

        if (q + close_len > len) {
            snprintf(err, errlen, "unclosed tag");
            goto failed_at;
        }

        tag_end = q + close_len;

        switch (c) {
        case '#': type = GOV_MU_SECTION; break;
        case '^': type = GOV_MU_INVERTED; break;
        case '/': type = -1; break;
        case '!': type = -2; break;
        case '>': type = GOV_MU_PARTIAL; break;
        case '&': type = GOV_MU_RAW; break;
        case '{': type = GOV_MU_RAW; break;
        case '=':
            snprintf(err, errlen, "changing delimiters is not supported");
            goto failed_at;
        default: type = GOV_MU_VAR;
        }

        name_start = tag_start + 2 + (type == GOV_MU_VAR ? 0 : 1);
        name_end = q;

        while (name_start < name_end && (gov_mu_ws(src[name_start])
                                         || src[name_start] == '\n'
                                         || src[name_start] == '\r'))
        {
            name_start++;
        }

        while (name_end > name_start && (gov_mu_ws(src[name_end - 1])
                                         || src[name_end - 1] == '\n'
                                         || src[name_end - 1] == '\r'))
        {
            name_end--;
        }

        if (type != -2 && name_end == name_start) {
            snprintf(err, errlen, "a tag without a name");
            goto failed_at;
        }

        /* a standalone tag takes its whole line with it */

        standalone = 0;
        line_start = tag_start;
        eol = tag_end;

        if (type != GOV_MU_VAR && type != GOV_MU_RAW) {
            while (line_start > text_start && gov_mu_ws(src[line_start - 1])) {
                line_start--;
            }

            if (line_start == 0 || src[line_start - 1] == '\n') {
                while (eol < len && gov_mu_ws(src[eol])) {
                    eol++;
                }

                if (eol == len) {
                    standalone = 1;

                } else if (src[eol] == '\n') {
                    eol++;
                    standalone = 1;

                } else if (src[eol] == '\r' && eol + 1 < len
                           && src[eol + 1] == '\n')
                {
                    eol += 2;
                    standalone = 1;
                }
            }
        }

        if (gov_mu_push(t, GOV_MU_TEXT, src + text_start,
                        (standalone ? line_start : tag_start) - text_start)
            != 0)
        {
            goto nomem;
        }

        switch (type) {

        case -2:
            break;

        case -1:
            if (nopen == 0) {
                snprintf(err, errlen, "\"{{/%.*s}}\" closes no section",
                         (int) (name_end - name_start), src + name_start);
                goto failed_at;
            }

            k = open[--nopen];

            if (t->nodes[k].len != name_end - name_start
                || memcmp(t->nodes[k].text, src + name_start,
                          name_end - name_start) != 0)
            {
                snprintf(err, errlen, "\"{{/%.*s}}\" closes \"{{#%s}}\"",
                         (int) (name_end - name_start), src + name_start,
                         t->nodes[k].text);
                goto failed_at;
            }

            t->nodes[k].end = t->nnodes;
            break;

        default:
            if (gov_mu_push(t, type, src + name_start, name_end - name_start)
                != 0)
            {
                goto nomem;
            }

            if (type == GOV_MU_SECTION || type == GOV_MU_INVERTED) {
                if (nopen == GOV_MU_MAX_NEST) {
                    snprintf(err, errlen, "sections nested too deep");
                    goto failed_at;
                }

                open_at[nopen] = tag_start;
                open[nopen++] = t->nnodes - 1;
            }

            if (type == GOV_MU_PARTIAL && standalone
                && tag_start > line_start)
            {
                gov_mu_node_t  *n = &t->nodes[t->nnodes - 1];

                n->indent = malloc(tag_start - line_start);
                if (n->indent == NULL) {
                    goto nomem;
                }

                memcpy(n->indent, src + line_start, tag_start - line_start);
                n->indent_len = tag_start - line_start;
            }
        }

        text_start = standalone ? eol : tag_end;
        p = text_start;
    }

    if (gov_mu_push(t, GOV_MU_TEXT, src + text_start, len - text_start) != 0)
    {
        goto nomem;
    }

    if (nopen) {
        snprintf(err, errlen, "\"{{#%s}}\" is never closed",
                 t->nodes[open[nopen - 1]].text);
        tag_start = open_at[nopen - 1];
        goto failed_at;
    }

    return t;

nomem:

    snprintf(err, errlen, "out of memory");
    gov_mustache_free(t);
    return NULL;

failed_at:

    *line = 1;

    for (k = 0; k < tag_start && k < len; k++) {
        if (src[k] == '\n') {
            (*line)++;
        }
    }

    gov_mustache_free(t);
    return NULL;
}


/* rendering */


int
gov_mustache_render(const gov_mustache_t *t, json_t *data,
    gov_mustache_partial_pt partial, void *ctx, gov_mbuf_t *out)
{
    gov_mu_state_t  st;

    memset(&st, 0, sizeof(gov_mu_state_t));

    st.out = out;
    st.indent = "";
    st.bol = 1;
    st.partial = partial;
    st.ctx = ctx;
    st.stack[0] = data;
    st.depth = 1;

    if (gov_mbuf_append(out, "", 0) != 0) {
        return -1;
    }

    return gov_mu_render(t, 0, t->nnodes, &st);
}


static int
gov_mu_render(const gov_mustache_t *t, size_t from, size_t to,
    gov_mu_state_t *st)
{
    int                    rc, bol;
    char                  *indent;
    size_t                 i, k, n, indent_len;
    json_t                *v;
    const char            *saved_indent;
    size_t                 saved_len;
    const gov_mu_node_t   *node;
    const gov_mustache_t  *p;

    for (i = from; i < to; i++) {
        node = &t->nodes[i];

        switch (node->type) {

        case GOV_MU_TEXT:
            if (gov_mu_text(st, node->text, node->len) != 0) {
                return -1;
            }

            break;

        case GOV_MU_VAR:
        case GOV_MU_RAW:
            v = gov_mu_lookup(st, node->text, node->len);

            if (gov_mu_value(st, v, node->type == GOV_MU_VAR) != 0) {
                return -1;
            }

            break;

        case GOV_MU_SECTION:
        case GOV_MU_INVERTED:
            v = gov_mu_lookup(st, node->text, node->len);

            if (node->type == GOV_MU_INVERTED) {
                if (!gov_mu_truthy(v)
                    && gov_mu_render(t, i + 1, node->end, st) != 0)
                {
                    return -1;
                }

            } else if (gov_mu_truthy(v)) {

                if (st->depth == GOV_MU_MAX_DEPTH) {
                    return -1;
                }

                n = json_is_array(v) ? json_array_size(v) : 1;

                for (k = 0; k < n; k++) {
                    st->stack[st->depth++] = json_is_array(v)
                                             ? json_array_get(v, k) : v;
                    rc = gov_mu_render(t, i + 1, node->end, st);
                    st->depth--;

                    if (rc != 0) {
                        return -1;
                    }
                }
            }

            i = node->end - 1;
            break;

        case GOV_MU_PARTIAL:
            p = st->partial ? st->partial(st->ctx, node->text, node->len)
                            : NULL;

            if (p == NULL) {
                break;
            }

            if (st->nest == GOV_MU_MAX_DEPTH) {
                return -1;
            }

            saved_indent = st->indent;
            saved_len = st->indent_len;
            bol = st->bol;
            indent = NULL;
            indent_len = saved_len;

            if (node->indent_len) {
                /* a standalone partial: each of its lines is indented */

                indent_len = saved_len + node->indent_len;
                indent = malloc(indent_len);
                if (indent == NULL) {
                    return -1;
                }

                memcpy(indent, saved_indent, saved_len);
                memcpy(indent + saved_len, node->indent, node->indent_len);

                st->indent = indent;
                st->indent_len = indent_len;
                st->bol = 1;
            }

            st->nest++;
            rc = gov_mu_render(p, 0, p->nnodes, st);
            st->nest--;

            st->indent = saved_indent;
            st->indent_len = saved_len;

            if (node->indent_len) {
                st->bol = bol;
            }

            free(indent);

            if (rc != 0) {
                return -1;
            }

            break;
        }
    }

    return 0;
}


static json_t *
gov_mu_lookup(gov_mu_state_t *st, const char *name, size_t len)
{
    char        key[256];
    size_t      i, part;
    json_t     *v;
    const char *dot;

    if (len == 1 && name[0] == '.') {
        return st->stack[st->depth - 1];
    }

    dot = memchr(name, '.', len);
    part = dot ? (size_t) (dot - name) : len;

    if (part == 0 || part >= sizeof(key)) {
        return NULL;
    }

    memcpy(key, name, part);
    key[part] = '\0';

    /* the first name up the context stack, the rest inside what it found */

    v = NULL;

    for (i = st->depth; i > 0; i--) {
        v = json_object_get(st->stack[i - 1], key);
        if (v) {
            break;
        }
    }

    while (v && dot) {
        name = dot + 1;
        len -= part + 1;

        dot = memchr(name, '.', len);
        part = dot ? (size_t) (dot - name) : len;

        if (part == 0 || part >= sizeof(key)) {
            return NULL;
        }

        memcpy(key, name, part);
        key[part] = '\0';

        v = json_object_get(v, key);
    }

    return v;
}


static int
gov_mu_truthy(json_t *v)
{
    if (v == NULL || json_is_null(v) || json_is_false(v)) {
        return 0;
    }

    if (json_is_array(v)) {
        return json_array_size(v) > 0;
    }

    if (json_is_string(v)) {
        return json_string_length(v) > 0;
    }

    return 1;
}


static int
gov_mu_text(gov_mu_state_t *st, const char *s, size_t len)
{
    size_t  i, start;

    if (st->indent_len == 0) {
        if (len) {
            st->bol = s[len - 1] == '\n';
        }

        return gov_mbuf_append(st->out, s, len);
    }

    /* the indentation before every line of the template's own text */

    start = 0;

    for (i = 0; i < len; i++) {
        if (st->bol) {
            if (gov_mbuf_append(st->out, s + start, i - start) != 0
                || gov_mbuf_append(st->out, st->indent, st->indent_len) != 0)
            {
                return -1;
            }

            start = i;
            st->bol = 0;
        }

        if (s[i] == '\n') {
            st->bol = 1;
        }
    }

    return gov_mbuf_append(st->out, s + start, len - start);
}


static int
gov_mu_value(gov_mu_state_t *st, json_t *v, int escape)
{
    char        num[64], *dump;
    size_t      i, len, start;
    const char *s, *rep;
    int         rc;

    if (v == NULL || json_is_null(v)) {
        return 0;
    }

    if (st->bol && st->indent_len) {
        if (gov_mbuf_append(st->out, st->indent, st->indent_len) != 0) {
            return -1;
        }
    }

    st->bol = 0;

    dump = NULL;

    if (json_is_string(v)) {
        s = json_string_value(v);
        len = json_string_length(v);

    } else if (json_is_integer(v)) {
        len = (size_t) snprintf(num, sizeof(num), "%" JSON_INTEGER_FORMAT,
                                json_integer_value(v));
        s = num;

    } else if (json_is_real(v)) {
        len = (size_t) snprintf(num, sizeof(num), "%.15g", json_real_value(v));

        if (strtod(num, NULL) != json_real_value(v)) {
            len = (size_t) snprintf(num, sizeof(num), "%.17g",
                                    json_real_value(v));
        }

        s = num;

    } else if (json_is_boolean(v)) {
        s = json_is_true(v) ? "true" : "false";
        len = strlen(s);

    } else {
        dump = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
        if (dump == NULL) {
            return -1;
        }

        s = dump;
        len = strlen(dump);
    }

    if (!escape) {
        rc = gov_mbuf_append(st->out, s, len);
        free(dump);
        return rc;
    }

    start = 0;

    for (i = 0; i < len; i++) {
        switch (s[i]) {
        case '&': rep = "&amp;"; break;
        case '<': rep = "&lt;"; break;
        case '>': rep = "&gt;"; break;
        case '"': rep = "&quot;"; break;
        default: continue;
        }

        if (gov_mbuf_append(st->out, s + start, i - start) != 0
            || gov_mbuf_append(st->out, rep, strlen(rep)) != 0)
        {
            free(dump);
            return -1;
        }

        start = i + 1;
    }

    rc = gov_mbuf_append(st->out, s + start, len - start);
    free(dump);

    return rc;
}
