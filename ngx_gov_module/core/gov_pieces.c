
/*
 * Copyright (C) ngx_gov_module authors
 */


#include "gov_pieces.h"


static size_t gov_pieces_round(size_t size);


/* the smallest power of two of at least "size" (at least 8) */

static size_t
gov_pieces_round(size_t size)
{
    size_t  p;

    for (p = 8; p < size; p <<= 1) {
        /* void */
    }

    return p;
}


size_t
gov_pieces(size_t size, size_t first, size_t link, size_t page,
    size_t *pieces)
{
    size_t  n, p, need, min;

    n = 0;
    need = size;
    min = first;

    while (n < GOV_PIECES_MAX) {

        if (need >= page) {
            /* whole pages, exact; the rest in smaller pieces */
            p = need / page * page;

        } else if (need > page / 2) {
            /* a page when it wastes an eighth at most, else half a page */
            p = (page - need <= page / 8) ? page : page / 2;

        } else {
            p = gov_pieces_round(need);

            if (p - need > p / 8 && p > 128 && p / 2 >= min) {
                p /= 2;
            }
        }

        pieces[n++] = p;

        if (p >= need) {
            return n;
        }

        need = need - p + link;
        min = link + 1;
    }

    return 0;
}


size_t
gov_pieces_total(const size_t *pieces, size_t n)
{
    size_t  i, total;

    total = 0;

    for (i = 0; i < n; i++) {
        total += pieces[i];
    }

    return total;
}
