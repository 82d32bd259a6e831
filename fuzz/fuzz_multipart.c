
/*
 * Copyright (C) ngx_gov_module authors
 *
 * libFuzzer target: multipart/form-data.  The input is a body with the
 * boundary "B"; it is parsed whole and again in pieces whose sizes come
 * from the first byte, and both must agree: streaming never changes
 * what a part holds.
 */


#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "gov_multipart.h"


int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);


typedef struct {
    unsigned char  log[4096];
    size_t         len;
} fz_log_t;


static void
fz_put(fz_log_t *l, const void *p, size_t n)
{
    while (n--) {
        l->log[l->len++ % sizeof(l->log)] ^= *(const unsigned char *) p;
        p = (const unsigned char *) p + 1;
    }
}


static int
fz_begin(void *d, const gov_mp_part_t *part)
{
    if (part->name_len == 0 || part->name_len > GOV_MP_NAME_MAX
        || strlen(part->name) != part->name_len
        || (part->filename && (part->filename_len > GOV_MP_FILENAME_MAX
                               || strlen(part->filename)
                                  != part->filename_len)))
    {
        __builtin_trap();
    }

    fz_put(d, "[", 1);
    fz_put(d, part->name, part->name_len);
    fz_put(d, "|", 1);

    if (part->filename) {
        fz_put(d, part->filename, part->filename_len);
    }

    return 0;
}


static int
fz_data(void *d, const char *p, size_t len)
{
    if (len == 0) {
        __builtin_trap();
    }

    fz_put(d, p, len);
    return 0;
}


static int
fz_end(void *d)
{
    fz_put(d, "$", 1);
    return 0;
}


static const gov_mp_handlers_t  fz_handlers = { fz_begin, fz_data, fz_end };


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    int        rc1, rc2;
    size_t     i, n, step;
    fz_log_t   whole, pieces;
    gov_mp_t   mp;

    if (size < 1) {
        return 0;
    }

    step = (data[0] % 16) + 1;
    data++;
    size--;

    memset(&whole, 0, sizeof(whole));
    gov_mp_init(&mp, "B", 1, &fz_handlers, &whole);
    rc1 = gov_mp_feed(&mp, (const char *) data, size);
    if (rc1 == GOV_MP_OK) {
        rc1 = gov_mp_finish(&mp);
    }

    memset(&pieces, 0, sizeof(pieces));
    gov_mp_init(&mp, "B", 1, &fz_handlers, &pieces);
    rc2 = GOV_MP_OK;

    for (i = 0; i < size && rc2 == GOV_MP_OK; i += n) {
        n = size - i < step ? size - i : step;
        rc2 = gov_mp_feed(&mp, (const char *) data + i, n);
    }

    if (rc2 == GOV_MP_OK) {
        rc2 = gov_mp_finish(&mp);
    }

    if (rc1 != rc2 || (rc1 == GOV_MP_OK
                       && (whole.len != pieces.len
                           || memcmp(whole.log, pieces.log,
                                     sizeof(whole.log)) != 0)))
    {
        __builtin_trap();
    }

    (void) gov_mp_boundary((const char *) data, size,
                           (char [GOV_MP_BOUNDARY_MAX + 1]) { 0 });

    return 0;
}
