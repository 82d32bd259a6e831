
/*
 * Copyright (C) ngx_gov_module authors
 */


/*
 * Bundles at run time: the list and the guide, submissions (validated,
 * persisted in Redis by one script, then fanned out to the departments'
 * backends as parallel background subrequests), the retry queue that a
 * timer in every worker drains through a fake request, and the signed
 * callbacks by which departments move steps.
 *
 * Redis keys (PREFIX is gov_redis_prefix):
 *   PREFIX app:ID        hash: doc (the application JSON), code (SHA-256 of
 *                        the query code), subject
 *   PREFIX steps:ID      hash: ITEM -> step JSON {state, receipt, reason,
 *                        note, attempts, updated_at, accepted_day,
 *                        paused_since, pauses}
 *   PREFIX retry         sorted set of "ID|ITEM" by the time (ms) a step is
 *                        due; a claimed step is pushed a lease ahead, so a
 *                        worker that dies leaves it to another
 *   PREFIX seq:CODEDATE  the day's application sequence
 *   PREFIX idem:SUBJECT:HASH   Idempotency-Key -> first answer (24h)
 *   PREFIX user:SUBJECT  sorted set of the subject's applications
 *   PREFIX replay:HASH   accepted callback signatures (15 minutes)
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include <openssl/evp.h>
#include <openssl/rand.h>

#include "ngx_http_gov_module.h"
#include "ngx_gov_bundle.h"
#include "ngx_gov_metrics.h"
#include "ngx_gov_pcache.h"
#include "gov_app.h"
#include "gov_http.h"
#include "gov_state.h"
#include "gov_backoff.h"
#include "gov_calendar.h"
#include "gov_sig.h"
#include "gov_state.h"


#define NGX_GOV_BODY_MAX          65536
#define NGX_GOV_LEASE_MS          30000
#define NGX_GOV_RETRY_BASE_MS     1000
#define NGX_GOV_RETRY_MAX_MS      300000
#define NGX_GOV_POLL_MS           1000
#define NGX_GOV_CLAIM_MAX         32
#define NGX_GOV_SIG_WINDOW        300

#define NGX_GOV_OUT_PENDING       0
#define NGX_GOV_OUT_RECEIVED      1
#define NGX_GOV_OUT_REFUSED       2
#define NGX_GOV_OUT_FAILED        3


typedef struct ngx_gov_batch_s  ngx_gov_batch_t;


typedef struct {
    ngx_gov_batch_t          *batch;
    ngx_gov_item_t           *item;
    ngx_str_t                 app_id;
    ngx_uint_t                attempts;
    ngx_uint_t                outcome;
    ngx_str_t                 text;         /* receipt or refusal reason */
} ngx_gov_dispatch_t;


/* a set of steps sent together, from a client request or a fake one */

struct ngx_gov_batch_s {
    ngx_http_request_t       *request;
    ngx_gov_dispatch_t       *steps;
    ngx_uint_t                nsteps;
    ngx_uint_t                pending;
    ngx_uint_t                fake;
    ngx_event_t               free_ev;
    void                    (*done)(ngx_gov_batch_t *batch);
    void                     *data;
};


typedef struct {
    ngx_http_request_t       *request;
    ngx_gov_bundle_t         *bundle;
    json_t                   *doc;
    ngx_str_t                 subject;
    ngx_str_t                 actor;
    ngx_str_t                 idem;
    ngx_str_t                 app_id;
    u_char                    code[8];
    ngx_uint_t                day;          /* of the id's date */
    time_t                    submitted;
    ngx_gov_batch_t          *batch;
    ngx_event_t               timer;
    ngx_event_t               answer_ev;
    ngx_uint_t                answered;
} ngx_gov_submit_t;


typedef struct {
    ngx_http_request_t       *request;
    ngx_gov_item_t           *item;
    ngx_str_t                 app_id;
    ngx_str_t                 state;
} ngx_gov_callback_t;


static ngx_gov_bundles_conf_t *ngx_gov_bc(ngx_http_request_t *r);
static ngx_gov_bundle_t *ngx_gov_find_bundle(ngx_gov_bundles_conf_t *bc,
    u_char *id, size_t len);

static ngx_int_t ngx_gov_read_post(ngx_http_request_t *r,
    ngx_http_client_body_handler_pt handler);
static void ngx_gov_submit_body(ngx_http_request_t *r);
static ngx_gov_bundle_t *ngx_gov_uri_bundle(ngx_http_request_t *r);
static void ngx_gov_apply_identity(ngx_http_request_t *r);
static ngx_int_t ngx_gov_apply_page(ngx_http_request_t *r,
    ngx_gov_bundle_t *b, json_t *doc, json_t *problems, ngx_uint_t status);
static ngx_int_t ngx_gov_created(ngx_http_request_t *r, ngx_gov_bundle_t *b,
    ngx_str_t *body);
static void ngx_gov_submit_identity(ngx_http_request_t *r);
static void ngx_gov_submit_persisted(redisReply *reply, void *data);
static void ngx_gov_submit_dispatched(ngx_gov_batch_t *batch);
static void ngx_gov_submit_timeout(ngx_event_t *ev);
static void ngx_gov_submit_answer(ngx_gov_submit_t *sc);
static void ngx_gov_submit_cleanup(void *data);
static json_t *ngx_gov_payload(json_t *doc, ngx_str_t *id,
    ngx_gov_item_t *item);

static ngx_gov_batch_t *ngx_gov_batch_create(ngx_http_request_t *r,
    ngx_uint_t n);
static ngx_int_t ngx_gov_dispatch(ngx_gov_batch_t *batch,
    ngx_gov_dispatch_t *d, ngx_str_t *payload, ngx_str_t *subject,
    ngx_str_t *actor);
static ngx_int_t ngx_gov_dispatch_done(ngx_http_request_t *sr, void *data,
    ngx_int_t rc);
static void ngx_gov_record(ngx_log_t *log, ngx_gov_bundles_conf_t *bc,
    ngx_gov_dispatch_t *d);

static void ngx_gov_poll(ngx_event_t *ev);
static void ngx_gov_claimed(redisReply *reply, void *data);
static void ngx_gov_fake_free(ngx_event_t *ev);
static void ngx_gov_retry_done(ngx_gov_batch_t *batch);

static void ngx_gov_callback_body(ngx_http_request_t *r);
static void ngx_gov_callback_done(redisReply *reply, void *data);


static ngx_str_t  ngx_gov_post_method = ngx_string("POST ");
static ngx_event_t  ngx_gov_poll_ev;
static ngx_http_conf_ctx_t  *ngx_gov_dispatch_ctx;


/*
 * The scripts keep every change to an application atomic.  Redis runs
 * each as one command; no other client sees a half-written application.
 * Each change also counts the application's "ver" and drops its progress
 * snapshot ("doc:ID", see ngx_gov_progress.c) in the same step.
 */

static const char  ngx_gov_submit_lua[] =
    "local p = ARGV[1]\n"
    "if ARGV[6] ~= '' then\n"
    "  local prev = redis.call('GET', p .. 'idem:' .. ARGV[6])\n"
    "  if prev then\n"
    "    local ans = redis.call('HGET', p .. 'app:' .. prev, 'answer')\n"
    "    return {'dup', prev, ans or ''}\n"
    "  end\n"
    "end\n"
    "local sk = p .. 'seq:' .. ARGV[2] .. ARGV[3]\n"
    "local hw = tonumber(ARGV[12])\n"
    "local id\n"
    "repeat\n"
    "  local seq = redis.call('INCR', sk)\n"
    "  if seq <= hw then\n"
    "    seq = hw + 1\n"
    "    redis.call('SET', sk, seq)\n"
    "  end\n"
    "  if seq > 999999 then return redis.error_reply('sequence exhausted') end\n"
    "  id = ARGV[2] .. ARGV[3] .. string.format('%06d', seq)\n"
    "until redis.call('EXISTS', p .. 'app:' .. id) == 0\n"
    "redis.call('EXPIRE', sk, 172800)\n"
    "redis.call('HSET', p .. 'app:' .. id, 'doc', ARGV[7], 'code', ARGV[8],\n"
    "           'subject', ARGV[9], 'actor', ARGV[11], 'ver', 0)\n"
    "redis.call('DEL', p .. 'doc:' .. id)\n"
    "local i = 13\n"
    "for k = 1, tonumber(ARGV[10]) do\n"
    "  redis.call('HSET', p .. 'steps:' .. id, ARGV[i], ARGV[i + 1])\n"
    "  if ARGV[i + 2] == '1' then\n"
    "    redis.call('ZADD', p .. 'retry', tonumber(ARGV[4]) + tonumber(ARGV[5]),\n"
    "               id .. '|' .. ARGV[i])\n"
    "  end\n"
    "  i = i + 3\n"
    "end\n"
    "redis.call('ZADD', p .. 'user:' .. ARGV[9], tonumber(ARGV[4]), id)\n"
    "if ARGV[6] ~= '' then\n"
    "  redis.call('SET', p .. 'idem:' .. ARGV[6], id, 'EX', 86400)\n"
    "end\n"
    "return {'new', id}\n";


static const char  ngx_gov_result_lua[] =
    "local p, id, item = ARGV[1], ARGV[2], ARGV[3]\n"
    "local key = p .. 'steps:' .. id\n"
    "local member = id .. '|' .. item\n"
    "local raw = redis.call('HGET', key, item)\n"
    "if not raw then redis.call('ZREM', p .. 'retry', member) return 0 end\n"
    "local step = cjson.decode(raw)\n"
    "if step.state ~= 'queued' then\n"
    "  redis.call('ZREM', p .. 'retry', member)\n"
    "  return 0\n"
    "end\n"
    "step.attempts = (step.attempts or 0) + 1\n"
    "redis.call('HINCRBY', p .. 'app:' .. id, 'ver', 1)\n"
    "redis.call('DEL', p .. 'doc:' .. id)\n"
    "if ARGV[4] == 'failed' then\n"
    "  redis.call('HSET', key, item, cjson.encode(step))\n"
    "  redis.call('ZADD', p .. 'retry', tonumber(ARGV[7]), member)\n"
    "  return 1\n"
    "end\n"
    "step.state = ARGV[4]\n"
    "if ARGV[4] == 'received' then step.receipt = ARGV[5]\n"
    "else step.reason = ARGV[5] end\n"
    "step.updated_at = tonumber(ARGV[6])\n"
    "redis.call('HSET', key, item, cjson.encode(step))\n"
    "redis.call('ZREM', p .. 'retry', member)\n"
    "return 1\n";


