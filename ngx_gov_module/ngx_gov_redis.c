
/*
 * Copyright (C) ngx_gov_module authors
 */


/*
 * Why nginx's own connection and not hiredis's async API: redisAsyncConnect()
 * resolves names by blocking, hiredis 0.14 has no command timeouts, frees a
 * context by calling every pending callback synchronously (re-entering
 * request code at arbitrary points), and owns a file descriptor that the
 * event adapter also tracks, which is how adapters end up closing a reused
 * descriptor twice.  Here nginx owns the socket (ngx_connection_t, the event
 * module, its timers) and hiredis does what it is good at: formatting
 * commands (redisFormatCommandArgv) and parsing replies (redisReader).
 *
 * Each worker keeps "connections" persistent connections.  Commands are
 * appended to a connection's output buffer and a posted event writes the
 * buffer once per event loop pass, so every command issued in one pass goes
 * out in one write (pipelining).  Replies come back in order and complete
 * the oldest pending command.  One timer per connection watches the oldest
 * command's deadline: when it passes, the connection is dropped and every
 * pending command fails at once.  Reconnects back off exponentially with
 * jitter; while a connection is down after a failure, commands are refused
 * at once so that callers answer 503 instead of waiting.  A command that
 * finds every connection waiting to reconnect wakes one (at most once per
 * backoff base): Redis may be back already.  When the last attempt was
 * refused (a restart) rather than timed out (a silent host), the commands
 * wait on any attempt in progress, woken or at the end of its backoff,
 * bounded by connect_timeout.
 *
 * A new connection's handshake ends with a PING, and the commands queued
 * behind the handshake are held back until it is answered: a Redis still
 * loading its data (-LOADING) is asked again every 100 ms, the held
 * commands bounded by their own timeout, instead of failing them all.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_event.h>

#include <openssl/evp.h>

#include "ngx_gov_redis.h"
#include "ngx_gov_metrics.h"
#include "gov_backoff.h"
#include "gov_slot.h"


#define NGX_GOV_REDIS_DOWN        0
#define NGX_GOV_REDIS_CONNECTING  1
#define NGX_GOV_REDIS_HANDSHAKE   2
#define NGX_GOV_REDIS_READY       3

#define NGX_GOV_REDIS_FREE_MAX    1024
#define NGX_GOV_REDIS_BUF_MIN     4096
#define NGX_GOV_REDIS_LOADING_WAIT  100


typedef struct ngx_gov_redis_unit_s  ngx_gov_redis_unit_t;
typedef struct ngx_gov_redis_node_s  ngx_gov_redis_node_t;


struct ngx_gov_redis_cmd_s {
    ngx_queue_t               queue;
    ngx_gov_redis_handler_pt  handler;
    void                     *data;
    ngx_gov_redis_cmd_t     **owner;
    ngx_msec_t                deadline;
    char                     *eval;         /* an EVALSHA's own bytes */
    size_t                    eval_len;
    ngx_uint_t                script;       /* and its script */

    /* Redis Cluster: the commands sent together, to send again */
    ngx_gov_redis_unit_t     *unit;
    ngx_uint_t                member;       /* its place; the last leads */

    ngx_uint_t                own;          /* the handshake's: not counted */
};


/*
 * Redis Cluster.  Commands queued together (one, or MULTI ... EXEC, or a
 * write and its WAIT) are a unit: they go to the master of their slot and,
 * when a reply says -MOVED, -ASK, -TRYAGAIN or -CLUSTERDOWN, go again as a
 * whole, the handlers seeing only the final replies.  The unit keeps every
 * command as formatted (an EVAL whole, so any node can run it) and hangs
 * from its leader, the last command, whose object lives until the unit is
 * done: a caller's "owner" pointer stays valid across every resend.
 */

typedef struct {
    char                     *bytes;
    size_t                    len;
    ngx_gov_redis_handler_pt  handler;      /* a member's own (WAIT's) */
    void                     *data;
} ngx_gov_redis_part_t;


struct ngx_gov_redis_unit_s {
    ngx_uint_t                n;
    ngx_int_t                 slot;         /* -1: no key */
    ngx_uint_t                multi;        /* begins with MULTI */
    ngx_uint_t                hops;         /* redirections followed */
    ngx_msec_t                until;        /* waits end here */
    ngx_uint_t                redirect;     /* GOV_SLOT_*, from a reply */
    unsigned                  rslot;
    size_t                    raddr_len;
    u_char                    raddr[NGX_SOCKADDR_STRLEN];
    ngx_gov_redis_part_t      part[1];
};


#define NGX_GOV_REDIS_NODES  64
#define NGX_GOV_REDIS_HOPS   8


typedef struct {
    ngx_gov_redis_conf_t     *conf;
    ngx_uint_t                state;
    ngx_uint_t                generation;
    ngx_connection_t         *connection;
    redisReader              *reader;

    ngx_queue_t               pending;
    ngx_uint_t                npending;
    ngx_uint_t                handshake;
    size_t                    hs_left;      /* handshake bytes not sent */
    ngx_uint_t                nown;         /* its own commands pending */
    ngx_uint_t                owning;       /* queueing its own commands */

    u_char                   *out;
    size_t                    out_len;
    size_t                    out_sent;
    size_t                    out_size;

    ngx_msec_t                connect_deadline;
    ngx_msec_t                attempted;    /* the last connect() began */
    ngx_uint_t                failures;

    ngx_event_t               flush_ev;
    ngx_event_t               timer_ev;
    ngx_event_t               reconnect_ev;
    ngx_event_t               gate_ev;      /* PING again: still loading */

    uint32_t                  scripts;      /* sent on it: EVALSHA them */

    /* Sentinel: whom it talks to, the master as last found */
    ngx_addr_t               *target;
    ngx_uint_t                asking;       /* a sentinel, not Redis */
    ngx_uint_t                sentinel;     /* the next one to ask */
    ngx_uint_t                master_known;
    ngx_addr_t                master;
    ngx_sockaddr_t            master_sockaddr;
    u_char                    master_text[NGX_SOCKADDR_STRLEN];

    ngx_gov_redis_node_t     *node;         /* cluster: its master */

    /* the invalidation messages' connection (ngx_gov_redis_watch()) */
    unsigned                  watch:1;
    unsigned                  subscribed:1;

    unsigned                  timing_out:1; /* this failure: a timeout */
    unsigned                  timed_out:1;  /* the last failure: a timeout */
    unsigned                  loading:1;    /* Redis said -LOADING */
    unsigned                  gated:1;      /* commands wait for the PING */

    ngx_log_t                 log;
} ngx_gov_redis_conn_t;


/* a cluster master, as the map or a redirection named it */

struct ngx_gov_redis_node_s {
    ngx_addr_t                addr;
    ngx_sockaddr_t            sockaddr;
    u_char                    text[NGX_SOCKADDR_STRLEN];
    ngx_gov_redis_conn_t     *conns;
    ngx_uint_t                next;
    ngx_uint_t                in_map;       /* serves slots now */
};


/* scripts sent by their SHA1 once a connection has sent them whole */

#define NGX_GOV_REDIS_SCRIPTS  32
#define NGX_GOV_REDIS_ARGS     32

typedef struct {
    const char               *text;
    size_t                    len;
    char                      sha[40];
} ngx_gov_redis_script_t;


static ngx_gov_redis_script_t  ngx_gov_redis_scripts[NGX_GOV_REDIS_SCRIPTS];
static ngx_uint_t              ngx_gov_redis_nscripts;


static ngx_int_t ngx_gov_redis_read_password(ngx_conf_t *cf, ngx_str_t *path,
    ngx_str_t *password);
static void ngx_gov_redis_connect(ngx_gov_redis_conn_t *conn);
static ngx_int_t ngx_gov_redis_test_connect(ngx_gov_redis_conn_t *conn);
static void ngx_gov_redis_connected(ngx_gov_redis_conn_t *conn);
static void ngx_gov_redis_ready(ngx_gov_redis_conn_t *conn);
static ngx_int_t ngx_gov_redis_handshake(ngx_gov_redis_conn_t *conn);
static ngx_int_t ngx_gov_redis_handshake_cmds(ngx_gov_redis_conn_t *conn);
static ngx_int_t ngx_gov_redis_handshake_word(ngx_gov_redis_conn_t *conn,
    const char *word, ngx_gov_redis_handler_pt handler);
static void ngx_gov_redis_handshake_handler(redisReply *reply, void *data);
static void ngx_gov_redis_gate_handler(redisReply *reply, void *data);
static void ngx_gov_redis_gate_again(ngx_event_t *ev);
static ngx_uint_t ngx_gov_redis_wake(ngx_gov_redis_conn_t *conn);
static ngx_int_t ngx_gov_redis_append(ngx_gov_redis_conn_t *conn,
    ngx_gov_redis_handler_pt handler, void *data, ngx_gov_redis_cmd_t **owner,
    int argc, const char **argv, const size_t *argvlen);
static ngx_int_t ngx_gov_redis_append_eval(ngx_gov_redis_conn_t *conn,
    ngx_gov_redis_handler_pt handler, void *data, ngx_gov_redis_cmd_t **owner,
    int argc, const char **argv, const size_t *argvlen);
static ngx_gov_redis_cmd_t *ngx_gov_redis_append_bytes(
    ngx_gov_redis_conn_t *conn,
    ngx_gov_redis_handler_pt handler, void *data, ngx_gov_redis_cmd_t **owner,
    char *bytes, size_t len);
static ngx_int_t ngx_gov_redis_append_argv(ngx_gov_redis_conn_t *conn,
    ngx_gov_redis_handler_pt handler, void *data, ngx_gov_redis_cmd_t **owner,
    int argc, const char **argv, const size_t *argvlen, ngx_uint_t script);
static void ngx_gov_redis_queue(ngx_gov_redis_conn_t *conn,
    ngx_gov_redis_cmd_t *cmd);
static ngx_int_t ngx_gov_redis_out(ngx_gov_redis_conn_t *conn,
    const char *bytes, size_t len);
static ngx_uint_t ngx_gov_redis_resend(ngx_gov_redis_conn_t *conn,
    ngx_gov_redis_cmd_t *cmd);
static void ngx_gov_redis_flush(ngx_gov_redis_conn_t *conn);
static void ngx_gov_redis_flush_handler(ngx_event_t *ev);
static void ngx_gov_redis_read_handler(ngx_event_t *rev);
static void ngx_gov_redis_write_handler(ngx_event_t *wev);
static void ngx_gov_redis_timer_handler(ngx_event_t *ev);
static void ngx_gov_redis_reconnect_handler(ngx_event_t *ev);
static void ngx_gov_redis_arm(ngx_gov_redis_conn_t *conn);
static void ngx_gov_redis_dispatch(ngx_gov_redis_conn_t *conn,
    redisReply *reply);
static void ngx_gov_redis_drop(ngx_gov_redis_conn_t *conn,
    ngx_uint_t counter);
static ngx_uint_t ngx_gov_redis_accepts(ngx_gov_redis_conn_t *conn);
static ngx_gov_redis_cmd_t *ngx_gov_redis_cmd_alloc(void);
static void ngx_gov_redis_cmd_free(ngx_gov_redis_cmd_t *cmd);
static void ngx_gov_redis_close(ngx_gov_redis_conn_t *conn);
static ngx_int_t ngx_gov_redis_conn_init(ngx_gov_redis_conn_t *conn,
    ngx_gov_redis_conf_t *rcf, ngx_log_t *log);

static ngx_int_t ngx_gov_redis_cluster_send(ngx_log_t *log, ngx_uint_t n,
    ngx_gov_redis_args_t *cmds, ngx_gov_redis_handler_pt *handlers,
    void **datas, ngx_gov_redis_cmd_t **owner);
static ngx_gov_redis_conn_t *ngx_gov_redis_route(ngx_int_t slot);
static ngx_gov_redis_conn_t *ngx_gov_redis_any(void);
static ngx_gov_redis_conn_t *ngx_gov_redis_node_conn(
    ngx_gov_redis_node_t *node);
static ngx_gov_redis_node_t *ngx_gov_redis_node(ngx_log_t *log,
    ngx_addr_t *addr, u_char *text, size_t len);
static void ngx_gov_redis_node_wake(ngx_gov_redis_node_t *node);
static ngx_uint_t ngx_gov_redis_unit_reply(ngx_gov_redis_conn_t *conn,
    ngx_gov_redis_cmd_t *cmd, redisReply *reply);
static void ngx_gov_redis_follow(ngx_gov_redis_cmd_t *cmd);
static ngx_int_t ngx_gov_redis_unit_out(ngx_gov_redis_conn_t *conn,
    ngx_gov_redis_cmd_t *lead, ngx_uint_t asking);
static void ngx_gov_redis_unit_fail(ngx_gov_redis_cmd_t *lead);
static void ngx_gov_redis_fail(ngx_gov_redis_cmd_t *cmd);
static void ngx_gov_redis_unit_free(ngx_gov_redis_unit_t *unit);
static void ngx_gov_redis_later_handler(ngx_event_t *ev);
static ngx_int_t ngx_gov_redis_cluster_acked(ngx_log_t *log,
    ngx_gov_redis_handler_pt handler, void *data, ngx_gov_redis_cmd_t **owner,
    ngx_uint_t n, ngx_gov_redis_args_t *cmds);
static void ngx_gov_redis_map(void);
static void ngx_gov_redis_map_handler(ngx_event_t *ev);
static void ngx_gov_redis_map_reply(redisReply *reply, void *data);
static ngx_int_t ngx_gov_redis_map_shards(redisReply *reply,
    u_char *slots);
static ngx_int_t ngx_gov_redis_map_slots(redisReply *reply, u_char *slots);
static ngx_int_t ngx_gov_redis_map_range(long long start, long long end,
    redisReply *ip, long long port, u_char *slots);
static redisReply *ngx_gov_redis_field(redisReply *map, const char *name);
static ngx_uint_t ngx_gov_redis_node_index(ngx_gov_redis_node_t *node);
static ngx_uint_t ngx_gov_redis_masters(void);


/* an acknowledged write's reply, held until WAIT says replicas have it */
typedef struct {
    ngx_gov_redis_handler_pt  handler;
    void                     *data;
    redisReply               *reply;
    ngx_uint_t                wait;
    ngx_uint_t                replied;      /* the write's reply came */
    ngx_uint_t                orphan;       /* no WAIT follows: drop it */
} ngx_gov_redis_ack_t;


static char *ngx_gov_redis_parse_list(ngx_conf_t *cf,
    ngx_gov_redis_conf_t *rcf, ngx_str_t *list, ngx_uint_t cluster,
    ngx_array_t **addrs);
static void ngx_gov_redis_sentinel_handler(redisReply *reply, void *data);
static void ngx_gov_redis_role_handler(redisReply *reply, void *data);
static ngx_int_t ngx_gov_redis_ask(ngx_gov_redis_conn_t *conn);
static ngx_uint_t ngx_gov_redis_not_master(redisReply *reply);
static void ngx_gov_redis_held(redisReply *reply, void *data);
static void ngx_gov_redis_waited(redisReply *reply, void *data);

static void ngx_gov_redis_watch_id(redisReply *reply, void *data);
static void ngx_gov_redis_watch_on(redisReply *reply, void *data);
static void ngx_gov_redis_watch_subscribed(redisReply *reply, void *data);
static ngx_uint_t ngx_gov_redis_watch_message(redisReply *reply);
static void ngx_gov_redis_watch_lost(void);
static void ngx_gov_redis_ping_handler(ngx_event_t *ev);

/* set by ngx_gov_redis_held(): the reply it was given is kept */
static ngx_uint_t             ngx_gov_redis_kept;

static ngx_gov_redis_conn_t  *ngx_gov_redis_conns;
static ngx_uint_t             ngx_gov_redis_nconns;
static ngx_uint_t             ngx_gov_redis_next;
/* whom a connection talks to, for the logs: the node, else as configured */
#define ngx_gov_redis_peer(conn)                                             \
    ((conn)->node ? &(conn)->node->addr.name : &(conn)->conf->name)

static ngx_queue_t            ngx_gov_redis_free;
static ngx_uint_t             ngx_gov_redis_nfree;
static ngx_gov_redis_conf_t  *ngx_gov_redis_conf;

/* Redis Cluster: the masters, which one holds each slot (+ 1; 0: unknown) */
static ngx_gov_redis_node_t  *ngx_gov_redis_nodes[NGX_GOV_REDIS_NODES];
static ngx_uint_t             ngx_gov_redis_nnodes;
static u_char                 ngx_gov_redis_slots[GOV_SLOTS];
static ngx_uint_t             ngx_gov_redis_mapped;   /* a map was learnt */
static ngx_uint_t             ngx_gov_redis_asking_map;
static ngx_uint_t             ngx_gov_redis_no_shards; /* Redis < 7 */
static ngx_uint_t             ngx_gov_redis_not_cluster;
static ngx_msec_t             ngx_gov_redis_map_asked;
static ngx_event_t            ngx_gov_redis_map_ev;
static ngx_queue_t            ngx_gov_redis_later;    /* units waiting */
static ngx_event_t            ngx_gov_redis_later_ev;

/* client-side caching: the worker's invalidation connection */
static ngx_gov_redis_conn_t   ngx_gov_redis_watch_conn;
static ngx_str_t              ngx_gov_redis_watch_prefix;
static ngx_gov_redis_watch_pt ngx_gov_redis_watch_handler;
static ngx_uint_t             ngx_gov_redis_watch_live;
static ngx_uint_t             ngx_gov_redis_watch_refused;
static ngx_event_t            ngx_gov_redis_ping_ev;

#define NGX_GOV_REDIS_PING        1000    /* the watch is pinged (ms) */


/*
 * gov_redis: the address, then one branch per NAME=VALUE parameter, the
 * way nginx parses its own many-parameter directives (the "server"
 * directive of upstream).  Over 120 lines because each parameter has its
 * own precise error message; the branches share nothing but the loop.
 */

