
/*
 * Copyright (C) ngx_gov_module authors
 */


/*
 * The progress micro-cache: progress documents in shared memory, keyed by
 * application id, in a hash table with an LRU queue, so that a hot lookup
 * touches neither Redis nor another worker.  The table has a bucket for
 * every kilobyte of the zone (about one document each): a lookup reads one
 * bucket and, nearly always, one entry, however many applications are
 * cached (a red-black tree walked 17 levels at 100,000 entries, a cache
 * miss each).  Entries live "ttl" (default 1s), are dropped at once
 * when a callback or a rating changes the application, and the least
 * recently used go first when the zone is full.  Each entry keeps the
 * application's subject and actor: access is checked on every hit.
 *
 * Tracked entries.  Redis reports every change of a progress snapshot
 * (PREFIXdoc:ID: written, deleted by a script that changed the
 * application, expired) to each worker (ngx_gov_redis_watch(), client-side
 * caching), whichever node made it.  An entry made of a snapshot read
 * while the reports were heard may then live "track" (default 10m) instead
 * of "ttl", within its day (deadlines move with the date) and the
 * departments' refresh age; any entry is dropped at once when its
 * snapshot's change is reported.  Two counters in the
 * zone keep that honest: "epoch" moves whenever reports may have been
 * missed (a worker's subscription lost, Redis flushed), and a tracked
 * entry is only believed in the epoch it was made in; "seq" numbers the
 * reports, each bucket keeps the number of the last one that fell in it,
 * and a snapshot read before a report of its bucket (the report overtook
 * the answer) makes an untracked entry.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_gov_conf.h"
#include "ngx_gov_metrics.h"
#include "ngx_gov_redis.h"
#include "ngx_gov_pcache.h"
#include "gov_date.h"
#include "gov_pieces.h"


typedef struct ngx_gov_pcache_node_s  ngx_gov_pcache_node_t;
typedef struct ngx_gov_pcache_tail_s  ngx_gov_pcache_tail_t;

/* an entry's further pieces (gov_pieces()) */
struct ngx_gov_pcache_tail_s {
    ngx_gov_pcache_tail_t    *next;
    size_t                    len;          /* its bytes of the entry */
    u_char                    data[1];
};

struct ngx_gov_pcache_node_s {
    ngx_gov_pcache_node_t    *next;         /* in its bucket */
    ngx_gov_pcache_tail_t    *tail;         /* the rest of the data */
    size_t                    first;        /* bytes of data here */
    size_t                    size;         /* the pieces' bytes */
    uint32_t                  hash;
    ngx_queue_t               queue;
    ngx_msec_t                expires;
    ngx_msec_t                stored;
    ngx_msec_t                tracked;      /* believed until; 0: not */
    ngx_uint_t                epoch;
    int                       day;
    u_short                   id_len;
    u_short                   subject_len;
    u_short                   actor_len;
    u_short                   etag_len;
    size_t                    body_len;
    u_char                    data[1];     /* id subject actor etag body */
};


#define NGX_GOV_PCACHE_LINK   offsetof(ngx_gov_pcache_tail_t, data)


#define NGX_GOV_PCACHE_ENTRY  1024          /* a document, about */


typedef struct {
    ngx_queue_t               queue;        /* most recently used first */
    ngx_uint_t                mask;         /* buckets - 1 */
    ngx_gov_pcache_node_t   **buckets;
    uint32_t                 *reported;     /* per bucket: the last seq */
    uint32_t                  seq;          /* reports of changes */
    ngx_uint_t                epoch;        /* reports may have been lost */
    ngx_atomic_t              entries;
    ngx_atomic_t              bytes;        /* the entries' pieces */
    size_t                    zone;         /* the zone's size */
} ngx_gov_pcache_sh_t;


typedef struct {
    ngx_gov_pcache_sh_t      *sh;
    ngx_slab_pool_t          *shpool;
} ngx_gov_pcache_ctx_t;


static ngx_int_t ngx_gov_pcache_init_zone(ngx_shm_zone_t *shm_zone,
    void *data);
static ngx_gov_pcache_node_t *ngx_gov_pcache_find(ngx_gov_pcache_ctx_t *ctx,
    ngx_str_t *id, uint32_t hash);
static void ngx_gov_pcache_free(ngx_gov_pcache_ctx_t *ctx,
    ngx_gov_pcache_node_t *n);
