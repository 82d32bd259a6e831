
/*
 * Copyright (C) ngx_gov_module authors
 */


/*
 * Notifications (CONTRACT section 10).  Each gov_notify target is a
 * consumer group of the events stream; every worker of every node is a
 * consumer ("HOST:PID").  A worker's notifier, per target:
 *
 *   fetch   one script: entries of dead consumers idle for claim_idle
 *           taken over (XAUTOCLAIM), then new ones read (XREADGROUP);
 *           an event of another type acknowledged at once, the others
 *           put in their application's order list (PREFIX nq:URI:APP);
 *   begin   one script: an event may go when it heads its application's
 *           list (so one application's events go in stream order, by
 *           whichever worker holds them); it is claimed again, which
 *           keeps it from looking idle, unless another consumer took it
 *           over meanwhile: then it is theirs alone to send;
 *   send    a background POST to the target's location, X-Gov-Event-Id;
 *   ack     a 2xx: XACK and out of the list, in one script.  Anything
 *           else: again after an exponential backoff with jitter, while
 *           the events of other applications go on.
 *
 * Every worker also reads the figures gov_status shows: events appended,
 * and per target pending, oldest pending and lag; and forgets consumers
 * with nothing pending that were given nothing for five claim_idle.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_gov_metrics.h"
#include "ngx_gov_redis.h"
#include "ngx_gov_answer.h"
#include "ngx_gov_subreq.h"
#include "ngx_gov_dispatch.h"
#include "ngx_gov_archive.h"
#include "ngx_gov_notify.h"
#include "gov_backoff.h"


#define NGX_GOV_NOTIFY_SLOTS      256
#define NGX_GOV_NOTIFY_FETCH_MAX  64
#define NGX_GOV_NOTIFY_TICK_MS    100
#define NGX_GOV_NOTIFY_IDLE_MS    100       /* nothing new: fetch again */
#define NGX_GOV_NOTIFY_STATS_MS   1000
#define NGX_GOV_NOTIFY_FORGET     5         /* claim_idle times */
#define NGX_GOV_NOTIFY_BASE_MS    500
#define NGX_GOV_NOTIFY_CAP_MS     300000


/* a slot's life */
#define NGX_GOV_NS_FREE           0
#define NGX_GOV_NS_READY          1         /* waiting for its turn */
#define NGX_GOV_NS_ASKED          2         /* in a begin script */
#define NGX_GOV_NS_SENDING        3
#define NGX_GOV_NS_ACKING         4
#define NGX_GOV_NS_ACK_AGAIN      5         /* delivered; the ack failed */


typedef struct ngx_gov_notifier_s  ngx_gov_notifier_t;


typedef struct {
    ngx_gov_notifier_t       *nt;
    ngx_uint_t                state;
    uint64_t                  ms;           /* the stream id, to order */
    uint64_t                  seq;
    ngx_str_t                 id;
    ngx_str_t                 app;
    ngx_str_t                 body;
    u_char                   *mem;
    ngx_uint_t                attempts;
    ngx_msec_t                due;          /* on ngx_current_msec */
} ngx_gov_notify_slot_t;


struct ngx_gov_notifier_s {
    ngx_uint_t                index;
    ngx_gov_notify_target_t  *target;
    ngx_str_t                 order;        /* PREFIX nq:URI: */
    ngx_event_t               tick;
    ngx_uint_t                busy;         /* fetches or a begin pending */
    ngx_uint_t                asked_each;   /* of each shard's stream */
    ngx_uint_t                full;         /* one had more: again soon */
    ngx_msec_t                fetch_at;
    ngx_msec_t                claimed_at;
    ngx_uint_t                used;
    ngx_uint_t                asked[NGX_GOV_NOTIFY_FETCH_MAX];
    ngx_uint_t                nasked;
    ngx_gov_notify_slot_t     slots[NGX_GOV_NOTIFY_SLOTS];
};


static char *ngx_gov_notify_add(ngx_conf_t *cf, ngx_command_t *cmd,
    ngx_gov_events_conf_t *ecf, ngx_uint_t archive);
static void ngx_gov_notify_tick(ngx_event_t *ev);
static void ngx_gov_notify_run(ngx_gov_notifier_t *nt);
static void ngx_gov_notify_args(const char **argv, size_t *argvlen,
    const char *script, size_t len, ngx_gov_notifier_t *nt, ngx_uint_t shard,
    u_char *buf);
static void ngx_gov_notify_fetch(ngx_gov_notifier_t *nt);
static void ngx_gov_notify_fetched(redisReply *reply, void *data);
static ngx_int_t ngx_gov_notify_keep(ngx_gov_notifier_t *nt,
    redisReply *e);
static json_t *ngx_gov_notify_event(redisReply *e);
static ngx_uint_t ngx_gov_notify_begin(ngx_gov_notifier_t *nt);
static void ngx_gov_notify_begun(redisReply *reply, void *data);
static void ngx_gov_notify_send(ngx_gov_notify_slot_t *s);
static ngx_int_t ngx_gov_notify_sent(ngx_http_request_t *sr, void *data,
    ngx_int_t rc);
static void ngx_gov_notify_again(ngx_gov_notify_slot_t *s);
static void ngx_gov_notify_ack(ngx_gov_notify_slot_t *s);
static void ngx_gov_notify_acked(redisReply *reply, void *data);
static void ngx_gov_notify_free(ngx_gov_notify_slot_t *s);
static ngx_uint_t ngx_gov_notify_first(ngx_gov_notifier_t *nt,
    ngx_gov_notify_slot_t *s);
static void ngx_gov_notify_stats(ngx_event_t *ev);
static void ngx_gov_notify_counted(redisReply *reply, void *data);


static ngx_gov_notifier_t  *ngx_gov_notifiers;
static ngx_uint_t           ngx_gov_nnotifiers;
static ngx_str_t            ngx_gov_notify_me;       /* HOST:PID */
static ngx_event_t          ngx_gov_notify_stats_ev;


static const char  *ngx_gov_event_types[] = {
    "submitted", "step", "correction_requested", "corrected", "withdrawn",
    "rated", "rectified", NULL
};


/*
 * ARGV: key, group, me, order, count, idle ms (0: none), " types ", and
 * the id a new group starts after: when this configuration was loaded
 */

