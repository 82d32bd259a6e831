
/*
 * Copyright (C) ngx_gov_module authors
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_gov_conf.h"
#include "ngx_gov_shm.h"
#include "ngx_gov_metrics.h"


#define NGX_GOV_METRICS_SLOTS  256


typedef struct {
    ngx_atomic_t              pid;
    ngx_atomic_t              gauges[NGX_GOV_G_GAUGES];
} ngx_gov_metrics_slot_t;


typedef struct {
    ngx_atomic_t              counters[NGX_GOV_M_COUNTERS];
    ngx_atomic_t              requests[NGX_GOV_H_HANDLERS][32];
    ngx_atomic_t              bundles[NGX_GOV_METRICS_BUNDLES];
    ngx_atomic_t              items[2][NGX_GOV_METRICS_ITEMS];
    ngx_atomic_t              targets[NGX_GOV_MT_KINDS]
                                     [NGX_GOV_METRICS_TARGETS];
    ngx_atomic_t              events_appended;
    ngx_atomic_t              backlog[3];   /* queued, due, overdue */
    ngx_atomic_t              backlog_known;
    ngx_atomic_t              queues[NGX_GOV_MQ_KINDS]
                                    [NGX_GOV_METRICS_QUEUES];
    ngx_gov_metrics_slot_t    slots[NGX_GOV_METRICS_SLOTS];
} ngx_gov_metrics_shm_t;


typedef struct {
    ngx_str_t                 name;
    ngx_str_t                 help;
    ngx_str_t                 type;
    ngx_str_t                 labels;
} ngx_gov_metric_desc_t;


static ngx_uint_t ngx_gov_metrics_code_index(ngx_uint_t status);
static ngx_atomic_int_t ngx_gov_metrics_gauge_sum(ngx_uint_t gauge);
static u_char *ngx_gov_metrics_header(u_char *p, ngx_gov_metric_desc_t *d);
static u_char *ngx_gov_metrics_requests(u_char *p);
static u_char *ngx_gov_metrics_counters_text(u_char *p);
static u_char *ngx_gov_metrics_by_model(u_char *p,
    ngx_gov_bundles_conf_t *bc);
static u_char *ngx_gov_metrics_events(u_char *p, ngx_gov_events_conf_t *ecf);
static u_char *ngx_gov_metrics_queues(u_char *p, ngx_array_t *queues);


static ngx_gov_metrics_shm_t   *ngx_gov_metrics;
static ngx_gov_metrics_slot_t  *ngx_gov_metrics_slot;


/* the last entry, 0, counts every status code not listed */

static ngx_uint_t  ngx_gov_metrics_codes[] = {
    200, 201, 204, 301, 302, 303, 304, 400, 401, 403, 404, 405, 409, 413,
    415, 422, 429, 499, 500, 502, 503, 504, 507, 0
};


static ngx_str_t  ngx_gov_metrics_handlers[] = {
    ngx_null_string,
    ngx_string("status"),
    ngx_string("health"),
    ngx_string("login"),
    ngx_string("logout"),
    ngx_string("bundles"),
    ngx_string("callback"),
    ngx_string("progress"),
    ngx_string("upload"),
    ngx_string("oidc_callback"),
    ngx_string("text_size"),
    ngx_string("stats"),
};


