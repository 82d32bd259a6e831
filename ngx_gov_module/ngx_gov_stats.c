
/*
 * Copyright (C) ngx_gov_module authors
 */


/*
 * 阳光公开 · 好差评: the published figures and the follow-up of bad
 * ratings.
 *
 *   GET  /stats/[?month=YYYY-MM | ?year=YYYY]    figures, JSON or page
 *   GET  /stats/ratings/                         open bad ratings (operator)
 *   POST /stats/ratings/ID/rectification         {"note"} (operator)
 *
 * The figures are read from the counters the changing scripts keep
 * (ngx_gov_tally.c) with one HGETALL, and kept by each worker until this
 * node counts a change or NGX_GOV_STATS_TTL passes; browsers and proxies
 * may keep them a minute.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_gov_tally.h"
#include "ngx_gov_pcache.h"
#include "ngx_gov_answer.h"
#include "ngx_gov_page.h"
#include "ngx_gov_events.h"
#include "ngx_gov_access.h"
#include "ngx_gov_bundle_conf.h"
#include "ngx_gov_stats.h"
#include "gov_date.h"
#include "gov_http.h"
#include "gov_jwt.h"
#include "gov_stats.h"


#define NGX_GOV_STATS_MEMOS       4
#define NGX_GOV_STATS_LIST_STR    "199"      /* the 200 oldest */
#define NGX_GOV_STATS_NOTE_MAX    1000      /* characters */

#define NGX_GOV_STATS_FIGURES     0
#define NGX_GOV_STATS_RATINGS     1
#define NGX_GOV_STATS_RECTIFY     2


typedef struct {
    u_char                    period[8];
    size_t                    period_len;
    u_char                   *body;         /* ngx_alloc()ed */
    size_t                    body_len;
    u_char                    etag[16];
    size_t                    etag_len;
    ngx_atomic_uint_t         generation;
    ngx_msec_t                at;
} ngx_gov_stats_memo_t;


typedef struct {
    ngx_http_request_t       *request;
    ngx_uint_t                kind;
    u_char                    period[8];
    size_t                    period_len;
    ngx_atomic_uint_t         generation;
    ngx_str_t                 id;           /* the rated application */
    ngx_str_t                 note;
    ngx_uint_t                form;
} ngx_gov_stats_ctx_t;


static ngx_int_t ngx_gov_stats_figures(ngx_http_request_t *r,
    ngx_gov_stats_ctx_t *ctx);
static ngx_int_t ngx_gov_stats_shard(ngx_http_request_t *r,
    ngx_uint_t shard, void *data, ngx_gov_redis_args_t *cmd);
static ngx_int_t ngx_gov_stats_list_shard(ngx_http_request_t *r,
    ngx_uint_t shard, void *data, ngx_gov_redis_args_t *cmd);
static json_t *ngx_gov_stats_oldest(json_t *list, size_t max);
static ngx_uint_t ngx_gov_stats_period_arg(ngx_http_request_t *r,
    ngx_gov_stats_ctx_t *ctx, ngx_int_t *rc);
static void ngx_gov_stats_loaded(redisReply *reply, void *data);
static json_t *ngx_gov_stats_build(ngx_gov_bundles_conf_t *bc,
    ngx_gov_stats_ctx_t *ctx, redisReply *reply);
static void ngx_gov_stats_count(ngx_gov_bundles_conf_t *bc,
    gov_stats_counts_t *bundles, gov_stats_counts_t *items, redisReply *f,
    redisReply *v);
static json_t *ngx_gov_stats_scope(ngx_str_t *id, ngx_str_t *name,
    ngx_str_t *department, gov_stats_counts_t *c);
static json_t *ngx_gov_stats_rate(double rate);
static ngx_int_t ngx_gov_stats_answer(ngx_http_request_t *r, u_char *body,
    size_t len, u_char *etag, size_t etag_len);
static void ngx_gov_stats_view(json_t *doc);
static void ngx_gov_stats_view_rows(json_t *rows);
static json_t *ngx_gov_stats_bars(json_t *ranking, const char *field);
static json_t *ngx_gov_stats_pct(json_t *rate);
static ngx_gov_stats_memo_t *ngx_gov_stats_memo_find(u_char *period,
    size_t len, ngx_msec_t ttl);
static void ngx_gov_stats_memo_put(ngx_gov_stats_ctx_t *ctx, ngx_str_t *body,
    u_char *etag, size_t etag_len);
static void ngx_gov_stats_ratings_body(ngx_http_request_t *r);
static void ngx_gov_stats_operator_identity(ngx_http_request_t *r);
static ngx_uint_t ngx_gov_stats_operator(ngx_http_request_t *r,
    ngx_int_t *rc);
static ngx_int_t ngx_gov_stats_list(ngx_http_request_t *r,
    ngx_gov_stats_ctx_t *ctx);
static void ngx_gov_stats_listed(redisReply *reply, void *data);
static ngx_uint_t ngx_gov_stats_note(ngx_http_request_t *r,
    ngx_gov_stats_ctx_t *ctx, ngx_int_t *rc);
static ngx_int_t ngx_gov_stats_rectify(ngx_http_request_t *r,
    ngx_gov_stats_ctx_t *ctx);
static void ngx_gov_stats_rectified(redisReply *reply, void *data);
static ngx_int_t ngx_gov_stats_back(ngx_http_request_t *r);


/*
 * A bad rating's rectification: the note goes into the rating the
 * citizen's progress shows, the rating leaves the open list, and the
 * rectification counts for the month the rating was counted in.
 */

static const char  ngx_gov_rectify_lua[] =
    "local id = string.match(KEYS[1], 'app:([^:]*)$')\n"
    "if redis.call('EXISTS', KEYS[1]) == 0 then return {'unknown'} end\n"
    "gov_now(ARGV[4])\n"
    "local raw = redis.call('HGET', KEYS[1], 'rating')\n"
    "if not raw then return {'not_bad'} end\n"
    "local rt = cjson.decode(raw)\n"
    "if tonumber(rt.score) > 2 then return {'not_bad'} end\n"
    "if rt.rectification then return {'rectified'} end\n"
    "rt.rectification = {note = ARGV[1], at = ARGV[2]}\n"
    "redis.call('HSET', KEYS[1], 'rating', cjson.encode(rt),\n"
    "           'rectified_by', ARGV[3])\n"
    "redis.call('HINCRBY', KEYS[1], 'ver', 1)\n"
    "redis.call('DEL', KEYS[3])\n"
    "redis.call('LREM', KEYS[2], 1, raw)\n"
    "local m = redis.call('HGET', KEYS[1], 'rated')\n"
    "local scopes = m and gov_rating_scopes(id)\n"
    "if scopes then\n"
    "  local c = {m = m, y = string.sub(m, 1, 4)}\n"
    "  for _, s in ipairs(scopes) do gov_tally(c, s .. 'rectified', 1) end\n"
    "end\n"
    "gov_event(KEYS[1], id, 'rectified')\n"
    "return {'ok'}\n";


