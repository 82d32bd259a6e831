
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

#include "ngx_http_gov_module.h"
#include "ngx_gov_bundle.h"
#include "ngx_gov_metrics.h"
#include "ngx_gov_pcache.h"
#include "gov_calendar.h"
#include "gov_http.h"
#include "gov_jwt.h"
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


typedef struct {
    ngx_http_request_t       *request;
    ngx_str_t                 id;
    ngx_str_t                 code;         /* ?code=, when given */
    ngx_str_t                 subject;
    ngx_str_t                 actor;
    ngx_uint_t                rating;       /* POST .../rating */
    ngx_uint_t                score;
    ngx_uint_t                script;       /* reads retried as a script */
    ngx_uint_t                form;         /* a rating by HTML form */
    json_t                   *body;         /* the rating request */
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
static ngx_gov_bundle_t *ngx_gov_progress_bundle(ngx_gov_bundles_conf_t *bc,
    ngx_str_t *id);
static ngx_uint_t ngx_gov_progress_asks(ngx_gov_bundles_conf_t *bc,
    ngx_gov_bundle_t *b);
static ngx_int_t ngx_gov_progress_load_script(ngx_http_request_t *r,
    ngx_gov_progress_t *pc);
static void ngx_gov_progress_loaded(redisReply *reply, void *data);
static void ngx_gov_progress_rated(redisReply *reply, void *data);
static void ngx_gov_progress_counted(redisReply *reply, void *data);
static json_t *ngx_gov_progress_doc(ngx_http_request_t *r,
    ngx_gov_bundles_conf_t *bc, ngx_str_t *id, json_t *app,
    redisReply *steps,
    redisReply *rating, ngx_uint_t masked, ngx_uint_t *finished);
static int ngx_gov_pause_days(gov_calendar_t *cal, json_t *step, int today);
static ngx_int_t ngx_gov_progress_serialize(ngx_http_request_t *r,
    json_t *doc, ngx_str_t *body, ngx_str_t *etag);
static ngx_int_t ngx_gov_progress_answer(ngx_http_request_t *r,
    ngx_str_t *body, ngx_str_t *etag);
static void ngx_gov_progress_rating_body(ngx_http_request_t *r);
static json_t *ngx_gov_rating_form(u_char *text, size_t len);
static void ngx_gov_progress_cleanup(void *data);
static json_t *ngx_gov_mask(const char *s);
static ngx_str_t *ngx_gov_memo_key(ngx_http_request_t *r,
    ngx_gov_progress_t *pc, ngx_uint_t masked, redisReply *doc,
    redisReply *rating, redisReply *steps);
static ngx_gov_memo_t *ngx_gov_memo_slot(ngx_str_t *key);
static void ngx_gov_refresh(ngx_http_request_t *r, ngx_str_t *id,
    redisReply *steps);
static ngx_int_t ngx_gov_refresh_done(ngx_http_request_t *sr, void *data,
    ngx_int_t rc);
static void ngx_gov_refresh_applied(redisReply *reply, void *data);


/* how long a progress snapshot is kept in Redis at most (ms) */
#define NGX_GOV_SNAPSHOT_TTL  3600000


/* the lookup's reads as one script: the same reply as their EXEC */
#define NGX_GOV_PROGRESS_LOAD                                                 \
    "return {redis.call('HMGET', KEYS[1], 'doc', 'code', 'rating', "          \
    "'subject', 'actor', 'ver'), redis.call('HGETALL', KEYS[2]), "            \
    "redis.call('GET', KEYS[3]), redis.call('PTTL', KEYS[4])}"


typedef struct ngx_gov_refresh_s  ngx_gov_refresh_t;

typedef struct {
    ngx_gov_refresh_t        *refresh;
    ngx_gov_item_t           *item;
    ngx_str_t                 state;        /* as stored */
    ngx_str_t                 receipt;
} ngx_gov_refresh_step_t;

struct ngx_gov_refresh_s {
    ngx_http_request_t       *request;      /* without a client */
    ngx_str_t                 id;
    uint32_t                  lock;
    ngx_msec_t                until;        /* the lock holds till then */
    ngx_uint_t                pending;
};


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
    u_char                    *p, *end, *slash;
    ngx_int_t                  rc;
    ngx_str_t                  arg;
    ngx_uint_t                 i;
    ngx_pool_cleanup_t        *cln;
    ngx_gov_progress_t        *pc;
    ngx_http_core_loc_conf_t  *clcf;

    clcf = ngx_http_get_module_loc_conf(r, ngx_http_core_module);

    p = r->uri.data;
    end = r->uri.data + r->uri.len;

    if (r->uri.len >= clcf->name.len
        && ngx_strncmp(p, clcf->name.data, clcf->name.len) == 0)
    {
        p += clcf->name.len;
    }

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
        if ((size_t) (end - slash) != sizeof("/rating") - 1
            || ngx_strncmp(slash, "/rating", end - slash) != 0)
        {
            pc->id.len = 0;

        } else {
            pc->rating = 1;
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

    if (pc->rating) {
        /* a rating is the applicant's: a query code gives no right to it */
        pc->code.len = 0;

        if (r->method != NGX_HTTP_POST) {
            return NGX_HTTP_NOT_ALLOWED;
        }

        rc = ngx_http_read_client_request_body(r,
                                               ngx_gov_progress_rating_body);
        if (rc >= NGX_HTTP_SPECIAL_RESPONSE) {
            return rc;
        }

        return NGX_DONE;
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
    json_t                    *v;
    ngx_int_t                  rc, reason;
    ngx_str_t                  body, *ct;
    ngx_connection_t          *c;
    ngx_pool_cleanup_t        *cln;
    ngx_gov_progress_t        *pc;
    ngx_gov_pcache_entry_t     entry;
    ngx_http_gov_loc_conf_t   *glcf;

    c = r->connection;
    glcf = ngx_http_get_module_loc_conf(r, ngx_http_gov_module);

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

        if (ngx_http_gov_read_body(r, &body) != NGX_OK) {
            rc = ngx_http_gov_error(r, NGX_HTTP_REQUEST_ENTITY_TOO_LARGE,
                                        "too_large");
            goto done;
        }

        ct = r->headers_in.content_type ? &r->headers_in.content_type->value
                                        : NULL;

        if (ct && ct->len >= 33
            && ngx_strncasecmp(ct->data,
                               (u_char *) "application/x-www-form-urlencoded",
                               33) == 0)
        {
            /* the rating form of the progress page */
            pc->form = 1;
            pc->body = ngx_gov_rating_form(body.data, body.len);

        } else {
            pc->body = json_loadb((char *) body.data, body.len,
                                  JSON_REJECT_DUPLICATES, NULL);
        }

        if (!json_is_object(pc->body)) {
            rc = ngx_http_gov_error(r, NGX_HTTP_BAD_REQUEST,
                                        "malformed_json");
            goto done;
        }

        v = json_object_get(pc->body, "score");

        if (!json_is_integer(v) || json_integer_value(v) < 1
            || json_integer_value(v) > 5)
        {
            rc = ngx_http_gov_error(r, 422, "invalid_score");
            goto done;
        }

        v = json_object_get(pc->body, "comment");

        if (v && (!json_is_string(v) || json_string_length(v) > 1000)) {
            rc = ngx_http_gov_error(r, 422, "invalid_comment");
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
        && ngx_gov_pcache_get(r, &pc->id, glcf->progress_refresh, &entry)
           == NGX_OK)
    {
        if (ngx_gov_progress_mine(&entry, &pc->subject)) {
            rc = ngx_gov_progress_answer(r, &entry.body, &entry.etag);

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

    if (!pc->rating && pc->code.len == 0) {
        rc = ngx_gov_progress_snapshot_get(r, pc);

    } else {
        rc = ngx_gov_progress_read(r, pc);
    }

    if (rc == NGX_DECLINED) {
        rc = ngx_http_gov_unavailable(r);
        goto done;
    }

    if (rc != NGX_OK) {
        rc = NGX_HTTP_INTERNAL_SERVER_ERROR;
        goto done;
    }

    return;

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


/* the bundle of an application: the code that starts its id */

static ngx_gov_bundle_t *
ngx_gov_progress_bundle(ngx_gov_bundles_conf_t *bc, ngx_str_t *id)
{
    u_char            *end;
    ngx_uint_t         i;
    ngx_gov_bundle_t  *bundles;

    for (end = id->data; end < id->data + id->len; end++) {
        if (*end >= '0' && *end <= '9') {
            break;
        }
    }

    bundles = bc->bundles.elts;

    for (i = 0; i < bc->bundles.nelts; i++) {
        if (bundles[i].code.len == (size_t) (end - id->data)
            && ngx_strncmp(bundles[i].code.data, id->data,
                           end - id->data) == 0)
        {
            return &bundles[i];
        }
    }

    return NULL;
}


/* 1 when some item of the bundle has a status URI to be asked */

static ngx_uint_t
ngx_gov_progress_asks(ngx_gov_bundles_conf_t *bc, ngx_gov_bundle_t *b)
{
    ngx_uint_t       i;
    ngx_gov_item_t  *items;

    items = bc->items.elts;

    for (i = 0; i < b->items.nelts; i++) {
        if (items[b->item_idx[i]].status.len) {
            return 1;
        }
    }

    return 0;
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
    u_char                    *key;
    size_t                     argvlen[2];
    const char                *argv[2];
    ngx_http_gov_main_conf_t  *gmcf;

    gmcf = ngx_http_get_module_main_conf(r, ngx_http_gov_module);

    key = ngx_pnalloc(r->pool, gmcf->redis_prefix.len + 4 + pc->id.len);
    if (key == NULL) {
        return NGX_ERROR;
    }

    argv[0] = "GET";
    argvlen[0] = 3;
    argv[1] = (char *) key;
    argvlen[1] = ngx_cpymem(ngx_cpymem(ngx_cpymem(key,
                                                  gmcf->redis_prefix.data,
                                                  gmcf->redis_prefix.len),
                                       "doc:", 4),
                            pc->id.data, pc->id.len)
                 - key;

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

        if (day != NGX_ERROR && day == ngx_gov_day(ngx_time())) {
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
                ngx_gov_pcache_put(r, &pc->id, &entry);
                rc = ngx_gov_progress_answer(r, &entry.body, &entry.etag);

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
                    (ngx_int_t) ngx_gov_day(ngx_time()), &entry->subject,
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
    ngx_uint_t                 i;
    ngx_http_gov_main_conf_t  *gmcf;

    static const char  *kinds[] = { "app:", "steps:", "codefail:",
                                    "refreshed:", "doc:" };

    gmcf = ngx_http_get_module_main_conf(r, ngx_http_gov_module);

    p = ngx_pnalloc(r->pool, 5 * (gmcf->redis_prefix.len + pc->id.len)
                             + sizeof("app:steps:codefail:refreshed:doc:") - 1);
    if (p == NULL) {
        return NGX_ERROR;
    }

    for (i = 0; i < 5; i++) {
        key[i] = (char *) p;
        p = ngx_sprintf(p, "%V%s%V", &gmcf->redis_prefix, kinds[i], &pc->id);
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

    u_char                    hash[32], hex[64], *key;
    json_t                   *app, *doc;
    ngx_int_t                 rc;
    u_char                   *p;
    ngx_str_t                *memo_key;
    ngx_uint_t                masked, finished, tries;
    redisReply               *fields, *steps, *fails, *sub, *act;
    ngx_msec_int_t            ttl;
    ngx_gov_memo_t           *memo;
    ngx_gov_bundle_t         *b;
    ngx_gov_pcache_entry_t    entry;
    ngx_connection_t         *c;
    ngx_http_request_t       *r;
    ngx_gov_bundles_conf_t   *bc;
    ngx_http_gov_main_conf_t *gmcf;

    const char  *argv[8];
    size_t       argvlen[8];

    r = pc->request;
    c = r->connection;
    gmcf = ngx_http_get_module_main_conf(r, ngx_http_gov_module);
    bc = &gmcf->bundles;

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

    fields = reply->element[0];
    steps = reply->element[1];
    fails = reply->element[2];

    tries = fails->type == REDIS_REPLY_STRING
            ? (ngx_uint_t) ngx_atoi((u_char *) fails->str, fails->len) : 0;

    if (fields->element[0]->type != REDIS_REPLY_STRING
        || fields->element[3]->type != REDIS_REPLY_STRING)
    {
        /* unknown: the same answer as "not yours" */
        rc = ngx_http_gov_error(r, NGX_HTTP_NOT_FOUND, "not_found");
        goto done;
    }

    /* the applicant: the subject or the actor of the application */

    sub = fields->element[3];
    act = fields->element[4];

    masked = 1;

    if (pc->subject.len
        && ((sub->len == pc->subject.len
             && ngx_strncmp(sub->str, pc->subject.data, pc->subject.len)
                == 0)
            || (act->type == REDIS_REPLY_STRING && act->len
                && act->len == pc->subject.len
                && ngx_strncmp(act->str, pc->subject.data, pc->subject.len)
                   == 0)))
    {
        masked = 0;
    }

    if (pc->rating && masked) {
        rc = ngx_http_gov_error(r, NGX_HTTP_NOT_FOUND, "not_found");
        goto done;
    }

    if (masked) {
        if (pc->code.len == 0) {
            rc = ngx_http_gov_error(r, NGX_HTTP_NOT_FOUND, "not_found");
            goto done;
        }

        if (tries >= NGX_GOV_CODE_TRIES) {
            rc = ngx_http_gov_error(r, NGX_HTTP_TOO_MANY_REQUESTS,
                                        "too_many_attempts");
            goto done;
        }

        EVP_Digest(pc->code.data, pc->code.len, hash, NULL, EVP_sha256(),
                   NULL);
        ngx_hex_dump(hex, hash, 32);

        if (fields->element[1]->type != REDIS_REPLY_STRING
            || fields->element[1]->len != 64
            || CRYPTO_memcmp(hex, fields->element[1]->str, 64) != 0)
        {
            /* count the wrong guess: the fifth in 15 minutes locks */

            key = ngx_pnalloc(r->pool, gmcf->redis_prefix.len + 9
                                       + pc->id.len);
            if (key) {
                argv[0] = "EVAL";
                argvlen[0] = 4;
                argv[1] = "local n = redis.call('INCR', KEYS[1]) "
                          "if n == 1 then redis.call('EXPIRE', KEYS[1], "
                          "ARGV[1]) end return n";
                argvlen[1] = ngx_strlen(argv[1]);
                argv[2] = "1";
                argvlen[2] = 1;
                argv[3] = (char *) key;
                argvlen[3] = ngx_sprintf(key, "%Vcodefail:%V",
                                         &gmcf->redis_prefix, &pc->id)
                             - key;
                argv[4] = NGX_GOV_CODE_WINDOW;
                argvlen[4] = sizeof(NGX_GOV_CODE_WINDOW) - 1;

                /* answered once counted: the next guess sees it */

                ngx_log_error(NGX_LOG_INFO, c->log, 0,
                              "gov: wrong query code for %V", &pc->id);

                if (ngx_http_gov_redis_send(r, ngx_gov_progress_counted, pc,
                                            5, argv, argvlen)
                    == NGX_OK)
                {
                    json_decref(app);
                    return;
                }
            }

            rc = ngx_http_gov_error(r, NGX_HTTP_NOT_FOUND, "not_found");
            goto done;
        }
    }

    memo = NULL;
    memo_key = NULL;

    if (!pc->rating && reply->element[3]->type == REDIS_REPLY_INTEGER
        && reply->element[3]->integer == -2)
    {
        /* the stored state is older than gov_progress_refresh */
        ngx_gov_refresh(r, &pc->id, steps);
    }

    if (!pc->rating) {
        memo_key = ngx_gov_memo_key(r, pc, masked, fields->element[0],
                                    fields->element[2], steps);

        if (memo_key) {
            memo = ngx_gov_memo_slot(memo_key);

            if (memo->raw_len == memo_key->len
                && ngx_memcmp(memo->raw, memo_key->data, memo_key->len) == 0)
            {
                /*
                 * A copy: the memo may be replaced while a slow client
                 * still has the answer queued.
                 */

                entry.body.len = memo->body_len;
                entry.body.data = ngx_pnalloc(r->pool, memo->body_len
                                                       + memo->etag_len);
                if (entry.body.data == NULL) {
                    rc = NGX_HTTP_INTERNAL_SERVER_ERROR;
                    goto done;
                }

                ngx_memcpy(entry.body.data, memo->body, memo->body_len);
                entry.etag.data = entry.body.data + memo->body_len;
                entry.etag.len = memo->etag_len;
                ngx_memcpy(entry.etag.data, memo->etag, memo->etag_len);

                goto rendered;
            }
        }
    }

    app = json_loadb(fields->element[0]->str, fields->element[0]->len, 0,
                     NULL);
    if (app == NULL) {
        rc = NGX_HTTP_INTERNAL_SERVER_ERROR;
        goto done;
    }

    doc = ngx_gov_progress_doc(r, bc, &pc->id, app, steps, fields->element[2],
                               masked, &finished);

    if (doc == NULL) {
        rc = NGX_HTTP_INTERNAL_SERVER_ERROR;
        goto done;
    }

    if (!pc->rating) {
        if (ngx_gov_progress_serialize(r, doc, &entry.body, &entry.etag)
            != NGX_OK)
        {
            rc = NGX_HTTP_INTERNAL_SERVER_ERROR;
            goto done;
        }

        if (memo && entry.etag.len <= sizeof(memo->etag)) {
            p = ngx_alloc(memo_key->len + entry.body.len, c->log);

            if (p) {
                ngx_free(memo->raw);

                memo->raw = p;
                memo->raw_len = memo_key->len;
                memo->body = ngx_cpymem(p, memo_key->data, memo_key->len);
                memo->body_len = entry.body.len;
                ngx_memcpy(memo->body, entry.body.data, entry.body.len);
                memo->etag_len = entry.etag.len;
                ngx_memcpy(memo->etag, entry.etag.data, entry.etag.len);
            }
        }

    rendered:

        if (!masked) {
            /* the applicant's view is the one worth keeping */

            entry.subject.data = (u_char *) sub->str;
            entry.subject.len = sub->len;
            entry.actor.data = (u_char *) (act->type == REDIS_REPLY_STRING
                                           ? act->str : "");
            entry.actor.len = act->type == REDIS_REPLY_STRING ? act->len : 0;

            ngx_gov_pcache_put(r, &pc->id, &entry);

            /*
             * The snapshot, until the day ends or, where departments are
             * asked, until the next refresh is due.
             */

            b = ngx_gov_progress_bundle(bc, &pc->id);

            if (b && ngx_gov_progress_asks(bc, b)) {
                ttl = reply->element[3]->type == REDIS_REPLY_INTEGER
                      ? (ngx_msec_int_t) reply->element[3]->integer : 0;

            } else {
                ttl = NGX_GOV_SNAPSHOT_TTL;
            }

            ngx_gov_progress_snapshot_put(r, pc, fields->element[5], ttl,
                                          &entry);
        }

        rc = ngx_gov_progress_answer(r, &entry.body, &entry.etag);
        goto done;
    }

    json_decref(doc);

    /* a rating: once finished, once only */

    if (!finished) {
        rc = ngx_http_gov_error(r, NGX_HTTP_CONFLICT, "not_finished");
        goto done;
    }

    {
        u_char   *p, *k1, *k2, *k3, at[32], sc[4];
        size_t    plen;
        char     *dump;
        json_t   *rating;
        json_int_t  score;

        score = json_integer_value(json_object_get(pc->body, "score"));

        p = ngx_gov_iso_time(at, ngx_time());

        rating = json_object();
        json_object_set_new(rating, "score", json_integer(score));
        json_object_set_new(rating, "comment",
                            json_object_get(pc->body, "comment")
                            ? json_incref(json_object_get(pc->body, "comment"))
                            : json_string(""));
        json_object_set_new(rating, "at",
                            json_stringn((char *) at, p - at));
        json_object_set_new(rating, "id",
                            json_stringn((char *) pc->id.data, pc->id.len));
        json_object_set(rating, "bundle", json_object_get(app, "bundle"));

        dump = json_dumps(rating, JSON_COMPACT);
        json_decref(rating);

        k1 = ngx_pnalloc(r->pool, gmcf->redis_prefix.len + 4 + pc->id.len);
        k2 = ngx_pnalloc(r->pool, gmcf->redis_prefix.len + 12);
        k3 = ngx_pnalloc(r->pool, gmcf->redis_prefix.len + 4 + pc->id.len);

        if (dump == NULL || k1 == NULL || k2 == NULL || k3 == NULL) {
            free(dump);
            rc = NGX_HTTP_INTERNAL_SERVER_ERROR;
            goto done;
        }

        p = ngx_pnalloc(r->pool, ngx_strlen(dump));
        if (p == NULL) {
            free(dump);
            rc = NGX_HTTP_INTERNAL_SERVER_ERROR;
            goto done;
        }

        plen = ngx_strlen(dump);
        ngx_memcpy(p, dump, plen);
        free(dump);

        /* scores 1-2 (差评) also go to the rectification list */

        argv[0] = "EVAL";
        argvlen[0] = 4;
        argv[1] = "if redis.call('HSETNX', KEYS[1], 'rating', ARGV[1]) == 0 "
                  "then return 0 end "
                  "redis.call('HINCRBY', KEYS[1], 'ver', 1) "
                  "redis.call('DEL', KEYS[3]) "
                  "if tonumber(ARGV[2]) <= 2 then "
                  "redis.call('RPUSH', KEYS[2], ARGV[1]) end return 1";
        argvlen[1] = ngx_strlen(argv[1]);
        argv[2] = "3";
        argvlen[2] = 1;
        argv[3] = (char *) k1;
        argvlen[3] = ngx_sprintf(k1, "%Vapp:%V", &gmcf->redis_prefix, &pc->id)
                     - k1;
        argv[4] = (char *) k2;
        argvlen[4] = ngx_sprintf(k2, "%Vratings:bad", &gmcf->redis_prefix)
                     - k2;
        argv[5] = (char *) k3;
        argvlen[5] = ngx_sprintf(k3, "%Vdoc:%V", &gmcf->redis_prefix, &pc->id)
                     - k3;
        argv[6] = (char *) p;
        argvlen[6] = plen;
        argv[7] = (char *) sc;
        argvlen[7] = ngx_sprintf(sc, "%L", (int64_t) score) - sc;

        pc->score = (ngx_uint_t) score;

        rc = ngx_http_gov_redis_send(r, ngx_gov_progress_rated, pc, 8, argv,
                                     argvlen);

        if (rc == NGX_DECLINED) {
            rc = ngx_http_gov_unavailable(r);
            goto done;
        }

        if (rc != NGX_OK) {
            rc = NGX_HTTP_INTERNAL_SERVER_ERROR;
            goto done;
        }

        json_decref(app);
        return;
    }

done:

    json_decref(app);
    ngx_http_finalize_request(r, rc);
    ngx_http_run_posted_requests(c);
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


static void
ngx_gov_progress_rated(redisReply *reply, void *data)
{
    ngx_gov_progress_t  *pc = data;

    ngx_int_t            rc;
    ngx_str_t            empty, location;
    ngx_connection_t    *c;
    ngx_http_request_t  *r;

    r = pc->request;
    c = r->connection;

    if (reply == NULL || reply->type != REDIS_REPLY_INTEGER) {
        rc = ngx_http_gov_unavailable(r);
        goto done;
    }

    if (reply->integer == 0) {
        rc = ngx_http_gov_error(r, NGX_HTTP_CONFLICT, "already_rated");
        goto done;
    }

    ngx_gov_metrics_inc(NGX_GOV_M_RATINGS + pc->score - 1);
    ngx_gov_progress_changed(&pc->id);

    ngx_str_null(&empty);

    if (pc->form && ngx_http_gov_wants_html(r)) {
        /* back to the progress page, which shows the rating */

        location.data = ngx_pnalloc(r->pool, sizeof("/progress/") - 1
                                             + pc->id.len);
        if (location.data == NULL) {
            rc = NGX_HTTP_INTERNAL_SERVER_ERROR;
            goto done;
        }

        location.len = ngx_sprintf(location.data, "/progress/%V", &pc->id)
                       - location.data;

        rc = ngx_http_gov_location(r, &location);

        if (rc == NGX_OK) {
            rc = ngx_http_gov_send(r, NGX_HTTP_SEE_OTHER,
                                   &r->headers_out.content_type, &empty);
        }

        goto done;
    }

    rc = ngx_http_gov_send(r, NGX_HTTP_NO_CONTENT,
                           &r->headers_out.content_type, &empty);

done:

    ngx_http_finalize_request(r, rc);
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
    n = (uint32_t) ngx_gov_day(ngx_time());
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
 * Read-through from the departments' status URIs: when the stored state
 * is older than gov_progress_refresh, one request (single-flight across
 * workers, by a lock in shared memory that expires by itself) asks every
 * status URI of a step not yet finished, in the background, through a
 * request without a client; the others, and this one, get the last state
 * at once.  A state from a status URI is taken only when it is a legal
 * move; a department that fails changes nothing (stale-if-error).
 */

static void
ngx_gov_refresh(ngx_http_request_t *r, ngx_str_t *id, redisReply *steps)
{
    u_char                    *p;
    size_t                     len;
    json_t                    *step, *v;
    uint32_t                   lock;
    ngx_int_t                  state;
    ngx_str_t                  uri, key;
    ngx_uint_t                 i, k;
    ngx_gov_item_t            *items, *it;
    ngx_gov_bundle_t          *b;
    ngx_gov_refresh_t         *rf;
    ngx_http_request_t        *fr, *sr;
    ngx_gov_bundles_conf_t    *bc;
    ngx_gov_refresh_step_t    *rs;
    ngx_http_gov_loc_conf_t   *glcf;
    ngx_http_gov_main_conf_t  *gmcf;
    ngx_http_post_subrequest_t  *ps;

    const char  *argv[5];
    size_t       argvlen[5];
    u_char       ms[NGX_INT_T_LEN];

    gmcf = ngx_http_get_module_main_conf(r, ngx_http_gov_module);
    glcf = ngx_http_get_module_loc_conf(r, ngx_http_gov_module);
    bc = &gmcf->bundles;

    if (gmcf->dispatch_ctx == NULL) {
        return;
    }

    b = ngx_gov_progress_bundle(bc, id);

    if (b == NULL || !ngx_gov_progress_asks(bc, b)) {
        return;
    }

    items = bc->items.elts;

    lock = ngx_crc32_short(id->data, id->len);

    if (!ngx_gov_shm_trylock(lock, bc->dispatch_timeout + 5000)) {
        /* another worker is asking: the last state will do */
        return;
    }

    /* the next refresh is due in gov_progress_refresh */

    key.len = gmcf->redis_prefix.len + 10 + id->len;
    key.data = ngx_pnalloc(r->pool, key.len);
    if (key.data == NULL) {
        ngx_gov_shm_unlock(lock);
        return;
    }

    ngx_sprintf(key.data, "%Vrefreshed:%V", &gmcf->redis_prefix, id);

    argv[0] = "SET";
    argvlen[0] = 3;
    argv[1] = (char *) key.data;
    argvlen[1] = key.len;
    argv[2] = "1";
    argvlen[2] = 1;
    argv[3] = "PX";
    argvlen[3] = 2;
    argv[4] = (char *) ms;
    argvlen[4] = ngx_sprintf(ms, "%M", glcf->progress_refresh) - ms;

    (void) ngx_gov_redis_send(r->connection->log, NULL, NULL, NULL, 5, argv,
                              argvlen);

    fr = ngx_gov_fake_request((ngx_cycle_t *) ngx_cycle);
    if (fr == NULL) {
        ngx_gov_shm_unlock(lock);
        return;
    }

    rf = ngx_pcalloc(fr->pool, sizeof(ngx_gov_refresh_t));
    if (rf == NULL) {
        goto failed;
    }

    rf->request = fr;
    rf->lock = lock;
    rf->until = ngx_current_msec + glcf->progress_refresh;
    rf->id.len = id->len;
    rf->id.data = ngx_pnalloc(fr->pool, id->len);
    if (rf->id.data == NULL) {
        goto failed;
    }

    ngx_memcpy(rf->id.data, id->data, id->len);

    for (i = 0; i < b->items.nelts; i++) {
        it = &items[b->item_idx[i]];

        if (it->status.len == 0) {
            continue;
        }

        step = NULL;

        for (k = 0; k + 1 < steps->elements; k += 2) {
            if (steps->element[k]->len == it->id.len
                && ngx_strncmp(steps->element[k]->str, it->id.data,
                               it->id.len) == 0)
            {
                step = json_loadb(steps->element[k + 1]->str,
                                  steps->element[k + 1]->len, 0, NULL);
                break;
            }
        }

        v = json_object_get(step, "state");
        state = json_is_string(v)
                ? gov_state_from_str(json_string_value(v),
                                     json_string_length(v))
                : -1;

        v = json_object_get(step, "receipt");

        /* a receipt is what the status URI is asked about */

        if (state < 0 || gov_state_terminal(state) || !json_is_string(v)
            || json_string_length(v) == 0 || json_string_length(v) > 128)
        {
            json_decref(step);
            continue;
        }

        rs = ngx_pcalloc(fr->pool, sizeof(ngx_gov_refresh_step_t));
        ps = ngx_palloc(fr->pool, sizeof(ngx_http_post_subrequest_t));

        len = gov_pct_encode(NULL, json_string_value(v),
                             json_string_length(v));
        uri.data = ngx_pnalloc(fr->pool, it->status.len + 1 + len);

        if (rs == NULL || ps == NULL || uri.data == NULL) {
            json_decref(step);
            continue;
        }

        p = ngx_cpymem(uri.data, it->status.data, it->status.len);
        *p++ = '/';
        p += gov_pct_encode((char *) p, json_string_value(v),
                            json_string_length(v));
        uri.len = p - uri.data;

        rs->refresh = rf;
        rs->item = it;
        rs->state.data = (u_char *) gov_state_name(state);
        rs->state.len = ngx_strlen(rs->state.data);

        json_decref(step);

        ps->handler = ngx_gov_refresh_done;
        ps->data = rs;

        if (ngx_http_subrequest(fr, &uri, NULL, &sr, ps,
                                NGX_HTTP_SUBREQUEST_IN_MEMORY
                                |NGX_HTTP_SUBREQUEST_BACKGROUND)
            != NGX_OK)
        {
            continue;
        }

        sr->method = NGX_HTTP_GET;
        ngx_str_set(&sr->method_name, "GET");
        sr->header_only = 0;

        ngx_memzero(&sr->headers_in, sizeof(ngx_http_headers_in_t));
        sr->headers_in.keep_alive_n = -1;
        sr->headers_in.content_length_n = 0;

        if (ngx_list_init(&sr->headers_in.headers, fr->pool, 2,
                          sizeof(ngx_table_elt_t))
            != NGX_OK)
        {
            continue;
        }

        (void) ngx_http_gov_add_header(sr, &sr->headers_in.headers,
                                       "X-Gov-Application", &rf->id);
        (void) ngx_http_gov_add_header(sr, &sr->headers_in.headers,
                                       "X-Gov-Item", &it->id);

        rf->pending++;
    }

    if (rf->pending == 0) {
        goto failed;
    }

    ngx_http_run_posted_requests(fr->connection);

    return;

failed:

    ngx_gov_shm_unlock(lock);
    ngx_gov_fake_request_free(fr);
}


static ngx_int_t
ngx_gov_refresh_done(ngx_http_request_t *sr, void *data, ngx_int_t rc)
{
    ngx_gov_refresh_step_t  *rs = data;

    json_t                    *json, *v;
    ngx_buf_t                 *b;
    ngx_int_t                  state, old;
    ngx_str_t                  receipt, note, replay, *id;
    ngx_gov_refresh_t         *rf;
    ngx_gov_redis_args_t       cmd;
    ngx_http_gov_main_conf_t  *gmcf;

    rf = rs->refresh;
    gmcf = ngx_http_get_module_main_conf(sr, ngx_http_gov_module);

    b = (sr->out && sr->out->buf) ? sr->out->buf : NULL;
    json = NULL;

    if (sr->headers_out.status == NGX_HTTP_OK && b && b->last > b->pos) {
        json = json_loadb((char *) b->pos, b->last - b->pos, 0, NULL);
    }

    v = json_object_get(json, "state");
    state = json_is_string(v) ? gov_state_from_str(json_string_value(v),
                                                   json_string_length(v))
                              : -1;
    old = gov_state_from_str((char *) rs->state.data, rs->state.len);

    if (json == NULL || state < 0) {
        /* stale-if-error: the last state stands */
        ngx_log_error(NGX_LOG_WARN, sr->connection->log, 0,
                      "gov: status of %V/%V unavailable (%i), "
                      "keeping the last state", &rf->id, &rs->item->id,
                      sr->headers_out.status ? (ngx_int_t)
                                               sr->headers_out.status : rc);

    } else if (state != old && gov_state_can(old, state)) {

        ngx_str_null(&receipt);
        ngx_str_null(&note);

        v = json_object_get(json, "note");
        if (json_is_string(v) && json_string_length(v) <= 1024) {
            note.len = json_string_length(v);
            note.data = ngx_pnalloc(sr->pool, note.len + 1);
            if (note.data) {
                ngx_memcpy(note.data, json_string_value(v), note.len);
            }
        }

        /* a key no replay can match: this change is ours */

        replay.data = ngx_pnalloc(sr->pool, gmcf->redis_prefix.len + 64);
        if (replay.data) {
            replay.len = ngx_sprintf(replay.data, "%Vreplay:refresh-%V-%V-%ui",
                                     &gmcf->redis_prefix, &rf->id,
                                     &rs->item->id, (ngx_uint_t) ngx_random())
                         - replay.data;

            id = ngx_alloc(sizeof(ngx_str_t) + rf->id.len,
                           ngx_cycle->log);

            if (id
                && ngx_gov_state_cmd(sr->pool, &gmcf->bundles,
                                     &gmcf->redis_prefix, &rf->id, rs->item,
                                     state, &receipt, &note, &replay, &cmd)
                   == NGX_OK)
            {
                id->data = (u_char *) (id + 1);
                id->len = rf->id.len;
                ngx_memcpy(id->data, rf->id.data, rf->id.len);

                /* the script checks the move again, atomically */

                if (ngx_gov_redis_send_n(sr->connection->log,
                                         ngx_gov_refresh_applied, id, NULL,
                                         1, &cmd)
                    != NGX_OK)
                {
                    ngx_free(id);
                }

            } else if (id) {
                ngx_free(id);
            }
        }

    } else if (state != old) {
        ngx_log_error(NGX_LOG_WARN, sr->connection->log, 0,
                      "gov: status of %V/%V says \"%s\", not a legal move "
                      "from \"%V\", ignored", &rf->id, &rs->item->id,
                      gov_state_name(state), &rs->state);
    }

    json_decref(json);

    if (--rf->pending == 0) {
        ngx_gov_shm_unlock_at(rf->lock, rf->until);
        ngx_gov_fake_request_free(rf->request);
    }

    return rc;
}


static void
ngx_gov_refresh_applied(redisReply *reply, void *data)
{
    ngx_str_t  *id = data;

    if (reply && reply->type == REDIS_REPLY_ARRAY && reply->elements >= 1
        && reply->element[0]->type == REDIS_REPLY_STRING
        && reply->element[0]->len == 2)
    {
        /* "ok": every cached copy goes */
        ngx_gov_progress_changed(id);
    }

    ngx_free(id);
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
    int                today, start, deadline, bdeadline, pauses, accepted;
    u_char             buf[32], *p;
    json_t            *doc, *arr, *o, *step, *rt, *v;
    ngx_int_t          state;
    ngx_uint_t         i, k, percent, attention, done, all_finished, over;
    ngx_uint_t         bundle_pauses;
    const char        *bid, *submitted;
    ngx_gov_item_t    *items, *it;
    ngx_gov_bundle_t  *b, *bundles;

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

    submitted = json_string_value(json_object_get(app, "submitted_at"));

    /* the day of submission, from the ISO time stored */

    start = ngx_gov_day(ngx_time());

    if (submitted && ngx_strlen(submitted) >= 10) {
        start = gov_day_from_civil(ngx_atoi((u_char *) submitted, 4),
                                   ngx_atoi((u_char *) submitted + 5, 2),
                                   ngx_atoi((u_char *) submitted + 8, 2));
    }

    today = ngx_gov_day(ngx_time());

    arr = json_array();
    percent = 0;
    attention = 0;
    done = 1;
    all_finished = 1;
    bundle_pauses = 0;

    for (k = 0; b && k < b->items.nelts; k++) {
        it = &items[b->item_idx[k]];

        step = NULL;

        for (i = 0; i + 1 < steps->elements; i += 2) {
            if (steps->element[i]->len == it->id.len
                && ngx_strncmp(steps->element[i]->str, it->id.data,
                               it->id.len) == 0)
            {
                step = json_loadb(steps->element[i + 1]->str,
                                  steps->element[i + 1]->len, 0, NULL);
                break;
            }
        }

        v = json_object_get(step, "state");
        state = json_is_string(v)
                ? gov_state_from_str(json_string_value(v),
                                     json_string_length(v))
                : GOV_STEP_QUEUED;

        if (state < 0) {
            state = GOV_STEP_QUEUED;
        }

        percent += gov_state_percent(state);

        if (gov_state_attention(state)) {
            attention = 1;
        }

        if (!gov_state_done(state) && state != GOV_STEP_WITHDRAWN) {
            done = 0;
        }

        if (!gov_state_terminal(state) && state != GOV_STEP_APPROVED) {
            all_finished = 0;
        }

        pauses = ngx_gov_pause_days(&bc->calendar, step, today);
        bundle_pauses = ngx_max(bundle_pauses, (ngx_uint_t) pauses);

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
            p = ngx_gov_iso_time(buf, (time_t) json_integer_value(v));
            json_object_set_new(o, "updated_at",
                                json_stringn((char *) buf, p - buf));

        } else {
            json_object_set_new(o, "updated_at", json_null());
        }

        /* a step's clock starts when it is accepted */

        v = json_object_get(step, "accepted_day");
        over = 0;

        if (json_is_integer(v)) {
            accepted = (int) json_integer_value(v);
            deadline = gov_calendar_add(&bc->calendar, accepted,
                                        (int) it->time_limit + pauses);
            p = ngx_gov_iso_date(buf, deadline);
            json_object_set_new(o, "deadline",
                                json_stringn((char *) buf, p - buf));

            over = !gov_state_terminal(state) && !gov_state_done(state)
                   && !gov_state_paused(state) && today > deadline;

        } else {
            json_object_set_new(o, "deadline", json_null());
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

        json_array_append_new(arr, o);
        json_decref(step);
    }

    *finished = done || (attention && all_finished);

    doc = json_object();
    json_object_set_new(doc, "id", json_stringn((char *) id->data, id->len));
    json_object_set_new(doc, "bundle", bid ? json_string(bid) : json_null());
    json_object_set_new(doc, "name", b ? json_stringn((char *) b->name.data,
                                                      b->name.len)
                                       : json_null());
    json_object_set_new(doc, "status",
                        json_string(attention ? "attention"
                                    : done ? "done" : "processing"));
    json_object_set_new(doc, "percent",
                        json_integer(b && b->items.nelts
                                     ? (json_int_t) (percent
                                                     / b->items.nelts)
                                     : 0));
    json_object_set(doc, "submitted_at",
                    json_object_get(app, "submitted_at"));

    bdeadline = gov_calendar_add(&bc->calendar, start,
                                 (b ? (int) b->time_limit : 0)
                                 + (int) bundle_pauses);
    p = ngx_gov_iso_date(buf, bdeadline);
    json_object_set_new(doc, "deadline", json_stringn((char *) buf, p - buf));

    over = !done && today > bdeadline;

    json_object_set_new(doc, "overdue", json_boolean(over));
    json_object_set_new(doc, "warning",
                        json_boolean(!done && !over
                                     && gov_calendar_between(&bc->calendar,
                                                             today, bdeadline)
                                        <= 1));
    json_object_set_new(doc, "steps", arr);

    json_object_set_new(doc, "applicant",
                        masked ? ngx_gov_mask(json_string_value(
                                     json_object_get(app, "subject")))
                               : json_incref(json_object_get(app, "subject")));

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
                        json_boolean(*finished && rt == NULL && !masked));

    return doc;
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
ngx_gov_progress_answer(ngx_http_request_t *r, ngx_str_t *body,
    ngx_str_t *etag)
{
    u_char           *p, when[64];
    json_t           *doc;
    ngx_int_t         rc;
    ngx_str_t         empty;
    const char       *s;
    ngx_table_elt_t  *inm;

    static ngx_str_t  cc = ngx_string("private, no-cache");

    if (ngx_http_gov_wants_html(r)) {
        /* a browser gets the page, from the same document */

        doc = json_loadb((char *) body->data, body->len, 0, NULL);
        json_object_set(doc, "title", json_object_get(doc, "name"));
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


        rc = ngx_http_gov_page(r, NGX_HTTP_OK, "progress", doc);
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

    return ngx_http_gov_send_json(r, NGX_HTTP_OK, body);
}


/* score=N&comment=TEXT as the JSON a rating takes; NULL when malformed */

static json_t *
ngx_gov_rating_form(u_char *text, size_t len)
{
    long     n;
    u_char   score[8], *comment;
    json_t  *o;

    o = json_object();
    if (o == NULL) {
        return NULL;
    }

    n = gov_form_get((char *) text, len, "score", (char *) score,
                     sizeof(score) - 1);

    if (n == 1 && score[0] >= '1' && score[0] <= '5') {
        json_object_set_new(o, "score", json_integer(score[0] - '0'));

    } else if (n >= 0) {
        /* not chosen, or not a score: 422 */
        json_object_set_new(o, "score", json_null());

    } else if (n == -2) {
        json_decref(o);
        return NULL;
    }

    comment = malloc(len + 1);
    if (comment == NULL) {
        json_decref(o);
        return NULL;
    }

    n = gov_form_get((char *) text, len, "comment", (char *) comment, len);

    if (n > 0) {
        json_object_set_new(o, "comment",
                            json_stringn((char *) comment, (size_t) n));

        if (json_object_get(o, "comment") == NULL) {
            /* not UTF-8 */
            free(comment);
            json_decref(o);
            return NULL;
        }

    } else if (n == -2) {
        free(comment);
        json_decref(o);
        return NULL;
    }

    free(comment);

    return o;
}
