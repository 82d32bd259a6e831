
/*
 * Copyright (C) ngx_gov_module authors
 */


/*
 * Retention and the archive (CONTRACT section 16).
 *
 *   keep     every change's event (gov_event(), ngx_gov_events.c) puts an
 *            application every step of which is final into "PREFIX final",
 *            scored by when it may leave (the change's time on the clock
 *            of the node that made it, gov_now(), plus finished= or
 *            withdrawn=), and takes one that is not out of it; a change also voids an archived event in
 *            flight ("archiving");
 *   sweep    one worker of all nodes per shard and turn: the applications
 *            due by the sweeping worker's clock (the nodes' clocks agree
 *            to seconds, the times are days; and nginx's clock can be
 *            moved in a test, Redis's cannot: libfaketime hangs its
 *            jemalloc), a bounded slice, each given an "archived" event that
 *            carries its whole record (the hash and the steps as Redis
 *            holds them) and marked "archiving" with the event's id; one
 *            whose event is still in the stream is left to it, one whose
 *            event was trimmed away gets another;
 *   remove   the gov_archive_notify target's 2xx runs the acknowledgement
 *            script below: the application, its steps, snapshot, list
 *            entry, queue entries and upload references go, in the step
 *            that acknowledges, and only if that event still carries its
 *            last document;
 *   lookup   GET /progress/ID of an application no longer in Redis asks
 *            gov_archive (GET URI/ID, X-Gov-Subject) and gives the lookup
 *            what its Redis reads would have: access and rendering are the
 *            progress room's own.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_gov_metrics.h"
#include "ngx_gov_redis.h"
#include "ngx_gov_events.h"
#include "ngx_gov_answer.h"
#include "ngx_gov_subreq.h"
#include "ngx_gov_archive.h"


#define NGX_GOV_ARCHIVE_BATCH     "200"
#define NGX_GOV_ARCHIVE_RECHECK   "60000"   /* ms: an event in flight */


typedef struct {
    ngx_http_request_t       *request;
    ngx_str_t                 id;
    ngx_str_t                 fails;
    ngx_gov_archive_done_pt   done;
    void                     *data;
    ngx_uint_t                status;
    ngx_str_t                 body;
    ngx_event_t               ev;
} ngx_gov_archive_ctx_t;


static void ngx_gov_archive_sweep(ngx_event_t *ev);
static void ngx_gov_archive_swept(redisReply *reply, void *data);
static ngx_int_t ngx_gov_archive_answered(ngx_http_request_t *sr,
    void *data, ngx_int_t rc);
static void ngx_gov_archive_resume(ngx_event_t *ev);
static redisReply *ngx_gov_archive_reply(ngx_gov_archive_ctx_t *ctx,
    json_t *record);
static redisReply *ngx_gov_archive_string(ngx_pool_t *pool, json_t *v);
static redisReply *ngx_gov_archive_text(ngx_pool_t *pool, const char *s,
    size_t len);
static void ngx_gov_archive_cleanup(void *data);


static ngx_event_t  ngx_gov_archive_ev;
static ngx_msec_t   ngx_gov_archive_every;
static time_t       ngx_gov_archive_said;


/*
 * The sweep of one shard.  ARGV: the turn (ms), now (ms, the sweeping
 * worker's clock).  What is JSON in the hash
 * (the application, its answer, rating, withdrawal, figures) goes into the
 * record as it is, the rest as strings.
 */

