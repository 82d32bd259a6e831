
/*
 * Copyright (C) ngx_gov_module authors
 */


/*
 * Withdrawal: POST /progress/APP_ID/withdrawal.  One script moves every
 * step in queued, received, correction, accepted or reviewing to
 * "withdrawn"; a queued step leaves the retry queue and is never sent (a
 * delivery already on its way that the department takes is told of the
 * withdrawal afterwards, see the dispatch room); a step a department had
 * is marked to be told, with X-Gov-Withdrawal: 1, through the retry queue
 * with its guarantees.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_gov_pcache.h"
#include "ngx_gov_answer.h"
#include "ngx_gov_events.h"
#include "ngx_gov_tally.h"
#include "ngx_gov_withdraw.h"
#include "gov_date.h"
#include "gov_http.h"


typedef struct {
    ngx_http_request_t       *request;
    ngx_str_t                 id;
    ngx_uint_t                form;
} ngx_gov_withdraw_t;


static void ngx_gov_withdraw_done(redisReply *reply, void *data);


static const char  ngx_gov_withdraw_lua[] =
    "local p, id, now, today = ARGV[1], ARGV[2], tonumber(ARGV[3]),\n"
    "                          tonumber(ARGV[4])\n"
    "local key = p .. 'steps:' .. id\n"
    "local c = gov_clock(ARGV[7])\n"
    "gov_now(now * 1000)\n"
    "if redis.call('EXISTS', p .. 'app:' .. id) == 0 then\n"
    "  return {'unknown'}\n"
    "end\n"
    "local open = {queued = 1, received = 1, correction = 1, accepted = 1,\n"
    "              reviewing = 1}\n"
    "local all = redis.call('HGETALL', key)\n"
    "local moved = {}\n"
    "for i = 1, #all, 2 do\n"
    "  local item, step = all[i], cjson.decode(all[i + 1])\n"
    "  local was = step.state\n"
    "  if open[was] then\n"
    "    gov_unpause(step, c, today)\n"
    "    step.correction = nil\n"
    "    step.state = 'withdrawn'\n"
    "    step.updated_at = now\n"
    "    if ARGV[5] ~= '' then step.withdraw_reason = ARGV[5] end\n"
    "    if ARGV[6] ~= '' then step.withdrawn_by = ARGV[6] end\n"
    "    local member = id .. '|' .. item\n"
    "    if was == 'queued' then\n"
    "      redis.call('ZREM', p .. 'retry', member)\n"
    "    else\n"
    "      step.notify = 'withdrawal'\n"
    "      redis.call('ZADD', p .. 'retry', 0, member)\n"
    "    end\n"
    "    redis.call('HSET', key, item, cjson.encode(step))\n"
    "    gov_due(id, item, step)\n"
    "    moved[#moved + 1] = item\n"
    "  end\n"
    "end\n"
    "if #moved == 0 then return {'nothing'} end\n"
    "local akey = p .. 'app:' .. id\n"
    "local a = redis.call('HMGET', akey, 'stats', 'bundle', 'withdrawal')\n"
    "if c and a[1] then\n"
    "  if not a[3] then gov_tally(c, 'b:' .. a[2] .. ':withdrawn', 1) end\n"
    "  for _, item in ipairs(moved) do\n"
    "    gov_tally(c, 'i:' .. item .. ':withdrawn', 1)\n"
    "  end\n"
    "end\n"
    "redis.call('HSET', p .. 'app:' .. id, 'withdrawal',\n"
    "           cjson.encode({at = now, reason = ARGV[5], actor = ARGV[6]}))\n"
    "redis.call('HINCRBY', p .. 'app:' .. id, 'ver', 1)\n"
    "redis.call('DEL', p .. 'doc:' .. id)\n"
    "gov_event(p .. 'app:' .. id, id, 'withdrawn', nil, nil, nil,\n"
    "          'items', table.concat(moved, ','))\n"
    "return {'ok', tostring(#moved)}\n";


ngx_uint_t
ngx_gov_withdraw_check(ngx_http_request_t *r, json_t **body,
    ngx_uint_t *form, ngx_int_t *rc)
{
    char         value[NGX_GOV_WITHDRAW_REASON_MAX * 4 + 1];
    long         n;
    size_t       i;
    json_t      *v;
    ngx_str_t    text;
    const char  *s;

    *rc = ngx_http_gov_read_body(r, &text);

    if (*rc != NGX_OK) {
        *rc = ngx_http_gov_body_refused(r, *rc);
        return 0;
    }

    *form = 0;

    if (ngx_http_gov_body_type(r) == NGX_GOV_BODY_FORM) {
        /* the progress page's form */
        *form = 1;
        /* the page asks to confirm: withdrawal cannot be undone */
        if (gov_form_get((char *) text.data, text.len, "confirm", value,
                         sizeof(value) - 1) != 1 || value[0] != '1')
        {
            *rc = ngx_http_gov_error(r, 422, "not_confirmed");
            return 0;
        }

        n = gov_form_get((char *) text.data, text.len, "reason", value,
                         sizeof(value) - 1);
        *body = (n >= 0) ? json_pack("{s:s%}", "reason", value, (size_t) n)
                         : (n == -1) ? json_object() : NULL;

    } else if (text.len == 0) {
        *body = json_object();

    } else {
        *body = json_loadb((char *) text.data, text.len,
                           JSON_REJECT_DUPLICATES, NULL);
    }

    if (!json_is_object(*body)) {
        json_decref(*body);
        *body = NULL;
        *rc = ngx_http_gov_error(r, NGX_HTTP_BAD_REQUEST,
                                 *form ? "malformed_form" : "malformed_json");
        return 0;
    }

    v = json_object_get(*body, "reason");
    s = json_string_value(v);

    if (v && (s == NULL || json_string_length(v) > 3 * 500)) {
        json_decref(*body);
        *body = NULL;
        *rc = ngx_http_gov_error(r, 422, "invalid_reason");
        return 0;
    }

    for (i = 0; s && i < json_string_length(v); i++) {
        if ((u_char) s[i] < 0x20 && s[i] != '\n') {
            json_decref(*body);
            *body = NULL;
            *rc = ngx_http_gov_error(r, 422, "invalid_reason");
            return 0;
        }
    }

    return 1;
}


