
/*
 * Copyright (C) ngx_gov_module authors
 */


/*
 * The outbox of changes (CONTRACT section 10).  A change and its event
 * are one Redis script: each script that changes an application is sent
 * with gov_event() defined before it, which appends to the stream
 *
 *     type application bundle at subject [item [from to]] [KEY VALUE]
 *
 * ("at" in ms of Redis's clock, "subject" masked as on a shared page)
 * and trims it to about "maxlen" entries.  Without gov_events the
 * function does nothing, and the scripts are what they were.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_gov_redis.h"
#include "ngx_gov_tally.h"
#include "ngx_gov_events.h"
#include "gov_date.h"


#define NGX_GOV_EVENTS_SCRIPTS  16


typedef struct {
    const char               *body;
    char                     *full;
    size_t                    len;
} ngx_gov_events_script_t;


static ngx_uint_t ngx_gov_events_safe(ngx_str_t *s);


static const char  ngx_gov_events_off_lua[] =
    "local function gov_event() end\n"
    "local function gov_now() end\n";

static const char  ngx_gov_events_on_lua[] =
    "local GOV_EV_KEY, GOV_EV_MAX = GOV_P .. '%V', '%ui'\n"
    "local GOV_KEEP_F, GOV_KEEP_W = %M, %M\n"
    /* the change's time as the node that makes it sees it (ms), which
     * the retention sweep compares with its own: gov_now() */
    "local GOV_NOW_MS\n"
    "local function gov_now(ms) GOV_NOW_MS = tonumber(ms) end\n"
    /* gov_retention: an application every step of which is final is
     * (again) due to leave "keep" after this change; an archived event
     * in flight is for a document no longer the last */
    "local function gov_keep(akey, id, ms)\n"
    "  local fin = GOV_P .. 'final'\n"
    "  redis.call('HDEL', akey, 'archiving')\n"
    "  local w, n = false, 0\n"
    "  for _, raw in ipairs(redis.call('HVALS', GOV_P .. 'steps:' .. id)) do\n"
    "    local t = cjson.decode(raw).state\n"
    "    n = n + 1\n"
    "    if t == 'withdrawn' then w = true\n"
    "    elseif t ~= 'approved' and t ~= 'delivered' and t ~= 'denied'\n"
    "           and t ~= 'refused' then\n"
    "      n = 0\n"
    "      break\n"
    "    end\n"
    "  end\n"
    "  if n == 0 or redis.call('EXISTS', akey) == 0 then\n"
    "    redis.call('ZREM', fin, id)\n"
    "  else\n"
    "    redis.call('ZADD', fin, ms + (w and GOV_KEEP_W or GOV_KEEP_F), id)\n"
    "  end\n"
    "end\n"
    "local function gov_event(akey, id, typ, item, from, to, k, v)\n"
    "  local a = redis.call('HMGET', akey, 'bundle', 'subject')\n"
    "  local b, s = a[1], a[2] or ''\n"
    "  if not b then\n"
    "    local d = redis.call('HGET', akey, 'doc')\n"
    "    b = d and cjson.decode(d).bundle or ''\n"
    "  end\n"
    "  local n = #s\n"
    "  if n > 8 then\n"
    "    s = string.sub(s, 1, 4) .. string.rep('*', n - 8)\n"
    "        .. string.sub(s, -4)\n"
    "  else\n"
    "    s = string.rep('*', n)\n"
    "  end\n"
    "  local t = redis.call('TIME')\n"
    "  local at = t[1] .. string.format('%%03d', math.floor(t[2] / 1000))\n"
    "  local x\n"
    "  if to then\n"
    "    x = redis.call('XADD', GOV_EV_KEY, 'MAXLEN', '~', GOV_EV_MAX, '*',\n"
    "               'type', typ, 'application', id, 'bundle', b, 'at', at,\n"
    "               'subject', s, 'item', item, 'from', from, 'to', to)\n"
    "  elseif item then\n"
    "    x = redis.call('XADD', GOV_EV_KEY, 'MAXLEN', '~', GOV_EV_MAX, '*',\n"
    "               'type', typ, 'application', id, 'bundle', b, 'at', at,\n"
    "               'subject', s, 'item', item)\n"
    "  elseif k then\n"
    "    x = redis.call('XADD', GOV_EV_KEY, 'MAXLEN', '~', GOV_EV_MAX, '*',\n"
    "               'type', typ, 'application', id, 'bundle', b, 'at', at,\n"
    "               'subject', s, k, v)\n"
    "  else\n"
    "    x = redis.call('XADD', GOV_EV_KEY, 'MAXLEN', '~', GOV_EV_MAX, '*',\n"
    "               'type', typ, 'application', id, 'bundle', b, 'at', at,\n"
    "               'subject', s)\n"
    "  end\n"
    "  if GOV_KEEP_F > 0 and typ ~= 'archived' then\n"
    "    gov_keep(akey, id, GOV_NOW_MS or tonumber(at))\n"
    "  end\n"
    "  return x\n"
    "end\n";