static const char  ngx_gov_archive_sweep_lua[] =
    "if not redis.call('SET', GOV_P .. 'arsweep', '1', 'NX', 'PX',\n"
    "                  ARGV[1]) then\n"
    "  return -1\n"
    "end\n"
    "local now = tonumber(ARGV[2])\n"
    "local fin = GOV_P .. 'final'\n"
    "local done = {approved = 1, delivered = 1, denied = 1, refused = 1,\n"
    "              withdrawn = 1}\n"
    "local function raw(v)\n"
    "  local c = string.sub(v, 1, 1)\n"
    "  if (c == '{' or c == '[') and pcall(cjson.decode, v) then\n"
    "    return v\n"
    "  end\n"
    "  return cjson.encode(v)\n"
    "end\n"
    "local n = 0\n"
    "for _, id in ipairs(redis.call('ZRANGEBYSCORE', fin, '-inf', now,\n"
    "                    'LIMIT', 0, " NGX_GOV_ARCHIVE_BATCH ")) do\n"
    "  local akey = GOV_P .. 'app:' .. id\n"
    "  local a = redis.call('HGETALL', akey)\n"
    "  local all = redis.call('HGETALL', GOV_P .. 'steps:' .. id)\n"
    "  local state = #a > 0 and #all > 0 and 'go' or 'gone'\n"
    "  local app = {}\n"
    "  for i = 1, #a, 2 do app[a[i]] = a[i + 1] end\n"
    "  for i = 2, #all, 2 do\n"
    "    local s = cjson.decode(all[i])\n"
    "    if not done[s.state] then state = 'gone'\n"
    "    elseif s.notify and state == 'go' then state = 'later' end\n"
    "  end\n"
    "  if state == 'go' and app.rating then\n"
    "    -- a bad rating not yet rectified stays where it can be\n"
    "    local ok, rt = pcall(cjson.decode, app.rating)\n"
    "    if ok and type(rt) == 'table' and (tonumber(rt.score) or 5) <= 2\n"
    "       and not rt.rectification then\n"
    "      state = 'later'\n"
    "    end\n"
    "  end\n"
    "  if state == 'go' and app.archiving\n"
    "     and #redis.call('XRANGE', GOV_EV_KEY, app.archiving,\n"
    "                     app.archiving) > 0 then\n"
    "    state = 'later'\n"
    "  end\n"
    "  if state == 'gone' then\n"
    "    redis.call('ZREM', fin, id)\n"
    "  else\n"
    "    if state == 'go' then\n"
    "      local f, s = {}, {}\n"
    "      for i = 1, #a, 2 do\n"
    "        if a[i] ~= 'archiving' then\n"
    "          f[#f + 1] = cjson.encode(a[i]) .. ':' .. raw(a[i + 1])\n"
    "        end\n"
    "      end\n"
    "      for i = 1, #all, 2 do\n"
    "        s[#s + 1] = cjson.encode(all[i]) .. ':' .. all[i + 1]\n"
    "      end\n"
    "      local doc = '{\"id\":' .. cjson.encode(id) .. ',\"archived_at\":'\n"
    "                  .. string.format('%d', now) .. ',\"application\":{'\n"
    "                  .. table.concat(f, ',') .. '},\"steps\":{'\n"
    "                  .. table.concat(s, ',') .. '}}'\n"
    "      local x = gov_event(akey, id, 'archived', nil, nil, nil,\n"
    "                          'document', doc)\n"
    "      redis.call('HSET', akey, 'archiving', x)\n"
    "      n = n + 1\n"
    "    end\n"
    "    redis.call('ZADD', fin, now + " NGX_GOV_ARCHIVE_RECHECK ", id)\n"
    "  end\n"
    "end\n"
    "return n\n";


/*
 * The archive target's acknowledgement.  ARGV: stream, group, consumer,
 * order lists, event id, application.  An upload no application names any
 * more is idle from now (the upload sweeper's keep_unused).
 */

