
/*
 * Copyright (C) ngx_gov_module authors
 */


/*
 * The answer to a correction request: POST
 * /progress/APP_ID/steps/ITEM/correction.  Only what was asked, all of
 * it, each value checked as a submission's; one script keeps it on the
 * step (a second answer before the department has the first: 409) and
 * puts the step in the retry queue, which delivers it like a step.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_gov_answer.h"
#include "ngx_gov_events.h"
#include "ngx_gov_bundle_conf.h"
#include "ngx_gov_correct.h"
#include "gov_state.h"


typedef struct {
    ngx_http_request_t       *request;
    ngx_gov_correct_done_pt   done;
    void                     *data;
} ngx_gov_correct_t;


static void ngx_gov_correct_stored(redisReply *reply, void *data);
static size_t ngx_gov_correct_uploads(json_t *doc, const char **argv,
    size_t *argvlen);


/*
 * 容缺受理: promised materials supplied.  Each must still be promised and
 * not given; the uploads named must be the applicant's; some step must
 * still be open (else "closed").  The document
 * takes them (a step not yet sent carries them); each open step that
 * needs one gets them delivered through the retry queue ("ID|ITEM#s"),
 * like an answer to a correction.  ARGV: prefix, id, {ID:REF}, now,
 * subject, actor, n, then n "ITEM:MAT,MAT", then the uploads' hexes.
 */

static const char  ngx_gov_supply_lua[] =
    "local p, id, now = ARGV[1], ARGV[2], tonumber(ARGV[4])\n"
    "local app = p .. 'app:' .. id\n"
    "local raw = redis.call('HGET', app, 'doc')\n"
    "if not raw then return {'unknown'} end\n"
    "local doc = cjson.decode(raw)\n"
    "local sup = cjson.decode(ARGV[3])\n"
    "local given = {}\n"
    "for m, ref in pairs(sup) do\n"
    "  local promised = false\n"
    "  for _, pr in ipairs(doc.promises or {}) do\n"
    "    if pr.material == m then promised = true end\n"
    "  end\n"
    "  if not promised or (doc.materials[m] and doc.materials[m] ~= '') then\n"
    "    return {'not_promised', m}\n"
    "  end\n"
    "  table.insert(given, m)\n"
    "end\n"
    "local nu = 7 + tonumber(ARGV[7])\n"
    "for k = nu + 1, #ARGV do\n"
    "  if redis.call('HEXISTS', p .. 'up:' .. ARGV[k], 'o:' .. ARGV[5]) == 0\n"
    "     or redis.call('EXISTS', p .. 'updel:' .. ARGV[k]) == 1 then\n"
    "    return {'unknown_upload', ARGV[k]}\n"
    "  end\n"
    "end\n"
    "local final = {queued = 1, refused = 1, denied = 1, withdrawn = 1,\n"
    "               approved = 1, delivered = 1}\n"
    "local open = false\n"
    "for _, s in ipairs(redis.call('HVALS', p .. 'steps:' .. id)) do\n"
    "  local st = cjson.decode(s).state\n"
    "  if st == 'queued' or not final[st] then open = true end\n"
    "end\n"
    "if not open then return {'closed'} end\n"
    "table.sort(given)\n"
    "doc.supplied = doc.supplied or {}\n"
    "for _, m in ipairs(given) do\n"
    "  doc.materials[m] = sup[m]\n"
    "  doc.supplied[m] = now\n"
    "  redis.call('ZREM', p .. 'promises', id .. '|' .. m)\n"
    "end\n"
    "for k = nu + 1, #ARGV do\n"
    "  local u = redis.call('HMGET', p .. 'up:' .. ARGV[k], 'type', 'size')\n"
    "  doc.uploads = doc.uploads or {}\n"
    "  doc.uploads[ARGV[k]] = {type = u[1], size = tonumber(u[2])}\n"
    "  redis.call('HINCRBY', p .. 'up:' .. ARGV[k], 'refs', 1)\n"
    "  redis.call('ZREM', p .. 'upidle', ARGV[k])\n"
    "end\n"
    "redis.call('HSET', app, 'doc', cjson.encode(doc))\n"
    "for k = 8, nu do\n"
    "  local sep = string.find(ARGV[k], ':', 1, true)\n"
    "  local item = string.sub(ARGV[k], 1, sep - 1)\n"
    "  local needs = ',' .. string.sub(ARGV[k], sep + 1) .. ','\n"
    "  local raw = redis.call('HGET', p .. 'steps:' .. id, item)\n"
    "  local step = raw and cjson.decode(raw)\n"
    "  if step and not final[step.state] then\n"
    "    local mine = step.supply and cjson.decode(step.supply) or {}\n"
    "    local any = false\n"
    "    for _, m in ipairs(given) do\n"
    "      if string.find(needs, ',' .. m .. ',', 1, true) then\n"
    "        mine[m] = sup[m]\n"
    "        any = true\n"
    "      end\n"
    "    end\n"
    "    if any then\n"
    "      step.supply = cjson.encode(mine)\n"
    "      step.supply_by = ARGV[6] ~= '' and ARGV[6] or nil\n"
    "      redis.call('HSET', p .. 'steps:' .. id, item, cjson.encode(step))\n"
    "      redis.call('ZADD', p .. 'retry', 0, id .. '|' .. item .. '#s')\n"
    "    end\n"
    "  end\n"
    "end\n"
    "redis.call('HINCRBY', app, 'ver', 1)\n"
    "redis.call('DEL', p .. 'doc:' .. id)\n"
    "gov_event(app, id, 'supplied', nil, nil, nil, 'materials',\n"
    "          table.concat(given, ','))\n"
    "return {'ok'}\n";