static ngx_gov_metric_desc_t  ngx_gov_metrics_counters[] = {
    { ngx_string("gov_redis_commands_total"),
      ngx_string("Redis commands issued."),
      ngx_string("counter"), ngx_null_string },
    { ngx_string("gov_redis_writes_total"),
      ngx_string("Pipelined writes to Redis (one per event loop pass)."),
      ngx_string("counter"), ngx_null_string },
    { ngx_string("gov_redis_reconnects_total"),
      ngx_string("Redis connection attempts after a failure."),
      ngx_string("counter"), ngx_null_string },
    { ngx_string("gov_redis_errors_total"),
      ngx_string("Redis errors by kind."),
      ngx_string("counter"), ngx_string("kind=\"connect\"") },
    { ngx_string("gov_redis_errors_total"), ngx_null_string,
      ngx_null_string, ngx_string("kind=\"timeout\"") },
    { ngx_string("gov_redis_errors_total"), ngx_null_string,
      ngx_null_string, ngx_string("kind=\"closed\"") },
    { ngx_string("gov_redis_errors_total"), ngx_null_string,
      ngx_null_string, ngx_string("kind=\"protocol\"") },
    { ngx_string("gov_redis_errors_total"), ngx_null_string,
      ngx_null_string, ngx_string("kind=\"auth\"") },
    { ngx_string("gov_redis_errors_total"), ngx_null_string,
      ngx_null_string, ngx_string("kind=\"reply\"") },
    { ngx_string("gov_redis_errors_total"), ngx_null_string,
      ngx_null_string, ngx_string("kind=\"unavailable\"") },
    { ngx_string("gov_redis_errors_total"), ngx_null_string,
      ngx_null_string, ngx_string("kind=\"unreplicated\"") },
    { ngx_string("gov_redis_redirects_total"),
      ngx_string("Redis Cluster replies followed: MOVED, ASK, and TRYAGAIN "
                 "or CLUSTERDOWN waited out."),
      ngx_string("counter"), ngx_string("kind=\"moved\"") },
    { ngx_string("gov_redis_redirects_total"), ngx_null_string,
      ngx_null_string, ngx_string("kind=\"ask\"") },
    { ngx_string("gov_redis_redirects_total"), ngx_null_string,
      ngx_null_string, ngx_string("kind=\"tryagain\"") },
    { ngx_string("gov_auth_total"),
      ngx_string("Identity checks by outcome (reason of a rejection)."),
      ngx_string("counter"), ngx_string("reason=\"ok\"") },
    { ngx_string("gov_auth_total"), ngx_null_string,
      ngx_null_string, ngx_string("reason=\"missing\"") },
    { ngx_string("gov_auth_total"), ngx_null_string,
      ngx_null_string, ngx_string("reason=\"malformed\"") },
    { ngx_string("gov_auth_total"), ngx_null_string,
      ngx_null_string, ngx_string("reason=\"bad_signature\"") },
    { ngx_string("gov_auth_total"), ngx_null_string,
      ngx_null_string, ngx_string("reason=\"alg_not_allowed\"") },
    { ngx_string("gov_auth_total"), ngx_null_string,
      ngx_null_string, ngx_string("reason=\"unknown_key\"") },
    { ngx_string("gov_auth_total"), ngx_null_string,
      ngx_null_string, ngx_string("reason=\"expired\"") },
    { ngx_string("gov_auth_total"), ngx_null_string,
      ngx_null_string, ngx_string("reason=\"not_yet_valid\"") },
    { ngx_string("gov_auth_total"), ngx_null_string,
      ngx_null_string, ngx_string("reason=\"bad_issuer\"") },
    { ngx_string("gov_auth_total"), ngx_null_string,
      ngx_null_string, ngx_string("reason=\"bad_audience\"") },
    { ngx_string("gov_auth_total"), ngx_null_string,
      ngx_null_string, ngx_string("reason=\"missing_claim\"") },
    { ngx_string("gov_auth_total"), ngx_null_string,
      ngx_null_string, ngx_string("reason=\"session_expired\"") },
    { ngx_string("gov_cache_total"),
      ngx_string("Cache lookups by cache and result."),
      ngx_string("counter"),
      ngx_string("cache=\"jwt\",result=\"hit\"") },
    { ngx_string("gov_cache_total"), ngx_null_string,
      ngx_null_string, ngx_string("cache=\"jwt\",result=\"miss\"") },
    { ngx_string("gov_cache_total"), ngx_null_string,
      ngx_null_string, ngx_string("cache=\"progress\",result=\"hit\"") },
    { ngx_string("gov_cache_total"), ngx_null_string,
      ngx_null_string, ngx_string("cache=\"progress\",result=\"miss\"") },
    { ngx_string("gov_cache_total"), ngx_null_string,
      ngx_null_string,
      ngx_string("cache=\"progress_snapshot\",result=\"hit\"") },
    { ngx_string("gov_cache_total"), ngx_null_string,
      ngx_null_string,
      ngx_string("cache=\"progress_snapshot\",result=\"miss\"") },
    { ngx_string("gov_sessions_created_total"),
      ngx_string("Sessions created by gov_login."),
      ngx_string("counter"), ngx_null_string },
    { ngx_string("gov_applications_total"),
      ngx_string("Applications persisted."),
      ngx_string("counter"), ngx_null_string },
    { ngx_string("gov_idempotent_replays_total"),
      ngx_string("Submissions answered from an earlier Idempotency-Key."),
      ngx_string("counter"), ngx_null_string },
    { ngx_string("gov_dispatch_attempts_total"),
      ngx_string("Steps sent to department backends."),
      ngx_string("counter"), ngx_null_string },
    { ngx_string("gov_dispatch_failures_total"),
      ngx_string("Deliveries that failed and were queued for retry."),
      ngx_string("counter"), ngx_null_string },
    { ngx_string("gov_callbacks_total"),
      ngx_string("State changes accepted from departments."),
      ngx_string("counter"), ngx_null_string },
    { ngx_string("gov_ratings_total"),
      ngx_string("好差评 ratings by score (5 = 非常满意, 1 = 非常不满意)."),
      ngx_string("counter"), ngx_string("score=\"1\"") },
    { ngx_string("gov_ratings_total"), ngx_null_string,
      ngx_null_string, ngx_string("score=\"2\"") },
    { ngx_string("gov_ratings_total"), ngx_null_string,
      ngx_null_string, ngx_string("score=\"3\"") },
    { ngx_string("gov_ratings_total"), ngx_null_string,
      ngx_null_string, ngx_string("score=\"4\"") },
    { ngx_string("gov_ratings_total"), ngx_null_string,
      ngx_null_string, ngx_string("score=\"5\"") },
    { ngx_string("gov_cache_evictions_total"),
      ngx_string("Progress documents evicted from a full micro-cache."),
      ngx_string("counter"), ngx_string("cache=\"progress\"") },
    { ngx_string("gov_cross_site_refused_total"),
      ngx_string("State-changing requests refused for a foreign origin."),
      ngx_string("counter"), ngx_null_string },
    { ngx_string("gov_uploads_total"),
      ngx_string("Materials uploaded and stored (the same bytes count again)."),
      ngx_string("counter"), ngx_null_string },
    { ngx_string("gov_upload_bytes_total"),
      ngx_string("Bytes of materials stored."),
      ngx_string("counter"), ngx_null_string },
    { ngx_string("gov_uploads_refused_total"),
      ngx_string("Uploads refused (type, size, empty, malformed, storage)."),
      ngx_string("counter"), ngx_null_string },
    { ngx_string("gov_uploads_swept_total"),
      ngx_string("Unreferenced uploads deleted after keep_unused."),
      ngx_string("counter"), ngx_null_string },    { ngx_string("gov_cache_invalidations_total"),
      ngx_string("Progress documents dropped as Redis reported a change."),
      ngx_string("counter"), ngx_string("cache=\"progress\"") },
    { ngx_string("gov_applications_archived_total"),
      ngx_string("Applications removed from Redis once the archive "
                 "acknowledged them (gov_retention)."),
      ngx_string("counter"), ngx_null_string },
    { ngx_string("gov_archive_reads_total"),
      ngx_string("Progress lookups answered from the archive (gov_archive)."),
      ngx_string("counter"), ngx_null_string },
    { ngx_string("gov_data_unreadable_total"),
      ngx_string("Sealed values that did not open: damaged, bound to "
                 "another place, or under a key not loaded; never served."),
      ngx_string("counter"), ngx_null_string },
};