static const char  ngx_gov_archive_ack_lua[] =
    "local key, id, app = ARGV[1], ARGV[5], ARGV[6]\n"
    "redis.call('XACK', key, ARGV[2], id)\n"
    "redis.call('LREM', ARGV[4] .. app, 1, id)\n"
    "local akey = GOV_P .. 'app:' .. app\n"
    "if redis.call('HGET', akey, 'archiving') ~= id then\n"
    "  -- changed since: its next event carries the document\n"
    "  return 0\n"
    "end\n"
    "local t = redis.call('TIME')\n"
    "local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)\n"
    "local a = redis.call('HMGET', akey, 'subject', 'doc')\n"
    "local doc = a[2] and cjson.decode(a[2]) or {}\n"
    "local function unref(ups)\n"
    "  if type(ups) ~= 'table' then return end\n"
    "  for h in pairs(ups) do\n"
    "    local uk = GOV_P .. 'up:' .. h\n"
    "    if redis.call('EXISTS', uk) == 1\n"
    "       and redis.call('HINCRBY', uk, 'refs', -1) <= 0 then\n"
    "      redis.call('HSET', uk, 'refs', 0)\n"
    "      redis.call('ZADD', GOV_P .. 'upidle', now, h)\n"
    "    end\n"
    "  end\n"
    "end\n"
    "unref(doc.uploads)\n"
    "local all = redis.call('HGETALL', GOV_P .. 'steps:' .. app)\n"
    "for i = 1, #all, 2 do\n"
    "  local m = app .. '|' .. all[i]\n"
    "  local s = cjson.decode(all[i + 1])\n"
    "  if type(s.supplement) == 'string' then\n"
    "    unref(cjson.decode(s.supplement).uploads)\n"
    "  end\n"
    "  redis.call('ZREM', GOV_P .. 'due', m)\n"
    "  redis.call('ZREM', GOV_P .. 'retry', m, m .. '#s')\n"
    "end\n"
    "if type(doc.promises) == 'table' then\n"
    "  for _, pr in ipairs(doc.promises) do\n"
    "    if pr.material then\n"
    "      redis.call('ZREM', GOV_P .. 'promises', app .. '|' .. pr.material)\n"
    "    end\n"
    "  end\n"
    "end\n"
    "if a[1] then redis.call('ZREM', GOV_P .. 'user:' .. a[1], app) end\n"
    "redis.call('DEL', akey, GOV_P .. 'steps:' .. app,\n"
    "           GOV_P .. 'doc:' .. app, GOV_P .. 'refreshed:' .. app)\n"
    "redis.call('ZREM', GOV_P .. 'final', app)\n"
    "redis.call('XDEL', key, id)\n"
    "return 1\n";


/* gov_retention finished=TIME [withdrawn=TIME] [sweep=TIME] */

char *
ngx_gov_retention_directive(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_gov_events_conf_t  *ecf = (void *) ((char *) conf + cmd->offset);

    ngx_str_t   *value, s;
    ngx_msec_t   ms, *to;
    ngx_uint_t   i;

    if (ecf->keep_finished) {
        return "is duplicate";
    }

    value = cf->args->elts;

    for (i = 1; i < cf->args->nelts; i++) {

        if (ngx_strncmp(value[i].data, "finished=", 9) == 0) {
            s.data = value[i].data + 9;
            s.len = value[i].len - 9;
            to = &ecf->keep_finished;

        } else if (ngx_strncmp(value[i].data, "withdrawn=", 10) == 0) {
            s.data = value[i].data + 10;
            s.len = value[i].len - 10;
            to = &ecf->keep_withdrawn;

        } else if (ngx_strncmp(value[i].data, "sweep=", 6) == 0) {
            s.data = value[i].data + 6;
            s.len = value[i].len - 6;
            to = &ecf->sweep_every;

        } else {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "invalid parameter \"%V\" in \"%V\": "
                               "finished=TIME, withdrawn=TIME or sweep=TIME",
                               &value[i], &cmd->name);
            return NGX_CONF_ERROR;
        }

        ms = ngx_parse_time(&s, 0);

        if (ms == (ngx_msec_t) NGX_ERROR || ms < 1000
            || (to == &ecf->sweep_every && ms > 3600000))
        {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "invalid time in \"%V\" of \"%V\": at least "
                               "1s (sweep= at most 1h), for example "
                               "finished=90d", &value[i], &cmd->name);
            return NGX_CONF_ERROR;
        }

        *to = ms;
    }

    if (ecf->keep_finished == 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"%V\" needs \"finished=TIME\"", &cmd->name);
        return NGX_CONF_ERROR;
    }

    if (ecf->keep_withdrawn == 0) {
        ecf->keep_withdrawn = ecf->keep_finished;
    }

    ecf->retention_file = cf->conf_file->file.name;
    ecf->retention_line = cf->conf_file->line;

    return NGX_CONF_OK;
}


/* gov_archive URI */

char *
ngx_gov_archive_directive(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_gov_main_conf_t  *gmcf = conf;

    ngx_str_t  *value;

    if (gmcf->archive_uri.data) {
        return "is duplicate";
    }

    value = cf->args->elts;

    if (ngx_gov_subrequest_conf_uri(cf, cmd, &value[1], 1) != NGX_CONF_OK) {
        return NGX_CONF_ERROR;
    }

    gmcf->archive_uri = value[1];

    /* "URI/ID": one slash */

    while (gmcf->archive_uri.len > 1
           && gmcf->archive_uri.data[gmcf->archive_uri.len - 1] == '/')
    {
        gmcf->archive_uri.len--;
    }

    return NGX_CONF_OK;
}


