
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


#define NGX_GOV_EVENTS_SCRIPTS  16


typedef struct {
    const char               *body;
    char                     *full;
    size_t                    len;
} ngx_gov_events_script_t;


static ngx_uint_t ngx_gov_events_safe(ngx_str_t *s);


static const char  ngx_gov_events_off_lua[] =
    "local function gov_event() end\n";

static const char  ngx_gov_events_on_lua[] =
    "local GOV_EV_KEY, GOV_EV_MAX = '%V', '%ui'\n"
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
    "  if to then\n"
    "    redis.call('XADD', GOV_EV_KEY, 'MAXLEN', '~', GOV_EV_MAX, '*',\n"
    "               'type', typ, 'application', id, 'bundle', b, 'at', at,\n"
    "               'subject', s, 'item', item, 'from', from, 'to', to)\n"
    "  elseif item then\n"
    "    redis.call('XADD', GOV_EV_KEY, 'MAXLEN', '~', GOV_EV_MAX, '*',\n"
    "               'type', typ, 'application', id, 'bundle', b, 'at', at,\n"
    "               'subject', s, 'item', item)\n"
    "  elseif k then\n"
    "    redis.call('XADD', GOV_EV_KEY, 'MAXLEN', '~', GOV_EV_MAX, '*',\n"
    "               'type', typ, 'application', id, 'bundle', b, 'at', at,\n"
    "               'subject', s, k, v)\n"
    "  else\n"
    "    redis.call('XADD', GOV_EV_KEY, 'MAXLEN', '~', GOV_EV_MAX, '*',\n"
    "               'type', typ, 'application', id, 'bundle', b, 'at', at,\n"
    "               'subject', s)\n"
    "  end\n"
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

    size = sizeof(ngx_gov_events_on_lua) + ecf->key.len + NGX_INT_T_LEN
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

    last = ecf->key.len
           ? ngx_snprintf(p, size, ngx_gov_events_on_lua, &ecf->key,
                          ecf->maxlen)
           : ngx_cpymem(p, ngx_gov_events_off_lua,
                        sizeof(ngx_gov_events_off_lua) - 1);
    last = ngx_gov_tally_lua(last, &gmcf->redis_prefix);
    last = ngx_cpymem(last, body, len);

    cache[n].body = body;
    cache[n].full = (char *) p;
    cache[n].len = last - p;

    ngx_gov_redis_script(cache[n].full, cache[n].len);

    *out_len = cache[n].len;

    return cache[n++].full;
}


void
ngx_gov_events_cmd(const char **argv, size_t *argvlen, const char *body,
    size_t len, ngx_str_t *prefix, ngx_str_t *id)
{
    argv[0] = "EVAL";
    argvlen[0] = 4;
    argv[1] = ngx_gov_events_script(body, len, &argvlen[1]);
    argv[2] = "0";
    argvlen[2] = 1;
    argv[3] = (char *) prefix->data;
    argvlen[3] = prefix->len;
    argv[4] = (char *) id->data;
    argvlen[4] = id->len;
}
