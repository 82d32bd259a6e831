
/*
 * Copyright (C) ngx_gov_module authors
 *
 * An entry of shared memory cut into pieces of the sizes nginx's slab
 * allocator gives, so that it takes little more than its own bytes.  No
 * nginx header: unit-tested alone.
 */


#ifndef _GOV_PIECES_H_INCLUDED_
#define _GOV_PIECES_H_INCLUDED_


#include <stddef.h>


#define GOV_PIECES_MAX  8


/*
 * nginx's slab allocator rounds an allocation of up to half a page up to
 * a power of two (at least 8 bytes) and a larger one up to whole pages: an
 * entry of 1,100 bytes takes 2,048.  gov_pieces() plans "size" bytes
 * (the entry with its header) as pieces of those sizes instead: the first
 * holds at least "first" bytes (the header and what a lookup compares);
 * each further piece begins with "link" bytes of its own (a pointer to the
 * next and a length); a piece is rounded up only when that wastes at most
 * an eighth of it, or it is 128 bytes or less.  Writes the sizes to
 * "pieces" and returns how many (at most GOV_PIECES_MAX), or 0 when the
 * entry needs more ("page" a power of two of 1,024 or more, "first" and
 * "link" under 128).  Over 512 bytes an entry takes at most 1/8 more than
 * it is, plus "link" bytes a piece.
 */
size_t gov_pieces(size_t size, size_t first, size_t link, size_t page,
    size_t *pieces);

/* the bytes the pieces take */
size_t gov_pieces_total(const size_t *pieces, size_t n);


#endif /* _GOV_PIECES_H_INCLUDED_ */
