
/*
 * Copyright (C) ngx_gov_module authors
 *
 * multipart/form-data (RFC 7578 over RFC 2046), streaming: the body is
 * fed in buffers of any size, split anywhere, and each part's data goes
 * to a callback as it arrives; nothing but one part's header block is
 * ever held.  No nginx header.
 */


#ifndef _GOV_MULTIPART_H_INCLUDED_
#define _GOV_MULTIPART_H_INCLUDED_


#include <stddef.h>


#define GOV_MP_BOUNDARY_MAX   70      /* RFC 2046 */
#define GOV_MP_HEADERS_MAX    4096    /* one part's header block */
#define GOV_MP_NAME_MAX       256
#define GOV_MP_FILENAME_MAX   255     /* bytes of UTF-8, after decoding */
#define GOV_MP_TYPE_MAX       128
#define GOV_MP_PARTS_MAX      64

/* gov_mp_feed() and gov_mp_finish() */
#define GOV_MP_OK             0
#define GOV_MP_MALFORMED      -1      /* gov_mp_error() says what */
#define GOV_MP_ABORTED        -2      /* a callback said stop */


typedef struct {
    const char   *name;               /* NUL-terminated, UTF-8 */
    size_t        name_len;
    const char   *filename;           /* NULL: a field, not a file */
    size_t        filename_len;
    const char   *type;               /* the declared Content-Type or "" */
} gov_mp_part_t;


/* each returns 0 to go on, anything else to stop */
typedef struct {
    int  (*begin)(void *data, const gov_mp_part_t *part);
    int  (*data)(void *data, const char *p, size_t len);
    int  (*end)(void *data);
} gov_mp_handlers_t;


typedef struct {
    int                        state;
    const gov_mp_handlers_t   *handlers;
    void                      *data;
    const char                *error;

    char                       delim[GOV_MP_BOUNDARY_MAX + 4];
    size_t                     delim_len;   /* CRLF "--" boundary */
    size_t                     matched;     /* of delim, carried over */
    size_t                     parts;
    int                        has_file;

    char                       head[GOV_MP_HEADERS_MAX];
    size_t                     head_len;

    char                       name[GOV_MP_NAME_MAX + 1];
    char                       filename[GOV_MP_FILENAME_MAX + 1];
    char                       type[GOV_MP_TYPE_MAX + 1];
} gov_mp_t;


/*
 * The boundary parameter of a Content-Type header value, which must be
 * multipart/form-data.  Returns its length (1..70) with the value copied
 * to "out" (GOV_MP_BOUNDARY_MAX + 1 bytes), or 0 when the type is
 * another or the boundary is missing or invalid.
 */
size_t gov_mp_boundary(const char *ctype, size_t len, char *out);

void gov_mp_init(gov_mp_t *mp, const char *boundary, size_t len,
    const gov_mp_handlers_t *handlers, void *data);

/* GOV_MP_OK, GOV_MP_MALFORMED or GOV_MP_ABORTED; then stays so */
int gov_mp_feed(gov_mp_t *mp, const char *p, size_t len);

/* after the last buffer: GOV_MP_OK only when the close delimiter came */
int gov_mp_finish(gov_mp_t *mp);

/* why the body was refused, in English, for logs and answers */
const char *gov_mp_error(gov_mp_t *mp);


#endif /* _GOV_MULTIPART_H_INCLUDED_ */
