
/*
 * Copyright (C) ngx_gov_module authors
 */


/*
 * The waiting room (智能排队, CONTRACT section 11): gov_queue_zone and
 * gov_queue.  A visitor with a valid pass (a cookie signed with the zone's
 * key, checked here without Redis) goes on at once.  Anyone else is decided
 * by one script in Redis, shared by every worker of every node: admissions
 * are counted out at "rate" from Redis's own clock (a bucket of credit that
 * refills with time, so no node has to tick and there is no leader), and
 * while others wait, a newcomer takes a numbered ticket and waits its turn
 * (FIFO).  Turns elapse in real time whether or not anybody looks: the
 * credit grows up to one turn per waiting ticket (plus a second's worth),
 * so the turns of visitors who left pass by themselves; an empty line
 * keeps a second's worth, no burst after a quiet hour.  Credit releases the tickets at the head of the line; a released
 * visitor is let in the next time its page looks again.  A ticket not seen
 * for a minute is dropped wherever it stands, so it holds nobody back; a
 * released ticket nobody claims within 15 s gives its credit back.
 * Redis down: visitors pass, and are counted.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include <openssl/rand.h>

#include "ngx_gov_metrics.h"
#include "ngx_gov_redis.h"
#include "ngx_gov_answer.h"
#include "ngx_gov_page.h"
#include "ngx_gov_access.h"
#include "ngx_gov_queue.h"
#include "gov_queue.h"


#define NGX_GOV_QUEUE_IDLE_MS     60000
#define NGX_GOV_QUEUE_CLAIM_MS    15000
#define NGX_GOV_QUEUE_TICKET_TTL  3600
#define NGX_GOV_QUEUE_FULL_RETRY  60

#define NGX_GOV_QUEUE_KEY         0
#define NGX_GOV_QUEUE_ENTER       1
#define NGX_GOV_QUEUE_POLL        2


typedef struct {
    ngx_http_request_t       *request;
    ngx_gov_queue_t          *queue;
    ngx_str_t                 cookie;       /* the visitor's, if any */
} ngx_gov_queue_ctx_t;


static ngx_gov_queue_t *ngx_gov_queue_find(ngx_http_gov_main_conf_t *gmcf,
    ngx_str_t *name);
static ngx_int_t ngx_gov_queue_time(ngx_conf_t *cf, ngx_gov_queue_t *q,
    ngx_str_t *arg, size_t skip, const char *what, time_t *out);
static ngx_int_t ngx_gov_queue_handler(ngx_http_request_t *r);
static ngx_int_t ngx_gov_queue_ask(ngx_http_request_t *r,
    ngx_gov_queue_t *q, ngx_str_t *cookie, ngx_uint_t mode);
static void ngx_gov_queue_decided(redisReply *reply, void *data);
static void ngx_gov_queue_pass(ngx_http_request_t *r);
static ngx_int_t ngx_gov_queue_cookie(ngx_http_request_t *r,
    ngx_gov_queue_t *q, u_char *value, size_t len, time_t max_age);
static ngx_int_t ngx_gov_queue_answer(ngx_http_request_t *r,
    ngx_gov_queue_t *q, ngx_int_t position, ngx_int_t eta, ngx_uint_t full);
static ngx_uint_t ngx_gov_queue_integer(redisReply *reply);
static void ngx_gov_queue_learn(ngx_event_t *ev);
static ngx_int_t ngx_gov_queue_send(ngx_log_t *log, ngx_http_request_t *r,
    ngx_gov_redis_handler_pt handler, void *data, const char **argv,
    size_t *argvlen, ngx_str_t *zone);
static void ngx_gov_queue_learnt(redisReply *reply, void *data);


static ngx_event_t  ngx_gov_queue_key_ev;


/*
 * ARGV: prefix, zone, mode (key, enter, poll), rate (admissions per
 * 1000 s), idle ms, max_wait s (0: none), a key should the zone have none,
 * the ticket shown (number, token), a new ticket's token, how long a
 * released ticket waits to be claimed (ms: longer than the waiting page's
 * longest refresh; then it is dropped and its credit given back).  Returns
 * {kind, key, waiting, dropped, number, token, position, eta}, kind one of
 * key, pass, wait, new (a ticket just given) and full.  The zone's keys
 * share a hash tag.
 */