static ngx_shm_zone_t *ngx_gov_pcache_zone(void);
static void ngx_gov_pcache_sizing(ngx_conf_t *cf, ngx_str_t *name,
    size_t size);
static void ngx_gov_pcache_changed(ngx_str_t *key);
static ngx_uint_t ngx_gov_pcache_forget(ngx_str_t *id);
static ngx_uint_t ngx_gov_pcache_fresh(ngx_gov_pcache_ctx_t *ctx,
    ngx_gov_pcache_node_t *n);
static ngx_gov_pcache_node_t *ngx_gov_pcache_alloc(ngx_gov_pcache_ctx_t *ctx,
    size_t *pieces, size_t npieces);
static void ngx_gov_pcache_write(ngx_gov_pcache_node_t *n, u_char *src,
    size_t len, size_t *off);
static void ngx_gov_pcache_read(ngx_gov_pcache_node_t *n, size_t off,
    size_t len, u_char *dst);


/* the snapshots' keys, PREFIXdoc:ID, whose changes Redis reports */
static ngx_str_t  ngx_gov_pcache_prefix;


char *
ngx_gov_pcache_directive(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_gov_main_conf_t *gmcf = conf;

    u_char                *p;
    ssize_t                size;
    ngx_str_t             *value, name, s;
    ngx_uint_t             i;
    ngx_gov_pcache_ctx_t  *ctx;

    if (gmcf->pcache_zone) {
        return "is duplicate";
    }

    value = cf->args->elts;

    ngx_str_null(&name);
    size = 0;
    gmcf->pcache_ttl = 1000;
    gmcf->pcache_track = 600000;

    for (i = 1; i < cf->args->nelts; i++) {

        if (ngx_strncmp(value[i].data, "zone=", 5) == 0) {
            name.data = value[i].data + 5;
            p = (u_char *) ngx_strchr(name.data, ':');

            if (p == NULL) {
                ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                                   "invalid zone size \"%V\", expected "
                                   "zone=NAME:SIZE", &value[i]);
                return NGX_CONF_ERROR;
            }

            name.len = p - name.data;

            s.data = p + 1;
            s.len = value[i].data + value[i].len - s.data;

            size = ngx_parse_size(&s);

            if (size == NGX_ERROR || name.len == 0) {
                ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                                   "invalid zone \"%V\"", &value[i]);
                return NGX_CONF_ERROR;
            }

            if (size < (ssize_t) (8 * ngx_pagesize)) {
                ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                                   "zone \"%V\" is too small, at least %uz",
                                   &name, 8 * ngx_pagesize);
                return NGX_CONF_ERROR;
            }

            continue;
        }

        if (ngx_strncmp(value[i].data, "ttl=", 4) == 0) {
            s.data = value[i].data + 4;
            s.len = value[i].len - 4;

            gmcf->pcache_ttl = ngx_parse_time(&s, 0);

            if (gmcf->pcache_ttl == (ngx_msec_t) NGX_ERROR
                || gmcf->pcache_ttl == 0)
            {
                ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                                   "invalid ttl \"%V\"", &value[i]);
                return NGX_CONF_ERROR;
            }

            continue;
        }

        if (ngx_strncmp(value[i].data, "track=", 6) == 0) {
            s.data = value[i].data + 6;
            s.len = value[i].len - 6;

            if (s.len == 3 && ngx_strncmp(s.data, "off", 3) == 0) {
                gmcf->pcache_track = 0;
                continue;
            }

            gmcf->pcache_track = ngx_parse_time(&s, 0);

            if (gmcf->pcache_track == (ngx_msec_t) NGX_ERROR
                || gmcf->pcache_track == 0
                || gmcf->pcache_track > 86400000)
            {
                ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                                   "invalid track \"%V\", expected a time "
                                   "up to 1d, or \"off\"", &value[i]);
                return NGX_CONF_ERROR;
            }

            continue;
        }

        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid parameter \"%V\" in gov_progress_cache",
                           &value[i]);
        return NGX_CONF_ERROR;
    }

    if (name.len == 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "gov_progress_cache needs zone=NAME:SIZE");
        return NGX_CONF_ERROR;
    }

    ngx_gov_pcache_sizing(cf, &name, size);

    ctx = ngx_pcalloc(cf->pool, sizeof(ngx_gov_pcache_ctx_t));
    if (ctx == NULL) {
        return NGX_CONF_ERROR;
    }

    gmcf->pcache_zone = ngx_shared_memory_add(cf, &name, size,
                                              &ngx_http_gov_module);
    if (gmcf->pcache_zone == NULL) {
        return NGX_CONF_ERROR;
    }

    if (gmcf->pcache_zone->data) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "zone \"%V\" is already used", &name);
        return NGX_CONF_ERROR;
    }

    gmcf->pcache_zone->init = ngx_gov_pcache_init_zone;
    gmcf->pcache_zone->data = ctx;

    return NGX_CONF_OK;
}