static const char  ngx_gov_correct_lua[] =
    "local p, id, item = ARGV[1], ARGV[2], ARGV[3]\n"
    "local key = p .. 'steps:' .. id\n"
    "local raw = redis.call('HGET', key, item)\n"
    "if not raw then return {'unknown'} end\n"
    "local step = cjson.decode(raw)\n"
    "if step.state ~= 'correction' then return {'not_in_correction'} end\n"
    "if step.notify == 'correction' then return {'already_answered'} end\n"
    "for k = 8, #ARGV do\n"
    "  if redis.call('HEXISTS', p .. 'up:' .. ARGV[k], 'o:' .. ARGV[6]) == 0\n"
    "     or redis.call('EXISTS', p .. 'updel:' .. ARGV[k]) == 1 then\n"
    "    return {'unknown_upload', ARGV[k]}\n"
    "  end\n"
    "end\n"
    "local sup = cjson.decode(ARGV[4])\n"
    "sup.uploads = {}\n"
    "for k = 8, #ARGV do\n"
    "  local m = redis.call('HMGET', p .. 'up:' .. ARGV[k], 'type', 'size')\n"
    "  sup.uploads[ARGV[k]] = {type = m[1], size = tonumber(m[2])}\n"
    "  redis.call('HINCRBY', p .. 'up:' .. ARGV[k], 'refs', 1)\n"
    "  redis.call('ZREM', p .. 'upidle', ARGV[k])\n"
    "end\n"
    "step.supplement = cjson.encode(sup)\n"
    "step.supplied_at = tonumber(ARGV[5])\n"
    "step.supplied_by = ARGV[7] ~= '' and ARGV[7] or nil\n"
    "step.notify = 'correction'\n"
    "redis.call('HSET', key, item, cjson.encode(step))\n"
    "redis.call('ZADD', p .. 'retry', 0, id .. '|' .. item)\n"
    "redis.call('HINCRBY', p .. 'app:' .. id, 'ver', 1)\n"
    "redis.call('DEL', p .. 'doc:' .. id)\n"
    "gov_event(p .. 'app:' .. id, id, 'corrected', item)\n"
    "return {'ok'}\n";