char *
ngx_gov_redis_parse(ngx_conf_t *cf, ngx_gov_redis_conf_t *rcf)
{
    ngx_int_t   n;
    ngx_str_t  *value, s;
    ngx_url_t   u;
    ngx_uint_t  i;

    value = cf->args->elts;

    rcf->name = value[1];
    rcf->db = 0;
    rcf->timeout = 1000;
    rcf->connect_timeout = 1000;
    rcf->connections = 1;
    rcf->backoff_base = 50;
    rcf->backoff_max = 2000;
    rcf->wait = 0;

    rcf->shards = 1;

    if (ngx_strncmp(value[1].data, "sentinel=", 9) == 0) {
        s.data = value[1].data + 9;
        s.len = value[1].len - 9;

        if (ngx_gov_redis_parse_list(cf, rcf, &s, 0, &rcf->sentinels)
            != NGX_CONF_OK)
        {
            return NGX_CONF_ERROR;
        }

        goto params;
    }

    if (ngx_strncmp(value[1].data, "cluster=", 8) == 0) {
        s.data = value[1].data + 8;
        s.len = value[1].len - 8;

        if (ngx_gov_redis_parse_list(cf, rcf, &s, 1, &rcf->cluster)
            != NGX_CONF_OK)
        {
            return NGX_CONF_ERROR;
        }

        rcf->shards = 64;

        goto params;
    }

    ngx_memzero(&u, sizeof(ngx_url_t));

    u.url = value[1];
    u.default_port = 6379;

    /* names are resolved here, once, at start-up: never in a worker */

    if (ngx_parse_url(cf->pool, &u) != NGX_OK) {
        if (u.err) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "invalid redis address \"%V\": %s",
                               &u.url, u.err);
        }

        return NGX_CONF_ERROR;
    }

    if (u.naddrs == 0 || u.addrs == NULL) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "redis address \"%V\" resolves to no address",
                           &u.url);
        return NGX_CONF_ERROR;
    }

    rcf->addr = u.addrs[0];

params:

    for (i = 2; i < cf->args->nelts; i++) {

        if (ngx_strncmp(value[i].data, "master=", 7) == 0
            && value[i].len > 7)
        {
            rcf->master.data = value[i].data + 7;
            rcf->master.len = value[i].len - 7;
            continue;
        }

        if (ngx_strncmp(value[i].data, "sentinel_password_file=", 23) == 0) {
            s.len = value[i].len - 23;
            s.data = value[i].data + 23;

            if (ngx_gov_redis_read_password(cf, &s, &rcf->sentinel_password)
                != NGX_OK)
            {
                return NGX_CONF_ERROR;
            }

            continue;
        }

        if (ngx_strncmp(value[i].data, "password_file=", 14) == 0) {
            s.len = value[i].len - 14;
            s.data = value[i].data + 14;

            if (ngx_gov_redis_read_password(cf, &s, &rcf->password)
                != NGX_OK)
            {
                return NGX_CONF_ERROR;
            }

            continue;
        }

        if (ngx_strncmp(value[i].data, "db=", 3) == 0) {
            n = ngx_atoi(value[i].data + 3, value[i].len - 3);
            if (n == NGX_ERROR) {
                ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                                   "invalid redis database number \"%V\"",
                                   &value[i]);
                return NGX_CONF_ERROR;
            }

            rcf->db = n;
            continue;
        }

        if (ngx_strncmp(value[i].data, "timeout=", 8) == 0) {
            s.len = value[i].len - 8;
            s.data = value[i].data + 8;

            rcf->timeout = ngx_parse_time(&s, 0);
            if (rcf->timeout == (ngx_msec_t) NGX_ERROR || rcf->timeout == 0) {
                ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                                   "invalid redis command timeout \"%V\"",
                                   &value[i]);
                return NGX_CONF_ERROR;
            }

            continue;
        }

        if (ngx_strncmp(value[i].data, "connect_timeout=", 16) == 0) {
            s.len = value[i].len - 16;
            s.data = value[i].data + 16;

            rcf->connect_timeout = ngx_parse_time(&s, 0);
            if (rcf->connect_timeout == (ngx_msec_t) NGX_ERROR
                || rcf->connect_timeout == 0)
            {
                ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                                   "invalid redis connect timeout \"%V\"",
                                   &value[i]);
                return NGX_CONF_ERROR;
            }

            continue;
        }

        if (ngx_strncmp(value[i].data, "connections=", 12) == 0) {
            n = ngx_atoi(value[i].data + 12, value[i].len - 12);
            if (n < 1 || n > 64) {
                ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                                   "invalid redis connections \"%V\", "
                                   "must be from 1 to 64", &value[i]);
                return NGX_CONF_ERROR;
            }

            rcf->connections = n;
            continue;
        }

        if (ngx_strncmp(value[i].data, "shards=", 7) == 0) {
            n = ngx_atoi(value[i].data + 7, value[i].len - 7);
            if (n < 1 || n > 4096) {
                ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                                   "invalid redis shards \"%V\", must be "
                                   "from 1 to 4096", &value[i]);
                return NGX_CONF_ERROR;
            }

            rcf->shards = n;
            continue;
        }

        if (ngx_strncmp(value[i].data, "wait=", 5) == 0) {
            n = ngx_atoi(value[i].data + 5, value[i].len - 5);
            if (n < 1 || n > 16) {
                ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                                   "invalid redis wait \"%V\", must be "
                                   "from 1 to 16 replicas", &value[i]);
                return NGX_CONF_ERROR;
            }

            rcf->wait = n;
            continue;
        }

        if (ngx_strncmp(value[i].data, "backoff=", 8) == 0) {
            s.len = value[i].len - 8;
            s.data = value[i].data + 8;

            rcf->backoff_max = ngx_parse_time(&s, 0);
            if (rcf->backoff_max == (ngx_msec_t) NGX_ERROR
                || rcf->backoff_max < rcf->backoff_base)
            {
                ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                                   "invalid redis backoff \"%V\", "
                                   "must be at least %Mms",
                                   &value[i], rcf->backoff_base);
                return NGX_CONF_ERROR;
            }

            continue;
        }

        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid parameter \"%V\" in gov_redis",
                           &value[i]);
        return NGX_CONF_ERROR;
    }

    if (rcf->sentinels && rcf->master.len == 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "gov_redis with \"sentinel=\" needs "
                           "\"master=NAME\", the master's name at the "
                           "sentinels");
        return NGX_CONF_ERROR;
    }

    if (rcf->cluster && rcf->db) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"db=\" of gov_redis cannot go with "
                           "\"cluster=\": a Redis Cluster has database 0 "
                           "only");
        return NGX_CONF_ERROR;
    }

    if (rcf->cluster == NULL && rcf->shards != 1) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"shards=\" of gov_redis needs \"cluster=\"");
        return NGX_CONF_ERROR;
    }

    if (rcf->sentinels == NULL
        && (rcf->master.len || rcf->sentinel_password.len))
    {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"master=\" and \"sentinel_password_file=\" "
                           "of gov_redis need \"sentinel=\"");
        return NGX_CONF_ERROR;
    }

    return NGX_CONF_OK;
}


/* sentinel= or cluster=HOST:PORT[,HOST:PORT...]: resolved once, here */

static char *
ngx_gov_redis_parse_list(ngx_conf_t *cf, ngx_gov_redis_conf_t *rcf,
    ngx_str_t *list, ngx_uint_t cluster, ngx_array_t **addrs)
{
    u_char      *p, *last, *comma;
    ngx_url_t    u;
    ngx_addr_t  *a;
    const char  *what;

    what = cluster ? "cluster node" : "sentinel";

    *addrs = ngx_array_create(cf->pool, 3, sizeof(ngx_addr_t));
    if (*addrs == NULL) {
        return NGX_CONF_ERROR;
    }

    rcf->name.len = sizeof("sentinels ") - 1 + list->len;
    rcf->name.data = ngx_pnalloc(cf->pool, rcf->name.len);
    if (rcf->name.data == NULL) {
        return NGX_CONF_ERROR;
    }

    rcf->name.len = ngx_sprintf(rcf->name.data, "%s %V",
                                cluster ? "cluster" : "sentinels", list)
                    - rcf->name.data;

    p = list->data;
    last = list->data + list->len;

    while (p < last) {
        comma = ngx_strlchr(p, last, ',');
        if (comma == NULL) {
            comma = last;
        }

        ngx_memzero(&u, sizeof(ngx_url_t));
        u.url.data = p;
        u.url.len = comma - p;
        u.default_port = cluster ? 6379 : 26379;

        if (u.url.len == 0 || ngx_parse_url(cf->pool, &u) != NGX_OK
            || u.naddrs == 0)
        {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "invalid %s address \"%V\"%s%s", what,
                               &u.url, u.err ? ": " : "",
                               u.err ? u.err : "");
            return NGX_CONF_ERROR;
        }

        a = ngx_array_push(*addrs);
        if (a == NULL) {
            return NGX_CONF_ERROR;
        }

        *a = u.addrs[0];
        a->name = u.url;

        p = comma + 1;
    }

    if ((*addrs)->nelts == 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"%s=\" of gov_redis names no %s",
                           cluster ? "cluster" : "sentinel", what);
        return NGX_CONF_ERROR;
    }

    /* a name for the logs until a master is found */
    rcf->addr = ((ngx_addr_t *) (*addrs)->elts)[0];

    return NGX_CONF_OK;
}


static ngx_int_t
ngx_gov_redis_read_password(ngx_conf_t *cf, ngx_str_t *path,
    ngx_str_t *password)
{
    u_char          *buf;
    size_t           len;
    ssize_t          n;
    ngx_fd_t         fd;
    ngx_file_info_t  fi;

    if (path->len == 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "empty redis password_file path");
        return NGX_ERROR;
    }

    if (ngx_conf_full_name(cf->cycle, path, 1) != NGX_OK) {
        return NGX_ERROR;
    }

    fd = ngx_open_file(path->data, NGX_FILE_RDONLY, NGX_FILE_OPEN, 0);
    if (fd == NGX_INVALID_FILE) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, ngx_errno,
                           "cannot open redis password_file \"%V\"", path);
        return NGX_ERROR;
    }

    if (ngx_fd_info(fd, &fi) == NGX_FILE_ERROR) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, ngx_errno,
                           "cannot stat redis password_file \"%V\"", path);
        (void) ngx_close_file(fd);
        return NGX_ERROR;
    }

    len = (size_t) ngx_file_size(&fi);

    if (len > 4096) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "redis password_file \"%V\" is larger than 4k",
                           path);
        (void) ngx_close_file(fd);
        return NGX_ERROR;
    }

    buf = ngx_pnalloc(cf->pool, len + 1);
    if (buf == NULL) {
        (void) ngx_close_file(fd);
        return NGX_ERROR;
    }

    n = ngx_read_fd(fd, buf, len);

    if (n == -1 || (size_t) n != len) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, ngx_errno,
                           "cannot read redis password_file \"%V\"", path);
        (void) ngx_close_file(fd);
        return NGX_ERROR;
    }

    (void) ngx_close_file(fd);

    while (len && (buf[len - 1] == '\n' || buf[len - 1] == '\r'
                   || buf[len - 1] == ' ' || buf[len - 1] == '\t'))
    {
        len--;
    }

    if (len == 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "redis password_file \"%V\" is empty", path);
        return NGX_ERROR;
    }

    password->data = buf;
    password->len = len;

    return NGX_OK;
}


ngx_int_t
ngx_gov_redis_init_process(ngx_cycle_t *cycle, ngx_gov_redis_conf_t *rcf)
{
    ngx_uint_t   i;
    ngx_addr_t  *seeds;

    ngx_queue_init(&ngx_gov_redis_free);
    ngx_gov_redis_nfree = 0;
    ngx_gov_redis_conf = rcf;
    ngx_gov_redis_next = 0;

    if (rcf->cluster) {
        /* the seeds are asked for the map; its masters are added */

        ngx_queue_init(&ngx_gov_redis_later);
        ngx_gov_redis_later_ev.handler = ngx_gov_redis_later_handler;
        ngx_gov_redis_later_ev.log = cycle->log;
        ngx_gov_redis_map_ev.handler = ngx_gov_redis_map_handler;
        ngx_gov_redis_map_ev.log = cycle->log;
        ngx_gov_redis_map_ev.cancelable = 1;

        seeds = rcf->cluster->elts;

        for (i = 0; i < rcf->cluster->nelts; i++) {
            if (ngx_gov_redis_node(cycle->log, &seeds[i], NULL, 0) == NULL) {
                return NGX_ERROR;
            }
        }

        ngx_gov_redis_map();

        return NGX_OK;
    }

    ngx_gov_redis_conns = ngx_pcalloc(cycle->pool,
                                     rcf->connections
                                     * sizeof(ngx_gov_redis_conn_t));
    if (ngx_gov_redis_conns == NULL) {
        return NGX_ERROR;
    }

    ngx_gov_redis_nconns = rcf->connections;

    for (i = 0; i < rcf->connections; i++) {
        if (ngx_gov_redis_conn_init(&ngx_gov_redis_conns[i], rcf, cycle->log)
            != NGX_OK)
        {
            return NGX_ERROR;
        }

        ngx_gov_redis_connect(&ngx_gov_redis_conns[i]);
    }

    return NGX_OK;
}


static ngx_int_t
ngx_gov_redis_conn_init(ngx_gov_redis_conn_t *conn, ngx_gov_redis_conf_t *rcf,
    ngx_log_t *log)
{
    conn->conf = rcf;
    conn->log = *log;
    ngx_queue_init(&conn->pending);

    conn->flush_ev.handler = ngx_gov_redis_flush_handler;
    conn->flush_ev.data = conn;
    conn->flush_ev.log = &conn->log;

    /* pending commands keep a worker alive on graceful shutdown */
    conn->timer_ev.handler = ngx_gov_redis_timer_handler;
    conn->timer_ev.data = conn;
    conn->timer_ev.log = &conn->log;

    conn->reconnect_ev.handler = ngx_gov_redis_reconnect_handler;
    conn->reconnect_ev.data = conn;
    conn->reconnect_ev.log = &conn->log;
    conn->reconnect_ev.cancelable = 1;

    conn->gate_ev.handler = ngx_gov_redis_gate_again;
    conn->gate_ev.data = conn;
    conn->gate_ev.log = &conn->log;
    conn->gate_ev.cancelable = 1;

    return NGX_OK;
}


void
ngx_gov_redis_exit_process(ngx_cycle_t *cycle)
{
    ngx_uint_t             i, k;
    ngx_queue_t           *q;
    ngx_gov_redis_cmd_t   *cmd;
    ngx_gov_redis_node_t  *node;

    for (i = 0; i < ngx_gov_redis_nconns; i++) {
        ngx_gov_redis_close(&ngx_gov_redis_conns[i]);
    }

    ngx_gov_redis_nconns = 0;

    if (ngx_gov_redis_watch_handler) {
        if (ngx_gov_redis_ping_ev.timer_set) {
            ngx_del_timer(&ngx_gov_redis_ping_ev);
        }

        /* nobody listens for this worker any more */
        ngx_gov_redis_watch_lost();

        ngx_gov_redis_close(&ngx_gov_redis_watch_conn);
        ngx_gov_redis_watch_handler = NULL;
        ngx_gov_redis_watch_live = 0;
    }

    for (i = 0; i < ngx_gov_redis_nnodes; i++) {
        node = ngx_gov_redis_nodes[i];

        for (k = 0; k < ngx_gov_redis_conf->connections; k++) {
            ngx_gov_redis_close(&node->conns[k]);
        }

        ngx_free(node->conns);
        ngx_free(node);
        ngx_gov_redis_nodes[i] = NULL;
    }

    ngx_gov_redis_nnodes = 0;

    if (ngx_gov_redis_conf && ngx_gov_redis_conf->cluster) {
        if (ngx_gov_redis_map_ev.timer_set) {
            ngx_del_timer(&ngx_gov_redis_map_ev);
        }

        if (ngx_gov_redis_later_ev.timer_set) {
            ngx_del_timer(&ngx_gov_redis_later_ev);
        }

        while (!ngx_queue_empty(&ngx_gov_redis_later)) {
            q = ngx_queue_head(&ngx_gov_redis_later);
            ngx_queue_remove(q);
            cmd = ngx_queue_data(q, ngx_gov_redis_cmd_t, queue);

            if (cmd->owner) {
                *cmd->owner = NULL;
            }

            ngx_gov_redis_unit_free(cmd->unit);
            ngx_free(cmd);
        }
    }

    while (ngx_gov_redis_nfree) {
        q = ngx_queue_head(&ngx_gov_redis_free);
        ngx_queue_remove(q);
        ngx_free(ngx_queue_data(q, ngx_gov_redis_cmd_t, queue));
        ngx_gov_redis_nfree--;
    }
}


/* the process is going away: no handler runs any more */

static void
ngx_gov_redis_close(ngx_gov_redis_conn_t *conn)
{
    ngx_queue_t          *q;
    ngx_gov_redis_cmd_t  *cmd;

    if (conn->flush_ev.posted) {
        ngx_delete_posted_event(&conn->flush_ev);
    }

    if (conn->timer_ev.timer_set) {
        ngx_del_timer(&conn->timer_ev);
    }

    if (conn->reconnect_ev.timer_set) {
        ngx_del_timer(&conn->reconnect_ev);
    }

    if (conn->gate_ev.timer_set) {
        ngx_del_timer(&conn->gate_ev);
    }

    if (conn->connection) {
        ngx_close_connection(conn->connection);
        conn->connection = NULL;
    }

    if (conn->reader) {
        redisReaderFree(conn->reader);
        conn->reader = NULL;
    }

    if (conn->out) {
        ngx_free(conn->out);
        conn->out = NULL;
    }

    while (!ngx_queue_empty(&conn->pending)) {
        q = ngx_queue_head(&conn->pending);
        ngx_queue_remove(q);
        cmd = ngx_queue_data(q, ngx_gov_redis_cmd_t, queue);

        if (cmd->owner) {
            *cmd->owner = NULL;
        }

        if (cmd->eval) {
            redisFreeCommand(cmd->eval);
        }

        if (cmd->unit && cmd->member + 1 == cmd->unit->n) {
            ngx_gov_redis_unit_free(cmd->unit);
        }

        ngx_free(cmd);
    }

    conn->state = NGX_GOV_REDIS_DOWN;
}


