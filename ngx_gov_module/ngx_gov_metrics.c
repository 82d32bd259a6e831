
/*
 * Copyright (C) ngx_gov_module authors
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_gov_module.h"
#include "ngx_gov_metrics.h"


#define NGX_GOV_METRICS_SLOTS  256
#define NGX_GOV_LOCKS          1024


typedef struct {
    ngx_atomic_t              pid;
    ngx_atomic_t              gauges[NGX_GOV_G_GAUGES];
} ngx_gov_metrics_slot_t;


typedef struct {
    ngx_atomic_t              counters[NGX_GOV_M_COUNTERS];
    ngx_atomic_t              requests[NGX_GOV_H_HANDLERS][32];
    ngx_atomic_t              bundles[NGX_GOV_METRICS_BUNDLES];
    ngx_atomic_t              items[2][NGX_GOV_METRICS_ITEMS];
    ngx_gov_metrics_slot_t    slots[NGX_GOV_METRICS_SLOTS];

    /* single-flight locks: the time (ms) each expires, 0 when free */
    ngx_atomic_t              locks[NGX_GOV_LOCKS];

    /* per bundle, the highest application sequence issued: day << 20 | n */
    ngx_atomic_t              seq[NGX_GOV_METRICS_BUNDLES];
} ngx_gov_metrics_shm_t;


typedef struct {
    ngx_str_t                 name;
    ngx_str_t                 help;
    ngx_str_t                 type;
    ngx_str_t                 labels;
} ngx_gov_metric_desc_t;


static ngx_int_t ngx_gov_metrics_init_zone(ngx_shm_zone_t *shm_zone,
    void *data);
static ngx_uint_t ngx_gov_metrics_code_index(ngx_uint_t status);
static ngx_atomic_int_t ngx_gov_metrics_gauge_sum(ngx_uint_t gauge);
static u_char *ngx_gov_metrics_header(u_char *p, ngx_gov_metric_desc_t *d);


static ngx_gov_metrics_shm_t   *ngx_gov_metrics;
static ngx_gov_metrics_slot_t  *ngx_gov_metrics_slot;


/* the last entry, 0, counts every status code not listed */

static ngx_uint_t  ngx_gov_metrics_codes[] = {
    200, 201, 204, 301, 302, 303, 304, 400, 401, 403, 404, 405, 409, 413,
    415, 422, 429, 499, 500, 502, 503, 504, 0
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
};


static ngx_gov_metric_desc_t  ngx_gov_metrics_gauges[] = {
    { ngx_string("gov_redis_pending"),
      ngx_string("Redis commands waiting for a reply."),
      ngx_string("gauge"), ngx_null_string },
    { ngx_string("gov_redis_connected"),
      ngx_string("Redis connections ready for commands."),
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
    size_t           size;
    ngx_str_t        name = ngx_string("ngx_gov_metrics");
    ngx_shm_zone_t  *shm_zone;

    size = ngx_align(sizeof(ngx_gov_metrics_shm_t), ngx_pagesize)
           + 8 * ngx_pagesize;

    if (sizeof(ngx_gov_metrics_counters) / sizeof(ngx_gov_metric_desc_t)
        != NGX_GOV_M_COUNTERS
        || sizeof(ngx_gov_metrics_handlers) / sizeof(ngx_str_t)
           != NGX_GOV_H_HANDLERS)
    {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "gov: metric descriptions out of step");
        return NGX_ERROR;
    }

    shm_zone = ngx_shared_memory_add(cf, &name, size, &ngx_http_gov_module);
    if (shm_zone == NULL) {
        return NGX_ERROR;
    }

    shm_zone->init = ngx_gov_metrics_init_zone;
    shm_zone->noreuse = 0;

    return NGX_OK;
}