static ngx_gov_metric_desc_t  ngx_gov_metrics_gauges[] = {
    { ngx_string("gov_redis_pending"),
      ngx_string("Redis commands waiting for a reply."),
      ngx_string("gauge"), ngx_null_string },
    { ngx_string("gov_redis_connected"),
      ngx_string("Redis connections ready for commands."),
      ngx_string("gauge"), ngx_null_string },    { ngx_string("gov_redis_tracking"),
      ngx_string("Workers hearing Redis's invalidation messages."),
      ngx_string("gauge"), ngx_null_string },
};


static ngx_gov_metric_desc_t  ngx_gov_metrics_requests_desc = {
    ngx_string("gov_requests_total"),
    ngx_string("Requests answered by gov handlers, by handler and status."),
    ngx_string("counter"), ngx_null_string
};


static ngx_gov_metric_desc_t  ngx_gov_metrics_workers_desc = {
    ngx_string("gov_workers"),
    ngx_string("Worker processes reporting gauges."),
    ngx_string("gauge"), ngx_null_string
};


ngx_int_t
ngx_gov_metrics_add_zone(ngx_conf_t *cf)
{
    if (sizeof(ngx_gov_metrics_counters) / sizeof(ngx_gov_metric_desc_t)
        != NGX_GOV_M_COUNTERS
        || sizeof(ngx_gov_metrics_handlers) / sizeof(ngx_str_t)
           != NGX_GOV_H_HANDLERS)
    {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "gov: metric descriptions out of step");
        return NGX_ERROR;
    }

    return ngx_gov_shm_add(cf, "ngx_gov_metrics",
                           sizeof(ngx_gov_metrics_shm_t),
                           (void **) &ngx_gov_metrics);
}


