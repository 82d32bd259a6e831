
/*
 * Copyright (C) ngx_gov_module authors
 */


/*
 * Progress lookups (办件进度) and ratings (好差评): who may see an
 * application (its applicant, or anyone with its query code, masked), the
 * document with its working-day deadlines, overdue and warning flags, ETags,
 * and the rating once the application is finished.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>

#include "ngx_gov_metrics.h"
#include "ngx_gov_pcache.h"
#include "ngx_gov_answer.h"
#include "ngx_gov_page.h"
#include "ngx_gov_access.h"
#include "ngx_gov_bundle_conf.h"
#include "ngx_gov_route.h"
#include "ngx_gov_refresh.h"
#include "ngx_gov_rating.h"
#include "ngx_gov_withdraw.h"
#include "ngx_gov_correct.h"
#include "ngx_gov_upload.h"
#include "ngx_gov_archive.h"
#include "ngx_gov_progress.h"
#include "gov_date.h"
#include "gov_state.h"


#define NGX_GOV_CODE_TRIES       5
#define NGX_GOV_CODE_WINDOW      "900"
#define NGX_GOV_MEMO_SLOTS       512


/*
 * The last rendering of an application per worker: when what Redis holds
 * is byte for byte what it held (and the day and the view are the same),
 * the document is the same and is not built again.  Redis is still asked
 * on every request.
 */

typedef struct {
    u_char                   *raw;          /* id, view, day, Redis data */
    size_t                    raw_len;
    u_char                   *body;
    size_t                    body_len;
    u_char                    etag[44];
    size_t                    etag_len;
} ngx_gov_memo_t;


/* what the bundle's figures take from its steps */

typedef struct {
    ngx_uint_t                percent;
    ngx_uint_t                attention;
    ngx_uint_t                done;
    ngx_uint_t                all_finished;
    ngx_uint_t                withdrawn;    /* a step was withdrawn */
    ngx_uint_t                open;         /* a step may be withdrawn */
    ngx_uint_t                pauses;       /* the longest, in days */
} ngx_gov_progress_sum_t;


typedef struct {
    ngx_http_request_t       *request;
    ngx_str_t                 id;
    ngx_str_t                 code;         /* ?code=, when given */
    ngx_str_t                 subject;
    ngx_str_t                 actor;
    ngx_uint_t                rating;       /* POST .../rating */
    ngx_uint_t                withdraw;     /* POST .../withdrawal */
    ngx_uint_t                correct;      /* POST .../steps/ITEM/correction */
    ngx_uint_t                supply;       /* POST .../materials (with
                                               correct: read alike) */
    ngx_uint_t                confirm;      /* GET .../withdrawal: the page */
    ngx_uint_t                streamed;     /* its files stored, body read */
    ngx_str_t                 item;
    ngx_uint_t                score;
    ngx_uint_t                script;       /* reads retried as a script */
    ngx_uint_t                form;         /* a rating by HTML form */
    json_t                   *body;         /* the rating request */
    ngx_gov_pcache_mark_t     mark;         /* as the snapshot was asked */
} ngx_gov_progress_t;


static void ngx_gov_progress_identity(ngx_http_request_t *r);
static ngx_int_t ngx_gov_progress_keys(ngx_http_request_t *r,
    ngx_gov_progress_t *pc, const char **key, size_t *len);
static ngx_int_t ngx_gov_progress_read(ngx_http_request_t *r,
    ngx_gov_progress_t *pc);
static ngx_int_t ngx_gov_progress_snapshot_get(ngx_http_request_t *r,
    ngx_gov_progress_t *pc);
static void ngx_gov_progress_snapshot(redisReply *reply, void *data);
static void ngx_gov_progress_snapshot_put(ngx_http_request_t *r,
    ngx_gov_progress_t *pc, redisReply *ver, ngx_msec_int_t ttl,
    ngx_gov_pcache_entry_t *entry);
static ngx_uint_t ngx_gov_progress_mine(ngx_gov_pcache_entry_t *e,
    ngx_str_t *who);
static ngx_msec_t ngx_gov_progress_max_age(ngx_http_request_t *r,
    ngx_gov_progress_t *pc);
static ngx_int_t ngx_gov_progress_load_script(ngx_http_request_t *r,
    ngx_gov_progress_t *pc);
static void ngx_gov_progress_loaded(redisReply *reply, void *data);
static ngx_int_t ngx_gov_progress_archive(ngx_gov_progress_t *pc,
    redisReply *reply);
static void ngx_gov_progress_archived(ngx_http_request_t *r, void *data,
    ngx_int_t rc, redisReply *reply);
static ngx_int_t ngx_gov_progress_access(ngx_gov_progress_t *pc,
    redisReply *reply, ngx_uint_t *masked, ngx_int_t *rc);
static ngx_int_t ngx_gov_progress_count_miss(ngx_gov_progress_t *pc);
static ngx_int_t ngx_gov_progress_render(ngx_gov_progress_t *pc,
    redisReply *reply, ngx_uint_t masked);
static ngx_int_t ngx_gov_memo_copy(ngx_http_request_t *r,
    ngx_gov_memo_t *memo, ngx_gov_pcache_entry_t *entry);
static void ngx_gov_memo_store(ngx_http_request_t *r, ngx_gov_memo_t *memo,
    ngx_str_t *key, ngx_gov_pcache_entry_t *entry);
static ngx_int_t ngx_gov_progress_keep(ngx_gov_progress_t *pc,
    redisReply *reply, ngx_uint_t masked, ngx_gov_pcache_entry_t *entry);
static void ngx_gov_progress_counted(redisReply *reply, void *data);
static json_t *ngx_gov_progress_doc(ngx_http_request_t *r,
    ngx_gov_bundles_conf_t *bc, ngx_str_t *id, json_t *app,
    redisReply *steps,
    redisReply *rating, ngx_uint_t masked, ngx_uint_t *finished);
static json_t *ngx_gov_progress_find_step(redisReply *steps,
    ngx_gov_item_t *it);
static ngx_uint_t ngx_gov_progress_step_uri(u_char *p, u_char *end,
    ngx_str_t *item);
static ngx_uint_t ngx_gov_progress_multipart(ngx_http_request_t *r);
static void ngx_gov_progress_page_needed(json_t *doc);
static void ngx_gov_progress_page_open(json_t *doc);
static void ngx_gov_progress_prefill(json_t *steps, json_t *fields);
static ngx_gov_progress_t *ngx_gov_progress_of(ngx_http_request_t *r);
static void ngx_gov_progress_owned(ngx_http_request_t *r,
    ngx_gov_upload_stream_t *st);
static ngx_int_t ngx_gov_progress_supply(ngx_gov_progress_t *pc,
    redisReply *reply);
static ngx_int_t ngx_gov_progress_correct(ngx_gov_progress_t *pc,
    redisReply *reply);
static void ngx_gov_progress_corrected(ngx_http_request_t *r, void *data,
    ngx_uint_t status, const char *error);
static void ngx_gov_progress_correction(ngx_gov_bundles_conf_t *bc,
    json_t *o, json_t *text, int today);
static json_t *ngx_gov_progress_step(ngx_gov_bundles_conf_t *bc,
    ngx_gov_item_t *it, json_t *step, json_t *app, int today,
    ngx_gov_progress_sum_t *sum);
static void ngx_gov_progress_page_promised(json_t *doc);
static json_t *ngx_gov_progress_pending(ngx_gov_bundles_conf_t *bc,
    ngx_gov_item_t *it, json_t *app, int today, ngx_uint_t *late);
static void ngx_gov_progress_deadline(json_t *doc, ngx_gov_bundles_conf_t *bc,
    ngx_gov_bundle_t *b, int start, int today, ngx_gov_progress_sum_t *sum);
static void ngx_gov_progress_rating(json_t *doc, redisReply *rating,
    ngx_uint_t masked, ngx_uint_t finished);
static int ngx_gov_pause_days(gov_calendar_t *cal, json_t *step, int today);
static ngx_int_t ngx_gov_progress_serialize(ngx_http_request_t *r,
    json_t *doc, ngx_str_t *body, ngx_str_t *etag);
static ngx_int_t ngx_gov_progress_answer(ngx_gov_progress_t *pc,
    ngx_str_t *body, ngx_str_t *etag);
static void ngx_gov_progress_rating_body(ngx_http_request_t *r);
static void ngx_gov_progress_cleanup(void *data);
static json_t *ngx_gov_mask(const char *s);
static ngx_str_t *ngx_gov_memo_key(ngx_http_request_t *r,
    ngx_gov_progress_t *pc, ngx_uint_t masked, redisReply *doc,
    redisReply *rating, redisReply *steps);
static ngx_gov_memo_t *ngx_gov_memo_slot(ngx_str_t *key);


/* how long a progress snapshot is kept in Redis at most (ms) */
#define NGX_GOV_SNAPSHOT_TTL  3600000


/* the lookup's reads as one script: the same reply as their EXEC */
#define NGX_GOV_PROGRESS_LOAD                                                 \
    "return {redis.call('HMGET', KEYS[1], 'doc', 'code', 'rating', "          \
    "'subject', 'actor', 'ver'), redis.call('HGETALL', KEYS[2]), "            \
    "redis.call('GET', KEYS[3]), redis.call('PTTL', KEYS[4])}"


static ngx_gov_memo_t  ngx_gov_memo[NGX_GOV_MEMO_SLOTS];


static void
ngx_gov_progress_cleanup(void *data)
{
    ngx_gov_progress_t  *pc = data;

    if (pc->body) {
        json_decref(pc->body);
        pc->body = NULL;
    }
}


