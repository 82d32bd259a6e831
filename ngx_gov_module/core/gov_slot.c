
/*
 * Copyright (C) ngx_gov_module authors
 */


#include <string.h>
#include <strings.h>

#include "gov_slot.h"


static int gov_slot_is(const char *arg, size_t len, const char *name);
static int gov_slot_starts(const char *err, size_t len, const char *word);
static int gov_slot_contains(const char *err, size_t len, const char *what);


uint16_t
gov_slot_crc16(const char *buf, size_t len)
{
    int       b;
    size_t    i;
    uint16_t  crc;

    crc = 0;

    for (i = 0; i < len; i++) {
        crc ^= (uint16_t) ((unsigned char) buf[i] << 8);

        for (b = 0; b < 8; b++) {
            crc = (crc & 0x8000) ? (uint16_t) ((crc << 1) ^ 0x1021)
                                 : (uint16_t) (crc << 1);
        }
    }

    return crc;
}


unsigned
gov_slot_of(const char *key, size_t len)
{
    size_t  s, e;

    for (s = 0; s < len; s++) {
        if (key[s] == '{') {
            break;
        }
    }

    if (s < len) {
        for (e = s + 1; e < len; e++) {
            if (key[e] == '}') {
                break;
            }
        }

        if (e < len && e != s + 1) {
            key += s + 1;
            len = e - s - 1;
        }
    }

    return gov_slot_crc16(key, len) & (GOV_SLOTS - 1);
}


static int
gov_slot_is(const char *arg, size_t len, const char *name)
{
    return strlen(name) == len && strncasecmp(arg, name, len) == 0;
}


int
gov_slot_key_index(int argc, const char **argv, const size_t *argvlen)
{
    int          i, n;
    size_t       k;
    const char  *name;

    static const char  *keyless[] = {
        "MULTI", "EXEC", "DISCARD", "WAIT", "PING", "INFO", "SCRIPT",
        "CLUSTER", "ASKING", "AUTH", "SELECT", "ROLE", "TIME", "DBSIZE",
        "READONLY", "READWRITE", "HELLO", "CLIENT", "CONFIG", "FLUSHALL",
        "ECHO", NULL
    };

    if (argc < 1) {
        return -1;
    }

    name = argv[0];

    for (k = 0; keyless[k]; k++) {
        if (gov_slot_is(name, argvlen[0], keyless[k])) {
            return -1;
        }
    }

    if (gov_slot_is(name, argvlen[0], "EVAL")
        || gov_slot_is(name, argvlen[0], "EVALSHA")
        || gov_slot_is(name, argvlen[0], "EVAL_RO")
        || gov_slot_is(name, argvlen[0], "EVALSHA_RO"))
    {
        if (argc < 4 || argvlen[2] == 0 || argv[2][0] == '0') {
            return -1;
        }

        return 3;
    }

    if (gov_slot_is(name, argvlen[0], "XREAD")
        || gov_slot_is(name, argvlen[0], "XREADGROUP"))
    {
        for (i = 1; i + 1 < argc; i++) {
            if (gov_slot_is(argv[i], argvlen[i], "STREAMS")) {
                return i + 1;
            }
        }

        return -1;
    }

    if (gov_slot_is(name, argvlen[0], "XGROUP")
        || gov_slot_is(name, argvlen[0], "XINFO")
        || gov_slot_is(name, argvlen[0], "OBJECT")
        || gov_slot_is(name, argvlen[0], "MEMORY"))
    {
        n = 2;

    } else {
        n = 1;
    }

    return argc > n ? n : -1;
}


static int
gov_slot_starts(const char *err, size_t len, const char *word)
{
    size_t  n;

    n = strlen(word);

    return len >= n && strncmp(err, word, n) == 0
           && (len == n || err[n] == ' ');
}


static int
gov_slot_contains(const char *err, size_t len, const char *what)
{
    size_t  i, n;

    n = strlen(what);

    for (i = 0; i + n <= len; i++) {
        if (memcmp(err + i, what, n) == 0) {
            return 1;
        }
    }

    return 0;
}


int
gov_slot_redirect(const char *err, size_t len, unsigned *slot,
    const char **addr, size_t *addr_len)
{
    int          kind;
    size_t       i;
    unsigned     s;
    const char  *p, *last;

    if (gov_slot_starts(err, len, "TRYAGAIN")) {
        return GOV_SLOT_TRYAGAIN;
    }

    if (gov_slot_starts(err, len, "CLUSTERDOWN")) {
        return GOV_SLOT_CLUSTERDOWN;
    }

    if (gov_slot_starts(err, len, "MOVED")) {
        kind = GOV_SLOT_MOVED;
        i = 6;

    } else if (gov_slot_starts(err, len, "ASK")) {
        kind = GOV_SLOT_ASK;
        i = 4;

    } else {
        /*
         * A script that met, inside, a key whose slot is moving (Redis
         * checks only the declared keys before running it) failed before
         * changing anything the scripts cannot do again: it is sent again
         * once the slot has moved.
         */

        if (gov_slot_contains(err, len, "non local key")) {
            return GOV_SLOT_TRYAGAIN;
        }

        if (gov_slot_contains(err, len, "while the cluster is down")) {
            return GOV_SLOT_CLUSTERDOWN;
        }

        return GOV_SLOT_NONE;
    }

    /* MOVED 3999 127.0.0.1:6381 */

    p = err + i;
    last = err + len;
    s = 0;

    if (p >= last || *p < '0' || *p > '9') {
        return GOV_SLOT_NONE;
    }

    while (p < last && *p >= '0' && *p <= '9') {
        s = s * 10 + (unsigned) (*p - '0');

        if (s >= GOV_SLOTS) {
            return GOV_SLOT_NONE;
        }

        p++;
    }

    if (p == last || *p != ' ' || p + 1 == last) {
        return GOV_SLOT_NONE;
    }

    p++;

    for (i = 0; p + i < last; i++) {
        if (p[i] == ' ' || p[i] == '\r' || p[i] == '\n') {
            return GOV_SLOT_NONE;
        }
    }

    *slot = s;
    *addr = p;
    *addr_len = (size_t) (last - p);

    return kind;
}


int
gov_slot_id_shard(const char *id, size_t len, unsigned shards)
{
    size_t    i;
    unsigned  n;

    if (len < 6 || shards == 0) {
        return -1;
    }

    n = 0;

    for (i = len - 6; i < len; i++) {
        if (id[i] < '0' || id[i] > '9') {
            return -1;
        }

        n = n * 10 + (unsigned) (id[i] - '0');
    }

    return (int) (n % shards);
}


unsigned
gov_slot_name_shard(const char *s, size_t len, unsigned shards)
{
    uint32_t  h;
    size_t    i;

    if (shards <= 1) {
        return 0;
    }

    /* FNV-1a: a different hash from the slots', so shards spread evenly */

    h = 2166136261u;

    for (i = 0; i < len; i++) {
        h ^= (unsigned char) s[i];
        h *= 16777619u;
    }

    return h % shards;
}