static const char  ngx_gov_notify_fetch_lua[] =
    "local key, g, me, op, n = ARGV[1], ARGV[2], ARGV[3], ARGV[4],\n"
    "                          tonumber(ARGV[5])\n"
    "local out = {}\n"
    "local function nogroup(r)\n"
    "  if string.find(r.err, 'NOGROUP', 1, true) then\n"
    "    redis.call('XGROUP', 'CREATE', key, g, ARGV[8], 'MKSTREAM')\n"
    "    return out\n"
    "  end\n"
    "  return redis.error_reply(r.err)\n"
    "end\n"
    "if ARGV[6] ~= '0' then\n"
    "  local c = redis.pcall('XAUTOCLAIM', key, g, me, ARGV[6], '0-0',\n"
    "                        'COUNT', n)\n"
    "  if c.err then return nogroup(c) end\n"
    "  for _, e in ipairs(c[2]) do\n"
    "    if e[2] then out[#out + 1] = e end\n"
    "  end\n"
    "  n = n - #out\n"
    "end\n"
    "if n <= 0 then return out end\n"
    "local r = redis.pcall('XREADGROUP', 'GROUP', g, me, 'COUNT', n,\n"
    "                      'STREAMS', key, '>')\n"
    "if type(r) == 'table' and r.err then return nogroup(r) end\n"
    "if not r then return out end\n"
    "for _, e in ipairs(r[1][2]) do\n"
    "  local f, t, app = e[2], '', ''\n"
    "  for i = 1, #f, 2 do\n"
    "    if f[i] == 'type' then t = f[i + 1]\n"
    "    elseif f[i] == 'application' then app = f[i + 1] end\n"
    "  end\n"
    "  local skip = t == 'archived'\n"
    "  if ARGV[7] ~= '' then\n"
    "    skip = not string.find(ARGV[7], ' ' .. t .. ' ', 1, true)\n"
    "  end\n"
    "  if skip then\n"
    "    redis.call('XACK', key, g, e[1])\n"
    "  else\n"
    "    redis.call('RPUSH', op .. app, e[1])\n"
    "    out[#out + 1] = e\n"
    "  end\n"
    "end\n"
    "return out\n";


/* ARGV: key, group, me, order, then ID APP pairs: "go", "wait", "gone" */

static const char  ngx_gov_notify_begin_lua[] =
    "local key, g, me, op = ARGV[1], ARGV[2], ARGV[3], ARGV[4]\n"
    "local res = {}\n"
    "local function pending(id)\n"
    "  return #redis.call('XPENDING', key, g, id, id, 1) > 0\n"
    "end\n"
    "-- taken over by another consumer (this one looked idle): its now\n"
    "local function theirs(id)\n"
    "  local p = redis.call('XPENDING', key, g, id, id, 1)\n"
    "  return p[1] ~= nil and p[1][2] ~= me\n"
    "end\n"
    "for i = 5, #ARGV, 2 do\n"
    "  local id, list = ARGV[i], op .. ARGV[i + 1]\n"
    "  local head = redis.call('LINDEX', list, 0)\n"
    "  while head and head ~= id and not pending(head) do\n"
    "    redis.call('LPOP', list)\n"
    "    head = redis.call('LINDEX', list, 0)\n"
    "  end\n"
    "  if theirs(id) then\n"
    "    res[#res + 1] = 'gone'\n"
    "  elseif head and head ~= id then\n"
    "    -- its turn is not yet: held, and kept from looking idle\n"
    "    local c = redis.call('XCLAIM', key, g, me, 0, id, 'JUSTID')\n"
    "    res[#res + 1] = #c > 0 and 'wait' or 'gone'\n"
    "  elseif #redis.call('XCLAIM', key, g, me, 0, id, 'JUSTID') == 0 then\n"
    "    redis.call('LREM', list, 1, id)\n"
    "    res[#res + 1] = 'gone'\n"
    "  else\n"
    "    res[#res + 1] = 'go'\n"
    "  end\n"
    "end\n"
    "return res\n";


/* ARGV: key, group, me, order, id, app */

static const char  ngx_gov_notify_ack_lua[] =
    "redis.call('XACK', ARGV[1], ARGV[2], ARGV[5])\n"
    "redis.call('LREM', ARGV[4] .. ARGV[6], 1, ARGV[5])\n"
    "return 1\n";


/* ARGV: key, then the groups: {added, then pending, oldest, lag each} */

static const char  ngx_gov_notify_stats_lua[] =
    "local key = ARGV[1]\n"
    "local info = redis.pcall('XINFO', 'STREAM', key)\n"
    "if info.err then return {0} end\n"
    "local out = {0}\n"
    "for i = 1, #info, 2 do\n"
    "  if info[i] == 'entries-added' then out[1] = info[i + 1] end\n"
    "end\n"
    "local lags = {}\n"
    "for _, gi in ipairs(redis.call('XINFO', 'GROUPS', key)) do\n"
    "  local name, lag\n"
    "  for i = 1, #gi, 2 do\n"
    "    if gi[i] == 'name' then name = gi[i + 1]\n"
    "    elseif gi[i] == 'lag' then lag = gi[i + 1] end\n"
    "  end\n"
    "  if name then lags[name] = lag end\n"
    "end\n"
    "local forget = tonumber(ARGV[2])\n"
    "for k = 3, #ARGV do\n"
    "  local p = redis.pcall('XPENDING', key, ARGV[k])\n"
    "  if p.err then\n"
    "    out[#out + 1] = 0\n"
    "    out[#out + 1] = ''\n"
    "  else\n"
    "    out[#out + 1] = p[1]\n"
    "    out[#out + 1] = p[2] or ''\n"
    "    for _, c in ipairs(redis.call('XINFO', 'CONSUMERS', key, ARGV[k])) do\n"
    "      local name, n, idle\n"
    "      for i = 1, #c, 2 do\n"
    "        if c[i] == 'name' then name = c[i + 1]\n"
    "        elseif c[i] == 'pending' then n = c[i + 1]\n"
    "        elseif c[i] == 'idle' then idle = c[i + 1] end\n"
    "      end\n"
    "      if name and n == 0 and idle and idle > forget then\n"
    "        redis.call('XGROUP', 'DELCONSUMER', key, ARGV[k], name)\n"
    "      end\n"
    "    end\n"
    "  end\n"
    "  out[#out + 1] = lags[ARGV[k]] or -1\n"
    "end\n"
    "return out\n";


/* gov_notify URI [events=TYPE,...] */

char *
ngx_gov_notify_directive(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    return ngx_gov_notify_add(cf, cmd, (void *) ((char *) conf + cmd->offset),
                              0);
}