ngx_int_t
ngx_gov_withdraw_store(ngx_http_request_t *r, ngx_str_t *id, json_t *body,
    ngx_uint_t form, ngx_str_t *actor)
{
    u_char                    *now, *day, *clock;
    json_t                    *v;
    ngx_str_t                  tag;
    ngx_gov_withdraw_t        *wd;
    ngx_gov_redis_args_t       cmd;
    ngx_http_gov_main_conf_t  *gmcf;

    const char  *argv[10];
    size_t       argvlen[10];

    gmcf = ngx_http_get_module_main_conf(r, ngx_http_gov_module);

    wd = ngx_pcalloc(r->pool, sizeof(ngx_gov_withdraw_t));
    now = ngx_pnalloc(r->pool, NGX_TIME_T_LEN + NGX_INT_T_LEN
                               + NGX_GOV_TALLY_CLOCK_LEN);

    if (wd == NULL || now == NULL) {
        return NGX_ERROR;
    }

    day = now + NGX_TIME_T_LEN;
    clock = day + NGX_INT_T_LEN;

    wd->request = r;
    wd->id = *id;
    wd->form = form;

    v = json_object_get(body, "reason");

    if (ngx_gov_events_cmd(r->pool, argv, argvlen, ngx_gov_withdraw_lua,
                           sizeof(ngx_gov_withdraw_lua) - 1,
                           &gmcf->redis_prefix, id, &tag)
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    argv[5] = (char *) now;
    argvlen[5] = ngx_sprintf(now, "%T", ngx_time()) - now;
    argv[6] = (char *) day;
    argvlen[6] = ngx_sprintf(day, "%i", (ngx_int_t) gov_day(ngx_time()))
                 - day;
    argv[7] = v ? json_string_value(v) : "";
    argvlen[7] = v ? json_string_length(v) : 0;
    argv[8] = actor->len ? (char *) actor->data : "";
    argvlen[8] = actor->len;

    argv[9] = (char *) clock;
    argvlen[9] = ngx_gov_tally_clock(&gmcf->bundles.calendar, ngx_time(),
                                     clock);

    cmd.argc = 10;
    cmd.argv = argv;
    cmd.argvlen = argvlen;

    if (ngx_gov_events_eval_keys(r->pool, &tag, id,
                                 "app:% steps:% doc:% retry due stats events",
                                 NULL, NULL, 0, &cmd)
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    return ngx_http_gov_redis_send_acked(r, ngx_gov_withdraw_done, wd, 1,
                                         &cmd);
}


static void
ngx_gov_withdraw_done(redisReply *reply, void *data)
{
    ngx_gov_withdraw_t *wd = data;

    u_char              *p;
    ngx_int_t            rc;
    ngx_str_t            uri, empty;
    redisReply          *kind;
    ngx_connection_t    *c;
    ngx_http_request_t  *r;

    r = wd->request;
    c = r->connection;

    if (reply == NULL || reply->type != REDIS_REPLY_ARRAY
        || reply->elements < 1
        || reply->element[0]->type != REDIS_REPLY_STRING)
    {
        if (reply && reply->type == REDIS_REPLY_ERROR) {
            ngx_log_error(NGX_LOG_ERR, c->log, 0, "gov: withdrawal: %*s",
                          (size_t) ngx_min(reply->len, 200), reply->str);
        }

        /* one script: nothing or all of it was done, so it may be tried */
        rc = ngx_http_gov_unavailable(r);
        goto done;
    }

    kind = reply->element[0];

    if (kind->len == 7 && ngx_strncmp(kind->str, "unknown", 7) == 0) {
        rc = ngx_http_gov_error(r, NGX_HTTP_NOT_FOUND, "not_found");
        goto done;
    }

    if (kind->len == 7 && ngx_strncmp(kind->str, "nothing", 7) == 0) {
        rc = ngx_http_gov_error(r, NGX_HTTP_CONFLICT, "nothing_to_withdraw");
        goto done;
    }

    ngx_log_error(NGX_LOG_INFO, c->log, 0, "gov: application %V withdrawn",
                  &wd->id);

    /* every cached copy of this progress goes at once */
    ngx_gov_pcache_drop(&wd->id);
    ngx_gov_tally_touch();

    p = ngx_pnalloc(r->pool, sizeof("/progress/") - 1 + wd->id.len);
    if (p == NULL) {
        rc = NGX_HTTP_INTERNAL_SERVER_ERROR;
        goto done;
    }

    uri.data = p;
    uri.len = ngx_sprintf(p, "/progress/%V", &wd->id) - p;

    if (wd->form) {
        /* the browser goes back to the progress page, which says so */
        ngx_str_null(&empty);

        rc = ngx_http_gov_location(r, &uri);

        if (rc == NGX_OK) {
            rc = ngx_http_gov_send(r, NGX_HTTP_SEE_OTHER,
                                   &r->headers_out.content_type, &empty);
        }

        goto done;
    }

    /* the progress document as it now is: the lookup, as a GET */

    r->method = NGX_HTTP_GET;
    ngx_str_set(&r->method_name, "GET");

    (void) ngx_http_internal_redirect(r, &uri, NULL);
    ngx_http_finalize_request(r, NGX_DONE);
    ngx_http_run_posted_requests(c);

    return;

done:

    ngx_http_finalize_request(r, rc);
    ngx_http_run_posted_requests(c);
}