static ngx_int_t
ngx_gov_metrics_init_zone(ngx_shm_zone_t *shm_zone, void *data)
{
    ngx_slab_pool_t  *shpool;

    if (data) {
        /* a reload: keep counting where the old cycle stopped */
        shm_zone->data = data;
        ngx_gov_metrics = data;
        return NGX_OK;
    }

    shpool = (ngx_slab_pool_t *) shm_zone->shm.addr;

    if (shm_zone->shm.exists) {
        ngx_gov_metrics = shpool->data;
        shm_zone->data = shpool->data;
        return NGX_OK;
    }

    ngx_gov_metrics = ngx_slab_calloc(shpool, sizeof(ngx_gov_metrics_shm_t));
    if (ngx_gov_metrics == NULL) {
        return NGX_ERROR;
    }

    shpool->data = ngx_gov_metrics;
    shm_zone->data = ngx_gov_metrics;

    return NGX_OK;
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


/*
 * The highest sequence number this node issued today for a bundle's
 * application ids, kept across reloads: if Redis comes back without its
 * data, new ids continue above it instead of repeating ids that
 * departments already know.
 */

ngx_uint_t
ngx_gov_seq_high(ngx_uint_t bundle, ngx_uint_t day)
{
    ngx_atomic_uint_t  v;

    if (ngx_gov_metrics == NULL || bundle >= NGX_GOV_METRICS_BUNDLES) {
        return 0;
    }

    v = ngx_gov_metrics->seq[bundle];

    return (v >> 20) == day ? (ngx_uint_t) (v & 0xfffff) : 0;
}


void
ngx_gov_seq_seen(ngx_uint_t bundle, ngx_uint_t day, ngx_uint_t n)
{
    ngx_atomic_uint_t  old, v;

    if (ngx_gov_metrics == NULL || bundle >= NGX_GOV_METRICS_BUNDLES
        || n > 0xfffff)
    {
        return;
    }

    v = ((ngx_atomic_uint_t) day << 20) | n;

    for ( ;; ) {
        old = ngx_gov_metrics->seq[bundle];

        if (old >= v
            || ngx_atomic_cmp_set(&ngx_gov_metrics->seq[bundle], old, v))
        {
            return;
        }
    }
}


void
ngx_gov_metrics_item(ngx_uint_t kind, ngx_uint_t item)
{
    if (ngx_gov_metrics && item < NGX_GOV_METRICS_ITEMS) {
        (void) ngx_atomic_fetch_add(&ngx_gov_metrics->items[kind][item], 1);
    }
}


/*
 * A lock across workers, in shared memory, that expires by itself: a
 * worker that dies holding it does not hold it for ever.  Two keys may
 * share a slot; the cost is a skipped refresh, never a wrong answer.
 */

ngx_uint_t
ngx_gov_shm_trylock(uint32_t hash, ngx_msec_t ttl)
{
    ngx_atomic_t       *slot;
    ngx_atomic_uint_t   old;

    if (ngx_gov_metrics == NULL) {
        return 1;
    }

    slot = &ngx_gov_metrics->locks[hash % NGX_GOV_LOCKS];
    old = *slot;

    if (old != 0 && (ngx_msec_int_t) ((ngx_msec_t) old - ngx_current_msec) > 0)
    {
        return 0;
    }

    return ngx_atomic_cmp_set(slot, old,
                              (ngx_atomic_uint_t) (ngx_current_msec + ttl));
}


void
ngx_gov_shm_unlock(uint32_t hash)
{
    if (ngx_gov_metrics) {
        ngx_gov_metrics->locks[hash % NGX_GOV_LOCKS] = 0;
    }
}


/*
 * Keep the lock until "until" (a point on ngx_current_msec's clock), so
 * that a lookup which read a stale "not yet refreshed" answer before the
 * holder's mark was stored does not start another round once it ends.
 */

void
ngx_gov_shm_unlock_at(uint32_t hash, ngx_msec_t until)
{
    if (ngx_gov_metrics == NULL) {
        return;
    }

    ngx_gov_metrics->locks[hash % NGX_GOV_LOCKS] =
        ((ngx_msec_int_t) (until - ngx_current_msec) > 0) ? until : 0;
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


ngx_int_t
ngx_gov_metrics_status_handler(ngx_http_request_t *r)
{
    size_t                     size;
    ngx_int_t                  rc;
    ngx_buf_t                 *b;
    ngx_uint_t                 i, h, c, workers, k;
    ngx_chain_t                out;
    ngx_atomic_uint_t          v;
    ngx_gov_item_t            *items;
    ngx_gov_bundle_t          *bundles;
    ngx_gov_metric_desc_t     *d;
    ngx_http_gov_main_conf_t  *gmcf;

    static const char  *item_names[] = { "gov_dispatch_attempts_by_item",
                                         "gov_dispatch_failures_by_item" };

    rc = ngx_http_gov_get_only(r);
    if (rc != NGX_OK) {
        return rc;
    }

    if (ngx_gov_metrics == NULL) {
        return NGX_HTTP_SERVICE_UNAVAILABLE;
    }

    gmcf = ngx_http_get_module_main_conf(r, ngx_http_gov_module);
    bundles = gmcf->bundles.bundles.elts;
    items = gmcf->bundles.items.elts;

    size = 1024
           + (NGX_GOV_M_COUNTERS + NGX_GOV_G_GAUGES) * 256
           + NGX_GOV_H_HANDLERS * (sizeof(ngx_gov_metrics_codes)
                                   / sizeof(ngx_uint_t)) * 96
           + (gmcf->bundles.bundles.nelts + 2 * gmcf->bundles.items.nelts)
             * 160;

    b = ngx_create_temp_buf(r->pool, size);
    if (b == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    b->last = ngx_gov_metrics_header(b->last, &ngx_gov_metrics_requests_desc);

    for (h = 1; h < NGX_GOV_H_HANDLERS; h++) {
        for (c = 0; c < sizeof(ngx_gov_metrics_codes) / sizeof(ngx_uint_t);
             c++)
        {
            v = ngx_gov_metrics->requests[h][c];
            if (v == 0) {
                continue;
            }

            if (ngx_gov_metrics_codes[c]) {
                b->last = ngx_sprintf(b->last,
                                      "gov_requests_total{handler=\"%V\","
                                      "code=\"%ui\"} %uA\n",
                                      &ngx_gov_metrics_handlers[h],
                                      ngx_gov_metrics_codes[c], v);
            } else {
                b->last = ngx_sprintf(b->last,
                                      "gov_requests_total{handler=\"%V\","
                                      "code=\"other\"} %uA\n",
                                      &ngx_gov_metrics_handlers[h], v);
            }
        }
    }

    for (i = 0; i < NGX_GOV_M_COUNTERS; i++) {
        d = &ngx_gov_metrics_counters[i];
        b->last = ngx_gov_metrics_header(b->last, d);

        v = ngx_gov_metrics->counters[i];

        if (d->labels.len) {
            b->last = ngx_sprintf(b->last, "%V{%V} %uA\n",
                                  &d->name, &d->labels, v);
        } else {
            b->last = ngx_sprintf(b->last, "%V %uA\n", &d->name, v);
        }
    }

    for (i = 0; i < NGX_GOV_G_GAUGES; i++) {
        d = &ngx_gov_metrics_gauges[i];
        b->last = ngx_gov_metrics_header(b->last, d);
        b->last = ngx_sprintf(b->last, "%V %A\n", &d->name,
                              ngx_gov_metrics_gauge_sum(i));
    }

    b->last = ngx_sprintf(b->last,
                  "# HELP gov_applications_by_bundle Applications persisted, "
                  "by bundle.\n"
                  "# TYPE gov_applications_by_bundle counter\n");

    for (i = 0; i < gmcf->bundles.bundles.nelts
                && i < NGX_GOV_METRICS_BUNDLES; i++)
    {
        b->last = ngx_sprintf(b->last,
                              "gov_applications_by_bundle{bundle=\"%V\"} "
                              "%uA\n", &bundles[i].id,
                              ngx_gov_metrics->bundles[i]);
    }

    for (k = 0; k < 2; k++) {
        b->last = ngx_sprintf(b->last, "# HELP %s Deliveries %s, by item.\n"
                              "# TYPE %s counter\n", item_names[k],
                              k ? "that failed" : "tried", item_names[k]);

        for (i = 0; i < gmcf->bundles.items.nelts
                    && i < NGX_GOV_METRICS_ITEMS; i++)
        {
            b->last = ngx_sprintf(b->last, "%s{item=\"%V\"} %uA\n",
                                  item_names[k], &items[i].id,
                                  ngx_gov_metrics->items[k][i]);
        }
    }

    workers = 0;

    for (i = 0; i < NGX_GOV_METRICS_SLOTS; i++) {
        if (ngx_gov_metrics->slots[i].pid != 0) {
            workers++;
        }
    }

    b->last = ngx_gov_metrics_header(b->last, &ngx_gov_metrics_workers_desc);
    b->last = ngx_sprintf(b->last, "gov_workers %ui\n", workers);

    b->last_buf = (r == r->main) ? 1 : 0;
    b->last_in_chain = 1;

    r->headers_out.status = NGX_HTTP_OK;
    r->headers_out.content_length_n = b->last - b->pos;
    ngx_str_set(&r->headers_out.content_type,
                "text/plain; version=0.0.4; charset=utf-8");
    r->headers_out.content_type_len = r->headers_out.content_type.len;

    rc = ngx_http_send_header(r);

    if (rc == NGX_ERROR || rc > NGX_OK || r->header_only) {
        return rc;
    }

    out.buf = b;
    out.next = NULL;

    return ngx_http_output_filter(r, &out);
}
