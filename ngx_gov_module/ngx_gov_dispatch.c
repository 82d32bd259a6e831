
/*
 * Copyright (C) ngx_gov_module authors
 */


/*
 * Dispatch: steps sent to the departments' backends as parallel
 * background subrequests, their outcomes recorded by script, and the retry
 * queue that a timer in every worker drains through a fake request.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_gov_metrics.h"
#include "ngx_gov_answer.h"
#include "ngx_gov_events.h"
#include "ngx_gov_tally.h"
#include "ngx_gov_subreq.h"
#include "ngx_gov_bundle_conf.h"
#include "ngx_gov_route.h"
#include "ngx_gov_dispatch.h"
#include "gov_backoff.h"
#include "gov_date.h"
#include "gov_sniff.h"


#define NGX_GOV_RETRY_BASE_MS     1000
#define NGX_GOV_RETRY_MAX_MS      300000
#define NGX_GOV_POLL_MS           1000
#define NGX_GOV_CLAIM_MAX         32


#define NGX_GOV_LEDGER_MAX        10000
#define NGX_GOV_LEDGER_AGE_MS     600000
#define NGX_GOV_LEDGER_RETRY_MS   200
#define NGX_GOV_LEDGER_POLL_MS    50
#define NGX_GOV_LEDGER_MAX_MS     10000
#define NGX_GOV_BACKLOG_MS        5000
#define NGX_GOV_RECORD_KEYS       9
#define NGX_GOV_RECORD_ARGS       (13 + NGX_GOV_RECORD_KEYS)
#define NGX_GOV_RECORD_NKEYS      "9"
#define NGX_GOV_RECORD_SPEC       "steps:% app:% doc:% retry due stats events"


/*
 * A department's answer (received or refused) not yet recorded, or, with
 * "wait=N", not yet held by N replicas: kept by the worker and sent again
 * until it is.  Otherwise a failover between the answer and its record
 * would leave the step queued, and its lease would send it again.
 */

typedef struct {
    ngx_queue_t               queue;
    ngx_msec_t                since;
    ngx_uint_t                inflight;     /* its reply is awaited */
    ngx_str_t                 app_id;
    ngx_str_t                 item;
    const char               *argv[NGX_GOV_RECORD_ARGS];
    size_t                    argvlen[NGX_GOV_RECORD_ARGS];
} ngx_gov_outcome_t;


static ngx_event_t  ngx_gov_poll_ev;

/* the backlog, summed over the shards' answers */
static ngx_uint_t         ngx_gov_backlog_waiting;
static ngx_uint_t         ngx_gov_backlog_failed;
static ngx_atomic_uint_t  ngx_gov_backlog_sum[3];
static ngx_event_t  ngx_gov_backlog_ev;
static ngx_event_t  ngx_gov_ledger_ev;
static ngx_queue_t  ngx_gov_ledger;
static ngx_uint_t   ngx_gov_ledger_n;

/*
 * After a failed try the ledger waits longer each time (the replicas may
 * be gone for a while) and sends one outcome alone: each try may hold the
 * connection for a WAIT, and lookups share that connection.
 */
static ngx_msec_t   ngx_gov_ledger_delay = NGX_GOV_LEDGER_RETRY_MS;
static ngx_http_conf_ctx_t  *ngx_gov_dispatch_ctx;


/* outcomes and retries are recorded by script, like every change */

static const char  ngx_gov_result_lua[] =
    "local p, id, item = ARGV[1], ARGV[2], ARGV[3]\n"
    "local key = p .. 'steps:' .. id\n"
    "local member = id .. '|' .. item\n"
    "gov_now(tonumber(ARGV[6]) * 1000)\n"
    "local raw = redis.call('HGET', key, item)\n"
    "if ARGV[8] == 'supplement' then member = member .. '#s' end\n"
    "if not raw then redis.call('ZREM', p .. 'retry', member) return 0 end\n"
    "if ARGV[4] == 'held' then\n"
    "  -- not tried (the breaker): again once it may be, no attempt counted\n"
    "  redis.call('ZADD', p .. 'retry', tonumber(ARGV[7]), member)\n"
    "  return 1\n"
    "end\n"
    "local step = cjson.decode(raw)\n"
    "if ARGV[8] == 'supplement' then\n"
    "  -- promised materials (容缺受理): told once heard\n"
    "  if ARGV[4] == 'failed' then\n"
    "    step.supply_attempts = (step.supply_attempts or 0) + 1\n"
    "    redis.call('HSET', key, item, cjson.encode(step))\n"
    "    redis.call('ZADD', p .. 'retry', tonumber(ARGV[7]), member)\n"
    "    return 1\n"
    "  end\n"
    "  step.supply = nil\n"
    "  step.supply_attempts = nil\n"
    "  step.supply_by = nil\n"
    "  step.supply_delivered_at = tonumber(ARGV[6])\n"
    "  redis.call('HSET', key, item, cjson.encode(step))\n"
    "  redis.call('ZREM', p .. 'retry', member)\n"
    "  redis.call('HINCRBY', p .. 'app:' .. id, 'ver', 1)\n"
    "  redis.call('DEL', p .. 'doc:' .. id)\n"
    "  return 1\n"
    "end\n"
    "if step.state == 'correction' and ARGV[8] == 'correction'\n"
    "   and step.notify == 'correction' then\n"
    "  if ARGV[4] == 'failed' then\n"
    "    step.notify_attempts = (step.notify_attempts or 0) + 1\n"
    "    redis.call('HSET', key, item, cjson.encode(step))\n"
    "    redis.call('ZADD', p .. 'retry', tonumber(ARGV[7]), member)\n"
    "    return 1\n"
    "  end\n"
    "  step.notify = nil\n"
    "  step.notify_attempts = nil\n"
    "  if ARGV[4] == 'received' then\n"
    "    gov_unpause(step, gov_clock(ARGV[10]), tonumber(ARGV[9]))\n"
    "    step.state = 'received'\n"
    "    step.correction = nil\n"
    "    step.note = nil\n"
    "  elseif ARGV[5] ~= '' then\n"
    "    step.note = ARGV[5]\n"
    "  end\n"
    "  step.updated_at = tonumber(ARGV[6])\n"
    "  redis.call('HSET', key, item, cjson.encode(step))\n"
    "  redis.call('ZREM', p .. 'retry', member)\n"
    "  gov_due(id, item, step)\n"
    "  redis.call('HINCRBY', p .. 'app:' .. id, 'ver', 1)\n"
    "  redis.call('DEL', p .. 'doc:' .. id)\n"
    "  if ARGV[4] == 'received' then\n"
    "    gov_event(p .. 'app:' .. id, id, 'step', item, 'correction',\n"
    "              'received')\n"
    "  end\n"
    "  return 1\n"
    "end\n"
    "if step.state == 'withdrawn' and ARGV[8] == 'notice' then\n"
    "  if ARGV[4] == 'failed' then\n"
    "    step.notify_attempts = (step.notify_attempts or 0) + 1\n"
    "    redis.call('HSET', key, item, cjson.encode(step))\n"
    "    redis.call('ZADD', p .. 'retry', tonumber(ARGV[7]), member)\n"
    "    return 1\n"
    "  end\n"
    "  step.notify = nil\n"
    "  step.notified_at = tonumber(ARGV[6])\n"
    "  redis.call('HSET', key, item, cjson.encode(step))\n"
    "  redis.call('ZREM', p .. 'retry', member)\n"
    "  return 1\n"
    "end\n"
    "if step.state == 'withdrawn' and ARGV[4] == 'received'\n"
    "   and not step.notified_at then\n"
    "  -- sent before the withdrawal, received after it: tell them\n"
    "  step.notify = 'withdrawal'\n"
    "  redis.call('HSET', key, item, cjson.encode(step))\n"
    "  redis.call('ZADD', p .. 'retry', 0, member)\n"
    "  return 1\n"
    "end\n"
    "if step.state ~= 'queued' then\n"
    "  if not step.notify then redis.call('ZREM', p .. 'retry', member) end\n"
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
    "gov_event(p .. 'app:' .. id, id, 'step', item, 'queued', ARGV[4])\n"
    "if ARGV[4] == 'refused' then gov_app_done(gov_clock(ARGV[10]), id) end\n"
    "return 1\n";


