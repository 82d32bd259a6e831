
/*
 * Copyright (C) ngx_gov_module authors
 *
 * Counters and gauges kept in shared memory, summed over all workers and
 * exposed by the gov_status handler in Prometheus text format.
 */


#ifndef _NGX_GOV_METRICS_H_INCLUDED_
#define _NGX_GOV_METRICS_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_gov_conf.h"


/* monotonic counters, shared by all processes */
typedef enum {
    NGX_GOV_M_REDIS_COMMANDS = 0,
    NGX_GOV_M_REDIS_WRITES,
    NGX_GOV_M_REDIS_RECONNECTS,
    NGX_GOV_M_REDIS_ERR_CONNECT,
    NGX_GOV_M_REDIS_ERR_TIMEOUT,
    NGX_GOV_M_REDIS_ERR_CLOSED,
    NGX_GOV_M_REDIS_ERR_PROTOCOL,
    NGX_GOV_M_REDIS_ERR_AUTH,
    NGX_GOV_M_REDIS_ERR_REPLY,
    NGX_GOV_M_REDIS_ERR_UNAVAILABLE,
    NGX_GOV_M_REDIS_ERR_UNREPLICATED,
    NGX_GOV_M_REDIS_MOVED,          /* Redis Cluster redirections */
    NGX_GOV_M_REDIS_ASK,
    NGX_GOV_M_REDIS_TRYAGAIN,
    NGX_GOV_M_AUTH,                 /* + gov_auth_reason_e, 12 of them */
    NGX_GOV_M_JWT_CACHE_HIT = NGX_GOV_M_AUTH + 12,
    NGX_GOV_M_JWT_CACHE_MISS,
    NGX_GOV_M_PCACHE_HIT,
    NGX_GOV_M_PCACHE_MISS,
    NGX_GOV_M_SNAPSHOT_HIT,
    NGX_GOV_M_SNAPSHOT_MISS,
    NGX_GOV_M_SESSIONS_CREATED,
    NGX_GOV_M_APPLICATIONS,
    NGX_GOV_M_IDEMPOTENT_REPLAYS,
    NGX_GOV_M_DISPATCH_ATTEMPTS,
    NGX_GOV_M_DISPATCH_FAILURES,
    NGX_GOV_M_CALLBACKS,
    NGX_GOV_M_RATINGS,              /* + score - 1, five of them */
    NGX_GOV_M_PCACHE_EVICTED = NGX_GOV_M_RATINGS + 5,
    NGX_GOV_M_CROSS_SITE,
    NGX_GOV_M_UPLOADS,
    NGX_GOV_M_UPLOAD_BYTES,
    NGX_GOV_M_UPLOADS_REFUSED,
    NGX_GOV_M_UPLOADS_SWEPT,
    NGX_GOV_M_PCACHE_INVALIDATED,
    NGX_GOV_M_ARCHIVED,             /* gov_retention: left Redis */
    NGX_GOV_M_ARCHIVE_READ,         /* lookups answered from gov_archive */
    NGX_GOV_M_UNREADABLE,           /* sealed values that did not open */
    NGX_GOV_M_COUNTERS
} ngx_gov_counter_e;


/* gauges, kept per process and summed over live processes */
typedef enum {
    NGX_GOV_G_REDIS_PENDING = 0,
    NGX_GOV_G_REDIS_CONNECTED,
    NGX_GOV_G_REDIS_TRACKING,
    NGX_GOV_G_GAUGES
} ngx_gov_gauge_e;


/* handlers whose requests are counted by status code */
typedef enum {
    NGX_GOV_H_NONE = 0,
    NGX_GOV_H_STATUS,
    NGX_GOV_H_HEALTH,
    NGX_GOV_H_LOGIN,
    NGX_GOV_H_LOGOUT,
    NGX_GOV_H_BUNDLES,
    NGX_GOV_H_CALLBACK,
    NGX_GOV_H_PROGRESS,
    NGX_GOV_H_UPLOAD,
    NGX_GOV_H_OIDC_CALLBACK,
    NGX_GOV_H_TEXT_SIZE,
    NGX_GOV_H_STATS,
    NGX_GOV_H_HANDLERS
} ngx_gov_handler_e;


#define NGX_GOV_METRICS_BUNDLES  64
#define NGX_GOV_METRICS_ITEMS    256

#define NGX_GOV_MI_ATTEMPTS      0
#define NGX_GOV_MI_FAILURES      1

/* per gov_notify target: counted on this node, or as Redis last said */
#define NGX_GOV_METRICS_TARGETS  16

#define NGX_GOV_MT_DELIVERED     0       /* counters */
#define NGX_GOV_MT_RETRIED       1
#define NGX_GOV_MT_PENDING       2       /* set: the group's, from Redis */
#define NGX_GOV_MT_OLDEST_MS     3
#define NGX_GOV_MT_LAG           4
#define NGX_GOV_MT_KINDS         5


/* per waiting room (gov_queue_zone) */
#define NGX_GOV_METRICS_QUEUES   16

#define NGX_GOV_MQ_ADMITTED      0       /* counters, this node's */
#define NGX_GOV_MQ_TICKETS       1
#define NGX_GOV_MQ_DROPPED       2
#define NGX_GOV_MQ_FULL          3
#define NGX_GOV_MQ_UNCHECKED     4       /* passed: Redis could not say */
#define NGX_GOV_MQ_WAITING       5       /* set: as Redis last said */
#define NGX_GOV_MQ_WAIT          6
#define NGX_GOV_MQ_KINDS         7


ngx_int_t ngx_gov_metrics_add_zone(ngx_conf_t *cf);
ngx_int_t ngx_gov_metrics_init_process(ngx_cycle_t *cycle);
void ngx_gov_metrics_exit_process(ngx_cycle_t *cycle);

void ngx_gov_metrics_inc(ngx_uint_t counter);
void ngx_gov_metrics_add(ngx_uint_t counter, ngx_atomic_int_t n);
void ngx_gov_metrics_gauge(ngx_uint_t gauge, ngx_atomic_int_t delta);
void ngx_gov_metrics_request(ngx_uint_t handler, ngx_uint_t status);
void ngx_gov_metrics_bundle(ngx_uint_t bundle);
void ngx_gov_metrics_item(ngx_uint_t kind, ngx_uint_t item);
void ngx_gov_metrics_target(ngx_uint_t kind, ngx_uint_t target);
void ngx_gov_metrics_target_set(ngx_uint_t kind, ngx_uint_t target,
    ngx_atomic_uint_t value);
void ngx_gov_metrics_events_set(ngx_atomic_uint_t appended);

/* the retry queue and the steps past their deadline, as Redis holds them */
void ngx_gov_metrics_backlog_set(ngx_atomic_uint_t queued,
    ngx_atomic_uint_t due, ngx_atomic_uint_t overdue);
void ngx_gov_metrics_queue(ngx_uint_t kind, ngx_uint_t queue,
    ngx_atomic_uint_t n);
void ngx_gov_metrics_queue_set(ngx_uint_t kind, ngx_uint_t queue,
    ngx_atomic_uint_t value);

/* every figure as Prometheus text, in "pool"; NGX_DECLINED without them */
ngx_int_t ngx_gov_metrics_text(ngx_pool_t *pool, ngx_gov_bundles_conf_t *bc,
    ngx_gov_events_conf_t *ecf, ngx_array_t *queues, ngx_str_t *text);


#endif /* _NGX_GOV_METRICS_H_INCLUDED_ */