ngx_uint_t
ngx_gov_correct_read(ngx_http_request_t *r, json_t **doc, ngx_int_t *rc)
{
    ngx_str_t   text;
    ngx_uint_t  form;

    switch (ngx_http_gov_body_type(r)) {

    case NGX_GOV_BODY_JSON:
        form = 0;
        break;

    case NGX_GOV_BODY_FORM:
        form = 1;
        break;

    default:
        *rc = ngx_http_gov_error(r, NGX_HTTP_UNSUPPORTED_MEDIA_TYPE,
                                 "unsupported_media_type");
        return 0;
    }

    *rc = ngx_http_gov_read_body(r, &text);

    if (*rc != NGX_OK) {
        *rc = ngx_http_gov_body_refused(r, *rc);
        return 0;
    }

    *doc = form ? gov_app_from_form((char *) text.data, text.len)
                : json_loadb((char *) text.data, text.len,
                             JSON_REJECT_DUPLICATES, NULL);

    if (!json_is_object(*doc)) {
        json_decref(*doc);
        *doc = NULL;
        *rc = ngx_http_gov_error(r, NGX_HTTP_BAD_REQUEST,
                                 form ? "malformed_form" : "malformed_json");
        return 0;
    }

    return 1;
}


/* the request's ids, each the bundle's: its specs for gov_app_validate() */

json_t *
ngx_gov_correct_check(ngx_gov_bundle_t *b, json_t *request, json_t *doc)
{
    size_t               i, k, nf, nm;
    json_t              *problems, *v, *invalid;
    gov_app_spec_t       spec;
    gov_app_field_t      fields[GOV_CALLBACK_IDS_MAX];
    gov_app_material_t   materials[GOV_CALLBACK_IDS_MAX];

    nf = 0;
    nm = 0;

    json_array_foreach(json_object_get(request, "fields"), i, v) {
        for (k = 0; k < b->napp_fields && nf < GOV_CALLBACK_IDS_MAX; k++) {
            if (ngx_strcmp(b->app_fields[k].id, json_string_value(v)) == 0) {
                fields[nf] = b->app_fields[k];
                fields[nf++].required = 1;   /* asked for: needed */
                break;
            }
        }
    }

    json_array_foreach(json_object_get(request, "materials"), i, v) {
        for (k = 0; k < b->napp_materials && nm < GOV_CALLBACK_IDS_MAX; k++) {
            if (ngx_strcmp(b->app_materials[k].id, json_string_value(v)) == 0)
            {
                materials[nm++] = b->app_materials[k];
                break;
            }
        }
    }

    spec.fields = fields;
    spec.nfields = nf;
    spec.materials = materials;
    spec.nmaterials = nm;
    spec.match = ngx_gov_bundles_matcher();

    if (gov_app_validate(&spec, doc, &problems) == 0) {
        return NULL;
    }

    if (problems == NULL) {
        return json_pack("{s:s}", "error", "invalid_correction");
    }

    /* an id the bundle knows but the department did not ask for */

    invalid = json_object_get(problems, "invalid");

    json_array_foreach(invalid, i, v) {
        if (ngx_strcmp(json_string_value(json_object_get(v, "reason")),
                       "unknown_field") == 0
            || ngx_strcmp(json_string_value(json_object_get(v, "reason")),
                          "unknown_material") == 0)
        {
            json_object_set_new(v, "reason", json_string("not_requested"));
        }
    }

    json_object_set_new(problems, "error", json_string("invalid_correction"));

    return problems;
}


