
/*
 * Copyright (C) ngx_gov_module authors
 *
 * Redis Cluster's arithmetic: the slot of a key (CRC16 of the key or of
 * its hash tag, modulo 16384), which argument of a command is its key, and
 * what a redirecting error says.  No nginx header: unit-tested alone.
 */


#ifndef _GOV_SLOT_H_INCLUDED_
#define _GOV_SLOT_H_INCLUDED_


#include <stddef.h>
#include <stdint.h>


#define GOV_SLOTS              16384

/* what an error reply asks of a cluster client */
#define GOV_SLOT_NONE          0    /* an ordinary error: the caller's */
#define GOV_SLOT_MOVED         1    /* the slot lives elsewhere now */
#define GOV_SLOT_ASK           2    /* this once, ask there (ASKING) */
#define GOV_SLOT_TRYAGAIN      3    /* the slot is moving: wait, resend */
#define GOV_SLOT_CLUSTERDOWN   4    /* the cluster cannot serve: wait */


/* CRC16-CCITT (XMODEM), as Redis Cluster hashes keys */
uint16_t gov_slot_crc16(const char *buf, size_t len);

/*
 * The slot of "key": when the key holds "{" followed later by "}" with at
 * least one byte between them, only those bytes are hashed (the hash tag).
 */
unsigned gov_slot_of(const char *key, size_t len);

/*
 * The index in argv of the command's key, or -1 for a command without a
 * key (MULTI, EXEC, WAIT, PING, SCRIPT, CLUSTER, ...; EVAL with no keys).
 */
int gov_slot_key_index(int argc, const char **argv, const size_t *argvlen);

/*
 * Reads an error reply: one of GOV_SLOT_*.  For MOVED and ASK, *slot and
 * the target's "HOST:PORT" (addr, addr_len, within "err") are set.  A
 * script's error for a key not local (its slot moving) reads as TRYAGAIN,
 * for a cluster down as CLUSTERDOWN.
 */
int gov_slot_redirect(const char *err, size_t len, unsigned *slot,
    const char **addr, size_t *addr_len);

/*
 * The shard (0 .. shards - 1) an application id belongs to: its sequence
 * number (the last 6 digits) modulo "shards"; -1 when the id does not end
 * in 6 digits.
 */
int gov_slot_id_shard(const char *id, size_t len, unsigned shards);

/* The shard of whatever else is named by a string: a subject */
unsigned gov_slot_name_shard(const char *s, size_t len, unsigned shards);


#endif /* _GOV_SLOT_H_INCLUDED_ */
