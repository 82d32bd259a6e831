
/*
 * Copyright (C) ngx_gov_module authors
 *
 * Unit tests of gov_pieces(): entries of shared memory laid out to the
 * slab allocator's sizes.
 */


#include <stddef.h>
#include <stdio.h>

#include "tap.h"
#include "gov_pieces.h"


static int sizes_ok(const size_t *p, size_t n, size_t page);


/* every piece a size the slab allocator gives without rounding */

static int
sizes_ok(const size_t *p, size_t n, size_t page)
{
    size_t  i, s;

    for (i = 0; i < n; i++) {
        if (p[i] >= page) {
            if (p[i] % page) {
                return 0;
            }
            continue;
        }

        for (s = 8; s < p[i]; s <<= 1) {
            /* void */
        }

        if (s != p[i]) {
            return 0;
        }
    }

    return 1;
}


int
main(void)
{
    size_t  p[GOV_PIECES_MAX], n, size, total, held, worst, worst_at;
    size_t  bad_sizes, bad_room, bad_first;
    double  r;

    /* a 1,150-byte entry: 1,024 + 128 + 32, not 2,048 */
    n = gov_pieces(1150, 176, 16, 4096, p);
    is_int(n, 3, "1150 bytes: three pieces");
    is_int(p[0], 1024, "... 1024");
    is_int(p[1], 128, "... 128");
    is_int(p[2], 32, "... 32");

    n = gov_pieces(1000, 176, 16, 4096, p);
    is_int(n, 1, "1000 bytes: one piece (1024 wastes under an eighth)");

    n = gov_pieces(100, 176, 16, 4096, p);
    is_int(n, 1, "100 bytes: one piece");
    is_int(p[0], 128, "... 128");

    n = gov_pieces(4096, 176, 16, 4096, p);
    is_int(n, 1, "a page: one piece");
    is_int(p[0], 4096, "... the page");

    n = gov_pieces(4200, 176, 16, 4096, p);
    is_int(n, 2, "4200 bytes: a page and a small piece");
    is_int(p[1], 128, "... 128 (104 bytes and the link)");

    n = gov_pieces(3000, 176, 16, 4096, p);
    is_int(gov_pieces_total(p, n), 3072, "3000 bytes: 2048 + 1024");

    /* the first piece holds "first" bytes however the entry is cut */
    n = gov_pieces(300, 176, 16, 4096, p);
    ok(p[0] >= 176, "300 bytes: the first piece holds the header (%zu)",
       p[0]);

    /* entries of 512 bytes to 16 kB: at most 1/8 more plus the links */
    bad_sizes = bad_room = bad_first = 0;
    worst = 0;
    worst_at = 0;

    for (size = 512; size <= 16384; size++) {
        n = gov_pieces(size, 176, 16, 4096, p);

        if (n == 0) {
            bad_room++;
            continue;
        }

        if (!sizes_ok(p, n, 4096)) {
            bad_sizes++;
        }

        if (p[0] < 176) {
            bad_first++;
        }

        total = gov_pieces_total(p, n);
        held = total - 16 * (n - 1);

        if (held < size) {
            bad_room++;
        }

        if (total * 1000 / size > worst) {
            worst = total * 1000 / size;
            worst_at = size;
        }
    }

    is_int(bad_room, 0, "512 B - 16 kB: every entry fits its pieces");
    is_int(bad_sizes, 0, "... every piece a slab size");
    is_int(bad_first, 0, "... the first holds the header");
    r = (double) worst / 1000;
    ok(r <= 1.17, "... at most %.3f times the entry (%zu bytes)", r,
       worst_at);

    /* documents of 0.5 - 4 kB with 176 bytes of bookkeeping: >= 0.85 */
    worst = 0;

    for (size = 512 + 176; size <= 4096 + 176; size++) {
        n = gov_pieces(size, 176, 16, 4096, p);
        total = gov_pieces_total(p, n);

        if (total * 1000 / size > worst) {
            worst = total * 1000 / size;
        }
    }

    ok(1000.0 / worst >= 0.85, "0.5 - 4 kB documents: a zone holds >= "
       "%.3f of what its bytes would", 1000.0 / worst);

    /* too many pieces: 0 */
    is_int(gov_pieces(8 * 4096 + 8 * 4096 - 1, 176, 16, 4096, p) > 0, 1,
           "64 kB: whole pages first");

    return done_testing();
}