/*
 * How the backlog stands, for gov_status: the retry queue, its entries
 * due now, and the steps past their deadline ("due" holds the ordinal of
 * each running step's deadline; a weekend after the deadline is past it).
 */

static const char  ngx_gov_backlog_lua[] =
    "local p, w = ARGV[1], tonumber(ARGV[3])\n"
    "local over = redis.call('ZCOUNT', p .. 'due', '-inf', '(' .. w)\n"
    "if ARGV[4] ~= '1' then\n"
    "  over = over + redis.call('ZCOUNT', p .. 'due', w, w)\n"
    "end\n"
    "return {redis.call('ZCARD', p .. 'retry'),\n"
    "        redis.call('ZCOUNT', p .. 'retry', '-inf', ARGV[2]), over}\n";


/*
 * 容缺受理: promises past their day ("promises" holds "ID|MATERIAL" by the
 * due day as YYYYMMDD), each told once as an event while the material is
 * still missing and a step still open; the document is rendered again.
 */

static const char  ngx_gov_promises_lua[] =
    "local p, today = ARGV[1], ARGV[2]\n"
    "local final = {refused = 1, denied = 1, withdrawn = 1, approved = 1,\n"
    "               delivered = 1}\n"
    "local late = redis.call('ZRANGEBYSCORE', p .. 'promises', '-inf',\n"
    "                        '(' .. today, 'LIMIT', 0, 100)\n"
    "for _, m in ipairs(late) do\n"
    "  local sep = string.find(m, '|', 1, true)\n"
    "  local id, mat = string.sub(m, 1, sep - 1), string.sub(m, sep + 1)\n"
    "  local app = p .. 'app:' .. id\n"
    "  local raw = redis.call('HGET', app, 'doc')\n"
    "  local given = raw and cjson.decode(raw).materials[mat]\n"
    "  local open = false\n"
    "  for _, s in ipairs(redis.call('HVALS', p .. 'steps:' .. id)) do\n"
    "    if not final[cjson.decode(s).state] then open = true end\n"
    "  end\n"
    "  if raw and open and (not given or given == '') then\n"
    "    gov_event(app, id, 'promise_overdue', nil, nil, nil, 'material',\n"
    "              mat)\n"
    "    redis.call('HINCRBY', app, 'ver', 1)\n"
    "    redis.call('DEL', p .. 'doc:' .. id)\n"
    "  end\n"
    "  redis.call('ZREM', p .. 'promises', m)\n"
    "end\n"
    "return #late\n";


static const char  ngx_gov_claim_lua[] =
    "local p, now, lease = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3])\n"
    "local final = {queued = 1, refused = 1, denied = 1, withdrawn = 1,\n"
    "               approved = 1, delivered = 1}\n"
    "local due = redis.call('ZRANGEBYSCORE', p .. 'retry', '-inf', now,\n"
    "                       'LIMIT', 0, tonumber(ARGV[4]))\n"
    "local out = {}\n"
    "for _, m in ipairs(due) do\n"
    "  local sep = string.find(m, '|', 1, true)\n"
    "  local id, item = string.sub(m, 1, sep - 1), string.sub(m, sep + 1)\n"
    "  local supply = string.sub(item, -2) == '#s'\n"
    "  local step = redis.call('HGET', p .. 'steps:' .. id,\n"
    "                          supply and string.sub(item, 1, -3) or item)\n"
    "  local app = redis.call('HMGET', p .. 'app:' .. id, 'doc', 'subject')\n"
    "  local st = step and cjson.decode(step)\n"
    "  if (not step) or (not app[1])\n"
    "     or (supply and (not st.supply or final[st.state]))\n"
    "     or (not supply and st.state ~= 'queued'\n"
    "         and not (st.state == 'withdrawn' and st.notify)\n"
    "         and not (st.state == 'correction' and st.notify)) then\n"
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


static ngx_int_t ngx_gov_dispatch_done(ngx_http_request_t *sr, void *data,
    ngx_int_t rc);
static void ngx_gov_record(ngx_log_t *log, ngx_gov_bundles_conf_t *bc,
    ngx_gov_dispatch_t *d);
static ngx_gov_outcome_t *ngx_gov_outcome_keep(ngx_log_t *log,
    const char **argv, size_t *argvlen);