/* the zone of the running configuration, if any */

/*
 * A zone that holds fewer documents than the workers touch between two
 * expiries thrashes without an error: say so at nginx -t and at start.
 * A document takes about NGX_GOV_PCACHE_ENTRY bytes (README: sizing).
 */

static void
ngx_gov_pcache_sizing(ngx_conf_t *cf, ngx_str_t *name, size_t size)
{
    ngx_int_t         workers;
    ngx_uint_t        holds;
    ngx_core_conf_t  *ccf;

    ccf = (ngx_core_conf_t *) ngx_get_conf(cf->cycle->conf_ctx,
                                           ngx_core_module);

    workers = (ccf && ccf->worker_processes > 0) ? ccf->worker_processes : 1;
    holds = size / NGX_GOV_PCACHE_ENTRY;

    if (holds < 1024 * (ngx_uint_t) workers) {
        ngx_conf_log_error(NGX_LOG_NOTICE, cf, 0,
                           "gov_progress_cache zone \"%V\" of %uz kB holds "
                           "about %ui progress documents, fewer than 1024 "
                           "per worker: give it 1 kB for every application "
                           "looked up within its ttl", name, size / 1024,
                           holds);
    }
}


static ngx_shm_zone_t *
ngx_gov_pcache_zone(void)
{
    ngx_http_gov_main_conf_t  *gmcf;

    gmcf = ngx_http_cycle_get_module_main_conf(ngx_cycle, ngx_http_gov_module);

    return gmcf ? gmcf->pcache_zone : NULL;
}


static ngx_int_t
ngx_gov_pcache_init_zone(ngx_shm_zone_t *shm_zone, void *data)
{
    ngx_gov_pcache_ctx_t  *octx = data;

    size_t                 len, n;
    ngx_gov_pcache_ctx_t  *ctx;

    ctx = shm_zone->data;

    if (octx) {
        /* a reload: the cached documents stay */
        ctx->sh = octx->sh;
        ctx->shpool = octx->shpool;
        return NGX_OK;
    }

    ctx->shpool = (ngx_slab_pool_t *) shm_zone->shm.addr;

    if (shm_zone->shm.exists) {
        ctx->sh = ctx->shpool->data;
        return NGX_OK;
    }

    ctx->sh = ngx_slab_alloc(ctx->shpool, sizeof(ngx_gov_pcache_sh_t));
    if (ctx->sh == NULL) {
        return NGX_ERROR;
    }

    ctx->shpool->data = ctx->sh;

    ngx_queue_init(&ctx->sh->queue);

    /* a bucket per document the zone holds, a power of two */

    n = 64;

    while (n < shm_zone->shm.size / NGX_GOV_PCACHE_ENTRY) {
        n *= 2;
    }

    ctx->sh->mask = n - 1;
    ctx->sh->buckets = ngx_slab_calloc(ctx->shpool,
                                       n * sizeof(ngx_gov_pcache_node_t *));
    if (ctx->sh->buckets == NULL) {
        return NGX_ERROR;
    }

    ctx->sh->reported = ngx_slab_calloc(ctx->shpool, n * sizeof(uint32_t));
    if (ctx->sh->reported == NULL) {
        return NGX_ERROR;
    }

    ctx->sh->seq = 0;
    ctx->sh->epoch = 1;
    ctx->sh->entries = 0;
    ctx->sh->bytes = 0;
    ctx->sh->zone = shm_zone->shm.size;

    len = sizeof(" in gov_progress_cache zone \"\"") + shm_zone->shm.name.len;

    ctx->shpool->log_ctx = ngx_slab_alloc(ctx->shpool, len);
    if (ctx->shpool->log_ctx == NULL) {
        return NGX_ERROR;
    }

    ngx_sprintf(ctx->shpool->log_ctx, " in gov_progress_cache zone \"%V\"%Z",
                &shm_zone->shm.name);

    /* a full zone is not an error here: the oldest entries make room */
    ctx->shpool->log_nomem = 0;

    return NGX_OK;
}


