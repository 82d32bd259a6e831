
/*
 * Copyright (C) ngx_gov_module authors
 *
 * A Redis client on nginx's own event loop.
 */


#ifndef _NGX_GOV_REDIS_H_INCLUDED_
#define _NGX_GOV_REDIS_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_event.h>

#include <hiredis/hiredis.h>


typedef struct ngx_gov_redis_cmd_s  ngx_gov_redis_cmd_t;


/*
 * Called once per command, always from the event loop and never from inside
 * ngx_gov_redis_send().  "reply" is NULL when the command failed (timeout,
 * connection lost); it is freed after the handler returns.
 */
typedef void (*ngx_gov_redis_handler_pt)(redisReply *reply, void *data);


typedef struct {
    int                       argc;
    const char              **argv;
    const size_t             *argvlen;
} ngx_gov_redis_args_t;


typedef struct ngx_gov_redis_conf_s  ngx_gov_redis_conf_t;


struct ngx_gov_redis_conf_s {
    ngx_str_t                 name;         /* as configured, for logs */
    ngx_addr_t                addr;
    ngx_str_t                 password;
    ngx_uint_t                db;
    ngx_msec_t                timeout;
    ngx_msec_t                connect_timeout;
    ngx_uint_t                connections;
    ngx_msec_t                backoff_base;
    ngx_msec_t                backoff_max;
    ngx_uint_t                wait;         /* replicas an ack waits for */

    /* Sentinel: the master is asked of these, then confirmed with ROLE */
    ngx_array_t              *sentinels;    /* ngx_addr_t; NULL: none */
    ngx_str_t                 master;       /* the master's name */
    ngx_str_t                 sentinel_password;

    /* Redis Cluster: the map is learnt from these (ngx_addr_t) */
    ngx_array_t              *cluster;      /* NULL: not a cluster */
    ngx_uint_t                shards;       /* hash tags keys spread over */
};


char *ngx_gov_redis_parse(ngx_conf_t *cf, ngx_gov_redis_conf_t *rcf);

ngx_int_t ngx_gov_redis_init_process(ngx_cycle_t *cycle,
    ngx_gov_redis_conf_t *rcf);
void ngx_gov_redis_exit_process(ngx_cycle_t *cycle);

/*
 * Queues a command.  Returns NGX_OK, or NGX_DECLINED at once when Redis is
 * not reachable now (the caller answers 503 without waiting).  When "owner"
 * is not NULL, *owner points to the command while it is pending and is set
 * to NULL before the handler runs: ngx_gov_redis_cancel(owner) from a pool
 * cleanup then makes sure the handler is never called for freed data.
 */
ngx_int_t ngx_gov_redis_send(ngx_log_t *log, ngx_gov_redis_handler_pt handler,
    void *data, ngx_gov_redis_cmd_t **owner, int argc, const char **argv,
    const size_t *argvlen);

/*
 * Queues "n" commands back to back on one connection (MULTI ... EXEC, or
 * any pipeline whose last reply matters): only the last command's reply
 * reaches the handler, the others are discarded.
 */
/* MULTI and EXEC, to wrap commands queued together by send_n */
extern ngx_gov_redis_args_t  ngx_gov_redis_multi;
extern ngx_gov_redis_args_t  ngx_gov_redis_exec;

/* "a" as the command NAME KEY, with argv and argvlen of two slots */
void ngx_gov_redis_key_cmd(ngx_gov_redis_args_t *a, const char **argv,
    size_t *argvlen, const char *name, const char *key, size_t len);

ngx_int_t ngx_gov_redis_send_n(ngx_log_t *log,
    ngx_gov_redis_handler_pt handler, void *data, ngx_gov_redis_cmd_t **owner,
    ngx_uint_t n, ngx_gov_redis_args_t *cmds);
void ngx_gov_redis_cancel(ngx_gov_redis_cmd_t **owner);

/*
 * The same for a write a citizen or a department is told is done: with
 * gov_redis wait=N, "WAIT N" follows it on the same connection, and the
 * handler gets the write's reply only once N replicas hold it, else NULL
 * (as for a Redis failure: the caller answers 503).  Without wait=, it is
 * ngx_gov_redis_send_n().
 */