static const char  ngx_gov_queue_lua[] =
    "local p, zone, mode = ARGV[1], ARGV[2], ARGV[3]\n"
    "local rate = tonumber(ARGV[4]) / 1000\n"
    "local idle, maxwait = tonumber(ARGV[5]), tonumber(ARGV[6])\n"
    "local z = p .. 'queue:{' .. zone .. '}:'\n"
    "local key = redis.call('HGET', z .. 's', 'key')\n"
    "if not key then\n"
    "  key = ARGV[7]\n"
    "  redis.call('HSET', z .. 's', 'key', key)\n"
    "end\n"
    "if mode == 'key' then return {'key', key, 0, 0, '', '', 0, 0} end\n"
    "local t = redis.call('TIME')\n"
    "local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)\n"
    "local s = redis.call('HMGET', z .. 's', 'credit', 'at', 'seq')\n"
    "local burst = math.max(1, rate)\n"
    "local credit = tonumber(s[1]) or burst\n"
    "local at = tonumber(s[2]) or now\n"
    "local seq = tonumber(s[3]) or 0\n"
    "-- turns elapse with time, looked at or not: one for each waiting\n"
    "-- ticket and a second's worth more (an empty line: a second's worth)\n"
    "if now > at then\n"
    "  credit = math.min(burst + redis.call('ZCARD', z .. 'order'),\n"
    "                    credit + rate * (now - at) / 1000)\n"
    "  at = now\n"
    "end\n"
    "local dropped = 0\n"
    "local function drop(n)\n"
    "  redis.call('ZREM', z .. 'order', n)\n"
    "  if redis.call('ZREM', z .. 'rel', n) == 1 then\n"
    "    credit = credit + 1\n"
    "  end\n"
    "  redis.call('ZREM', z .. 'seen', n)\n"
    "  redis.call('HDEL', z .. 'tok', n)\n"
    "  dropped = dropped + 1\n"
    "end\n"
    "for _, n in ipairs(redis.call('ZRANGEBYSCORE', z .. 'seen', '-inf',\n"
    "                              now - idle, 'LIMIT', 0, 256)) do\n"
    "  drop(n)\n"
    "end\n"
    "for _, n in ipairs(redis.call('ZRANGEBYSCORE', z .. 'rel', '-inf',\n"
    "                              now - tonumber(ARGV[11]),\n"
    "                              'LIMIT', 0, 256)) do\n"
    "  drop(n)\n"
    "end\n"
    "local k = math.floor(credit)\n"
    "if k >= 1 then\n"
    "  local head = redis.call('ZRANGE', z .. 'order', 0, k - 1)\n"
    "  for _, n in ipairs(head) do\n"
    "    redis.call('ZREM', z .. 'order', n)\n"
    "    redis.call('ZADD', z .. 'rel', now, n)\n"
    "  end\n"
    "  credit = credit - #head\n"
    "end\n"
    "local function eta(pos)\n"
    "  return math.max(1, math.ceil((pos - credit) / rate))\n"
    "end\n"
    "local r\n"
    "local num = ARGV[8]\n"
    "if mode == 'poll' and num ~= ''\n"
    "   and redis.call('HGET', z .. 'tok', num) == ARGV[9] then\n"
    "  if redis.call('ZSCORE', z .. 'rel', num) then\n"
    "    redis.call('ZREM', z .. 'rel', num)\n"
    "    redis.call('ZREM', z .. 'seen', num)\n"
    "    redis.call('HDEL', z .. 'tok', num)\n"
    "    r = {'pass', key}\n"
    "  else\n"
    "    local rank = redis.call('ZRANK', z .. 'order', num)\n"
    "    if rank then\n"
    "      redis.call('ZADD', z .. 'seen', now, num)\n"
    "      r = {'wait', key, num, ARGV[9], rank + 1, eta(rank + 1)}\n"
    "    end\n"
    "  end\n"
    "end\n"
    "if not r then\n"
    "  local waiting = redis.call('ZCARD', z .. 'order')\n"
    "  if waiting == 0 and credit >= 1 then\n"
    "    credit = credit - 1\n"
    "    r = {'pass', key}\n"
    "  elseif maxwait > 0 and eta(waiting + 1) > maxwait then\n"
    "    r = {'full', key, '', '', waiting + 1, eta(waiting + 1)}\n"
    "  else\n"
    "    seq = seq + 1\n"
    "    num = tostring(seq)\n"
    "    redis.call('ZADD', z .. 'order', seq, num)\n"
    "    redis.call('ZADD', z .. 'seen', now, num)\n"
    "    redis.call('HSET', z .. 'tok', num, ARGV[10])\n"
    "    r = {'new', key, num, ARGV[10], waiting + 1, eta(waiting + 1)}\n"
    "  end\n"
    "end\n"
    "redis.call('HSET', z .. 's', 'credit', tostring(credit),\n"
    "           'at', tostring(at), 'seq', tostring(seq))\n"
    "return {r[1], r[2], redis.call('ZCARD', z .. 'order'), dropped,\n"
    "        r[3] or '', r[4] or '', r[5] or 0, r[6] or 0}\n";


/* gov_queue_zone NAME rate=N/s|N/m [session=TIME] [max_wait=TIME] */

