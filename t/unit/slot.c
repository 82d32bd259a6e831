
/*
 * Copyright (C) ngx_gov_module authors
 *
 * Unit tests of the Redis Cluster arithmetic (gov_slot.c).
 */


#include <stdio.h>
#include <string.h>

#include "tap.h"
#include "gov_slot.h"


#define S(s)  s, sizeof(s) - 1


static int
key_index(int argc, const char **argv)
{
    int     i;
    size_t  lens[16];

    for (i = 0; i < argc; i++) {
        lens[i] = strlen(argv[i]);
    }

    return gov_slot_key_index(argc, argv, lens);
}


int
main(void)
{
    size_t       alen;
    unsigned     slot;
    const char  *addr;

    const char  *get[] = { "GET", "k" };
    const char  *eval[] = { "EVAL", "return 1", "2", "a", "b", "x" };
    const char  *eval0[] = { "EVAL", "return 1", "0", "x" };
    const char  *xrg[] = { "XREADGROUP", "GROUP", "g", "c", "COUNT", "5",
                           "STREAMS", "s", ">" };
    const char  *xgroup[] = { "XGROUP", "CREATE", "s", "g", "$" };
    const char  *multi[] = { "multi" };
    const char  *wait[] = { "WAIT", "1", "100" };
    const char  *ping[] = { "PING" };

    /* the values Redis's own documentation gives */
    is_int(gov_slot_crc16(S("123456789")), 0x31c3, "CRC16 check value");
    is_int(gov_slot_of(S("somekey")), 11058, "CLUSTER KEYSLOT somekey");
    is_int(gov_slot_of(S("foo{hash_tag}")), 2515,
           "CLUSTER KEYSLOT foo{hash_tag}");
    is_int(gov_slot_of(S("foo")), 12182, "CLUSTER KEYSLOT foo");

    /* hash tags, by the rules of the cluster specification */
    is_int(gov_slot_of(S("{user1000}.following")),
           gov_slot_of(S("user1000")), "a tag hashes alone");
    is_int(gov_slot_of(S("{user1000}.followers")),
           gov_slot_of(S("{user1000}.following")), "same tag, same slot");
    is_int(gov_slot_of(S("foo{}{bar}")),
           gov_slot_crc16(S("foo{}{bar}")) & 16383,
           "an empty first tag: the whole key");
    is_int(gov_slot_of(S("foo{{bar}}zap")), gov_slot_of(S("{bar")),
           "the tag ends at the first }");
    is_int(gov_slot_of(S("foo{bar}{zap}")), gov_slot_of(S("bar")),
           "only the first tag counts");
    is_int(gov_slot_of(S("foo{bar")), gov_slot_crc16(S("foo{bar")) & 16383,
           "an unclosed { is no tag");
    is_int(gov_slot_of(S("")), 0, "the empty key is slot 0");

    /* which argument is the key */
    is_int(key_index(2, get), 1, "GET: the first argument");
    is_int(key_index(6, eval), 3, "EVAL with keys: the first key");
    is_int(key_index(4, eval0), -1, "EVAL without keys: none");
    is_int(key_index(9, xrg), 7, "XREADGROUP: the first stream");
    is_int(key_index(5, xgroup), 2, "XGROUP CREATE: the stream");
    is_int(key_index(1, multi), -1, "MULTI, any case: none");
    is_int(key_index(3, wait), -1, "WAIT: none");
    is_int(key_index(1, ping), -1, "PING: none");
    is_int(key_index(0, ping), -1, "no argument: none");

    /* redirections */
    is_int(gov_slot_redirect(S("MOVED 3999 127.0.0.1:6381"), &slot, &addr,
                             &alen), GOV_SLOT_MOVED, "MOVED");
    is_int(slot, 3999, "MOVED: the slot");
    ok(alen == 14 && strncmp(addr, "127.0.0.1:6381", alen) == 0,
       "MOVED: the address");
    is_int(gov_slot_redirect(S("ASK 16383 [::1]:7000"), &slot, &addr,
                             &alen), GOV_SLOT_ASK, "ASK");
    ok(slot == 16383 && alen == 10, "ASK: slot and address");
    is_int(gov_slot_redirect(S("MOVED 16384 h:1"), &slot, &addr, &alen),
           GOV_SLOT_NONE, "a slot out of range is no redirection");
    is_int(gov_slot_redirect(S("MOVED 12"), &slot, &addr, &alen),
           GOV_SLOT_NONE, "MOVED without an address is not followed");
    is_int(gov_slot_redirect(S("MOVED x h:1"), &slot, &addr, &alen),
           GOV_SLOT_NONE, "MOVED without a slot is not followed");
    is_int(gov_slot_redirect(S("MOVEDX 1 h:1"), &slot, &addr, &alen),
           GOV_SLOT_NONE, "another word is not MOVED");
    is_int(gov_slot_redirect(S("TRYAGAIN Multiple keys request during "
                               "rehashing of slot"), &slot, &addr, &alen),
           GOV_SLOT_TRYAGAIN, "TRYAGAIN");
    is_int(gov_slot_redirect(S("CLUSTERDOWN The cluster is down"), &slot,
                             &addr, &alen),
           GOV_SLOT_CLUSTERDOWN, "CLUSTERDOWN");
    is_int(gov_slot_redirect(S("ERR Error running script (call to f_1): "
                               "@user_script:9: Script attempted to access "
                               "a non local key in a cluster node"),
                             &slot, &addr, &alen),
           GOV_SLOT_TRYAGAIN, "a script meeting a moving key: TRYAGAIN");
    is_int(gov_slot_redirect(S("ERR Error running script: Script attempted "
                               "to execute a command while the cluster is "
                               "down"), &slot, &addr, &alen),
           GOV_SLOT_CLUSTERDOWN, "a script in a cluster down: CLUSTERDOWN");
    is_int(gov_slot_redirect(S("ERR Script attempted to access keys that do "
                               "not hash to the same slot"), &slot, &addr,
                             &alen),
           GOV_SLOT_NONE, "keys of two slots: a bug, not retried");
    is_int(gov_slot_redirect(S("ERR wrong number of arguments"), &slot,
                             &addr, &alen),
           GOV_SLOT_NONE, "an ordinary error");

    /* shards */
    is_int(gov_slot_id_shard(S("NB20261125000042"), 16), 42 % 16,
           "an id's shard: its number modulo the shards");
    is_int(gov_slot_id_shard(S("NB20261125000042"), 1), 0, "one shard");
    is_int(gov_slot_id_shard(S("NB2026112500004x"), 16), -1,
           "an id not ending in 6 digits has no shard");
    is_int(gov_slot_id_shard(S("42"), 16), -1, "a short id has no shard");
    ok(gov_slot_name_shard(S("110101199001011234"), 64) < 64,
       "a subject's shard is in range");
    is_int(gov_slot_name_shard(S("110101199001011234"), 1), 0,
           "one shard: 0");
    is_int(gov_slot_name_shard(S("citizen-a"), 64),
           gov_slot_name_shard(S("citizen-a"), 64), "the same every time");

    {
        unsigned  i, n, seen[16];
        char      name[32];

        memset(seen, 0, sizeof(seen));

        for (i = 0; i < 1600; i++) {
            n = (unsigned) snprintf(name, sizeof(name), "citizen-%u", i);
            seen[gov_slot_name_shard(name, n, 16)]++;
        }

        for (i = 0, n = 0; i < 16; i++) {
            if (seen[i] < 60 || seen[i] > 140) {
                n++;
            }
        }

        is_int(n, 0, "1600 subjects spread over 16 shards within 40%%");
    }

    return done_testing();
}
