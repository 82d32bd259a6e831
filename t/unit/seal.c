
/*
 * Copyright (C) ngx_gov_module authors
 *
 * Unit tests of values sealed at rest (gov_seal.c): the published test
 * vectors of SM4 (GB/T 32907-2016, appendix A) and SM3 (GB/T 32905-2016,
 * appendix A), then both suites: bound to their place, any change caught,
 * keys rotated.
 */


#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tap.h"
#include "gov_seal.h"


#define S(s)  s, sizeof(s) - 1


static void
hex(const unsigned char *p, size_t n, char *out)
{
    size_t  i;

    for (i = 0; i < n; i++) {
        sprintf(out + 2 * i, "%02x", p[i]);
    }
}


static void
suite(int alg, const char *name)
{
    int             rc;
    char            err[128], *a, *b;
    size_t          n, m, used;
    gov_seal_key_t  keys[2];
    unsigned char   out[256];

    static const char  plain[] = "王小宝 110101199001011234";
    static const char  ad[] = "NB20261207000001\0name";

    ok(gov_seal_key(&keys[0], alg, S("00112233445566778899aabbccddeeff"
                                     "00112233445566778899AABBCCDDEEFF\n"),
                    err, sizeof(err)) == 0, "%s: a key", name);
    ok(gov_seal_key(&keys[1], alg, S("ffeeddccbbaa99887766554433221100"
                                     "ffeeddccbbaa99887766554433221100"),
                    err, sizeof(err)) == 0, "%s: another", name);
    ok(strlen(keys[0].id) == GOV_SEAL_ID_LEN
       && strcmp(keys[0].id, keys[1].id) != 0, "%s: ids %s, %s", name,
       keys[0].id, keys[1].id);

    a = malloc(gov_seal_len(sizeof(plain)));
    b = malloc(gov_seal_len(sizeof(plain)));

    n = gov_seal(&keys[0], (unsigned char *) ad, sizeof(ad) - 1,
                 (unsigned char *) plain, sizeof(plain) - 1, a);
    ok(n > 0 && n <= gov_seal_len(sizeof(plain) - 1), "%s: sealed, %zu "
       "characters for %zu bytes", name, n, sizeof(plain) - 1);
    ok(gov_sealed(a, n) && memcmp(a, alg == GOV_SEAL_AES ? "~g1.a." : "~g1.s.",
                                  6) == 0, "%s: its header %.15s", name, a);
    ok(memmem(a, n, "110101", 6) == NULL, "%s: no plain text in it", name);

    m = gov_seal(&keys[0], (unsigned char *) ad, sizeof(ad) - 1,
                 (unsigned char *) plain, sizeof(plain) - 1, b);
    ok(m == n && memcmp(a, b, n) != 0, "%s: sealed twice, two texts", name);

    rc = gov_open(keys, 2, (unsigned char *) ad, sizeof(ad) - 1, a, n, out,
                  &m, &used);
    ok(rc == GOV_SEAL_OK && m == sizeof(plain) - 1
       && memcmp(out, plain, m) == 0 && used == 0, "%s: opened", name);

    /* rotation: the second key seals, the first still opens */
    rc = gov_open(keys + 1, 1, (unsigned char *) ad, sizeof(ad) - 1, a, n,
                  out, &m, &used);
    is_int(rc, GOV_SEAL_UNKNOWN_KEY, "%s: without its key: unknown key",
           name);
    {
        gov_seal_key_t  rotated[2] = { keys[1], keys[0] };

        rc = gov_open(rotated, 2, (unsigned char *) ad, sizeof(ad) - 1, a, n,
                      out, &m, &used);
        ok(rc == GOV_SEAL_OK && used == 1, "%s: rotated: the old key opens",
           name);
    }

    /* bound to its place: another application or field */
    rc = gov_open(keys, 2, (unsigned char *) S("NB20261207000002\0name"), a,
                  n, out, &m, &used);
    is_int(rc, GOV_SEAL_DAMAGED, "%s: in another application: damaged",
           name);
    rc = gov_open(keys, 2, (unsigned char *) S("NB20261207000001\0phone"), a,
                  n, out, &m, &used);
    is_int(rc, GOV_SEAL_DAMAGED, "%s: in another field: damaged", name);

    /* any change */
    memcpy(b, a, n);
    b[n - 5] = b[n - 5] == 'A' ? 'B' : 'A';
    rc = gov_open(keys, 2, (unsigned char *) ad, sizeof(ad) - 1, b, n, out,
                  &m, &used);
    is_int(rc, GOV_SEAL_DAMAGED, "%s: a character changed: damaged", name);
    memcpy(b, a, n);
    b[GOV_SEAL_HEAD_LEN + 20] = b[GOV_SEAL_HEAD_LEN + 20] == 'A' ? 'B' : 'A';
    rc = gov_open(keys, 2, (unsigned char *) ad, sizeof(ad) - 1, b, n, out,
                  &m, &used);
    is_int(rc, GOV_SEAL_DAMAGED, "%s: the ciphertext changed: damaged", name);
    rc = gov_open(keys, 2, (unsigned char *) ad, sizeof(ad) - 1, a, n - 4,
                  out, &m, &used);
    is_int(rc, GOV_SEAL_DAMAGED, "%s: cut short: damaged", name);
    rc = gov_open(keys, 2, (unsigned char *) ad, sizeof(ad) - 1, a,
                  GOV_SEAL_HEAD_LEN + 3, out, &m, &used);
    is_int(rc, GOV_SEAL_DAMAGED, "%s: a header alone: damaged", name);

    /* the empty value */
    n = gov_seal(&keys[0], (unsigned char *) ad, sizeof(ad) - 1,
                 (unsigned char *) "", 0, a);
    rc = gov_open(keys, 2, (unsigned char *) ad, sizeof(ad) - 1, a, n, out,
                  &m, &used);
    ok(n > 0 && rc == GOV_SEAL_OK && m == 0, "%s: the empty value", name);

    free(a);
    free(b);
}