/*
 * gov_archive_notify URI: the target of the "archived" events only, whose
 * acknowledgement removes the application (ngx_gov_archive.c)
 */

char *
ngx_gov_archive_notify_directive(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf)
{
    return ngx_gov_notify_add(cf, cmd, (void *) ((char *) conf + cmd->offset),
                              1);
}


static char *
ngx_gov_notify_add(ngx_conf_t *cf, ngx_command_t *cmd,
    ngx_gov_events_conf_t *ecf, ngx_uint_t archive)
{
    u_char                   *p, *q, *end;
    ngx_str_t                *value, type;
    ngx_uint_t                i, k;
    ngx_gov_notify_target_t  *t;

    value = cf->args->elts;

    if (ngx_gov_subrequest_conf_uri(cf, cmd, &value[1], 0) != NGX_CONF_OK) {
        return NGX_CONF_ERROR;
    }

    if (ecf->notify == NULL) {
        ecf->notify = ngx_array_create(cf->pool, 4,
                                       sizeof(ngx_gov_notify_target_t));
        if (ecf->notify == NULL) {
            return NGX_CONF_ERROR;
        }
    }

    t = ecf->notify->elts;

    for (i = 0; i < ecf->notify->nelts; i++) {
        if (archive && t[i].archive) {
            return "is duplicate";
        }

        if (t[i].uri.len == value[1].len
            && ngx_strncmp(t[i].uri.data, value[1].data, value[1].len) == 0)
        {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "\"%V\" for \"%V\" is duplicate: a target is "
                               "one consumer group", &cmd->name, &value[1]);
            return NGX_CONF_ERROR;
        }
    }

    if (ecf->notify->nelts == NGX_GOV_METRICS_TARGETS) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "too many \"%V\" targets, at most %d",
                           &cmd->name, NGX_GOV_METRICS_TARGETS);
        return NGX_CONF_ERROR;
    }

    t = ngx_array_push(ecf->notify);
    if (t == NULL) {
        return NGX_CONF_ERROR;
    }

    ngx_memzero(t, sizeof(ngx_gov_notify_target_t));
    t->uri = value[1];

    if (archive) {
        t->archive = 1;
        ngx_str_set(&t->types, " archived ");
        return NGX_CONF_OK;
    }

    if (cf->args->nelts == 2) {
        return NGX_CONF_OK;
    }

    if (ngx_strncmp(value[2].data, "events=", 7) != 0 || value[2].len == 7) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid parameter \"%V\" in \"%V\": "
                           "events=TYPE,...", &value[2], &cmd->name);
        return NGX_CONF_ERROR;
    }

    /* " type type ... ": what the fetch script looks a type up in */

    t->types.data = ngx_pnalloc(cf->pool, value[2].len);
    if (t->types.data == NULL) {
        return NGX_CONF_ERROR;
    }

    q = t->types.data;
    *q++ = ' ';
    p = value[2].data + 7;
    end = value[2].data + value[2].len;

    while (p < end) {
        type.data = p;
        p = ngx_strlchr(p, end, ',');
        if (p == NULL) {
            p = end;
        }

        type.len = p - type.data;
        p++;

        for (k = 0; ngx_gov_event_types[k]; k++) {
            if (type.len == ngx_strlen(ngx_gov_event_types[k])
                && ngx_strncmp(type.data, ngx_gov_event_types[k], type.len)
                   == 0)
            {
                break;
            }
        }

        if (ngx_gov_event_types[k] == NULL) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "unknown event type \"%V\" in \"%V\": "
                               "submitted, step, correction_requested, "
                               "corrected, withdrawn, rated or rectified",
                               &type, &cmd->name);
            return NGX_CONF_ERROR;
        }

        q = ngx_cpymem(q, type.data, type.len);
        *q++ = ' ';
    }

    t->types.len = q - t->types.data;

    return NGX_CONF_OK;
}


char *
ngx_gov_notify_init_conf(ngx_conf_t *cf, ngx_http_gov_main_conf_t *gmcf)
{
    if (gmcf->events.notify == NULL) {
        return NGX_CONF_OK;
    }

    if (gmcf->events.key.len == 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"gov_notify\" needs \"gov_events\": the "
                           "targets read its stream");
        return NGX_CONF_ERROR;
    }

    if (gmcf->redis == NULL || gmcf->dispatch_ctx == NULL) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"gov_notify\" needs \"gov_redis\" and a server "
                           "with \"gov_bundles\", whose locations the "
                           "targets are");
        return NGX_CONF_ERROR;
    }

    /*
     * A target new to Redis gets the events appended from when nginx
     * loaded this configuration on (give or take the clocks of nginx and
     * Redis): none appended before it was configured, none lost while the
     * workers start.
     */

    gmcf->events.since.data = ngx_pnalloc(cf->pool, NGX_TIME_T_LEN + 5);
    if (gmcf->events.since.data == NULL) {
        return NGX_CONF_ERROR;
    }

    gmcf->events.since.len = ngx_sprintf(gmcf->events.since.data, "%T000-0",
                                         ngx_time() - 1)
                             - gmcf->events.since.data;

    return NGX_CONF_OK;
}