/* gov_events [stream=NAME] [maxlen=N] */

char *
ngx_gov_events_directive(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_gov_events_conf_t  *ecf = (void *) ((char *) conf + cmd->offset);

    ngx_int_t   n;
    ngx_str_t  *value;
    ngx_uint_t  i;

    if (ecf->stream.data) {
        return "is duplicate";
    }

    value = cf->args->elts;
    ngx_str_set(&ecf->stream, "events");
    ecf->maxlen = 1000000;

    for (i = 1; i < cf->args->nelts; i++) {

        if (ngx_strncmp(value[i].data, "stream=", 7) == 0) {
            ecf->stream.data = value[i].data + 7;
            ecf->stream.len = value[i].len - 7;

            if (ecf->stream.len == 0 || !ngx_gov_events_safe(&ecf->stream)) {
                ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                                   "invalid stream name \"%V\" in \"%V\": "
                                   "letters, digits and \":_.-\" only",
                                   &ecf->stream, &cmd->name);
                return NGX_CONF_ERROR;
            }

            continue;
        }

        if (ngx_strncmp(value[i].data, "maxlen=", 7) == 0) {
            n = ngx_atoi(value[i].data + 7, value[i].len - 7);

            if (n < 1) {
                ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                                   "invalid \"%V\" in \"%V\": a number of "
                                   "entries, at least 1", &value[i],
                                   &cmd->name);
                return NGX_CONF_ERROR;
            }

            ecf->maxlen = n;
            continue;
        }

        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid parameter \"%V\" in \"%V\": "
                           "stream=NAME or maxlen=N", &value[i], &cmd->name);
        return NGX_CONF_ERROR;
    }

    return NGX_CONF_OK;
}


void
ngx_gov_events_create_conf(ngx_gov_events_conf_t *ecf)
{
    /*
     * set by ngx_pcalloc():
     *
     *     ecf->stream = { 0, NULL };
     *     ecf->key = { 0, NULL };
     *     ecf->notify = NULL;
     */

    ecf->claim_idle = NGX_CONF_UNSET_MSEC;
}


char *
ngx_gov_events_init_conf(ngx_conf_t *cf, ngx_gov_events_conf_t *ecf,
    ngx_str_t *prefix)
{
    ngx_conf_init_msec_value(ecf->claim_idle, 60000);

    if (ecf->stream.len == 0) {
        return NGX_CONF_OK;
    }

    if (!ngx_gov_events_safe(prefix)) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"gov_events\" needs a key prefix of letters, "
                           "digits and \":_.-\" only, not \"%V\"", prefix);
        return NGX_CONF_ERROR;
    }

    ecf->key.len = prefix->len + ecf->stream.len;
    ecf->key.data = ngx_pnalloc(cf->pool, ecf->key.len);
    if (ecf->key.data == NULL) {
        return NGX_CONF_ERROR;
    }

    ngx_memcpy(ngx_cpymem(ecf->key.data, prefix->data, prefix->len),
               ecf->stream.data, ecf->stream.len);

    return NGX_CONF_OK;
}