static ngx_gov_stats_memo_t  ngx_gov_stats_memos[NGX_GOV_STATS_MEMOS];

static ngx_str_t  ngx_gov_stats_board_names[] = {
    ngx_null_string, ngx_string("red"), ngx_string("black")
};


void
ngx_gov_stats_init_main_conf(ngx_http_gov_main_conf_t *gmcf)
{
    if (gmcf->operator_claim.data == NULL) {
        ngx_str_set(&gmcf->operator_claim, "role");
        ngx_str_set(&gmcf->operator_value, "operator");
    }
}


/* the worker's figures, freed when it exits (the module is unloaded) */

void
ngx_gov_stats_exit_process(ngx_cycle_t *cycle)
{
    ngx_uint_t  i;

    for (i = 0; i < NGX_GOV_STATS_MEMOS; i++) {
        if (ngx_gov_stats_memos[i].body) {
            ngx_free(ngx_gov_stats_memos[i].body);
            ngx_gov_stats_memos[i].body = NULL;
        }
    }
}


/* gov_operator_claim CLAIM VALUE */

char *
ngx_gov_operator_claim_directive(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf)
{
    ngx_http_gov_main_conf_t  *gmcf = conf;

    ngx_str_t  *value;

    if (gmcf->operator_claim.data) {
        return "is duplicate";
    }

    value = cf->args->elts;

    if (value[1].len == 0 || value[2].len == 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"gov_operator_claim\" needs a claim name and "
                           "a value, neither empty");
        return NGX_CONF_ERROR;
    }

    gmcf->operator_claim = value[1];
    gmcf->operator_value = value[2];

    return NGX_CONF_OK;
}


/* gov_stats [ttl=TIME] */

char *
ngx_gov_stats_args(ngx_conf_t *cf, ngx_http_gov_loc_conf_t *glcf)
{
    ngx_str_t   *value, s;
    ngx_msec_t   ttl;

    glcf->stats_ttl = NGX_GOV_STATS_TTL;

    if (cf->args->nelts == 1) {
        return NGX_CONF_OK;
    }

    value = cf->args->elts;

    if (ngx_strncmp(value[1].data, "ttl=", 4) != 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid parameter \"%V\" in gov_stats, "
                           "only \"ttl=TIME\"", &value[1]);
        return NGX_CONF_ERROR;
    }

    s.data = value[1].data + 4;
    s.len = value[1].len - 4;

    ttl = ngx_parse_time(&s, 0);

    if (ttl == (ngx_msec_t) NGX_ERROR) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid time \"%V\" in gov_stats ttl=", &s);
        return NGX_CONF_ERROR;
    }

    glcf->stats_ttl = ttl;

    return NGX_CONF_OK;
}