int
main(void)
{
    int             rc;
    char            err[128], text[80];
    size_t          m, used;
    gov_seal_key_t  key;
    unsigned char   out[64], md[32], in[64];

    static const unsigned char  sm4_key[16] = {
        0x01, 0x23, 0x45, 0x67, 0x89, 0xab, 0xcd, 0xef,
        0xfe, 0xdc, 0xba, 0x98, 0x76, 0x54, 0x32, 0x10
    };

    /* GB/T 32907-2016 A.1: the key as the plain text */
    ok(gov_seal_sm4_block(sm4_key, sm4_key, out) == 0, "SM4: a block");
    hex(out, 16, text);
    ok(strcmp(text, "681edf34d206965e86b3e94f536e4246") == 0,
       "SM4 (GB/T 32907 A.1): %s", text);

    /* GB/T 32905-2016 A.1, A.2 */
    ok(gov_seal_sm3((unsigned char *) S("abc"), md) == 0, "SM3: a digest");
    hex(md, 32, text);
    ok(strcmp(text, "66c7f0f462eeedd9d1f2d46bdc10e4e2"
                    "4167c4875cf2f7a2297da02b8f4ba8e0") == 0,
       "SM3 (GB/T 32905 A.1) of \"abc\": %s", text);
    for (m = 0; m < 64; m++) {
        in[m] = "abcd"[m % 4];
    }
    gov_seal_sm3(in, 64, md);
    hex(md, 32, text);
    ok(strcmp(text, "debe9ff92275b8a138604889c18e5a4d"
                    "6fdb70e5387e5765293dcba39c0c5732") == 0,
       "SM3 (GB/T 32905 A.2) of 64 bytes: %s", text);

    is_int(gov_seal_alg(S("aes-256-gcm")), GOV_SEAL_AES, "aes-256-gcm");
    is_int(gov_seal_alg(S("sm4-sm3")), GOV_SEAL_SM4, "sm4-sm3");
    is_int(gov_seal_alg(S("sm4")), 0, "an unknown suite");

    rc = gov_seal_key(&key, GOV_SEAL_AES, S("0011"), err, sizeof(err));
    ok(rc == -1 && strstr(err, "not 64 hex digits"), "a short key: %s", err);
    rc = gov_seal_key(&key, GOV_SEAL_AES,
                      S("00112233445566778899aabbccddeeff"
                        "00112233445566778899aabbccddeefg"), err,
                      sizeof(err));
    ok(rc == -1 && strstr(err, "character 64"), "not hex: %s", err);

    suite(GOV_SEAL_AES, "aes-256-gcm");
    suite(GOV_SEAL_SM4, "sm4-sm3");

    rc = gov_open(&key, 0, NULL, 0, S("王小宝"), out, &m, &used);
    is_int(rc, GOV_SEAL_PLAIN, "plain text is told apart");
    ok(!gov_sealed(S("~g1.x.00000000.AAAA")), "an unknown suite's header");
    ok(gov_sealed_id(S("~g1.a.0a1b2c3d.AAAA")) != NULL
       && memcmp(gov_sealed_id(S("~g1.a.0a1b2c3d.AAAA")), "0a1b2c3d", 8) == 0,
       "the key id of sealed text");

    printf("1..%d\n", tap_n);

    return tap_failed ? 1 : 0;
}