ngx_int_t
ngx_gov_notify_init_process(ngx_cycle_t *cycle)
{
    u_char                    *p;
    ngx_uint_t                 i, n;
    ngx_gov_notifier_t        *nt;
    ngx_gov_events_conf_t     *ecf;
    ngx_gov_notify_target_t   *t;
    ngx_http_gov_main_conf_t  *gmcf;

    gmcf = ngx_http_cycle_get_module_main_conf(cycle, ngx_http_gov_module);

    if (gmcf == NULL || gmcf->events.key.len == 0 || gmcf->redis == NULL) {
        return NGX_OK;
    }

    ecf = &gmcf->events;

    /* the figures of gov_status, even without a target */

    ngx_gov_redis_script(ngx_gov_notify_stats_lua,
                         sizeof(ngx_gov_notify_stats_lua) - 1);
    ngx_gov_redis_script(ngx_gov_notify_fetch_lua,
                         sizeof(ngx_gov_notify_fetch_lua) - 1);
    ngx_gov_redis_script(ngx_gov_notify_begin_lua,
                         sizeof(ngx_gov_notify_begin_lua) - 1);
    ngx_gov_redis_script(ngx_gov_notify_ack_lua,
                         sizeof(ngx_gov_notify_ack_lua) - 1);

    ngx_gov_notify_stats_ev.handler = ngx_gov_notify_stats;
    ngx_gov_notify_stats_ev.log = cycle->log;
    ngx_gov_notify_stats_ev.cancelable = 1;
    ngx_add_timer(&ngx_gov_notify_stats_ev, 200 + ngx_random() % 300);

    if (ecf->notify == NULL || gmcf->dispatch_ctx == NULL
        || gmcf->bundles.items.nelts == 0)
    {
        return NGX_OK;
    }

    ngx_gov_notify_me.data = ngx_pnalloc(cycle->pool,
                                         cycle->hostname.len + 1
                                         + NGX_INT_T_LEN);
    if (ngx_gov_notify_me.data == NULL) {
        return NGX_ERROR;
    }

    ngx_gov_notify_me.len = ngx_sprintf(ngx_gov_notify_me.data, "%V:%P",
                                        &cycle->hostname, ngx_pid)
                            - ngx_gov_notify_me.data;

    n = ecf->notify->nelts;
    t = ecf->notify->elts;

    ngx_gov_notifiers = ngx_pcalloc(cycle->pool,
                                    n * sizeof(ngx_gov_notifier_t));
    if (ngx_gov_notifiers == NULL) {
        return NGX_ERROR;
    }

    for (i = 0; i < n; i++) {
        nt = &ngx_gov_notifiers[i];
        nt->index = i;
        nt->target = &t[i];

        nt->order.len = gmcf->redis_prefix.len + sizeof("nq:") - 1
                        + t[i].uri.len + 1;
        nt->order.data = ngx_pnalloc(cycle->pool, nt->order.len);
        if (nt->order.data == NULL) {
            return NGX_ERROR;
        }

        p = ngx_cpymem(nt->order.data, gmcf->redis_prefix.data,
                       gmcf->redis_prefix.len);
        p = ngx_cpymem(p, "nq:", 3);
        p = ngx_cpymem(p, t[i].uri.data, t[i].uri.len);
        *p = ':';

        nt->tick.handler = ngx_gov_notify_tick;
        nt->tick.data = nt;
        nt->tick.log = cycle->log;
        nt->tick.cancelable = 1;

        ngx_add_timer(&nt->tick, 100 + ngx_random() % 400);
    }

    ngx_gov_nnotifiers = n;

    return NGX_OK;
}


void
ngx_gov_notify_exit_process(ngx_cycle_t *cycle)
{
    ngx_uint_t           i, k;
    ngx_gov_notifier_t  *nt;

    if (ngx_gov_notify_stats_ev.timer_set) {
        ngx_del_timer(&ngx_gov_notify_stats_ev);
    }

    for (i = 0; i < ngx_gov_nnotifiers; i++) {
        nt = &ngx_gov_notifiers[i];

        if (nt->tick.timer_set) {
            ngx_del_timer(&nt->tick);
        }

        /* what is held stays pending in Redis: another worker takes it */

        for (k = 0; k < NGX_GOV_NOTIFY_SLOTS; k++) {
            if (nt->slots[k].mem) {
                ngx_free(nt->slots[k].mem);
                nt->slots[k].mem = NULL;
            }
        }
    }

    ngx_gov_nnotifiers = 0;
}


static void
ngx_gov_notify_tick(ngx_event_t *ev)
{
    ngx_uint_t              k;
    ngx_gov_notifier_t     *nt;
    ngx_gov_notify_slot_t  *s;

    nt = ev->data;

    if (ngx_exiting || ngx_quit || ngx_terminate) {
        return;
    }

    ngx_add_timer(ev, NGX_GOV_NOTIFY_TICK_MS);

    if (!ngx_gov_redis_available()) {
        return;
    }

    /* delivered, but not yet acknowledged: acknowledge it again */

    for (k = 0; k < NGX_GOV_NOTIFY_SLOTS; k++) {
        s = &nt->slots[k];

        if (s->state == NGX_GOV_NS_ACK_AGAIN) {
            ngx_gov_notify_ack(s);
        }
    }

    ngx_gov_notify_run(nt);
}


/*
 * The next script of a notifier, one at a time: a begin when an event
 * may go, else a fetch when there is room and it is time.  Called by the
 * tick and whenever a reply or an acknowledgement may have made work.
 */

static void
ngx_gov_notify_run(ngx_gov_notifier_t *nt)
{
    if (nt->busy || ngx_exiting || ngx_quit || ngx_terminate
        || !ngx_gov_redis_available())
    {
        return;
    }

    if (ngx_gov_notify_begin(nt)) {
        return;
    }

    if (nt->used < NGX_GOV_NOTIFY_SLOTS
        && (ngx_msec_int_t) (ngx_current_msec - nt->fetch_at) >= 0)
    {
        ngx_gov_notify_fetch(nt);
    }
}


/*
 * The head of every script's command: EVAL, the script, the shard's stream
 * as its one key, then ARGV: the stream and, for a target's scripts, its
 * group, this consumer and its order lists' prefix (ARGV[1] to ARGV[4]);
 * what follows goes from argv[NGX_GOV_NA] (argv[NGX_GOV_NA_STATS]).  The
 * stream and the order lists of a shard share its tag ("buf" holds them).
 */

#define NGX_GOV_NA            8
#define NGX_GOV_NA_STATS      5
#define NGX_GOV_NOTIFY_KEYS   (2 * NGX_GOV_REDIS_TAG_MAX + 1024)

static void
ngx_gov_notify_args(const char **argv, size_t *argvlen, const char *script,
    size_t len, ngx_gov_notifier_t *nt, ngx_uint_t shard, u_char *buf)
{
    u_char                    *p, *last, tbuf[NGX_GOV_REDIS_TAG_MAX];
    ngx_str_t                  tag;
    ngx_http_gov_main_conf_t  *gmcf;

    gmcf = ngx_http_cycle_get_module_main_conf(ngx_cycle, ngx_http_gov_module);

    ngx_gov_redis_tag_buf(tbuf, &gmcf->redis_prefix, shard, &tag);

    p = buf;
    last = buf + NGX_GOV_NOTIFY_KEYS;

    argv[0] = "EVAL";
    argvlen[0] = 4;
    argv[1] = script;
    argvlen[1] = len;
    argv[2] = "1";
    argvlen[2] = 1;
    argv[3] = (char *) p;
    p = ngx_slprintf(p, last, "%V%V", &tag, &gmcf->events.stream);
    argvlen[3] = p - (u_char *) argv[3];
    argv[4] = argv[3];
    argvlen[4] = argvlen[3];

    if (nt == NULL) {
        return;
    }

    argv[5] = (char *) nt->target->uri.data;
    argvlen[5] = nt->target->uri.len;
    argv[6] = (char *) ngx_gov_notify_me.data;
    argvlen[6] = ngx_gov_notify_me.len;
    argv[7] = (char *) p;
    p = ngx_slprintf(p, last, "%Vnq:%V:", &tag, &nt->target->uri);
    argvlen[7] = p - (u_char *) argv[7];
}