ngx_int_t
ngx_gov_metrics_init_process(ngx_cycle_t *cycle)
{
    ngx_pid_t                pid;
    ngx_uint_t               i, g;
    ngx_gov_metrics_slot_t  *slot;

    if (ngx_gov_metrics == NULL) {
        return NGX_OK;
    }

    /*
     * Each process claims a slot for its gauges.  A slot left by a process
     * that died without exit_process (a crash) is taken over: its gauges
     * would otherwise stay counted forever.
     */

    for (i = 0; i < NGX_GOV_METRICS_SLOTS; i++) {
        slot = &ngx_gov_metrics->slots[i];
        pid = (ngx_pid_t) slot->pid;

        if (pid != 0 && pid != ngx_pid && kill(pid, 0) == 0) {
            continue;
        }

        if (pid != 0 && pid != ngx_pid && ngx_errno != NGX_ESRCH) {
            continue;
        }

        if (!ngx_atomic_cmp_set(&slot->pid, (ngx_atomic_uint_t) pid,
                                (ngx_atomic_uint_t) ngx_pid))
        {
            continue;
        }

        for (g = 0; g < NGX_GOV_G_GAUGES; g++) {
            slot->gauges[g] = 0;
        }

        ngx_gov_metrics_slot = slot;
        return NGX_OK;
    }

    ngx_log_error(NGX_LOG_WARN, cycle->log, 0,
                  "gov: no free metrics slot, gauges of this worker "
                  "are not reported");

    return NGX_OK;
}


void
ngx_gov_metrics_exit_process(ngx_cycle_t *cycle)
{
    ngx_uint_t  g;

    if (ngx_gov_metrics_slot == NULL) {
        return;
    }

    for (g = 0; g < NGX_GOV_G_GAUGES; g++) {
        ngx_gov_metrics_slot->gauges[g] = 0;
    }

    ngx_memory_barrier();

    ngx_gov_metrics_slot->pid = 0;
    ngx_gov_metrics_slot = NULL;
}