static ngx_gov_pcache_node_t *
ngx_gov_pcache_find(ngx_gov_pcache_ctx_t *ctx, ngx_str_t *id, uint32_t hash)
{
    ngx_gov_pcache_node_t  *n;

    for (n = ctx->sh->buckets[hash & ctx->sh->mask]; n; n = n->next) {
        if (n->hash == hash && n->id_len == id->len
            && ngx_memcmp(n->data, id->data, id->len) == 0)
        {
            return n;
        }
    }

    return NULL;
}


static void
ngx_gov_pcache_free(ngx_gov_pcache_ctx_t *ctx, ngx_gov_pcache_node_t *n)
{
    ngx_gov_pcache_tail_t   *t, *next;
    ngx_gov_pcache_node_t  **p;

    for (p = &ctx->sh->buckets[n->hash & ctx->sh->mask]; *p; p = &(*p)->next) {
        if (*p == n) {
            *p = n->next;
            break;
        }
    }

    ngx_queue_remove(&n->queue);

    ctx->sh->entries--;
    ctx->sh->bytes -= n->size;

    for (t = n->tail; t; t = next) {
        next = t->next;
        ngx_slab_free_locked(ctx->shpool, t);
    }

    ngx_slab_free_locked(ctx->shpool, n);
}


/*
 * An entry's pieces, all or none: sized to the slab allocator's classes
 * (gov_pieces()), so that a zone holds nearly its size of entries.
 */

static ngx_gov_pcache_node_t *
ngx_gov_pcache_alloc(ngx_gov_pcache_ctx_t *ctx, size_t *pieces,
    size_t npieces)
{
    void                   *got[GOV_PIECES_MAX];
    size_t                  i;
    ngx_gov_pcache_node_t  *n;
    ngx_gov_pcache_tail_t  *t;

    for (i = 0; i < npieces; i++) {
        got[i] = ngx_slab_alloc_locked(ctx->shpool, pieces[i]);

        if (got[i] == NULL) {
            while (i--) {
                ngx_slab_free_locked(ctx->shpool, got[i]);
            }

            return NULL;
        }
    }

    n = got[0];
    n->first = pieces[0] - offsetof(ngx_gov_pcache_node_t, data);
    n->size = gov_pieces_total(pieces, npieces);
    n->tail = NULL;

    for (i = npieces - 1; i > 0; i--) {
        t = got[i];
        t->len = pieces[i] - NGX_GOV_PCACHE_LINK;
        t->next = n->tail;
        n->tail = t;
    }

    return n;
}


/* "len" bytes of the entry's data from "off" on, across its pieces */

static void
ngx_gov_pcache_write(ngx_gov_pcache_node_t *n, u_char *src, size_t len,
    size_t *off)
{
    size_t                  at, k;
    ngx_gov_pcache_tail_t  *t;

    at = *off;
    *off += len;

    if (at < n->first) {
        k = ngx_min(len, n->first - at);
        ngx_memcpy(n->data + at, src, k);
        src += k;
        len -= k;
        at += k;
    }

    at -= n->first;

    for (t = n->tail; t && len; t = t->next) {
        if (at >= t->len) {
            at -= t->len;
            continue;
        }

        k = ngx_min(len, t->len - at);
        ngx_memcpy(t->data + at, src, k);
        src += k;
        len -= k;
        at = 0;
    }
}


static void
ngx_gov_pcache_read(ngx_gov_pcache_node_t *n, size_t off, size_t len,
    u_char *dst)
{
    size_t                  k;
    ngx_gov_pcache_tail_t  *t;

    if (off < n->first) {
        k = ngx_min(len, n->first - off);
        dst = ngx_cpymem(dst, n->data + off, k);
        len -= k;
        off += k;
    }

    off -= n->first;

    for (t = n->tail; t && len; t = t->next) {
        if (off >= t->len) {
            off -= t->len;
            continue;
        }

        k = ngx_min(len, t->len - off);
        dst = ngx_cpymem(dst, t->data + off, k);
        len -= k;
        off = 0;
    }
}