static void
ngx_gov_notify_fetch(ngx_gov_notifier_t *nt)
{
    u_char                    count[NGX_INT_T_LEN], idle[NGX_INT_T_LEN];
    u_char                    buf[NGX_GOV_NOTIFY_KEYS];
    size_t                    argvlen[NGX_GOV_NA + 4];
    ngx_uint_t                n, s, shards;
    const char               *argv[NGX_GOV_NA + 4];
    ngx_gov_events_conf_t    *ecf;
    ngx_http_gov_main_conf_t *gmcf;

    gmcf = ngx_http_cycle_get_module_main_conf(ngx_cycle, ngx_http_gov_module);
    ecf = &gmcf->events;
    shards = ngx_gov_redis_shards();

    /* each shard's stream asked for its part of the free slots */

    n = ngx_min(NGX_GOV_NOTIFY_FETCH_MAX, NGX_GOV_NOTIFY_SLOTS - nt->used);
    n = ngx_max(n / shards, 1);

    argv[NGX_GOV_NA] = (char *) count;
    argvlen[NGX_GOV_NA] = ngx_sprintf(count, "%ui", n) - count;
    argv[NGX_GOV_NA + 1] = (char *) idle;

    /* the dead consumers' entries, looked for twice per idle time */

    if ((ngx_msec_int_t) (ngx_current_msec - nt->claimed_at)
        >= (ngx_msec_int_t) (ecf->claim_idle / 2))
    {
        nt->claimed_at = ngx_current_msec;
        argvlen[NGX_GOV_NA + 1] = ngx_sprintf(idle, "%M", ecf->claim_idle)
                                  - idle;

    } else {
        idle[0] = '0';
        argvlen[NGX_GOV_NA + 1] = 1;
    }

    argv[NGX_GOV_NA + 2] = (char *) nt->target->types.data;
    argvlen[NGX_GOV_NA + 2] = nt->target->types.len;
    argv[NGX_GOV_NA + 3] = (char *) ecf->since.data;
    argvlen[NGX_GOV_NA + 3] = ecf->since.len;

    nt->full = 0;

    for (s = 0; s < shards; s++) {
        ngx_gov_notify_args(argv, argvlen, ngx_gov_notify_fetch_lua,
                            sizeof(ngx_gov_notify_fetch_lua) - 1, nt, s, buf);

        if (ngx_gov_redis_send(ngx_cycle->log, ngx_gov_notify_fetched, nt,
                               NULL, NGX_GOV_NA + 4, argv, argvlen)
            == NGX_OK)
        {
            nt->busy++;
        }
    }

    nt->asked_each = n;
}


static void
ngx_gov_notify_fetched(redisReply *reply, void *data)
{
    ngx_gov_notifier_t  *nt = data;

    size_t  i;

    nt->busy--;

    if (reply == NULL || reply->type != REDIS_REPLY_ARRAY) {
        if (reply && reply->type == REDIS_REPLY_ERROR) {
            ngx_log_error(NGX_LOG_ERR, ngx_cycle->log, 0,
                          "gov: notify \"%V\": %*s", &nt->target->uri,
                          (size_t) ngx_min(reply->len, 200), reply->str);
        }

    } else {
        for (i = 0; i < reply->elements; i++) {
            if (ngx_gov_notify_keep(nt, reply->element[i]) != NGX_OK) {
                break;
            }
        }

        if (reply->elements >= nt->asked_each) {
            /* there is more */
            nt->full = 1;
        }
    }

    if (nt->busy) {
        /* the other shards' answers are still to come */
        return;
    }

    nt->fetch_at = ngx_current_msec
                   + (nt->full ? 0 : NGX_GOV_NOTIFY_IDLE_MS);

    ngx_gov_notify_run(nt);
}


/* an entry {id, {field, value, ...}} into a free slot */

static ngx_int_t
ngx_gov_notify_keep(ngx_gov_notifier_t *nt, redisReply *e)
{
    u_char                 *p, *dash;
    char                   *text;
    size_t                  len;
    json_t                 *ev, *app;
    ngx_uint_t              k;
    ngx_gov_notify_slot_t  *s;

    if (e->type != REDIS_REPLY_ARRAY || e->elements < 2
        || e->element[0]->type != REDIS_REPLY_STRING
        || e->element[1]->type != REDIS_REPLY_ARRAY)
    {
        return NGX_OK;
    }

    /* already held (taken over from ourselves): nothing to add */

    for (k = 0; k < NGX_GOV_NOTIFY_SLOTS; k++) {
        s = &nt->slots[k];

        if (s->state != NGX_GOV_NS_FREE && s->id.len == e->element[0]->len
            && ngx_strncmp(s->id.data, e->element[0]->str, s->id.len) == 0)
        {
            return NGX_OK;
        }
    }

    for (k = 0; k < NGX_GOV_NOTIFY_SLOTS; k++) {
        if (nt->slots[k].state == NGX_GOV_NS_FREE) {
            break;
        }
    }

    if (k == NGX_GOV_NOTIFY_SLOTS) {
        return NGX_DECLINED;
    }

    s = &nt->slots[k];

    ev = ngx_gov_notify_event(e);
    if (ev == NULL) {
        return NGX_ERROR;
    }

    app = json_object_get(ev, "application");
    text = json_dumps(ev, JSON_COMPACT);

    if (text == NULL || !json_is_string(app)) {
        free(text);
        json_decref(ev);
        return NGX_ERROR;
    }

    len = ngx_strlen(text);

    s->mem = ngx_alloc(e->element[0]->len + json_string_length(app) + len,
                       ngx_cycle->log);
    if (s->mem == NULL) {
        free(text);
        json_decref(ev);
        return NGX_ERROR;
    }

    p = s->mem;
    s->id.data = p;
    s->id.len = e->element[0]->len;
    p = ngx_cpymem(p, e->element[0]->str, s->id.len);
    s->app.data = p;
    s->app.len = json_string_length(app);
    p = ngx_cpymem(p, json_string_value(app), s->app.len);
    s->body.data = p;
    s->body.len = len;
    ngx_memcpy(p, text, len);

    free(text);
    json_decref(ev);

    dash = ngx_strlchr(s->id.data, s->id.data + s->id.len, '-');
    s->ms = ngx_atoof(s->id.data, (dash ? dash : s->id.data + s->id.len)
                                  - s->id.data);
    s->seq = dash ? ngx_atoof(dash + 1, s->id.data + s->id.len - dash - 1)
                  : 0;

    s->nt = nt;
    s->attempts = 0;
    s->due = ngx_current_msec;
    s->state = NGX_GOV_NS_READY;
    nt->used++;

    return NGX_OK;
}