ngx_int_t
ngx_gov_stats_handler(ngx_http_request_t *r)
{
    void                **slot;
    u_char               *p, *end;
    ngx_int_t             rc;
    ngx_str_t             rest;
    ngx_gov_stats_ctx_t  *ctx;

    static ngx_str_t  ratings = ngx_string("ratings");
    static ngx_str_t  rectification = ngx_string("/rectification");

    ctx = ngx_pcalloc(r->pool, sizeof(ngx_gov_stats_ctx_t));
    if (ctx == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ctx->request = r;

    ngx_http_gov_uri_rest(r, &rest);

    if (rest.len == 0) {
        rc = ngx_http_gov_get_only(r);
        if (rc != NGX_OK) {
            return rc;
        }

        return ngx_gov_stats_figures(r, ctx);
    }

    if (rest.len < ratings.len
        || ngx_strncmp(rest.data, ratings.data, ratings.len) != 0
        || (rest.len > ratings.len && rest.data[ratings.len] != '/'))
    {
        rc = ngx_http_discard_request_body(r);
        if (rc != NGX_OK) {
            return rc;
        }

        return ngx_http_gov_error(r, NGX_HTTP_NOT_FOUND, "not_found");
    }

    if (rest.len <= ratings.len + 1) {
        /* the operators' list */

        rc = ngx_http_gov_get_only(r);
        if (rc != NGX_OK) {
            return rc;
        }

        ctx->kind = NGX_GOV_STATS_RATINGS;

        slot = ngx_http_gov_flow_slot(r);
        if (slot == NULL) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        *slot = ctx;
        r->main->count++;

        ngx_http_gov_identity_then(r, ngx_gov_stats_operator_identity);

        return NGX_DONE;
    }

    /* ratings/ID/rectification */

    p = rest.data + ratings.len + 1;
    end = rest.data + rest.len;

    if ((size_t) (end - p) <= rectification.len
        || ngx_strncmp(end - rectification.len, rectification.data,
                       rectification.len) != 0)
    {
        rc = ngx_http_discard_request_body(r);
        if (rc != NGX_OK) {
            return rc;
        }

        return ngx_http_gov_error(r, NGX_HTTP_NOT_FOUND, "not_found");
    }

    ctx->id.data = p;
    ctx->id.len = end - rectification.len - p;
    ctx->kind = NGX_GOV_STATS_RECTIFY;

    if (ctx->id.len > 64
        || ngx_strlchr(ctx->id.data, ctx->id.data + ctx->id.len, '/'))
    {
        rc = ngx_http_discard_request_body(r);
        if (rc != NGX_OK) {
            return rc;
        }

        return ngx_http_gov_error(r, NGX_HTTP_NOT_FOUND, "not_found");
    }

    slot = ngx_http_gov_flow_slot(r);
    if (slot == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    *slot = ctx;

    return ngx_http_gov_read_post(r, ngx_gov_stats_ratings_body);
}


/* --- the figures ---------------------------------------------------- */


static ngx_int_t
ngx_gov_stats_figures(ngx_http_request_t *r, ngx_gov_stats_ctx_t *ctx)
{
    ngx_int_t                  rc;
    ngx_gov_stats_memo_t      *memo;
    ngx_http_gov_loc_conf_t   *glcf;

    glcf = ngx_http_get_module_loc_conf(r, ngx_http_gov_module);

    if (!ngx_gov_stats_period_arg(r, ctx, &rc)) {
        return rc;
    }

    /* read before the figures, so a change while they come is not lost */
    ctx->generation = ngx_gov_tally_generation();

    memo = ngx_gov_stats_memo_find(ctx->period, ctx->period_len,
                                   glcf->stats_ttl);
    if (memo) {
        return ngx_gov_stats_answer(r, memo->body, memo->body_len,
                                    memo->etag, memo->etag_len);
    }

    rc = ngx_http_gov_redis_gather(r, ngx_gov_stats_shard, ngx_gov_stats_loaded,
                                   ctx);

    if (rc != NGX_OK) {
        return ngx_http_gov_queued(r, rc);
    }

    r->main->count++;

    return NGX_DONE;
}


/* HGETALL of a shard's counters of the period */

static ngx_int_t
ngx_gov_stats_shard(ngx_http_request_t *r, ngx_uint_t shard, void *data,
    ngx_gov_redis_args_t *cmd)
{
    ngx_gov_stats_ctx_t *ctx = data;

    u_char     buf[sizeof("stats:") + sizeof(ctx->period)];
    ngx_str_t  suffix;

    suffix.data = buf;
    suffix.len = ngx_sprintf(buf, "stats:%*s", ctx->period_len, ctx->period)
                 - buf;

    return ngx_http_gov_shard_cmd(r, shard, "HGETALL", &suffix, 0, NULL, cmd);
}


/* LRANGE of a shard's open bad ratings */

static ngx_int_t
ngx_gov_stats_list_shard(ngx_http_request_t *r, ngx_uint_t shard,
    void *data, ngx_gov_redis_args_t *cmd)
{
    static ngx_str_t    suffix = ngx_string("ratings:bad");
    static const char  *range[] = { "0", NGX_GOV_STATS_LIST_STR };

    return ngx_http_gov_shard_cmd(r, shard, "LRANGE", &suffix, 2, range, cmd);
}


/*
 * ?month=YYYY-MM or ?year=YYYY, this month by default: 1, or 0 with the
 * answer (400) in *rc.
 */

static ngx_uint_t
ngx_gov_stats_period_arg(ngx_http_request_t *r, ngx_gov_stats_ctx_t *ctx,
    ngx_int_t *rc)
{
    int        y, m, d;
    ngx_str_t  month, year, *v;

    if (ngx_http_gov_query_arg(r, "month", &month, 0) != NGX_OK
        || ngx_http_gov_query_arg(r, "year", &year, 0) != NGX_OK)
    {
        *rc = NGX_HTTP_INTERNAL_SERVER_ERROR;
        return 0;
    }

    if (month.data == NULL && year.data == NULL) {
        gov_civil_from_day(gov_day(ngx_time()), &y, &m, &d);
        ctx->period_len = ngx_sprintf(ctx->period, "%04d-%02d", y, m)
                          - ctx->period;
        return 1;
    }

    v = month.data ? &month : &year;

    if ((month.data && year.data)
        || gov_stats_period((char *) v->data, v->len, &y, &m) != 0
        || (month.data && m == 0) || (year.data && m != 0))
    {
        *rc = ngx_http_gov_error(r, NGX_HTTP_BAD_REQUEST, "invalid_period");
        return 0;
    }

    ctx->period_len = v->len;
    ngx_memcpy(ctx->period, v->data, v->len);

    return 1;
}


static void
ngx_gov_stats_loaded(redisReply *reply, void *data)
{
    ngx_gov_stats_ctx_t *ctx = data;

    u_char               etag[16];
    size_t               etag_len;
    json_t              *doc;
    uint32_t             crc;
    ngx_int_t            rc;
    ngx_str_t            body;
    ngx_connection_t    *c;
    ngx_http_request_t  *r;

    r = ctx->request;
    c = r->connection;

    if (reply == NULL || reply->type != REDIS_REPLY_ARRAY) {
        rc = ngx_http_gov_unavailable(r);
        goto done;
    }

    doc = ngx_gov_stats_build(ngx_gov_bc(r), ctx, reply);

    if (ngx_gov_json_text(r->pool, doc, 1, &body) != NGX_OK) {
        rc = NGX_HTTP_INTERNAL_SERVER_ERROR;
        goto done;
    }

    crc = ngx_crc32_long(body.data, body.len);
    etag_len = ngx_sprintf(etag, "\"s%08xD\"", crc) - etag;

    ngx_gov_stats_memo_put(ctx, &body, etag, etag_len);

    rc = ngx_gov_stats_answer(r, body.data, body.len, etag, etag_len);

done:

    ngx_http_finalize_request(r, rc);
    ngx_http_run_posted_requests(c);
}


/*
 * The published document: per bundle and per item their counts and
 * rates, and the departments ranked (红黑榜).  Every configured bundle and
 * item is listed, with zeros when nothing was counted.
 */

static json_t *
ngx_gov_stats_build(ngx_gov_bundles_conf_t *bc, ngx_gov_stats_ctx_t *ctx,
    redisReply *reply)
{
    size_t               i, j, ndeps;
    json_t              *doc, *arr, *o;
    gov_stats_dept_t    *deps;
    ngx_gov_item_t      *items;
    ngx_gov_bundle_t    *bundles;
    gov_stats_counts_t  *bc_counts, *it_counts;

    items = bc->items.elts;
    bundles = bc->bundles.elts;

    bc_counts = ngx_calloc(bc->bundles.nelts * sizeof(gov_stats_counts_t)
                           + 1, ngx_cycle->log);
    it_counts = ngx_calloc(bc->items.nelts * sizeof(gov_stats_counts_t)
                           + 1, ngx_cycle->log);
    deps = ngx_calloc(bc->items.nelts * sizeof(gov_stats_dept_t) + 1,
                      ngx_cycle->log);

    if (bc_counts == NULL || it_counts == NULL || deps == NULL) {
        ngx_free(bc_counts);
        ngx_free(it_counts);
        ngx_free(deps);
        return NULL;
    }

    for (i = 0; i + 1 < reply->elements; i += 2) {
        ngx_gov_stats_count(bc, bc_counts, it_counts, reply->element[i],
                            reply->element[i + 1]);
    }

    doc = json_object();
    json_object_set_new(doc, "period", json_stringn((char *) ctx->period,
                                                    ctx->period_len));
    json_object_set_new(doc, ctx->period_len == 4 ? "year" : "month",
                        json_stringn((char *) ctx->period, ctx->period_len));

    arr = json_array();

    for (i = 0; i < bc->bundles.nelts; i++) {
        json_array_append_new(arr, ngx_gov_stats_scope(&bundles[i].id,
                                                       &bundles[i].name, NULL,
                                                       &bc_counts[i]));
    }

    json_object_set_new(doc, "bundles", arr);

    /* items, and their departments summed for the ranking */

    arr = json_array();
    ndeps = 0;

    for (i = 0; i < bc->items.nelts; i++) {
        json_array_append_new(arr, ngx_gov_stats_scope(&items[i].id,
                                                       &items[i].name,
                                                       &items[i].department,
                                                       &it_counts[i]));

        for (j = 0; j < ndeps; j++) {
            if (ngx_strcmp(deps[j].name, items[i].department.data) == 0) {
                break;
            }
        }

        if (j == ndeps) {
            deps[ndeps++].name = (char *) items[i].department.data;
        }

        gov_stats_add(&deps[j].counts, &it_counts[i]);
    }

    json_object_set_new(doc, "items", arr);

    gov_stats_rank(deps, ndeps);

    arr = json_array();

    for (j = 0; j < ndeps; j++) {
        o = json_pack("{s:s, s:I, s:I, s:I, s:I, s:I}",
                      "department", deps[j].name,
                      "finished", (json_int_t) deps[j].counts.finished,
                      "on_time", (json_int_t) deps[j].counts.on_time,
                      "ratings", (json_int_t) deps[j].counts.ratings,
                      "satisfied", (json_int_t) deps[j].counts.satisfied,
                      "bad", (json_int_t) deps[j].counts.bad);

        json_object_set_new(o, "rank", deps[j].rank
                                       ? json_integer(deps[j].rank)
                                       : json_null());
        json_object_set_new(o, "on_time_rate",
                            ngx_gov_stats_rate(deps[j].on_time_rate));
        json_object_set_new(o, "satisfaction",
                            ngx_gov_stats_rate(deps[j].satisfaction));
        json_object_set_new(o, "board",
                            deps[j].board
                            ? json_string((char *) ngx_gov_stats_board_names[
                                              deps[j].board].data)
                            : json_null());

        json_array_append_new(arr, o);
    }

    json_object_set_new(doc, "ranking", arr);

    ngx_free(bc_counts);
    ngx_free(it_counts);
    ngx_free(deps);

    return doc;
}


/* one field "b:ID:COUNTER" or "i:ID:COUNTER" of the hash */

static void
ngx_gov_stats_count(ngx_gov_bundles_conf_t *bc, gov_stats_counts_t *bundles,
    gov_stats_counts_t *items, redisReply *f, redisReply *v)
{
    long                *counter;
    char                *colon;
    size_t               i, idlen;
    ngx_int_t            n;
    ngx_gov_item_t      *its;
    ngx_gov_bundle_t    *bs;
    gov_stats_counts_t  *c;

    if (f->type != REDIS_REPLY_STRING || v->type != REDIS_REPLY_STRING
        || f->len < 5 || f->str[1] != ':')
    {
        return;
    }

    colon = (char *) ngx_strlchr((u_char *) f->str + 2, (u_char *) f->str + f->len,
                        ':');
    if (colon == NULL) {
        return;
    }

    idlen = colon - (f->str + 2);
    n = ngx_atoi((u_char *) v->str, v->len);

    if (n == NGX_ERROR) {
        return;
    }

    c = NULL;

    if (f->str[0] == 'b') {
        bs = bc->bundles.elts;

        for (i = 0; i < bc->bundles.nelts; i++) {
            if (bs[i].id.len == idlen
                && ngx_strncmp(bs[i].id.data, f->str + 2, idlen) == 0)
            {
                c = &bundles[i];
                break;
            }
        }

    } else if (f->str[0] == 'i') {
        its = bc->items.elts;

        for (i = 0; i < bc->items.nelts; i++) {
            if (its[i].id.len == idlen
                && ngx_strncmp(its[i].id.data, f->str + 2, idlen) == 0)
            {
                c = &items[i];
                break;
            }
        }
    }

    if (c == NULL) {
        /* a bundle or item no longer configured */
        return;
    }

    counter = gov_stats_counter(c, colon + 1, f->str + f->len - colon - 1);

    if (counter) {
        /* summed over the shards, each counting its own applications */
        *counter += (long) n;
    }
}


static json_t *
ngx_gov_stats_scope(ngx_str_t *id, ngx_str_t *name, ngx_str_t *department,
    gov_stats_counts_t *c)
{
    json_t  *o;

    o = json_object();

    json_object_set_new(o, "id", json_stringn((char *) id->data, id->len));
    json_object_set_new(o, "name", json_stringn((char *) name->data,
                                                name->len));
    if (department) {
        json_object_set_new(o, "department",
                            json_stringn((char *) department->data,
                                         department->len));
    }

    json_object_set_new(o, "applications", json_integer(c->applications));
    json_object_set_new(o, "finished", json_integer(c->finished));
    json_object_set_new(o, "on_time", json_integer(c->on_time));
    json_object_set_new(o, "on_time_rate",
                        ngx_gov_stats_rate(gov_stats_rate(c->on_time,
                                                          c->finished)));
    json_object_set_new(o, "avg_working_days",
                        ngx_gov_stats_rate(gov_stats_rate(c->days,
                                                          c->finished)));
    json_object_set_new(o, "ratings", json_integer(c->ratings));
    json_object_set_new(o, "rating_rate",
                        ngx_gov_stats_rate(gov_stats_rate(c->ratings,
                                                          c->finished)));
    json_object_set_new(o, "satisfaction",
                        ngx_gov_stats_rate(gov_stats_rate(c->satisfied,
                                                          c->ratings)));
    json_object_set_new(o, "satisfied", json_integer(c->satisfied));
    json_object_set_new(o, "bad", json_integer(c->bad));
    json_object_set_new(o, "rectified", json_integer(c->rectified));
    json_object_set_new(o, "rectification_rate",
                        ngx_gov_stats_rate(gov_stats_rate(c->rectified,
                                                          c->bad)));
    json_object_set_new(o, "withdrawn", json_integer(c->withdrawn));

    return o;
}


static json_t *
ngx_gov_stats_rate(double rate)
{
    return rate < 0 ? json_null() : json_real(rate);
}


/*
 * The figures to an API client (JSON, ETag, a minute's public caching),
 * or the page drawn from the same document.
 */

static ngx_int_t
ngx_gov_stats_answer(ngx_http_request_t *r, u_char *body, size_t len,
    u_char *etag, size_t etag_len)
{
    json_t           *doc;
    ngx_int_t         rc;
    ngx_str_t         text, tag, empty;
    ngx_table_elt_t  *inm;

    static ngx_str_t  cc = ngx_string("public, max-age=60");
    static ngx_str_t  vary = ngx_string("Accept");

    tag.data = etag;
    tag.len = etag_len;

    if (ngx_http_gov_add_header(r, &r->headers_out.headers, "Cache-Control",
                                &cc)
        != NGX_OK
        || ngx_http_gov_add_header(r, &r->headers_out.headers, "Vary", &vary)
           != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (ngx_http_gov_wants_html(r)) {
        doc = json_loadb((char *) body, len, 0, NULL);
        if (doc == NULL) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        ngx_gov_stats_view(doc);

        rc = ngx_http_gov_page(r, NGX_HTTP_OK, "stats", doc);
        if (rc != NGX_DECLINED) {
            return rc;
        }
    }

    if (ngx_http_gov_add_header(r, &r->headers_out.headers, "ETag", &tag)
        != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    inm = ngx_http_gov_find_header(r, "if-none-match", 13);

    if (inm && ngx_strlcasestrn(inm->value.data,
                                inm->value.data + inm->value.len,
                                etag, etag_len - 1)
               != NULL)
    {
        ngx_str_null(&empty);

        return ngx_http_gov_send(r, NGX_HTTP_NOT_MODIFIED,
                                 &r->headers_out.content_type, &empty);
    }

    text.data = ngx_pnalloc(r->pool, len);
    if (text.data == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ngx_memcpy(text.data, body, len);
    text.len = len;

    return ngx_http_gov_send_json(r, NGX_HTTP_OK, &text);
}


/*
 * What the page shows beyond the document: the period in words, rates
 * as percentages ("—" when there is nothing to share), board names, and
 * the bars of two charts.
 */

static void
ngx_gov_stats_view(json_t *doc)
{
    int          y, m;
    size_t       i;
    u_char       buf[64], *p;
    json_t      *ranking, *o, *v;
    const char  *period, *board;

    period = json_string_value(json_object_get(doc, "period"));

    if (period == NULL
        || gov_stats_period(period, ngx_strlen(period), &y, &m) != 0)
    {
        return;
    }

    p = m ? ngx_sprintf(buf, "%d年%d月", y, m) : ngx_sprintf(buf, "%d年", y);
    json_object_set_new(doc, "period_name", json_stringn((char *) buf,
                                                         p - buf));
    json_object_set_new(doc, "title", json_string("办件统计与好差评公开"));
    json_object_set_new(doc, "year_of", json_integer(y));

    if (m) {
        json_object_set_new(doc, "month_value", json_string(period));
    }

    ngx_gov_stats_view_rows(json_object_get(doc, "bundles"));
    ngx_gov_stats_view_rows(json_object_get(doc, "items"));

    ranking = json_object_get(doc, "ranking");

    json_array_foreach(ranking, i, o) {
        v = json_object_get(o, "rank");
        json_object_set_new(o, "rank_text",
                            json_is_integer(v)
                            ? json_sprintf("%d", (int) json_integer_value(v))
                            : json_string("未排名"));
        json_object_set_new(o, "on_time_pct",
                            ngx_gov_stats_pct(json_object_get(o,
                                                          "on_time_rate")));
        json_object_set_new(o, "satisfaction_pct",
                            ngx_gov_stats_pct(json_object_get(o,
                                                          "satisfaction")));

        board = json_string_value(json_object_get(o, "board"));
        json_object_set_new(o, "board_name",
                            json_string(board == NULL ? "—"
                                        : board[0] == 'r' ? "红榜" : "黑榜"));
        json_object_set_new(o, "red", json_boolean(board && board[0] == 'r'));
        json_object_set_new(o, "black",
                            json_boolean(board && board[0] == 'b'));
    }

    json_object_set_new(doc, "on_time_chart",
                        ngx_gov_stats_bars(ranking, "on_time_rate"));
    json_object_set_new(doc, "satisfaction_chart",
                        ngx_gov_stats_bars(ranking, "satisfaction"));
}


static void
ngx_gov_stats_view_rows(json_t *rows)
{
    size_t       i, k;
    u_char       buf[32], *p;
    json_t      *o, *v;
    const char  *rates[] = { "on_time_rate", "rating_rate", "satisfaction",
                             "rectification_rate" };
    const char  *pcts[] = { "on_time_pct", "rating_pct", "satisfaction_pct",
                            "rectification_pct" };

    json_array_foreach(rows, i, o) {
        for (k = 0; k < 4; k++) {
            json_object_set_new(o, pcts[k],
                                ngx_gov_stats_pct(json_object_get(o,
                                                                  rates[k])));
        }

        v = json_object_get(o, "avg_working_days");

        if (json_is_number(v)) {
            p = ngx_sprintf(buf, "%.1f", json_number_value(v));
            json_object_set_new(o, "days_text",
                                json_stringn((char *) buf, p - buf));

        } else {
            json_object_set_new(o, "days_text", json_string("—"));
        }
    }
}


/*
 * A bar chart of "field" (a rate) per department, drawn as SVG 400 units
 * wide, so that a phone shows it at nearly its size: rows 64 units apart,
 * the name over a bar of up to 300 units, the figure after the bar.
 */

static json_t *
ngx_gov_stats_bars(json_t *ranking, const char *field)
{
    size_t   i, n;
    json_t  *chart, *bars, *o, *v, *pct;
    double   rate;

    bars = json_array();
    n = 0;

    json_array_foreach(ranking, i, o) {
        v = json_object_get(o, field);
        rate = json_is_number(v) ? json_number_value(v) : 0;
        pct = ngx_gov_stats_pct(v);

        json_array_append_new(bars, json_pack(
            "{s:O, s:i, s:i, s:i, s:i, s:i, s:o}",
            "department", json_object_get(o, "department"),
            "ty", (int) (n * 64 + 24),
            "y", (int) (n * 64 + 32),
            "ly", (int) (n * 64 + 52),
            "w", (int) (rate * 300 + 0.5),
            "tx", (int) (rate * 300 + 0.5) + 8,
            "label", pct));
        n++;
    }

    chart = json_pack("{s:o, s:i}", "bars", bars, "height",
                      (int) (n * 64 + 8));

    return n ? chart : (json_decref(chart), json_null());
}


static json_t *
ngx_gov_stats_pct(json_t *rate)
{
    u_char  buf[32], *p;

    if (!json_is_number(rate)) {
        return json_string("—");
    }

    p = ngx_sprintf(buf, "%.1f%%", json_number_value(rate) * 100);

    return json_stringn((char *) buf, p - buf);
}


/*
 * The worker's memory of the figures: kept while nothing was counted on
 * this node and for at most "ttl" (another node's changes show after it).
 */

static ngx_gov_stats_memo_t *
ngx_gov_stats_memo_find(u_char *period, size_t len, ngx_msec_t ttl)
{
    ngx_uint_t             i;
    ngx_gov_stats_memo_t  *m;

    for (i = 0; i < NGX_GOV_STATS_MEMOS; i++) {
        m = &ngx_gov_stats_memos[i];

        if (m->body && m->period_len == len
            && ngx_memcmp(m->period, period, len) == 0
            && m->generation == ngx_gov_tally_generation()
            && ngx_current_msec - m->at < ttl)
        {
            return m;
        }
    }

    return NULL;
}


static void
ngx_gov_stats_memo_put(ngx_gov_stats_ctx_t *ctx, ngx_str_t *body,
    u_char *etag, size_t etag_len)
{
    u_char                *copy;
    ngx_uint_t             i;
    ngx_gov_stats_memo_t  *m, *oldest;

    oldest = &ngx_gov_stats_memos[0];

    for (i = 0; i < NGX_GOV_STATS_MEMOS; i++) {
        m = &ngx_gov_stats_memos[i];

        if (m->period_len == ctx->period_len
            && ngx_memcmp(m->period, ctx->period, ctx->period_len) == 0)
        {
            oldest = m;
            break;
        }

        if (m->body == NULL || m->at < oldest->at) {
            oldest = m;
        }
    }

    copy = ngx_alloc(body->len, ngx_cycle->log);
    if (copy == NULL) {
        return;
    }

    m = oldest;

    if (m->body) {
        ngx_free(m->body);
    }

    ngx_memcpy(copy, body->data, body->len);
    m->body = copy;
    m->body_len = body->len;
    ngx_memcpy(m->period, ctx->period, ctx->period_len);
    m->period_len = ctx->period_len;
    ngx_memcpy(m->etag, etag, etag_len);
    m->etag_len = etag_len;
    m->generation = ctx->generation;
    m->at = ngx_current_msec;
}


/* --- the operators' side -------------------------------------------- */


static void
ngx_gov_stats_ratings_body(ngx_http_request_t *r)
{
    ngx_http_gov_identity_then(r, ngx_gov_stats_operator_identity);
}


static void
ngx_gov_stats_operator_identity(ngx_http_request_t *r)
{
    ngx_int_t             rc;
    ngx_connection_t     *c;
    ngx_gov_stats_ctx_t  *ctx;

    c = r->connection;
    ctx = ngx_http_gov_flow(r);

    if (ctx == NULL) {
        rc = NGX_HTTP_INTERNAL_SERVER_ERROR;
        goto done;
    }

    if (!ngx_gov_stats_operator(r, &rc)) {
        goto done;
    }

    if (ctx->kind == NGX_GOV_STATS_RATINGS) {
        rc = ngx_http_gov_queued(r, ngx_gov_stats_list(r, ctx));

    } else {
        if (ngx_http_gov_same_site(r) != NGX_OK) {
            rc = ngx_http_gov_cross_site(r);
            goto done;
        }

        if (!ngx_gov_stats_note(r, ctx, &rc)) {
            goto done;
        }

        rc = ngx_http_gov_queued(r, ngx_gov_stats_rectify(r, ctx));
    }

    if (rc == NGX_DONE) {
        return;
    }

done:

    ngx_http_finalize_request(r, rc);
    ngx_http_run_posted_requests(c);
}


/*
 * An identity whose claim names an operator: 1, or 0 with the answer in
 * *rc (401 without identity, 403 for anyone else).
 */

static ngx_uint_t
ngx_gov_stats_operator(ngx_http_request_t *r, ngx_int_t *rc)
{
    char                      *name, *value;
    json_t                    *claims;
    ngx_int_t                  reason;
    ngx_str_t                  subject, actor, shown;
    ngx_http_gov_main_conf_t  *gmcf;

    gmcf = ngx_http_get_module_main_conf(r, ngx_http_gov_module);

    reason = ngx_http_gov_whoami(r, &subject, &actor);

    if (reason == NGX_DECLINED) {
        *rc = ngx_http_gov_unavailable(r);
        return 0;
    }

    if (reason != GOV_AUTH_OK) {
        *rc = ngx_http_gov_unauthenticated(r, reason);
        return 0;
    }

    claims = ngx_http_gov_claims(r);

    /* conf strings end in NUL */
    name = (char *) gmcf->operator_claim.data;
    value = (char *) gmcf->operator_value.data;

    if (claims == NULL || !gov_jwt_claim_holds(claims, name, value)) {
        ngx_http_gov_log_subject(r, &subject, &shown);
        ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                      "gov stats: \"%V\" is not an operator", &shown);

        *rc = ngx_http_gov_error(r, NGX_HTTP_FORBIDDEN, "forbidden");
        return 0;
    }

    return 1;
}


static ngx_int_t
ngx_gov_stats_list(ngx_http_request_t *r, ngx_gov_stats_ctx_t *ctx)
{
    return ngx_http_gov_redis_gather(r, ngx_gov_stats_list_shard,
                                     ngx_gov_stats_listed, ctx);
}


/* "list" sorted by "at" (ISO times sort as text), at most "max" kept */

static json_t *
ngx_gov_stats_oldest(json_t *list, size_t max)
{
    size_t       i, j, n;
    json_t      *out, **v, *t;
    const char  *a, *b;

    n = json_array_size(list);

    v = ngx_alloc((n + 1) * sizeof(json_t *), ngx_cycle->log);
    if (v == NULL) {
        return list;
    }

    for (i = 0; i < n; i++) {
        v[i] = json_array_get(list, i);
    }

    /* insertion sort: lists are short, and it keeps equal times in order */

    for (i = 1; i < n; i++) {
        t = v[i];
        a = json_string_value(json_object_get(t, "at"));

        for (j = i; j > 0; j--) {
            b = json_string_value(json_object_get(v[j - 1], "at"));

            if (a == NULL || b == NULL || ngx_strcmp(b, a) <= 0) {
                break;
            }

            v[j] = v[j - 1];
        }

        v[j] = t;
    }

    out = json_array();

    for (i = 0; i < n && i < max; i++) {
        json_array_append(out, v[i]);
    }

    ngx_free(v);
    json_decref(list);

    return out;
}


/* open bad ratings, oldest first, as kept when given */

static void
ngx_gov_stats_listed(redisReply *reply, void *data)
{
    ngx_gov_stats_ctx_t *ctx = data;

    size_t                   i, k;
    json_t                  *doc, *list, *rt, *page;
    ngx_int_t                rc;
    const char              *bid;
    ngx_connection_t        *c;
    ngx_gov_bundle_t        *bundles;
    ngx_http_request_t      *r;
    ngx_gov_bundles_conf_t  *bc;

    static ngx_str_t  cc = ngx_string("private, no-store");

    r = ctx->request;
    c = r->connection;
    bc = ngx_gov_bc(r);
    bundles = bc->bundles.elts;

    if (reply == NULL || reply->type != REDIS_REPLY_ARRAY) {
        rc = ngx_http_gov_unavailable(r);
        goto done;
    }

    list = json_array();

    for (i = 0; i < reply->elements; i++) {
        if (reply->element[i]->type != REDIS_REPLY_STRING) {
            continue;
        }

        rt = json_loadb(reply->element[i]->str, reply->element[i]->len, 0,
                        NULL);
        if (!json_is_object(rt)) {
            json_decref(rt);
            continue;
        }

        json_array_append_new(list, rt);
    }

    if (ngx_gov_redis_shards() > 1) {
        /* the shards' lists, one list again: oldest first, as many */
        list = ngx_gov_stats_oldest(list, 200);
    }

    doc = json_pack("{s:o}", "ratings", list);

    if (ngx_http_gov_add_header(r, &r->headers_out.headers, "Cache-Control",
                                &cc)
        != NGX_OK)
    {
        json_decref(doc);
        rc = NGX_HTTP_INTERNAL_SERVER_ERROR;
        goto done;
    }

    if (ngx_http_gov_wants_html(r)) {
        page = json_deep_copy(doc);
        json_object_set_new(page, "title", json_string("差评整改"));
        json_object_set_new(page, "count",
                            json_integer((json_int_t) json_array_size(list)));

        /* the forms post below this page's address */
        json_object_set_new(page, "base",
                            json_sprintf("%.*s%s", (int) r->uri.len,
                                         (char *) r->uri.data,
                                         r->uri.len
                                         && r->uri.data[r->uri.len - 1] == '/'
                                         ? "" : "/"));

        json_array_foreach(json_object_get(page, "ratings"), i, rt) {
            bid = json_string_value(json_object_get(rt, "bundle"));

            for (k = 0; bid && k < bc->bundles.nelts; k++) {
                if (ngx_strcmp(bundles[k].id.data, bid) == 0) {
                    json_object_set_new(rt, "bundle_name",
                                        json_stringn((char *)
                                                     bundles[k].name.data,
                                                     bundles[k].name.len));
                }
            }
        }

        rc = ngx_http_gov_page(r, NGX_HTTP_OK, "ratings", page);
        if (rc != NGX_DECLINED) {
            json_decref(doc);
            goto done;
        }
    }

    rc = ngx_http_gov_json_answer(r, NGX_HTTP_OK, doc);

done:

    ngx_http_finalize_request(r, rc);
    ngx_http_run_posted_requests(c);
}


/*
 * {"note":"..."} or note=... from the operators' page, 1-1000 characters:
 * 1, or 0 with the answer (400, 413, 415, 422) in *rc.
 */

static ngx_uint_t
ngx_gov_stats_note(ngx_http_request_t *r, ngx_gov_stats_ctx_t *ctx,
    ngx_int_t *rc)
{
    long         n;
    size_t       i, chars;
    json_t      *body, *v;
    ngx_str_t    text;
    ngx_uint_t   type;

    *rc = ngx_http_gov_read_body(r, &text);

    if (*rc != NGX_OK) {
        *rc = ngx_http_gov_body_refused(r, *rc);
        return 0;
    }

    type = ngx_http_gov_body_type(r);

    if (type == NGX_GOV_BODY_FORM) {
        ctx->form = 1;

        ctx->note.data = ngx_pnalloc(r->pool, text.len + 1);
        if (ctx->note.data == NULL) {
            *rc = NGX_HTTP_INTERNAL_SERVER_ERROR;
            return 0;
        }

        n = gov_form_get((char *) text.data, text.len, "note",
                         (char *) ctx->note.data, text.len);

        if (n == -2) {
            *rc = ngx_http_gov_error(r, NGX_HTTP_BAD_REQUEST,
                                     "malformed_form");
            return 0;
        }

        ctx->note.len = n > 0 ? (size_t) n : 0;

        v = json_stringn((char *) ctx->note.data, ctx->note.len);
        if (v == NULL) {
            *rc = ngx_http_gov_error(r, 422, "invalid_note");
            return 0;
        }

        json_decref(v);

    } else if (type == NGX_GOV_BODY_JSON) {
        body = json_loadb((char *) text.data, text.len,
                          JSON_REJECT_DUPLICATES, NULL);

        if (!json_is_object(body)) {
            json_decref(body);
            *rc = ngx_http_gov_error(r, NGX_HTTP_BAD_REQUEST,
                                     "malformed_json");
            return 0;
        }

        v = json_object_get(body, "note");

        if (!json_is_string(v)) {
            json_decref(body);
            *rc = ngx_http_gov_error(r, 422, "invalid_note");
            return 0;
        }

        ctx->note.len = json_string_length(v);
        ctx->note.data = ngx_pnalloc(r->pool, ctx->note.len + 1);
        if (ctx->note.data == NULL) {
            json_decref(body);
            *rc = NGX_HTTP_INTERNAL_SERVER_ERROR;
            return 0;
        }

        ngx_memcpy(ctx->note.data, json_string_value(v), ctx->note.len);
        json_decref(body);

    } else {
        *rc = ngx_http_gov_error(r, NGX_HTTP_UNSUPPORTED_MEDIA_TYPE,
                                 "unsupported_media_type");
        return 0;
    }

    /* characters of UTF-8, blanks alone are no note */

    chars = 0;
    n = 0;

    for (i = 0; i < ctx->note.len; i++) {
        chars += (ctx->note.data[i] & 0xc0) != 0x80;

        if (ctx->note.data[i] > ' ') {
            n = 1;
        }
    }

    if (!n || chars > NGX_GOV_STATS_NOTE_MAX
        || memchr(ctx->note.data, '\0', ctx->note.len) != NULL)
    {
        *rc = ngx_http_gov_error(r, 422, "invalid_note");
        return 0;
    }

    return 1;
}


static ngx_int_t
ngx_gov_stats_rectify(ngx_http_request_t *r, ngx_gov_stats_ctx_t *ctx)
{
    u_char                     at[GOV_ISO_TIME_LEN];
    u_char                     ms[NGX_TIME_T_LEN + 4];
    ngx_str_t                  subject, actor, tag;
    ngx_time_t                *tp;
    ngx_gov_redis_args_t       cmd;
    ngx_http_gov_main_conf_t  *gmcf;

    const char  *argv[9];
    size_t       argvlen[9];

    gmcf = ngx_http_get_module_main_conf(r, ngx_http_gov_module);

    (void) ngx_http_gov_whoami(r, &subject, &actor);

    (void) gov_iso_time((char *) at, ngx_time());

    argv[0] = "EVAL";
    argvlen[0] = 4;
    argv[1] = ngx_gov_events_script(ngx_gov_rectify_lua,
                                    sizeof(ngx_gov_rectify_lua) - 1,
                                    &argvlen[1]);
    argv[2] = "0";
    argvlen[2] = 1;
    argv[3] = (char *) ctx->note.data;
    argvlen[3] = ctx->note.len;
    argv[4] = (char *) at;
    argvlen[4] = GOV_ISO_TIME_LEN;
    argv[5] = (char *) subject.data;
    argvlen[5] = subject.len;
    tp = ngx_timeofday();
    argv[6] = (char *) ms;
    argvlen[6] = ngx_sprintf(ms, "%T%03M", tp->sec, tp->msec) - ms;

    cmd.argc = 7;
    cmd.argv = argv;
    cmd.argvlen = argvlen;

    /* KEYS[1..3] as the script names them, then what else it touches */

    if (ngx_gov_redis_id_tag(r->pool, &gmcf->redis_prefix, &ctx->id, &tag)
        != NGX_OK
        || ngx_gov_events_eval_keys(r->pool, &tag, &ctx->id,
                                    "app:% ratings:bad doc:% steps:% "
                                    "stats events", NULL, NULL, 0, &cmd)
           != NGX_OK)
    {
        return NGX_ERROR;
    }

    return ngx_http_gov_redis_send_acked(r, ngx_gov_stats_rectified, ctx, 1,
                                         &cmd);
}


static void
ngx_gov_stats_rectified(redisReply *reply, void *data)
{
    ngx_gov_stats_ctx_t *ctx = data;

    ngx_int_t            rc;
    ngx_str_t            empty;
    redisReply          *kind;
    ngx_connection_t    *c;
    ngx_http_request_t  *r;

    r = ctx->request;
    c = r->connection;

    if (reply == NULL || reply->type != REDIS_REPLY_ARRAY
        || reply->elements < 1
        || reply->element[0]->type != REDIS_REPLY_STRING)
    {
        rc = ngx_http_gov_unavailable(r);
        goto done;
    }

    kind = reply->element[0];

    if (kind->len == 7 && ngx_strncmp(kind->str, "unknown", 7) == 0) {
        rc = ngx_http_gov_error(r, NGX_HTTP_NOT_FOUND, "not_found");
        goto done;
    }

    if (kind->len == 7 && ngx_strncmp(kind->str, "not_bad", 7) == 0) {
        rc = ngx_http_gov_error(r, NGX_HTTP_CONFLICT, "not_a_bad_rating");
        goto done;
    }

    if (kind->len == 9 && ngx_strncmp(kind->str, "rectified", 9) == 0) {
        rc = ngx_http_gov_error(r, NGX_HTTP_CONFLICT, "already_rectified");
        goto done;
    }

    ngx_gov_tally_touch();
    ngx_gov_pcache_drop(&ctx->id);

    ngx_log_error(NGX_LOG_INFO, c->log, 0,
                  "gov stats: the bad rating of %V rectified", &ctx->id);

    if (ctx->form && ngx_http_gov_wants_html(r)) {
        rc = ngx_gov_stats_back(r);
        goto done;
    }

    ngx_str_null(&empty);

    rc = ngx_http_gov_send(r, NGX_HTTP_NO_CONTENT,
                           &r->headers_out.content_type, &empty);

done:

    ngx_http_finalize_request(r, rc);
    ngx_http_run_posted_requests(c);
}


/* the page's form: 303 back to the list (the URI without ID/rectification) */

static ngx_int_t
ngx_gov_stats_back(ngx_http_request_t *r)
{
    ngx_str_t             location, empty;
    ngx_gov_stats_ctx_t  *ctx;

    ctx = ngx_http_gov_flow(r);

    location.data = r->uri.data;
    location.len = ctx->id.data - r->uri.data;

    if (ctx->id.data < r->uri.data
        || ctx->id.data > r->uri.data + r->uri.len)
    {
        ngx_str_set(&location, "/");
    }

    if (ngx_http_gov_location(r, &location) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ngx_str_null(&empty);

    return ngx_http_gov_send(r, NGX_HTTP_SEE_OTHER,
                             &r->headers_out.content_type, &empty);
}
