
/*
 * Copyright (C) ngx_gov_module authors
 *
 * libFuzzer target: template compilation and rendering, with a partial
 * that is the template itself (recursion is bounded).
 */


#include <stddef.h>
#include <stdint.h>

#include "gov_mustache.h"


int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);


static const gov_mustache_t *
fuzz_partial(void *ctx, const char *name, size_t len)
{
    (void) name;
    (void) len;

    return ctx;
}


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char             err[256];
    size_t           line;
    json_t          *ctx;
    gov_mbuf_t       out = { NULL, 0, 0 };
    gov_mustache_t  *t;

    static json_t   *json;

    if (json == NULL) {
        json = json_loads("{\"a\":{\"b\":[1,2,{\"c\":\"<&>\"}]},\"x\":true,"
                          "\"list\":[\"p\",\"q\"],\"n\":null,\"s\":\"\"}",
                          0, NULL);
    }

    t = gov_mustache_compile((const char *) data, size, err, sizeof(err),
                             &line);
    if (t == NULL) {
        return 0;
    }

    ctx = json;
    (void) gov_mustache_render(t, ctx, fuzz_partial, t, &out);

    gov_mbuf_free(&out);
    gov_mustache_free(t);

    return 0;
}