ngx_int_t ngx_gov_redis_send_acked(ngx_log_t *log,
    ngx_gov_redis_handler_pt handler, void *data, ngx_gov_redis_cmd_t **owner,
    ngx_uint_t n, ngx_gov_redis_args_t *cmds);
ngx_uint_t ngx_gov_redis_available(void);

/*
 * Redis's client-side caching: one more connection per worker, to the
 * same server (following the sentinels), subscribed to its invalidation
 * messages for every key that begins with "prefix" (CLIENT TRACKING ...
 * BCAST PREFIX, redirected to itself).  "handler" hears each changed key
 * (expired, deleted or written, by anyone), and NULL when any message may
 * have been missed: the connection lost, Redis flushed.  Not with a
 * cluster: NGX_DECLINED.
 */
typedef void (*ngx_gov_redis_watch_pt)(ngx_str_t *key);

ngx_int_t ngx_gov_redis_watch(ngx_cycle_t *cycle, ngx_str_t *prefix,
    ngx_gov_redis_watch_pt handler);

/* 1 while this worker hears every change (the subscription is live) */
ngx_uint_t ngx_gov_redis_watching(void);

/*
 * "text" (for the life of the process) is sent as EVALSHA on a connection
 * once that connection has sent it whole with EVAL.
 */
void ngx_gov_redis_script(const char *text, size_t len);

/*
 * The key layout (README, "Keys in Redis Cluster").  Keys that one script
 * touches share a shard; with one Redis (or Sentinel) there is one shard
 * and its tag is the prefix itself, in a cluster the tag is "{PREFIXn}",
 * a hash tag: every key of shard n lives in one slot.  An application's
 * shard is its sequence number modulo the shards, chosen at submission as
 * the shard of its subject, so that a citizen's applications, uploads,
 * list and idempotency keys are one shard.
 */
ngx_uint_t ngx_gov_redis_shards(void);
ngx_int_t ngx_gov_redis_tag(ngx_pool_t *pool, ngx_str_t *prefix,
    ngx_uint_t shard, ngx_str_t *tag);
ngx_int_t ngx_gov_redis_id_tag(ngx_pool_t *pool, ngx_str_t *prefix,
    ngx_str_t *id, ngx_str_t *tag);
ngx_uint_t ngx_gov_redis_name_shard(ngx_str_t *name);
ngx_uint_t ngx_gov_redis_id_shard(ngx_str_t *id);

/* the same without a pool: "buf" holds NGX_GOV_REDIS_TAG_MAX bytes */
#define NGX_GOV_REDIS_PREFIX_MAX  128
#define NGX_GOV_REDIS_TAG_MAX     (NGX_GOV_REDIS_PREFIX_MAX + 2 + NGX_INT_T_LEN)

void ngx_gov_redis_tag_buf(u_char *buf, ngx_str_t *prefix, ngx_uint_t shard,
    ngx_str_t *tag);
void ngx_gov_redis_id_tag_buf(u_char *buf, ngx_str_t *prefix, ngx_str_t *id,
    ngx_str_t *tag);
ngx_int_t ngx_gov_redis_name_tag(ngx_pool_t *pool, ngx_str_t *prefix,
    ngx_str_t *name, ngx_str_t *tag);

/* "PREFIXkindID" in the shard of the application "id" */
ngx_int_t ngx_gov_redis_id_key(ngx_pool_t *pool, ngx_str_t *prefix,
    const char *kind, ngx_str_t *id, ngx_str_t *key);

/* "key" as the format makes it (at most 1024 bytes), from "pool" */
ngx_int_t ngx_gov_redis_keyf(ngx_pool_t *pool, ngx_str_t *key,
    const char *fmt, ...);

/*
 * An EVAL's argv (argv[2] "0", no keys yet) with the "n" keys it touches
 * put in: Redis Cluster routes by them and, while their slot moves, makes
 * the script wait instead of running it half here, half there.
 */
ngx_int_t ngx_gov_redis_eval_keys(ngx_pool_t *pool, int *argc,
    const char ***argv, size_t **argvlen, ngx_uint_t n, ngx_str_t *keys);


#endif /* _NGX_GOV_REDIS_H_INCLUDED_ */