ngx_uint_t
ngx_gov_redis_available(void)
{
    ngx_uint_t  i;

    for (i = 0; i < ngx_gov_redis_nconns; i++) {
        if (ngx_gov_redis_accepts(&ngx_gov_redis_conns[i])) {
            return 1;
        }
    }

    if (!ngx_gov_redis_mapped || ngx_gov_redis_not_cluster) {
        return 0;
    }

    for (i = 0; i < ngx_gov_redis_nnodes; i++) {
        if (ngx_gov_redis_nodes[i]->in_map
            && ngx_gov_redis_node_conn(ngx_gov_redis_nodes[i]))
        {
            return 1;
        }
    }

    return 0;
}


static ngx_uint_t
ngx_gov_redis_accepts(ngx_gov_redis_conn_t *conn)
{
    /*
     * A connection being set up takes commands only on its first attempt
     * (worker start-up); after a failure it must prove itself first, so
     * that callers fail at once while Redis is unreachable.
     */

    if (conn->asking) {
        /* a sentinel is being asked where the master is */
        return 0;
    }

    switch (conn->state) {

    case NGX_GOV_REDIS_READY:
    case NGX_GOV_REDIS_HANDSHAKE:
        return 1;

    case NGX_GOV_REDIS_CONNECTING:
        /*
         * after a refusal (a restart) the commands wait on the attempt,
         * whether a command woke it or its backoff ran out; after a
         * timeout (a silent host) they fail at once
         */
        return conn->failures == 0 || !conn->timed_out;

    default:
        return 0;
    }
}


ngx_int_t
ngx_gov_redis_send(ngx_log_t *log, ngx_gov_redis_handler_pt handler,
    void *data, ngx_gov_redis_cmd_t **owner, int argc, const char **argv,
    const size_t *argvlen)
{
    ngx_gov_redis_args_t  cmd;

    cmd.argc = argc;
    cmd.argv = argv;
    cmd.argvlen = argvlen;

    return ngx_gov_redis_send_n(log, handler, data, owner, 1, &cmd);
}


static const char    *ngx_gov_redis_multi_argv[] = { "MULTI" };
static const char    *ngx_gov_redis_exec_argv[] = { "EXEC" };
static const size_t   ngx_gov_redis_multi_len[] = { 5 };
static const size_t   ngx_gov_redis_exec_len[] = { 4 };

ngx_gov_redis_args_t  ngx_gov_redis_multi = {
    1, ngx_gov_redis_multi_argv, ngx_gov_redis_multi_len
};

ngx_gov_redis_args_t  ngx_gov_redis_exec = {
    1, ngx_gov_redis_exec_argv, ngx_gov_redis_exec_len
};


void
ngx_gov_redis_key_cmd(ngx_gov_redis_args_t *a, const char **argv,
    size_t *argvlen, const char *name, const char *key, size_t len)
{
    argv[0] = name;
    argvlen[0] = ngx_strlen(name);
    argv[1] = key;
    argvlen[1] = len;

    a->argc = 2;
    a->argv = argv;
    a->argvlen = argvlen;
}


ngx_int_t
ngx_gov_redis_send_n(ngx_log_t *log, ngx_gov_redis_handler_pt handler,
    void *data, ngx_gov_redis_cmd_t **owner, ngx_uint_t n,
    ngx_gov_redis_args_t *cmds)
{
    ngx_int_t                  rc;
    ngx_uint_t                 i, k, nconns;
    ngx_gov_redis_conn_t      *conn;
    void                      *datas[NGX_GOV_REDIS_ARGS];
    ngx_gov_redis_handler_pt   handlers[NGX_GOV_REDIS_ARGS];

    if (ngx_gov_redis_nnodes) {
        if (n > NGX_GOV_REDIS_ARGS) {
            return NGX_ERROR;
        }

        for (k = 0; k < n; k++) {
            handlers[k] = NULL;
            datas[k] = NULL;
        }

        handlers[n - 1] = handler;
        datas[n - 1] = data;

        rc = ngx_gov_redis_cluster_send(log, n, cmds, handlers, datas, owner);

        if (rc == NGX_DECLINED) {
            ngx_gov_metrics_inc(NGX_GOV_M_REDIS_ERR_UNAVAILABLE);
        }

        return rc;
    }

    nconns = ngx_gov_redis_nconns;

    for (i = 0; i < nconns; i++) {
        conn = &ngx_gov_redis_conns[(ngx_gov_redis_next + i) % nconns];

        if (!ngx_gov_redis_accepts(conn)) {
            continue;
        }

        ngx_gov_redis_next = (ngx_gov_redis_next + i + 1) % nconns;

        /* appends are synchronous: the commands stay back to back */

        for (k = 0; k + 1 < n; k++) {
            if (ngx_gov_redis_append(conn, NULL, NULL, NULL, cmds[k].argc,
                                     cmds[k].argv, cmds[k].argvlen)
                != NGX_OK)
            {
                return NGX_ERROR;
            }
        }

        return ngx_gov_redis_append(conn, handler, data, owner,
                                    cmds[k].argc, cmds[k].argv,
                                    cmds[k].argvlen);
    }

    /* every connection is down: one waiting to reconnect tries now */

    for (i = 0; i < nconns; i++) {
        conn = &ngx_gov_redis_conns[(ngx_gov_redis_next + i) % nconns];

        if (ngx_gov_redis_wake(conn)) {
            if (ngx_gov_redis_accepts(conn)) {
                return ngx_gov_redis_send_n(log, handler, data, owner, n,
                                            cmds);
            }

            break;
        }
    }

    ngx_gov_metrics_inc(NGX_GOV_M_REDIS_ERR_UNAVAILABLE);

    ngx_log_debug0(NGX_LOG_DEBUG_HTTP, log, 0,
                   "gov redis: no connection available");

    return NGX_DECLINED;
}


void
ngx_gov_redis_cancel(ngx_gov_redis_cmd_t **owner)
{
    ngx_gov_redis_cmd_t  *cmd;

    cmd = *owner;

    if (cmd && cmd->handler == ngx_gov_redis_waited) {
        /* the WAIT still frees what it holds; nobody is told */
        ((ngx_gov_redis_ack_t *) cmd->data)->handler = NULL;
        cmd->owner = NULL;
        *owner = NULL;
        return;
    }

    if (cmd) {
        cmd->handler = NULL;
        cmd->data = NULL;
        cmd->owner = NULL;
        *owner = NULL;
    }
}


ngx_int_t
ngx_gov_redis_send_acked(ngx_log_t *log, ngx_gov_redis_handler_pt handler,
    void *data, ngx_gov_redis_cmd_t **owner, ngx_uint_t n,
    ngx_gov_redis_args_t *cmds)
{
    u_char                 wait[NGX_INT_T_LEN], ms[NGX_INT_T_LEN];
    ngx_int_t              rc;
    ngx_uint_t             i, k, nconns;
    const char            *argv[3];
    size_t                 argvlen[3];
    ngx_gov_redis_ack_t   *ack;
    ngx_gov_redis_conn_t  *conn;

    nconns = ngx_gov_redis_nconns;

    if (ngx_gov_redis_conf == NULL || ngx_gov_redis_conf->wait == 0) {
        return ngx_gov_redis_send_n(log, handler, data, owner, n, cmds);
    }

    if (ngx_gov_redis_nnodes) {
        return ngx_gov_redis_cluster_acked(log, handler, data, owner, n,
                                           cmds);
    }

    for (i = 0; i < nconns; i++) {
        conn = &ngx_gov_redis_conns[(ngx_gov_redis_next + i) % nconns];

        if (ngx_gov_redis_accepts(conn)) {
            break;
        }
    }

    if (i == nconns) {
        ngx_gov_metrics_inc(NGX_GOV_M_REDIS_ERR_UNAVAILABLE);
        return NGX_DECLINED;
    }

    ngx_gov_redis_next = (ngx_gov_redis_next + i + 1) % nconns;

    ack = ngx_calloc(sizeof(ngx_gov_redis_ack_t), log);
    if (ack == NULL) {
        return NGX_ERROR;
    }

    ack->handler = handler;
    ack->data = data;
    ack->wait = conn->conf->wait;

    /* appends are synchronous: the write and its WAIT stay back to back */

    for (k = 0; k + 1 < n; k++) {
        if (ngx_gov_redis_append(conn, NULL, NULL, NULL, cmds[k].argc,
                                 cmds[k].argv, cmds[k].argvlen)
            != NGX_OK)
        {
            ngx_free(ack);
            return NGX_ERROR;
        }
    }

    if (ngx_gov_redis_append(conn, ngx_gov_redis_held, ack, NULL,
                             cmds[k].argc, cmds[k].argv, cmds[k].argvlen)
        != NGX_OK)
    {
        ngx_free(ack);
        return NGX_ERROR;
    }

    /*
     * WAIT gives up at a quarter of the command timeout: it holds the
     * connection while it waits, and what is queued behind it (a lookup,
     * another write and its WAIT) must still answer within the timeout
     */

    argv[0] = "WAIT";
    argvlen[0] = 4;
    argv[1] = (char *) wait;
    argvlen[1] = ngx_sprintf(wait, "%ui", conn->conf->wait) - wait;
    argv[2] = (char *) ms;
    argvlen[2] = ngx_sprintf(ms, "%M", conn->conf->timeout / 4) - ms;

    rc = ngx_gov_redis_append(conn, ngx_gov_redis_waited, ack, owner, 3,
                              argv, argvlen);
    if (rc != NGX_OK) {
        /* the write goes out; its reply, alone, is dropped */
        ack->orphan = 1;
    }

    return rc;
}


/* the same in a cluster: the write and its WAIT are one unit */

static ngx_int_t
ngx_gov_redis_cluster_acked(ngx_log_t *log, ngx_gov_redis_handler_pt handler,
    void *data, ngx_gov_redis_cmd_t **owner, ngx_uint_t n,
    ngx_gov_redis_args_t *cmds)
{
    u_char                     wait[NGX_INT_T_LEN], ms[NGX_INT_T_LEN];
    size_t                     argvlen[3];
    ngx_int_t                  rc;
    ngx_uint_t                 k;
    const char                *argv[3];
    ngx_gov_redis_ack_t       *ack;
    ngx_gov_redis_args_t       all[NGX_GOV_REDIS_ARGS];
    void                      *datas[NGX_GOV_REDIS_ARGS];
    ngx_gov_redis_handler_pt   handlers[NGX_GOV_REDIS_ARGS];

    if (n + 1 > NGX_GOV_REDIS_ARGS) {
        return NGX_ERROR;
    }

    ack = ngx_calloc(sizeof(ngx_gov_redis_ack_t), log);
    if (ack == NULL) {
        return NGX_ERROR;
    }

    ack->handler = handler;
    ack->data = data;
    ack->wait = ngx_gov_redis_conf->wait;

    for (k = 0; k < n; k++) {
        all[k] = cmds[k];
        handlers[k] = NULL;
        datas[k] = NULL;
    }

    handlers[n - 1] = ngx_gov_redis_held;
    datas[n - 1] = ack;

    argv[0] = "WAIT";
    argvlen[0] = 4;
    argv[1] = (char *) wait;
    argvlen[1] = ngx_sprintf(wait, "%ui", ack->wait) - wait;
    argv[2] = (char *) ms;
    argvlen[2] = ngx_sprintf(ms, "%M", ngx_gov_redis_conf->timeout / 4) - ms;

    all[n].argc = 3;
    all[n].argv = argv;
    all[n].argvlen = argvlen;
    handlers[n] = ngx_gov_redis_waited;
    datas[n] = ack;

    rc = ngx_gov_redis_cluster_send(log, n + 1, all, handlers, datas, owner);

    if (rc != NGX_OK) {
        if (rc == NGX_DECLINED) {
            ngx_gov_metrics_inc(NGX_GOV_M_REDIS_ERR_UNAVAILABLE);
        }

        ngx_free(ack);
    }

    return rc;
}


static void
ngx_gov_redis_held(redisReply *reply, void *data)
{
    ngx_gov_redis_ack_t *ack = data;

    if (ack->orphan) {
        ngx_free(ack);
        return;
    }

    /* kept for the WAIT that follows (NULL: the connection failed) */
    ack->replied = 1;
    ack->reply = reply;
    ngx_gov_redis_kept = (reply != NULL);
}


static void
ngx_gov_redis_waited(redisReply *reply, void *data)
{
    ngx_gov_redis_ack_t *ack = data;

    redisReply  *held;

    held = ack->reply;

    if (!ack->replied) {
        /*
         * The write went back in line behind its WAIT (its script had to
         * be loaded again): it is not waited for, and not acknowledged.
         */
        ack->orphan = 1;

        if (ack->handler) {
            ack->handler(NULL, ack->data);
        }

        return;
    }

    if (ack->handler) {
        if (held && (held->type == REDIS_REPLY_ERROR
                     || (reply && reply->type == REDIS_REPLY_INTEGER
                         && reply->integer >= (long long) ack->wait)))
        {
            ack->handler(held, ack->data);

        } else {
            if (held && reply) {
                ngx_gov_metrics_inc(NGX_GOV_M_REDIS_ERR_UNREPLICATED);
                ngx_log_error(NGX_LOG_WARN, ngx_cycle->log, 0,
                              "gov redis: a write reached %i of %ui "
                              "replicas in time, not acknowledged",
                              reply->type == REDIS_REPLY_INTEGER
                              ? (ngx_int_t) reply->integer : -1,
                              ack->wait);
            }

            ack->handler(NULL, ack->data);
        }
    }

    if (held) {
        freeReplyObject(held);
    }

    ngx_free(ack);
}


/*
 * Opens a connection in the order nginx's own ngx_event_connect_peer()
 * does: socket, connection, non-blocking, options, connect, events, each
 * step with its own way out.  Longer than 120 lines on purpose: it is kept
 * in one piece so that it reads against that function line by line.
 */

static void
ngx_gov_redis_connect(ngx_gov_redis_conn_t *conn)
{
    int                    rc, tcp_nodelay;
    ngx_err_t              err;
    ngx_uint_t             level;
    ngx_event_t           *rev, *wev;
    ngx_socket_t           s;
    ngx_connection_t      *c;
    ngx_gov_redis_conf_t  *rcf;

    rcf = conn->conf;
    conn->attempted = ngx_current_msec;

    if (conn->node) {
        conn->target = &conn->node->addr;
        conn->asking = 0;

    } else if (rcf->sentinels && !conn->master_known) {
        /* the master is asked of the sentinels in turn */
        conn->target = rcf->sentinels->elts;
        conn->target += conn->sentinel % rcf->sentinels->nelts;
        conn->asking = 1;

    } else {
        conn->target = rcf->sentinels ? &conn->master : &rcf->addr;
        conn->asking = 0;
    }

    s = ngx_socket(conn->target->sockaddr->sa_family, SOCK_STREAM, 0);

    if (s == (ngx_socket_t) -1) {
        ngx_log_error(NGX_LOG_ALERT, &conn->log, ngx_socket_errno,
                      ngx_socket_n " failed");
        ngx_gov_redis_drop(conn, NGX_GOV_M_REDIS_ERR_CONNECT);
        return;
    }

    c = ngx_get_connection(s, &conn->log);

    if (c == NULL) {
        if (ngx_close_socket(s) == -1) {
            ngx_log_error(NGX_LOG_ALERT, &conn->log, ngx_socket_errno,
                          ngx_close_socket_n " failed");
        }

        ngx_gov_redis_drop(conn, NGX_GOV_M_REDIS_ERR_CONNECT);
        return;
    }

    c->type = SOCK_STREAM;

    if (ngx_nonblocking(s) == -1) {
        ngx_log_error(NGX_LOG_ALERT, &conn->log, ngx_socket_errno,
                      ngx_nonblocking_n " failed");
        ngx_close_connection(c);
        ngx_gov_redis_drop(conn, NGX_GOV_M_REDIS_ERR_CONNECT);
        return;
    }

    if (conn->target->sockaddr->sa_family != AF_UNIX) {
        tcp_nodelay = 1;

        if (setsockopt(s, IPPROTO_TCP, TCP_NODELAY,
                       (const void *) &tcp_nodelay, sizeof(int)) == -1)
        {
            ngx_log_error(NGX_LOG_WARN, &conn->log, ngx_socket_errno,
                          "setsockopt(TCP_NODELAY) failed");
        }
    }

    c->recv = ngx_recv;
    c->send = ngx_send;
    c->recv_chain = ngx_recv_chain;
    c->send_chain = ngx_send_chain;
    c->log_error = NGX_ERROR_ERR;
    c->data = conn;
    c->number = ngx_atomic_fetch_add(ngx_connection_counter, 1);

    rev = c->read;
    wev = c->write;
    rev->log = &conn->log;
    wev->log = &conn->log;
    rev->handler = ngx_gov_redis_read_handler;
    wev->handler = ngx_gov_redis_write_handler;

    if (ngx_add_conn) {
        if (ngx_add_conn(c) == NGX_ERROR) {
            ngx_close_connection(c);
            ngx_gov_redis_drop(conn, NGX_GOV_M_REDIS_ERR_CONNECT);
            return;
        }
    }

    rc = connect(s, conn->target->sockaddr, conn->target->socklen);

    if (rc == -1) {
        err = ngx_socket_errno;

        if (err != NGX_EINPROGRESS) {

            /* every failure after the first in a row is logged quietly */
            level = conn->failures ? NGX_LOG_INFO : NGX_LOG_ERR;

            ngx_log_error(level, &conn->log, err,
                          "gov redis: connect() to %V failed",
                          &conn->target->name);

            ngx_close_connection(c);
            ngx_gov_redis_drop(conn, NGX_GOV_M_REDIS_ERR_CONNECT);
            return;
        }
    }

    conn->connection = c;
    conn->state = NGX_GOV_REDIS_CONNECTING;

    conn->reader = redisReaderCreate();
    if (conn->reader == NULL) {
        ngx_log_error(NGX_LOG_ALERT, &conn->log, 0,
                      "gov redis: redisReaderCreate() failed");
        ngx_gov_redis_drop(conn, NGX_GOV_M_REDIS_ERR_CONNECT);
        return;
    }

    if (ngx_gov_redis_handshake(conn) != NGX_OK) {
        ngx_gov_redis_drop(conn, NGX_GOV_M_REDIS_ERR_CONNECT);
        return;
    }

    if (!ngx_add_conn) {
        if (ngx_add_event(rev, NGX_READ_EVENT,
                          (ngx_event_flags & NGX_USE_CLEAR_EVENT)
                          ? NGX_CLEAR_EVENT : NGX_LEVEL_EVENT)
            != NGX_OK)
        {
            ngx_gov_redis_drop(conn, NGX_GOV_M_REDIS_ERR_CONNECT);
            return;
        }

        if (rc == -1) {
            if (ngx_add_event(wev, NGX_WRITE_EVENT,
                              (ngx_event_flags & NGX_USE_CLEAR_EVENT)
                              ? NGX_CLEAR_EVENT : NGX_LEVEL_EVENT)
                != NGX_OK)
            {
                ngx_gov_redis_drop(conn, NGX_GOV_M_REDIS_ERR_CONNECT);
                return;
            }
        }
    }

    if (rc == -1) {
        /* NGX_EINPROGRESS */
        conn->connect_deadline = ngx_current_msec + rcf->connect_timeout;
        ngx_gov_redis_arm(conn);
        return;
    }

    wev->ready = 1;

    ngx_gov_redis_connected(conn);
}