/* what a target gets: the entry's fields as JSON, with its id */

static json_t *
ngx_gov_notify_event(redisReply *e)
{
    size_t       i;
    json_t      *ev, *items, *v;
    ngx_int_t    n;
    redisReply  *f, *name, *value;
    const char  *p, *end, *comma;

    f = e->element[1];

    ev = json_object();
    if (ev == NULL) {
        return NULL;
    }

    json_object_set_new(ev, "id", json_stringn(e->element[0]->str,
                                               e->element[0]->len));

    for (i = 0; i + 1 < f->elements; i += 2) {
        name = f->element[i];
        value = f->element[i + 1];

        if (name->type != REDIS_REPLY_STRING
            || value->type != REDIS_REPLY_STRING)
        {
            continue;
        }

        if (ngx_strcmp(name->str, "at") == 0
            || ngx_strcmp(name->str, "score") == 0)
        {
            n = ngx_atoi((u_char *) value->str, value->len);
            json_object_set_new(ev, name->str, n == NGX_ERROR
                                ? json_stringn(value->str, value->len)
                                : json_integer(n));
            continue;
        }

        if (ngx_strcmp(name->str, "document") == 0) {
            /* an archived event's record, JSON as the sweep wrote it */
            v = json_loadb(value->str, value->len, 0, NULL);
            json_object_set_new(ev, name->str, v ? v
                                : json_stringn(value->str, value->len));
            continue;
        }

        if (ngx_strcmp(name->str, "items") == 0) {
            items = json_array();
            p = value->str;
            end = value->str + value->len;

            while (p < end) {
                comma = (const char *) ngx_strlchr((u_char *) p,
                                                   (u_char *) end, ',');
                if (comma == NULL) {
                    comma = end;
                }

                json_array_append_new(items, json_stringn(p, comma - p));
                p = comma + 1;
            }

            json_object_set_new(ev, "items", items);
            continue;
        }

        json_object_set_new(ev, name->str, json_stringn(value->str,
                                                        value->len));
    }

    return ev;
}


/*
 * The slots whose turn it may be (due, and the first of their application
 * among those held here) asked about in one script; 1 when it was sent.
 */

static ngx_uint_t
ngx_gov_notify_begin(ngx_gov_notifier_t *nt)
{
    u_char                     buf[NGX_GOV_NOTIFY_KEYS];
    size_t                     argvlen[NGX_GOV_NA
                                       + 2 * NGX_GOV_NOTIFY_FETCH_MAX];
    ngx_uint_t                 k, n, shard;
    const char                *argv[NGX_GOV_NA
                                    + 2 * NGX_GOV_NOTIFY_FETCH_MAX];
    ngx_gov_notify_slot_t     *s;

    if (nt->busy) {
        return 0;
    }

    n = 0;
    shard = 0;

    for (k = 0; k < NGX_GOV_NOTIFY_SLOTS && n < NGX_GOV_NOTIFY_FETCH_MAX; k++)
    {
        s = &nt->slots[k];

        if (s->state != NGX_GOV_NS_READY
            || (ngx_msec_int_t) (ngx_current_msec - s->due) < 0
            || !ngx_gov_notify_first(nt, s))
        {
            continue;
        }

        /* one script, one shard: the others go next time */

        if (n == 0) {
            shard = ngx_gov_redis_id_shard(&s->app);

        } else if (ngx_gov_redis_id_shard(&s->app) != shard) {
            continue;
        }

        argv[NGX_GOV_NA + 2 * n] = (char *) s->id.data;
        argvlen[NGX_GOV_NA + 2 * n] = s->id.len;
        argv[NGX_GOV_NA + 1 + 2 * n] = (char *) s->app.data;
        argvlen[NGX_GOV_NA + 1 + 2 * n] = s->app.len;
        nt->asked[n++] = k;
    }

    if (n == 0) {
        return 0;
    }

    ngx_gov_notify_args(argv, argvlen, ngx_gov_notify_begin_lua,
                        sizeof(ngx_gov_notify_begin_lua) - 1, nt, shard, buf);

    if (ngx_gov_redis_send(ngx_cycle->log, ngx_gov_notify_begun, nt, NULL,
                           (int) (NGX_GOV_NA + 2 * n), argv, argvlen)
        != NGX_OK)
    {
        return 0;
    }

    for (k = 0; k < n; k++) {
        nt->slots[nt->asked[k]].state = NGX_GOV_NS_ASKED;
    }

    nt->nasked = n;
    nt->busy = 1;

    return 1;
}


/* no slot held here of the same application comes before "s" */

static ngx_uint_t
ngx_gov_notify_first(ngx_gov_notifier_t *nt, ngx_gov_notify_slot_t *s)
{
    ngx_uint_t              k;
    ngx_gov_notify_slot_t  *o;

    for (k = 0; k < NGX_GOV_NOTIFY_SLOTS; k++) {
        o = &nt->slots[k];

        if (o == s || o->state == NGX_GOV_NS_FREE
            || o->app.len != s->app.len
            || ngx_strncmp(o->app.data, s->app.data, s->app.len) != 0)
        {
            continue;
        }

        if (o->ms < s->ms || (o->ms == s->ms && o->seq < s->seq)) {
            return 0;
        }
    }

    return 1;
}