char *
ngx_gov_queue_zone_directive(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_gov_main_conf_t *gmcf = conf;

    u_char            *p;
    ngx_int_t          n, scale;
    ngx_str_t         *value, s;
    ngx_uint_t         i;
    ngx_gov_queue_t   *q, **qp;

    value = cf->args->elts;

    if (value[1].len == 0 || value[1].len > 32) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "gov_queue_zone name \"%V\" must be 1 to 32 "
                           "characters", &value[1]);
        return NGX_CONF_ERROR;
    }

    for (i = 0; i < value[1].len; i++) {
        p = &value[1].data[i];

        if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z')
              || (*p >= '0' && *p <= '9') || *p == '_' || *p == '-'))
        {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "gov_queue_zone name \"%V\" may hold only "
                               "letters, digits, \"_\" and \"-\"", &value[1]);
            return NGX_CONF_ERROR;
        }
    }

    if (gmcf->queues == NULL) {
        gmcf->queues = ngx_array_create(cf->pool, 2,
                                        sizeof(ngx_gov_queue_t *));
        if (gmcf->queues == NULL) {
            return NGX_CONF_ERROR;
        }
    }

    if (ngx_gov_queue_find(gmcf, &value[1])) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "gov_queue_zone \"%V\" is already defined",
                           &value[1]);
        return NGX_CONF_ERROR;
    }

    if (gmcf->queues->nelts >= NGX_GOV_METRICS_QUEUES) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "at most %d gov_queue_zone may be defined",
                           NGX_GOV_METRICS_QUEUES);
        return NGX_CONF_ERROR;
    }

    q = ngx_pcalloc(cf->pool, sizeof(ngx_gov_queue_t));
    if (q == NULL) {
        return NGX_CONF_ERROR;
    }

    q->name = value[1];
    q->index = gmcf->queues->nelts;
    q->session = 600;

    q->cookie.len = sizeof("GOVQ_") - 1 + value[1].len;
    q->cookie.data = ngx_pnalloc(cf->pool, q->cookie.len);
    if (q->cookie.data == NULL) {
        return NGX_CONF_ERROR;
    }

    ngx_memcpy(ngx_cpymem(q->cookie.data, "GOVQ_", 5), value[1].data,
               value[1].len);

    for (i = 2; i < cf->args->nelts; i++) {

        if (ngx_strncmp(value[i].data, "rate=", 5) == 0) {
            s.data = value[i].data + 5;
            s.len = value[i].len - 5;

            if (s.len > 2 && ngx_strncmp(s.data + s.len - 2, "/s", 2) == 0) {
                scale = 1;

            } else if (s.len > 2
                       && ngx_strncmp(s.data + s.len - 2, "/m", 2) == 0)
            {
                scale = 60;

            } else {
                goto invalid_rate;
            }

            n = ngx_atoi(s.data, s.len - 2);
            if (n <= 0 || n > 1000000) {
                goto invalid_rate;
            }

            q->rate = (ngx_uint_t) (n * 1000 / scale);

            if (q->rate == 0) {
                goto invalid_rate;
            }

            continue;
        }

        if (ngx_strncmp(value[i].data, "session=", 8) == 0) {
            if (ngx_gov_queue_time(cf, q, &value[i], 8, "session time",
                                   &q->session)
                != NGX_OK)
            {
                return NGX_CONF_ERROR;
            }

            continue;
        }

        if (ngx_strncmp(value[i].data, "max_wait=", 9) == 0) {
            if (ngx_gov_queue_time(cf, q, &value[i], 9, "max_wait",
                                   &q->max_wait)
                != NGX_OK)
            {
                return NGX_CONF_ERROR;
            }

            continue;
        }

        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid parameter \"%V\" of gov_queue_zone",
                           &value[i]);
        return NGX_CONF_ERROR;
    }

    if (q->rate == 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "gov_queue_zone \"%V\" needs \"rate=N/s\"",
                           &q->name);
        return NGX_CONF_ERROR;
    }

    qp = ngx_array_push(gmcf->queues);
    if (qp == NULL) {
        return NGX_CONF_ERROR;
    }

    *qp = q;

    return NGX_CONF_OK;

invalid_rate:

    ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                       "invalid rate \"%V\" of gov_queue_zone \"%V\": "
                       "a number of visitors per second (\"N/s\") or per "
                       "minute (\"N/m\")", &value[i], &value[1]);
    return NGX_CONF_ERROR;
}


/* "NAME=TIME", at least a second */

