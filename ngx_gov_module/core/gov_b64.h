
/*
 * Copyright (C) ngx_gov_module authors
 *
 * Strict base64url (RFC 4648 section 5, no padding), as JWS uses it.
 */


#ifndef _GOV_B64_H_INCLUDED_
#define _GOV_B64_H_INCLUDED_


#include <stddef.h>


#define gov_b64url_decoded_max(n)  (((n) + 3) / 4 * 3)
#define gov_b64url_encoded_len(n)  (((n) * 4 + 2) / 3)


/*
 * Decodes "len" characters of base64url into "dst" (at least
 * gov_b64url_decoded_max(len) bytes).  Returns the decoded length, or -1 on
 * a character outside the alphabet, padding, a length that is 1 mod 4, or
 * non-zero trailing bits (a non-canonical encoding).
 */
long gov_b64url_decode(unsigned char *dst, const char *src, size_t len);

/* Encodes without padding; returns the length written (no NUL). */
size_t gov_b64url_encode(char *dst, const unsigned char *src, size_t len);

/* 1 when every character is in the base64url alphabet */
int gov_b64url_valid(const char *src, size_t len);


#endif /* _GOV_B64_H_INCLUDED_ */