static void
ngx_gov_notify_begun(redisReply *reply, void *data)
{
    ngx_gov_notifier_t  *nt = data;

    ngx_uint_t              k;
    redisReply             *v;
    ngx_gov_notify_slot_t  *s;

    nt->busy = 0;

    for (k = 0; k < nt->nasked; k++) {
        s = &nt->slots[nt->asked[k]];

        if (s->state != NGX_GOV_NS_ASKED) {
            continue;
        }

        s->state = NGX_GOV_NS_READY;

        if (reply == NULL || reply->type != REDIS_REPLY_ARRAY
            || k >= reply->elements)
        {
            continue;
        }

        v = reply->element[k];

        if (v->type != REDIS_REPLY_STRING) {
            continue;
        }

        if (ngx_strcmp(v->str, "go") == 0) {
            if (ngx_exiting || ngx_quit || ngx_terminate) {
                continue;
            }

            ngx_gov_notify_send(s);

        } else if (ngx_strcmp(v->str, "gone") == 0) {
            /* acknowledged or taken over by another worker, trimmed */
            ngx_gov_notify_free(s);

        } else {
            /* an earlier event of its application is still on its way */
            s->due = ngx_current_msec + NGX_GOV_NOTIFY_TICK_MS;
        }
    }

    nt->nasked = 0;

    if (reply && reply->type == REDIS_REPLY_ERROR) {
        ngx_log_error(NGX_LOG_ERR, ngx_cycle->log, 0,
                      "gov: notify \"%V\": %*s", &nt->target->uri,
                      (size_t) ngx_min(reply->len, 200), reply->str);
        return;
    }

    /* while these are on their way, the next ones are fetched */
    ngx_gov_notify_run(nt);
}


static void
ngx_gov_notify_send(ngx_gov_notify_slot_t *s)
{
    ngx_str_t                    value;
    const char                  *name;
    ngx_http_request_t          *r;
    ngx_http_post_subrequest_t  *ps;

    r = ngx_gov_fake_request((ngx_cycle_t *) ngx_cycle);
    if (r == NULL) {
        ngx_gov_notify_again(s);
        return;
    }

    r->connection->log->action = "notifying a target of an event";

    ps = ngx_palloc(r->pool, sizeof(ngx_http_post_subrequest_t));
    if (ps == NULL) {
        ngx_gov_fake_request_free(r);
        ngx_gov_notify_again(s);
        return;
    }

    ps->handler = ngx_gov_notify_sent;
    ps->data = s;

    name = "X-Gov-Event-Id";
    value = s->id;

    if (ngx_gov_subrequest(r, &s->nt->target->uri, NULL, "application/json",
                           &s->body, &name, &value, 1, ps, NULL)
        != NGX_OK)
    {
        ngx_gov_fake_request_free(r);
        ngx_gov_notify_again(s);
        return;
    }

    s->state = NGX_GOV_NS_SENDING;

    ngx_http_run_posted_requests(r->connection);

    ngx_gov_fake_request_free(r);
}


static ngx_int_t
ngx_gov_notify_sent(ngx_http_request_t *sr, void *data, ngx_int_t rc)
{
    ngx_gov_notify_slot_t  *s = data;

    u_char      more_buf[NGX_GOV_BREAKER_MORE_LEN];
    ngx_str_t   more;
    ngx_uint_t  status;

    if (s->state != NGX_GOV_NS_SENDING) {
        return rc;
    }

    status = sr->headers_out.status;

    if (rc == NGX_ERROR || (rc >= NGX_HTTP_SPECIAL_RESPONSE && status < 300))
    {
        status = rc > 0 ? (ngx_uint_t) rc : 0;
    }

    if (status >= 200 && status < 300) {
        ngx_gov_metrics_target(NGX_GOV_MT_DELIVERED, s->nt->index);
        ngx_gov_notify_ack(s);
        return rc;
    }

    if (ngx_gov_subrequest_say(more_buf, &more)) {
        ngx_log_error(NGX_LOG_WARN, sr->connection->log, 0,
                      "gov: \"%V\" did not take event %V (status %ui), "
                      "will retry%V", &s->nt->target->uri, &s->id, status,
                      &more);
    }

    ngx_gov_notify_again(s);

    return rc;
}


static void
ngx_gov_notify_again(ngx_gov_notify_slot_t *s)
{
    ngx_msec_t                 cap;
    ngx_http_gov_main_conf_t  *gmcf;

    gmcf = ngx_http_cycle_get_module_main_conf(ngx_cycle, ngx_http_gov_module);

    /* under half the idle time: no one else takes it meanwhile */
    cap = ngx_min(NGX_GOV_NOTIFY_CAP_MS, gmcf->events.claim_idle / 2);

    s->due = ngx_current_msec
             + (ngx_msec_t) gov_backoff_delay(s->attempts,
                                              NGX_GOV_NOTIFY_BASE_MS,
                                              ngx_max(cap, 1),
                                              (uint32_t) ngx_random());
    s->attempts++;
    s->state = NGX_GOV_NS_READY;

    ngx_gov_metrics_target(NGX_GOV_MT_RETRIED, s->nt->index);
}


static void
ngx_gov_notify_ack(ngx_gov_notify_slot_t *s)
{
    u_char                     buf[NGX_GOV_NOTIFY_KEYS];
    size_t                     argvlen[NGX_GOV_NA + 2];
    const char                *argv[NGX_GOV_NA + 2];

    ngx_gov_notify_args(argv, argvlen, ngx_gov_notify_ack_lua,
                        sizeof(ngx_gov_notify_ack_lua) - 1, s->nt,
                        ngx_gov_redis_id_shard(&s->app), buf);

    if (s->nt->target->archive) {
        /* acknowledged, and the application out of Redis, in one step */
        argv[1] = ngx_gov_archive_ack_script(&argvlen[1]);
    }

    argv[NGX_GOV_NA] = (char *) s->id.data;
    argvlen[NGX_GOV_NA] = s->id.len;
    argv[NGX_GOV_NA + 1] = (char *) s->app.data;
    argvlen[NGX_GOV_NA + 1] = s->app.len;

    s->state = NGX_GOV_NS_ACKING;

    if (ngx_gov_redis_send(ngx_cycle->log, ngx_gov_notify_acked, s, NULL,
                           NGX_GOV_NA + 2, argv, argvlen)
        != NGX_OK)
    {
        s->state = NGX_GOV_NS_ACK_AGAIN;
    }
}


static void
ngx_gov_notify_acked(redisReply *reply, void *data)
{
    ngx_gov_notify_slot_t  *s = data;

    ngx_gov_notifier_t  *nt;

    if (s->state != NGX_GOV_NS_ACKING) {
        return;
    }

    if (reply == NULL || reply->type != REDIS_REPLY_INTEGER) {
        /* delivered: told again on the next tick */
        s->state = NGX_GOV_NS_ACK_AGAIN;
        return;
    }

    if (s->nt->target->archive && reply->integer == 1) {
        ngx_gov_metrics_inc(NGX_GOV_M_ARCHIVED);
    }

    nt = s->nt;
    ngx_gov_notify_free(s);

    /* the application's next event may go now, or more be fetched */
    ngx_gov_notify_run(nt);
}