static ngx_int_t
ngx_gov_queue_time(ngx_conf_t *cf, ngx_gov_queue_t *q, ngx_str_t *arg,
    size_t skip, const char *what, time_t *out)
{
    ngx_str_t  s;

    s.data = arg->data + skip;
    s.len = arg->len - skip;

    *out = ngx_parse_time(&s, 1);

    if (*out == (time_t) NGX_ERROR || *out < 1) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid %s \"%V\" of gov_queue_zone \"%V\"",
                           what, &s, &q->name);
        return NGX_ERROR;
    }

    return NGX_OK;
}


static ngx_gov_queue_t *
ngx_gov_queue_find(ngx_http_gov_main_conf_t *gmcf, ngx_str_t *name)
{
    ngx_uint_t         i;
    ngx_gov_queue_t  **qp;

    if (gmcf->queues == NULL) {
        return NULL;
    }

    qp = gmcf->queues->elts;

    for (i = 0; i < gmcf->queues->nelts; i++) {
        if (qp[i]->name.len == name->len
            && ngx_strncmp(qp[i]->name.data, name->data, name->len) == 0)
        {
            return qp[i];
        }
    }

    return NULL;
}


/* gov_queue NAME | off */

char *
ngx_gov_queue_directive(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_gov_loc_conf_t *glcf = conf;

    ngx_str_t                 *value;
    ngx_http_gov_main_conf_t  *gmcf;

    if (glcf->queue != NGX_CONF_UNSET_PTR) {
        return "is duplicate";
    }

    value = cf->args->elts;

    if (value[1].len == 3 && ngx_strncmp(value[1].data, "off", 3) == 0) {
        glcf->queue = NULL;
        return NGX_CONF_OK;
    }

    gmcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_gov_module);

    glcf->queue = ngx_gov_queue_find(gmcf, &value[1]);
    if (glcf->queue) {
        return NGX_CONF_OK;
    }

    ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                       "unknown waiting room \"%V\": no gov_queue_zone of "
                       "that name before this line", &value[1]);
    return NGX_CONF_ERROR;
}


void
ngx_gov_queue_init_loc_conf(void *conf)
{
    ngx_http_gov_loc_conf_t *glcf = conf;

    glcf->queue = NGX_CONF_UNSET_PTR;
}


void
ngx_gov_queue_merge_loc_conf(void *parent, void *child)
{
    ngx_http_gov_loc_conf_t *prev = parent;
    ngx_http_gov_loc_conf_t *conf = child;

    ngx_conf_merge_ptr_value(conf->queue, prev->queue, NULL);
}


ngx_int_t
ngx_gov_queue_postconfiguration(ngx_conf_t *cf)
{
    ngx_http_handler_pt        *h;
    ngx_http_core_main_conf_t  *cmcf;
    ngx_http_gov_main_conf_t   *gmcf;

    gmcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_gov_module);

    if (gmcf->queues == NULL || gmcf->queues->nelts == 0) {
        return NGX_OK;
    }

    if (gmcf->redis == NULL) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "gov_queue_zone needs gov_redis: the line is "
                           "shared by every node through Redis");
        return NGX_ERROR;
    }

    cmcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_core_module);

    /* before access: a visitor waits before logging in */

    h = ngx_array_push(&cmcf->phases[NGX_HTTP_PREACCESS_PHASE].handlers);
    if (h == NULL) {
        return NGX_ERROR;
    }

    *h = ngx_gov_queue_handler;

    return NGX_OK;
}


/*
 * Every worker learns the zones' keys as soon as Redis answers, so that a
 * pass is checked without Redis from the first request on.
 */

ngx_int_t
ngx_gov_queue_init_process(ngx_cycle_t *cycle)
{
    ngx_http_gov_main_conf_t  *gmcf;

    gmcf = ngx_http_cycle_get_module_main_conf(cycle, ngx_http_gov_module);

    if (gmcf == NULL || gmcf->redis == NULL || gmcf->queues == NULL) {
        return NGX_OK;
    }

    /* one script per decision: sent whole once a connection, then by SHA */

    ngx_gov_redis_script(ngx_gov_queue_lua, sizeof(ngx_gov_queue_lua) - 1);

    ngx_gov_queue_key_ev.handler = ngx_gov_queue_learn;
    ngx_gov_queue_key_ev.log = cycle->log;
    ngx_gov_queue_key_ev.data = gmcf;
    ngx_gov_queue_key_ev.cancelable = 1;

    ngx_add_timer(&ngx_gov_queue_key_ev, 10);

    return NGX_OK;
}


void
ngx_gov_queue_exit_process(ngx_cycle_t *cycle)
{
    if (ngx_gov_queue_key_ev.timer_set) {
        ngx_del_timer(&ngx_gov_queue_key_ev);
    }
}


