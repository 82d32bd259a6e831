
/*
 * Copyright (C) ngx_gov_module authors
 */


#include "gov_b64.h"


static const char  gov_b64url_alphabet[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";


/* 64 marks a character outside the alphabet */

static const unsigned char  gov_b64url_table[256] = {
    64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64,
    64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64,
    64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 62, 64, 64,
    52, 53, 54, 55, 56, 57, 58, 59, 60, 61, 64, 64, 64, 64, 64, 64,
    64,  0,  1,  2,  3,  4,  5,  6,  7,  8,  9, 10, 11, 12, 13, 14,
    15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 64, 64, 64, 64, 63,
    64, 26, 27, 28, 29, 30, 31, 32, 33, 34, 35, 36, 37, 38, 39, 40,
    41, 42, 43, 44, 45, 46, 47, 48, 49, 50, 51, 64, 64, 64, 64, 64,
    64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64,
    64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64,
    64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64,
    64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64,
    64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64,
    64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64,
    64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64,
    64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64
};


int
gov_b64url_valid(const char *src, size_t len)
{
    size_t  i;

    for (i = 0; i < len; i++) {
        if (gov_b64url_table[(unsigned char) src[i]] == 64) {
            return 0;
        }
    }

    return 1;
}


long
gov_b64url_decode(unsigned char *dst, const char *src, size_t len)
{
    size_t          i;
    unsigned long   acc;
    unsigned char  *d, c;
    unsigned int    bits;

    if (len % 4 == 1) {
        return -1;
    }

    d = dst;
    acc = 0;
    bits = 0;

    for (i = 0; i < len; i++) {
        c = gov_b64url_table[(unsigned char) src[i]];

        if (c == 64) {
            return -1;
        }

        acc = (acc << 6) | c;
        bits += 6;

        if (bits >= 8) {
            bits -= 8;
            *d++ = (unsigned char) (acc >> bits);
            acc &= (1UL << bits) - 1;
        }
    }

    /* the unused low bits of the last character must be zero */

    if (acc != 0) {
        return -1;
    }

    return (long) (d - dst);
}


size_t
gov_b64url_encode(char *dst, const unsigned char *src, size_t len)
{
    char          *d;
    size_t         i;
    unsigned long  v;

    d = dst;

    for (i = 0; i + 2 < len; i += 3) {
        v = ((unsigned long) src[i] << 16) | ((unsigned long) src[i + 1] << 8)
            | src[i + 2];
        *d++ = gov_b64url_alphabet[(v >> 18) & 63];
        *d++ = gov_b64url_alphabet[(v >> 12) & 63];
        *d++ = gov_b64url_alphabet[(v >> 6) & 63];
        *d++ = gov_b64url_alphabet[v & 63];
    }

    if (len - i == 1) {
        v = (unsigned long) src[i] << 16;
        *d++ = gov_b64url_alphabet[(v >> 18) & 63];
        *d++ = gov_b64url_alphabet[(v >> 12) & 63];

    } else if (len - i == 2) {
        v = ((unsigned long) src[i] << 16) | ((unsigned long) src[i + 1] << 8);
        *d++ = gov_b64url_alphabet[(v >> 18) & 63];
        *d++ = gov_b64url_alphabet[(v >> 12) & 63];
        *d++ = gov_b64url_alphabet[(v >> 6) & 63];
    }

    return (size_t) (d - dst);
}