ngx_int_t
ngx_http_gov_progress_handler(ngx_http_request_t *r)
{
    u_char              *p, *end, *slash;
    ngx_int_t            rc;
    ngx_str_t            arg, rest;
    ngx_uint_t           i;
    ngx_pool_cleanup_t  *cln;
    ngx_gov_progress_t  *pc;

    ngx_http_gov_uri_rest(r, &rest);

    p = rest.data;
    end = rest.data + rest.len;

    cln = ngx_pool_cleanup_add(r->pool, sizeof(ngx_gov_progress_t));
    if (cln == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    pc = cln->data;
    ngx_memzero(pc, sizeof(ngx_gov_progress_t));
    cln->handler = ngx_gov_progress_cleanup;

    pc->request = r;

    slash = ngx_strlchr(p, end, '/');

    pc->id.data = p;
    pc->id.len = (slash ? slash : end) - p;

    if (slash) {
        if ((size_t) (end - slash) == sizeof("/rating") - 1
            && ngx_strncmp(slash, "/rating", end - slash) == 0)
        {
            pc->rating = 1;

        } else if ((size_t) (end - slash) == sizeof("/withdrawal") - 1
                   && ngx_strncmp(slash, "/withdrawal", end - slash) == 0)
        {
            if ((r->method & (NGX_HTTP_GET|NGX_HTTP_HEAD))
                && ngx_http_gov_wants_html(r))
            {
                /* a browser's confirmation page: the applicant's lookup */
                pc->confirm = 1;

            } else {
                /* a change by the applicant, on the rating's path */
                pc->rating = 1;
                pc->withdraw = 1;
            }

        } else if (ngx_gov_progress_step_uri(slash, end, &pc->item)) {
            /* an answer to a correction: likewise */
            pc->rating = 1;
            pc->correct = 1;

        } else if ((size_t) (end - slash) == sizeof("/materials") - 1
                   && ngx_strncmp(slash, "/materials", end - slash) == 0)
        {
            /* 容缺受理: promised materials, read as a correction's answer */
            pc->rating = 1;
            pc->correct = 1;
            pc->supply = 1;

        } else {
            pc->id.len = 0;
        }
    }

    /* ids are upper-case letters and digits: anything else is unknown */

    for (i = 0; i < pc->id.len; i++) {
        if (!((pc->id.data[i] >= 'A' && pc->id.data[i] <= 'Z')
              || (pc->id.data[i] >= '0' && pc->id.data[i] <= '9')))
        {
            pc->id.len = 0;
            break;
        }
    }

    if (ngx_http_arg(r, (u_char *) "code", 4, &arg) == NGX_OK && arg.len) {
        pc->code.data = ngx_pnalloc(r->pool, arg.len);
        if (pc->code.data == NULL) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        ngx_memcpy(pc->code.data, arg.data, arg.len);
        pc->code.len = arg.len;

        /* a query code reaches no log, whatever the request */
        ngx_http_gov_mask(r, &arg);
    }

    if (pc->confirm) {
        /* a query code gives no right to withdraw, nor to be asked */
        pc->code.len = 0;
    }

    if (pc->rating) {
        /* a rating is the applicant's: a query code gives no right to it */
        pc->code.len = 0;

        if (r->method != NGX_HTTP_POST) {
            return NGX_HTTP_NOT_ALLOWED;
        }

        if (pc->correct && ngx_gov_progress_multipart(r)) {
            /* the page's form with files: identity, then the stream */
            return ngx_gov_upload_form(r, NGX_GOV_UPLOAD_FORM,
                                       ngx_gov_progress_owned);
        }

        return ngx_http_gov_read_post(r, ngx_gov_progress_rating_body);
    }

    rc = ngx_http_gov_get_only(r);
    if (rc != NGX_OK) {
        return rc;
    }

    r->main->count++;

    ngx_gov_progress_rating_body(r);

    return NGX_DONE;
}


/* both paths: the identity first, then Redis */

static void
ngx_gov_progress_rating_body(ngx_http_request_t *r)
{
    ngx_http_gov_identity_then(r, ngx_gov_progress_identity);
}


static void
ngx_gov_progress_identity(ngx_http_request_t *r)
{
    ngx_int_t                  rc, reason;
    ngx_connection_t          *c;
    ngx_pool_cleanup_t        *cln;
    ngx_gov_progress_t        *pc;
    ngx_gov_pcache_entry_t     entry;

    c = r->connection;

    pc = NULL;

    for (cln = r->pool->cleanup; cln; cln = cln->next) {
        if (cln->handler == ngx_gov_progress_cleanup) {
            pc = cln->data;
            break;
        }
    }

    if (pc == NULL) {
        rc = NGX_HTTP_INTERNAL_SERVER_ERROR;
        goto done;
    }

    reason = ngx_http_gov_whoami(r, &pc->subject, &pc->actor);

    if (reason == NGX_DECLINED) {
        rc = ngx_http_gov_unavailable(r);
        goto done;
    }

    if (pc->rating) {
        /* a rating comes from the applicant only */

        if (reason != GOV_AUTH_OK) {
            rc = ngx_http_gov_unauthenticated(r, reason);
            goto done;
        }

        if (ngx_http_gov_same_site(r) != NGX_OK) {
            rc = ngx_http_gov_cross_site(r);
            goto done;
        }

        if (pc->correct) {
            if (!pc->streamed) {
                pc->form = (ngx_http_gov_body_type(r) == NGX_GOV_BODY_FORM);

                if (!ngx_gov_correct_read(r, &pc->body, &rc)) {
                    goto done;
                }
            }

        } else if (pc->withdraw
                   ? !ngx_gov_withdraw_check(r, &pc->body, &pc->form, &rc)
                   : !ngx_gov_rating_check(r, &pc->body, &pc->form, &rc))
        {
            goto done;
        }

    } else if (reason != GOV_AUTH_OK && pc->code.len == 0) {
        /* neither identity nor code: 401 (a browser: the login page) */
        rc = ngx_http_gov_unauthenticated(r, reason);
        goto done;
    }

    if (pc->id.len == 0) {
        rc = ngx_http_gov_error(r, NGX_HTTP_NOT_FOUND, "not_found");
        goto done;
    }

    /*
     * The hot path: the applicant's own document from shared memory.
     * Access is checked on every hit; lookups by query code always go
     * to Redis, which counts wrong codes.
     */

    if (!pc->rating && pc->code.len == 0
        && ngx_gov_pcache_get(r, &pc->id, ngx_gov_progress_max_age(r, pc),
                              &entry)
           == NGX_OK)
    {
        if (ngx_gov_progress_mine(&entry, &pc->subject)) {
            rc = ngx_gov_progress_answer(pc, &entry.body, &entry.etag);

        } else {
            rc = ngx_http_gov_error(r, NGX_HTTP_NOT_FOUND, "not_found");
        }

        goto done;
    }

    /*
     * The applicant's lookup asks Redis for the snapshot first (one GET);
     * a lookup by query code, or a missing or stale snapshot, reads the
     * application itself.
     */

    rc = ngx_http_gov_queued(r, (!pc->rating && pc->code.len == 0)
                                ? ngx_gov_progress_snapshot_get(r, pc)
                                : ngx_gov_progress_read(r, pc));

    if (rc == NGX_DONE) {
        return;
    }

done:

    ngx_http_finalize_request(r, rc);
    ngx_http_run_posted_requests(c);
}


/*
 * The lookup's reads, as one MULTI/EXEC: the application (its document,
 * hashed code, rating, subject, actor, version), its steps, the wrong codes
 * counted and the time left before the next refresh.
 */

static ngx_int_t
ngx_gov_progress_read(ngx_http_request_t *r, ngx_gov_progress_t *pc)
{
    ngx_uint_t            i;
    ngx_gov_redis_args_t  cmds[6];

    static const char    *fields[] = { "doc", "code", "rating", "subject",
                                       "actor", "ver" };

    const char  *hmget[8], *hgetall[2], *fails[2], *fresh[2], *key[5];
    size_t       hmget_len[8], hgetall_len[2], fails_len[2], fresh_len[2];
    size_t       key_len[5];

    if (ngx_gov_progress_keys(r, pc, key, key_len) != NGX_OK) {
        return NGX_ERROR;
    }

    cmds[0] = ngx_gov_redis_multi;

    ngx_gov_redis_key_cmd(&cmds[1], hmget, hmget_len, "HMGET", key[0],
                          key_len[0]);

    for (i = 0; i < 6; i++) {
        hmget[2 + i] = fields[i];
        hmget_len[2 + i] = ngx_strlen(fields[i]);
    }

    cmds[1].argc = 8;

    ngx_gov_redis_key_cmd(&cmds[2], hgetall, hgetall_len, "HGETALL", key[1],
                          key_len[1]);
    ngx_gov_redis_key_cmd(&cmds[3], fails, fails_len, "GET", key[2],
                          key_len[2]);
    ngx_gov_redis_key_cmd(&cmds[4], fresh, fresh_len, "PTTL", key[3],
                          key_len[3]);

    cmds[5] = ngx_gov_redis_exec;

    return ngx_http_gov_redis_send_n(r, ngx_gov_progress_loaded, pc, 6, cmds);
}


/*
 * How old a cached document may be: the refresh age where departments are
 * asked (gov_progress_refresh), else as old as the micro-cache keeps it.
 */

static ngx_msec_t
ngx_gov_progress_max_age(ngx_http_request_t *r, ngx_gov_progress_t *pc)
{
    ngx_gov_bundle_t          *b;
    ngx_gov_bundles_conf_t    *bc;
    ngx_http_gov_loc_conf_t   *glcf;

    glcf = ngx_http_get_module_loc_conf(r, ngx_http_gov_module);

    bc = ngx_gov_bc(r);
    b = ngx_gov_app_bundle(bc, &pc->id);

    return (b == NULL || ngx_gov_bundle_asks(bc, b)) ? glcf->progress_refresh
                                                     : NGX_MAX_INT32_VALUE;
}


/* 1 when a stored document is "who"'s own: its subject, or its agent */

static ngx_uint_t
ngx_gov_progress_mine(ngx_gov_pcache_entry_t *e, ngx_str_t *who)
{
    if (who->len == 0) {
        return 0;
    }

    return (e->subject.len == who->len
            && ngx_strncmp(e->subject.data, who->data, who->len) == 0)
           || (e->actor.len == who->len
               && ngx_strncmp(e->actor.data, who->data, who->len) == 0);
}


/*
 * The progress snapshot: the applicant's rendered document in Redis,
 * "G1 TAB DAY TAB SUBJECT TAB ACTOR TAB ETAG LF BODY", so that a lookup
 * the micro-cache misses costs one GET, as a cache in front of Redis
 * would.  It is written after a full read only if the application's
 * "ver" is still the one read (every script that changes an application
 * counts "ver" and deletes the snapshot), holds for the day it was
 * rendered on (deadlines move with the date), and expires when the next
 * refresh from the departments is due.
 */

static ngx_int_t
ngx_gov_progress_snapshot_get(ngx_http_request_t *r, ngx_gov_progress_t *pc)
{
    size_t                     argvlen[2];
    ngx_str_t                  key;
    const char                *argv[2];
    ngx_http_gov_main_conf_t  *gmcf;

    gmcf = ngx_http_get_module_main_conf(r, ngx_http_gov_module);

    if (ngx_gov_redis_id_key(r->pool, &gmcf->redis_prefix, "doc:", &pc->id,
                             &key)
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    argv[0] = "GET";
    argvlen[0] = 3;
    argv[1] = (char *) key.data;
    argvlen[1] = key.len;

    /* before the read: a change reported after it is seen at the put */
    ngx_gov_pcache_mark(&pc->mark);

    return ngx_http_gov_redis_send(r, ngx_gov_progress_snapshot, pc, 2, argv,
                                   argvlen);
}


static void
ngx_gov_progress_snapshot(redisReply *reply, void *data)
{
    ngx_gov_progress_t  *pc = data;

    u_char                  *p, *last, *f[5];
    size_t                   len;
    ngx_int_t                rc, day;
    ngx_uint_t               i;
    ngx_connection_t        *c;
    ngx_http_request_t      *r;
    ngx_gov_pcache_entry_t   entry;

    r = pc->request;
    c = r->connection;

    if (reply == NULL) {
        rc = ngx_http_gov_unavailable(r);
        goto done;
    }

    if (reply->type == REDIS_REPLY_STRING && reply->len > 3
        && ngx_strncmp(reply->str, "G1\t", 3) == 0)
    {
        /* the four header fields, each ended by a TAB, the last by LF */

        p = (u_char *) reply->str + 3;
        last = (u_char *) reply->str + reply->len;

        for (i = 0; i < 4 && p < last; i++) {
            f[i] = p;
            p = ngx_strlchr(p, last, i < 3 ? '\t' : '\n');

            if (p == NULL) {
                break;
            }

            p++;
        }

        f[4] = p;

        day = (i == 4) ? ngx_atoi(f[0], f[1] - f[0] - 1) : NGX_ERROR;

        if (day != NGX_ERROR && day == gov_day(ngx_time())) {
            ngx_gov_metrics_inc(NGX_GOV_M_SNAPSHOT_HIT);

            /* a copy: the reply is freed when this handler returns */

            len = last - f[1];

            p = ngx_pnalloc(r->pool, len);
            if (p == NULL) {
                rc = NGX_HTTP_INTERNAL_SERVER_ERROR;
                goto done;
            }

            ngx_memcpy(p, f[1], len);

            for (i = 4; i >= 1; i--) {
                f[i] = p + (f[i] - f[1]);
            }

            last = p + len;

            entry.subject.data = f[1];
            entry.subject.len = f[2] - f[1] - 1;
            entry.actor.data = f[2];
            entry.actor.len = f[3] - f[2] - 1;
            entry.etag.data = f[3];
            entry.etag.len = f[4] - f[3] - 1;
            entry.body.data = f[4];
            entry.body.len = last - f[4];

            if (ngx_gov_progress_mine(&entry, &pc->subject)) {
                ngx_gov_pcache_put(r, &pc->id, &entry, &pc->mark);
                rc = ngx_gov_progress_answer(pc, &entry.body, &entry.etag);

            } else {
                rc = ngx_http_gov_error(r, NGX_HTTP_NOT_FOUND, "not_found");
            }

            goto done;
        }
    }

    /* none, stale or not ours: read the application itself */

    ngx_gov_metrics_inc(NGX_GOV_M_SNAPSHOT_MISS);

    rc = ngx_gov_progress_read(r, pc);

    if (rc == NGX_OK) {
        return;
    }

    rc = (rc == NGX_DECLINED) ? ngx_http_gov_unavailable(r)
                              : NGX_HTTP_INTERNAL_SERVER_ERROR;

done:

    ngx_http_finalize_request(r, rc);
    ngx_http_run_posted_requests(c);
}


static void
ngx_gov_progress_snapshot_put(ngx_http_request_t *r, ngx_gov_progress_t *pc,
    redisReply *ver, ngx_msec_int_t ttl, ngx_gov_pcache_entry_t *entry)
{
    u_char      *v, *p, ms[NGX_INT_T_LEN];
    size_t       len, key_len[5], argvlen[8];
    ngx_uint_t   i;
    const char  *key[5], *argv[8];

    if (ttl <= 0 || ver == NULL || ver->type != REDIS_REPLY_STRING) {
        return;
    }

    /* the header's fields hold no TAB or LF */

    for (i = 0; i < entry->subject.len; i++) {
        if (entry->subject.data[i] == '\t' || entry->subject.data[i] == '\n') {
            return;
        }
    }

    for (i = 0; i < entry->actor.len; i++) {
        if (entry->actor.data[i] == '\t' || entry->actor.data[i] == '\n') {
            return;
        }
    }

    if (ngx_gov_progress_keys(r, pc, key, key_len) != NGX_OK) {
        return;
    }

    len = sizeof("G1\t\t\t\t\n") - 1 + NGX_INT_T_LEN + entry->subject.len
          + entry->actor.len + entry->etag.len + entry->body.len;

    v = ngx_pnalloc(r->pool, len);
    if (v == NULL) {
        return;
    }

    p = ngx_sprintf(v, "G1\t%i\t%V\t%V\t%V\n",
                    (ngx_int_t) gov_day(ngx_time()), &entry->subject,
                    &entry->actor, &entry->etag);
    p = ngx_cpymem(p, entry->body.data, entry->body.len);

    /* written only if no change came in since the read: "ver" */

    argv[0] = "EVAL";
    argvlen[0] = 4;
    argv[1] = "if redis.call('HGET', KEYS[1], 'ver') == ARGV[1] then "
              "redis.call('SET', KEYS[2], ARGV[2], 'PX', ARGV[3]) end "
              "return 0";
    argvlen[1] = ngx_strlen(argv[1]);
    argv[2] = "2";
    argvlen[2] = 1;
    argv[3] = key[0];
    argvlen[3] = key_len[0];
    argv[4] = key[4];
    argvlen[4] = key_len[4];
    argv[5] = ver->str;
    argvlen[5] = ver->len;
    argv[6] = (char *) v;
    argvlen[6] = p - v;
    argv[7] = (char *) ms;
    argvlen[7] = ngx_sprintf(ms, "%M", (ngx_msec_t) ttl) - ms;

    (void) ngx_gov_redis_send(r->connection->log, NULL, NULL, NULL, 8, argv,
                              argvlen);
}


/*
 * The keys a lookup reads: application, steps, wrong codes, refresh mark,
 * and the snapshot.
 */

static ngx_int_t
ngx_gov_progress_keys(ngx_http_request_t *r, ngx_gov_progress_t *pc,
    const char **key, size_t *len)
{
    u_char                    *p;
    ngx_str_t                  tag;
    ngx_uint_t                 i;
    ngx_http_gov_main_conf_t  *gmcf;

    static const char  *kinds[] = { "app:", "steps:", "codefail:",
                                    "refreshed:", "doc:" };

    gmcf = ngx_http_get_module_main_conf(r, ngx_http_gov_module);

    /* all in the application's shard */

    if (ngx_gov_redis_id_tag(r->pool, &gmcf->redis_prefix, &pc->id, &tag)
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    p = ngx_pnalloc(r->pool, 5 * (tag.len + pc->id.len)
                             + sizeof("app:steps:codefail:refreshed:doc:") - 1);
    if (p == NULL) {
        return NGX_ERROR;
    }

    for (i = 0; i < 5; i++) {
        key[i] = (char *) p;
        p = ngx_sprintf(p, "%V%s%V", &tag, kinds[i], &pc->id);
        len[i] = p - (u_char *) key[i];
    }

    return NGX_OK;
}


static ngx_int_t
ngx_gov_progress_load_script(ngx_http_request_t *r, ngx_gov_progress_t *pc)
{
    const char  *argv[8];
    size_t       argvlen[8];

    if (ngx_gov_progress_keys(r, pc, &argv[3], &argvlen[3]) != NGX_OK) {
        return NGX_ERROR;
    }

    argv[0] = "EVAL";
    argvlen[0] = 4;
    argv[1] = NGX_GOV_PROGRESS_LOAD;
    argvlen[1] = sizeof(NGX_GOV_PROGRESS_LOAD) - 1;
    argv[2] = "4";
    argvlen[2] = 1;

    return ngx_http_gov_redis_send(r, ngx_gov_progress_loaded, pc, 7, argv,
                                   argvlen);
}


static void
ngx_gov_progress_loaded(redisReply *reply, void *data)
{
    ngx_gov_progress_t  *pc = data;

    json_t              *app, *doc;
    ngx_int_t            rc;
    ngx_uint_t           masked, finished;
    ngx_connection_t    *c;
    ngx_http_request_t  *r;

    r = pc->request;
    c = r->connection;

    app = NULL;

    if (reply && reply->type == REDIS_REPLY_ERROR && !pc->script) {

        /*
         * At maxmemory Redis refuses to queue commands in a transaction
         * (EXECABORT); it still runs a script that only reads, and reads
         * must go on being served: the same reads again, as one script.
         */

        pc->script = 1;

        rc = ngx_gov_progress_load_script(r, pc);

        if (rc == NGX_OK) {
            return;
        }

        rc = (rc == NGX_DECLINED) ? ngx_http_gov_unavailable(r)
                                  : NGX_HTTP_INTERNAL_SERVER_ERROR;
        goto done;
    }

    if (reply == NULL || reply->type != REDIS_REPLY_ARRAY
        || reply->elements != 4
        || reply->element[0]->type != REDIS_REPLY_ARRAY
        || reply->element[0]->elements != 6
        || reply->element[1]->type != REDIS_REPLY_ARRAY)
    {
        rc = ngx_http_gov_unavailable(r);
        goto done;
    }

    if (!pc->rating
        && reply->element[0]->element[0]->type != REDIS_REPLY_STRING
        && ngx_gov_archive_on(r))
    {
        /* no longer in Redis: the archive is asked (CONTRACT section 16) */

        rc = ngx_gov_progress_archive(pc, reply);

        if (rc == NGX_DONE) {
            ngx_http_run_posted_requests(c);
            return;
        }

        goto done;
    }

    switch (ngx_gov_progress_access(pc, reply, &masked, &rc)) {

    case NGX_OK:
        break;

    case NGX_AGAIN:
        /* a wrong query code is being counted: the 404 follows */
        return;

    default:
        goto done;
    }

    if (!pc->rating) {
        rc = ngx_gov_progress_render(pc, reply, masked);
        goto done;
    }

    if (pc->correct) {
        rc = pc->supply ? ngx_gov_progress_supply(pc, reply)
                        : ngx_gov_progress_correct(pc, reply);

        if (rc == NGX_DONE) {
            return;
        }

        goto done;
    }

    if (pc->withdraw) {
        /* the applicant (or their agent) withdraws: one script */
        rc = ngx_http_gov_queued(r, ngx_gov_withdraw_store(r, &pc->id,
                                                           pc->body, pc->form,
                                                           &pc->actor));
        if (rc == NGX_DONE) {
            return;
        }

        goto done;
    }

    /* a rating: once finished, once only */

    app = json_loadb(reply->element[0]->element[0]->str,
                     reply->element[0]->element[0]->len, 0, NULL);
    if (app == NULL) {
        rc = NGX_HTTP_INTERNAL_SERVER_ERROR;
        goto done;
    }

    doc = ngx_gov_progress_doc(r, ngx_gov_bc(r), &pc->id, app,
                               reply->element[1],
                               reply->element[0]->element[2], masked,
                               &finished);
    if (doc == NULL) {
        rc = NGX_HTTP_INTERNAL_SERVER_ERROR;
        goto done;
    }

    json_decref(doc);

    if (!finished) {
        rc = ngx_http_gov_error(r, NGX_HTTP_CONFLICT, "not_finished");
        goto done;
    }

    rc = ngx_http_gov_queued(r, ngx_gov_rating_store(r, &pc->id, pc->body,
                                                     pc->form, app));

    if (rc == NGX_DONE) {
        json_decref(app);
        return;
    }

done:

    json_decref(app);
    ngx_http_finalize_request(r, rc);
    ngx_http_run_posted_requests(c);
}


/*
 * An application no longer in Redis: its record asked of gov_archive.
 * NGX_DONE, the lookup goes on in ngx_gov_progress_archived(); else the
 * status to answer.
 */

static ngx_int_t
ngx_gov_progress_archive(ngx_gov_progress_t *pc, redisReply *reply)
{
    ngx_int_t            rc;
    ngx_str_t            fails;
    redisReply          *e;
    ngx_http_request_t  *r;

    r = pc->request;
    e = reply->element[2];

    fails.len = (e->type == REDIS_REPLY_STRING) ? e->len : 0;
    fails.data = (u_char *) e->str;

    rc = ngx_gov_archive_fetch(r, &pc->id, &pc->subject, &fails,
                               ngx_gov_progress_archived, pc);

    switch (rc) {

    case NGX_OK:
        return NGX_DONE;

    case NGX_DECLINED:
        return ngx_http_gov_unavailable_for(r, "archive",
                                            ngx_gov_archive_left(r));

    default:
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }
}


static void
ngx_gov_progress_archived(ngx_http_request_t *r, void *data, ngx_int_t rc,
    redisReply *reply)
{
    ngx_gov_progress_t  *pc = data;

    ngx_uint_t         masked;
    ngx_connection_t  *c;

    c = r->connection;

    if (rc == NGX_DECLINED) {
        rc = ngx_http_gov_error(r, NGX_HTTP_NOT_FOUND, "not_found");
        goto done;
    }

    if (rc != NGX_OK) {
        rc = ngx_http_gov_unavailable_for(r, "archive",
                                          ngx_gov_archive_left(r));
        goto done;
    }

    ngx_gov_metrics_inc(NGX_GOV_M_ARCHIVE_READ);

    /* access and rendering as for what Redis holds */

    switch (ngx_gov_progress_access(pc, reply, &masked, &rc)) {

    case NGX_OK:
        break;

    case NGX_AGAIN:
        return;

    default:
        goto done;
    }

    rc = ngx_gov_progress_render(pc, reply, masked);

done:

    ngx_http_finalize_request(r, rc);
    ngx_http_run_posted_requests(c);
}


/* for the confirmation page: each step a withdrawal would stop */

static void
ngx_gov_progress_page_open(json_t *doc)
{
    size_t       i;
    json_t      *step;
    ngx_int_t    state;
    const char  *s;

    json_array_foreach(json_object_get(doc, "steps"), i, step) {
        s = json_string_value(json_object_get(step, "state"));
        state = s ? gov_state_from_str(s, ngx_strlen(s)) : -1;

        json_object_set_new(step, "open", json_boolean(
            state >= 0 && gov_state_withdrawable(state)));
    }
}


/* for the page's form: which of what is needed is a field, a material */

static void
ngx_gov_progress_page_needed(json_t *doc)
{
    size_t       i, j;
    json_t      *step, *n;
    const char  *kind;

    json_array_foreach(json_object_get(doc, "steps"), i, step) {
        json_array_foreach(json_object_get(json_object_get(step,
                                                           "correction"),
                                           "needed"), j, n)
        {
            kind = json_string_value(json_object_get(n, "kind"));

            json_object_set_new(n, "is_field", json_boolean(
                kind && ngx_strcmp(kind, "field") == 0));
            json_object_set_new(n, "is_material", json_boolean(
                kind && ngx_strcmp(kind, "material") == 0));
        }
    }
}


/* multipart/form-data, and a store for its files */

static ngx_uint_t
ngx_gov_progress_multipart(ngx_http_request_t *r)
{
    char                       boundary[GOV_MP_BOUNDARY_MAX + 1];
    ngx_http_gov_main_conf_t  *gmcf;

    gmcf = ngx_http_get_module_main_conf(r, ngx_http_gov_module);

    return r->headers_in.content_type && gmcf->upload.path.len
           && gov_mp_boundary((char *) r->headers_in.content_type->value.data,
                              r->headers_in.content_type->value.len,
                              boundary);
}


static ngx_gov_progress_t *
ngx_gov_progress_of(ngx_http_request_t *r)
{
    ngx_pool_cleanup_t  *cln;

    for (cln = r->pool->cleanup; cln; cln = cln->next) {
        if (cln->handler == ngx_gov_progress_cleanup) {
            return cln->data;
        }
    }

    return NULL;
}


/*
 * An answer to a correction posted with its files, stored as the
 * citizen's uploads (the upload room): the form it stands for goes the
 * urlencoded answer's way.
 */

static void
ngx_gov_progress_owned(ngx_http_request_t *r, ngx_gov_upload_stream_t *st)
{
    json_t                 *problems;
    ngx_int_t               rc;
    ngx_str_t               text;
    ngx_uint_t              i;
    ngx_connection_t       *c;
    ngx_gov_progress_t     *pc;
    ngx_gov_upload_file_t  *f;

    c = r->connection;
    pc = ngx_gov_progress_of(r);
    f = st->files.elts;

    if (pc == NULL || st->status) {
        rc = (pc && st->error) ? ngx_http_gov_error(r, st->status, st->error)
                               : NGX_HTTP_INTERNAL_SERVER_ERROR;
        goto done;
    }

    /* a file refused (type, size, empty) is its material's problem */

    problems = NULL;

    for (i = 0; i < st->files.nelts; i++) {
        if (f[i].status && f[i].field.len > 10) {
            if (problems == NULL) {
                problems = json_pack("{s:s,s:[],s:[]}", "error",
                                     pc->supply ? "invalid_supplement"
                                                : "invalid_correction",
                                     "missing", "invalid");
            }

            json_array_append_new(json_object_get(problems, "invalid"),
                json_pack("{s:s%,s:s}", "id", f[i].field.data + 10,
                          f[i].field.len - 10, "reason", f[i].error));
        }
    }

    if (problems) {
        rc = ngx_http_gov_json_answer(r, 422, problems);
        goto done;
    }

    if (ngx_gov_upload_form_text(r, st, &text) != NGX_OK) {
        rc = NGX_HTTP_INTERNAL_SERVER_ERROR;
        goto done;
    }

    pc->body = gov_app_from_form((char *) text.data, text.len);

    if (pc->body == NULL) {
        rc = ngx_http_gov_error(r, NGX_HTTP_BAD_REQUEST, "malformed_form");
        goto done;
    }

    pc->form = 1;
    pc->streamed = 1;

    /* on as any answer: the application, the request, the script */
    ngx_gov_progress_identity(r);
    return;

done:

    ngx_http_finalize_request(r, rc);
    ngx_http_run_posted_requests(c);
}


/* "/steps/ITEM/correction" after the id: 1 with the item */

static ngx_uint_t
ngx_gov_progress_step_uri(u_char *p, u_char *end, ngx_str_t *item)
{
    u_char  *slash;

    if (end - p <= (ssize_t) (sizeof("/steps//correction") - 1)
        || ngx_strncmp(p, "/steps/", 7) != 0)
    {
        return 0;
    }

    p += 7;
    slash = ngx_strlchr(p, end, '/');

    if (slash == NULL || slash == p
        || (size_t) (end - slash) != sizeof("/correction") - 1
        || ngx_strncmp(slash, "/correction", end - slash) != 0)
    {
        return 0;
    }

    item->data = p;
    item->len = slash - p;

    return 1;
}


/*
 * The applicant answers a correction: the step must be in correction with
 * a request, the answer exactly what it asked (else 422 with every
 * problem); then one script keeps it.  NGX_DONE while Redis works, else
 * the answer's code.
 */

static ngx_int_t
ngx_gov_progress_correct(ngx_gov_progress_t *pc, redisReply *reply)
{
    size_t               i;
    json_t              *step, *request, *problems;
    ngx_int_t            rc;
    redisReply          *steps, *e;
    ngx_gov_bundle_t    *b;
    ngx_http_request_t  *r;

    r = pc->request;
    steps = reply->element[1];
    step = NULL;

    for (i = 0; i + 1 < steps->elements; i += 2) {
        e = steps->element[i];

        if (e->type == REDIS_REPLY_STRING && e->len == pc->item.len
            && ngx_strncmp(e->str, pc->item.data, e->len) == 0)
        {
            e = steps->element[i + 1];
            step = json_loadb(e->str, e->len, 0, NULL);
            break;
        }
    }

    if (step == NULL) {
        return ngx_http_gov_error(r, NGX_HTTP_NOT_FOUND, "not_found");
    }

    request = NULL;

    if (ngx_strcmp(json_string_value(json_object_get(step, "state")) ?
                   json_string_value(json_object_get(step, "state")) : "",
                   "correction") == 0
        && json_is_string(json_object_get(step, "correction")))
    {
        request = json_loadb(json_string_value(json_object_get(step,
                                                               "correction")),
                             json_string_length(json_object_get(step,
                                                              "correction")),
                             0, NULL);
    }

    json_decref(step);

    if (request == NULL) {
        return ngx_http_gov_error(r, NGX_HTTP_CONFLICT, "not_in_correction");
    }

    b = ngx_gov_app_bundle(ngx_gov_bc(r), &pc->id);

    problems = b ? ngx_gov_correct_check(b, request, pc->body)
                 : json_pack("{s:s}", "error", "invalid_correction");

    json_decref(request);

    if (problems) {
        return ngx_http_gov_json_answer(r, 422, problems);
    }

    rc = ngx_gov_correct_store(r, &pc->id, &pc->item, pc->body, &pc->subject,
                               &pc->actor, ngx_gov_progress_corrected, pc);

    return ngx_http_gov_queued(r, rc);
}


/*
 * 容缺受理: the applicant supplies materials promised at submission, each
 * one still promised (else 422 with every problem, or 409 when nothing
 * is); one script keeps them and queues their delivery.  NGX_DONE while
 * Redis works, else the answer's code.
 */

static ngx_int_t
ngx_gov_progress_supply(ngx_gov_progress_t *pc, redisReply *reply)
{
    size_t               i;
    json_t              *app, *pending, *problems, *pr, *v;
    ngx_int_t            rc;
    redisReply          *doc;
    const char          *id;
    ngx_gov_bundle_t    *b;
    ngx_http_request_t  *r;

    r = pc->request;
    doc = reply->element[0]->element[0];
    b = ngx_gov_app_bundle(ngx_gov_bc(r), &pc->id);

    app = (doc->type == REDIS_REPLY_STRING)
          ? json_loadb(doc->str, doc->len, 0, NULL) : NULL;
    pending = json_array();

    if (app == NULL || pending == NULL || b == NULL) {
        json_decref(app);
        json_decref(pending);
        return ngx_http_gov_error(r, NGX_HTTP_NOT_FOUND, "not_found");
    }

    json_array_foreach(json_object_get(app, "promises"), i, pr) {
        id = json_string_value(json_object_get(pr, "material"));
        v = id ? json_object_get(json_object_get(app, "materials"), id)
               : NULL;

        if (id && !(json_is_string(v) && json_string_length(v) > 0)) {
            json_array_append_new(pending, json_string(id));
        }
    }

    json_decref(app);

    if (json_array_size(pending) == 0) {
        json_decref(pending);
        return ngx_http_gov_error(r, NGX_HTTP_CONFLICT, "nothing_pending");
    }

    rc = gov_app_supply_check(pending, pc->body, &problems);
    json_decref(pending);

    if (rc != 0) {
        return problems ? ngx_http_gov_json_answer(r, 422, problems)
                        : NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    rc = ngx_gov_supply_store(r, &pc->id, b, pc->body, &pc->subject,
                              &pc->actor, ngx_gov_progress_corrected, pc);

    return ngx_http_gov_queued(r, rc);
}


/* kept: the progress document as it now is, 202 (a form: 303 back) */

static void
ngx_gov_progress_corrected(ngx_http_request_t *r, void *data,
    ngx_uint_t status, const char *error)
{
    ngx_gov_progress_t *pc = data;

    u_char            *p;
    ngx_int_t          rc;
    ngx_str_t          location, empty;
    ngx_connection_t  *c;

    c = r->connection;

    if (status) {
        rc = ngx_http_gov_error(r, status, error);
        goto done;
    }

    if (pc->supply) {
        ngx_log_error(NGX_LOG_INFO, c->log, 0,
                      "gov: promised materials of %V supplied", &pc->id);

    } else {
        ngx_log_error(NGX_LOG_INFO, c->log, 0,
                      "gov: correction of %V/%V answered", &pc->id,
                      &pc->item);
    }

    ngx_gov_pcache_drop(&pc->id);

    if (pc->form && ngx_http_gov_wants_html(r)) {
        p = ngx_pnalloc(r->pool, sizeof("/progress/") - 1 + pc->id.len);
        if (p == NULL) {
            rc = NGX_HTTP_INTERNAL_SERVER_ERROR;
            goto done;
        }

        location.data = p;
        location.len = ngx_sprintf(p, "/progress/%V", &pc->id) - p;
        ngx_str_null(&empty);

        rc = ngx_http_gov_location(r, &location);

        if (rc == NGX_OK) {
            rc = ngx_http_gov_send(r, NGX_HTTP_SEE_OTHER,
                                   &r->headers_out.content_type, &empty);
        }

        goto done;
    }

    /* read again and answered as a lookup is, 202 for this POST */

    pc->rating = 0;
    pc->correct = 0;
    pc->supply = 0;

    rc = ngx_http_gov_queued(r, ngx_gov_progress_read(r, pc));

    if (rc == NGX_DONE) {
        return;
    }

done:

    ngx_http_finalize_request(r, rc);
    ngx_http_run_posted_requests(c);
}


/*
 * Who may see it: the applicant (the subject or the actor of the
 * application) sees it whole; anyone else only with the right query code,
 * masked, and five wrong codes in 15 minutes lock it.  NGX_OK with
 * *masked set, NGX_AGAIN while a wrong code is counted (the 404 follows),
 * or NGX_DECLINED with the answer's code in *rc.
 */

static ngx_int_t
ngx_gov_progress_access(ngx_gov_progress_t *pc, redisReply *reply,
    ngx_uint_t *masked, ngx_int_t *rc)
{
    u_char               hash[32], hex[64];
    ngx_uint_t           tries;
    redisReply          *fields, *fails, *sub, *act;
    ngx_http_request_t  *r;

    r = pc->request;
    fields = reply->element[0];
    fails = reply->element[2];

    tries = fails->type == REDIS_REPLY_STRING
            ? (ngx_uint_t) ngx_atoi((u_char *) fails->str, fails->len) : 0;

    if (fields->element[0]->type != REDIS_REPLY_STRING
        || fields->element[3]->type != REDIS_REPLY_STRING)
    {
        /* unknown: the same answer as "not yours" */
        *rc = ngx_http_gov_error(r, NGX_HTTP_NOT_FOUND, "not_found");
        return NGX_DECLINED;
    }

    sub = fields->element[3];
    act = fields->element[4];

    *masked = 1;

    if (pc->subject.len
        && ((sub->len == pc->subject.len
             && ngx_strncmp(sub->str, pc->subject.data, pc->subject.len)
                == 0)
            || (act->type == REDIS_REPLY_STRING && act->len
                && act->len == pc->subject.len
                && ngx_strncmp(act->str, pc->subject.data, pc->subject.len)
                   == 0)))
    {
        *masked = 0;
        return NGX_OK;
    }

    if (pc->rating || pc->code.len == 0) {
        *rc = ngx_http_gov_error(r, NGX_HTTP_NOT_FOUND, "not_found");
        return NGX_DECLINED;
    }

    if (tries >= NGX_GOV_CODE_TRIES) {
        *rc = ngx_http_gov_error(r, NGX_HTTP_TOO_MANY_REQUESTS,
                                 "too_many_attempts");
        return NGX_DECLINED;
    }

    EVP_Digest(pc->code.data, pc->code.len, hash, NULL, EVP_sha256(), NULL);
    ngx_hex_dump(hex, hash, 32);

    if (fields->element[1]->type == REDIS_REPLY_STRING
        && fields->element[1]->len == 64
        && CRYPTO_memcmp(hex, fields->element[1]->str, 64) == 0)
    {
        return NGX_OK;
    }

    /* count the wrong guess: the fifth in 15 minutes locks */

    ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                  "gov: wrong query code for %V", &pc->id);

    if (ngx_gov_progress_count_miss(pc) == NGX_OK) {
        /* answered once counted: the next guess sees it */
        return NGX_AGAIN;
    }

    *rc = ngx_http_gov_error(r, NGX_HTTP_NOT_FOUND, "not_found");
    return NGX_DECLINED;
}


static ngx_int_t
ngx_gov_progress_count_miss(ngx_gov_progress_t *pc)
{
    ngx_str_t                  key;
    ngx_http_request_t        *r;
    ngx_http_gov_main_conf_t  *gmcf;

    const char  *argv[5];
    size_t       argvlen[5];

    r = pc->request;
    gmcf = ngx_http_get_module_main_conf(r, ngx_http_gov_module);

    if (ngx_gov_redis_id_key(r->pool, &gmcf->redis_prefix, "codefail:",
                             &pc->id, &key)
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    argv[0] = "EVAL";
    argvlen[0] = 4;
    argv[1] = "local n = redis.call('INCR', KEYS[1]) "
              "if n == 1 then redis.call('EXPIRE', KEYS[1], "
              "ARGV[1]) end return n";
    argvlen[1] = ngx_strlen(argv[1]);
    argv[2] = "1";
    argvlen[2] = 1;
    argv[3] = (char *) key.data;
    argvlen[3] = key.len;
    argv[4] = NGX_GOV_CODE_WINDOW;
    argvlen[4] = sizeof(NGX_GOV_CODE_WINDOW) - 1;

    return ngx_http_gov_redis_send(r, ngx_gov_progress_counted, pc, 5, argv,
                                   argvlen);
}


/*
 * The document, from this worker's memo when Redis holds byte for byte
 * what it held, else rendered; then kept (the applicant's view) in the
 * micro-cache and as the snapshot in Redis, and answered.
 */

static ngx_int_t
ngx_gov_progress_render(ngx_gov_progress_t *pc, redisReply *reply,
    ngx_uint_t masked)
{
    json_t                  *app, *doc;
    ngx_str_t               *memo_key;
    ngx_uint_t               finished;
    redisReply              *fields, *steps;
    ngx_gov_memo_t          *memo;
    ngx_gov_pcache_entry_t   entry;
    ngx_http_request_t      *r;

    r = pc->request;
    fields = reply->element[0];
    steps = reply->element[1];

    if (reply->element[3]->type == REDIS_REPLY_INTEGER
        && reply->element[3]->integer == -2)
    {
        /* the stored state is older than gov_progress_refresh */
        ngx_gov_refresh(r, &pc->id, steps, fields->element[0]);
    }

    memo = NULL;
    memo_key = ngx_gov_memo_key(r, pc, masked, fields->element[0],
                                fields->element[2], steps);

    if (memo_key) {
        memo = ngx_gov_memo_slot(memo_key);

        if (memo->raw_len == memo_key->len
            && ngx_memcmp(memo->raw, memo_key->data, memo_key->len) == 0)
        {
            if (ngx_gov_memo_copy(r, memo, &entry) != NGX_OK) {
                return NGX_HTTP_INTERNAL_SERVER_ERROR;
            }

            return ngx_gov_progress_keep(pc, reply, masked, &entry);
        }
    }

    app = json_loadb(fields->element[0]->str, fields->element[0]->len, 0,
                     NULL);
    if (app == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    doc = ngx_gov_progress_doc(r, ngx_gov_bc(r), &pc->id, app, steps,
                               fields->element[2], masked, &finished);

    json_decref(app);

    if (doc == NULL
        || ngx_gov_progress_serialize(r, doc, &entry.body, &entry.etag)
           != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (memo) {
        ngx_gov_memo_store(r, memo, memo_key, &entry);
    }

    return ngx_gov_progress_keep(pc, reply, masked, &entry);
}


/*
 * A copy of a memo's answer: the memo may be replaced while a slow client
 * still has the answer queued.
 */

static ngx_int_t
ngx_gov_memo_copy(ngx_http_request_t *r, ngx_gov_memo_t *memo,
    ngx_gov_pcache_entry_t *entry)
{
    entry->body.len = memo->body_len;
    entry->body.data = ngx_pnalloc(r->pool, memo->body_len + memo->etag_len);
    if (entry->body.data == NULL) {
        return NGX_ERROR;
    }

    ngx_memcpy(entry->body.data, memo->body, memo->body_len);
    entry->etag.data = entry->body.data + memo->body_len;
    entry->etag.len = memo->etag_len;
    ngx_memcpy(entry->etag.data, memo->etag, memo->etag_len);

    return NGX_OK;
}


static void
ngx_gov_memo_store(ngx_http_request_t *r, ngx_gov_memo_t *memo,
    ngx_str_t *key, ngx_gov_pcache_entry_t *entry)
{
    u_char  *p;

    if (entry->etag.len > sizeof(memo->etag)) {
        return;
    }

    p = ngx_alloc(key->len + entry->body.len, r->connection->log);
    if (p == NULL) {
        return;
    }

    ngx_free(memo->raw);

    memo->raw = p;
    memo->raw_len = key->len;
    memo->body = ngx_cpymem(p, key->data, key->len);
    memo->body_len = entry->body.len;
    ngx_memcpy(memo->body, entry->body.data, entry->body.len);
    memo->etag_len = entry->etag.len;
    ngx_memcpy(memo->etag, entry->etag.data, entry->etag.len);
}


/*
 * The applicant's view is the one worth keeping: in the micro-cache, and
 * as the snapshot in Redis until the day ends or, where departments are
 * asked, until the next refresh is due.  Then the answer.
 */

static ngx_int_t
ngx_gov_progress_keep(ngx_gov_progress_t *pc, redisReply *reply,
    ngx_uint_t masked, ngx_gov_pcache_entry_t *entry)
{
    redisReply              *fields, *sub, *act;
    ngx_msec_int_t           ttl;
    ngx_gov_bundle_t        *b;
    ngx_http_request_t      *r;
    ngx_gov_bundles_conf_t  *bc;

    r = pc->request;

    if (masked) {
        return ngx_gov_progress_answer(pc, &entry->body, &entry->etag);
    }

    fields = reply->element[0];
    sub = fields->element[3];
    act = fields->element[4];

    entry->subject.data = (u_char *) sub->str;
    entry->subject.len = sub->len;
    entry->actor.data = (u_char *) (act->type == REDIS_REPLY_STRING
                                    ? act->str : "");
    entry->actor.len = act->type == REDIS_REPLY_STRING ? act->len : 0;

    ngx_gov_pcache_put(r, &pc->id, entry, NULL);

    bc = ngx_gov_bc(r);
    b = ngx_gov_app_bundle(bc, &pc->id);

    if (b && ngx_gov_bundle_asks(bc, b)) {
        ttl = reply->element[3]->type == REDIS_REPLY_INTEGER
              ? (ngx_msec_int_t) reply->element[3]->integer : 0;

    } else {
        ttl = NGX_GOV_SNAPSHOT_TTL;
    }

    ngx_gov_progress_snapshot_put(r, pc, fields->element[5], ttl, entry);

    return ngx_gov_progress_answer(pc, &entry->body, &entry->etag);
}


static void
ngx_gov_progress_counted(redisReply *reply, void *data)
{
    ngx_gov_progress_t  *pc = data;

    ngx_connection_t    *c;
    ngx_http_request_t  *r;

    r = pc->request;
    c = r->connection;

    ngx_http_finalize_request(r, ngx_http_gov_error(r, NGX_HTTP_NOT_FOUND,
                                                        "not_found"));
    ngx_http_run_posted_requests(c);
}


static ngx_str_t *
ngx_gov_memo_key(ngx_http_request_t *r, ngx_gov_progress_t *pc,
    ngx_uint_t masked, redisReply *doc, redisReply *rating,
    redisReply *steps)
{
    u_char      *p;
    size_t       len;
    uint32_t     n;
    ngx_str_t   *key;
    ngx_uint_t   i;
    redisReply  *parts[2];

    parts[0] = doc;
    parts[1] = rating;

    len = pc->id.len + 1 + 2 * sizeof(uint32_t) + 2 * sizeof(uint32_t);

    for (i = 0; i < 2; i++) {
        if (parts[i]->type == REDIS_REPLY_STRING) {
            len += parts[i]->len;
        }
    }

    for (i = 0; i < steps->elements; i++) {
        if (steps->element[i]->type != REDIS_REPLY_STRING) {
            return NULL;
        }

        len += sizeof(uint32_t) + steps->element[i]->len;
    }

    key = ngx_palloc(r->pool, sizeof(ngx_str_t));
    p = ngx_pnalloc(r->pool, len);
    if (key == NULL || p == NULL) {
        return NULL;
    }

    key->data = p;

    /* "ID " then lengths before bytes: no two sets give one key */

    p = ngx_cpymem(p, pc->id.data, pc->id.len);
    *p++ = ' ';

    n = (uint32_t) masked;
    p = ngx_cpymem(p, &n, sizeof(uint32_t));
    n = (uint32_t) gov_day(ngx_time());
    p = ngx_cpymem(p, &n, sizeof(uint32_t));

    for (i = 0; i < 2; i++) {
        n = parts[i]->type == REDIS_REPLY_STRING ? (uint32_t) parts[i]->len
                                                 : (uint32_t) -1;
        p = ngx_cpymem(p, &n, sizeof(uint32_t));

        if (parts[i]->type == REDIS_REPLY_STRING) {
            p = ngx_cpymem(p, parts[i]->str, parts[i]->len);
        }
    }

    for (i = 0; i < steps->elements; i++) {
        n = (uint32_t) steps->element[i]->len;
        p = ngx_cpymem(p, &n, sizeof(uint32_t));
        p = ngx_cpymem(p, steps->element[i]->str, steps->element[i]->len);
    }

    key->len = p - key->data;

    return key;
}


static ngx_gov_memo_t *
ngx_gov_memo_slot(ngx_str_t *key)
{
    u_char      *p;
    ngx_uint_t   hash;

    /* by the application id, which starts the key */

    p = ngx_strlchr(key->data, key->data + key->len, ' ');

    hash = ngx_crc32_short(key->data, (p ? p : key->data + key->len)
                                      - key->data);

    return &ngx_gov_memo[hash % NGX_GOV_MEMO_SLOTS];
}


void
ngx_gov_progress_exit_process(ngx_cycle_t *cycle)
{
    ngx_uint_t  i;

    for (i = 0; i < NGX_GOV_MEMO_SLOTS; i++) {
        ngx_free(ngx_gov_memo[i].raw);
        ngx_gov_memo[i].raw = NULL;
        ngx_gov_memo[i].raw_len = 0;
    }
}


/*
 * For the page: the materials still promised, once each whatever steps
 * need them, and whether one is late: "promise":{"materials","overdue"}.
 */

static void
ngx_gov_progress_page_promised(json_t *doc)
{
    size_t       i, j, k;
    json_t      *all, *step, *pr, *seen;
    ngx_uint_t   late;
    const char  *id;

    all = json_array();
    if (all == NULL) {
        return;
    }

    late = 0;

    json_array_foreach(json_object_get(doc, "steps"), i, step) {
        json_array_foreach(json_object_get(step, "pending"), j, pr) {
            id = json_string_value(json_object_get(pr, "material"));

            json_array_foreach(all, k, seen) {
                if (ngx_strcmp(json_string_value(json_object_get(seen,
                                                             "material")),
                               id)
                    == 0)
                {
                    break;
                }
            }

            if (k == json_array_size(all)) {
                json_array_append(all, pr);
                late |= json_is_true(json_object_get(pr, "overdue"));
            }
        }
    }

    if (json_array_size(all)) {
        json_object_set_new(doc, "promise",
                            json_pack("{s:o,s:b}", "materials", all,
                                      "overdue", late));

    } else {
        json_decref(all);
    }
}


/*
 * The materials promised at submission (容缺受理) that this item needs and
 * that were not given since: [{"material","name","due","overdue"}], or
 * NULL; *late is 1 when one is past its day.
 */

static json_t *
ngx_gov_progress_pending(ngx_gov_bundles_conf_t *bc, ngx_gov_item_t *it,
    json_t *app, int today, ngx_uint_t *late)
{
    int                  due;
    size_t               i;
    json_t              *out, *pr, *v, *materials;
    ngx_uint_t           k;
    const char          *id, *date;
    ngx_gov_material_t  *mats, *m;

    *late = 0;
    out = NULL;
    mats = bc->materials.elts;
    materials = json_object_get(app, "materials");

    json_array_foreach(json_object_get(app, "promises"), i, pr) {
        id = json_string_value(json_object_get(pr, "material"));
        date = json_string_value(json_object_get(pr, "due"));

        if (id == NULL || date == NULL || ngx_strlen(date) != 10) {
            continue;
        }

        v = json_object_get(materials, id);
        if (json_is_string(v) && json_string_length(v) > 0) {
            /* supplied */
            continue;
        }

        m = NULL;

        for (k = 0; k < it->materials.nelts; k++) {
            if (ngx_strcmp(mats[it->material_idx[k]].id.data, id) == 0) {
                m = &mats[it->material_idx[k]];
                break;
            }
        }

        if (m == NULL) {
            continue;
        }

        due = gov_day_from_civil(ngx_atoi((u_char *) date, 4),
                                 ngx_atoi((u_char *) date + 5, 2),
                                 ngx_atoi((u_char *) date + 8, 2));

        if (out == NULL) {
            out = json_array();
            if (out == NULL) {
                return NULL;
            }
        }

        json_array_append_new(out, json_pack("{s:s,s:s%,s:s,s:b}",
                                             "material", id,
                                             "name", (char *) m->name.data,
                                             m->name.len, "due", date,
                                             "overdue", today > due));
        if (today > due) {
            *late = 1;
        }
    }

    return out;
}


/* working days the step spent paused (correction, special) */

static int
ngx_gov_pause_days(gov_calendar_t *cal, json_t *step, int today)
{
    int      days;
    size_t   i;
    json_t  *pauses, *p, *since;

    days = 0;

    pauses = json_object_get(step, "pauses");

    for (i = 0; i < json_array_size(pauses); i++) {
        p = json_array_get(pauses, i);
        days += gov_calendar_between(cal,
                                     json_integer_value(json_array_get(p, 0)),
                                     json_integer_value(json_array_get(p, 1)));
    }

    since = json_object_get(step, "paused_since");

    if (json_is_integer(since)) {
        days += gov_calendar_between(cal, json_integer_value(since), today);
    }

    return days;
}


static json_t *
ngx_gov_mask(const char *s)
{
    u_char  buf[300];
    size_t  len, i;

    /* "110101199001011234" -> "1101**********1234" */

    len = s ? ngx_strlen(s) : 0;

    if (len > 256) {
        len = 256;
    }

    for (i = 0; i < len; i++) {
        buf[i] = (i < 4 || i + 4 >= len) && len > 8 ? s[i] : '*';
    }

    return json_stringn((char *) buf, len);
}


static json_t *
ngx_gov_progress_doc(ngx_http_request_t *r, ngx_gov_bundles_conf_t *bc,
    ngx_str_t *id, json_t *app, redisReply *steps, redisReply *rating,
    ngx_uint_t masked, ngx_uint_t *finished)
{
    int                     today, start;
    json_t                 *doc, *arr, *step;
    ngx_uint_t              i, k, nsteps;
    const char             *bid, *submitted;
    ngx_gov_item_t         *items, *it;
    ngx_gov_bundle_t       *b, *bundles;
    ngx_gov_progress_sum_t  sum;

    items = bc->items.elts;
    bundles = bc->bundles.elts;

    bid = json_string_value(json_object_get(app, "bundle"));
    b = NULL;

    for (i = 0; bid && i < bc->bundles.nelts; i++) {
        if (ngx_strcmp(bundles[i].id.data, bid) == 0) {
            b = &bundles[i];
            break;
        }
    }

    /* the day of submission, from the ISO time stored */

    today = gov_day(ngx_time());
    start = today;

    submitted = json_string_value(json_object_get(app, "submitted_at"));

    if (submitted && ngx_strlen(submitted) >= 10) {
        start = gov_day_from_civil(ngx_atoi((u_char *) submitted, 4),
                                   ngx_atoi((u_char *) submitted + 5, 2),
                                   ngx_atoi((u_char *) submitted + 8, 2));
    }

    ngx_memzero(&sum, sizeof(ngx_gov_progress_sum_t));
    sum.done = 1;
    sum.all_finished = 1;

    arr = json_array();

    nsteps = 0;

    for (k = 0; b && k < b->items.nelts; k++) {
        it = &items[b->item_idx[k]];
        step = ngx_gov_progress_find_step(steps, it);

        if (step == NULL && b->whens.nelts) {
            /* an item its situation left out */
            continue;
        }

        json_array_append_new(arr, ngx_gov_progress_step(bc, it, step, app,
                                                         today, &sum));
        json_decref(step);
        nsteps++;
    }

    *finished = sum.done || (sum.attention && sum.all_finished);

    doc = json_object();
    json_object_set_new(doc, "id", json_stringn((char *) id->data, id->len));
    json_object_set_new(doc, "bundle", bid ? json_string(bid) : json_null());
    json_object_set_new(doc, "name", b ? json_stringn((char *) b->name.data,
                                                      b->name.len)
                                       : json_null());
    json_object_set_new(doc, "status",
                        json_string(sum.attention ? "attention"
                                    : (sum.withdrawn && sum.all_finished)
                                      ? "withdrawn"
                                    : sum.done ? "done" : "processing"));
    json_object_set_new(doc, "withdrawable", json_boolean(sum.open));
    json_object_set_new(doc, "percent",
                        json_integer(nsteps
                                     ? (json_int_t) (sum.percent / nsteps)
                                     : 0));
    json_object_set(doc, "submitted_at",
                    json_object_get(app, "submitted_at"));

    ngx_gov_progress_deadline(doc, bc, b, start, today, &sum);

    if (!masked) {
        ngx_gov_progress_prefill(arr, json_object_get(app, "fields"));
    }

    json_object_set_new(doc, "steps", arr);

    json_object_set_new(doc, "applicant",
                        masked ? ngx_gov_mask(json_string_value(
                                     json_object_get(app, "subject")))
                               : json_incref(json_object_get(app, "subject")));

    ngx_gov_progress_rating(doc, rating, masked, *finished);

    return doc;
}


/*
 * A field a department asks to correct shows, to the applicant, what was
 * submitted: the page's form starts from it.
 */

static void
ngx_gov_progress_prefill(json_t *steps, json_t *fields)
{
    size_t       i, j;
    json_t      *step, *n, *v;
    const char  *kind, *id;

    json_array_foreach(steps, i, step) {
        json_array_foreach(json_object_get(json_object_get(step,
                                                           "correction"),
                                           "needed"), j, n)
        {
            kind = json_string_value(json_object_get(n, "kind"));
            id = json_string_value(json_object_get(n, "id"));

            if (kind == NULL || id == NULL || ngx_strcmp(kind, "field") != 0) {
                continue;
            }

            v = json_object_get(fields, id);

            if (json_is_string(v)) {
                json_object_set(n, "value", v);
            }
        }
    }
}


/* the step of item "it" as stored (a new reference), or NULL */

static json_t *
ngx_gov_progress_find_step(redisReply *steps, ngx_gov_item_t *it)
{
    ngx_uint_t  i;

    for (i = 0; i + 1 < steps->elements; i += 2) {
        if (steps->element[i]->len == it->id.len
            && ngx_strncmp(steps->element[i]->str, it->id.data, it->id.len)
               == 0)
        {
            return json_loadb(steps->element[i + 1]->str,
                              steps->element[i + 1]->len, 0, NULL);
        }
    }

    return NULL;
}


/*
 * One step of the document: its state in both languages, when it last
 * changed, its own deadline (counted from acceptance, days paused not
 * counted) and overdue flag, receipt, note and reason.  What the bundle's
 * figures need is added to "sum".
 */

static json_t *
ngx_gov_progress_step(ngx_gov_bundles_conf_t *bc, ngx_gov_item_t *it,
    json_t *step, json_t *app, int today, ngx_gov_progress_sum_t *sum)
{
    int                pauses, deadline;
    u_char             buf[32], *p;
    json_t            *o, *v, *pending;
    ngx_int_t          state;
    ngx_uint_t         over, late;
    ngx_gov_region_t  *rg;

    v = json_object_get(step, "state");
    state = json_is_string(v)
            ? gov_state_from_str(json_string_value(v), json_string_length(v))
            : GOV_STEP_QUEUED;

    if (state < 0) {
        state = GOV_STEP_QUEUED;
    }

    sum->percent += gov_state_percent(state);

    if (gov_state_attention(state)) {
        sum->attention = 1;
    }

    if (!gov_state_done(state) && state != GOV_STEP_WITHDRAWN) {
        sum->done = 0;
    }

    if (!gov_state_terminal(state) && state != GOV_STEP_APPROVED) {
        sum->all_finished = 0;
    }

    if (state == GOV_STEP_WITHDRAWN) {
        sum->withdrawn = 1;
    }

    if (gov_state_withdrawable(state)) {
        sum->open = 1;
    }

    pauses = ngx_gov_pause_days(&bc->calendar, step, today);
    sum->pauses = ngx_max(sum->pauses, (ngx_uint_t) pauses);

    o = json_object();
    json_object_set_new(o, "item", json_stringn((char *) it->id.data,
                                                it->id.len));
    json_object_set_new(o, "name", json_stringn((char *) it->name.data,
                                                it->name.len));
    json_object_set_new(o, "department",
                        json_stringn((char *) it->department.data,
                                     it->department.len));
    json_object_set_new(o, "state", json_string(gov_state_name(state)));
    json_object_set_new(o, "state_name",
                        json_string(gov_state_name_zh(state)));

    v = json_object_get(step, "updated_at");
    if (json_is_integer(v)) {
        p = (u_char *) gov_iso_time((char *) buf,
                                    (time_t) json_integer_value(v));
        json_object_set_new(o, "updated_at",
                            json_stringn((char *) buf, p - buf));

    } else {
        json_object_set_new(o, "updated_at", json_null());
    }

    /* a step's clock starts when it is accepted */

    v = json_object_get(step, "accepted_day");
    over = 0;

    if (json_is_integer(v)) {
        deadline = gov_calendar_add(&bc->calendar,
                                    (int) json_integer_value(v),
                                    (int) it->time_limit + pauses);
        p = (u_char *) gov_iso_date((char *) buf, deadline);
        json_object_set_new(o, "deadline",
                            json_stringn((char *) buf, p - buf));

        over = !gov_state_terminal(state) && !gov_state_done(state)
               && !gov_state_paused(state) && today > deadline;

    } else {
        json_object_set_new(o, "deadline", json_null());
    }

    /* 容缺受理: promised materials not yet given, late ones overdue */

    if (!gov_state_terminal(state) && !gov_state_done(state)) {
        pending = ngx_gov_progress_pending(bc, it, app, today, &late);

        if (pending) {
            json_object_set_new(o, "pending", pending);
        }

        if (late) {
            over = 1;
            sum->attention = 1;
        }
    }

    json_object_set_new(o, "overdue", json_boolean(over));

    v = json_object_get(step, "receipt");
    json_object_set_new(o, "receipt", json_is_string(v) ? json_incref(v)
                                                         : json_null());

    v = json_object_get(step, "note");
    if (json_is_string(v)) {
        json_object_set(o, "note", v);
    }

    v = json_object_get(step, "reason");
    if (json_is_string(v)) {
        json_object_set(o, "reason", v);
    }

    /* 跨省通办: received here, handled by the region it was routed to */

    v = json_object_get(step, "region");
    if (json_is_string(v)) {
        rg = ngx_gov_route_region_id(bc, (u_char *) json_string_value(v),
                                     json_string_length(v));
        json_object_set_new(o, "region",
                            json_pack("{s:O,s:s%}", "id", v, "name",
                                      rg ? (char *) rg->name.data
                                         : json_string_value(v),
                                      rg ? rg->name.len
                                         : json_string_length(v)));
    }

    v = json_object_get(step, "correction");
    if (state == GOV_STEP_CORRECTION && json_is_string(v)) {
        ngx_gov_progress_correction(bc, o, v, today);

        /* answered, and waiting for the department to take it */
        v = json_object_get(step, "notify");
        json_object_set_new(json_object_get(o, "correction"), "answered",
                            json_boolean(json_is_string(v)
                                         && ngx_strcmp(json_string_value(v),
                                                       "correction") == 0));
    }

    v = json_object_get(step, "result");
    if (json_is_string(v)) {
        v = json_loadb(json_string_value(v), json_string_length(v), 0, NULL);

        if (json_is_object(v)) {
            json_object_set_new(v, "kind_name", json_string(
                gov_result_kind_zh(json_string_value(json_object_get(v,
                                                                  "kind")))));
            json_object_set_new(o, "result", v);

        } else {
            json_decref(v);
        }
    }

    return o;
}


/*
 * What a department asked for (补正告知) as it asked, with the names of
 * the materials and fields for the page, and whether its due date is a
 * working day away (warning) or past (overdue).
 */

static void
ngx_gov_progress_correction(ngx_gov_bundles_conf_t *bc, json_t *o,
    json_t *text, int today)
{
    int                  due;
    size_t               i;
    json_t              *req, *needed, *v;
    ngx_uint_t           j, field;
    const char          *id, *name;
    ngx_gov_field_t     *fields;
    ngx_gov_material_t  *materials;

    req = json_loadb(json_string_value(text), json_string_length(text), 0,
                     NULL);
    if (!json_is_object(req)) {
        json_decref(req);
        return;
    }

    materials = bc->materials.elts;
    fields = bc->fields.elts;
    needed = json_array();

    for (field = 0; field < 2; field++) {
        json_array_foreach(json_object_get(req, field ? "fields"
                                                      : "materials"), i, v)
        {
            id = json_string_value(v);
            name = id;

            for (j = 0; id && j < (field ? bc->fields.nelts
                                         : bc->materials.nelts); j++)
            {
                if (field && ngx_strcmp(fields[j].id.data, id) == 0) {
                    name = (char *) fields[j].label.data;
                    break;
                }

                if (!field && ngx_strcmp(materials[j].id.data, id) == 0) {
                    name = (char *) materials[j].name.data;
                    break;
                }
            }

            json_array_append_new(needed, json_pack("{s:s?,s:s?,s:s}",
                                  "id", id, "name", name,
                                  "kind", field ? "field" : "material"));
        }
    }

    json_object_set_new(req, "needed", needed);

    v = json_object_get(req, "due");
    due = json_is_string(v) ? gov_date_parse(json_string_value(v),
                                             json_string_length(v))
                            : -1;

    json_object_set_new(req, "due_overdue", json_boolean(due >= 0
                                                         && today > due));
    json_object_set_new(req, "due_warning", json_boolean(
        due >= 0 && today <= due
        && gov_calendar_add(&bc->calendar, today, 1) >= due));

    json_object_set_new(o, "correction", req);
}


/*
 * The bundle's deadline in working days from the day of submission (the
 * longest pause of a step added), overdue, and warning when one working
 * day or less is left.
 */

static void
ngx_gov_progress_deadline(json_t *doc, ngx_gov_bundles_conf_t *bc,
    ngx_gov_bundle_t *b, int start, int today, ngx_gov_progress_sum_t *sum)
{
    int         deadline;
    u_char      buf[32], *p;
    ngx_uint_t  over;

    deadline = gov_calendar_add(&bc->calendar, start,
                                (b ? (int) b->time_limit : 0)
                                + (int) sum->pauses);
    p = (u_char *) gov_iso_date((char *) buf, deadline);
    json_object_set_new(doc, "deadline", json_stringn((char *) buf, p - buf));

    over = !sum->done && today > deadline;

    json_object_set_new(doc, "overdue", json_boolean(over));
    json_object_set_new(doc, "warning",
                        json_boolean(!sum->done && !over
                                     && gov_calendar_between(&bc->calendar,
                                                             today, deadline)
                                        <= 1));
}


/* the rating, without its comment for a masked view; and if one may rate */

static void
ngx_gov_progress_rating(json_t *doc, redisReply *rating, ngx_uint_t masked,
    ngx_uint_t finished)
{
    json_t  *rt;

    rt = NULL;

    if (rating->type == REDIS_REPLY_STRING) {
        rt = json_loadb(rating->str, rating->len, 0, NULL);
        json_object_del(rt, "id");
        json_object_del(rt, "bundle");

        if (masked) {
            json_object_del(rt, "comment");
        }
    }

    json_object_set_new(doc, "rating", rt ? rt : json_null());
    json_object_set_new(doc, "rateable",
                        json_boolean(finished && rt == NULL && !masked));
}


static ngx_int_t
ngx_gov_progress_serialize(ngx_http_request_t *r, json_t *doc,
    ngx_str_t *body, ngx_str_t *etag)
{
    u_char  *p, hash[20];

    if (ngx_http_gov_json_dump(r, doc, body) != NGX_OK) {
        return NGX_ERROR;
    }

    etag->data = ngx_pnalloc(r->pool, 2 + 40);
    if (etag->data == NULL) {
        return NGX_ERROR;
    }

    /* the ETag of the document itself: it changes when anything does */

    EVP_Digest(body->data, body->len, hash, NULL, EVP_sha1(), NULL);

    p = etag->data;
    *p++ = '"';
    p = ngx_hex_dump(p, hash, 20);
    *p++ = '"';
    etag->len = p - etag->data;

    return NGX_OK;
}


static ngx_int_t
ngx_gov_progress_answer(ngx_gov_progress_t *pc, ngx_str_t *body,
    ngx_str_t *etag)
{
    u_char                    *p, when[64];
    json_t                    *doc;
    ngx_int_t                  rc;
    ngx_str_t                  empty;
    const char                *s;
    ngx_table_elt_t           *inm;
    ngx_http_request_t        *r;
    ngx_http_gov_main_conf_t  *gmcf;

    static ngx_str_t  cc = ngx_string("private, no-cache");

    r = pc->request;

    if (ngx_http_gov_wants_html(r)) {
        /* a browser gets the page, from the same document */

        doc = json_loadb((char *) body->data, body->len, 0, NULL);
        json_object_set(doc, "title", json_object_get(doc, "name"));

        /* with a store, a correction's form posts its files */
        gmcf = ngx_http_get_module_main_conf(r, ngx_http_gov_module);
        json_object_set_new(doc, "uploads",
                            json_boolean(gmcf->upload.path.len != 0));
        ngx_gov_progress_page_needed(doc);
        ngx_gov_progress_page_promised(doc);
        json_object_set_new(doc, "attention",
                            json_boolean(ngx_strcmp(json_string_value(
                                             json_object_get(doc, "status")),
                                             "attention") == 0));

        /* a page may be read over a shoulder: the ID number masked */

        json_object_set_new(doc, "applicant", ngx_gov_mask(
            json_string_value(json_object_get(doc, "applicant"))));

        /* "2026-11-25T11:33:50+08:00" as "2026年11月25日 11:33" */

        s = json_string_value(json_object_get(doc, "submitted_at"));

        if (s && ngx_strlen(s) >= 16) {
            p = ngx_sprintf(when, "%*s年%*s月%*s日 %*s", (size_t) 4, s,
                            (size_t) 2, s + 5, (size_t) 2, s + 8,
                            (size_t) 5, s + 11);
            json_object_set_new(doc, "submitted_at",
                                json_stringn((char *) when, p - when));
        }


        if (pc->confirm) {
            /* what a withdrawal would stop, before it is asked */
            ngx_gov_progress_page_open(doc);
        }

        rc = ngx_http_gov_page(r, NGX_HTTP_OK,
                               pc->confirm ? "withdraw" : "progress", doc);
        if (rc != NGX_DECLINED) {
            return rc;
        }
    }

    if (ngx_http_gov_add_header(r, &r->headers_out.headers, "ETag", etag)
        != NGX_OK
        || ngx_http_gov_add_header(r, &r->headers_out.headers,
                                   "Cache-Control", &cc)
           != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    inm = ngx_http_gov_find_header(r, "if-none-match", 13);

    if (inm && ngx_strlcasestrn(inm->value.data,
                                inm->value.data + inm->value.len,
                                etag->data, etag->len - 1)
               != NULL)
    {
        ngx_str_null(&empty);

        return ngx_http_gov_send(r, NGX_HTTP_NOT_MODIFIED,
                                 &r->headers_out.content_type, &empty);
    }

    /* an answer to a correction is accepted, to be delivered */

    return ngx_http_gov_send_json(r, r->method == NGX_HTTP_POST
                                     ? NGX_HTTP_ACCEPTED : NGX_HTTP_OK,
                                  body);
}