ngx_int_t
ngx_gov_correct_store(ngx_http_request_t *r, ngx_str_t *id, ngx_str_t *item,
    json_t *doc, ngx_str_t *subject, ngx_str_t *actor,
    ngx_gov_correct_done_pt done, void *data)
{
    u_char                    *now;
    size_t                    *argvlen, n, i;
    json_t                    *keep, *v;
    ngx_str_t                  text, tag;
    const char               **argv;
    ngx_gov_correct_t         *cc;
    ngx_gov_redis_args_t       cmd;
    ngx_http_gov_main_conf_t  *gmcf;

    gmcf = ngx_http_get_module_main_conf(r, ngx_http_gov_module);

    /* what is kept and delivered: the answer, the uploads it names */

    keep = json_object();
    if (keep == NULL) {
        return NGX_ERROR;
    }

    v = json_object_get(doc, "fields");
    json_object_set_new(keep, "fields", v ? json_incref(v) : json_object());
    v = json_object_get(doc, "materials");
    json_object_set_new(keep, "materials",
                        v ? json_incref(v) : json_object());

    n = ngx_gov_correct_uploads(doc, NULL, NULL);

    cc = ngx_pcalloc(r->pool, sizeof(ngx_gov_correct_t));
    argv = ngx_palloc(r->pool, (10 + n) * sizeof(char *));
    argvlen = ngx_palloc(r->pool, (10 + n) * sizeof(size_t));
    now = ngx_pnalloc(r->pool, NGX_TIME_T_LEN);

    if (cc == NULL || argv == NULL || argvlen == NULL || now == NULL) {
        json_decref(keep);
        return NGX_ERROR;
    }

    i = 10 + ngx_gov_correct_uploads(doc, &argv[10], &argvlen[10]);

    if (ngx_gov_json_text(r->pool, keep, 0, &text) != NGX_OK) {
        return NGX_ERROR;
    }

    cc->request = r;
    cc->done = done;
    cc->data = data;

    if (ngx_gov_events_cmd(r->pool, argv, argvlen, ngx_gov_correct_lua,
                           sizeof(ngx_gov_correct_lua) - 1,
                           &gmcf->redis_prefix, id, &tag)
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    argv[5] = (char *) item->data;
    argvlen[5] = item->len;
    argv[6] = (char *) text.data;
    argvlen[6] = text.len;
    argv[7] = (char *) now;
    argvlen[7] = ngx_sprintf(now, "%T", ngx_time()) - now;
    argv[8] = (char *) subject->data;
    argvlen[8] = subject->len;
    argv[9] = actor->len ? (char *) actor->data : "";
    argvlen[9] = actor->len;

    cmd.argc = (int) i;
    cmd.argv = argv;
    cmd.argvlen = argvlen;

    if (ngx_gov_events_eval_keys(r->pool, &tag, id,
                                 "app:% steps:% doc:% retry upidle events",
                                 &argv[10], &argvlen[10], i - 10, &cmd)
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    return ngx_http_gov_redis_send_acked(r, ngx_gov_correct_stored, cc, 1,
                                         &cmd);
}


ngx_int_t
ngx_gov_supply_store(ngx_http_request_t *r, ngx_str_t *id,
    ngx_gov_bundle_t *b, json_t *doc, ngx_str_t *subject, ngx_str_t *actor,
    ngx_gov_correct_done_pt done, void *data)
{
    u_char                    *now, *p;
    size_t                    *argvlen, n, i, up;
    ngx_str_t                  text, tag;
    ngx_uint_t                 k, j;
    const char               **argv;
    ngx_gov_item_t            *items, *it;
    ngx_gov_material_t        *mats;
    ngx_gov_correct_t         *cc;
    ngx_gov_redis_args_t       cmd;
    ngx_http_gov_main_conf_t  *gmcf;

    gmcf = ngx_http_get_module_main_conf(r, ngx_http_gov_module);
    items = gmcf->bundles.items.elts;
    mats = gmcf->bundles.materials.elts;

    n = ngx_gov_correct_uploads(doc, NULL, NULL);

    cc = ngx_pcalloc(r->pool, sizeof(ngx_gov_correct_t));
    argv = ngx_palloc(r->pool, (10 + b->items.nelts + n) * sizeof(char *));
    argvlen = ngx_palloc(r->pool,
                         (10 + b->items.nelts + n) * sizeof(size_t));
    now = ngx_pnalloc(r->pool, NGX_TIME_T_LEN + NGX_INT_T_LEN);

    if (cc == NULL || argv == NULL || argvlen == NULL || now == NULL
        || ngx_gov_json_text(r->pool,
                             json_incref(json_object_get(doc, "materials")),
                             0, &text)
           != NGX_OK)
    {
        return NGX_ERROR;
    }

    cc->request = r;
    cc->done = done;
    cc->data = data;

    if (ngx_gov_events_cmd(r->pool, argv, argvlen, ngx_gov_supply_lua,
                           sizeof(ngx_gov_supply_lua) - 1,
                           &gmcf->redis_prefix, id, &tag)
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    argv[5] = (char *) text.data;
    argvlen[5] = text.len;
    argv[6] = (char *) now;
    argvlen[6] = ngx_sprintf(now, "%T", ngx_time()) - now;
    argv[7] = (char *) subject->data;
    argvlen[7] = subject->len;
    argv[8] = actor->len ? (char *) actor->data : "";
    argvlen[8] = actor->len;
    argv[9] = (char *) now + argvlen[6];
    argvlen[9] = ngx_sprintf(now + argvlen[6], "%ui", b->items.nelts)
                 - (now + argvlen[6]);

    /* "ITEM:MAT,MAT": which steps need which materials */

    i = 10;

    for (k = 0; k < b->items.nelts; k++) {
        it = &items[b->item_idx[k]];

        p = ngx_pnalloc(r->pool, it->id.len + 1 + it->materials.nelts * 65);
        if (p == NULL) {
            return NGX_ERROR;
        }

        argv[i] = (char *) p;
        p = ngx_sprintf(p, "%V:", &it->id);

        for (j = 0; j < it->materials.nelts; j++) {
            p = ngx_sprintf(p, "%s%V", j ? "," : "",
                            &mats[it->material_idx[j]].id);
        }

        argvlen[i] = p - (u_char *) argv[i];
        i++;
    }

    up = i;
    i += ngx_gov_correct_uploads(doc, &argv[i], &argvlen[i]);

    cmd.argc = (int) i;
    cmd.argv = argv;
    cmd.argvlen = argvlen;

    if (ngx_gov_events_eval_keys(r->pool, &tag, id,
                                 "app:% steps:% doc:% retry upidle promises "
                                 "events",
                                 &argv[up], &argvlen[up], i - up, &cmd)
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    return ngx_http_gov_redis_send_acked(r, ngx_gov_correct_stored, cc, 1,
                                         &cmd);
}


/*
 * The uploads "doc" names ("upload:HEX" materials): how many, and their
 * hexes into argv when it is not NULL, for the script to check and count.
 */

static size_t
ngx_gov_correct_uploads(json_t *doc, const char **argv, size_t *argvlen)
{
    size_t       n;
    json_t      *v;
    const char  *key, *ref;

    n = 0;

    json_object_foreach(json_object_get(doc, "materials"), key, v) {
        ref = json_string_value(v);

        if (ref && json_string_length(v) == 7 + 64
            && ngx_strncmp(ref, "upload:", 7) == 0)
        {
            if (argv) {
                argv[n] = ref + 7;
                argvlen[n] = 64;
            }

            n++;
        }
    }

    return n;
}


static void
ngx_gov_correct_stored(redisReply *reply, void *data)
{
    ngx_gov_correct_t *cc = data;

    redisReply  *kind;

    if (reply == NULL || reply->type != REDIS_REPLY_ARRAY
        || reply->elements < 1
        || reply->element[0]->type != REDIS_REPLY_STRING)
    {
        if (reply && reply->type == REDIS_REPLY_ERROR) {
            ngx_log_error(NGX_LOG_ERR, cc->request->connection->log, 0,
                          "gov: correction: %*s",
                          (size_t) ngx_min(reply->len, 200), reply->str);
        }

        cc->done(cc->request, cc->data, NGX_HTTP_SERVICE_UNAVAILABLE,
                 "unavailable");
        return;
    }

    kind = reply->element[0];

#define KIND(s)  (kind->len == sizeof(s) - 1                                 \
                  && ngx_strncmp(kind->str, s, sizeof(s) - 1) == 0)

    if (KIND("ok")) {
        cc->done(cc->request, cc->data, 0, NULL);

    } else if (KIND("unknown")) {
        cc->done(cc->request, cc->data, NGX_HTTP_NOT_FOUND, "not_found");

    } else if (KIND("unknown_upload")) {
        cc->done(cc->request, cc->data, 422, "unknown_upload");

    } else if (KIND("not_promised")) {
        cc->done(cc->request, cc->data, NGX_HTTP_CONFLICT, "not_promised");

    } else if (KIND("closed")) {
        /* every step is final: nobody is left to take it */
        cc->done(cc->request, cc->data, NGX_HTTP_CONFLICT,
                 "application_closed");

    } else if (KIND("already_answered")) {
        cc->done(cc->request, cc->data, NGX_HTTP_CONFLICT,
                 "already_answered");

    } else {
        cc->done(cc->request, cc->data, NGX_HTTP_CONFLICT,
                 "not_in_correction");
    }

#undef KIND
}