ngx_int_t
ngx_gov_pcache_get(ngx_http_request_t *r, ngx_str_t *id, ngx_msec_t max_age,
    ngx_gov_pcache_entry_t *e)
{
    u_char                 *p;
    uint32_t                hash;
    ngx_shm_zone_t         *zone;
    ngx_gov_pcache_ctx_t   *ctx;
    ngx_gov_pcache_node_t  *n;

    zone = ngx_gov_pcache_zone();
    if (zone == NULL) {
        return NGX_DECLINED;
    }

    ctx = zone->data;
    hash = ngx_crc32_short(id->data, id->len);

    ngx_shmtx_lock(&ctx->shpool->mutex);

    n = ngx_gov_pcache_find(ctx, id, hash);

    if (n == NULL) {
        ngx_shmtx_unlock(&ctx->shpool->mutex);
        ngx_gov_metrics_inc(NGX_GOV_M_PCACHE_MISS);
        return NGX_DECLINED;
    }

    if (!ngx_gov_pcache_fresh(ctx, n)
        || ngx_current_msec - n->stored >= max_age)
    {
        /* expired, or older than the departments may be asked again */
        ngx_gov_pcache_free(ctx, n);
        ngx_shmtx_unlock(&ctx->shpool->mutex);
        ngx_gov_metrics_inc(NGX_GOV_M_PCACHE_MISS);
        return NGX_DECLINED;
    }

    ngx_queue_remove(&n->queue);
    ngx_queue_insert_head(&ctx->sh->queue, &n->queue);

    /* copied out under the lock: the entry may go right after */

    p = ngx_pnalloc(r->pool, n->subject_len + n->actor_len + n->etag_len
                             + n->body_len);
    if (p == NULL) {
        ngx_shmtx_unlock(&ctx->shpool->mutex);
        return NGX_ERROR;
    }

    ngx_gov_pcache_read(n, n->id_len,
                        n->subject_len + n->actor_len + n->etag_len
                        + n->body_len, p);

    ngx_shmtx_unlock(&ctx->shpool->mutex);

    e->subject.data = p;
    e->subject.len = n->subject_len;
    p += n->subject_len;
    e->actor.data = p;
    e->actor.len = n->actor_len;
    p += n->actor_len;
    e->etag.data = p;
    e->etag.len = n->etag_len;
    p += n->etag_len;
    e->body.data = p;
    e->body.len = n->body_len;

    ngx_gov_metrics_inc(NGX_GOV_M_PCACHE_HIT);

    return NGX_OK;
}