static void
ngx_gov_notify_free(ngx_gov_notify_slot_t *s)
{
    ngx_free(s->mem);
    s->mem = NULL;
    s->state = NGX_GOV_NS_FREE;
    s->nt->used--;
}


/* the figures, summed over the shards' streams */

static ngx_uint_t  ngx_gov_notify_waiting;
static ngx_uint_t  ngx_gov_notify_failed;
static int64_t     ngx_gov_notify_added;
static int64_t     ngx_gov_notify_pending[NGX_GOV_METRICS_TARGETS];
static int64_t     ngx_gov_notify_oldest[NGX_GOV_METRICS_TARGETS];
static int64_t     ngx_gov_notify_lag[NGX_GOV_METRICS_TARGETS];


static void
ngx_gov_notify_stats(ngx_event_t *ev)
{
    u_char                     forget[NGX_INT_T_LEN];
    u_char                     buf[NGX_GOV_NOTIFY_KEYS];
    size_t                     argvlen[NGX_GOV_NA_STATS + 1
                                       + NGX_GOV_METRICS_TARGETS];
    ngx_uint_t                 i, n, s, shards;
    const char                *argv[NGX_GOV_NA_STATS + 1
                                    + NGX_GOV_METRICS_TARGETS];
    ngx_gov_events_conf_t     *ecf;
    ngx_gov_notify_target_t   *t;
    ngx_http_gov_main_conf_t  *gmcf;

    if (ngx_exiting || ngx_quit || ngx_terminate) {
        return;
    }

    ngx_add_timer(ev, NGX_GOV_NOTIFY_STATS_MS);

    if (!ngx_gov_redis_available() || ngx_gov_notify_waiting) {
        return;
    }

    gmcf = ngx_http_cycle_get_module_main_conf(ngx_cycle, ngx_http_gov_module);
    ecf = &gmcf->events;
    shards = ngx_gov_redis_shards();

    /*
     * Consumers with nothing pending that were given nothing for this
     * long (workers gone: each worker of each start is a consumer) are
     * forgotten.  A live worker with nothing to read looks the same (Redis
     * 7.0 refreshes "idle" only on delivery); the next event it reads
     * makes it a consumer again, and nothing pending means nothing lost.
     */

    argv[NGX_GOV_NA_STATS] = (char *) forget;
    argvlen[NGX_GOV_NA_STATS] = ngx_sprintf(forget, "%M",
                                            ecf->claim_idle
                                            * NGX_GOV_NOTIFY_FORGET)
                                - forget;

    n = ecf->notify ? ngx_min(ecf->notify->nelts, NGX_GOV_METRICS_TARGETS)
                    : 0;
    t = ecf->notify ? ecf->notify->elts : NULL;

    for (i = 0; i < n; i++) {
        argv[NGX_GOV_NA_STATS + 1 + i] = (char *) t[i].uri.data;
        argvlen[NGX_GOV_NA_STATS + 1 + i] = t[i].uri.len;
    }

    ngx_gov_notify_failed = 0;
    ngx_gov_notify_added = 0;

    for (i = 0; i < NGX_GOV_METRICS_TARGETS; i++) {
        ngx_gov_notify_pending[i] = 0;
        ngx_gov_notify_oldest[i] = 0;
        ngx_gov_notify_lag[i] = 0;
    }

    for (s = 0; s < shards; s++) {
        ngx_gov_notify_args(argv, argvlen, ngx_gov_notify_stats_lua,
                            sizeof(ngx_gov_notify_stats_lua) - 1, NULL, s,
                            buf);

        if (ngx_gov_redis_send(ev->log, ngx_gov_notify_counted, NULL, NULL,
                               (int) (NGX_GOV_NA_STATS + 1 + n), argv,
                               argvlen)
            == NGX_OK)
        {
            ngx_gov_notify_waiting++;
        }
    }
}


static void
ngx_gov_notify_counted(redisReply *reply, void *data)
{
    u_char      *dash;
    int64_t      now, oldest;
    ngx_uint_t   i;
    redisReply  *e, *pending, *min, *lag;
    ngx_time_t  *tp;

    ngx_gov_notify_waiting--;

    if (reply == NULL || reply->type != REDIS_REPLY_ARRAY
        || reply->elements == 0)
    {
        ngx_gov_notify_failed = 1;
        goto last;
    }

    e = reply->element[0];

    if (e->type == REDIS_REPLY_INTEGER) {
        ngx_gov_notify_added += e->integer;
    }

    tp = ngx_timeofday();
    now = (int64_t) tp->sec * 1000 + tp->msec;

    for (i = 0; 1 + 3 * i + 2 < reply->elements
                && i < NGX_GOV_METRICS_TARGETS; i++)
    {
        pending = reply->element[1 + 3 * i];
        min = reply->element[2 + 3 * i];
        lag = reply->element[3 + 3 * i];

        if (pending->type == REDIS_REPLY_INTEGER) {
            ngx_gov_notify_pending[i] += pending->integer;
        }

        oldest = 0;

        dash = (min->type == REDIS_REPLY_STRING)
               ? ngx_strlchr((u_char *) min->str,
                             (u_char *) min->str + min->len, '-')
               : NULL;

        if (dash) {
            /* the id's first part: when it was appended, in ms */
            oldest = now - (int64_t) ngx_atoof((u_char *) min->str,
                                               dash - (u_char *) min->str);
        }

        if (oldest > ngx_gov_notify_oldest[i]) {
            ngx_gov_notify_oldest[i] = oldest;
        }

        if (lag->type == REDIS_REPLY_INTEGER && lag->integer > 0) {
            ngx_gov_notify_lag[i] += lag->integer;
        }
    }

last:

    if (ngx_gov_notify_waiting || ngx_gov_notify_failed) {
        return;
    }

    ngx_gov_metrics_events_set((ngx_atomic_uint_t) ngx_gov_notify_added);

    for (i = 0; i < NGX_GOV_METRICS_TARGETS; i++) {
        ngx_gov_metrics_target_set(NGX_GOV_MT_PENDING, i,
                                   (ngx_atomic_uint_t)
                                   ngx_gov_notify_pending[i]);
        ngx_gov_metrics_target_set(NGX_GOV_MT_OLDEST_MS, i,
                                   (ngx_atomic_uint_t)
                                   ngx_gov_notify_oldest[i]);
        ngx_gov_metrics_target_set(NGX_GOV_MT_LAG, i,
                                   (ngx_atomic_uint_t) ngx_gov_notify_lag[i]);
    }
}