static void
ngx_gov_queue_learn(ngx_event_t *ev)
{
    u_char                     random[16], key[32];
    size_t                     argvlen[14];
    ngx_uint_t                 i, missing;
    const char                *argv[14];
    ngx_gov_queue_t          **qp;
    ngx_http_gov_main_conf_t  *gmcf;

    gmcf = ev->data;
    qp = gmcf->queues->elts;
    missing = 0;

    for (i = 0; i < gmcf->queues->nelts; i++) {
        if (qp[i]->key_len) {
            continue;
        }

        missing = 1;

        if (!ngx_gov_redis_available()
            || RAND_bytes(random, sizeof(random)) != 1)
        {
            continue;
        }

        ngx_hex_dump(key, random, sizeof(random));

        argv[0] = "EVAL";
        argvlen[0] = 4;
        argv[1] = ngx_gov_queue_lua;
        argvlen[1] = sizeof(ngx_gov_queue_lua) - 1;
        argv[2] = "0";
        argvlen[2] = 1;
        argv[3] = (char *) gmcf->redis_prefix.data;
        argvlen[3] = gmcf->redis_prefix.len;
        argv[4] = (char *) qp[i]->name.data;
        argvlen[4] = qp[i]->name.len;
        argv[5] = "key";
        argvlen[5] = 3;

        /* the rest is not looked at for a key */

        argv[6] = argv[7] = argv[8] = argv[13] = "1";
        argvlen[6] = argvlen[7] = argvlen[8] = argvlen[13] = 1;
        argv[9] = (char *) key;
        argvlen[9] = sizeof(key);
        argv[10] = argv[11] = argv[12] = "";
        argvlen[10] = argvlen[11] = argvlen[12] = 0;

        (void) ngx_gov_queue_send(ev->log, NULL, ngx_gov_queue_learnt, qp[i],
                                  argv, argvlen, &qp[i]->name);
    }

    if (missing && !ngx_exiting && !ngx_quit && !ngx_terminate) {
        ngx_add_timer(ev, 250);
    }
}


static void
ngx_gov_queue_learnt(redisReply *reply, void *data)
{
    ngx_gov_queue_t *q = data;

    if (reply && reply->type == REDIS_REPLY_ARRAY && reply->elements == 8
        && reply->element[1]->type == REDIS_REPLY_STRING
        && reply->element[1]->len > 0
        && reply->element[1]->len <= sizeof(q->key))
    {
        ngx_memcpy(q->key, reply->element[1]->str, reply->element[1]->len);
        q->key_len = reply->element[1]->len;
    }
}


