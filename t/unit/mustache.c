
/*
 * Copyright (C) ngx_gov_module authors
 *
 * The official Mustache spec suites (comments, interpolation, inverted,
 * partials, sections), read from ../shared/data/mustache-spec, else from
 * the copy in t/unit/mustache-spec; plus the engine's own errors.
 */


#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tap.h"
#include "gov_mustache.h"


typedef struct {
    const char            *name[32];
    gov_mustache_t        *tpl[32];
    size_t                 n;
} partials_t;


static const gov_mustache_t *
find_partial(void *ctx, const char *name, size_t len)
{
    size_t       i;
    partials_t  *p = ctx;

    for (i = 0; i < p->n; i++) {
        if (strlen(p->name[i]) == len && memcmp(p->name[i], name, len) == 0) {
            return p->tpl[i];
        }
    }

    return NULL;
}


static void
run_suite(const char *file)
{
    char            path[512], err[256];
    size_t          i, line;
    json_t         *doc, *tests, *test, *parts, *v;
    const char     *key;
    partials_t      partials;
    gov_mbuf_t      out;
    gov_mustache_t *t;

    snprintf(path, sizeof(path), "../shared/data/mustache-spec/%s", file);
    doc = json_load_file(path, 0, NULL);

    if (doc == NULL) {
        snprintf(path, sizeof(path), "t/unit/mustache-spec/%s", file);
        doc = json_load_file(path, 0, NULL);
    }

    ok(doc != NULL, "%s loads from %s", file, path);
    if (doc == NULL) {
        return;
    }

    tests = json_object_get(doc, "tests");

    for (i = 0; i < json_array_size(tests); i++) {
        test = json_array_get(tests, i);

        memset(&partials, 0, sizeof(partials));
        parts = json_object_get(test, "partials");

        json_object_foreach(parts, key, v) {
            partials.name[partials.n] = key;
            partials.tpl[partials.n] = gov_mustache_compile(
                json_string_value(v), json_string_length(v), err,
                sizeof(err), &line);
            partials.n++;
        }

        v = json_object_get(test, "template");
        t = gov_mustache_compile(json_string_value(v), json_string_length(v),
                                 err, sizeof(err), &line);

        memset(&out, 0, sizeof(out));

        if (t == NULL) {
            ok(0, "%s: %s compiles: %s (line %zu)", file,
               json_string_value(json_object_get(test, "name")), err, line);

        } else {
            gov_mustache_render(t, json_object_get(test, "data"),
                                find_partial, &partials, &out);
            is_str(out.data ? out.data : "",
                   json_string_value(json_object_get(test, "expected")),
                   "%s: %s", file,
                   json_string_value(json_object_get(test, "name")));
        }

        gov_mbuf_free(&out);
        gov_mustache_free(t);

        while (partials.n) {
            gov_mustache_free(partials.tpl[--partials.n]);
        }
    }

    json_decref(doc);
}


static void
bad(const char *src, const char *want, size_t want_line)
{
    char             err[256];
    size_t           line;
    gov_mustache_t  *t;

    t = gov_mustache_compile(src, strlen(src), err, sizeof(err), &line);
    ok(t == NULL && strstr(err, want) && line == want_line,
       "refused: %s (%s, line %zu)", want, t ? "compiled" : err, line);
    gov_mustache_free(t);
}


int
main(void)
{
    run_suite("comments.json");
    run_suite("interpolation.json");
    run_suite("inverted.json");
    run_suite("partials.json");
    run_suite("sections.json");

    bad("a\n{{#x}}\nb", "is never closed", 2);
    bad("{{/x}}", "closes no section", 1);
    bad("a\nb\n{{#x}}{{/y}}", "closes \"{{#x}}\"", 3);
    bad("{{ x", "unclosed tag", 1);
    bad("{{}}", "a tag without a name", 1);
    bad("{{=<% %>=}}", "not supported", 1);

    return done_testing();
}