static const char  ngx_gov_claim_lua[] =
    "local p, now, lease = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3])\n"
    "local due = redis.call('ZRANGEBYSCORE', p .. 'retry', '-inf', now,\n"
    "                       'LIMIT', 0, tonumber(ARGV[4]))\n"
    "local out = {}\n"
    "for _, m in ipairs(due) do\n"
    "  local sep = string.find(m, '|', 1, true)\n"
    "  local id, item = string.sub(m, 1, sep - 1), string.sub(m, sep + 1)\n"
    "  local step = redis.call('HGET', p .. 'steps:' .. id, item)\n"
    "  local app = redis.call('HMGET', p .. 'app:' .. id, 'doc', 'subject')\n"
    "  if (not step) or (not app[1]) or cjson.decode(step).state ~= 'queued' then\n"
    "    redis.call('ZREM', p .. 'retry', m)\n"
    "  else\n"
    "    redis.call('ZADD', p .. 'retry', now + lease, m)\n"
    "    table.insert(out, id)\n"
    "    table.insert(out, item)\n"
    "    table.insert(out, app[1])\n"
    "    table.insert(out, step)\n"
    "  end\n"
    "end\n"
    "return out\n";


static const char  ngx_gov_callback_lua[] =
    "local p, id, item, new = ARGV[1], ARGV[2], ARGV[3], ARGV[4]\n"
    "local key = p .. 'steps:' .. id\n"
    "if redis.call('EXISTS', p .. 'app:' .. id) == 0 then return {'unknown'} end\n"
    "local raw = redis.call('HGET', key, item)\n"
    "if not raw then return {'unknown'} end\n"
    "if redis.call('EXISTS', ARGV[10]) == 1 then return {'replay'} end\n"
    "local step = cjson.decode(raw)\n"
    "if not string.find(' ' .. ARGV[5] .. ' ', ' ' .. step.state .. ' ', 1, true) then\n"
    "  return {'illegal', step.state}\n"
    "end\n"
    "local today = tonumber(ARGV[9])\n"
    "if step.paused_since then\n"
    "  step.pauses = step.pauses or {}\n"
    "  table.insert(step.pauses, {step.paused_since, today})\n"
    "  step.paused_since = nil\n"
    "end\n"
    "if new == 'correction' or new == 'special' then step.paused_since = today end\n"
    "if new == 'accepted' and not step.accepted_day then step.accepted_day = today end\n"
    "local old = step.state\n"
    "step.state = new\n"
    "if ARGV[6] ~= '' then step.receipt = ARGV[6] end\n"
    "if ARGV[7] ~= '' then step.note = ARGV[7] end\n"
    "step.updated_at = tonumber(ARGV[8])\n"
    "redis.call('HSET', key, item, cjson.encode(step))\n"
    "redis.call('HINCRBY', p .. 'app:' .. id, 'ver', 1)\n"
    "redis.call('DEL', p .. 'doc:' .. id)\n"
    "redis.call('SET', ARGV[10], '1', 'EX', 900)\n"
    "redis.call('ZREM', p .. 'retry', id .. '|' .. item)\n"
    "if new == 'approved' then\n"
    "  for i = 11, #ARGV do\n"
    "    local sep = string.find(ARGV[i], ':', 1, true)\n"
    "    local dep = string.sub(ARGV[i], 1, sep - 1)\n"
    "    local ready = true\n"
    "    for need in string.gmatch(string.sub(ARGV[i], sep + 1), '[^,]+') do\n"
    "      local s = redis.call('HGET', key, need)\n"
    "      if not s then ready = false break end\n"
    "      local st = cjson.decode(s).state\n"
    "      if st ~= 'approved' and st ~= 'delivered' then ready = false break end\n"
    "    end\n"
    "    local d = redis.call('HGET', key, dep)\n"
    "    if ready and d and cjson.decode(d).state == 'queued' then\n"
    "      redis.call('ZADD', p .. 'retry', 'NX', 0, id .. '|' .. dep)\n"
    "    end\n"
    "  end\n"
    "end\n"
    "return {'ok', old}\n";


/* time and dates in the server's zone */


int
ngx_gov_day(time_t t)
{
    ngx_tm_t  tm;

    static time_t  last_t = -1;
    static int     last_day;

    /* asked on every lookup: localtime once a second is enough */

    if (t == last_t) {
        return last_day;
    }

    ngx_localtime(t, &tm);

    last_t = t;
    last_day = gov_day_from_civil(tm.ngx_tm_year, tm.ngx_tm_mon,
                                  tm.ngx_tm_mday);

    return last_day;
}


u_char *
ngx_gov_iso_date(u_char *p, int day)
{
    int  y, m, d;

    gov_civil_from_day(day, &y, &m, &d);

    return ngx_sprintf(p, "%04d-%02d-%02d", y, m, d);
}


u_char *
ngx_gov_iso_time(u_char *p, time_t t)
{
    ngx_tm_t    tm;
    ngx_int_t   off;

    ngx_localtime(t, &tm);

#if (NGX_HAVE_GMTOFF)
    off = (ngx_int_t) (tm.ngx_tm_gmtoff / 60);
#else
    off = ngx_cached_time->gmtoff;
#endif

    return ngx_sprintf(p, "%4d-%02d-%02dT%02d:%02d:%02d%c%02i:%02i",
                       tm.ngx_tm_year, tm.ngx_tm_mon, tm.ngx_tm_mday,
                       tm.ngx_tm_hour, tm.ngx_tm_min, tm.ngx_tm_sec,
                       off < 0 ? '-' : '+', ngx_abs(off / 60),
                       ngx_abs(off % 60));
}


static ngx_gov_bundles_conf_t *
ngx_gov_bc(ngx_http_request_t *r)
{
    ngx_http_gov_main_conf_t  *gmcf;

    gmcf = ngx_http_get_module_main_conf(r, ngx_http_gov_module);

    return &gmcf->bundles;
}


static ngx_gov_bundle_t *
ngx_gov_find_bundle(ngx_gov_bundles_conf_t *bc, u_char *id, size_t len)
{
    ngx_uint_t         i;
    ngx_gov_bundle_t  *b;

    b = bc->bundles.elts;

    for (i = 0; i < bc->bundles.nelts; i++) {
        if (b[i].id.len == len && ngx_strncmp(b[i].id.data, id, len) == 0) {
            return &b[i];
        }
    }

    return NULL;
}


/* gov_bundles */


ngx_int_t
ngx_http_gov_bundles_handler(ngx_http_request_t *r)
{
    u_char                    *p, *end, *slash;
    json_t                    *data;
    ngx_int_t                  rc;
    ngx_str_t                  rest;
    ngx_gov_bundle_t          *b;
    ngx_gov_bundles_conf_t    *bc;
    ngx_http_core_loc_conf_t  *clcf;

    bc = ngx_gov_bc(r);
    clcf = ngx_http_get_module_loc_conf(r, ngx_http_core_module);

    rest = r->uri;

    if (rest.len >= clcf->name.len
        && ngx_strncmp(rest.data, clcf->name.data, clcf->name.len) == 0)
    {
        rest.data += clcf->name.len;
        rest.len -= clcf->name.len;
    }

    p = rest.data;
    end = rest.data + rest.len;

    if (rest.len == 0) {
        rc = ngx_http_gov_get_only(r);
        if (rc != NGX_OK) {
            return rc;
        }

        if (ngx_http_gov_wants_html(r)) {
            data = json_loadb((char *) bc->list.data, bc->list.len, 0, NULL);
            json_object_set_new(data, "title", json_string("一件事"));

            rc = ngx_http_gov_page(r, NGX_HTTP_OK, "bundles", data);
            if (rc != NGX_DECLINED) {
                return rc;
            }
        }

        return ngx_http_gov_send_json(r, NGX_HTTP_OK, &bc->list);
    }

    slash = ngx_strlchr(p, end, '/');

    b = ngx_gov_find_bundle(bc, p, (slash ? slash : end) - p);

    if (b == NULL) {
        rc = ngx_http_discard_request_body(r);
        if (rc != NGX_OK) {
            return rc;
        }

        return ngx_http_gov_error(r, NGX_HTTP_NOT_FOUND, "unknown_bundle");
    }

    if (slash == NULL) {
        rc = ngx_http_gov_get_only(r);
        if (rc != NGX_OK) {
            return rc;
        }

        if (ngx_http_gov_wants_html(r)) {
            data = json_loadb((char *) b->guide.data, b->guide.len, 0, NULL);
            json_object_set(data, "title", json_object_get(data, "name"));

            rc = ngx_http_gov_page(r, NGX_HTTP_OK, "guide", data);
            if (rc != NGX_DECLINED) {
                return rc;
            }
        }

        return ngx_http_gov_send_json(r, NGX_HTTP_OK, &b->guide);
    }

    if ((size_t) (end - slash) == sizeof("/apply") - 1
        && ngx_strncmp(slash, "/apply", end - slash) == 0)
    {
        /* the application form: for the applicant, so identity first */

        rc = ngx_http_gov_get_only(r);
        if (rc != NGX_OK) {
            return rc;
        }

        r->main->count++;

        ngx_http_gov_identity_then(r, ngx_gov_apply_identity);

        return NGX_DONE;
    }

    if ((size_t) (end - slash) != sizeof("/applications") - 1
        || ngx_strncmp(slash, "/applications", end - slash) != 0)
    {
        rc = ngx_http_discard_request_body(r);
        if (rc != NGX_OK) {
            return rc;
        }

        return ngx_http_gov_error(r, NGX_HTTP_NOT_FOUND, "not_found");
    }

    return ngx_gov_read_post(r, ngx_gov_submit_body);
}


/* the bundle of /bundles/ID/...: the handler checked that it exists */

static ngx_gov_bundle_t *
ngx_gov_uri_bundle(ngx_http_request_t *r)
{
    u_char                    *p, *end;
    ngx_http_core_loc_conf_t  *clcf;

    clcf = ngx_http_get_module_loc_conf(r, ngx_http_core_module);

    p = r->uri.data + clcf->name.len;
    end = ngx_strlchr(p, r->uri.data + r->uri.len, '/');

    return ngx_gov_find_bundle(ngx_gov_bc(r), p, end - p);
}


static void
ngx_gov_apply_identity(ngx_http_request_t *r)
{
    ngx_int_t          rc, reason;
    ngx_str_t          subject, actor;
    ngx_gov_bundle_t  *b;

    b = ngx_gov_uri_bundle(r);

    reason = ngx_http_gov_whoami(r, &subject, &actor);

    if (reason == NGX_DECLINED) {
        rc = ngx_http_gov_unavailable(r);

    } else if (reason != GOV_AUTH_OK) {
        rc = ngx_http_gov_unauthenticated(r, reason);

    } else {
        rc = ngx_http_gov_wants_html(r)
             ? ngx_gov_apply_page(r, b, NULL, NULL, NGX_HTTP_OK)
             : NGX_DECLINED;

        if (rc == NGX_DECLINED) {
            /* an API client: the form is the guide */
            rc = ngx_http_gov_send_json(r, NGX_HTTP_OK, &b->guide);
        }
    }

    ngx_http_finalize_request(r, rc);
}