void
ngx_gov_metrics_inc(ngx_uint_t counter)
{
    if (ngx_gov_metrics) {
        (void) ngx_atomic_fetch_add(&ngx_gov_metrics->counters[counter], 1);
    }
}


void
ngx_gov_metrics_add(ngx_uint_t counter, ngx_atomic_int_t n)
{
    if (ngx_gov_metrics && counter < NGX_GOV_M_COUNTERS && n > 0) {
        (void) ngx_atomic_fetch_add(&ngx_gov_metrics->counters[counter], n);
    }
}


void
ngx_gov_metrics_gauge(ngx_uint_t gauge, ngx_atomic_int_t delta)
{
    if (ngx_gov_metrics_slot) {
        (void) ngx_atomic_fetch_add(&ngx_gov_metrics_slot->gauges[gauge],
                                    delta);
    }
}


void
ngx_gov_metrics_request(ngx_uint_t handler, ngx_uint_t status)
{
    if (ngx_gov_metrics == NULL || handler >= NGX_GOV_H_HANDLERS) {
        return;
    }

    (void) ngx_atomic_fetch_add(
               &ngx_gov_metrics->requests[handler]
                                    [ngx_gov_metrics_code_index(status)], 1);
}


void
ngx_gov_metrics_bundle(ngx_uint_t bundle)
{
    if (ngx_gov_metrics && bundle < NGX_GOV_METRICS_BUNDLES) {
        (void) ngx_atomic_fetch_add(&ngx_gov_metrics->bundles[bundle], 1);
    }
}


void
ngx_gov_metrics_queue(ngx_uint_t kind, ngx_uint_t queue, ngx_atomic_uint_t n)
{
    if (ngx_gov_metrics && queue < NGX_GOV_METRICS_QUEUES && n) {
        (void) ngx_atomic_fetch_add(&ngx_gov_metrics->queues[kind][queue], n);
    }
}


void
ngx_gov_metrics_queue_set(ngx_uint_t kind, ngx_uint_t queue,
    ngx_atomic_uint_t value)
{
    if (ngx_gov_metrics && queue < NGX_GOV_METRICS_QUEUES) {
        ngx_gov_metrics->queues[kind][queue] = value;
    }
}


void
ngx_gov_metrics_target(ngx_uint_t kind, ngx_uint_t target)
{
    if (ngx_gov_metrics && target < NGX_GOV_METRICS_TARGETS) {
        (void) ngx_atomic_fetch_add(&ngx_gov_metrics->targets[kind][target],
                                    1);
    }
}


void
ngx_gov_metrics_target_set(ngx_uint_t kind, ngx_uint_t target,
    ngx_atomic_uint_t value)
{
    if (ngx_gov_metrics && target < NGX_GOV_METRICS_TARGETS) {
        ngx_gov_metrics->targets[kind][target] = value;
    }
}


void
ngx_gov_metrics_backlog_set(ngx_atomic_uint_t queued, ngx_atomic_uint_t due,
    ngx_atomic_uint_t overdue)
{
    if (ngx_gov_metrics) {
        ngx_gov_metrics->backlog[0] = queued;
        ngx_gov_metrics->backlog[1] = due;
        ngx_gov_metrics->backlog[2] = overdue;
        ngx_gov_metrics->backlog_known = 1;
    }
}


void
ngx_gov_metrics_events_set(ngx_atomic_uint_t appended)
{
    if (ngx_gov_metrics) {
        ngx_gov_metrics->events_appended = appended;
    }
}


void
ngx_gov_metrics_item(ngx_uint_t kind, ngx_uint_t item)
{
    if (ngx_gov_metrics && item < NGX_GOV_METRICS_ITEMS) {
        (void) ngx_atomic_fetch_add(&ngx_gov_metrics->items[kind][item], 1);
    }
}