/* what may stand inside a Lua string literal and a Redis key, as is */

static ngx_uint_t
ngx_gov_events_safe(ngx_str_t *s)
{
    u_char      c;
    ngx_uint_t  i;

    for (i = 0; i < s->len; i++) {
        c = s->data[i];

        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')
              || (c >= '0' && c <= '9') || c == ':' || c == '_' || c == '.'
              || c == '-'))
        {
            return 0;
        }
    }

    return 1;
}


const char *
ngx_gov_events_script(const char *body, size_t len, size_t *out_len)
{
    u_char                    *p, *last;
    size_t                     size;
    ngx_uint_t                 i;
    ngx_gov_events_conf_t     *ecf;
    ngx_http_gov_main_conf_t  *gmcf;

    static ngx_uint_t               n;
    static ngx_gov_events_script_t  cache[NGX_GOV_EVENTS_SCRIPTS];

    for (i = 0; i < n; i++) {
        if (cache[i].body == body) {
            *out_len = cache[i].len;
            return cache[i].full;
        }
    }

    gmcf = ngx_http_cycle_get_module_main_conf(ngx_cycle, ngx_http_gov_module);
    ecf = &gmcf->events;

    size = sizeof(ngx_gov_events_on_lua) + ecf->key.len + 3 * NGX_INT_T_LEN
           + sizeof(ngx_gov_events_off_lua)
           + ngx_gov_tally_lua_size(&gmcf->redis_prefix) + len;

    p = ngx_pnalloc(ngx_cycle->pool, size);
    if (p == NULL || n == NGX_GOV_EVENTS_SCRIPTS) {
        /* Redis refuses the script: the change is not made */
        ngx_log_error(NGX_LOG_ALERT, ngx_cycle->log, 0,
                      "gov: no room for a script with its events");
        *out_len = len;
        return body;
    }

    last = ngx_gov_tally_lua(p, &gmcf->redis_prefix);
    last = ecf->key.len
           ? ngx_snprintf(last, size - (last - p), ngx_gov_events_on_lua,
                          &ecf->stream, ecf->maxlen, ecf->keep_finished,
                          ecf->keep_withdrawn)
           : ngx_cpymem(last, ngx_gov_events_off_lua,
                        sizeof(ngx_gov_events_off_lua) - 1);
    last = ngx_cpymem(last, body, len);

    cache[n].body = body;
    cache[n].full = (char *) p;
    cache[n].len = last - p;

    ngx_gov_redis_script(cache[n].full, cache[n].len);

    *out_len = cache[n].len;

    return cache[n++].full;
}


ngx_int_t
ngx_gov_events_cmd(ngx_pool_t *pool, const char **argv, size_t *argvlen,
    const char *body, size_t len, ngx_str_t *prefix, ngx_str_t *id,
    ngx_str_t *tag)
{
    if (ngx_gov_redis_id_tag(pool, prefix, id, tag) != NGX_OK) {
        return NGX_ERROR;
    }

    argv[0] = "EVAL";
    argvlen[0] = 4;
    argv[1] = ngx_gov_events_script(body, len, &argvlen[1]);
    argv[2] = "0";
    argvlen[2] = 1;
    argv[3] = (char *) tag->data;
    argvlen[3] = tag->len;
    argv[4] = (char *) id->data;
    argvlen[4] = id->len;

    return NGX_OK;
}