void
ngx_gov_pcache_put(ngx_http_request_t *r, ngx_str_t *id,
    ngx_gov_pcache_entry_t *e, ngx_gov_pcache_mark_t *m)
{
    size_t                     size, off, npieces;
    size_t                     pieces[GOV_PIECES_MAX];
    uint32_t                   hash;
    ngx_uint_t                 tries;
    ngx_queue_t               *q;
    ngx_gov_pcache_ctx_t      *ctx;
    ngx_gov_pcache_node_t     *n;
    ngx_http_gov_main_conf_t  *gmcf;

    gmcf = ngx_http_get_module_main_conf(r, ngx_http_gov_module);

    if (gmcf->pcache_zone == NULL || id->len > 64
        || e->subject.len > 512 || e->actor.len > 512 || e->etag.len > 64)
    {
        return;
    }

    ctx = gmcf->pcache_zone->data;
    hash = ngx_crc32_short(id->data, id->len);

    size = offsetof(ngx_gov_pcache_node_t, data) + id->len + e->subject.len
           + e->actor.len + e->etag.len + e->body.len;

    /* the first piece holds the header and the id, which lookups compare */

    npieces = gov_pieces(size, offsetof(ngx_gov_pcache_node_t, data) + 64,
                         NGX_GOV_PCACHE_LINK, ngx_pagesize, pieces);
    if (npieces == 0) {
        return;
    }

    ngx_shmtx_lock(&ctx->shpool->mutex);

    n = ngx_gov_pcache_find(ctx, id, hash);
    if (n) {
        ngx_gov_pcache_free(ctx, n);
    }

    /* full: the least recently used go first, a few at a time */

    for (tries = 0; ; tries++) {
        n = ngx_gov_pcache_alloc(ctx, pieces, npieces);

        if (n || tries == 16 || ngx_queue_empty(&ctx->sh->queue)) {
            break;
        }

        q = ngx_queue_last(&ctx->sh->queue);
        ngx_gov_pcache_free(ctx,
                            ngx_queue_data(q, ngx_gov_pcache_node_t, queue));
        ngx_gov_metrics_inc(NGX_GOV_M_PCACHE_EVICTED);
    }

    if (n == NULL) {
        ngx_shmtx_unlock(&ctx->shpool->mutex);
        return;
    }

    n->hash = hash;
    n->stored = ngx_current_msec;
    n->expires = ngx_current_msec + gmcf->pcache_ttl;
    n->tracked = 0;
    n->epoch = ctx->sh->epoch;
    n->day = gov_day(ngx_time());

    /*
     * Tracked only if every change since the read will be (or was)
     * reported: this worker listening then and now, no report lost
     * since, and none in the bucket since the read.
     */

    if (m && m->live && ngx_gov_redis_watching()
        && m->epoch == ctx->sh->epoch
        && (int32_t) (ctx->sh->reported[hash & ctx->sh->mask] - m->seq) <= 0)
    {
        n->tracked = ngx_current_msec + gmcf->pcache_track;

        if (n->tracked == 0) {
            n->tracked = 1;
        }
    }
    n->id_len = (u_short) id->len;
    n->subject_len = (u_short) e->subject.len;
    n->actor_len = (u_short) e->actor.len;
    n->etag_len = (u_short) e->etag.len;
    n->body_len = e->body.len;

    off = 0;
    ngx_gov_pcache_write(n, id->data, id->len, &off);
    ngx_gov_pcache_write(n, e->subject.data, e->subject.len, &off);
    ngx_gov_pcache_write(n, e->actor.data, e->actor.len, &off);
    ngx_gov_pcache_write(n, e->etag.data, e->etag.len, &off);
    ngx_gov_pcache_write(n, e->body.data, e->body.len, &off);

    ctx->sh->entries++;
    ctx->sh->bytes += n->size;

    n->next = ctx->sh->buckets[hash & ctx->sh->mask];
    ctx->sh->buckets[hash & ctx->sh->mask] = n;
    ngx_queue_insert_head(&ctx->sh->queue, &n->queue);

    ngx_shmtx_unlock(&ctx->shpool->mutex);
}


void
ngx_gov_pcache_drop(ngx_str_t *id)
{
    (void) ngx_gov_pcache_forget(id);
}


/*
 * An application's entry goes; its bucket's report number moves on, so
 * that a read in flight does not make a tracked entry of the old state.
 * 1 when there was an entry.
 */

static ngx_uint_t
ngx_gov_pcache_forget(ngx_str_t *id)
{
    uint32_t                hash;
    ngx_shm_zone_t         *zone;
    ngx_gov_pcache_ctx_t   *ctx;
    ngx_gov_pcache_node_t  *n;

    zone = ngx_gov_pcache_zone();
    if (zone == NULL) {
        return 0;
    }

    ctx = zone->data;
    hash = ngx_crc32_short(id->data, id->len);

    ngx_shmtx_lock(&ctx->shpool->mutex);

    ctx->sh->reported[hash & ctx->sh->mask] = ++ctx->sh->seq;

    n = ngx_gov_pcache_find(ctx, id, hash);
    if (n) {
        ngx_gov_pcache_free(ctx, n);
    }

    ngx_shmtx_unlock(&ctx->shpool->mutex);

    return n != NULL;
}


/* an entry's ttl, or, tracked, its own time in the epoch and day it began */

static ngx_uint_t
ngx_gov_pcache_fresh(ngx_gov_pcache_ctx_t *ctx, ngx_gov_pcache_node_t *n)
{
    if ((ngx_msec_int_t) (n->expires - ngx_current_msec) > 0) {
        return 1;
    }

    return n->tracked
           && n->epoch == ctx->sh->epoch
           && (ngx_msec_int_t) (n->tracked - ngx_current_msec) > 0
           && n->day == gov_day(ngx_time());
}