char *
ngx_gov_archive_init_conf(ngx_conf_t *cf, ngx_http_gov_main_conf_t *gmcf)
{
    ngx_uint_t                i, archive;
    ngx_gov_events_conf_t    *ecf;
    ngx_gov_notify_target_t  *t;

    ecf = &gmcf->events;

    if (gmcf->archive_uri.len
        && (gmcf->redis == NULL || gmcf->dispatch_ctx == NULL))
    {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"gov_archive\" needs \"gov_redis\" and a server "
                           "with \"gov_bundles\", whose location it is");
        return NGX_CONF_ERROR;
    }

    if (ecf->keep_finished == 0) {
        return NGX_CONF_OK;
    }

    archive = 0;

    if (ecf->notify) {
        t = ecf->notify->elts;

        for (i = 0; i < ecf->notify->nelts; i++) {
            archive |= t[i].archive;
        }
    }

    if (!archive || ecf->key.len == 0 || gmcf->redis == NULL) {
        ngx_log_error(NGX_LOG_EMERG, cf->log, 0,
                      "\"gov_retention\" in %V:%ui needs \"gov_redis\", "
                      "\"gov_events\" and \"gov_archive_notify\": an "
                      "application leaves Redis only once the archive has "
                      "acknowledged its document", &ecf->retention_file,
                      ecf->retention_line);
        return NGX_CONF_ERROR;
    }

    return NGX_CONF_OK;
}


/* the sweeper */


ngx_int_t
ngx_gov_archive_init_process(ngx_cycle_t *cycle)
{
    ngx_gov_events_conf_t     *ecf;
    ngx_http_gov_main_conf_t  *gmcf;

    gmcf = ngx_http_cycle_get_module_main_conf(cycle, ngx_http_gov_module);

    if (gmcf == NULL || gmcf->redis == NULL
        || gmcf->events.keep_finished == 0)
    {
        return NGX_OK;
    }

    ecf = &gmcf->events;

    /* sweep=, else a quarter of the shorter time, from 1 s to a minute */

    ngx_gov_archive_every = ngx_min(ecf->keep_finished, ecf->keep_withdrawn)
                            / 4;
    ngx_gov_archive_every = ngx_max(ngx_gov_archive_every, 1000);
    ngx_gov_archive_every = ngx_min(ngx_gov_archive_every, 60000);

    if (ecf->sweep_every) {
        ngx_gov_archive_every = ecf->sweep_every;
    }

    ngx_gov_archive_ev.handler = ngx_gov_archive_sweep;
    ngx_gov_archive_ev.log = cycle->log;
    ngx_gov_archive_ev.cancelable = 1;

    ngx_add_timer(&ngx_gov_archive_ev,
                  ngx_gov_archive_every / 2 + ngx_random() % 500);

    return NGX_OK;
}


void
ngx_gov_archive_exit_process(ngx_cycle_t *cycle)
{
    if (ngx_gov_archive_ev.timer_set) {
        ngx_del_timer(&ngx_gov_archive_ev);
    }
}