ngx_uint_t
ngx_gov_events_keys(u_char *buf, ngx_str_t *tag, ngx_str_t *id,
    const char *spec, ngx_str_t *keys, ngx_uint_t max)
{
    int                        y, m, d;
    u_char                    *p, *last, *s, *e, *pct, tm[8];
    ngx_uint_t                 n, stats, two;
    ngx_gov_events_conf_t     *ecf;
    ngx_http_gov_main_conf_t  *gmcf;

    gmcf = ngx_http_cycle_get_module_main_conf(ngx_cycle, ngx_http_gov_module);
    ecf = &gmcf->events;

    p = buf;
    last = buf + NGX_GOV_EVENTS_KEYS_BUF;
    s = (u_char *) spec;
    n = 0;

    /* the month the scripts' clock names (ngx_gov_tally_clock()) */
    gov_civil_from_day(gov_day(ngx_time()), &y, &m, &d);
    (void) ngx_sprintf(tm, "%04d-%02d", y, m);

    while (*s) {
        while (*s == ' ') {
            s++;
        }

        for (e = s; *e && *e != ' '; e++) { /* void */ }

        if (e == s) {
            break;
        }

        stats = (e - s == 5 && ngx_strncmp(s, "stats", 5) == 0);
        two = stats || (e - s == 6 && ngx_strncmp(s, "events", 6) == 0);

        if (n + 1 + two > max
            || last - p < (ssize_t) (2 * (tag->len + 64)
                                     + (id ? id->len : 0) + ecf->stream.len))
        {
            return 0;
        }

        keys[n].data = p;

        if (stats) {
            p = ngx_sprintf(p, "%Vstats:%*s", tag, (size_t) 7, tm);
            keys[n].len = p - keys[n].data;
            n++;

            keys[n].data = p;
            p = ngx_sprintf(p, "%Vstats:%*s", tag, (size_t) 4, tm);

        } else if (e - s == 6 && ngx_strncmp(s, "events", 6) == 0) {
            p = ecf->stream.len ? ngx_sprintf(p, "%V%V", tag, &ecf->stream)
                                : ngx_sprintf(p, "%Vevents", tag);
            keys[n].len = p - keys[n].data;
            n++;

            /* what gov_event() keeps for gov_retention */
            keys[n].data = p;
            p = ngx_sprintf(p, "%Vfinal", tag);

        } else {
            pct = ngx_strlchr(s, e, '%');

            if (pct && id) {
                p = ngx_sprintf(p, "%V%*s%V%*s", tag, (size_t) (pct - s), s,
                                id, (size_t) (e - pct - 1), pct + 1);

            } else {
                p = ngx_sprintf(p, "%V%*s", tag, (size_t) (e - s), s);
            }
        }

        keys[n].len = p - keys[n].data;
        n++;
        s = e;
    }

    return n;
}


ngx_int_t
ngx_gov_events_eval_keys(ngx_pool_t *pool, ngx_str_t *tag, ngx_str_t *id,
    const char *spec, const char **up, size_t *uplen, ngx_uint_t nup,
    ngx_gov_redis_args_t *cmd)
{
    u_char      *buf;
    ngx_str_t   *keys;
    ngx_uint_t   i, n;

    buf = ngx_pnalloc(pool, NGX_GOV_EVENTS_KEYS_BUF);
    keys = ngx_palloc(pool, (32 + nup) * sizeof(ngx_str_t));

    if (buf == NULL || keys == NULL) {
        return NGX_ERROR;
    }

    n = ngx_gov_events_keys(buf, tag, id, spec, keys, 32);
    if (n == 0) {
        return NGX_ERROR;
    }

    for (i = 0; i < nup; i++) {
        if (ngx_gov_redis_keyf(pool, &keys[n++], "%Vup:%*s", tag, uplen[i],
                               up[i])
            != NGX_OK)
        {
            return NGX_ERROR;
        }
    }

    return ngx_gov_redis_eval_keys(pool, &cmd->argc, &cmd->argv,
                                   (size_t **) &cmd->argvlen, n, keys);
}