/*
 * The application form: blank, or as submitted with every problem shown
 * next to its field and listed on top (一次告知); a fresh idempotency key,
 * so that submitting the same form twice creates one application.
 */

static ngx_int_t
ngx_gov_apply_page(ngx_http_request_t *r, ngx_gov_bundle_t *b, json_t *doc,
    json_t *problems, ngx_uint_t status)
{
    u_char   random[16], key[32];
    json_t  *guide, *view;

    if (RAND_bytes(random, sizeof(random)) != 1) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ngx_hex_dump(key, random, sizeof(random));

    guide = json_loadb((char *) b->guide.data, b->guide.len, 0, NULL);
    view = guide ? gov_app_form_view(guide, doc, problems) : NULL;

    if (view == NULL) {
        json_decref(guide);
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    json_object_set(view, "id", json_object_get(guide, "id"));
    json_object_set(view, "name", json_object_get(guide, "name"));
    json_object_set(view, "time_limit", json_object_get(guide, "time_limit"));
    json_object_set(view, "title", json_object_get(guide, "name"));
    json_object_set_new(view, "idempotency_key",
                        json_stringn((char *) key, sizeof(key)));
    json_decref(guide);

    return ngx_http_gov_page(r, status, "apply", view);
}


/*
 * 201: the JSON answer, or for a browser the receipt built from it, with
 * each step's item and department named from the guide.
 */

static ngx_int_t
ngx_gov_created(ngx_http_request_t *r, ngx_gov_bundle_t *b, ngx_str_t *body)
{
    size_t       i, j;
    json_t      *data, *guide, *step, *item, *v;
    ngx_int_t    rc;
    const char  *s;

    if (!ngx_http_gov_wants_html(r)) {
        return ngx_http_gov_send_json(r, NGX_HTTP_CREATED, body);
    }

    data = json_loadb((char *) body->data, body->len, 0, NULL);
    guide = json_loadb((char *) b->guide.data, b->guide.len, 0, NULL);

    if (!json_is_object(data) || guide == NULL) {
        json_decref(data);
        json_decref(guide);
        return ngx_http_gov_send_json(r, NGX_HTTP_CREATED, body);
    }

    json_array_foreach(json_object_get(data, "steps"), i, step) {
        s = json_string_value(json_object_get(step, "item"));

        json_array_foreach(json_object_get(guide, "items"), j, item) {
            v = json_object_get(item, "id");

            if (s && json_is_string(v) && ngx_strcmp(json_string_value(v), s)
                                          == 0)
            {
                json_object_set(step, "name", json_object_get(item, "name"));
                json_object_set(step, "department",
                                json_object_get(item, "department"));
            }
        }

        s = json_string_value(json_object_get(step, "state"));

        if (s) {
            json_object_set_new(step, "state_name", json_string(
                gov_state_name_zh(gov_state_from_str(s, ngx_strlen(s)))));
        }
    }

    json_object_set_new(data, "title", json_string("申报已提交"));
    json_object_set(data, "name", json_object_get(guide, "name"));
    json_object_set(data, "time_limit", json_object_get(guide, "time_limit"));
    json_decref(guide);

    rc = ngx_http_gov_page(r, NGX_HTTP_CREATED, "receipt", data);

    if (rc == NGX_DECLINED) {
        rc = ngx_http_gov_send_json(r, NGX_HTTP_CREATED, body);
    }

    return rc;
}


/*
 * Both write endpoints take a bounded JSON body by POST: anything else
 * is 405, a declared length over the bound is 413 before a byte is read.
 */

static ngx_int_t
ngx_gov_read_post(ngx_http_request_t *r,
    ngx_http_client_body_handler_pt handler)
{
    ngx_int_t  rc;

    if (r->method != NGX_HTTP_POST) {
        return NGX_HTTP_NOT_ALLOWED;
    }

    if (r->headers_in.content_length_n > NGX_GOV_BODY_MAX) {
        rc = ngx_http_discard_request_body(r);
        if (rc != NGX_OK) {
            return rc;
        }

        return ngx_http_gov_error(r, NGX_HTTP_REQUEST_ENTITY_TOO_LARGE,
                                  "too_large");
    }

    rc = ngx_http_read_client_request_body(r, handler);

    if (rc >= NGX_HTTP_SPECIAL_RESPONSE) {
        return rc;
    }

    return NGX_DONE;
}


/* submissions */


static void
ngx_gov_submit_body(ngx_http_request_t *r)
{
    /* the identity first: a session may need Redis */

    ngx_http_gov_identity_then(r, ngx_gov_submit_identity);
}


static void
ngx_gov_submit_cleanup(void *data)
{
    ngx_gov_submit_t  *sc = data;

    if (sc->timer.timer_set) {
        ngx_del_timer(&sc->timer);
    }

    if (sc->answer_ev.posted) {
        ngx_delete_posted_event(&sc->answer_ev);
    }

    if (sc->doc) {
        json_decref(sc->doc);
        sc->doc = NULL;
    }
}


static void
ngx_gov_submit_identity(ngx_http_request_t *r)
{
    u_char                    *p;
    char                      *dump;
    json_t                    *doc, *problems, *v;
    ngx_int_t                  rc, reason;
    ngx_str_t                  body, subject, actor, *ct, docstr;
    ngx_uint_t                 i, n, ready, today;
    ngx_table_elt_t           *h;
    ngx_gov_item_t            *items, *it;
    ngx_gov_bundle_t          *b;
    ngx_gov_submit_t          *sc;
    ngx_connection_t          *c;
    ngx_pool_cleanup_t        *cln;
    gov_app_spec_t             spec;
    ngx_gov_bundles_conf_t    *bc;
    ngx_http_gov_main_conf_t  *gmcf;
    ngx_gov_redis_args_t       cmd;
    u_char                     random[8], hash[32], hex[64];
    u_char                     now_ms[NGX_INT64_LEN], date[32];
    u_char                     lease[NGX_INT_T_LEN], nitems[NGX_INT_T_LEN];
    u_char                     high[NGX_INT_T_LEN], key[257];
    long                       klen;
    ngx_str_t                  idem;
    ngx_uint_t                 form;
    const char               **argv;
    size_t                    *argvlen;

    static const char  alphabet[] = "23456789ABCDEFGHJKLMNPQRSTUVWXYZ";

    c = r->connection;
    bc = ngx_gov_bc(r);
    gmcf = ngx_http_get_module_main_conf(r, ngx_http_gov_module);

    reason = ngx_http_gov_whoami(r, &subject, &actor);

    if (reason == NGX_DECLINED) {
        rc = ngx_http_gov_unavailable(r);
        goto done;
    }

    if (reason != GOV_AUTH_OK) {
        rc = ngx_http_gov_unauthenticated(r, reason);
        goto done;
    }

    /* which bundle: the URI was checked by the handler */

    b = ngx_gov_uri_bundle(r);

    /* JSON from API clients, an HTML form from browsers */

    ct = r->headers_in.content_type ? &r->headers_in.content_type->value
                                    : NULL;

    if (ct && ct->len >= 16
        && ngx_strncasecmp(ct->data, (u_char *) "application/json", 16) == 0)
    {
        form = 0;

    } else if (ct && ct->len >= 33
               && ngx_strncasecmp(ct->data, (u_char *)
                                  "application/x-www-form-urlencoded", 33)
                  == 0)
    {
        form = 1;

    } else {
        rc = ngx_http_gov_error(r, NGX_HTTP_UNSUPPORTED_MEDIA_TYPE,
                           "unsupported_media_type");
        goto done;
    }

    rc = ngx_http_gov_read_body(r, &body);
    if (rc != NGX_OK) {
        rc = ngx_http_gov_error(r, NGX_HTTP_REQUEST_ENTITY_TOO_LARGE,
                                "too_large");
        goto done;
    }

    if (form) {
        doc = gov_app_from_form((char *) body.data, body.len);

    } else {
        doc = json_loadb((char *) body.data, body.len,
                         JSON_REJECT_DUPLICATES, NULL);
    }

    if (doc == NULL) {
        rc = ngx_http_gov_error(r, NGX_HTTP_BAD_REQUEST,
                                form ? "malformed_form" : "malformed_json");
        goto done;
    }

    spec.fields = b->app_fields;
    spec.nfields = b->napp_fields;
    spec.materials = b->app_materials;
    spec.nmaterials = b->napp_materials;
    spec.match = ngx_gov_bundles_matcher();

    if (gov_app_validate(&spec, doc, &problems) != 0) {
        rc = NGX_DECLINED;

        if (problems && form && ngx_http_gov_wants_html(r)) {
            /* the form again, every problem next to its field */
            rc = ngx_gov_apply_page(r, b, doc, problems, 422);
        }

        json_decref(doc);

        if (rc == NGX_DECLINED) {
            rc = problems ? ngx_http_gov_json_answer(r, 422, problems)
                          : NGX_HTTP_INTERNAL_SERVER_ERROR;

        } else {
            json_decref(problems);
        }

        goto done;
    }

    cln = ngx_pool_cleanup_add(r->pool, sizeof(ngx_gov_submit_t));
    if (cln == NULL) {
        json_decref(doc);
        rc = NGX_HTTP_INTERNAL_SERVER_ERROR;
        goto done;
    }

    sc = cln->data;
    ngx_memzero(sc, sizeof(ngx_gov_submit_t));
    cln->handler = ngx_gov_submit_cleanup;

    sc->request = r;
    sc->bundle = b;
    sc->subject = subject;
    sc->actor = actor;
    sc->submitted = ngx_time();

    /* the query code: 8 characters from a cryptographic source */

    if (RAND_bytes(random, sizeof(random)) != 1) {
        json_decref(doc);
        rc = NGX_HTTP_INTERNAL_SERVER_ERROR;
        goto done;
    }

    for (i = 0; i < 8; i++) {
        sc->code[i] = alphabet[random[i] & 31];
    }

    /* what is stored and sent: only the known fields and materials */

    sc->doc = json_object();
    json_object_set_new(sc->doc, "bundle",
                        json_stringn((char *) b->id.data, b->id.len));
    json_object_set_new(sc->doc, "subject",
                        json_stringn((char *) subject.data, subject.len));
    json_object_set_new(sc->doc, "actor", actor.len
                        ? json_stringn((char *) actor.data, actor.len)
                        : json_null());

    v = json_object_get(doc, "fields");
    json_object_set_new(sc->doc, "fields", v ? json_incref(v) : json_object());
    v = json_object_get(doc, "materials");
    json_object_set_new(sc->doc, "materials",
                        v ? json_incref(v) : json_object());

    json_decref(doc);

    p = date;
    p = ngx_gov_iso_time(p, sc->submitted);
    json_object_set_new(sc->doc, "submitted_at",
                        json_stringn((char *) date, p - date));

    dump = json_dumps(sc->doc, JSON_COMPACT);
    if (dump == NULL) {
        rc = NGX_HTTP_INTERNAL_SERVER_ERROR;
        goto done;
    }

    docstr.len = ngx_strlen(dump);
    docstr.data = ngx_pnalloc(r->pool, docstr.len);
    if (docstr.data == NULL) {
        free(dump);
        rc = NGX_HTTP_INTERNAL_SERVER_ERROR;
        goto done;
    }

    ngx_memcpy(docstr.data, dump, docstr.len);
    free(dump);

    /* Idempotency-Key (a form: its hidden field): per subject, hashed */

    h = ngx_http_gov_find_header(r, "idempotency-key", 15);

    if (h) {
        idem = h->value;

    } else if (form) {
        klen = gov_form_get((char *) body.data, body.len,
                            "idempotency_key", (char *) key, sizeof(key) - 1);
        idem.data = key;
        idem.len = (klen > 0) ? (size_t) klen : 0;

        if (klen == -2) {
            /* too long (or malformed): refused below */
            idem.len = sizeof(key);
        }

    } else {
        ngx_str_null(&idem);
    }

    if (idem.len) {
        if (idem.len > 255) {
            rc = ngx_http_gov_error(r, NGX_HTTP_BAD_REQUEST,
                               "idempotency_key_too_long");
            goto done;
        }

        EVP_Digest(idem.data, idem.len, hash, NULL, EVP_sha256(), NULL);
        ngx_hex_dump(hex, hash, 32);

        sc->idem.len = subject.len + 1 + 64;
        sc->idem.data = ngx_pnalloc(r->pool, sc->idem.len);
        if (sc->idem.data == NULL) {
            rc = NGX_HTTP_INTERNAL_SERVER_ERROR;
            goto done;
        }

        ngx_sprintf(sc->idem.data, "%V:%*s", &subject, (size_t) 64, hex);
    }

    /* the script's arguments */

    items = bc->items.elts;
    n = b->items.nelts;

    argv = ngx_palloc(r->pool, (15 + 3 * n) * sizeof(char *));
    argvlen = ngx_palloc(r->pool, (15 + 3 * n) * sizeof(size_t));
    if (argv == NULL || argvlen == NULL) {
        rc = NGX_HTTP_INTERNAL_SERVER_ERROR;
        goto done;
    }

    EVP_Digest(sc->code, 8, hash, NULL, EVP_sha256(), NULL);
    ngx_hex_dump(hex, hash, 32);

    today = ngx_gov_day(sc->submitted);

#define ARG(i, s, l)  argv[i] = (const char *) (s); argvlen[i] = (l)

    ARG(0, "EVAL", 4);
    ARG(1, ngx_gov_submit_lua, sizeof(ngx_gov_submit_lua) - 1);
    ARG(2, "0", 1);
    ARG(3, gmcf->redis_prefix.data, gmcf->redis_prefix.len);
    ARG(4, b->code.data, b->code.len);
    (void) ngx_gov_iso_date(date, today);

    /* "YYYY-MM-DD" to "YYYYMMDD" */
    date[4] = date[5];
    date[5] = date[6];
    date[6] = date[8];
    date[7] = date[9];
    ARG(5, date, 8);
    ARG(6, now_ms, ngx_sprintf(now_ms, "%T000", sc->submitted) - now_ms);
    ARG(7, lease, ngx_sprintf(lease, "%M",
                              bc->dispatch_timeout + NGX_GOV_LEASE_MS)
                  - lease);
    ARG(8, sc->idem.data ? (char *) sc->idem.data : "", sc->idem.len);
    ARG(9, docstr.data, docstr.len);
    ARG(10, hex, 64);
    ARG(11, subject.data, subject.len);
    ARG(12, nitems, ngx_sprintf(nitems, "%ui", n) - nitems);
    ARG(13, actor.data ? (char *) actor.data : "", actor.len);

    /* above what this node issued today, should Redis have lost it */
    sc->day = today;
    ARG(14, high, ngx_sprintf(high, "%ui",
                              ngx_gov_seq_high(b - (ngx_gov_bundle_t *)
                                                   bc->bundles.elts, today))
                  - high);

    for (i = 0; i < n; i++) {
        it = &items[b->item_idx[i]];
        ready = it->depends.nelts == 0;

        ARG(15 + 3 * i, it->id.data, it->id.len);
        ARG(16 + 3 * i, "{\"state\":\"queued\",\"attempts\":0}",
            sizeof("{\"state\":\"queued\",\"attempts\":0}") - 1);
        ARG(17 + 3 * i, ready ? "1" : "0", 1);
    }

    cmd.argc = (int) (15 + 3 * n);
    cmd.argv = argv;
    cmd.argvlen = argvlen;

    /* persisted first: no department hears of it before Redis has it */

    rc = ngx_http_gov_redis_send_n(r, ngx_gov_submit_persisted, sc, 1, &cmd);

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


static void
ngx_gov_submit_persisted(redisReply *reply, void *data)
{
    ngx_gov_submit_t *sc = data;

    json_t                    *payload;
    char                      *dump;
    ngx_int_t                  rc;
    ngx_str_t                  pl, body;
    ngx_uint_t                 i, k;
    redisReply                *kind, *val;
    ngx_gov_item_t            *items, *it;
    ngx_connection_t          *c;
    ngx_http_request_t        *r;
    ngx_gov_dispatch_t        *d;
    ngx_gov_bundles_conf_t    *bc;

    r = sc->request;
    c = r->connection;
    bc = ngx_gov_bc(r);

    if (reply == NULL || reply->type != REDIS_REPLY_ARRAY
        || reply->elements < 2
        || reply->element[0]->type != REDIS_REPLY_STRING
        || reply->element[1]->type != REDIS_REPLY_STRING)
    {
        if (reply && reply->type == REDIS_REPLY_ERROR) {
            ngx_log_error(NGX_LOG_ERR, c->log, 0,
                          "gov: cannot persist an application: %*s",
                          (size_t) ngx_min(reply->len, 200), reply->str);
        }

        /* nothing was persisted, or we cannot tell: never accept it */
        rc = ngx_http_gov_unavailable(r);
        goto done;
    }

    kind = reply->element[0];
    val = reply->element[1];

    if (kind->len == 3 && ngx_strncmp(kind->str, "dup", 3) == 0
        && reply->elements == 3
        && reply->element[2]->type == REDIS_REPLY_STRING)
    {
        /* the same Idempotency-Key: the first answer, nothing new */

        ngx_gov_metrics_inc(NGX_GOV_M_IDEMPOTENT_REPLAYS);

        body.len = reply->element[2]->len;

        if (body.len == 0) {
            /* the first request is still dispatching */
            body.len = sizeof("{\"id\":\"\",\"status\":\"processing\"}\n") - 1
                       + val->len;
        }

        body.data = ngx_pnalloc(r->pool, body.len);
        pl.data = ngx_pnalloc(r->pool, sizeof("/progress/") - 1 + val->len);

        if (body.data == NULL || pl.data == NULL) {
            rc = NGX_HTTP_INTERNAL_SERVER_ERROR;
            goto done;
        }

        if (reply->element[2]->len) {
            ngx_memcpy(body.data, reply->element[2]->str, body.len);

        } else {
            ngx_sprintf(body.data,
                        "{\"id\":\"%*s\",\"status\":\"processing\"}\n",
                        (size_t) val->len, val->str);
        }

        pl.len = ngx_sprintf(pl.data, "/progress/%*s", (size_t) val->len,
                             val->str)
                 - pl.data;

        if (ngx_http_gov_add_header(r, &r->headers_out.headers, "Location",
                                    &pl)
            != NGX_OK)
        {
            rc = NGX_HTTP_INTERNAL_SERVER_ERROR;
            goto done;
        }

        rc = ngx_gov_created(r, sc->bundle, &body);
        goto done;
    }

    sc->app_id.len = val->len;
    sc->app_id.data = ngx_pnalloc(r->pool, val->len);
    if (sc->app_id.data == NULL) {
        rc = NGX_HTTP_INTERNAL_SERVER_ERROR;
        goto done;
    }

    ngx_memcpy(sc->app_id.data, val->str, val->len);

    if (val->len > 6) {
        ngx_gov_seq_seen(sc->bundle - (ngx_gov_bundle_t *) bc->bundles.elts,
                         sc->day, (ngx_uint_t) ngx_atoi(sc->app_id.data
                                                        + val->len - 6, 6));
    }

    ngx_log_error(NGX_LOG_INFO, c->log, 0, "gov: application %V persisted",
                  &sc->app_id);

    ngx_gov_metrics_inc(NGX_GOV_M_APPLICATIONS);
    ngx_gov_metrics_bundle(sc->bundle - (ngx_gov_bundle_t *)
                                        bc->bundles.elts);

    /* fan out, in parallel, to every item whose depends are met */

    items = bc->items.elts;

    sc->batch = ngx_gov_batch_create(r, sc->bundle->items.nelts);
    if (sc->batch == NULL) {
        rc = NGX_HTTP_INTERNAL_SERVER_ERROR;
        goto done;
    }

    sc->batch->done = ngx_gov_submit_dispatched;
    sc->batch->data = sc;

    for (i = 0, k = 0; i < sc->bundle->items.nelts; i++) {
        it = &items[sc->bundle->item_idx[i]];

        d = &sc->batch->steps[k++];
        d->batch = sc->batch;
        d->item = it;
        d->app_id = sc->app_id;
        d->outcome = NGX_GOV_OUT_PENDING;

        if (it->depends.nelts) {
            /* waits in "queued" until its depends are approved */
            continue;
        }

        payload = ngx_gov_payload(sc->doc, &sc->app_id, it);
        dump = payload ? json_dumps(payload, JSON_COMPACT) : NULL;
        json_decref(payload);

        if (dump == NULL) {
            rc = NGX_HTTP_INTERNAL_SERVER_ERROR;
            goto done;
        }

        pl.len = ngx_strlen(dump);
        pl.data = ngx_pnalloc(r->pool, pl.len);
        if (pl.data == NULL) {
            free(dump);
            rc = NGX_HTTP_INTERNAL_SERVER_ERROR;
            goto done;
        }

        ngx_memcpy(pl.data, dump, pl.len);
        free(dump);

        if (ngx_gov_dispatch(sc->batch, d, &pl, &sc->subject, &sc->actor)
            != NGX_OK)
        {
            /* the retry queue has it: a worker sends it later */
            d->outcome = NGX_GOV_OUT_FAILED;
        }
    }

    sc->batch->nsteps = k;

    if (sc->batch->pending == 0) {
        ngx_gov_submit_answer(sc);
        return;
    }

    sc->timer.handler = ngx_gov_submit_timeout;
    sc->timer.data = sc;
    sc->timer.log = c->log;
    ngx_add_timer(&sc->timer, bc->dispatch_timeout);

    sc->answer_ev.handler = ngx_gov_submit_timeout;
    sc->answer_ev.data = sc;
    sc->answer_ev.log = c->log;

    ngx_http_run_posted_requests(c);

    return;

done:

    ngx_http_finalize_request(r, rc);
    ngx_http_run_posted_requests(c);
}


static json_t *
ngx_gov_payload(json_t *doc, ngx_str_t *id, ngx_gov_item_t *item)
{
    json_t  *payload;

    payload = json_deep_copy(doc);
    if (payload == NULL) {
        return NULL;
    }

    json_object_set_new(payload, "id",
                        json_stringn((char *) id->data, id->len));
    json_object_set_new(payload, "item",
                        json_stringn((char *) item->id.data, item->id.len));

    return payload;
}


static void
ngx_gov_submit_dispatched(ngx_gov_batch_t *batch)
{
    ngx_gov_submit_t  *sc = batch->data;

    /*
     * Called while the last subrequest is being finalized: answer from
     * the event loop, not from inside it.
     */

    if (!sc->answered && !sc->answer_ev.posted) {
        ngx_post_event(&sc->answer_ev, &ngx_posted_events);
    }
}


static void
ngx_gov_submit_timeout(ngx_event_t *ev)
{
    ngx_gov_submit_t  *sc = ev->data;

    /* departments still silent stay "queued": the retry queue has them */

    if (!sc->answered) {
        ngx_gov_submit_answer(sc);
    }
}


static void
ngx_gov_submit_answer(ngx_gov_submit_t *sc)
{
    u_char                    *p, loc[64], day[16];
    json_t                    *doc, *steps, *o;
    ngx_int_t                  rc;
    ngx_str_t                  location, body;
    ngx_uint_t                 i, attention;
    ngx_connection_t          *c;
    ngx_http_request_t        *r;
    ngx_gov_dispatch_t        *d;
    ngx_gov_bundles_conf_t    *bc;
    ngx_http_gov_main_conf_t  *gmcf;

    const char   *argv[6];
    size_t        argvlen[6];

    r = sc->request;
    c = r->connection;
    bc = ngx_gov_bc(r);
    gmcf = ngx_http_get_module_main_conf(r, ngx_http_gov_module);

    sc->answered = 1;

    if (sc->timer.timer_set) {
        ngx_del_timer(&sc->timer);
    }

    steps = json_array();
    attention = 0;

    for (i = 0; i < sc->batch->nsteps; i++) {
        d = &sc->batch->steps[i];

        o = json_object();
        json_object_set_new(o, "item", json_stringn((char *) d->item->id.data,
                                                    d->item->id.len));

        switch (d->outcome) {

        case NGX_GOV_OUT_RECEIVED:
            json_object_set_new(o, "state", json_string("received"));
            json_object_set_new(o, "receipt",
                                json_stringn((char *) d->text.data,
                                             d->text.len));
            break;

        case NGX_GOV_OUT_REFUSED:
            attention = 1;
            json_object_set_new(o, "state", json_string("refused"));
            json_object_set_new(o, "receipt", json_null());
            json_object_set_new(o, "reason",
                                json_stringn((char *) d->text.data,
                                             d->text.len));
            break;

        default:
            json_object_set_new(o, "state", json_string("queued"));
            json_object_set_new(o, "receipt", json_null());
        }

        json_array_append_new(steps, o);
    }

    p = ngx_gov_iso_date(day, gov_calendar_add(&bc->calendar,
                                               ngx_gov_day(sc->submitted),
                                               sc->bundle->time_limit));

    doc = json_object();
    json_object_set_new(doc, "id", json_stringn((char *) sc->app_id.data,
                                                sc->app_id.len));
    json_object_set_new(doc, "query_code", json_stringn((char *) sc->code, 8));
    json_object_set_new(doc, "status", json_string(attention ? "attention"
                                                             : "processing"));
    json_object_set_new(doc, "submitted_at",
                        json_incref(json_object_get(sc->doc, "submitted_at")));
    json_object_set_new(doc, "deadline", json_stringn((char *) day, p - day));
    json_object_set_new(doc, "steps", steps);

    if (ngx_http_gov_json_dump(r, doc, &body) != NGX_OK) {
        rc = NGX_HTTP_INTERNAL_SERVER_ERROR;
        goto done;
    }

    if (sc->idem.len) {
        /* the first answer, for later requests with the same key */

        argv[0] = "HSET";
        argvlen[0] = 4;
        argv[1] = (char *) ngx_pnalloc(r->pool, gmcf->redis_prefix.len + 4
                                                + sc->app_id.len);
        if (argv[1]) {
            argvlen[1] = ngx_sprintf((u_char *) argv[1], "%Vapp:%V",
                                     &gmcf->redis_prefix, &sc->app_id)
                         - (u_char *) argv[1];
            argv[2] = "answer";
            argvlen[2] = 6;
            argv[3] = (char *) body.data;
            argvlen[3] = body.len;

            (void) ngx_gov_redis_send(c->log, NULL, NULL, NULL, 4, argv,
                                      argvlen);
        }
    }

    location.data = loc;
    location.len = ngx_sprintf(loc, "/progress/%V", &sc->app_id) - loc;

    if (ngx_http_gov_add_header(r, &r->headers_out.headers, "Location",
                                &location)
        != NGX_OK)
    {
        rc = NGX_HTTP_INTERNAL_SERVER_ERROR;
        goto done;
    }

    rc = ngx_gov_created(r, sc->bundle, &body);

done:

    ngx_http_finalize_request(r, rc);
    ngx_http_run_posted_requests(c);
}


/* dispatch: one background subrequest per step */


static ngx_gov_batch_t *
ngx_gov_batch_create(ngx_http_request_t *r, ngx_uint_t n)
{
    ngx_gov_batch_t  *batch;

    batch = ngx_pcalloc(r->pool, sizeof(ngx_gov_batch_t));
    if (batch == NULL) {
        return NULL;
    }

    batch->steps = ngx_pcalloc(r->pool, (n + 1) * sizeof(ngx_gov_dispatch_t));
    if (batch->steps == NULL) {
        return NULL;
    }

    batch->request = r;

    return batch;
}


static ngx_int_t
ngx_gov_dispatch(ngx_gov_batch_t *batch, ngx_gov_dispatch_t *d,
    ngx_str_t *payload, ngx_str_t *subject, ngx_str_t *actor)
{
    u_char                      *p;
    ngx_buf_t                   *b;
    ngx_str_t                    value, server;
    ngx_chain_t                 *cl;
    ngx_http_request_t          *r, *sr;
    ngx_http_request_body_t     *rb;
    ngx_http_post_subrequest_t  *ps;

    r = batch->request;

    ps = ngx_palloc(r->pool, sizeof(ngx_http_post_subrequest_t));
    if (ps == NULL) {
        return NGX_ERROR;
    }

    ps->handler = ngx_gov_dispatch_done;
    ps->data = d;

    if (ngx_http_subrequest(r, &d->item->backend, NULL, &sr, ps,
                            NGX_HTTP_SUBREQUEST_IN_MEMORY
                            |NGX_HTTP_SUBREQUEST_BACKGROUND)
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    sr->method = NGX_HTTP_POST;
    sr->method_name = ngx_gov_post_method;
    sr->method_name.len--;

    /* only what the department needs: never the citizen's credentials */

    server = r->headers_in.server;
    ngx_memzero(&sr->headers_in, sizeof(ngx_http_headers_in_t));
    sr->headers_in.server = server;
    sr->headers_in.keep_alive_n = -1;
    sr->headers_in.content_length_n = payload->len;

    if (ngx_list_init(&sr->headers_in.headers, r->pool, 8,
                      sizeof(ngx_table_elt_t))
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    ngx_str_set(&value, "application/json");
    if (ngx_http_gov_add_header(sr, &sr->headers_in.headers, "Content-Type",
                                &value)
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    p = ngx_pnalloc(r->pool, NGX_SIZE_T_LEN);
    if (p == NULL) {
        return NGX_ERROR;
    }

    value.data = p;
    value.len = ngx_sprintf(p, "%uz", payload->len) - p;

    if (ngx_http_gov_add_header(sr, &sr->headers_in.headers, "Content-Length",
                                &value)
        != NGX_OK
        || ngx_http_gov_add_header(sr, &sr->headers_in.headers,
                                   "X-Gov-Application", &d->app_id)
           != NGX_OK
        || ngx_http_gov_add_header(sr, &sr->headers_in.headers, "X-Gov-Item",
                                   &d->item->id)
           != NGX_OK
        || ngx_http_gov_add_header(sr, &sr->headers_in.headers,
                                   "X-Gov-Subject", subject)
           != NGX_OK)
    {
        return NGX_ERROR;
    }

    if (actor->len
        && ngx_http_gov_add_header(sr, &sr->headers_in.headers, "X-Gov-Actor",
                                   actor)
           != NGX_OK)
    {
        return NGX_ERROR;
    }

    /* a fresh list: all in its first part, Content-Type first */
    sr->headers_in.content_type = sr->headers_in.headers.part.elts;
    sr->headers_in.content_length = sr->headers_in.content_type + 1;

    rb = ngx_pcalloc(r->pool, sizeof(ngx_http_request_body_t));
    b = ngx_calloc_buf(r->pool);
    cl = ngx_alloc_chain_link(r->pool);

    if (rb == NULL || b == NULL || cl == NULL) {
        return NGX_ERROR;
    }

    b->pos = payload->data;
    b->last = payload->data + payload->len;
    b->start = b->pos;
    b->end = b->last;
    b->memory = 1;
    b->last_buf = 1;

    cl->buf = b;
    cl->next = NULL;

    rb->bufs = cl;
    rb->buf = b;
    rb->rest = 0;

    sr->request_body = rb;

    batch->pending++;

    ngx_gov_metrics_inc(NGX_GOV_M_DISPATCH_ATTEMPTS);
    ngx_gov_metrics_item(NGX_GOV_MI_ATTEMPTS,
                         d->item - (ngx_gov_item_t *)
                                   ngx_gov_bc(r)->items.elts);

    return NGX_OK;
}


static ngx_int_t
ngx_gov_dispatch_done(ngx_http_request_t *sr, void *data, ngx_int_t rc)
{
    ngx_gov_dispatch_t  *d = data;

    json_t              *json, *v;
    ngx_buf_t           *b;
    ngx_uint_t           status;
    ngx_gov_batch_t     *batch;

    batch = d->batch;

    if (d->outcome != NGX_GOV_OUT_PENDING) {
        return rc;
    }

    status = sr->headers_out.status;

    if (rc == NGX_ERROR || (rc >= NGX_HTTP_SPECIAL_RESPONSE && status < 300))
    {
        status = rc > 0 ? (ngx_uint_t) rc : 0;
    }

    b = (sr->out && sr->out->buf) ? sr->out->buf : NULL;
    json = NULL;

    if (b && b->last > b->pos) {
        json = json_loadb((char *) b->pos, b->last - b->pos, 0, NULL);
    }

    if (status >= 200 && status < 300) {
        v = json_object_get(json, "receipt");

        if (json_is_string(v) && json_string_length(v) > 0
            && json_string_length(v) <= 128)
        {
            d->outcome = NGX_GOV_OUT_RECEIVED;
            d->text.len = json_string_length(v);
            d->text.data = ngx_pnalloc(batch->request->pool, d->text.len);
            if (d->text.data) {
                ngx_memcpy(d->text.data, json_string_value(v), d->text.len);
            }

        } else {
            ngx_log_error(NGX_LOG_ERR, sr->connection->log, 0,
                          "gov: %V answered %ui for %V without a receipt, "
                          "will retry", &d->item->department, status,
                          &d->app_id);
            d->outcome = NGX_GOV_OUT_FAILED;
        }

    } else if (status >= 400 && status < 500) {
        d->outcome = NGX_GOV_OUT_REFUSED;

        v = json_object_get(json, "reason");
        if (!json_is_string(v)) {
            v = json_object_get(json, "error");
        }

        if (json_is_string(v) && json_string_length(v) <= 512) {
            d->text.len = json_string_length(v);
            d->text.data = ngx_pnalloc(batch->request->pool, d->text.len);
            if (d->text.data) {
                ngx_memcpy(d->text.data, json_string_value(v), d->text.len);
            }

        } else {
            d->text.data = ngx_pnalloc(batch->request->pool, 16);
            if (d->text.data) {
                d->text.len = ngx_sprintf(d->text.data, "HTTP %ui", status)
                              - d->text.data;
            }
        }

    } else {
        ngx_log_error(NGX_LOG_WARN, sr->connection->log, 0,
                      "gov: %V did not take %V (status %ui), will retry",
                      &d->item->department, &d->app_id, status);
        d->outcome = NGX_GOV_OUT_FAILED;
    }

    json_decref(json);

    if (d->outcome == NGX_GOV_OUT_FAILED) {
        ngx_gov_metrics_inc(NGX_GOV_M_DISPATCH_FAILURES);
        ngx_gov_metrics_item(NGX_GOV_MI_FAILURES,
                             d->item - (ngx_gov_item_t *)
                                       ngx_gov_bc(sr)->items.elts);
    }

    ngx_gov_record(sr->connection->log, ngx_gov_bc(sr), d);

    if (--batch->pending == 0 && batch->done) {
        batch->done(batch);
    }

    return rc;
}


/* the outcome of one delivery, recorded atomically */

static void
ngx_gov_record(ngx_log_t *log, ngx_gov_bundles_conf_t *bc,
    ngx_gov_dispatch_t *d)
{
    u_char                    now[NGX_TIME_T_LEN], at[NGX_INT64_LEN];
    size_t                    argvlen[10];
    ngx_msec_t                delay;
    const char               *argv[10];
    ngx_http_gov_main_conf_t *gmcf;

    gmcf = ngx_http_cycle_get_module_main_conf(ngx_cycle, ngx_http_gov_module);

    delay = (ngx_msec_t) gov_backoff_delay(d->attempts, NGX_GOV_RETRY_BASE_MS,
                                           NGX_GOV_RETRY_MAX_MS,
                                           (uint32_t) ngx_random());

    argv[0] = "EVAL";
    argvlen[0] = 4;
    argv[1] = ngx_gov_result_lua;
    argvlen[1] = sizeof(ngx_gov_result_lua) - 1;
    argv[2] = "0";
    argvlen[2] = 1;
    argv[3] = (char *) gmcf->redis_prefix.data;
    argvlen[3] = gmcf->redis_prefix.len;
    argv[4] = (char *) d->app_id.data;
    argvlen[4] = d->app_id.len;
    argv[5] = (char *) d->item->id.data;
    argvlen[5] = d->item->id.len;
    argv[6] = d->outcome == NGX_GOV_OUT_RECEIVED ? "received"
              : d->outcome == NGX_GOV_OUT_REFUSED ? "refused" : "failed";
    argvlen[6] = ngx_strlen(argv[6]);
    argv[7] = d->text.data ? (char *) d->text.data : "";
    argvlen[7] = d->text.len;
    argv[8] = (char *) now;
    argvlen[8] = ngx_sprintf(now, "%T", ngx_time()) - now;
    /* the retry queue is in wall-clock milliseconds */
    argv[9] = (char *) at;
    argvlen[9] = ngx_sprintf(at, "%T%03M", ngx_time() + delay / 1000,
                             delay % 1000) - at;

    if (ngx_gov_redis_send(log, NULL, NULL, NULL, 10, argv, argvlen)
        != NGX_OK)
    {
        /* the step's lease expires and a worker sends it again */
        ngx_log_error(NGX_LOG_WARN, log, 0,
                      "gov: outcome of %V/%V not recorded, Redis is down",
                      &d->app_id, &d->item->id);
    }

    (void) bc;
}


/* the retry queue: every worker polls, one claims each due step */


ngx_int_t
ngx_gov_dispatch_init_process(ngx_cycle_t *cycle)
{
    ngx_http_gov_main_conf_t  *gmcf;

    gmcf = ngx_http_cycle_get_module_main_conf(cycle, ngx_http_gov_module);

    if (gmcf == NULL || gmcf->redis == NULL || gmcf->bundles.items.nelts == 0
        || gmcf->dispatch_ctx == NULL)
    {
        return NGX_OK;
    }

    ngx_gov_dispatch_ctx = gmcf->dispatch_ctx;

    ngx_gov_poll_ev.handler = ngx_gov_poll;
    ngx_gov_poll_ev.log = cycle->log;
    ngx_gov_poll_ev.data = cycle;
    ngx_gov_poll_ev.cancelable = 1;

    ngx_add_timer(&ngx_gov_poll_ev, NGX_GOV_POLL_MS + ngx_random() % 500);

    return NGX_OK;
}


void
ngx_gov_dispatch_exit_process(ngx_cycle_t *cycle)
{
    if (ngx_gov_poll_ev.timer_set) {
        ngx_del_timer(&ngx_gov_poll_ev);
    }
}


static void
ngx_gov_poll(ngx_event_t *ev)
{
    u_char                     now[NGX_INT64_LEN], lease[NGX_INT_T_LEN];
    size_t                     argvlen[7];
    const char                *argv[7];
    ngx_http_gov_main_conf_t  *gmcf;

    if (ngx_exiting || ngx_quit || ngx_terminate) {
        return;
    }

    ngx_add_timer(ev, NGX_GOV_POLL_MS + ngx_random() % 250);

    if (!ngx_gov_redis_available()) {
        return;
    }

    gmcf = ngx_http_cycle_get_module_main_conf(ngx_cycle, ngx_http_gov_module);

    argv[0] = "EVAL";
    argvlen[0] = 4;
    argv[1] = ngx_gov_claim_lua;
    argvlen[1] = sizeof(ngx_gov_claim_lua) - 1;
    argv[2] = "0";
    argvlen[2] = 1;
    argv[3] = (char *) gmcf->redis_prefix.data;
    argvlen[3] = gmcf->redis_prefix.len;
    argv[4] = (char *) now;
    argvlen[4] = ngx_sprintf(now, "%T%03M", ngx_time(),
                             (ngx_msec_t) (ngx_timeofday())->msec) - now;
    argv[5] = (char *) lease;
    argvlen[5] = ngx_sprintf(lease, "%M",
                             gmcf->bundles.dispatch_timeout + NGX_GOV_LEASE_MS)
                 - lease;
    argv[6] = "32";
    argvlen[6] = 2;

    (void) ngx_gov_redis_send(ev->log, ngx_gov_claimed, NULL, NULL, 7, argv,
                              argvlen);
}


static void
ngx_gov_claimed(redisReply *reply, void *data)
{
    char                      *dump;
    json_t                    *doc, *step, *payload, *v;
    ngx_str_t                  id, item, pl, subject, actor;
    ngx_uint_t                 i, n, k;
    ngx_int_t                  idx;
    ngx_gov_item_t            *items;
    ngx_gov_batch_t           *batch;
    ngx_http_request_t        *r;
    ngx_gov_dispatch_t        *d;
    ngx_http_gov_main_conf_t  *gmcf;

    if (reply == NULL || reply->type != REDIS_REPLY_ARRAY
        || reply->elements == 0 || reply->elements % 4)
    {
        if (reply && reply->type == REDIS_REPLY_ERROR) {
            ngx_log_error(NGX_LOG_ERR, ngx_cycle->log, 0,
                          "gov: retry queue: %*s",
                          (size_t) ngx_min(reply->len, 200), reply->str);
        }

        return;
    }

    gmcf = ngx_http_cycle_get_module_main_conf(ngx_cycle, ngx_http_gov_module);
    items = gmcf->bundles.items.elts;

    n = reply->elements / 4;

    r = ngx_gov_fake_request((ngx_cycle_t *) ngx_cycle);
    if (r == NULL) {
        return;
    }

    batch = ngx_gov_batch_create(r, n);
    if (batch == NULL) {
        ngx_gov_fake_free(NULL);
        return;
    }

    batch->fake = 1;
    batch->done = ngx_gov_retry_done;
    batch->free_ev.handler = ngx_gov_fake_free;
    batch->free_ev.data = r;
    batch->free_ev.log = ngx_cycle->log;

    for (i = 0, k = 0; i < n; i++) {
        id.data = (u_char *) reply->element[4 * i]->str;
        id.len = reply->element[4 * i]->len;
        item.data = (u_char *) reply->element[4 * i + 1]->str;
        item.len = reply->element[4 * i + 1]->len;

        idx = -1;

        for (k = 0; k < gmcf->bundles.items.nelts; k++) {
            if (items[k].id.len == item.len
                && ngx_strncmp(items[k].id.data, item.data, item.len) == 0)
            {
                idx = k;
                break;
            }
        }

        if (idx < 0) {
            ngx_log_error(NGX_LOG_WARN, ngx_cycle->log, 0,
                          "gov: retry of unknown item \"%V\" skipped", &item);
            continue;
        }

        doc = json_loadb(reply->element[4 * i + 2]->str,
                         reply->element[4 * i + 2]->len, 0, NULL);
        step = json_loadb(reply->element[4 * i + 3]->str,
                          reply->element[4 * i + 3]->len, 0, NULL);

        if (doc == NULL || step == NULL) {
            json_decref(doc);
            json_decref(step);
            continue;
        }

        d = &batch->steps[batch->nsteps++];
        d->batch = batch;
        d->item = &items[idx];
        d->outcome = NGX_GOV_OUT_PENDING;
        d->attempts = json_integer_value(json_object_get(step, "attempts"));

        d->app_id.len = id.len;
        d->app_id.data = ngx_pnalloc(r->pool, id.len);

        v = json_object_get(doc, "subject");
        subject.len = json_string_length(v);
        subject.data = ngx_pnalloc(r->pool, subject.len + 1);
        v = json_object_get(doc, "actor");
        actor.len = json_is_string(v) ? json_string_length(v) : 0;
        actor.data = ngx_pnalloc(r->pool, actor.len + 1);

        payload = ngx_gov_payload(doc, &id, d->item);
        dump = payload ? json_dumps(payload, JSON_COMPACT) : NULL;
        json_decref(payload);

        if (d->app_id.data == NULL || subject.data == NULL
            || actor.data == NULL || dump == NULL)
        {
            free(dump);
            json_decref(doc);
            json_decref(step);
            batch->nsteps--;
            continue;
        }

        ngx_memcpy(d->app_id.data, id.data, id.len);
        ngx_memcpy(subject.data,
                   json_string_value(json_object_get(doc, "subject")),
                   subject.len);

        if (actor.len) {
            ngx_memcpy(actor.data,
                       json_string_value(json_object_get(doc, "actor")),
                       actor.len);
        }

        pl.len = ngx_strlen(dump);
        pl.data = ngx_pnalloc(r->pool, pl.len);

        if (pl.data) {
            ngx_memcpy(pl.data, dump, pl.len);
        }

        free(dump);
        json_decref(doc);
        json_decref(step);

        ngx_log_error(NGX_LOG_INFO, ngx_cycle->log, 0,
                      "gov: retrying %V/%V, attempt %ui", &d->app_id,
                      &d->item->id, d->attempts + 1);

        if (pl.data == NULL
            || ngx_gov_dispatch(batch, d, &pl, &subject, &actor) != NGX_OK)
        {
            d->outcome = NGX_GOV_OUT_FAILED;
        }
    }

    if (batch->pending == 0) {
        ngx_post_event(&batch->free_ev, &ngx_posted_events);
        return;
    }

    ngx_http_run_posted_requests(r->connection);
}


static void
ngx_gov_retry_done(ngx_gov_batch_t *batch)
{
    /* freed later: the last subrequest is still being finalized */
    ngx_post_event(&batch->free_ev, &ngx_posted_events);
}


/*
 * A request without a client, for subrequests started by a timer: a
 * connection that is never in the event loop (fd -1, events marked active
 * so that nothing adds them) and the configuration of the server that
 * holds gov_bundles, whose locations the backends are.
 */

ngx_http_request_t *
ngx_gov_fake_request(ngx_cycle_t *cycle)
{
    ngx_log_t                  *log;
    ngx_pool_t                 *pool;
    ngx_connection_t           *c;
    ngx_http_request_t         *r;
    struct sockaddr_in         *sin;
    ngx_http_log_ctx_t         *lctx;
    ngx_http_connection_t      *hc;
    ngx_http_core_main_conf_t  *cmcf;

    pool = ngx_create_pool(4096, cycle->log);
    if (pool == NULL) {
        return NULL;
    }

    log = ngx_pcalloc(pool, sizeof(ngx_log_t));
    sin = ngx_pcalloc(pool, sizeof(struct sockaddr_in));
    hc = ngx_pcalloc(pool, sizeof(ngx_http_connection_t));
    r = ngx_pcalloc(pool, sizeof(ngx_http_request_t));
    lctx = ngx_pcalloc(pool, sizeof(ngx_http_log_ctx_t));

    if (log == NULL || sin == NULL || hc == NULL || r == NULL
        || lctx == NULL)
    {
        ngx_destroy_pool(pool);
        return NULL;
    }

    /*
     * nginx sets the current request in log->data as it runs posted
     * requests; without a handler the context is not printed
     */

    *log = *cycle->log;
    log->handler = NULL;
    log->data = lctx;
    log->action = "dispatching a queued step";

    c = ngx_get_connection(0, log);
    if (c == NULL) {
        ngx_destroy_pool(pool);
        return NULL;
    }

    c->fd = (ngx_socket_t) -1;
    c->pool = pool;
    c->log = log;
    c->read->log = log;
    c->write->log = log;
    c->read->active = 1;
    c->write->active = 1;
    c->number = ngx_atomic_fetch_add(ngx_connection_counter, 1);

    sin->sin_family = AF_INET;
    c->sockaddr = (struct sockaddr *) sin;
    c->socklen = sizeof(struct sockaddr_in);
    c->local_sockaddr = (struct sockaddr *) sin;
    c->local_socklen = sizeof(struct sockaddr_in);
    ngx_str_set(&c->addr_text, "gov-dispatch");

    hc->conf_ctx = ngx_gov_dispatch_ctx;

    c->data = r;

    lctx->connection = c;
    lctx->request = r;
    lctx->current_request = r;

    r->pool = pool;
    r->connection = c;
    r->http_connection = hc;
    r->signature = NGX_HTTP_MODULE;
    r->main = r;
    r->count = 1;

    r->main_conf = ngx_gov_dispatch_ctx->main_conf;
    r->srv_conf = ngx_gov_dispatch_ctx->srv_conf;
    r->loc_conf = ngx_gov_dispatch_ctx->loc_conf;

    r->ctx = ngx_pcalloc(pool, sizeof(void *) * ngx_http_max_module);
    if (r->ctx == NULL) {
        goto failed;
    }

    cmcf = ngx_http_get_module_main_conf(r, ngx_http_core_module);

    r->variables = ngx_pcalloc(pool, cmcf->variables.nelts
                                     * sizeof(ngx_http_variable_value_t));
    if (r->variables == NULL) {
        goto failed;
    }

    if (ngx_list_init(&r->headers_out.headers, pool, 4,
                      sizeof(ngx_table_elt_t)) != NGX_OK
        || ngx_list_init(&r->headers_in.headers, pool, 4,
                         sizeof(ngx_table_elt_t)) != NGX_OK
        || ngx_list_init(&r->headers_out.trailers, pool, 1,
                         sizeof(ngx_table_elt_t)) != NGX_OK)
    {
        goto failed;
    }

    r->headers_in.content_length_n = 0;
    r->headers_in.keep_alive_n = -1;
    r->headers_out.content_length_n = -1;
    r->headers_out.last_modified_time = -1;

    r->method = NGX_HTTP_POST;
    ngx_str_set(&r->method_name, "POST");
    ngx_str_set(&r->request_line, "POST /gov-dispatch HTTP/1.1");
    ngx_str_set(&r->uri, "/gov-dispatch");
    r->unparsed_uri = r->uri;
    r->http_version = NGX_HTTP_VERSION_11;
    ngx_str_set(&r->http_protocol, "HTTP/1.1");

    r->start_sec = ngx_time();
    r->start_msec = (ngx_timeofday())->msec;

    r->http_state = NGX_HTTP_PROCESS_REQUEST_STATE;
    r->uri_changes = NGX_HTTP_MAX_URI_CHANGES + 1;
    r->subrequests = NGX_HTTP_MAX_SUBREQUESTS + 1;
    r->discard_body = 1;
    r->read_event_handler = ngx_http_block_reading;
    r->write_event_handler = ngx_http_request_empty_handler;

    return r;

failed:

    c->fd = 0;
    ngx_free_connection(c);
    c->fd = (ngx_socket_t) -1;
    ngx_destroy_pool(pool);

    return NULL;
}


void
ngx_gov_fake_request_free(ngx_http_request_t *r)
{
    ngx_event_t  *ev;

    /* when nothing runs in it any more */

    ev = ngx_pcalloc(r->pool, sizeof(ngx_event_t));
    if (ev == NULL) {
        return;
    }

    ev->handler = ngx_gov_fake_free;
    ev->data = r;
    ev->log = r->connection->log;

    ngx_post_event(ev, &ngx_posted_events);
}


static void
ngx_gov_fake_free(ngx_event_t *ev)
{
    ngx_pool_t          *pool;
    ngx_connection_t    *c;
    ngx_http_request_t  *r;

    if (ev == NULL) {
        return;
    }

    r = ev->data;
    c = r->connection;
    pool = r->pool;

    if (r->count > 1) {
        /* a subrequest is still finishing: look again in a moment */
        ngx_add_timer(ev, 100);
        return;
    }

    if (c->read->timer_set) {
        ngx_del_timer(c->read);
    }

    if (c->write->timer_set) {
        ngx_del_timer(c->write);
    }

    if (c->read->posted) {
        ngx_delete_posted_event(c->read);
    }

    if (c->write->posted) {
        ngx_delete_posted_event(c->write);
    }

    c->read->closed = 1;
    c->write->closed = 1;
    c->read->active = 0;
    c->write->active = 0;

    c->fd = 0;
    ngx_free_connection(c);
    c->fd = (ngx_socket_t) -1;

    ngx_destroy_pool(pool);
}


/* gov_callback: departments push state changes */


ngx_int_t
ngx_http_gov_callback_handler(ngx_http_request_t *r)
{
    return ngx_gov_read_post(r, ngx_gov_callback_body);
}


static void
ngx_gov_callback_body(ngx_http_request_t *r)
{
    u_char                    *p, *end, *slash;
    gov_callback_t             parsed;
    ngx_int_t                  rc, state;
    ngx_str_t                  body, id, item, receipt, note, replay;
    ngx_uint_t                 i;
    long long                  ts;
    ngx_str_t                  hts, hsig;
    ngx_connection_t          *c;
    ngx_gov_item_t            *items, *it;
    ngx_gov_callback_t        *cb;
    ngx_gov_redis_args_t       cmd;
    ngx_gov_bundles_conf_t    *bc;
    ngx_http_gov_main_conf_t  *gmcf;
    ngx_http_core_loc_conf_t  *clcf;
    u_char                     hash[32], hex[64];

    c = r->connection;
    bc = ngx_gov_bc(r);
    gmcf = ngx_http_get_module_main_conf(r, ngx_http_gov_module);
    clcf = ngx_http_get_module_loc_conf(r, ngx_http_core_module);

    /* /callback/APP_ID/ITEM */

    p = r->uri.data;
    end = r->uri.data + r->uri.len;

    if (r->uri.len >= clcf->name.len
        && ngx_strncmp(p, clcf->name.data, clcf->name.len) == 0)
    {
        p += clcf->name.len;
    }

    slash = ngx_strlchr(p, end, '/');

    if (slash == NULL || slash == p || slash + 1 >= end
        || ngx_strlchr(slash + 1, end, '/') != NULL)
    {
        rc = ngx_http_gov_error(r, NGX_HTTP_NOT_FOUND, "not_found");
        goto done;
    }

    id.data = p;
    id.len = slash - p;
    item.data = slash + 1;
    item.len = end - slash - 1;

    for (i = 0; i < id.len; i++) {
        if (!((id.data[i] >= 'A' && id.data[i] <= 'Z')
              || (id.data[i] >= '0' && id.data[i] <= '9')))
        {
            rc = ngx_http_gov_error(r, NGX_HTTP_NOT_FOUND, "not_found");
            goto done;
        }
    }

    items = bc->items.elts;
    it = NULL;

    for (i = 0; i < bc->items.nelts; i++) {
        if (items[i].id.len == item.len
            && ngx_strncmp(items[i].id.data, item.data, item.len) == 0)
        {
            it = &items[i];
            break;
        }
    }

    if (it == NULL || id.len < 10 || id.len > 20) {
        rc = ngx_http_gov_error(r, NGX_HTTP_NOT_FOUND, "not_found");
        goto done;
    }

    rc = ngx_http_gov_read_body(r, &body);
    if (rc != NGX_OK) {
        rc = ngx_http_gov_error(r, NGX_HTTP_REQUEST_ENTITY_TOO_LARGE,
                                "too_large");
        goto done;
    }

    /* the signature before anything else is believed */

    /* kept aside when the X-Gov-* headers were stripped */
    ngx_http_gov_callback_headers(r, &hts, &hsig);

    if (hts.len == 0 || hsig.len == 0
        || gov_sig_timestamp((char *) hts.data, hts.len, ngx_time(),
                             NGX_GOV_SIG_WINDOW, &ts)
           != GOV_SIG_OK
        || gov_sig_check(it->secret.data, it->secret.len,
                         (char *) hts.data, hts.len,
                         (char *) body.data, body.len,
                         (char *) hsig.data, hsig.len)
           != GOV_SIG_OK)
    {
        ngx_log_error(NGX_LOG_WARN, c->log, 0,
                      "gov: callback for %V/%V with a bad or stale "
                      "signature", &id, &item);
        rc = ngx_http_gov_error(r, NGX_HTTP_UNAUTHORIZED, "bad_signature");
        goto done;
    }

    state = gov_callback_parse((char *) body.data, body.len, &parsed);

    if (state == GOV_CALLBACK_INVALID) {
        rc = ngx_http_gov_error(r, NGX_HTTP_BAD_REQUEST, "invalid_body");
        goto done;
    }

    if (state < 0) {
        rc = ngx_http_gov_error(r, 422, "unknown_state");
        goto done;
    }

    cb = ngx_pcalloc(r->pool, sizeof(ngx_gov_callback_t));
    if (cb == NULL) {
        json_decref(parsed.doc);
        rc = NGX_HTTP_INTERNAL_SERVER_ERROR;
        goto done;
    }

    cb->request = r;
    cb->item = it;
    cb->app_id = id;

    /* copies: the parsed body goes now */

    receipt.len = parsed.receipt_len;
    receipt.data = parsed.receipt ? ngx_pnalloc(r->pool, receipt.len + 1)
                                  : NULL;
    note.len = parsed.note_len;
    note.data = parsed.note ? ngx_pnalloc(r->pool, note.len + 1) : NULL;

    if ((parsed.receipt && receipt.data == NULL)
        || (parsed.note && note.data == NULL))
    {
        json_decref(parsed.doc);
        rc = NGX_HTTP_INTERNAL_SERVER_ERROR;
        goto done;
    }

    if (receipt.data) {
        ngx_memcpy(receipt.data, parsed.receipt, receipt.len);
    }

    if (note.data) {
        ngx_memcpy(note.data, parsed.note, note.len);
    }

    json_decref(parsed.doc);

    cb->state.data = (u_char *) gov_state_name(state);
    cb->state.len = ngx_strlen(cb->state.data);

    EVP_Digest(hsig.data, hsig.len, hash, NULL, EVP_sha256(), NULL);
    ngx_hex_dump(hex, hash, 32);

    replay.len = gmcf->redis_prefix.len + 7 + 64;
    replay.data = ngx_pnalloc(r->pool, replay.len);
    if (replay.data == NULL) {
        rc = NGX_HTTP_INTERNAL_SERVER_ERROR;
        goto done;
    }

    ngx_sprintf(replay.data, "%Vreplay:%*s", &gmcf->redis_prefix,
                (size_t) 64, hex);

    if (ngx_gov_state_cmd(r->pool, bc, &gmcf->redis_prefix, &id, it, state,
                          &receipt, &note, &replay, &cmd)
        != NGX_OK)
    {
        rc = NGX_HTTP_INTERNAL_SERVER_ERROR;
        goto done;
    }

    rc = ngx_http_gov_redis_send_n(r, ngx_gov_callback_done, cb, 1, &cmd);

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
 * The state-change script's arguments: the states that may move to
 * "state" come from the core's table; "DEP:NEED1,NEED2" for every item
 * that depends on this one, which an approval may release.
 */

ngx_int_t
ngx_gov_state_cmd(ngx_pool_t *pool, ngx_gov_bundles_conf_t *bc,
    ngx_str_t *prefix, ngx_str_t *id, ngx_gov_item_t *it, ngx_int_t state,
    ngx_str_t *receipt, ngx_str_t *note, ngx_str_t *replay,
    ngx_gov_redis_args_t *cmd)
{
    u_char           *p, *allowed, *now, *day;
    size_t           *argvlen;
    ngx_int_t         k;
    ngx_uint_t        i, j, n;
    const char      **argv;
    ngx_gov_item_t   *items, *dep;

    items = bc->items.elts;

    n = 0;
    for (i = 0; i < bc->items.nelts; i++) {
        n += items[i].depends.nelts ? 1 : 0;
    }

    argv = ngx_palloc(pool, (13 + n) * sizeof(char *));
    argvlen = ngx_palloc(pool, (13 + n) * sizeof(size_t));
    allowed = ngx_pnalloc(pool, 256);
    now = ngx_pnalloc(pool, NGX_TIME_T_LEN);
    day = ngx_pnalloc(pool, NGX_INT_T_LEN);

    if (argv == NULL || argvlen == NULL || allowed == NULL || now == NULL
        || day == NULL)
    {
        return NGX_ERROR;
    }

    p = allowed;

    for (k = 0; k < GOV_STEP_STATES; k++) {
        if (gov_state_can(k, state)) {
            p = ngx_sprintf(p, "%s ", gov_state_name(k));
        }
    }

    ARG(0, "EVAL", 4);
    ARG(1, ngx_gov_callback_lua, sizeof(ngx_gov_callback_lua) - 1);
    ARG(2, "0", 1);
    ARG(3, prefix->data, prefix->len);
    ARG(4, id->data, id->len);
    ARG(5, it->id.data, it->id.len);
    ARG(6, gov_state_name(state), ngx_strlen(gov_state_name(state)));
    ARG(7, allowed, p - allowed);
    ARG(8, receipt->data ? (char *) receipt->data : "", receipt->len);
    ARG(9, note->data ? (char *) note->data : "", note->len);
    ARG(10, now, ngx_sprintf(now, "%T", ngx_time()) - now);
    ARG(11, day, ngx_sprintf(day, "%i", (ngx_int_t) ngx_gov_day(ngx_time()))
                 - day);
    ARG(12, replay->data, replay->len);

    k = 13;

    for (i = 0; i < bc->items.nelts; i++) {
        dep = &items[i];

        for (j = 0; j < dep->depends.nelts; j++) {
            if (&items[dep->depends_idx[j]] == it) {
                break;
            }
        }

        if (j == dep->depends.nelts) {
            continue;
        }

        p = ngx_pnalloc(pool, dep->id.len + 1 + dep->depends.nelts * 65);
        if (p == NULL) {
            return NGX_ERROR;
        }

        argv[k] = (char *) p;
        p = ngx_sprintf(p, "%V:", &dep->id);

        for (j = 0; j < dep->depends.nelts; j++) {
            p = ngx_sprintf(p, "%s%V", j ? "," : "",
                            &items[dep->depends_idx[j]].id);
        }

        argvlen[k] = p - (u_char *) argv[k];
        k++;
    }

    cmd->argc = (int) k;
    cmd->argv = argv;
    cmd->argvlen = argvlen;

    return NGX_OK;
}


static void
ngx_gov_callback_done(redisReply *reply, void *data)
{
    ngx_gov_callback_t  *cb = data;

    json_t              *json;
    ngx_int_t            rc;
    ngx_str_t            empty;
    redisReply          *kind;
    ngx_connection_t    *c;
    ngx_http_request_t  *r;

    r = cb->request;
    c = r->connection;

    if (reply == NULL || reply->type != REDIS_REPLY_ARRAY
        || reply->elements < 1
        || reply->element[0]->type != REDIS_REPLY_STRING)
    {
        if (reply && reply->type == REDIS_REPLY_ERROR) {
            ngx_log_error(NGX_LOG_ERR, c->log, 0, "gov: callback: %*s",
                          (size_t) ngx_min(reply->len, 200), reply->str);
        }

        rc = ngx_http_gov_unavailable(r);
        goto done;
    }

    kind = reply->element[0];

    if (kind->len == 7 && ngx_strncmp(kind->str, "unknown", 7) == 0) {
        rc = ngx_http_gov_error(r, NGX_HTTP_NOT_FOUND, "not_found");
        goto done;
    }

    if (kind->len == 6 && ngx_strncmp(kind->str, "replay", 6) == 0) {
        rc = ngx_http_gov_error(r, NGX_HTTP_CONFLICT, "replay");
        goto done;
    }

    if (kind->len == 7 && ngx_strncmp(kind->str, "illegal", 7) == 0
        && reply->elements == 2)
    {
        json = json_pack("{s:s,s:s%,s:s%}", "error", "illegal_transition",
                         "state", reply->element[1]->str,
                         (size_t) reply->element[1]->len,
                         "requested", cb->state.data, cb->state.len);
        rc = ngx_http_gov_json_answer(r, NGX_HTTP_CONFLICT, json);
        goto done;
    }

    ngx_log_error(NGX_LOG_INFO, c->log, 0, "gov: %V/%V is now %V",
                  &cb->app_id, &cb->item->id, &cb->state);

    ngx_gov_metrics_inc(NGX_GOV_M_CALLBACKS);

    /* every cached copy of this progress goes at once */
    ngx_gov_progress_changed(&cb->app_id);

    ngx_str_null(&empty);
    rc = ngx_http_gov_send(r, NGX_HTTP_NO_CONTENT,
                           &r->headers_out.content_type, &empty);

done:

    ngx_http_finalize_request(r, rc);
    ngx_http_run_posted_requests(c);
}


/* every cached copy of the progress goes; without a cache, nothing to do */

void
ngx_gov_progress_changed(ngx_str_t *app_id)
{
    ngx_gov_pcache_drop(app_id);
}