static ngx_uint_t
ngx_gov_metrics_code_index(ngx_uint_t status)
{
    ngx_uint_t  i;

    for (i = 0; ngx_gov_metrics_codes[i]; i++) {
        if (ngx_gov_metrics_codes[i] == status) {
            return i;
        }
    }

    return i;
}


static ngx_atomic_int_t
ngx_gov_metrics_gauge_sum(ngx_uint_t gauge)
{
    ngx_uint_t        i;
    ngx_atomic_int_t  sum;

    sum = 0;

    for (i = 0; i < NGX_GOV_METRICS_SLOTS; i++) {
        if (ngx_gov_metrics->slots[i].pid != 0) {
            sum += (ngx_atomic_int_t) ngx_gov_metrics->slots[i].gauges[gauge];
        }
    }

    return sum;
}


static u_char *
ngx_gov_metrics_header(u_char *p, ngx_gov_metric_desc_t *d)
{
    if (d->help.len == 0) {
        return p;
    }

    return ngx_sprintf(p, "# HELP %V %V\n# TYPE %V %V\n",
                       &d->name, &d->help, &d->name, &d->type);
}


/*
 * The exposition text of every figure, in the Prometheus text format
 * (version 0.0.4); gov_status (ngx_gov_status.c) sends it.
 */

ngx_int_t
ngx_gov_metrics_text(ngx_pool_t *pool, ngx_gov_bundles_conf_t *bc,
    ngx_gov_events_conf_t *ecf, ngx_array_t *queues, ngx_str_t *text)
{
    size_t      size;
    ngx_buf_t  *b;

    if (ngx_gov_metrics == NULL) {
        return NGX_DECLINED;
    }

    size = 1536
           + (NGX_GOV_M_COUNTERS + NGX_GOV_G_GAUGES) * 256
           + NGX_GOV_H_HANDLERS * (sizeof(ngx_gov_metrics_codes)
                                   / sizeof(ngx_uint_t)) * 96
           + (bc->bundles.nelts + 2 * bc->items.nelts) * 160
           + 1024 + (ecf->notify ? ecf->notify->nelts : 0) * 5 * 300
           + 1024 * NGX_GOV_MQ_KINDS
           + (queues ? queues->nelts : 0) * NGX_GOV_MQ_KINDS * 160;

    b = ngx_create_temp_buf(pool, size);
    if (b == NULL) {
        return NGX_ERROR;
    }

    b->last = ngx_gov_metrics_requests(b->last);
    b->last = ngx_gov_metrics_counters_text(b->last);
    b->last = ngx_gov_metrics_by_model(b->last, bc);
    b->last = ngx_gov_metrics_events(b->last, ecf);
    b->last = ngx_gov_metrics_queues(b->last, queues);

    text->data = b->pos;
    text->len = b->last - b->pos;

    return NGX_OK;
}


/* requests by handler and status code */

static u_char *
ngx_gov_metrics_requests(u_char *p)
{
    ngx_uint_t         h, c;
    ngx_atomic_uint_t  v;

    p = ngx_gov_metrics_header(p, &ngx_gov_metrics_requests_desc);

    for (h = 1; h < NGX_GOV_H_HANDLERS; h++) {
        for (c = 0; c < sizeof(ngx_gov_metrics_codes) / sizeof(ngx_uint_t);
             c++)
        {
            v = ngx_gov_metrics->requests[h][c];
            if (v == 0) {
                continue;
            }

            if (ngx_gov_metrics_codes[c]) {
                p = ngx_sprintf(p, "gov_requests_total{handler=\"%V\","
                                "code=\"%ui\"} %uA\n",
                                &ngx_gov_metrics_handlers[h],
                                ngx_gov_metrics_codes[c], v);
            } else {
                p = ngx_sprintf(p, "gov_requests_total{handler=\"%V\","
                                "code=\"other\"} %uA\n",
                                &ngx_gov_metrics_handlers[h], v);
            }
        }
    }

    return p;
}


/* the counters, the gauges summed over live processes, the workers */