static void
ngx_gov_archive_sweep(ngx_event_t *ev)
{
    u_char       turn[NGX_INT_T_LEN], now[NGX_TIME_T_LEN + 4];
    u_char       buf[NGX_GOV_EVENTS_KEYS_BUF], tbuf[NGX_GOV_REDIS_TAG_MAX];
    size_t       argvlen[8];
    ngx_str_t    tag, keys[3];
    ngx_uint_t   s, i, n;
    ngx_time_t  *tp;
    const char  *argv[8];

    ngx_http_gov_main_conf_t  *gmcf;

    if (ngx_exiting || ngx_quit || ngx_terminate) {
        return;
    }

    ngx_add_timer(ev, ngx_gov_archive_every + ngx_random() % 500);

    if (!ngx_gov_redis_available()) {
        return;
    }

    gmcf = ngx_http_cycle_get_module_main_conf(ngx_cycle,
                                               ngx_http_gov_module);

    argv[0] = "EVAL";
    argvlen[0] = 4;
    argv[1] = ngx_gov_events_script(ngx_gov_archive_sweep_lua,
                                    sizeof(ngx_gov_archive_sweep_lua) - 1,
                                    &argvlen[1]);
    argv[2] = "3";
    argvlen[2] = 1;

    /* the turn: most of the period, so that the next one finds it free */
    argv[6] = (char *) turn;
    argvlen[6] = ngx_sprintf(turn, "%M", ngx_gov_archive_every * 3 / 4)
                 - turn;

    tp = ngx_timeofday();
    argv[7] = (char *) now;
    argvlen[7] = ngx_sprintf(now, "%T%03M", tp->sec, tp->msec) - now;

    for (s = 0; s < ngx_gov_redis_shards(); s++) {
        ngx_gov_redis_tag_buf(tbuf, &gmcf->redis_prefix, s, &tag);

        n = ngx_gov_events_keys(buf, &tag, NULL, "arsweep events", keys, 3);
        if (n != 3) {
            return;
        }

        for (i = 0; i < 3; i++) {
            argv[3 + i] = (char *) keys[i].data;
            argvlen[3 + i] = keys[i].len;
        }

        (void) ngx_gov_redis_send(ev->log, ngx_gov_archive_swept, NULL,
                                  NULL, 8, argv, argvlen);
    }
}


static void
ngx_gov_archive_swept(redisReply *reply, void *data)
{
    if (reply == NULL) {
        return;
    }

    if (reply->type == REDIS_REPLY_ERROR) {
        /* at most once a minute per worker: a turn is a second at least */

        if (ngx_time() - ngx_gov_archive_said >= 60) {
            ngx_gov_archive_said = ngx_time();
            ngx_log_error(NGX_LOG_ERR, ngx_cycle->log, 0,
                          "gov: retention sweep: %*s",
                          (size_t) ngx_min(reply->len, 200), reply->str);
        }

        return;
    }

    if (reply->type == REDIS_REPLY_INTEGER && reply->integer > 0) {
        ngx_log_error(NGX_LOG_INFO, ngx_cycle->log, 0,
                      "gov: %L applications sent to the archive",
                      (long long) reply->integer);
    }
}


const char *
ngx_gov_archive_ack_script(size_t *len)
{
    return ngx_gov_events_script(ngx_gov_archive_ack_lua,
                                 sizeof(ngx_gov_archive_ack_lua) - 1, len);
}


/* the lookup */


ngx_uint_t
ngx_gov_archive_on(ngx_http_request_t *r)
{
    ngx_http_gov_main_conf_t  *gmcf;

    gmcf = ngx_http_get_module_main_conf(r, ngx_http_gov_module);

    return gmcf->archive_uri.len != 0;
}


time_t
ngx_gov_archive_left(ngx_http_request_t *r)
{
    ngx_http_gov_main_conf_t  *gmcf;

    gmcf = ngx_http_get_module_main_conf(r, ngx_http_gov_module);

    return ngx_gov_subrequest_retry_after(&gmcf->archive_uri);
}


ngx_int_t
ngx_gov_archive_fetch(ngx_http_request_t *r, ngx_str_t *id,
    ngx_str_t *subject, ngx_str_t *fails, ngx_gov_archive_done_pt done,
    void *data)
{
    u_char                      *p;
    ngx_str_t                    uri, values[2];
    ngx_uint_t                   n;
    const char                  *names[2];
    ngx_pool_cleanup_t          *cln;
    ngx_gov_archive_ctx_t       *ctx;
    ngx_http_post_subrequest_t  *ps;
    ngx_http_gov_main_conf_t    *gmcf;

    gmcf = ngx_http_get_module_main_conf(r, ngx_http_gov_module);

    cln = ngx_pool_cleanup_add(r->pool, sizeof(ngx_gov_archive_ctx_t));
    ps = ngx_palloc(r->pool, sizeof(ngx_http_post_subrequest_t));
    uri.data = ngx_pnalloc(r->pool, gmcf->archive_uri.len + 1 + id->len
                                    + (fails ? fails->len : 0));

    if (cln == NULL || ps == NULL || uri.data == NULL) {
        return NGX_ERROR;
    }

    ctx = cln->data;
    ngx_memzero(ctx, sizeof(ngx_gov_archive_ctx_t));
    cln->handler = ngx_gov_archive_cleanup;

    ctx->request = r;
    ctx->done = done;
    ctx->data = data;
    ctx->ev.handler = ngx_gov_archive_resume;
    ctx->ev.data = ctx;
    ctx->ev.log = r->connection->log;

    /* the id is checked by the caller: letters and digits */

    p = ngx_cpymem(uri.data, gmcf->archive_uri.data, gmcf->archive_uri.len);
    *p++ = '/';
    ctx->id.data = p;
    p = ngx_cpymem(p, id->data, id->len);
    ctx->id.len = id->len;
    uri.len = p - uri.data;

    if (fails && fails->len) {
        ctx->fails.data = p;
        ctx->fails.len = fails->len;
        ngx_memcpy(p, fails->data, fails->len);
    }

    ps->handler = ngx_gov_archive_answered;
    ps->data = ctx;

    names[0] = "Accept";
    ngx_str_set(&values[0], "application/json");
    n = 1;

    if (subject->len) {
        names[1] = "X-Gov-Subject";
        values[1] = *subject;
        n = 2;
    }

    return ngx_gov_subrequest_at(r, &gmcf->archive_uri, &uri, NULL, NULL,
                                 NULL, names, values, n, ps, NULL);
}