ngx_int_t
ngx_gov_pcache_init_process(ngx_cycle_t *cycle)
{
    u_char                    *p;
    ngx_int_t                  rc;
    ngx_http_gov_main_conf_t  *gmcf;

    gmcf = ngx_http_cycle_get_module_main_conf(cycle, ngx_http_gov_module);

    if (gmcf == NULL || gmcf->pcache_zone == NULL || gmcf->pcache_track == 0
        || gmcf->redis == NULL)
    {
        return NGX_OK;
    }

    p = ngx_pnalloc(cycle->pool, gmcf->redis_prefix.len + 4);
    if (p == NULL) {
        return NGX_ERROR;
    }

    ngx_gov_pcache_prefix.data = p;
    ngx_gov_pcache_prefix.len = ngx_cpymem(p, gmcf->redis_prefix.data,
                                           gmcf->redis_prefix.len)
                                - p + 4;
    ngx_memcpy(p + gmcf->redis_prefix.len, "doc:", 4);

    rc = ngx_gov_redis_watch(cycle, &ngx_gov_pcache_prefix,
                             ngx_gov_pcache_changed);

    return rc == NGX_DECLINED ? NGX_OK : rc;
}


void
ngx_gov_pcache_mark(ngx_gov_pcache_mark_t *m)
{
    ngx_shm_zone_t        *zone;
    ngx_gov_pcache_ctx_t  *ctx;

    zone = ngx_gov_pcache_zone();

    m->live = ngx_gov_redis_watching();
    m->epoch = 0;
    m->seq = 0;

    if (zone == NULL || !m->live) {
        m->live = 0;
        return;
    }

    ctx = zone->data;

    ngx_shmtx_lock(&ctx->shpool->mutex);
    m->epoch = ctx->sh->epoch;
    m->seq = ctx->sh->seq;
    ngx_shmtx_unlock(&ctx->shpool->mutex);
}


/*
 * Redis reported a changed snapshot (NULL: reports may have been lost).
 * Any entry goes, tracked or not: also the one a lookup rendered just
 * before writing the snapshot whose report this is (the next lookup reads
 * the snapshot and makes a tracked entry of it).
 */

static void
ngx_gov_pcache_changed(ngx_str_t *key)
{
    ngx_str_t              id;
    ngx_shm_zone_t        *zone;
    ngx_gov_pcache_ctx_t  *ctx;

    if (key == NULL) {
        zone = ngx_gov_pcache_zone();
        if (zone == NULL) {
            return;
        }

        ctx = zone->data;

        ngx_shmtx_lock(&ctx->shpool->mutex);
        ctx->sh->epoch++;
        ngx_shmtx_unlock(&ctx->shpool->mutex);
        return;
    }

    if (key->len <= ngx_gov_pcache_prefix.len
        || ngx_memcmp(key->data, ngx_gov_pcache_prefix.data,
                      ngx_gov_pcache_prefix.len) != 0)
    {
        return;
    }

    id.data = key->data + ngx_gov_pcache_prefix.len;
    id.len = key->len - ngx_gov_pcache_prefix.len;

    if (ngx_gov_pcache_forget(&id)) {
        ngx_gov_metrics_inc(NGX_GOV_M_PCACHE_INVALIDATED);
    }
}


ngx_int_t
ngx_gov_pcache_text(ngx_pool_t *pool, ngx_str_t *in, ngx_str_t *out)
{
    u_char                *p;
    ngx_shm_zone_t        *zone;
    ngx_gov_pcache_ctx_t  *ctx;

    *out = *in;

    zone = ngx_gov_pcache_zone();
    if (zone == NULL) {
        return NGX_OK;
    }

    ctx = zone->data;

    out->data = ngx_pnalloc(pool, in->len + 512);
    if (out->data == NULL) {
        return NGX_ERROR;
    }

    p = ngx_cpymem(out->data, in->data, in->len);

    p = ngx_sprintf(p, "# HELP gov_cache_entries Documents held in the "
                    "micro-cache.\n# TYPE gov_cache_entries gauge\n"
                    "gov_cache_entries{cache=\"progress\"} %uA\n",
                    ctx->sh->entries);
    p = ngx_sprintf(p, "# HELP gov_cache_used_bytes Bytes the micro-cache's "
                    "entries take in its zone.\n"
                    "# TYPE gov_cache_used_bytes gauge\n"
                    "gov_cache_used_bytes{cache=\"progress\"} %uA\n",
                    ctx->sh->bytes);
    p = ngx_sprintf(p, "# HELP gov_cache_size_bytes The micro-cache's zone."
                    "\n# TYPE gov_cache_size_bytes gauge\n"
                    "gov_cache_size_bytes{cache=\"progress\"} %uz\n",
                    ctx->sh->zone);

    out->len = p - out->data;

    return NGX_OK;
}