static u_char *
ngx_gov_metrics_counters_text(u_char *p)
{
    ngx_uint_t              i, workers;
    ngx_atomic_uint_t       v;
    ngx_gov_metric_desc_t  *d;

    for (i = 0; i < NGX_GOV_M_COUNTERS; i++) {
        d = &ngx_gov_metrics_counters[i];
        p = ngx_gov_metrics_header(p, d);

        v = ngx_gov_metrics->counters[i];

        if (d->labels.len) {
            p = ngx_sprintf(p, "%V{%V} %uA\n", &d->name, &d->labels, v);
        } else {
            p = ngx_sprintf(p, "%V %uA\n", &d->name, v);
        }
    }

    for (i = 0; i < NGX_GOV_G_GAUGES; i++) {
        d = &ngx_gov_metrics_gauges[i];
        p = ngx_gov_metrics_header(p, d);
        p = ngx_sprintf(p, "%V %A\n", &d->name, ngx_gov_metrics_gauge_sum(i));
    }

    if (ngx_gov_metrics->backlog_known) {
        p = ngx_sprintf(p,
                "# HELP gov_retry_queued Steps and notices in the retry "
                "queue (all nodes, as Redis holds them).\n"
                "# TYPE gov_retry_queued gauge\n"
                "gov_retry_queued %uA\n"
                "# HELP gov_retry_due Of those, the ones due now (past "
                "their backoff).\n"
                "# TYPE gov_retry_due gauge\n"
                "gov_retry_due %uA\n"
                "# HELP gov_steps_overdue Steps past their working-day "
                "deadline with their clock running (all nodes).\n"
                "# TYPE gov_steps_overdue gauge\n"
                "gov_steps_overdue %uA\n",
                ngx_gov_metrics->backlog[0], ngx_gov_metrics->backlog[1],
                ngx_gov_metrics->backlog[2]);
    }

    workers = 0;

    for (i = 0; i < NGX_GOV_METRICS_SLOTS; i++) {
        if (ngx_gov_metrics->slots[i].pid != 0) {
            workers++;
        }
    }

    p = ngx_gov_metrics_header(p, &ngx_gov_metrics_workers_desc);

    return ngx_sprintf(p, "gov_workers %ui\n", workers);
}


/* applications by bundle, deliveries tried and failed by item */

static u_char *
ngx_gov_metrics_by_model(u_char *p, ngx_gov_bundles_conf_t *bc)
{
    ngx_uint_t         i, k;
    ngx_gov_item_t    *items;
    ngx_gov_bundle_t  *bundles;

    static const char  *item_names[] = {
        "gov_dispatch_attempts_by_item_total",
        "gov_dispatch_failures_by_item_total"
    };

    bundles = bc->bundles.elts;
    items = bc->items.elts;

    p = ngx_sprintf(p, "# HELP gov_applications_by_bundle_total Applications "
                    "persisted, by bundle.\n"
                    "# TYPE gov_applications_by_bundle_total counter\n");

    for (i = 0; i < bc->bundles.nelts && i < NGX_GOV_METRICS_BUNDLES; i++) {
        p = ngx_sprintf(p, "gov_applications_by_bundle_total{bundle=\"%V\"} "
                        "%uA\n", &bundles[i].id, ngx_gov_metrics->bundles[i]);
    }

    for (k = 0; k < 2; k++) {
        p = ngx_sprintf(p, "# HELP %s Deliveries %s, by item.\n"
                        "# TYPE %s counter\n", item_names[k],
                        k ? "that failed" : "tried", item_names[k]);

        for (i = 0; i < bc->items.nelts && i < NGX_GOV_METRICS_ITEMS; i++) {
            p = ngx_sprintf(p, "%s{item=\"%V\"} %uA\n", item_names[k],
                            &items[i].id, ngx_gov_metrics->items[k][i]);
        }
    }

    return p;
}


/* the outbox and each gov_notify target */