static ngx_int_t
ngx_gov_redis_test_connect(ngx_gov_redis_conn_t *conn)
{
    int                err;
    socklen_t          len;
    ngx_uint_t         level;
    ngx_connection_t  *c;

    c = conn->connection;

    err = 0;
    len = sizeof(int);

    if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, (void *) &err, &len) == -1) {
        err = ngx_socket_errno;
    }

    if (err) {
        level = conn->failures ? NGX_LOG_INFO : NGX_LOG_ERR;

        ngx_log_error(level, &conn->log, err,
                      "gov redis: connect() to %V failed",
                      &conn->target->name);
        return NGX_ERROR;
    }

    return NGX_OK;
}


static void
ngx_gov_redis_connected(ngx_gov_redis_conn_t *conn)
{
    conn->state = NGX_GOV_REDIS_HANDSHAKE;

    if (conn->handshake == 0) {
        ngx_gov_redis_ready(conn);
    }

    ngx_gov_redis_arm(conn);
    ngx_gov_redis_flush(conn);
}


static void
ngx_gov_redis_ready(ngx_gov_redis_conn_t *conn)
{
    if (conn->failures) {
        ngx_log_error(NGX_LOG_NOTICE, &conn->log, 0,
                      "gov redis: connected to %V after %ui failed attempts",
                      ngx_gov_redis_peer(conn), conn->failures);
    }

    conn->state = NGX_GOV_REDIS_READY;
    conn->failures = 0;
    conn->timed_out = 0;
    conn->loading = 0;
    conn->hs_left = 0;
    conn->gated = 0;

    if (conn->out_sent < conn->out_len && !conn->flush_ev.posted) {
        /* the commands held behind the handshake go now */
        ngx_post_event(&conn->flush_ev, &ngx_posted_events);
    }

    if (conn->watch) {
        /* subscribed: from now on every change is heard */
        ngx_gov_redis_watch_live = 1;
        ngx_gov_metrics_gauge(NGX_GOV_G_REDIS_TRACKING, 1);
        return;
    }

    ngx_gov_metrics_gauge(NGX_GOV_G_REDIS_CONNECTED, 1);
}


static ngx_int_t
ngx_gov_redis_handshake(ngx_gov_redis_conn_t *conn)
{
    ngx_int_t  rc;

    /* its own commands: not in the figures of the requests' commands */

    conn->owning = 1;
    rc = ngx_gov_redis_handshake_cmds(conn);
    conn->owning = 0;

    return rc;
}


static ngx_int_t
ngx_gov_redis_handshake_cmds(ngx_gov_redis_conn_t *conn)
{
    u_char                 db[NGX_INT_T_LEN];
    size_t                 argvlen[2];
    const char            *argv[2];
    ngx_gov_redis_conf_t  *rcf;

    rcf = conn->conf;
    conn->handshake = 0;

    if (conn->asking) {
        return ngx_gov_redis_ask(conn);
    }

    if (rcf->password.len) {
        argv[0] = "AUTH";
        argvlen[0] = 4;
        argv[1] = (const char *) rcf->password.data;
        argvlen[1] = rcf->password.len;

        if (ngx_gov_redis_append(conn, ngx_gov_redis_handshake_handler, conn,
                                 NULL, 2, argv, argvlen)
            != NGX_OK)
        {
            return NGX_ERROR;
        }

        conn->handshake++;
    }

    if (rcf->db) {
        argv[0] = "SELECT";
        argvlen[0] = 6;
        argv[1] = (const char *) db;
        argvlen[1] = ngx_sprintf(db, "%ui", rcf->db) - db;

        if (ngx_gov_redis_append(conn, ngx_gov_redis_handshake_handler, conn,
                                 NULL, 2, argv, argvlen)
            != NGX_OK)
        {
            return NGX_ERROR;
        }

        conn->handshake++;
    }

    /* PING: answered once Redis serves, the commands behind it wait */

    if (!conn->watch
        && ngx_gov_redis_handshake_word(conn, "PING",
                                        ngx_gov_redis_gate_handler)
           != NGX_OK)
    {
        return NGX_ERROR;
    }

    /* ROLE: what the sentinels said is confirmed by the server itself */

    if (rcf->sentinels
        && ngx_gov_redis_handshake_word(conn, "ROLE",
                                        ngx_gov_redis_role_handler)
           != NGX_OK)
    {
        return NGX_ERROR;
    }

    if (conn->watch) {
        /* then CLIENT TRACKING and SUBSCRIBE: ngx_gov_redis_watch_id() */
        argv[0] = "CLIENT";
        argvlen[0] = 6;
        argv[1] = "ID";
        argvlen[1] = 2;

        if (ngx_gov_redis_append(conn, ngx_gov_redis_watch_id, conn, NULL,
                                 2, argv, argvlen)
            != NGX_OK)
        {
            return NGX_ERROR;
        }

        conn->handshake++;
    }

    conn->hs_left = conn->out_len - conn->out_sent;
    conn->gated = !conn->watch;

    return NGX_OK;
}


/* SENTINEL get-master-addr-by-name NAME (after AUTH when it has one) */