static void ngx_gov_outcome_send(ngx_gov_outcome_t *o);
static void ngx_gov_outcome_recorded(redisReply *reply, void *data);
static void ngx_gov_ledger_handler(ngx_event_t *ev);
static void ngx_gov_poll(ngx_event_t *ev);
static ngx_uint_t ngx_gov_shard_head(u_char *buf, ngx_uint_t shard,
    const char *spec, const char **argv, size_t *argvlen);
static void ngx_gov_backlog(ngx_event_t *ev);
static void ngx_gov_backlog_done(redisReply *reply, void *data);
static void ngx_gov_claimed(redisReply *reply, void *data);
static void ngx_gov_retry_done(ngx_gov_batch_t *batch);
static void ngx_gov_retry_one(ngx_gov_batch_t *batch, redisReply **e);
static ngx_int_t ngx_gov_retry_copy(ngx_pool_t *pool, ngx_str_t *from,
    ngx_str_t *to);
static ngx_int_t ngx_gov_retry_copy_json(ngx_pool_t *pool, json_t *v,
    ngx_str_t *to);
static void ngx_gov_fake_free(ngx_event_t *ev);


/* dispatch: one background subrequest per step */


ngx_gov_batch_t *
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


ngx_int_t
ngx_gov_dispatch(ngx_gov_batch_t *batch, ngx_gov_dispatch_t *d,
    ngx_str_t *payload, ngx_str_t *subject, ngx_str_t *actor,
    json_t *fields)
{
    ngx_int_t                    rc;
    ngx_str_t                    values[5], uri;
    ngx_uint_t                   n;
    const char                  *names[5];
    ngx_http_request_t          *r, *sr;
    ngx_http_post_subrequest_t  *ps;

    r = batch->request;

    /* the backend, as the application's fields route it (跨省通办) */

    if (ngx_gov_route_uri(r, d->item, NGX_GOV_ROUTE_BACKEND, fields, &uri)
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    ps = ngx_palloc(r->pool, sizeof(ngx_http_post_subrequest_t));
    if (ps == NULL) {
        return NGX_ERROR;
    }

    ps->handler = ngx_gov_dispatch_done;
    ps->data = d;

    /* only what the department needs: never the citizen's credentials */

    names[0] = "X-Gov-Application";
    values[0] = d->app_id;
    names[1] = "X-Gov-Item";
    values[1] = d->item->id;
    names[2] = "X-Gov-Subject";
    values[2] = *subject;
    n = 3;

    if (actor->len) {
        names[n] = "X-Gov-Actor";
        values[n++] = *actor;
    }

    if (d->notice) {
        names[n] = d->notice == NGX_GOV_NOTICE_WITHDRAWAL
                   ? "X-Gov-Withdrawal"
                   : d->notice == NGX_GOV_NOTICE_SUPPLEMENT
                     ? "X-Gov-Supplement" : "X-Gov-Correction";
        ngx_str_set(&values[n], "1");
        n++;
    }

    rc = ngx_gov_subrequest(r, &uri, NULL, "application/json", payload,
                            names, values, n, ps, &sr);

    if (rc == NGX_DECLINED) {
        /*
         * The department's breaker is open: the step stays queued, not
         * tried, no attempt counted, and goes back to the retry queue for
         * when the breaker lets a probe through
         */
        ngx_log_debug2(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                       "gov: %V/%V stays queued, its backend's breaker is "
                       "open", &d->app_id, &d->item->id);

        d->outcome = NGX_GOV_OUT_HELD;
        d->held = (ngx_msec_t) ngx_gov_breaker_left(&uri) * 1000;
        ngx_gov_record(r->connection->log, ngx_gov_bc(r), d);
        d->outcome = NGX_GOV_OUT_FAILED;

        return NGX_DECLINED;
    }

    if (rc != NGX_OK
        || (d->item->backend_cv && ngx_gov_route_bind(sr, fields) != NGX_OK))
    {
        return NGX_ERROR;
    }

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

    u_char               more_buf[NGX_GOV_BREAKER_MORE_LEN];
    json_t              *json, *v;
    ngx_str_t            more, body;
    ngx_uint_t           status;
    ngx_gov_batch_t     *batch;

    batch = d->batch;

    if (d->outcome != NGX_GOV_OUT_PENDING) {
        return rc;
    }

    status = ngx_gov_subrequest_answer(sr, rc, &body);
    json = NULL;

    if (body.len) {
        json = json_loadb((char *) body.data, body.len, 0, NULL);
    }

    if (d->notice == NGX_GOV_NOTICE_WITHDRAWAL
        || d->notice == NGX_GOV_NOTICE_SUPPLEMENT)
    {
        /* a withdrawal or a supplement is told once heard */
        d->outcome = (status >= 200 && status < 500) ? NGX_GOV_OUT_RECEIVED
                                                     : NGX_GOV_OUT_FAILED;

        if (status >= 400 && status < 500) {
            ngx_log_error(NGX_LOG_WARN, sr->connection->log, 0,
                          "gov: %V answered %ui to news of %V, taken as "
                          "heard", &d->item->department, status,
                          &d->app_id);
        }

        json_decref(json);
        goto recorded;
    }

    if (d->notice == NGX_GOV_NOTICE_CORRECTION) {
        /* an answer to a correction: taken, refused (its note), or again */
        d->outcome = (status >= 200 && status < 300) ? NGX_GOV_OUT_RECEIVED
                     : (status >= 400 && status < 500) ? NGX_GOV_OUT_REFUSED
                     : NGX_GOV_OUT_FAILED;

        v = json_object_get(json, "reason");

        if (d->outcome == NGX_GOV_OUT_REFUSED && json_is_string(v)
            && json_string_length(v) <= 512)
        {
            d->text.len = json_string_length(v);
            d->text.data = ngx_pnalloc(batch->request->pool, d->text.len);
            if (d->text.data) {
                ngx_memcpy(d->text.data, json_string_value(v), d->text.len);
            }
        }

        json_decref(json);
        goto recorded;
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
            if (ngx_gov_subrequest_say(more_buf, &more)) {
                ngx_log_error(NGX_LOG_ERR, sr->connection->log, 0,
                              "gov: %V answered %ui for %V without a "
                              "receipt, will retry%V", &d->item->department,
                              status, &d->app_id, &more);
            }

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
        if (ngx_gov_subrequest_say(more_buf, &more)) {
            ngx_log_error(NGX_LOG_WARN, sr->connection->log, 0,
                          "gov: %V did not take %V (status %ui), will "
                          "retry%V", &d->item->department, &d->app_id,
                          status, &more);
        }

        d->outcome = NGX_GOV_OUT_FAILED;
    }

    json_decref(json);

recorded:

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
    u_char                    day[NGX_INT_T_LEN];
    u_char                    clock[NGX_GOV_TALLY_CLOCK_LEN];
    u_char                    kbuf[NGX_GOV_EVENTS_KEYS_BUF];
    u_char                    tbuf[NGX_GOV_REDIS_TAG_MAX];
    size_t                    argvlen[NGX_GOV_RECORD_ARGS], *alen;
    ngx_str_t                 tag, keys[NGX_GOV_RECORD_KEYS];
    ngx_uint_t                i;
    ngx_msec_t                delay;
    const char               *argv[NGX_GOV_RECORD_ARGS], **a;
    ngx_gov_outcome_t        *o;
    ngx_http_gov_main_conf_t *gmcf;

    gmcf = ngx_http_cycle_get_module_main_conf(ngx_cycle, ngx_http_gov_module);

    if (d->outcome == NGX_GOV_OUT_HELD) {
        /* when its breaker lets a probe through, spread over a second */
        delay = d->held + (ngx_msec_t) (ngx_random() % 1000);

    } else {
        delay = (ngx_msec_t) gov_backoff_delay(d->attempts,
                                               NGX_GOV_RETRY_BASE_MS,
                                               NGX_GOV_RETRY_MAX_MS,
                                               (uint32_t) ngx_random());
    }

    /* the keys first (the shard's tag first of all), then ARGV */

    ngx_gov_redis_id_tag_buf(tbuf, &gmcf->redis_prefix, &d->app_id, &tag);

    if (ngx_gov_events_keys(kbuf, &tag, &d->app_id, NGX_GOV_RECORD_SPEC,
                            keys, NGX_GOV_RECORD_KEYS)
        != NGX_GOV_RECORD_KEYS)
    {
        return;
    }

    argv[0] = "EVAL";
    argvlen[0] = 4;
    argv[1] = ngx_gov_events_script(ngx_gov_result_lua,
                                    sizeof(ngx_gov_result_lua) - 1,
                                    &argvlen[1]);
    argv[2] = NGX_GOV_RECORD_NKEYS;
    argvlen[2] = sizeof(NGX_GOV_RECORD_NKEYS) - 1;

    for (i = 0; i < NGX_GOV_RECORD_KEYS; i++) {
        argv[3 + i] = (char *) keys[i].data;
        argvlen[3 + i] = keys[i].len;
    }

    a = &argv[3 + NGX_GOV_RECORD_KEYS];
    alen = &argvlen[3 + NGX_GOV_RECORD_KEYS];

    a[0] = (char *) tag.data;
    alen[0] = tag.len;
    a[1] = (char *) d->app_id.data;
    alen[1] = d->app_id.len;
    a[2] = (char *) d->item->id.data;
    alen[2] = d->item->id.len;
    a[3] = d->outcome == NGX_GOV_OUT_RECEIVED ? "received"
           : d->outcome == NGX_GOV_OUT_REFUSED ? "refused"
           : d->outcome == NGX_GOV_OUT_HELD ? "held" : "failed";
    alen[3] = ngx_strlen(a[3]);
    a[4] = d->text.data ? (char *) d->text.data : "";
    alen[4] = d->text.len;
    a[5] = (char *) now;
    alen[5] = ngx_sprintf(now, "%T", ngx_time()) - now;
    /* the retry queue is in wall-clock milliseconds */
    a[6] = (char *) at;
    alen[6] = ngx_sprintf(at, "%T%03M", ngx_time() + delay / 1000,
                          delay % 1000) - at;

    a[7] = d->notice == NGX_GOV_NOTICE_WITHDRAWAL ? "notice"
           : d->notice == NGX_GOV_NOTICE_CORRECTION ? "correction"
           : d->notice == NGX_GOV_NOTICE_SUPPLEMENT ? "supplement"
           : "step";
    alen[7] = ngx_strlen(a[7]);
    a[8] = (char *) day;
    alen[8] = ngx_sprintf(day, "%i", (ngx_int_t) gov_day(ngx_time())) - day;
    a[9] = (char *) clock;
    alen[9] = ngx_gov_tally_clock(&bc->calendar, ngx_time(), clock);

    if (d->outcome == NGX_GOV_OUT_RECEIVED
        || d->outcome == NGX_GOV_OUT_REFUSED)
    {
        /* the department has it: kept until recorded (and replicated) */
        o = ngx_gov_outcome_keep(log, argv, argvlen);
        if (o) {
            ngx_gov_outcome_send(o);
            return;
        }
    }

    if (ngx_gov_redis_send(log, NULL, NULL, NULL, NGX_GOV_RECORD_ARGS, argv,
                           argvlen)
        != NGX_OK)
    {
        /* the step's lease expires and a worker sends it again */
        ngx_log_error(NGX_LOG_WARN, log, 0,
                      "gov: outcome of %V/%V not recorded, Redis is down",
                      &d->app_id, &d->item->id);
    }
}


/* the ledger of outcomes a department gave and Redis does not hold yet */

static ngx_gov_outcome_t *
ngx_gov_outcome_keep(ngx_log_t *log, const char **argv, size_t *argvlen)
{
    u_char             *p;
    size_t              size;
    ngx_uint_t          i;
    ngx_gov_outcome_t  *o;

    if (ngx_gov_ledger_ev.handler == NULL) {
        /* not a worker that records outcomes (a cache loader, a test) */
        return NULL;
    }

    if (ngx_gov_ledger_n >= NGX_GOV_LEDGER_MAX) {
        ngx_log_error(NGX_LOG_WARN, log, 0,
                      "gov: %ui outcomes wait for Redis already, this one "
                      "is left to its lease", ngx_gov_ledger_n);
        return NULL;
    }

    /* the script (argv[1]) is the worker's own, kept for its lifetime */

    size = sizeof(ngx_gov_outcome_t);
    for (i = 0; i < NGX_GOV_RECORD_ARGS; i++) {
        if (i != 1) {
            size += argvlen[i];
        }
    }

    o = ngx_alloc(size, log);
    if (o == NULL) {
        return NULL;
    }

    p = (u_char *) (o + 1);

    for (i = 0; i < NGX_GOV_RECORD_ARGS; i++) {
        o->argvlen[i] = argvlen[i];

        if (i == 1) {
            o->argv[i] = argv[i];
            continue;
        }

        o->argv[i] = (const char *) p;
        p = ngx_cpymem(p, argv[i], argvlen[i]);
    }

    o->app_id.data = (u_char *) o->argv[4 + NGX_GOV_RECORD_KEYS];
    o->app_id.len = o->argvlen[4 + NGX_GOV_RECORD_KEYS];
    o->item.data = (u_char *) o->argv[5 + NGX_GOV_RECORD_KEYS];
    o->item.len = o->argvlen[5 + NGX_GOV_RECORD_KEYS];
    o->since = ngx_current_msec;
    o->inflight = 0;

    ngx_queue_insert_tail(&ngx_gov_ledger, &o->queue);
    ngx_gov_ledger_n++;

    return o;
}


static void
ngx_gov_outcome_send(ngx_gov_outcome_t *o)
{
    ngx_gov_redis_args_t  cmd;

    cmd.argc = NGX_GOV_RECORD_ARGS;
    cmd.argv = o->argv;
    cmd.argvlen = o->argvlen;

    /* recording again is harmless: the script moves only a queued step */

    o->inflight = 1;

    if (ngx_gov_redis_send_acked(ngx_cycle->log, ngx_gov_outcome_recorded,
                                 o, NULL, 1, &cmd)
        == NGX_OK)
    {
        return;
    }

    o->inflight = 0;

    /* no connection: looked at often, to go first once there is one */

    if (!ngx_gov_ledger_ev.timer_set && !ngx_exiting && !ngx_quit) {
        ngx_add_timer(&ngx_gov_ledger_ev, NGX_GOV_LEDGER_POLL_MS);
    }
}


static void
ngx_gov_outcome_recorded(redisReply *reply, void *data)
{
    ngx_gov_outcome_t *o = data;

    o->inflight = 0;

    if (reply && reply->type != REDIS_REPLY_ERROR) {
        ngx_gov_tally_touch();

        if (ngx_current_msec - o->since > NGX_GOV_LEDGER_RETRY_MS) {
            ngx_log_error(NGX_LOG_NOTICE, ngx_cycle->log, 0,
                          "gov: outcome of %V/%V recorded after %M ms",
                          &o->app_id, &o->item,
                          ngx_current_msec - o->since);
        }

        ngx_queue_remove(&o->queue);
        ngx_gov_ledger_n--;
        ngx_free(o);

        if (ngx_gov_ledger_delay != NGX_GOV_LEDGER_RETRY_MS) {
            /* the probe went through: the others follow at once */
            ngx_gov_ledger_delay = NGX_GOV_LEDGER_RETRY_MS;

            if (ngx_gov_ledger_n && !ngx_gov_ledger_ev.timer_set
                && !ngx_exiting && !ngx_quit && !ngx_terminate)
            {
                ngx_add_timer(&ngx_gov_ledger_ev, NGX_GOV_LEDGER_POLL_MS);
            }
        }

        return;
    }

    if (reply) {
        ngx_log_error(NGX_LOG_ERR, ngx_cycle->log, 0,
                      "gov: outcome of %V/%V: %*s", &o->app_id, &o->item,
                      (size_t) ngx_min(reply->len, 200), reply->str);
    }

    /* Redis is down, failing over, or the replicas are behind: again */

    if (!ngx_gov_ledger_ev.timer_set && !ngx_exiting && !ngx_quit
        && !ngx_terminate)
    {
        ngx_add_timer(&ngx_gov_ledger_ev, ngx_gov_ledger_delay);
    }

    ngx_gov_ledger_delay = ngx_min(ngx_gov_ledger_delay * 2,
                                   NGX_GOV_LEDGER_MAX_MS);
}


static void
ngx_gov_ledger_handler(ngx_event_t *ev)
{
    ngx_uint_t          waiting;
    ngx_queue_t        *q, *next;
    ngx_gov_outcome_t  *o;

    waiting = 0;

    for (q = ngx_queue_head(&ngx_gov_ledger);
         q != ngx_queue_sentinel(&ngx_gov_ledger);
         q = next)
    {
        next = ngx_queue_next(q);
        o = ngx_queue_data(q, ngx_gov_outcome_t, queue);

        if (o->inflight) {
            continue;
        }

        if (ngx_current_msec - o->since > NGX_GOV_LEDGER_AGE_MS) {
            ngx_log_error(NGX_LOG_ERR, ev->log, 0,
                          "gov: outcome of %V/%V not recorded in %M ms, "
                          "left to its lease: the department may get the "
                          "step again", &o->app_id, &o->item,
                          (ngx_msec_t) NGX_GOV_LEDGER_AGE_MS);
            ngx_queue_remove(q);
            ngx_gov_ledger_n--;
            ngx_free(o);
            continue;
        }

        if (!ngx_gov_redis_available()) {
            waiting = 1;
            continue;
        }

        ngx_gov_outcome_send(o);

        if (ngx_gov_ledger_delay != NGX_GOV_LEDGER_RETRY_MS) {
            /* after a failure, one probe at a time */
            break;
        }
    }

    if (waiting && !ev->timer_set && !ngx_exiting && !ngx_quit) {
        ngx_add_timer(ev, NGX_GOV_LEDGER_POLL_MS);
    }
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

    if (ngx_worker == 0) {
        /* one worker a node looks at the backlog for gov_status */
        ngx_gov_redis_script(ngx_gov_backlog_lua,
                             sizeof(ngx_gov_backlog_lua) - 1);

        ngx_gov_backlog_ev.handler = ngx_gov_backlog;
        ngx_gov_backlog_ev.log = cycle->log;
        ngx_gov_backlog_ev.data = cycle;
        ngx_gov_backlog_ev.cancelable = 1;

        ngx_add_timer(&ngx_gov_backlog_ev, 1000);
    }

    ngx_queue_init(&ngx_gov_ledger);
    ngx_gov_ledger_ev.handler = ngx_gov_ledger_handler;
    ngx_gov_ledger_ev.log = cycle->log;
    ngx_gov_ledger_ev.data = cycle;

    return NGX_OK;
}


void
ngx_gov_dispatch_exit_process(ngx_cycle_t *cycle)
{
    if (ngx_gov_poll_ev.timer_set) {
        ngx_del_timer(&ngx_gov_poll_ev);
    }

    if (ngx_gov_backlog_ev.timer_set) {
        ngx_del_timer(&ngx_gov_backlog_ev);
    }

    if (ngx_gov_ledger_ev.timer_set) {
        ngx_del_timer(&ngx_gov_ledger_ev);
    }

    if (ngx_gov_ledger_n) {
        /* their leases send them again: departments see the same step */
        ngx_log_error(NGX_LOG_WARN, cycle->log, 0,
                      "gov: %ui outcomes not recorded when the worker "
                      "exited", ngx_gov_ledger_n);
    }
}


/*
 * A per-shard script's head: the keys "spec" names (one to three) into
 * argv[3..], the shard's tag after them as ARGV[1]; "buf" holds them
 * (NGX_GOV_EVENTS_KEYS_BUF).  The number of keys, 0 when they do not fit.
 */

static ngx_uint_t
ngx_gov_shard_head(u_char *buf, ngx_uint_t shard, const char *spec,
    const char **argv, size_t *argvlen)
{
    u_char                    *tbuf;
    ngx_str_t                  tag, keys[3];
    ngx_uint_t                 i, n;
    ngx_http_gov_main_conf_t  *gmcf;

    gmcf = ngx_http_cycle_get_module_main_conf(ngx_cycle, ngx_http_gov_module);

    /* the tag at the end of the buffer, the keys from its start */

    tbuf = buf + NGX_GOV_EVENTS_KEYS_BUF - NGX_GOV_REDIS_TAG_MAX;
    ngx_gov_redis_tag_buf(tbuf, &gmcf->redis_prefix, shard, &tag);

    n = ngx_gov_events_keys(buf, &tag, NULL, spec, keys, 3);

    for (i = 0; i < n; i++) {
        argv[3 + i] = (char *) keys[i].data;
        argvlen[3 + i] = keys[i].len;
    }

    argv[3 + n] = (char *) tag.data;
    argvlen[3 + n] = tag.len;

    return n;
}


/*
 * The backlog, the promises sweep and the claims run once per shard (one
 * with one Redis): the queues of a shard live in its slot, beside its
 * applications.
 */

static void
ngx_gov_backlog(ngx_event_t *ev)
{
    int                        day;
    u_char                     now[NGX_INT64_LEN], w[NGX_INT_T_LEN];
    u_char                     kbuf[NGX_GOV_EVENTS_KEYS_BUF];
    size_t                     argvlen[10];
    ngx_uint_t                 s, shards;
    const char                *argv[10];
    ngx_gov_bundles_conf_t    *bc;
    ngx_http_gov_main_conf_t  *gmcf;

    if (ngx_exiting || ngx_quit || ngx_terminate) {
        return;
    }

    ngx_add_timer(ev, NGX_GOV_BACKLOG_MS);

    if (!ngx_gov_redis_available()) {
        return;
    }

    gmcf = ngx_http_cycle_get_module_main_conf(ngx_cycle, ngx_http_gov_module);
    bc = &gmcf->bundles;
    day = gov_day(ngx_time());
    shards = ngx_gov_redis_shards();

    if (ngx_gov_backlog_waiting == 0) {
        ngx_gov_backlog_sum[0] = 0;
        ngx_gov_backlog_sum[1] = 0;
        ngx_gov_backlog_sum[2] = 0;
        ngx_gov_backlog_failed = 0;

        argv[0] = "EVAL";
        argvlen[0] = 4;
        argv[1] = ngx_gov_backlog_lua;
        argvlen[1] = sizeof(ngx_gov_backlog_lua) - 1;
        argv[2] = "2";
        argvlen[2] = 1;
        argv[6] = (char *) now;
        argvlen[6] = ngx_sprintf(now, "%T%03M", ngx_time(), (ngx_msec_t) 0)
                     - now;
        argv[7] = (char *) w;
        argvlen[7] = ngx_sprintf(w, "%d",
                                 gov_calendar_ordinal(&bc->calendar, day))
                     - w;
        argv[8] = gov_calendar_is_workday(&bc->calendar, day) ? "1" : "0";
        argvlen[8] = 1;

        for (s = 0; s < shards; s++) {
            if (ngx_gov_shard_head(kbuf, s, "retry due", argv, argvlen)
                != 2)
            {
                return;
            }

            if (ngx_gov_redis_send(ev->log, ngx_gov_backlog_done, NULL, NULL,
                                   9, argv, argvlen)
                == NGX_OK)
            {
                ngx_gov_backlog_waiting++;
            }
        }
    }

    /* promises past their day: today as YYYYMMDD */

    (void) gov_iso_date((char *) now, day);
    now[4] = now[5];
    now[5] = now[6];
    now[6] = now[8];
    now[7] = now[9];

    argv[0] = "EVAL";
    argvlen[0] = 4;
    argv[1] = ngx_gov_events_script(ngx_gov_promises_lua,
                                    sizeof(ngx_gov_promises_lua) - 1,
                                    &argvlen[1]);
    argv[2] = "3";
    argvlen[2] = 1;
    argv[7] = (char *) now;
    argvlen[7] = 8;

    for (s = 0; s < shards; s++) {
        if (ngx_gov_shard_head(kbuf, s, "promises events", argv, argvlen)
            != 3)
        {
            return;
        }

        (void) ngx_gov_redis_send(ev->log, NULL, NULL, NULL, 8, argv,
                                  argvlen);
    }
}


static void
ngx_gov_backlog_done(redisReply *reply, void *data)
{
    ngx_gov_backlog_waiting--;

    if (reply == NULL || reply->type != REDIS_REPLY_ARRAY
        || reply->elements != 3
        || reply->element[0]->type != REDIS_REPLY_INTEGER
        || reply->element[1]->type != REDIS_REPLY_INTEGER
        || reply->element[2]->type != REDIS_REPLY_INTEGER)
    {
        ngx_gov_backlog_failed = 1;

    } else {
        ngx_gov_backlog_sum[0] += reply->element[0]->integer;
        ngx_gov_backlog_sum[1] += reply->element[1]->integer;
        ngx_gov_backlog_sum[2] += reply->element[2]->integer;
    }

    if (ngx_gov_backlog_waiting || ngx_gov_backlog_failed) {
        return;
    }

    ngx_gov_metrics_backlog_set(ngx_gov_backlog_sum[0],
                                ngx_gov_backlog_sum[1],
                                ngx_gov_backlog_sum[2]);
}


static void
ngx_gov_poll(ngx_event_t *ev)
{
    u_char                     now[NGX_INT64_LEN], lease[NGX_INT_T_LEN];
    u_char                     kbuf[NGX_GOV_EVENTS_KEYS_BUF];
    size_t                     argvlen[8];
    ngx_uint_t                 s, shards;
    const char                *argv[8];
    ngx_http_gov_main_conf_t  *gmcf;

    if (ngx_exiting || ngx_quit || ngx_terminate) {
        return;
    }

    ngx_add_timer(ev, NGX_GOV_POLL_MS + ngx_random() % 250);

    if (!ngx_gov_redis_available()) {
        return;
    }

    gmcf = ngx_http_cycle_get_module_main_conf(ngx_cycle, ngx_http_gov_module);
    shards = ngx_gov_redis_shards();

    argv[0] = "EVAL";
    argvlen[0] = 4;
    argv[1] = ngx_gov_claim_lua;
    argvlen[1] = sizeof(ngx_gov_claim_lua) - 1;
    argv[2] = "1";
    argvlen[2] = 1;
    argv[5] = (char *) now;
    argvlen[5] = ngx_sprintf(now, "%T%03M", ngx_time(),
                             (ngx_msec_t) (ngx_timeofday())->msec) - now;
    argv[6] = (char *) lease;
    argvlen[6] = ngx_sprintf(lease, "%M",
                             gmcf->bundles.dispatch_timeout + NGX_GOV_LEASE_MS)
                 - lease;
    argv[7] = "32";
    argvlen[7] = 2;

    for (s = 0; s < shards; s++) {
        if (ngx_gov_shard_head(kbuf, s, "retry", argv, argvlen) != 1) {
            return;
        }

        (void) ngx_gov_redis_send(ev->log, ngx_gov_claimed, NULL, NULL, 8,
                                  argv, argvlen);
    }
}


static void
ngx_gov_claimed(redisReply *reply, void *data)
{
    ngx_uint_t           i, n;
    ngx_gov_batch_t     *batch;
    ngx_http_request_t  *r;

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

    for (i = 0; i < n; i++) {
        ngx_gov_retry_one(batch, &reply->element[4 * i]);
    }

    if (batch->pending == 0) {
        ngx_post_event(&batch->free_ev, &ngx_posted_events);
        return;
    }

    ngx_http_run_posted_requests(r->connection);
}


/*
 * One claimed step, "e" its four elements (id, item, application, step):
 * sent again as it was the first time.  A step that cannot be sent stays
 * in the queue; its lease runs out and it is claimed again.
 */

static void
ngx_gov_retry_one(ngx_gov_batch_t *batch, redisReply **e)
{
    json_t                    *doc, *step, *payload, *v, *sup, *who;
    ngx_str_t                  id, item, pl, subject, actor;
    ngx_uint_t                 k, notice, supply;
    ngx_pool_t                *pool;
    ngx_gov_item_t            *items, *it;
    ngx_gov_dispatch_t        *d;
    ngx_http_gov_main_conf_t  *gmcf;

    gmcf = ngx_http_cycle_get_module_main_conf(ngx_cycle, ngx_http_gov_module);
    items = gmcf->bundles.items.elts;
    pool = batch->request->pool;

    id.data = (u_char *) e[0]->str;
    id.len = e[0]->len;
    item.data = (u_char *) e[1]->str;
    item.len = e[1]->len;

    /* "ITEM#s": promised materials supplied (容缺受理) for its step */

    supply = item.len > 2 && item.data[item.len - 2] == '#'
             && item.data[item.len - 1] == 's';

    if (supply) {
        item.len -= 2;
    }

    it = NULL;

    for (k = 0; k < gmcf->bundles.items.nelts; k++) {
        if (items[k].id.len == item.len
            && ngx_strncmp(items[k].id.data, item.data, item.len) == 0)
        {
            it = &items[k];
            break;
        }
    }

    if (it == NULL) {
        ngx_log_error(NGX_LOG_WARN, ngx_cycle->log, 0,
                      "gov: retry of unknown item \"%V\" skipped", &item);
        return;
    }

    doc = json_loadb(e[2]->str, e[2]->len, 0, NULL);
    step = json_loadb(e[3]->str, e[3]->len, 0, NULL);

    v = json_object_get(step, "state");
    notice = !json_is_string(v) ? NGX_GOV_NOTICE_NONE
             : ngx_strcmp(json_string_value(v), "withdrawn") == 0
               ? NGX_GOV_NOTICE_WITHDRAWAL
             : ngx_strcmp(json_string_value(v), "correction") == 0
               ? NGX_GOV_NOTICE_CORRECTION : NGX_GOV_NOTICE_NONE;

    if (supply) {
        notice = NGX_GOV_NOTICE_SUPPLEMENT;
    }

    if (notice == NGX_GOV_NOTICE_SUPPLEMENT) {
        /* the materials, with the document's uploads for their links */
        v = json_object_get(step, "supply");
        sup = json_pack("{s:o*,s:O*}", "materials",
                        json_is_string(v)
                        ? json_loadb(json_string_value(v),
                                     json_string_length(v), 0, NULL)
                        : NULL,
                        "uploads", json_object_get(doc, "uploads"));
        payload = sup ? ngx_gov_payload(sup, &id, it) : NULL;
        json_object_set_new(payload, "supplement", json_true());
        json_decref(sup);

    } else if (notice == NGX_GOV_NOTICE_CORRECTION) {
        /* the citizen's answer: its fields and materials, as a step's */
        v = json_object_get(step, "supplement");
        sup = json_is_string(v) ? json_loadb(json_string_value(v),
                                             json_string_length(v), 0, NULL)
                                : NULL;
        payload = sup ? ngx_gov_payload(sup, &id, it) : NULL;
        json_object_set_new(payload, "correction", json_true());
        json_decref(sup);

    } else if (notice == NGX_GOV_NOTICE_WITHDRAWAL) {
        /* the department had the step: it is told it was withdrawn */
        payload = json_pack("{s:s%,s:s%,s:b,s:O?}",
                            "id", (char *) id.data, id.len,
                            "item", (char *) it->id.data, it->id.len,
                            "withdrawn", 1,
                            "reason", json_object_get(step,
                                                      "withdraw_reason"));
    } else {
        payload = doc ? ngx_gov_payload(doc, &id, it) : NULL;
    }

    if (ngx_gov_json_text(pool, payload, 0, &pl) != NGX_OK) {
        pl.data = NULL;
    }

    /* a notice is from whoever answered or withdrew; a step, the submitter */

    who = notice == NGX_GOV_NOTICE_CORRECTION
          ? json_object_get(step, "supplied_by")
          : notice == NGX_GOV_NOTICE_WITHDRAWAL
            ? json_object_get(step, "withdrawn_by")
          : notice == NGX_GOV_NOTICE_SUPPLEMENT
            ? json_object_get(step, "supply_by")
            : json_object_get(doc, "actor");

    if (step == NULL || doc == NULL || pl.data == NULL
        || ngx_gov_retry_copy(pool, &id, &id) != NGX_OK
        || ngx_gov_retry_copy_json(pool, json_object_get(doc, "subject"),
                                   &subject) != NGX_OK
        || ngx_gov_retry_copy_json(pool, who, &actor) != NGX_OK)
    {
        json_decref(doc);
        json_decref(step);
        return;
    }

    d = &batch->steps[batch->nsteps++];
    d->batch = batch;
    d->item = it;
    d->app_id = id;
    d->outcome = NGX_GOV_OUT_PENDING;
    d->notice = notice;
    d->attempts = json_integer_value(json_object_get(step,
                                     notice == NGX_GOV_NOTICE_SUPPLEMENT
                                     ? "supply_attempts"
                                     : notice ? "notify_attempts"
                                              : "attempts"));

    json_decref(step);

    ngx_log_error(NGX_LOG_INFO, ngx_cycle->log, 0,
                  notice == NGX_GOV_NOTICE_WITHDRAWAL
                  ? "gov: telling %V/%V of its withdrawal, attempt %ui"
                  : notice == NGX_GOV_NOTICE_CORRECTION
                    ? "gov: delivering the correction of %V/%V, attempt %ui"
                  : notice == NGX_GOV_NOTICE_SUPPLEMENT
                    ? "gov: delivering promised materials of %V/%V, "
                      "attempt %ui"
                    : "gov: retrying %V/%V, attempt %ui", &d->app_id,
                  &d->item->id, d->attempts + 1);

    if (ngx_gov_dispatch(batch, d, &pl, &subject, &actor,
                         json_object_get(doc, "fields"))
        != NGX_OK)
    {
        d->outcome = NGX_GOV_OUT_FAILED;
    }

    json_decref(doc);
}


/* a copy in "pool" ("from" and "to" may be the same) */

static ngx_int_t
ngx_gov_retry_copy(ngx_pool_t *pool, ngx_str_t *from, ngx_str_t *to)
{
    u_char  *p;

    p = ngx_pnalloc(pool, from->len + 1);
    if (p == NULL) {
        return NGX_ERROR;
    }

    ngx_memcpy(p, from->data, from->len);

    to->len = from->len;
    to->data = p;

    return NGX_OK;
}


/* a JSON string copied into "pool"; anything else is the empty string */

static ngx_int_t
ngx_gov_retry_copy_json(ngx_pool_t *pool, json_t *v, ngx_str_t *to)
{
    ngx_str_t  s;

    s.data = (u_char *) (json_is_string(v) ? json_string_value(v) : "");
    s.len = json_is_string(v) ? json_string_length(v) : 0;

    return ngx_gov_retry_copy(pool, &s, to);
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
 *
 * Over 120 lines: it builds, field by field, what ngx_http_alloc_request()
 * and ngx_http_init_connection() build for a real client, and is kept in
 * one piece to be read against them.
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


json_t *
ngx_gov_payload(json_t *doc, ngx_str_t *id, ngx_gov_item_t *item)
{
    char                       url[256], sig[64];
    json_t                    *payload, *uploads, *materials, *v, *meta;
    long long                  expires;
    const char                *key, *ref;
    ngx_http_gov_main_conf_t  *gmcf;

    payload = json_deep_copy(doc);
    if (payload == NULL) {
        return NULL;
    }

    json_object_set_new(payload, "id",
                        json_stringn((char *) id->data, id->len));
    json_object_set_new(payload, "item",
                        json_stringn((char *) item->id.data, item->id.len));

    /*
     * Each uploaded material as the department needs it: what it is and
     * a signed link, valid for gov_upload_link_ttl from this delivery.
     */

    uploads = json_object_get(payload, "uploads");

    if (uploads == NULL) {
        return payload;
    }

    gmcf = ngx_http_cycle_get_module_main_conf(ngx_cycle,
                                               ngx_http_gov_module);
    materials = json_object_get(payload, "materials");
    expires = (long long) ngx_time() + gmcf->upload.link_ttl;

    json_object_foreach(materials, key, v) {
        ref = json_string_value(v);

        if (ref == NULL || json_string_length(v) != 7 + 64
            || ngx_strncmp(ref, "upload:", 7) != 0)
        {
            continue;
        }

        meta = json_object_getn(uploads, ref + 7, 64);
        if (meta == NULL || gmcf->upload.link_secret.len == 0) {
            continue;
        }

        gov_link_sign(gmcf->upload.link_secret.data,
                      gmcf->upload.link_secret.len, ref + 7, 64, expires,
                      sig);

        ngx_sprintf((u_char *) url, "/uploads/%*s?expires=%L&sig=%*s%Z",
                    (size_t) 64, ref + 7, (int64_t) expires, (size_t) 64,
                    sig);

        json_object_set_new(materials, key,
            json_pack("{s:s,s:O,s:O,s:s#,s:s}", "ref", ref,
                      "type", json_object_get(meta, "type"),
                      "size", json_object_get(meta, "size"),
                      "sha256", ref + 7, (int) 64, "url", url));
    }

    json_object_del(payload, "uploads");

    return payload;
}