static ngx_int_t
ngx_gov_archive_answered(ngx_http_request_t *sr, void *data, ngx_int_t rc)
{
    ngx_gov_archive_ctx_t *ctx = data;

    ngx_str_t  body;

    ctx->status = ngx_gov_subrequest_answer(sr, rc, &body);

    if (ctx->status == NGX_HTTP_OK) {
        /* the subrequest's memory goes with the main request's pool */
        ctx->body = body;
    }

    /* called while the subrequest is being finalized: go on after it */

    if (!ctx->ev.posted) {
        ngx_post_event(&ctx->ev, &ngx_posted_events);
    }

    return rc;
}


static void
ngx_gov_archive_resume(ngx_event_t *ev)
{
    ngx_gov_archive_ctx_t *ctx = ev->data;

    u_char               more_buf[NGX_GOV_BREAKER_MORE_LEN];
    json_t              *record;
    ngx_str_t            more;
    redisReply          *reply;
    json_error_t         err;
    ngx_http_request_t  *r;

    r = ctx->request;

    if (ctx->status == NGX_HTTP_NOT_FOUND) {
        ctx->done(r, ctx->data, NGX_DECLINED, NULL);
        return;
    }

    if (ctx->status != NGX_HTTP_OK) {
        if (ngx_gov_subrequest_say(more_buf, &more)) {
            ngx_log_error(NGX_LOG_WARN, r->connection->log, 0,
                          "gov: the archive answered %ui for %V%V",
                          ctx->status, &ctx->id, &more);
        }

        ctx->done(r, ctx->data, NGX_ERROR, NULL);
        return;
    }

    record = json_loadb((char *) ctx->body.data, ctx->body.len, 0, &err);
    reply = record ? ngx_gov_archive_reply(ctx, record) : NULL;

    if (reply == NULL) {
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "gov: the archive's record of %V is not one: %s",
                      &ctx->id, record ? "its id, hash or steps"
                                       : err.text);
        json_decref(record);
        ctx->done(r, ctx->data, NGX_ERROR, NULL);
        return;
    }

    json_decref(record);

    ctx->done(r, ctx->data, NGX_OK, reply);
}


/*
 * What the lookup's reads would give (ngx_gov_progress_read()): HMGET doc
 * code rating subject actor ver, HGETALL of the steps, the wrong codes,
 * the refresh mark's PTTL.  "ver" is nil: no snapshot is written of it.
 */