static ngx_int_t
ngx_gov_redis_ask(ngx_gov_redis_conn_t *conn)
{
    size_t                 argvlen[3];
    const char            *argv[3];
    ngx_gov_redis_conf_t  *rcf;

    rcf = conn->conf;

    if (rcf->sentinel_password.len) {
        argv[0] = "AUTH";
        argvlen[0] = 4;
        argv[1] = (const char *) rcf->sentinel_password.data;
        argvlen[1] = rcf->sentinel_password.len;

        if (ngx_gov_redis_append(conn, ngx_gov_redis_handshake_handler, conn,
                                 NULL, 2, argv, argvlen)
            != NGX_OK)
        {
            return NGX_ERROR;
        }

        conn->handshake++;
    }

    argv[0] = "SENTINEL";
    argvlen[0] = 8;
    argv[1] = "get-master-addr-by-name";
    argvlen[1] = sizeof("get-master-addr-by-name") - 1;
    argv[2] = (const char *) rcf->master.data;
    argvlen[2] = rcf->master.len;

    if (ngx_gov_redis_append(conn, ngx_gov_redis_sentinel_handler, conn,
                             NULL, 3, argv, argvlen)
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    conn->handshake++;

    return NGX_OK;
}


/* the sentinel's answer: ["HOST","PORT"], or nil when it has no master */

static void
ngx_gov_redis_sentinel_handler(redisReply *reply, void *data)
{
    ngx_gov_redis_conn_t  *conn = data;

    size_t       len;
    u_char      *p;
    ngx_int_t    port;
    ngx_pool_t  *pool;
    ngx_addr_t   addr;

    if (reply == NULL) {
        return;
    }

    if (reply->type != REDIS_REPLY_ARRAY || reply->elements != 2
        || reply->element[0]->type != REDIS_REPLY_STRING
        || reply->element[1]->type != REDIS_REPLY_STRING)
    {
        ngx_log_error(NGX_LOG_ERR, &conn->log, 0,
                      "gov redis: sentinel %V knows no master \"%V\"",
                      &conn->target->name, &conn->conf->master);
        ngx_gov_redis_drop(conn, NGX_GOV_M_REDIS_ERR_CONNECT);
        return;
    }

    port = ngx_atoi((u_char *) reply->element[1]->str,
                    reply->element[1]->len);

    pool = ngx_create_pool(512, &conn->log);
    if (pool == NULL) {
        ngx_gov_redis_drop(conn, NGX_GOV_M_REDIS_ERR_CONNECT);
        return;
    }

    if (port < 1 || port > 65535
        || ngx_parse_addr(pool, &addr, (u_char *) reply->element[0]->str,
                          reply->element[0]->len)
           != NGX_OK
        || addr.socklen > sizeof(ngx_sockaddr_t))
    {
        ngx_destroy_pool(pool);
        ngx_log_error(NGX_LOG_ERR, &conn->log, 0,
                      "gov redis: sentinel %V named no usable master "
                      "address for \"%V\"", &conn->target->name,
                      &conn->conf->master);
        ngx_gov_redis_drop(conn, NGX_GOV_M_REDIS_ERR_CONNECT);
        return;
    }

    ngx_memcpy(&conn->master_sockaddr, addr.sockaddr, addr.socklen);
    ngx_destroy_pool(pool);

    conn->master.sockaddr = &conn->master_sockaddr.sockaddr;
    conn->master.socklen = addr.socklen;
    ngx_inet_set_port(conn->master.sockaddr, (in_port_t) port);

    len = ngx_sock_ntop(conn->master.sockaddr, conn->master.socklen,
                        conn->master_text, NGX_SOCKADDR_STRLEN, 1);
    p = conn->master_text;
    conn->master.name.data = p;
    conn->master.name.len = len;

    if (!conn->master_known || conn->failures) {
        ngx_log_error(NGX_LOG_NOTICE, &conn->log, 0,
                      "gov redis: sentinel %V: master \"%V\" is %V",
                      &conn->target->name, &conn->conf->master,
                      &conn->master.name);
    }

    /* off to the master: this connection closes, the next one goes there */

    conn->master_known = 1;
    conn->failures = 0;

    ngx_gov_redis_drop(conn, NGX_GOV_M_REDIS_RECONNECTS);
}


/* ROLE: a master it must be, whatever a sentinel said a moment ago */

static void
ngx_gov_redis_role_handler(redisReply *reply, void *data)
{
    ngx_gov_redis_conn_t  *conn = data;

    if (reply == NULL) {
        return;
    }

    if (reply->type == REDIS_REPLY_ARRAY && reply->elements > 0
        && reply->element[0]->type == REDIS_REPLY_STRING
        && reply->element[0]->len == 6
        && ngx_strncmp(reply->element[0]->str, "master", 6) == 0)
    {
        if (--conn->handshake == 0) {
            ngx_gov_redis_ready(conn);
        }

        return;
    }

    ngx_log_error(NGX_LOG_WARN, &conn->log, 0,
                  "gov redis: %V is not the master of \"%V\" (any more), "
                  "asking the sentinels again", &conn->target->name,
                  &conn->conf->master);

    ngx_gov_redis_drop(conn, NGX_GOV_M_REDIS_ERR_CONNECT);
}


/*
 * A master that turned replica (-READONLY), or one that cannot serve
 * (-LOADING, -MASTERDOWN): with sentinels, the master is found again.
 */

static ngx_uint_t
ngx_gov_redis_not_master(redisReply *reply)
{
    return reply->type == REDIS_REPLY_ERROR
           && ((reply->len >= 8 && ngx_strncmp(reply->str, "READONLY", 8) == 0)
               || (reply->len >= 7 && ngx_strncmp(reply->str, "LOADING", 7)
                                      == 0)
               || (reply->len >= 10
                   && ngx_strncmp(reply->str, "MASTERDOWN", 10) == 0));
}


static void
ngx_gov_redis_handshake_handler(redisReply *reply, void *data)
{
    ngx_uint_t             after;
    ngx_gov_redis_conn_t  *conn = data;

    if (reply == NULL) {
        /* the connection was dropped: already logged */
        return;
    }

    if (reply->type == REDIS_REPLY_ERROR) {
        /* behind SELECT: the PING, and ROLE with sentinels */
        after = 1 + (conn->conf->sentinels ? 1 : 0);

        ngx_log_error(NGX_LOG_ERR, &conn->log, 0,
                      "gov redis: %s to %V refused: \"%*s\"",
                      conn->handshake == after + 1 && conn->conf->db
                      ? "SELECT" : "AUTH",
                      ngx_gov_redis_peer(conn),
                      (size_t) ngx_min(reply->len, 128),
                      reply->str);

        ngx_gov_redis_drop(conn, NGX_GOV_M_REDIS_ERR_AUTH);
        return;
    }

    if (--conn->handshake == 0) {
        ngx_gov_redis_ready(conn);
    }
}


/* a command of one word in the handshake, "handler" hearing its reply */

static ngx_int_t
ngx_gov_redis_handshake_word(ngx_gov_redis_conn_t *conn, const char *word,
    ngx_gov_redis_handler_pt handler)
{
    size_t       len;
    const char  *argv[1];

    argv[0] = word;
    len = ngx_strlen(word);

    if (ngx_gov_redis_append(conn, handler, conn, NULL, 1, argv, &len)
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    conn->handshake++;

    return NGX_OK;
}


/*
 * The handshake's PING.  -LOADING: Redis is up but still reading its data
 * (a restart with an append-only file); the commands held behind the
 * handshake wait, and a PING goes again in 100 ms.
 */

static void
ngx_gov_redis_gate_handler(redisReply *reply, void *data)
{
    ngx_gov_redis_conn_t  *conn = data;

    if (reply == NULL) {
        return;
    }

    if (reply->type == REDIS_REPLY_ERROR
        && reply->len >= 7 && ngx_strncmp(reply->str, "LOADING", 7) == 0)
    {
        if (!conn->loading) {
            ngx_log_error(NGX_LOG_NOTICE, &conn->log, 0,
                          "gov redis: %V is loading its data, the "
                          "commands wait", ngx_gov_redis_peer(conn));
            conn->loading = 1;
        }

        ngx_add_timer(&conn->gate_ev, NGX_GOV_REDIS_LOADING_WAIT);
        return;
    }

    if (reply->type == REDIS_REPLY_ERROR) {
        ngx_log_error(NGX_LOG_ERR, &conn->log, 0,
                      "gov redis: PING to %V refused: \"%*s\"",
                      ngx_gov_redis_peer(conn),
                      (size_t) ngx_min(reply->len, 128), reply->str);

        ngx_gov_redis_drop(conn, NGX_GOV_M_REDIS_ERR_AUTH);
        return;
    }

    if (--conn->handshake == 0) {
        ngx_gov_redis_ready(conn);
    }
}


/* a PING again, before the commands held (none of them is sent yet) */

static void
ngx_gov_redis_gate_again(ngx_event_t *ev)
{
    u_char                *p;
    size_t                 held, size;
    ngx_gov_redis_cmd_t   *cmd, *first;
    ngx_gov_redis_conn_t  *conn;

    static const char      ping[] = "*1\r\n$4\r\nPING\r\n";

    conn = ev->data;

    if (conn->state != NGX_GOV_REDIS_HANDSHAKE) {
        return;
    }

    cmd = ngx_gov_redis_cmd_alloc();
    if (cmd == NULL) {
        ngx_gov_redis_drop(conn, NGX_GOV_M_REDIS_ERR_CLOSED);
        return;
    }

    held = conn->out_len - conn->out_sent;

    if (conn->out_sent >= sizeof(ping) - 1) {
        conn->out_sent -= sizeof(ping) - 1;

    } else {
        size = ngx_max(conn->out_size, NGX_GOV_REDIS_BUF_MIN);

        while (size < held + sizeof(ping) - 1) {
            size *= 2;
        }

        p = ngx_alloc(size, &conn->log);
        if (p == NULL) {
            ngx_gov_redis_cmd_free(cmd);
            ngx_gov_redis_drop(conn, NGX_GOV_M_REDIS_ERR_CLOSED);
            return;
        }

        if (conn->out) {
            ngx_memcpy(p + sizeof(ping) - 1, conn->out + conn->out_sent,
                       held);
            ngx_free(conn->out);
        }

        conn->out = p;
        conn->out_size = size;
        conn->out_sent = 0;
        conn->out_len = held + sizeof(ping) - 1;
    }

    ngx_memcpy(conn->out + conn->out_sent, ping, sizeof(ping) - 1);
    conn->hs_left = sizeof(ping) - 1;

    /* the held commands' own deadline still counts */

    cmd->handler = ngx_gov_redis_gate_handler;
    cmd->data = conn;
    cmd->owner = NULL;
    cmd->deadline = ngx_current_msec + conn->conf->timeout;

    if (!ngx_queue_empty(&conn->pending)) {
        first = ngx_queue_data(ngx_queue_head(&conn->pending),
                               ngx_gov_redis_cmd_t, queue);

        if ((ngx_msec_int_t) (first->deadline - cmd->deadline) < 0) {
            cmd->deadline = first->deadline;
        }
    }

    ngx_queue_insert_head(&conn->pending, &cmd->queue);
    conn->npending++;

    cmd->own = 1;
    conn->nown++;

    ngx_gov_redis_arm(conn);
    ngx_gov_redis_flush(conn);
}


/*
 * A connection waiting to reconnect, asked for by a command: it tries now
 * (Redis may be back) unless it tried within the backoff base.
 */

static ngx_uint_t
ngx_gov_redis_wake(ngx_gov_redis_conn_t *conn)
{
    if (conn->state != NGX_GOV_REDIS_DOWN
        || !conn->reconnect_ev.timer_set
        || conn->watch
        || ngx_current_msec - conn->attempted < conn->conf->backoff_base)
    {
        return 0;
    }

    ngx_del_timer(&conn->reconnect_ev);

    ngx_gov_metrics_inc(NGX_GOV_M_REDIS_RECONNECTS);

    ngx_gov_redis_connect(conn);

    if (conn->state == NGX_GOV_REDIS_DOWN) {
        /* refused at once */
        return 0;
    }

    return 1;
}


void
ngx_gov_redis_script(const char *text, size_t len)
{
    u_char                   md[EVP_MAX_MD_SIZE];
    ngx_uint_t               i;
    ngx_gov_redis_script_t  *s;

    for (i = 0; i < ngx_gov_redis_nscripts; i++) {
        if (ngx_gov_redis_scripts[i].text == text) {
            return;
        }
    }

    if (ngx_gov_redis_nscripts == NGX_GOV_REDIS_SCRIPTS) {
        return;
    }

    s = &ngx_gov_redis_scripts[ngx_gov_redis_nscripts];

    if (EVP_Digest(text, len, md, NULL, EVP_sha1(), NULL) != 1) {
        return;
    }

    (void) ngx_hex_dump((u_char *) s->sha, md, 20);
    s->text = text;
    s->len = len;

    ngx_gov_redis_nscripts++;
}


/*
 * EVAL of a registered script: whole the first time on a connection (Redis
 * keeps it), by its SHA1 after that.  Commands on a connection run in
 * order, so the EVALSHA never comes before the EVAL that taught it; a
 * new connection, or a NOSCRIPT answer, starts over.
 */

static ngx_int_t
ngx_gov_redis_append_eval(ngx_gov_redis_conn_t *conn,
    ngx_gov_redis_handler_pt handler, void *data, ngx_gov_redis_cmd_t **owner,
    int argc, const char **argv, const size_t *argvlen)
{
    int                      k;
    size_t                  *lens, stack_lens[NGX_GOV_REDIS_ARGS];
    ngx_int_t                rc;
    ngx_uint_t               i;
    const char             **args, *stack_args[NGX_GOV_REDIS_ARGS];
    ngx_gov_redis_script_t  *s;

    for (i = 0; i < ngx_gov_redis_nscripts; i++) {
        s = &ngx_gov_redis_scripts[i];

        if (s->text == argv[1] && s->len == argvlen[1]) {
            break;
        }
    }

    if (i == ngx_gov_redis_nscripts || !(conn->scripts & (1u << i))) {
        if (i < ngx_gov_redis_nscripts) {
            conn->scripts |= 1u << i;
        }

        return ngx_gov_redis_append_argv(conn, handler, data, owner, argc,
                                         argv, argvlen, 0);
    }

    if (argc <= NGX_GOV_REDIS_ARGS) {
        args = stack_args;
        lens = stack_lens;

    } else {
        args = ngx_alloc(argc * (sizeof(char *) + sizeof(size_t)),
                         &conn->log);
        if (args == NULL) {
            return NGX_ERROR;
        }

        lens = (size_t *) (args + argc);
    }

    args[0] = "EVALSHA";
    lens[0] = 7;
    args[1] = s->sha;
    lens[1] = 40;

    for (k = 2; k < argc; k++) {
        args[k] = argv[k];
        lens[k] = argvlen[k];
    }

    /* its bytes are kept: if Redis answers NOSCRIPT, they go again */

    rc = ngx_gov_redis_append_argv(conn, handler, data, owner, argc, args,
                                   lens, i + 1);

    if (args != stack_args) {
        ngx_free(args);
    }

    return rc;
}


static ngx_int_t
ngx_gov_redis_append(ngx_gov_redis_conn_t *conn,
    ngx_gov_redis_handler_pt handler, void *data, ngx_gov_redis_cmd_t **owner,
    int argc, const char **argv, const size_t *argvlen)
{
    if (argc >= 2 && argvlen[0] == 4 && ngx_strncmp(argv[0], "EVAL", 4) == 0) {
        return ngx_gov_redis_append_eval(conn, handler, data, owner, argc,
                                         argv, argvlen);
    }

    return ngx_gov_redis_append_argv(conn, handler, data, owner, argc, argv,
                                     argvlen, 0);
}


static ngx_int_t
ngx_gov_redis_append_argv(ngx_gov_redis_conn_t *conn,
    ngx_gov_redis_handler_pt handler, void *data, ngx_gov_redis_cmd_t **owner,
    int argc, const char **argv, const size_t *argvlen, ngx_uint_t script)
{
    int                   len;
    char                 *cmdbuf;
    ngx_gov_redis_cmd_t  *cmd;

    len = redisFormatCommandArgv(&cmdbuf, argc, argv, argvlen);
    if (len < 0) {
        ngx_log_error(NGX_LOG_ALERT, &conn->log, 0,
                      "gov redis: redisFormatCommandArgv() failed");
        return NGX_ERROR;
    }

    cmd = ngx_gov_redis_append_bytes(conn, handler, data, owner, cmdbuf, len);
    if (cmd == NULL) {
        redisFreeCommand(cmdbuf);
        return NGX_ERROR;
    }

    if (script) {
        /* an EVALSHA keeps its bytes for a NOSCRIPT answer */
        cmd->eval = cmdbuf;
        cmd->eval_len = len;
        cmd->script = script - 1;

    } else {
        redisFreeCommand(cmdbuf);
    }

    return NGX_OK;
}


/* a command already formatted (a unit's part): out as it is */

static ngx_gov_redis_cmd_t *
ngx_gov_redis_append_bytes(ngx_gov_redis_conn_t *conn,
    ngx_gov_redis_handler_pt handler, void *data, ngx_gov_redis_cmd_t **owner,
    char *bytes, size_t len)
{
    ngx_gov_redis_cmd_t  *cmd;

    cmd = ngx_gov_redis_cmd_alloc();
    if (cmd == NULL) {
        return NULL;
    }

    if (ngx_gov_redis_out(conn, bytes, len) != NGX_OK) {
        ngx_gov_redis_cmd_free(cmd);
        return NULL;
    }

    cmd->handler = handler;
    cmd->data = data;
    cmd->owner = owner;
    cmd->deadline = ngx_current_msec + conn->conf->timeout;

    if (owner) {
        *owner = cmd;
    }

    ngx_gov_redis_queue(conn, cmd);

    return cmd;
}


/* "cmd" waits for its reply, last in line, its bytes about to be sent */

static void
ngx_gov_redis_queue(ngx_gov_redis_conn_t *conn, ngx_gov_redis_cmd_t *cmd)
{
    ngx_queue_insert_tail(&conn->pending, &cmd->queue);

    cmd->own = conn->owning;
    conn->nown += cmd->own;

    if (!conn->watch && !cmd->own) {
        ngx_gov_metrics_inc(NGX_GOV_M_REDIS_COMMANDS);
        ngx_gov_metrics_gauge(NGX_GOV_G_REDIS_PENDING, 1);
    }

    if (++conn->npending == 1) {
        ngx_gov_redis_arm(conn);
    }

    if (conn->state >= NGX_GOV_REDIS_HANDSHAKE && !conn->flush_ev.posted) {
        ngx_post_event(&conn->flush_ev, &ngx_posted_events);
    }
}


/* "len" bytes of commands to send, after those not yet sent */

static ngx_int_t
ngx_gov_redis_out(ngx_gov_redis_conn_t *conn, const char *bytes, size_t len)
{
    u_char  *p;
    size_t   size, need;

    if (conn->out_sent && conn->out_sent == conn->out_len) {
        conn->out_sent = 0;
        conn->out_len = 0;
    }

    need = conn->out_len + len;

    if (need > conn->out_size) {

        size = ngx_max(conn->out_size * 2, NGX_GOV_REDIS_BUF_MIN);

        while (size < need - conn->out_sent) {
            size *= 2;
        }

        p = ngx_alloc(size, &conn->log);
        if (p == NULL) {
            return NGX_ERROR;
        }

        if (conn->out) {
            ngx_memcpy(p, conn->out + conn->out_sent,
                       conn->out_len - conn->out_sent);
            ngx_free(conn->out);
        }

        conn->out = p;
        conn->out_size = size;
        conn->out_len -= conn->out_sent;
        conn->out_sent = 0;
    }

    ngx_memcpy(conn->out + conn->out_len, bytes, len);
    conn->out_len += len;

    return NGX_OK;
}


static void
ngx_gov_redis_flush_handler(ngx_event_t *ev)
{
    ngx_gov_redis_flush(ev->data);
}


static void
ngx_gov_redis_flush(ngx_gov_redis_conn_t *conn)
{
    size_t             end;
    ssize_t            n;
    ngx_uint_t         wrote;
    ngx_connection_t  *c;

    if (conn->state < NGX_GOV_REDIS_HANDSHAKE) {
        return;
    }

    c = conn->connection;
    wrote = 0;

    /* while the handshake is not answered, only its own bytes go */

    end = (conn->state == NGX_GOV_REDIS_HANDSHAKE && conn->gated)
          ? conn->out_sent + conn->hs_left : conn->out_len;

    while (conn->out_sent < end) {

        n = c->send(c, conn->out + conn->out_sent, end - conn->out_sent);

        if (n == NGX_ERROR) {
            ngx_log_error(NGX_LOG_ERR, &conn->log, 0,
                          "gov redis: write to %V failed, %ui commands "
                          "failed", ngx_gov_redis_peer(conn), conn->npending);
            ngx_gov_redis_drop(conn, NGX_GOV_M_REDIS_ERR_CLOSED);
            return;
        }

        if (n == NGX_AGAIN || n == 0) {
            break;
        }

        conn->out_sent += n;
        conn->hs_left -= ngx_min((size_t) n, conn->hs_left);
        wrote = 1;
    }

    if (wrote) {
        ngx_gov_metrics_inc(NGX_GOV_M_REDIS_WRITES);
    }

    if (conn->out_sent == conn->out_len) {
        conn->out_sent = 0;
        conn->out_len = 0;
    }

    if (ngx_handle_write_event(c->write, 0) != NGX_OK) {
        ngx_gov_redis_drop(conn, NGX_GOV_M_REDIS_ERR_CLOSED);
    }
}


static void
ngx_gov_redis_write_handler(ngx_event_t *wev)
{
    ngx_connection_t      *c;
    ngx_gov_redis_conn_t  *conn;

    c = wev->data;
    conn = c->data;

    if (conn->state == NGX_GOV_REDIS_CONNECTING) {
        if (ngx_gov_redis_test_connect(conn) != NGX_OK) {
            ngx_gov_redis_drop(conn, NGX_GOV_M_REDIS_ERR_CONNECT);
            return;
        }

        ngx_gov_redis_connected(conn);
        return;
    }

    ngx_gov_redis_flush(conn);
}


static void
ngx_gov_redis_read_handler(ngx_event_t *rev)
{
    u_char                 buf[16384];
    void                  *reply;
    ssize_t                n;
    ngx_uint_t             generation;
    ngx_connection_t      *c;
    ngx_gov_redis_conn_t  *conn;

    c = rev->data;
    conn = c->data;

    if (conn->state == NGX_GOV_REDIS_CONNECTING) {
        if (ngx_gov_redis_test_connect(conn) != NGX_OK) {
            ngx_gov_redis_drop(conn, NGX_GOV_M_REDIS_ERR_CONNECT);
            return;
        }

        ngx_gov_redis_connected(conn);

        if (conn->state == NGX_GOV_REDIS_DOWN) {
            return;
        }
    }

    generation = conn->generation;

    for ( ;; ) {
        n = c->recv(c, buf, sizeof(buf));

        if (n == NGX_AGAIN) {
            break;
        }

        if (n == 0 || n == NGX_ERROR) {
            ngx_log_error(NGX_LOG_ERR, &conn->log, 0,
                          "gov redis: connection to %V %s, %ui commands "
                          "failed", ngx_gov_redis_peer(conn),
                          n == 0 ? "closed by Redis" : "failed",
                          conn->npending);
            ngx_gov_redis_drop(conn, NGX_GOV_M_REDIS_ERR_CLOSED);
            return;
        }

        if (redisReaderFeed(conn->reader, (const char *) buf, n)
            != REDIS_OK)
        {
            ngx_log_error(NGX_LOG_ERR, &conn->log, 0,
                          "gov redis: cannot parse reply from %V",
                          ngx_gov_redis_peer(conn));
            ngx_gov_redis_drop(conn, NGX_GOV_M_REDIS_ERR_PROTOCOL);
            return;
        }

        for ( ;; ) {
            reply = NULL;

            if (redisReaderGetReply(conn->reader, &reply) != REDIS_OK) {
                ngx_log_error(NGX_LOG_ERR, &conn->log, 0,
                              "gov redis: protocol error from %V: %s",
                              ngx_gov_redis_peer(conn), conn->reader->errstr);
                ngx_gov_redis_drop(conn, NGX_GOV_M_REDIS_ERR_PROTOCOL);
                return;
            }

            if (reply == NULL) {
                break;
            }

            ngx_gov_redis_dispatch(conn, reply);

            if (conn->generation != generation) {
                /* a handler or the dispatch dropped the connection */
                return;
            }
        }
    }

    if (ngx_handle_read_event(rev, 0) != NGX_OK) {
        ngx_gov_redis_drop(conn, NGX_GOV_M_REDIS_ERR_CLOSED);
    }
}


static void
ngx_gov_redis_dispatch(ngx_gov_redis_conn_t *conn, redisReply *reply)
{
    void                      *data;
    ngx_queue_t               *q;
    ngx_gov_redis_cmd_t       *cmd;
    ngx_gov_redis_handler_pt   handler;

    if (conn->subscribed && ngx_gov_redis_watch_message(reply)) {
        freeReplyObject(reply);
        return;
    }

    if (ngx_queue_empty(&conn->pending)) {
        freeReplyObject(reply);
        ngx_log_error(NGX_LOG_ERR, &conn->log, 0,
                      "gov redis: unexpected reply from %V",
                      ngx_gov_redis_peer(conn));
        ngx_gov_redis_drop(conn, NGX_GOV_M_REDIS_ERR_PROTOCOL);
        return;
    }

    q = ngx_queue_head(&conn->pending);
    ngx_queue_remove(q);
    cmd = ngx_queue_data(q, ngx_gov_redis_cmd_t, queue);

    conn->npending--;

    if (cmd->own) {
        conn->nown--;

    } else if (!conn->watch) {
        ngx_gov_metrics_gauge(NGX_GOV_G_REDIS_PENDING, -1);
    }

    if (reply->type == REDIS_REPLY_ERROR
        && reply->len >= 8 && ngx_strncmp(reply->str, "NOSCRIPT", 8) == 0)
    {
        /* the scripts were flushed: each is sent whole again */
        conn->scripts = 0;

        if (ngx_gov_redis_resend(conn, cmd)) {
            freeReplyObject(reply);
            return;
        }
    }

    if (cmd->unit && ngx_gov_redis_unit_reply(conn, cmd, reply)) {
        freeReplyObject(reply);
        return;
    }

    if (reply->type == REDIS_REPLY_ERROR) {
        ngx_gov_metrics_inc(NGX_GOV_M_REDIS_ERR_REPLY);
    }

    if (cmd->owner) {
        *cmd->owner = NULL;
    }

    handler = cmd->handler;
    data = cmd->data;

    ngx_gov_redis_cmd_free(cmd);

    if (handler != ngx_gov_redis_gate_handler
        && ngx_gov_redis_not_master(reply))
    {
        /* the command failed as if Redis were down; the master is sought */
        ngx_log_error(NGX_LOG_WARN, &conn->log, 0,
                      "gov redis: %V answered \"%*s\", reconnecting",
                      &conn->target->name,
                      (size_t) ngx_min(reply->len, 64), reply->str);
        freeReplyObject(reply);

        if (handler) {
            handler(NULL, data);
        }

        ngx_gov_redis_drop(conn, NGX_GOV_M_REDIS_ERR_CLOSED);
        return;
    }

    if (conn->npending == 0 && conn->timer_ev.timer_set
        && conn->state != NGX_GOV_REDIS_CONNECTING)
    {
        ngx_del_timer(&conn->timer_ev);
    }

    if (handler) {
        handler(reply, data);
    }

    if (ngx_gov_redis_kept) {
        ngx_gov_redis_kept = 0;
        return;
    }

    freeReplyObject(reply);
}


/*
 * An EVALSHA Redis did not know (its scripts were flushed): the script is
 * loaded, and the same EVALSHA follows it, at the end of the line.
 */

static ngx_uint_t
ngx_gov_redis_resend(ngx_gov_redis_conn_t *conn, ngx_gov_redis_cmd_t *cmd)
{
    int                      len;
    char                    *load, *eval;
    ngx_gov_redis_cmd_t     *lc;
    ngx_gov_redis_script_t  *s;

    if (cmd->eval == NULL) {
        return 0;
    }

    if (cmd->unit && cmd->member + 1 < cmd->unit->n) {
        /* behind its leader now: no longer part of the unit */
        cmd->unit = NULL;
    }

    s = &ngx_gov_redis_scripts[cmd->script];

    len = redisFormatCommand(&load, "SCRIPT LOAD %b", s->text, s->len);
    if (len < 0) {
        return 0;
    }

    lc = ngx_gov_redis_cmd_alloc();

    if (lc == NULL || ngx_gov_redis_out(conn, load, len) != NGX_OK) {
        redisFreeCommand(load);

        if (lc) {
            ngx_gov_redis_cmd_free(lc);
        }

        return 0;
    }

    redisFreeCommand(load);

    /* the load's answer goes to no one */

    lc->handler = NULL;
    lc->data = NULL;
    lc->owner = NULL;
    lc->deadline = cmd->deadline;
    ngx_gov_redis_queue(conn, lc);

    if (ngx_gov_redis_out(conn, cmd->eval, cmd->eval_len) != NGX_OK) {
        return 0;
    }

    eval = cmd->eval;
    cmd->eval = NULL;
    redisFreeCommand(eval);

    conn->scripts |= 1u << cmd->script;

    ngx_log_error(NGX_LOG_INFO, &conn->log, 0,
                  "gov redis: %V forgot a script, loaded it again",
                  ngx_gov_redis_peer(conn));

    ngx_gov_redis_queue(conn, cmd);

    return 1;
}


static void
ngx_gov_redis_arm(ngx_gov_redis_conn_t *conn)
{
    ngx_msec_t            next;
    ngx_uint_t            set;
    ngx_msec_int_t        delta;
    ngx_gov_redis_cmd_t  *cmd;

    set = 0;
    next = 0;

    if (conn->state == NGX_GOV_REDIS_CONNECTING) {
        next = conn->connect_deadline;
        set = 1;
    }

    if (!ngx_queue_empty(&conn->pending)) {
        cmd = ngx_queue_data(ngx_queue_head(&conn->pending),
                             ngx_gov_redis_cmd_t, queue);

        if (!set || (ngx_msec_int_t) (cmd->deadline - next) < 0) {
            next = cmd->deadline;
        }

        set = 1;
    }

    if (!set) {
        if (conn->timer_ev.timer_set) {
            ngx_del_timer(&conn->timer_ev);
        }

        return;
    }

    delta = (ngx_msec_int_t) (next - ngx_current_msec);

    ngx_add_timer(&conn->timer_ev, delta > 0 ? (ngx_msec_t) delta : 1);
}


static void
ngx_gov_redis_timer_handler(ngx_event_t *ev)
{
    ngx_uint_t             level;
    ngx_gov_redis_cmd_t   *cmd;
    ngx_gov_redis_conn_t  *conn;

    conn = ev->data;

    if (conn->state == NGX_GOV_REDIS_CONNECTING
        && (ngx_msec_int_t) (conn->connect_deadline - ngx_current_msec) <= 0)
    {
        level = conn->failures ? NGX_LOG_INFO : NGX_LOG_ERR;

        ngx_log_error(level, &conn->log, NGX_ETIMEDOUT,
                      "gov redis: connect() to %V timed out",
                      ngx_gov_redis_peer(conn));
        conn->timing_out = 1;
        ngx_gov_redis_drop(conn, NGX_GOV_M_REDIS_ERR_CONNECT);
        return;
    }

    if (!ngx_queue_empty(&conn->pending)) {
        cmd = ngx_queue_data(ngx_queue_head(&conn->pending),
                             ngx_gov_redis_cmd_t, queue);

        if ((ngx_msec_int_t) (cmd->deadline - ngx_current_msec) <= 0) {
            ngx_log_error(NGX_LOG_ERR, &conn->log, 0,
                          "gov redis: no reply from %V within %Mms%s, "
                          "dropping the connection, %ui commands failed",
                          ngx_gov_redis_peer(conn), conn->conf->timeout,
                          conn->loading ? " (still loading its data)" : "",
                          conn->npending);
            conn->timing_out = !conn->loading;
            ngx_gov_redis_drop(conn, NGX_GOV_M_REDIS_ERR_TIMEOUT);
            return;
        }
    }

    ngx_gov_redis_arm(conn);
}


static void
ngx_gov_redis_reconnect_handler(ngx_event_t *ev)
{
    ngx_gov_redis_conn_t  *conn;

    conn = ev->data;

    if (ngx_exiting || ngx_quit || ngx_terminate) {
        return;
    }

    ngx_gov_metrics_inc(NGX_GOV_M_REDIS_RECONNECTS);

    ngx_gov_redis_connect(conn);
}


static void
ngx_gov_redis_drop(ngx_gov_redis_conn_t *conn, ngx_uint_t counter)
{
    ngx_msec_t    delay;
    ngx_queue_t   failed, *q;

    if (conn->watch) {
        conn->subscribed = 0;
        ngx_gov_redis_watch_lost();

    } else if (conn->state == NGX_GOV_REDIS_READY) {
        ngx_gov_metrics_gauge(NGX_GOV_G_REDIS_CONNECTED, -1);
    }

    conn->state = NGX_GOV_REDIS_DOWN;
    conn->generation++;
    conn->handshake = 0;
    conn->hs_left = 0;
    conn->gated = 0;
    conn->scripts = 0;

    /* what the next attempt's commands go by: this failure, not an older */
    conn->timed_out = conn->timing_out;
    conn->timing_out = 0;

    if (conn->gate_ev.timer_set) {
        ngx_del_timer(&conn->gate_ev);
    }

    if (conn->asking) {
        if (!conn->master_known) {
            /* that sentinel could not say: the next one is asked */
            conn->sentinel++;
        }

    } else if (conn->conf->sentinels) {
        /* every lost connection to a master finds the master again */
        conn->master_known = 0;
    }

    ngx_gov_metrics_inc(counter);

    if (conn->connection) {
        ngx_close_connection(conn->connection);
        conn->connection = NULL;
    }

    if (conn->reader) {
        redisReaderFree(conn->reader);
        conn->reader = NULL;
    }

    conn->out_len = 0;
    conn->out_sent = 0;

    if (conn->flush_ev.posted) {
        ngx_delete_posted_event(&conn->flush_ev);
    }

    if (conn->timer_ev.timer_set) {
        ngx_del_timer(&conn->timer_ev);
    }

    ngx_queue_init(&failed);

    if (!ngx_queue_empty(&conn->pending)) {
        ngx_queue_add(&failed, &conn->pending);
        ngx_queue_init(&conn->pending);
    }

    if (!conn->watch) {
        ngx_gov_metrics_gauge(NGX_GOV_G_REDIS_PENDING,
                              -(ngx_atomic_int_t) (conn->npending
                                                   - conn->nown));
    }

    conn->npending = 0;
    conn->nown = 0;

    if (conn->node) {
        /* a master lost: the map may have changed (a failover) */
        ngx_gov_redis_map();
    }

    if (!ngx_exiting && !ngx_quit && !ngx_terminate
        && !conn->reconnect_ev.timer_set
        && !(conn->watch && ngx_gov_redis_watch_refused)
        && (conn->node == NULL || conn->node->in_map
            || !ngx_gov_redis_mapped))
    {
        delay = (ngx_msec_t) gov_backoff_delay(conn->failures,
                                               conn->conf->backoff_base,
                                               conn->conf->backoff_max,
                                               (uint32_t) ngx_random());
        conn->failures++;

        ngx_add_timer(&conn->reconnect_ev, delay);
    }

    /*
     * Handlers run last, with the connection already marked down: a
     * handler that sends a new command is refused at once.
     */

    while (!ngx_queue_empty(&failed)) {
        q = ngx_queue_head(&failed);
        ngx_queue_remove(q);

        ngx_gov_redis_fail(ngx_queue_data(q, ngx_gov_redis_cmd_t, queue));
    }
}


/* a command that gets no reply: freed, then its handler hears NULL */

static void
ngx_gov_redis_fail(ngx_gov_redis_cmd_t *cmd)
{
    void                      *data;
    ngx_gov_redis_handler_pt   handler;

    if (cmd->owner) {
        *cmd->owner = NULL;
    }

    handler = cmd->handler;
    data = cmd->data;

    ngx_gov_redis_cmd_free(cmd);

    if (handler) {
        handler(NULL, data);
    }
}


/*
 * Redis Cluster: sending a unit to the master of its slot.  Every keyed
 * command of a unit must hash to one slot (the key layout makes sure of
 * it); one that does not is a bug, refused and logged.
 */

static ngx_int_t
ngx_gov_redis_cluster_send(ngx_log_t *log, ngx_uint_t n,
    ngx_gov_redis_args_t *cmds, ngx_gov_redis_handler_pt *handlers,
    void **datas, ngx_gov_redis_cmd_t **owner)
{
    int                    len, key;
    ngx_int_t              slot, s, rc;
    ngx_uint_t             i;
    ngx_queue_t           *q;
    ngx_gov_redis_cmd_t   *cmd, *appended[NGX_GOV_REDIS_ARGS];
    ngx_gov_redis_conn_t  *conn;
    ngx_gov_redis_unit_t  *unit;

    slot = -1;

    for (i = 0; i < n; i++) {
        key = gov_slot_key_index(cmds[i].argc, cmds[i].argv,
                                 cmds[i].argvlen);
        if (key < 0) {
            continue;
        }

        s = gov_slot_of(cmds[i].argv[key], cmds[i].argvlen[key]);

        if (slot != -1 && s != slot) {
            ngx_log_error(NGX_LOG_ALERT, log, 0,
                          "gov redis: commands sent together hash to "
                          "slots %i and %i (key \"%*s\")", slot, s,
                          cmds[i].argvlen[key], cmds[i].argv[key]);
            return NGX_ERROR;
        }

        slot = s;
    }

    conn = ngx_gov_redis_route(slot);
    if (conn == NULL) {
        ngx_log_debug1(NGX_LOG_DEBUG_HTTP, log, 0,
                       "gov redis: no master reachable for slot %i", slot);
        return NGX_DECLINED;
    }

    unit = ngx_calloc(sizeof(ngx_gov_redis_unit_t)
                      + (n - 1) * sizeof(ngx_gov_redis_part_t), log);
    if (unit == NULL) {
        return NGX_ERROR;
    }

    unit->n = n;
    unit->slot = slot;
    unit->multi = (cmds[0].argc == 1 && cmds[0].argvlen[0] == 5
                   && ngx_strncasecmp((u_char *) cmds[0].argv[0],
                                      (u_char *) "MULTI", 5) == 0);
    unit->until = ngx_current_msec + ngx_gov_redis_conf->timeout;

    for (i = 0; i < n; i++) {
        len = redisFormatCommandArgv(&unit->part[i].bytes, cmds[i].argc,
                                     cmds[i].argv, cmds[i].argvlen);
        if (len < 0) {
            unit->n = i;
            ngx_gov_redis_unit_free(unit);
            return NGX_ERROR;
        }

        unit->part[i].len = len;
        unit->part[i].handler = handlers[i];
        unit->part[i].data = datas[i];
    }

    /* appends are synchronous: the commands stay back to back */

    for (i = 0; i < n; i++) {

        /* formatted once: only an EVAL may go shorter, as EVALSHA */

        if (cmds[i].argc >= 2 && cmds[i].argvlen[0] == 4
            && ngx_strncmp(cmds[i].argv[0], "EVAL", 4) == 0)
        {
            rc = ngx_gov_redis_append(conn, handlers[i], datas[i],
                                      i + 1 == n ? owner : NULL,
                                      cmds[i].argc, cmds[i].argv,
                                      cmds[i].argvlen);

        } else {
            rc = ngx_gov_redis_append_bytes(conn, handlers[i], datas[i],
                                            i + 1 == n ? owner : NULL,
                                            unit->part[i].bytes,
                                            unit->part[i].len)
                 ? NGX_OK : NGX_ERROR;
        }

        if (rc != NGX_OK) {
            /* those already in line go out, and tell nobody */

            while (i--) {
                appended[i]->handler = NULL;
                appended[i]->data = NULL;
                appended[i]->unit = NULL;
            }

            ngx_gov_redis_unit_free(unit);
            return NGX_ERROR;
        }

        q = ngx_queue_last(&conn->pending);
        cmd = ngx_queue_data(q, ngx_gov_redis_cmd_t, queue);
        cmd->unit = unit;
        cmd->member = i;
        appended[i] = cmd;
    }

    return NGX_OK;
}


/* a connection to the master of "slot"; any master when it is not known */

static ngx_gov_redis_conn_t *
ngx_gov_redis_route(ngx_int_t slot)
{
    ngx_gov_redis_node_t  *node;

    if (!ngx_gov_redis_mapped || ngx_gov_redis_not_cluster) {
        /* nothing goes to a server before it said it is a cluster node */
        return NULL;
    }

    if (slot >= 0 && ngx_gov_redis_slots[slot]) {
        node = ngx_gov_redis_nodes[ngx_gov_redis_slots[slot] - 1];
        return ngx_gov_redis_node_conn(node);
    }

    return ngx_gov_redis_any();
}


/* a master that answers, else any node: it says MOVED if it is not one */

static ngx_gov_redis_conn_t *
ngx_gov_redis_any(void)
{
    ngx_uint_t             i, pass;
    ngx_gov_redis_conn_t  *conn;
    ngx_gov_redis_node_t  *node;

    for (pass = 0; pass < 2; pass++) {
        for (i = 0; i < ngx_gov_redis_nnodes; i++) {
            node = ngx_gov_redis_nodes[ngx_gov_redis_next++
                                       % ngx_gov_redis_nnodes];

            if (pass == 0 && !node->in_map) {
                continue;
            }

            conn = ngx_gov_redis_node_conn(node);
            if (conn) {
                return conn;
            }
        }
    }

    return NULL;
}


static ngx_gov_redis_conn_t *
ngx_gov_redis_node_conn(ngx_gov_redis_node_t *node)
{
    ngx_uint_t             i, n;
    ngx_gov_redis_conn_t  *conn;

    n = ngx_gov_redis_conf->connections;

    for (i = 0; i < n; i++) {
        conn = &node->conns[(node->next + i) % n];

        if (ngx_gov_redis_accepts(conn)) {
            node->next = (node->next + i + 1) % n;
            return conn;
        }
    }

    return NULL;
}


/*
 * The node at "addr" (a seed) or at the "HOST:PORT" text a reply gave,
 * found or added; its connections are opened when it is added.
 */

static ngx_gov_redis_node_t *
ngx_gov_redis_node(ngx_log_t *log, ngx_addr_t *addr, u_char *text,
    size_t len)
{
    size_t                 tlen;
    u_char                 buf[NGX_SOCKADDR_STRLEN];
    ngx_uint_t             i;
    ngx_addr_t             a;
    ngx_pool_t            *pool;
    ngx_gov_redis_node_t  *node;

    pool = NULL;

    if (addr == NULL) {
        pool = ngx_create_pool(512, log);
        if (pool == NULL) {
            return NULL;
        }

        if (ngx_parse_addr_port(pool, &a, text, len) != NGX_OK
            || a.socklen > sizeof(ngx_sockaddr_t)
            || ngx_inet_get_port(a.sockaddr) == 0)
        {
            ngx_log_error(NGX_LOG_ERR, log, 0,
                          "gov redis: a cluster node's address \"%*s\" "
                          "is not usable", len, text);
            ngx_destroy_pool(pool);
            return NULL;
        }

        addr = &a;
    }

    tlen = ngx_sock_ntop(addr->sockaddr, addr->socklen, buf,
                         NGX_SOCKADDR_STRLEN, 1);

    for (i = 0; i < ngx_gov_redis_nnodes; i++) {
        node = ngx_gov_redis_nodes[i];

        if (node->addr.name.len == tlen
            && ngx_strncmp(node->text, buf, tlen) == 0)
        {
            if (pool) {
                ngx_destroy_pool(pool);
            }

            return node;
        }
    }

    if (ngx_gov_redis_nnodes == NGX_GOV_REDIS_NODES) {
        ngx_log_error(NGX_LOG_ERR, log, 0,
                      "gov redis: more than %d cluster masters, \"%*s\" "
                      "is not used", NGX_GOV_REDIS_NODES, tlen, buf);
        if (pool) {
            ngx_destroy_pool(pool);
        }

        return NULL;
    }

    node = ngx_calloc(sizeof(ngx_gov_redis_node_t), log);
    if (node == NULL) {
        if (pool) {
            ngx_destroy_pool(pool);
        }

        return NULL;
    }

    node->conns = ngx_calloc(ngx_gov_redis_conf->connections
                             * sizeof(ngx_gov_redis_conn_t), log);
    if (node->conns == NULL) {
        ngx_free(node);
        if (pool) {
            ngx_destroy_pool(pool);
        }

        return NULL;
    }

    ngx_memcpy(&node->sockaddr, addr->sockaddr, addr->socklen);
    node->addr.sockaddr = &node->sockaddr.sockaddr;
    node->addr.socklen = addr->socklen;
    ngx_memcpy(node->text, buf, tlen);
    node->addr.name.data = node->text;
    node->addr.name.len = tlen;

    if (pool) {
        ngx_destroy_pool(pool);
    }

    ngx_gov_redis_nodes[ngx_gov_redis_nnodes++] = node;

    for (i = 0; i < ngx_gov_redis_conf->connections; i++) {
        (void) ngx_gov_redis_conn_init(&node->conns[i], ngx_gov_redis_conf,
                                       log);
        node->conns[i].node = node;
    }

    ngx_gov_redis_node_wake(node);

    return node;
}


/* connections of a node that were let go (not in the map) open again */

static void
ngx_gov_redis_node_wake(ngx_gov_redis_node_t *node)
{
    ngx_uint_t             i;
    ngx_gov_redis_conn_t  *conn;

    if (ngx_exiting || ngx_quit || ngx_terminate) {
        return;
    }

    for (i = 0; i < ngx_gov_redis_conf->connections; i++) {
        conn = &node->conns[i];

        if (conn->state == NGX_GOV_REDIS_DOWN
            && !conn->reconnect_ev.timer_set)
        {
            ngx_gov_redis_connect(conn);
        }
    }
}


/*
 * A reply to a command of a unit.  Returns 1 when the reply was taken
 * here (a redirection: the unit goes again, or fails), 0 when it goes to
 * the command's handler as usual.
 */

static ngx_uint_t
ngx_gov_redis_unit_reply(ngx_gov_redis_conn_t *conn, ngx_gov_redis_cmd_t *cmd,
    redisReply *reply)
{
    int                    kind;
    size_t                 alen;
    unsigned               slot;
    const char            *addr;
    ngx_gov_redis_unit_t  *unit;

    unit = cmd->unit;
    kind = GOV_SLOT_NONE;

    if (reply->type == REDIS_REPLY_ERROR) {
        kind = gov_slot_redirect(reply->str, reply->len, &slot, &addr, &alen);
    }

    if (kind != GOV_SLOT_NONE && unit->redirect == GOV_SLOT_NONE) {
        unit->redirect = kind;

        if (kind == GOV_SLOT_MOVED || kind == GOV_SLOT_ASK) {
            unit->rslot = slot;
            unit->raddr_len = ngx_min(alen, NGX_SOCKADDR_STRLEN);
            ngx_memcpy(unit->raddr, addr, unit->raddr_len);
        }

        ngx_log_debug3(NGX_LOG_DEBUG_HTTP, &conn->log, 0,
                       "gov redis: %V answered \"%*s\"",
                       &conn->target->name, (size_t) ngx_min(reply->len, 64),
                       reply->str);
    }

    if (cmd->member + 1 < unit->n) {
        if (kind == GOV_SLOT_NONE) {
            return 0;
        }

        /* a member's redirection: the leader's reply decides */

        if (cmd->owner) {
            *cmd->owner = NULL;
        }

        cmd->unit = NULL;
        ngx_gov_redis_cmd_free(cmd);

        return 1;
    }

    if (unit->redirect == GOV_SLOT_NONE) {
        return 0;
    }

    ngx_gov_redis_follow(cmd);

    return 1;
}


/* the leader of a redirected unit: where it goes now */

static void
ngx_gov_redis_follow(ngx_gov_redis_cmd_t *cmd)
{
    ngx_uint_t             kind;
    ngx_msec_t             delay;
    ngx_gov_redis_conn_t  *conn;
    ngx_gov_redis_node_t  *node;
    ngx_gov_redis_unit_t  *unit;

    unit = cmd->unit;
    kind = unit->redirect;
    unit->redirect = GOV_SLOT_NONE;

    if (cmd->eval) {
        /* it goes again whole, as EVAL: any node can run it */
        redisFreeCommand(cmd->eval);
        cmd->eval = NULL;
    }

    if (++unit->hops > NGX_GOV_REDIS_HOPS) {
        ngx_log_error(NGX_LOG_ERR, ngx_cycle->log, 0,
                      "gov redis: a command was redirected %d times, "
                      "given up", NGX_GOV_REDIS_HOPS);
        ngx_gov_redis_unit_fail(cmd);
        return;
    }

    switch (kind) {

    case GOV_SLOT_MOVED:
    case GOV_SLOT_ASK:
        ngx_gov_metrics_inc(kind == GOV_SLOT_MOVED
                            ? NGX_GOV_M_REDIS_MOVED : NGX_GOV_M_REDIS_ASK);

        node = ngx_gov_redis_node(ngx_cycle->log, NULL, unit->raddr,
                                  unit->raddr_len);
        if (node == NULL) {
            ngx_gov_redis_unit_fail(cmd);
            return;
        }

        if (kind == GOV_SLOT_MOVED) {
            /* the map is out of date: this slot now, the rest soon */
            node->in_map = 1;
            ngx_gov_redis_slots[unit->rslot] =
                                 (u_char) (ngx_gov_redis_node_index(node) + 1);
            ngx_gov_redis_map();
        }

        conn = ngx_gov_redis_node_conn(node);

        if (conn == NULL
            || ngx_gov_redis_unit_out(conn, cmd, kind == GOV_SLOT_ASK)
               != NGX_OK)
        {
            ngx_gov_redis_unit_fail(cmd);
        }

        return;

    default: /* GOV_SLOT_TRYAGAIN, GOV_SLOT_CLUSTERDOWN */

        ngx_gov_metrics_inc(NGX_GOV_M_REDIS_TRYAGAIN);

        if (kind == GOV_SLOT_CLUSTERDOWN) {
            ngx_gov_redis_map();
        }

        delay = (ngx_msec_t) gov_backoff_delay(unit->hops - 1, 20, 500,
                                               (uint32_t) ngx_random());

        if ((ngx_msec_int_t) (unit->until - ngx_current_msec - delay) < 0) {
            ngx_log_error(NGX_LOG_WARN, ngx_cycle->log, 0,
                          "gov redis: the cluster answered %s until the "
                          "command's time ran out",
                          kind == GOV_SLOT_TRYAGAIN ? "TRYAGAIN"
                                                    : "CLUSTERDOWN");
            ngx_gov_redis_unit_fail(cmd);
            return;
        }

        cmd->deadline = ngx_current_msec + delay;
        ngx_queue_insert_tail(&ngx_gov_redis_later, &cmd->queue);

        if (!ngx_gov_redis_later_ev.timer_set) {
            ngx_add_timer(&ngx_gov_redis_later_ev, delay);
        }

        return;
    }
}


static void
ngx_gov_redis_later_handler(ngx_event_t *ev)
{
    ngx_msec_t             next;
    ngx_queue_t           *q, *nq;
    ngx_gov_redis_cmd_t   *cmd;
    ngx_gov_redis_conn_t  *conn;

    next = 0;

    for (q = ngx_queue_head(&ngx_gov_redis_later);
         q != ngx_queue_sentinel(&ngx_gov_redis_later);
         q = nq)
    {
        nq = ngx_queue_next(q);
        cmd = ngx_queue_data(q, ngx_gov_redis_cmd_t, queue);

        if ((ngx_msec_int_t) (cmd->deadline - ngx_current_msec) > 0) {
            if (next == 0 || (ngx_msec_int_t) (cmd->deadline - next) < 0) {
                next = cmd->deadline;
            }

            continue;
        }

        ngx_queue_remove(q);

        conn = ngx_gov_redis_route(cmd->unit->slot);

        if (conn == NULL || ngx_gov_redis_unit_out(conn, cmd, 0) != NGX_OK) {
            ngx_gov_redis_unit_fail(cmd);
        }
    }

    if (next) {
        ngx_add_timer(ev, (ngx_msec_int_t) (next - ngx_current_msec) > 0
                          ? next - ngx_current_msec : 1);
    }
}


/* the unit's commands go out again on "conn", "lead" last */

static ngx_int_t
ngx_gov_redis_unit_out(ngx_gov_redis_conn_t *conn, ngx_gov_redis_cmd_t *lead,
    ngx_uint_t asking)
{
    ngx_uint_t             i;
    ngx_gov_redis_cmd_t   *cmd;
    ngx_gov_redis_unit_t  *unit;

    static char  ngx_gov_redis_asking[] = "*1\r\n$6\r\nASKING\r\n";

    unit = lead->unit;

    for (i = 0; i < unit->n; i++) {

        if (asking && (i == 0 || !unit->multi)) {
            /* ASKING holds for the next command, or a whole MULTI */

            cmd = ngx_gov_redis_cmd_alloc();
            if (cmd == NULL
                || ngx_gov_redis_out(conn, ngx_gov_redis_asking,
                                     sizeof(ngx_gov_redis_asking) - 1)
                   != NGX_OK)
            {
                if (cmd) {
                    ngx_gov_redis_cmd_free(cmd);
                }

                return NGX_ERROR;
            }

            cmd->handler = NULL;
            cmd->data = NULL;
            cmd->owner = NULL;
            cmd->deadline = ngx_current_msec + conn->conf->timeout;
            ngx_gov_redis_queue(conn, cmd);
        }

        if (i + 1 == unit->n) {
            cmd = lead;

        } else {
            cmd = ngx_gov_redis_cmd_alloc();
            if (cmd == NULL) {
                return NGX_ERROR;
            }

            cmd->handler = unit->part[i].handler;
            cmd->data = unit->part[i].data;
            cmd->owner = NULL;
            cmd->unit = unit;
            cmd->member = i;
        }

        if (ngx_gov_redis_out(conn, unit->part[i].bytes, unit->part[i].len)
            != NGX_OK)
        {
            if (cmd != lead) {
                cmd->unit = NULL;
                ngx_gov_redis_cmd_free(cmd);
            }

            return NGX_ERROR;
        }

        cmd->deadline = ngx_current_msec + conn->conf->timeout;
        ngx_gov_redis_queue(conn, cmd);
    }

    return NGX_OK;
}


/* a unit that cannot be served: its handlers hear a failure, as for a drop */

static void
ngx_gov_redis_unit_fail(ngx_gov_redis_cmd_t *lead)
{
    ngx_uint_t             i;
    ngx_gov_redis_unit_t  *unit;

    unit = lead->unit;

    ngx_gov_metrics_inc(NGX_GOV_M_REDIS_ERR_UNAVAILABLE);

    for (i = 0; i + 1 < unit->n; i++) {
        if (unit->part[i].handler) {
            unit->part[i].handler(NULL, unit->part[i].data);
        }
    }

    ngx_gov_redis_fail(lead);
}


static void
ngx_gov_redis_unit_free(ngx_gov_redis_unit_t *unit)
{
    ngx_uint_t  i;

    if (unit == NULL) {
        return;
    }

    for (i = 0; i < unit->n; i++) {
        if (unit->part[i].bytes) {
            redisFreeCommand(unit->part[i].bytes);
        }
    }

    ngx_free(unit);
}


static ngx_uint_t
ngx_gov_redis_node_index(ngx_gov_redis_node_t *node)
{
    ngx_uint_t  i;

    for (i = 0; i < ngx_gov_redis_nnodes; i++) {
        if (ngx_gov_redis_nodes[i] == node) {
            break;
        }
    }

    return i;
}


/*
 * The map: CLUSTER SHARDS (CLUSTER SLOTS before Redis 7) of any master
 * that answers, asked at start-up, after MOVED and CLUSTERDOWN, after a
 * lost connection, and every second while some slot has no reachable
 * master; never more than once a second.
 */

static void
ngx_gov_redis_map(void)
{
    size_t                 argvlen[2];
    ngx_uint_t             i;
    const char            *argv[2];
    ngx_msec_int_t         since;
    ngx_gov_redis_conn_t  *conn;

    if (ngx_gov_redis_asking_map || ngx_exiting || ngx_quit
        || ngx_terminate)
    {
        return;
    }

    since = (ngx_msec_int_t) (ngx_current_msec - ngx_gov_redis_map_asked);

    if (ngx_gov_redis_mapped && since < 1000) {
        if (!ngx_gov_redis_map_ev.timer_set) {
            ngx_add_timer(&ngx_gov_redis_map_ev, 1000 - since);
        }

        return;
    }

    conn = ngx_gov_redis_any();

    if (conn == NULL) {
        /* nobody answers: every node known is tried again */

        for (i = 0; i < ngx_gov_redis_nnodes; i++) {
            ngx_gov_redis_node_wake(ngx_gov_redis_nodes[i]);
        }

        if (!ngx_gov_redis_map_ev.timer_set) {
            ngx_add_timer(&ngx_gov_redis_map_ev, 1000);
        }

        return;
    }

    argv[0] = "CLUSTER";
    argvlen[0] = 7;
    argv[1] = ngx_gov_redis_no_shards ? "SLOTS" : "SHARDS";
    argvlen[1] = ngx_gov_redis_no_shards ? 5 : 6;

    if (ngx_gov_redis_append(conn, ngx_gov_redis_map_reply, NULL, NULL, 2,
                             argv, argvlen)
        != NGX_OK)
    {
        return;
    }

    ngx_gov_redis_map_asked = ngx_current_msec;
    ngx_gov_redis_asking_map = 1;
}


static void
ngx_gov_redis_map_handler(ngx_event_t *ev)
{
    ngx_gov_redis_map();
}


static void
ngx_gov_redis_map_reply(redisReply *reply, void *data)
{
    ngx_int_t              rc;
    ngx_uint_t             i, k, degraded;
    ngx_gov_redis_node_t  *node;

    u_char                 slots[GOV_SLOTS];

    ngx_gov_redis_asking_map = 0;

    if (reply == NULL) {
        /* the connection failed: another is asked in a second */
        goto again;
    }

    if (reply->type == REDIS_REPLY_ERROR) {

        if (!ngx_gov_redis_no_shards
            && ngx_strlcasestrn((u_char *) reply->str,
                                (u_char *) reply->str + reply->len,
                                (u_char *) "unknown subcommand", 18 - 1))
        {
            /* before Redis 7: CLUSTER SLOTS */
            ngx_gov_redis_no_shards = 1;
            ngx_gov_redis_map_asked = 0;
            ngx_gov_redis_map();
            return;
        }

        if (!ngx_gov_redis_not_cluster) {
            ngx_log_error(NGX_LOG_ERR, ngx_cycle->log, 0,
                          "gov redis: %V is no Redis Cluster: CLUSTER %s "
                          "answered \"%*s\"; gov_redis cluster= needs "
                          "nodes of a cluster (cluster-enabled yes), "
                          "otherwise name the server alone",
                          &ngx_gov_redis_conf->name,
                          ngx_gov_redis_no_shards ? "SLOTS" : "SHARDS",
                          (size_t) ngx_min(reply->len, 128), reply->str);
        }

        ngx_gov_redis_not_cluster = 1;
        goto again;
    }

    ngx_memzero(slots, GOV_SLOTS);

    rc = ngx_gov_redis_no_shards ? ngx_gov_redis_map_slots(reply, slots)
                                 : ngx_gov_redis_map_shards(reply, slots);

    if (rc != NGX_OK) {
        ngx_log_error(NGX_LOG_ERR, ngx_cycle->log, 0,
                      "gov redis: the cluster map from %V cannot be read",
                      &ngx_gov_redis_conf->name);
        goto again;
    }

    if (ngx_gov_redis_not_cluster) {
        ngx_log_error(NGX_LOG_NOTICE, ngx_cycle->log, 0,
                      "gov redis: %V answers as a cluster now",
                      &ngx_gov_redis_conf->name);
        ngx_gov_redis_not_cluster = 0;
    }

    for (i = 0; i < ngx_gov_redis_nnodes; i++) {
        ngx_gov_redis_nodes[i]->in_map = 0;
    }

    degraded = 0;

    for (k = 0; k < GOV_SLOTS; k++) {
        if (slots[k] == 0) {
            degraded = 1;
            continue;
        }

        ngx_gov_redis_nodes[slots[k] - 1]->in_map = 1;
    }

    ngx_memcpy(ngx_gov_redis_slots, slots, GOV_SLOTS);

    if (!ngx_gov_redis_mapped) {
        ngx_log_error(NGX_LOG_NOTICE, ngx_cycle->log, 0,
                      "gov redis: cluster map learnt, %ui masters",
                      ngx_gov_redis_masters());
    }

    ngx_gov_redis_mapped = 1;

    for (i = 0; i < ngx_gov_redis_nnodes; i++) {
        node = ngx_gov_redis_nodes[i];

        if (!node->in_map) {
            continue;
        }

        ngx_gov_redis_node_wake(node);

        if (ngx_gov_redis_node_conn(node) == NULL) {
            degraded = 1;
        }
    }

    if (!degraded) {
        return;
    }

again:

    if (!ngx_gov_redis_map_ev.timer_set && !ngx_exiting && !ngx_quit
        && !ngx_terminate)
    {
        ngx_add_timer(&ngx_gov_redis_map_ev, 1000);
    }
}


static ngx_uint_t
ngx_gov_redis_masters(void)
{
    ngx_uint_t  i, n;

    n = 0;

    for (i = 0; i < ngx_gov_redis_nnodes; i++) {
        n += ngx_gov_redis_nodes[i]->in_map;
    }

    return n;
}


/*
 * CLUSTER SHARDS, as RESP2: [ ["slots", [s, e, ...], "nodes", [ [k, v,
 * ...], ...]], ... ]; the master of each shard is the node whose role is
 * "master" and whose health is not "fail".
 */

static ngx_int_t
ngx_gov_redis_map_shards(redisReply *reply, u_char *slots)
{
    size_t       i, k, m;
    redisReply  *shard, *ranges, *nodes, *node, *role, *health, *ip, *port;

    if (reply->type != REDIS_REPLY_ARRAY) {
        return NGX_ERROR;
    }

    for (i = 0; i < reply->elements; i++) {
        shard = reply->element[i];

        ranges = ngx_gov_redis_field(shard, "slots");
        nodes = ngx_gov_redis_field(shard, "nodes");

        if (ranges == NULL || nodes == NULL
            || ranges->type != REDIS_REPLY_ARRAY
            || nodes->type != REDIS_REPLY_ARRAY
            || ranges->elements % 2)
        {
            return NGX_ERROR;
        }

        for (k = 0; k < nodes->elements; k++) {
            node = nodes->element[k];

            role = ngx_gov_redis_field(node, "role");
            health = ngx_gov_redis_field(node, "health");
            ip = ngx_gov_redis_field(node, "ip");
            port = ngx_gov_redis_field(node, "port");

            if (role == NULL || role->type != REDIS_REPLY_STRING
                || role->len != 6 || ngx_strncmp(role->str, "master", 6) != 0
                || (health && health->type == REDIS_REPLY_STRING
                    && health->len == 4
                    && ngx_strncmp(health->str, "fail", 4) == 0))
            {
                continue;
            }

            if (ip == NULL || port == NULL
                || port->type != REDIS_REPLY_INTEGER)
            {
                return NGX_ERROR;
            }

            for (m = 0; m < ranges->elements; m += 2) {
                if (ranges->element[m]->type != REDIS_REPLY_INTEGER
                    || ranges->element[m + 1]->type != REDIS_REPLY_INTEGER)
                {
                    return NGX_ERROR;
                }

                if (ngx_gov_redis_map_range(ranges->element[m]->integer,
                                            ranges->element[m + 1]->integer,
                                            ip, port->integer, slots)
                    != NGX_OK)
                {
                    return NGX_ERROR;
                }
            }

            break;
        }
    }

    return NGX_OK;
}


/* CLUSTER SLOTS: [ [start, end, [ip, port, id, ...], replicas...], ... ] */

static ngx_int_t
ngx_gov_redis_map_slots(redisReply *reply, u_char *slots)
{
    size_t       i;
    redisReply  *r, *m;

    if (reply->type != REDIS_REPLY_ARRAY) {
        return NGX_ERROR;
    }

    for (i = 0; i < reply->elements; i++) {
        r = reply->element[i];

        if (r->type != REDIS_REPLY_ARRAY || r->elements < 3
            || r->element[0]->type != REDIS_REPLY_INTEGER
            || r->element[1]->type != REDIS_REPLY_INTEGER
            || r->element[2]->type != REDIS_REPLY_ARRAY
            || r->element[2]->elements < 2
            || r->element[2]->element[1]->type != REDIS_REPLY_INTEGER)
        {
            return NGX_ERROR;
        }

        m = r->element[2];

        if (ngx_gov_redis_map_range(r->element[0]->integer,
                                    r->element[1]->integer, m->element[0],
                                    m->element[1]->integer, slots)
            != NGX_OK)
        {
            return NGX_ERROR;
        }
    }

    return NGX_OK;
}


static ngx_int_t
ngx_gov_redis_map_range(long long start, long long end, redisReply *ip,
    long long port, u_char *slots)
{
    u_char                 text[NGX_SOCKADDR_STRLEN + 8];
    size_t                 len;
    long long              k;
    ngx_gov_redis_node_t  *node;

    if (ip->type != REDIS_REPLY_STRING || ip->len == 0
        || ip->len > NGX_SOCKADDR_STRLEN - 2 || port < 1 || port > 65535
        || start < 0 || end >= GOV_SLOTS || start > end)
    {
        return NGX_ERROR;
    }

    /* an IPv6 address goes in brackets */

    len = ngx_strlchr((u_char *) ip->str, (u_char *) ip->str + ip->len, ':')
          ? (size_t) (ngx_sprintf(text, "[%*s]:%L", ip->len, ip->str, port)
                      - text)
          : (size_t) (ngx_sprintf(text, "%*s:%L", ip->len, ip->str, port)
                      - text);

    node = ngx_gov_redis_node(ngx_cycle->log, NULL, text, len);
    if (node == NULL) {
        return NGX_ERROR;
    }

    for (k = start; k <= end; k++) {
        slots[k] = (u_char) (ngx_gov_redis_node_index(node) + 1);
    }

    return NGX_OK;
}


/* the value of "name" in a RESP2 array of names and values */

static redisReply *
ngx_gov_redis_field(redisReply *map, const char *name)
{
    size_t  i, len;

    if (map->type != REDIS_REPLY_ARRAY) {
        return NULL;
    }

    len = ngx_strlen(name);

    for (i = 0; i + 1 < map->elements; i += 2) {
        if (map->element[i]->type == REDIS_REPLY_STRING
            && map->element[i]->len == len
            && ngx_strncmp(map->element[i]->str, name, len) == 0)
        {
            return map->element[i + 1];
        }
    }

    return NULL;
}


ngx_uint_t
ngx_gov_redis_shards(void)
{
    return ngx_gov_redis_conf ? ngx_gov_redis_conf->shards : 1;
}


ngx_int_t
ngx_gov_redis_tag(ngx_pool_t *pool, ngx_str_t *prefix, ngx_uint_t shard,
    ngx_str_t *tag)
{
    u_char  *p;

    if (ngx_gov_redis_conf == NULL || ngx_gov_redis_conf->cluster == NULL) {
        *tag = *prefix;
        return NGX_OK;
    }

    p = ngx_pnalloc(pool, NGX_GOV_REDIS_TAG_MAX);
    if (p == NULL) {
        return NGX_ERROR;
    }

    ngx_gov_redis_tag_buf(p, prefix, shard, tag);

    return NGX_OK;
}


void
ngx_gov_redis_tag_buf(u_char *buf, ngx_str_t *prefix, ngx_uint_t shard,
    ngx_str_t *tag)
{
    if (ngx_gov_redis_conf == NULL || ngx_gov_redis_conf->cluster == NULL) {
        *tag = *prefix;
        return;
    }

    /* the prefix is at most NGX_GOV_REDIS_PREFIX_MAX (configuration) */

    tag->data = buf;
    tag->len = ngx_sprintf(buf, "{%V%ui}", prefix, shard) - buf;
}


void
ngx_gov_redis_id_tag_buf(u_char *buf, ngx_str_t *prefix, ngx_str_t *id,
    ngx_str_t *tag)
{
    int  shard;

    shard = gov_slot_id_shard((const char *) id->data, id->len,
                              ngx_gov_redis_shards());

    ngx_gov_redis_tag_buf(buf, prefix, shard < 0 ? 0 : shard, tag);
}


ngx_int_t
ngx_gov_redis_id_tag(ngx_pool_t *pool, ngx_str_t *prefix, ngx_str_t *id,
    ngx_str_t *tag)
{
    int  shard;

    shard = gov_slot_id_shard((const char *) id->data, id->len,
                              ngx_gov_redis_shards());

    return ngx_gov_redis_tag(pool, prefix, shard < 0 ? 0 : shard, tag);
}


ngx_uint_t
ngx_gov_redis_id_shard(ngx_str_t *id)
{
    int  shard;

    shard = gov_slot_id_shard((const char *) id->data, id->len,
                              ngx_gov_redis_shards());

    return shard < 0 ? 0 : (ngx_uint_t) shard;
}


ngx_uint_t
ngx_gov_redis_name_shard(ngx_str_t *name)
{
    return gov_slot_name_shard((const char *) name->data, name->len,
                               ngx_gov_redis_shards());
}


ngx_int_t
ngx_gov_redis_name_tag(ngx_pool_t *pool, ngx_str_t *prefix, ngx_str_t *name,
    ngx_str_t *tag)
{
    return ngx_gov_redis_tag(pool, prefix, ngx_gov_redis_name_shard(name),
                             tag);
}


ngx_int_t
ngx_gov_redis_id_key(ngx_pool_t *pool, ngx_str_t *prefix, const char *kind,
    ngx_str_t *id, ngx_str_t *key)
{
    ngx_str_t  tag;

    if (ngx_gov_redis_id_tag(pool, prefix, id, &tag) != NGX_OK) {
        return NGX_ERROR;
    }

    return ngx_gov_redis_keyf(pool, key, "%V%s%V", &tag, kind, id);
}


ngx_int_t
ngx_gov_redis_keyf(ngx_pool_t *pool, ngx_str_t *key, const char *fmt, ...)
{
    u_char   *p, buf[1024];
    va_list   args;

    va_start(args, fmt);
    p = ngx_vslprintf(buf, buf + sizeof(buf), fmt, args);
    va_end(args);

    key->len = p - buf;
    key->data = ngx_pnalloc(pool, key->len);
    if (key->data == NULL) {
        return NGX_ERROR;
    }

    ngx_memcpy(key->data, buf, key->len);

    return NGX_OK;
}


ngx_int_t
ngx_gov_redis_eval_keys(ngx_pool_t *pool, int *argc, const char ***argv,
    size_t **argvlen, ngx_uint_t n, ngx_str_t *keys)
{
    int           i, k, m;
    u_char       *num;
    size_t       *lens;
    const char  **args;

    m = *argc + (int) n;

    args = ngx_palloc(pool, m * sizeof(char *));
    lens = ngx_palloc(pool, m * sizeof(size_t));
    num = ngx_pnalloc(pool, NGX_INT_T_LEN);

    if (args == NULL || lens == NULL || num == NULL) {
        return NGX_ERROR;
    }

    for (i = 0; i < 2; i++) {
        args[i] = (*argv)[i];
        lens[i] = (*argvlen)[i];
    }

    args[2] = (const char *) num;
    lens[2] = ngx_sprintf(num, "%ui", n) - num;

    for (k = 0; k < (int) n; k++) {
        args[3 + k] = (const char *) keys[k].data;
        lens[3 + k] = keys[k].len;
    }

    for (i = 3; i < *argc; i++) {
        args[i + n] = (*argv)[i];
        lens[i + n] = (*argvlen)[i];
    }

    *argc = m;
    *argv = args;
    *argvlen = lens;

    return NGX_OK;
}


static ngx_gov_redis_cmd_t *
ngx_gov_redis_cmd_alloc(void)
{
    ngx_queue_t          *q;
    ngx_gov_redis_cmd_t  *cmd;

    if (ngx_gov_redis_nfree) {
        q = ngx_queue_head(&ngx_gov_redis_free);
        ngx_queue_remove(q);
        ngx_gov_redis_nfree--;

        cmd = ngx_queue_data(q, ngx_gov_redis_cmd_t, queue);

    } else {
        cmd = ngx_alloc(sizeof(ngx_gov_redis_cmd_t), ngx_cycle->log);
        if (cmd == NULL) {
            return NULL;
        }
    }

    cmd->eval = NULL;
    cmd->unit = NULL;
    cmd->member = 0;
    cmd->own = 0;

    return cmd;
}


static void
ngx_gov_redis_cmd_free(ngx_gov_redis_cmd_t *cmd)
{
    if (cmd->eval) {
        redisFreeCommand(cmd->eval);
        cmd->eval = NULL;
    }

    if (cmd->unit && cmd->member + 1 == cmd->unit->n) {
        ngx_gov_redis_unit_free(cmd->unit);
    }

    cmd->unit = NULL;

    if (ngx_gov_redis_nfree >= NGX_GOV_REDIS_FREE_MAX) {
        ngx_free(cmd);
        return;
    }

    ngx_queue_insert_head(&ngx_gov_redis_free, &cmd->queue);
    ngx_gov_redis_nfree++;
}


/*
 * Client-side caching (Redis 6+).  The watch connection is set up like
 * the others (AUTH, SELECT, the sentinels' master confirmed by ROLE), then
 * asks its own id, turns tracking on in broadcasting mode for the prefix,
 * redirected to itself, and subscribes to the invalidation channel: Redis
 * then sends it every key under the prefix that changes, whoever changed
 * it, and a nil when it flushes.  A PING every second (answered within the
 * command timeout, or the connection is dropped) tells a silent connection
 * from a dead one.  While it is down, nothing is known: the handler hears
 * NULL when it goes.
 */

ngx_int_t
ngx_gov_redis_watch(ngx_cycle_t *cycle, ngx_str_t *prefix,
    ngx_gov_redis_watch_pt handler)
{
    ngx_gov_redis_conn_t  *conn;

    if (ngx_gov_redis_conf == NULL || ngx_gov_redis_conf->cluster) {
        return NGX_DECLINED;
    }

    conn = &ngx_gov_redis_watch_conn;
    ngx_memzero(conn, sizeof(ngx_gov_redis_conn_t));

    if (ngx_gov_redis_conn_init(conn, ngx_gov_redis_conf, cycle->log)
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    conn->watch = 1;

    ngx_gov_redis_watch_prefix = *prefix;
    ngx_gov_redis_watch_handler = handler;
    ngx_gov_redis_watch_live = 0;
    ngx_gov_redis_watch_refused = 0;

    ngx_memzero(&ngx_gov_redis_ping_ev, sizeof(ngx_event_t));
    ngx_gov_redis_ping_ev.handler = ngx_gov_redis_ping_handler;
    ngx_gov_redis_ping_ev.log = cycle->log;
    ngx_gov_redis_ping_ev.cancelable = 1;

    ngx_gov_redis_connect(conn);

    ngx_add_timer(&ngx_gov_redis_ping_ev, NGX_GOV_REDIS_PING);

    return NGX_OK;
}


ngx_uint_t
ngx_gov_redis_watching(void)
{
    return ngx_gov_redis_watch_live;
}


/* CLIENT ID: tracking is redirected to this very connection */

static void
ngx_gov_redis_watch_id(redisReply *reply, void *data)
{
    ngx_gov_redis_conn_t  *conn = data;

    u_char       id[NGX_INT64_LEN];
    size_t       argvlen[8];
    const char  *argv[8];

    if (reply == NULL) {
        return;
    }

    if (reply->type != REDIS_REPLY_INTEGER) {
        ngx_gov_redis_watch_on(reply, conn);
        return;
    }

    argv[0] = "CLIENT";
    argv[1] = "TRACKING";
    argv[2] = "on";
    argv[3] = "REDIRECT";
    argv[4] = (const char *) id;
    argv[5] = "BCAST";
    argv[6] = "PREFIX";
    argv[7] = (const char *) ngx_gov_redis_watch_prefix.data;

    argvlen[0] = 6;
    argvlen[1] = 8;
    argvlen[2] = 2;
    argvlen[3] = 8;
    argvlen[4] = ngx_sprintf(id, "%L", (int64_t) reply->integer) - id;
    argvlen[5] = 5;
    argvlen[6] = 6;
    argvlen[7] = ngx_gov_redis_watch_prefix.len;

    if (ngx_gov_redis_append(conn, ngx_gov_redis_watch_on, conn, NULL, 8,
                             argv, argvlen)
        != NGX_OK)
    {
        ngx_gov_redis_drop(conn, NGX_GOV_M_REDIS_ERR_CONNECT);
        return;
    }

    argv[0] = "SUBSCRIBE";
    argvlen[0] = 9;
    argv[1] = "__redis__:invalidate";
    argvlen[1] = sizeof("__redis__:invalidate") - 1;

    if (ngx_gov_redis_append(conn, ngx_gov_redis_watch_subscribed, conn,
                             NULL, 2, argv, argvlen)
        != NGX_OK)
    {
        ngx_gov_redis_drop(conn, NGX_GOV_M_REDIS_ERR_CONNECT);
        return;
    }

    /* the handshake ends with SUBSCRIBE's answer, no more steps */
}


/* CLIENT TRACKING's answer; a Redis before 6 (or an ACL) refuses it */

static void
ngx_gov_redis_watch_on(redisReply *reply, void *data)
{
    ngx_gov_redis_conn_t  *conn = data;

    if (reply == NULL) {
        return;
    }

    if (reply->type == REDIS_REPLY_STATUS || reply->type == REDIS_REPLY_INTEGER)
    {
        return;
    }

    ngx_log_error(NGX_LOG_WARN, &conn->log, 0,
                  "gov redis: %V does not report changed keys (\"%*s\"), "
                  "the progress micro-cache keeps its ttl",
                  ngx_gov_redis_peer(conn),
                  (size_t) (reply->type == REDIS_REPLY_ERROR
                            ? ngx_min(reply->len, 128) : 0),
                  reply->str);

    ngx_gov_redis_watch_refused = 1;
    ngx_gov_redis_drop(conn, NGX_GOV_M_REDIS_ERR_REPLY);
}


/* ["subscribe", "__redis__:invalidate", 1]: every change is heard now */

static void
ngx_gov_redis_watch_subscribed(redisReply *reply, void *data)
{
    ngx_gov_redis_conn_t  *conn = data;

    if (reply == NULL) {
        return;
    }

    if (reply->type != REDIS_REPLY_ARRAY || reply->elements != 3) {
        ngx_gov_redis_watch_on(reply, conn);
        return;
    }

    conn->subscribed = 1;

    if (--conn->handshake == 0) {
        ngx_gov_redis_ready(conn);
    }
}


/* ["message", "__redis__:invalidate", [KEY ...] or nil]: 1 when it was */

static ngx_uint_t
ngx_gov_redis_watch_message(redisReply *reply)
{
    size_t       i;
    ngx_str_t    key;
    redisReply  *keys;

    if (reply->type != REDIS_REPLY_ARRAY || reply->elements != 3
        || reply->element[0]->type != REDIS_REPLY_STRING
        || reply->element[0]->len != 7
        || ngx_strncmp(reply->element[0]->str, "message", 7) != 0)
    {
        return 0;
    }

    keys = reply->element[2];

    if (keys->type != REDIS_REPLY_ARRAY) {
        /* a flush: anything may have changed */
        ngx_gov_redis_watch_handler(NULL);
        return 1;
    }

    for (i = 0; i < keys->elements; i++) {
        if (keys->element[i]->type == REDIS_REPLY_STRING) {
            key.data = (u_char *) keys->element[i]->str;
            key.len = keys->element[i]->len;
            ngx_gov_redis_watch_handler(&key);
        }
    }

    return 1;
}


static void
ngx_gov_redis_watch_lost(void)
{
    if (ngx_gov_redis_watch_live) {
        ngx_gov_redis_watch_live = 0;
        ngx_gov_metrics_gauge(NGX_GOV_G_REDIS_TRACKING, -1);
    }

    /* whatever was said while nobody listened is lost */

    if (ngx_gov_redis_watch_handler) {
        ngx_gov_redis_watch_handler(NULL);
    }
}


static void
ngx_gov_redis_ping_handler(ngx_event_t *ev)
{
    size_t                 argvlen[1];
    const char            *argv[1];
    ngx_gov_redis_conn_t  *conn;

    if (ngx_exiting || ngx_quit || ngx_terminate) {
        return;
    }

    conn = &ngx_gov_redis_watch_conn;

    if (conn->state == NGX_GOV_REDIS_READY && conn->npending == 0) {
        argv[0] = "PING";
        argvlen[0] = 4;

        if (ngx_gov_redis_append(conn, NULL, NULL, NULL, 1, argv, argvlen)
            != NGX_OK)
        {
            ngx_gov_redis_drop(conn, NGX_GOV_M_REDIS_ERR_CLOSED);
        }
    }

    ngx_add_timer(ev, NGX_GOV_REDIS_PING);
}