static u_char *
ngx_gov_metrics_events(u_char *p, ngx_gov_events_conf_t *ecf)
{
    ngx_uint_t                k, i;
    ngx_atomic_uint_t         v;
    ngx_gov_notify_target_t  *t;

    static const char  *names[] = { "gov_notify_delivered_total",
                                    "gov_notify_retried_total",
                                    "gov_notify_pending",
                                    "gov_notify_oldest_pending_seconds",
                                    "gov_notify_lag" };
    static const char  *helps[] = {
        "Events this node delivered to the target (2xx).",
        "Deliveries to the target this node will try again.",
        "Events read by the target's group and not yet acknowledged.",
        "Age of the oldest event not yet acknowledged by the target.",
        "Events of the target's types or not, not yet read by its group." };

    if (ecf->key.len == 0) {
        return p;
    }

    p = ngx_sprintf(p, "# HELP gov_events_appended_total Events appended "
                    "to the stream (all nodes, as Redis counts them).\n"
                    "# TYPE gov_events_appended_total counter\n"
                    "gov_events_appended_total %uA\n",
                    ngx_gov_metrics->events_appended);

    if (ecf->notify == NULL) {
        return p;
    }

    t = ecf->notify->elts;

    for (k = 0; k < NGX_GOV_MT_KINDS; k++) {
        p = ngx_sprintf(p, "# HELP %s %s\n# TYPE %s %s\n", names[k],
                        helps[k], names[k],
                        k < NGX_GOV_MT_PENDING ? "counter" : "gauge");

        for (i = 0; i < ecf->notify->nelts && i < NGX_GOV_METRICS_TARGETS;
             i++)
        {
            v = ngx_gov_metrics->targets[k][i];

            if (k == NGX_GOV_MT_OLDEST_MS) {
                p = ngx_sprintf(p, "%s{target=\"%V\"} %uA.%03uA\n",
                                names[k], &t[i].uri, v / 1000, v % 1000);

            } else {
                p = ngx_sprintf(p, "%s{target=\"%V\"} %uA\n", names[k],
                                &t[i].uri, v);
            }
        }
    }

    return p;
}


/* the waiting rooms: this node's counts, and the queue as Redis last said */

static u_char *
ngx_gov_metrics_queues(u_char *p, ngx_array_t *queues)
{
    ngx_uint_t         i, k;
    ngx_gov_queue_t  **q;

    static const char  *names[NGX_GOV_MQ_KINDS][3] = {
        { "gov_queue_admitted_total", "counter",
          "Visitors let in by the waiting room (this node)." },
        { "gov_queue_tickets_total", "counter",
          "Tickets given to visitors who had to wait (this node)." },
        { "gov_queue_dropped_total", "counter",
          "Tickets dropped, not seen for a minute (this node's decisions)." },
        { "gov_queue_full_total", "counter",
          "Visitors turned away: the wait would pass max_wait (this node)." },
        { "gov_queue_unchecked_total", "counter",
          "Visitors let in because Redis could not decide (this node)." },
        { "gov_queue_waiting", "gauge",
          "Visitors waiting in line, as Redis last said." },
        { "gov_queue_wait_seconds", "gauge",
          "The estimated wait of a visitor arriving now, as Redis last said." }
    };

    if (queues == NULL || queues->nelts == 0) {
        return p;
    }

    q = queues->elts;

    for (k = 0; k < NGX_GOV_MQ_KINDS; k++) {
        p = ngx_sprintf(p, "# HELP %s %s\n# TYPE %s %s\n", names[k][0],
                        names[k][2], names[k][0], names[k][1]);

        for (i = 0; i < queues->nelts && i < NGX_GOV_METRICS_QUEUES; i++) {
            p = ngx_sprintf(p, "%s{zone=\"%V\"} %uA\n", names[k][0],
                            &q[i]->name, ngx_gov_metrics->queues[k][i]);
        }
    }

    return p;
}