static redisReply *
ngx_gov_archive_reply(ngx_gov_archive_ctx_t *ctx, json_t *record)
{
    size_t        i, n;
    json_t       *app, *steps, *id, *step;
    ngx_pool_t   *pool;
    const char   *item;
    redisReply   *reply, *fields, *e;

    static const char  *names[] = { "doc", "code", "rating", "subject",
                                    "actor" };

    pool = ctx->request->pool;

    id = json_object_get(record, "id");
    app = json_object_get(record, "application");
    steps = json_object_get(record, "steps");

    if (!json_is_string(id) || json_string_length(id) != ctx->id.len
        || ngx_strncmp(json_string_value(id), ctx->id.data, ctx->id.len) != 0
        || !json_is_object(app) || !json_is_object(steps)
        || !json_is_object(json_object_get(app, "doc"))
        || !json_is_string(json_object_get(app, "subject")))
    {
        return NULL;
    }

    reply = ngx_pcalloc(pool, 4 * sizeof(redisReply));
    fields = ngx_pcalloc(pool, 6 * sizeof(redisReply));
    n = json_object_size(steps);

    if (reply == NULL || fields == NULL) {
        return NULL;
    }

    reply[0].type = REDIS_REPLY_ARRAY;
    reply[0].elements = 4;
    reply[0].element = ngx_palloc(pool, 4 * sizeof(redisReply *));

    if (reply[0].element == NULL) {
        return NULL;
    }

    /* the six fields */

    reply[1].type = REDIS_REPLY_ARRAY;
    reply[1].elements = 6;
    reply[1].element = ngx_palloc(pool, 6 * sizeof(redisReply *));
    if (reply[1].element == NULL) {
        return NULL;
    }

    for (i = 0; i < 5; i++) {
        e = ngx_gov_archive_string(pool, json_object_get(app, names[i]));
        if (e == NULL) {
            return NULL;
        }

        reply[1].element[i] = e;
    }

    fields[0].type = REDIS_REPLY_NIL;
    reply[1].element[5] = &fields[0];

    /* the steps, as HGETALL gives them */

    reply[2].type = REDIS_REPLY_ARRAY;
    reply[2].elements = 2 * n;
    reply[2].element = ngx_palloc(pool, (2 * n + 1) * sizeof(redisReply *));
    if (reply[2].element == NULL) {
        return NULL;
    }

    i = 0;

    json_object_foreach(steps, item, step) {
        if (!json_is_object(step)) {
            return NULL;
        }

        e = ngx_gov_archive_text(pool, item, ngx_strlen(item));
        if (e == NULL) {
            return NULL;
        }

        reply[2].element[i++] = e;

        e = ngx_gov_archive_string(pool, step);
        if (e == NULL) {
            return NULL;
        }

        reply[2].element[i++] = e;
    }

    /* the wrong codes as counted in Redis; a refresh is never due */

    fields[1].type = ctx->fails.len ? REDIS_REPLY_STRING : REDIS_REPLY_NIL;
    fields[1].str = (char *) ctx->fails.data;
    fields[1].len = ctx->fails.len;

    fields[2].type = REDIS_REPLY_INTEGER;
    fields[2].integer = 1;

    reply[0].element[0] = &reply[1];
    reply[0].element[1] = &reply[2];
    reply[0].element[2] = &fields[1];
    reply[0].element[3] = &fields[2];

    return &reply[0];
}


/* a JSON value as Redis held it: a string as it is, the rest encoded */

static redisReply *
ngx_gov_archive_string(ngx_pool_t *pool, json_t *v)
{
    char        *text;
    redisReply  *e;

    if (v == NULL || json_is_null(v)) {
        e = ngx_pcalloc(pool, sizeof(redisReply));
        if (e) {
            e->type = REDIS_REPLY_NIL;
        }

        return e;
    }

    if (json_is_string(v)) {
        return ngx_gov_archive_text(pool, json_string_value(v),
                                    json_string_length(v));
    }

    text = json_dumps(v, JSON_COMPACT);
    if (text == NULL) {
        return NULL;
    }

    e = ngx_gov_archive_text(pool, text, ngx_strlen(text));
    free(text);

    return e;
}


/* a string reply, ended by a NUL as hiredis ends its own */

static redisReply *
ngx_gov_archive_text(ngx_pool_t *pool, const char *s, size_t len)
{
    redisReply  *e;

    e = ngx_pcalloc(pool, sizeof(redisReply));
    if (e == NULL) {
        return NULL;
    }

    e->str = ngx_pnalloc(pool, len + 1);
    if (e->str == NULL) {
        return NULL;
    }

    ngx_memcpy(e->str, s, len);
    e->str[len] = '\0';
    e->len = len;
    e->type = REDIS_REPLY_STRING;

    return e;
}


static void
ngx_gov_archive_cleanup(void *data)
{
    ngx_gov_archive_ctx_t *ctx = data;

    if (ctx->ev.posted) {
        ngx_delete_posted_event(&ctx->ev);
    }
}