static ngx_int_t
ngx_gov_queue_handler(ngx_http_request_t *r)
{
    ngx_str_t                 cookie;
    ngx_int_t                 rc;
    ngx_uint_t                mode;
    ngx_gov_queue_t          *q;
    ngx_http_gov_loc_conf_t  *glcf;

    glcf = ngx_http_get_module_loc_conf(r, ngx_http_gov_module);
    q = glcf->queue;

    /* the visitor was let in once: its redirects and subrequests go on */

    if (q == NULL || r != r->main || r->internal) {
        return NGX_DECLINED;
    }

    mode = NGX_GOV_QUEUE_ENTER;

    if (ngx_http_gov_get_cookie(r, &q->cookie, &cookie) != NGX_OK) {
        cookie.len = 0;
    }

    if (cookie.len > 1 && cookie.data[0] == 'p') {
        if (q->key_len == 0) {
            /* this worker has not learnt the zone's key yet */
            mode = NGX_GOV_QUEUE_KEY;

        } else if (gov_queue_pass_ok(q->key, q->key_len,
                                     (char *) q->name.data, q->name.len,
                                     (char *) cookie.data, cookie.len,
                                     (long long) ngx_time()))
        {
            return NGX_DECLINED;
        }

    } else if (cookie.len > 1 && cookie.data[0] == 't') {
        mode = NGX_GOV_QUEUE_POLL;
    }

    rc = ngx_gov_queue_ask(r, q, &cookie, mode);

    if (rc == NGX_DECLINED) {
        /* Redis cannot decide: the visitor passes, counted */
        ngx_gov_metrics_queue(NGX_GOV_MQ_UNCHECKED, q->index, 1);
        return NGX_DECLINED;
    }

    if (rc != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return NGX_AGAIN;
}


static ngx_int_t
ngx_gov_queue_ask(ngx_http_request_t *r, ngx_gov_queue_t *q,
    ngx_str_t *cookie, ngx_uint_t mode)
{
    u_char                     rate[NGX_INT_T_LEN], idle[NGX_INT_T_LEN];
    u_char                     max[NGX_TIME_T_LEN], random[32];
    u_char                     key[64], token[GOV_QUEUE_TOKEN_LEN];
    u_char                     claim[NGX_INT_T_LEN];
    size_t                     argvlen[14];
    long long                  num;
    const char                *argv[14], *shown;
    ngx_gov_queue_ctx_t       *ctx;
    ngx_http_gov_main_conf_t  *gmcf;

    static const char  *modes[] = { "key", "enter", "poll" };

    gmcf = ngx_http_get_module_main_conf(r, ngx_http_gov_module);

    ctx = ngx_pcalloc(r->pool, sizeof(ngx_gov_queue_ctx_t));
    if (ctx == NULL) {
        return NGX_ERROR;
    }

    ctx->request = r;
    ctx->queue = q;
    ctx->cookie = *cookie;

    if (RAND_bytes(random, sizeof(random)) != 1) {
        return NGX_ERROR;
    }

    /* a key should the zone have none yet, and a new ticket's token */

    ngx_hex_dump(key, random, 32);
    ngx_hex_dump(token, random + 16, 16);

    argv[0] = "EVAL";
    argvlen[0] = 4;
    argv[1] = ngx_gov_queue_lua;
    argvlen[1] = sizeof(ngx_gov_queue_lua) - 1;
    argv[2] = "0";
    argvlen[2] = 1;
    argv[3] = (char *) gmcf->redis_prefix.data;
    argvlen[3] = gmcf->redis_prefix.len;
    argv[4] = (char *) q->name.data;
    argvlen[4] = q->name.len;
    argv[5] = modes[mode];
    argvlen[5] = ngx_strlen(modes[mode]);
    argv[6] = (char *) rate;
    argvlen[6] = ngx_sprintf(rate, "%ui", q->rate) - rate;
    argv[7] = (char *) idle;
    argvlen[7] = ngx_sprintf(idle, "%d", NGX_GOV_QUEUE_IDLE_MS) - idle;
    argv[8] = (char *) max;
    argvlen[8] = ngx_sprintf(max, "%T", q->max_wait) - max;
    argv[9] = (char *) key;
    argvlen[9] = 32;
    argv[10] = "";
    argvlen[10] = 0;
    argv[11] = "";
    argvlen[11] = 0;
    argv[12] = (char *) token;
    argvlen[12] = GOV_QUEUE_TOKEN_LEN;
    argv[13] = (char *) claim;
    argvlen[13] = ngx_sprintf(claim, "%d", NGX_GOV_QUEUE_CLAIM_MS) - claim;

    if (mode == NGX_GOV_QUEUE_POLL
        && gov_queue_ticket((char *) cookie->data, cookie->len, &num, &shown))
    {
        /* "t.NUMBER.TOKEN": the number, then the token */
        argv[10] = (char *) cookie->data + 2;
        argvlen[10] = (u_char *) shown - cookie->data - 3;
        argv[11] = shown;
        argvlen[11] = GOV_QUEUE_TOKEN_LEN;
    }

    return ngx_gov_queue_send(r->connection->log, r, ngx_gov_queue_decided,
                              ctx, argv, argvlen, &q->name);
}


/*
 * The room's script with the keys it touches declared: a room's keys
 * share the hash tag {ZONE}, one slot per room in a cluster.
 */

static ngx_int_t
ngx_gov_queue_send(ngx_log_t *log, ngx_http_request_t *r,
    ngx_gov_redis_handler_pt handler, void *data, const char **argv,
    size_t *argvlen, ngx_str_t *zone)
{
    u_char                    *p, *last, buf[1024];
    size_t                     len[19];
    ngx_uint_t                 i;
    const char                *args[19];
    ngx_http_gov_main_conf_t  *gmcf;

    static const char  *kinds[] = { "s", "order", "rel", "seen", "tok" };

    gmcf = ngx_http_cycle_get_module_main_conf(ngx_cycle, ngx_http_gov_module);

    args[0] = argv[0];
    len[0] = argvlen[0];
    args[1] = argv[1];
    len[1] = argvlen[1];
    args[2] = "5";
    len[2] = 1;

    p = buf;
    last = buf + sizeof(buf);

    for (i = 0; i < 5; i++) {
        args[3 + i] = (char *) p;
        p = ngx_slprintf(p, last, "%Vqueue:{%V}:%s", &gmcf->redis_prefix,
                         zone, kinds[i]);
        len[3 + i] = p - (u_char *) args[3 + i];
    }

    if (p == last) {
        return NGX_ERROR;
    }

    for (i = 3; i < 14; i++) {
        args[5 + i] = argv[i];
        len[5 + i] = argvlen[i];
    }

    /* formatted at once: the stack may go when this returns */

    if (r) {
        return ngx_http_gov_redis_send(r, handler, data, 19, args, len);
    }

    return ngx_gov_redis_send(log, handler, data, NULL, 19, args, len);
}


static ngx_uint_t
ngx_gov_queue_integer(redisReply *reply)
{
    return (reply->type == REDIS_REPLY_INTEGER && reply->integer > 0)
           ? (ngx_uint_t) reply->integer : 0;
}


static void
ngx_gov_queue_decided(redisReply *reply, void *data)
{
    ngx_gov_queue_ctx_t *ctx = data;

    u_char               *cookie, pass[GOV_QUEUE_PASS_MAX];
    size_t                len;
    time_t                expires;
    ngx_int_t             rc;
    ngx_str_t             kind;
    ngx_uint_t            waiting;
    redisReply          **e;
    ngx_connection_t     *c;
    ngx_gov_queue_t      *q;
    ngx_http_request_t   *r;

    r = ctx->request;
    c = r->connection;
    q = ctx->queue;

    if (reply == NULL || reply->type != REDIS_REPLY_ARRAY
        || reply->elements != 8
        || reply->element[0]->type != REDIS_REPLY_STRING
        || reply->element[1]->type != REDIS_REPLY_STRING
        || reply->element[1]->len == 0
        || reply->element[1]->len > sizeof(q->key)
        || reply->element[4]->type != REDIS_REPLY_STRING
        || reply->element[5]->type != REDIS_REPLY_STRING)
    {
        if (reply && reply->type == REDIS_REPLY_ERROR) {
            ngx_log_error(NGX_LOG_ERR, c->log, 0,
                          "gov: waiting room \"%V\": %*s", &q->name,
                          (size_t) ngx_min(reply->len, 200), reply->str);
        }

        /* Redis cannot decide: the visitor passes, counted */
        ngx_gov_metrics_queue(NGX_GOV_MQ_UNCHECKED, q->index, 1);
        ngx_gov_queue_pass(r);
        return;
    }

    e = reply->element;
    kind.data = (u_char *) e[0]->str;
    kind.len = e[0]->len;

    /* the zone's key, as every node has it */

    ngx_memcpy(q->key, e[1]->str, e[1]->len);
    q->key_len = e[1]->len;

    if (kind.len == 3 && ngx_strncmp(kind.data, "key", 3) == 0) {

        if (gov_queue_pass_ok(q->key, q->key_len, (char *) q->name.data,
                              q->name.len, (char *) ctx->cookie.data,
                              ctx->cookie.len, (long long) ngx_time()))
        {
            ngx_gov_queue_pass(r);
            return;
        }

        /* a forged or expired pass: a ticket, as for anybody */

        ctx->cookie.len = 0;

        rc = ngx_gov_queue_ask(r, q, &ctx->cookie, NGX_GOV_QUEUE_ENTER);
        if (rc != NGX_OK) {
            ngx_gov_metrics_queue(NGX_GOV_MQ_UNCHECKED, q->index, 1);
            ngx_gov_queue_pass(r);
        }

        return;
    }

    waiting = ngx_gov_queue_integer(e[2]);

    ngx_gov_metrics_queue_set(NGX_GOV_MQ_WAITING, q->index, waiting);
    ngx_gov_metrics_queue_set(NGX_GOV_MQ_WAIT, q->index,
                              (waiting * 1000 + q->rate - 1) / q->rate);
    ngx_gov_metrics_queue(NGX_GOV_MQ_DROPPED, q->index,
                          ngx_gov_queue_integer(e[3]));

    if (kind.len == 4 && ngx_strncmp(kind.data, "pass", 4) == 0) {
        ngx_gov_metrics_queue(NGX_GOV_MQ_ADMITTED, q->index, 1);

        expires = ngx_time() + q->session;
        len = gov_queue_pass(q->key, q->key_len, (char *) q->name.data,
                             q->name.len, (long long) expires, (char *) pass);

        if (len == 0
            || ngx_gov_queue_cookie(r, q, pass, len, q->session) != NGX_OK)
        {
            ngx_http_finalize_request(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
            ngx_http_run_posted_requests(c);
            return;
        }

        ngx_gov_queue_pass(r);
        return;
    }

    if (kind.len == 4 && ngx_strncmp(kind.data, "full", 4) == 0) {
        ngx_gov_metrics_queue(NGX_GOV_MQ_FULL, q->index, 1);

        rc = ngx_gov_queue_answer(r, q, ngx_gov_queue_integer(e[6]),
                                  ngx_gov_queue_integer(e[7]), 1);
        goto done;
    }

    if (kind.len == 3 && ngx_strncmp(kind.data, "new", 3) == 0) {
        ngx_gov_metrics_queue(NGX_GOV_MQ_TICKETS, q->index, 1);
    }

    /* "t.NUMBER.TOKEN", kept while the visitor waits */

    len = 2 + e[4]->len + 1 + e[5]->len;

    cookie = ngx_pnalloc(r->pool, len);
    if (cookie == NULL) {
        rc = NGX_HTTP_INTERNAL_SERVER_ERROR;
        goto done;
    }

    ngx_sprintf(cookie, "t.%*s.%*s", (size_t) e[4]->len, e[4]->str,
                (size_t) e[5]->len, e[5]->str);

    if (ngx_gov_queue_cookie(r, q, cookie, len, NGX_GOV_QUEUE_TICKET_TTL)
        != NGX_OK)
    {
        rc = NGX_HTTP_INTERNAL_SERVER_ERROR;
        goto done;
    }

    rc = ngx_gov_queue_answer(r, q, ngx_gov_queue_integer(e[6]),
                              ngx_gov_queue_integer(e[7]), 0);

done:

    ngx_http_finalize_request(r, rc);
    ngx_http_run_posted_requests(c);
}


/* on to the next handler of the phase, as if the handler had declined */

static void
ngx_gov_queue_pass(ngx_http_request_t *r)
{
    ngx_connection_t  *c;

    c = r->connection;

    r->phase_handler++;
    ngx_http_core_run_phases(r);
    ngx_http_run_posted_requests(c);
}


static ngx_int_t
ngx_gov_queue_cookie(ngx_http_request_t *r, ngx_gov_queue_t *q,
    u_char *value, size_t len, time_t max_age)
{
    ngx_str_t  v;

    v.len = q->cookie.len + 1 + len
            + sizeof("; Path=/; Max-Age=; HttpOnly; SameSite=Lax; Secure")
            + NGX_TIME_T_LEN;
    v.data = ngx_pnalloc(r->pool, v.len);
    if (v.data == NULL) {
        return NGX_ERROR;
    }

    v.len = ngx_sprintf(v.data, "%V=%*s; Path=/; Max-Age=%T; HttpOnly; "
                        "SameSite=Lax%s", &q->cookie, len, value, max_age,
#if (NGX_HTTP_SSL)
                        r->connection->ssl ? "; Secure" :
#endif
                        "")
            - v.data;

    return ngx_http_gov_add_header(r, &r->headers_out.headers, "Set-Cookie",
                                   &v);
}


/*
 * A visitor who waits: a browser gets the waiting page (200; 503 when the
 * line is full), which looks again by itself; any other client 429
 * {"position","eta"} (503 {"error":"queue_full","eta"}) with Retry-After.
 */

static ngx_int_t
ngx_gov_queue_answer(ngx_http_request_t *r, ngx_gov_queue_t *q,
    ngx_int_t position, ngx_int_t eta, ngx_uint_t full)
{
    u_char     *p;
    json_t     *data;
    ngx_str_t   v, uri;
    ngx_int_t   rc, refresh;

    static ngx_str_t  no_store = ngx_string("no-store");

    rc = ngx_http_discard_request_body(r);
    if (rc != NGX_OK) {
        return rc;
    }

    refresh = full ? NGX_GOV_QUEUE_FULL_RETRY
                   : (ngx_int_t) gov_queue_refresh((long long) eta);

    p = ngx_pnalloc(r->pool, NGX_INT_T_LEN);
    if (p == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    v.data = p;
    v.len = ngx_sprintf(p, "%i", refresh) - p;

    if (ngx_http_gov_add_header(r, &r->headers_out.headers, "Retry-After",
                                &v)
        != NGX_OK
        || ngx_http_gov_add_header(r, &r->headers_out.headers,
                                   "Cache-Control", &no_store)
           != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (ngx_http_gov_wants_html(r)) {
        uri = r->unparsed_uri;

        data = json_pack("{s:s,s:I,s:I,s:I,s:I,s:b,s:s%}",
                         "title", full ? "排队人数已满" : "排队等候",
                         "position", (json_int_t) position,
                         "eta", (json_int_t) eta,
                         "eta_minutes", (json_int_t) ((eta + 59) / 60),
                         "refresh", (json_int_t) refresh,
                         "full", (int) full,
                         "uri", uri.data, uri.len);

        if (data && eta < 60) {
            (void) json_object_set_new(data, "soon", json_true());
        }

        rc = ngx_http_gov_page(r, full ? NGX_HTTP_SERVICE_UNAVAILABLE
                                       : NGX_HTTP_OK, "queue", data);
        if (rc != NGX_DECLINED) {
            return rc;
        }
    }

    if (full) {
        data = json_pack("{s:s,s:I}", "error", "queue_full",
                         "eta", (json_int_t) eta);
        return ngx_http_gov_json_answer(r, NGX_HTTP_SERVICE_UNAVAILABLE,
                                        data);
    }

    data = json_pack("{s:I,s:I}", "position", (json_int_t) position,
                     "eta", (json_int_t) eta);

    return ngx_http_gov_json_answer(r, NGX_HTTP_TOO_MANY_REQUESTS, data);
}
