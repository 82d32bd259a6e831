
/*
 * Copyright (C) ngx_gov_module authors
 *
 * Mustache templates (interpolation, sections, inverted sections, comments,
 * partials), compiled once and rendered against jansson values, HTML-escaped
 * by default.  No nginx header: unit-tested against the official spec and
 * fuzzed alone.
 */


#ifndef _GOV_MUSTACHE_H_INCLUDED_
#define _GOV_MUSTACHE_H_INCLUDED_


#include <stddef.h>
#include <jansson.h>


typedef struct gov_mustache_s  gov_mustache_t;


typedef struct {
    char               *data;
    size_t              len;
    size_t              cap;
} gov_mbuf_t;


/* returns the compiled partial called "name", or NULL (renders nothing) */
typedef const gov_mustache_t *(*gov_mustache_partial_pt)(void *ctx,
    const char *name, size_t len);


/*
 * Compiles a template.  Returns NULL with a message and the 1-based line in
 * "err" and "*line" on a syntax error (an unclosed tag or section, a
 * mismatched close, an empty name).
 */
gov_mustache_t *gov_mustache_compile(const char *src, size_t len,
    char *err, size_t errlen, size_t *line);
void gov_mustache_free(gov_mustache_t *t);

/* appends the rendering to "out"; returns 0, or -1 when out of memory */
int gov_mustache_render(const gov_mustache_t *t, json_t *data,
    gov_mustache_partial_pt partial, void *ctx, gov_mbuf_t *out);

int gov_mbuf_append(gov_mbuf_t *b, const char *s, size_t len);
void gov_mbuf_free(gov_mbuf_t *b);


#endif /* _GOV_MUSTACHE_H_INCLUDED_ */
