
/*
 * Copyright (C) ngx_gov_module authors
 *
 * What an uploaded file is, from its bytes only, fed as they arrive:
 * PDF, JPEG, PNG, or OFD (GB/T 33190: a ZIP whose root holds OFD.xml,
 * found in the central directory, never by inflating anything).  No
 * nginx header.
 */


#ifndef _GOV_SNIFF_H_INCLUDED_
#define _GOV_SNIFF_H_INCLUDED_


#include <stddef.h>
#include <stdint.h>


#define GOV_TYPE_UNKNOWN   0
#define GOV_TYPE_PDF       1
#define GOV_TYPE_JPEG      2
#define GOV_TYPE_PNG       3
#define GOV_TYPE_OFD       4
#define GOV_TYPE_N         5

/*
 * A ZIP's end: the end-of-central-directory record (22 bytes and a
 * comment of up to 65535) and the central directory it points to must
 * lie within the last GOV_SNIFF_TAIL bytes.
 */
#define GOV_SNIFF_TAIL     (256 * 1024)

#define GOV_SNIFF_HEAD     8


typedef struct {
    unsigned char    head[GOV_SNIFF_HEAD];
    unsigned char   *tail;          /* a ring, only for a ZIP (malloc) */
    size_t           tail_pos;      /* where the next byte goes */
    uint64_t         total;
    int              zip;
    int              failed;        /* no memory for the tail */
} gov_sniff_t;


void gov_sniff_init(gov_sniff_t *s);
void gov_sniff_feed(gov_sniff_t *s, const void *p, size_t len);

/* once everything was fed: GOV_TYPE_* */
int gov_sniff_result(gov_sniff_t *s);

void gov_sniff_free(gov_sniff_t *s);

/* "pdf", "jpeg", "png", "ofd"; NULL for GOV_TYPE_UNKNOWN */
const char *gov_type_name(int type);

/* the type of a name as gov_type_name() gives it, else GOV_TYPE_UNKNOWN */
int gov_type_from_name(const char *name, size_t len);

/* "application/pdf", "image/jpeg", "image/png", "application/ofd" */
const char *gov_type_mime(int type);

/* ".pdf" ... */
const char *gov_type_ext(int type);


/*
 * Departments' download links: SIG = hex HMAC-SHA256 with the link
 * secret over HEX "." EXPIRES.  gov_link_sign() writes 64 hex digits;
 * gov_link_check() is 0 when "sig" is right (compared in constant time)
 * and "expires" (decimal) is not before "now".
 */
void gov_link_sign(const unsigned char *secret, size_t secret_len,
    const char *hex, size_t hex_len, long long expires, char *out);

#define GOV_LINK_OK        0
#define GOV_LINK_BAD       -1
#define GOV_LINK_EXPIRED   -2

int gov_link_check(const unsigned char *secret, size_t secret_len,
    const char *hex, size_t hex_len, const char *expires, size_t exp_len,
    const char *sig, size_t sig_len, long long now);


#endif /* _GOV_SNIFF_H_INCLUDED_ */
