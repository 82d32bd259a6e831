
/*
 * Copyright (C) ngx_gov_module authors
 */


/*
 * Callbacks: departments move steps with signed POSTs; one script checks
 * the transition, records it and queues steps whose dependencies are met.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_gov_shm.h"
#include "ngx_gov_metrics.h"
#include "ngx_gov_events.h"
#include "ngx_gov_tally.h"
#include "ngx_gov_pcache.h"
#include "ngx_gov_answer.h"
#include "ngx_gov_access.h"
#include "ngx_gov_bundle_conf.h"
#include "ngx_gov_callback.h"
#include "gov_date.h"
#include "gov_sig.h"
#include "gov_state.h"


#define NGX_GOV_SIG_WINDOW        300

/* when a department's legacy signature was last said: items, regions */
#define NGX_GOV_LEGACY_SLOTS      512

#define ARG(i, s, l)  argv[i] = (const char *) (s); argvlen[i] = (l)


typedef struct {
    ngx_http_request_t       *request;
    ngx_gov_item_t           *item;
    ngx_str_t                 app_id;
    ngx_str_t                 state;
    ngx_str_t                 signers;      /* " - bj " */
} ngx_gov_callback_t;


static const char  ngx_gov_callback_lua[] =
    "local p, id, item, new = ARGV[1], ARGV[2], ARGV[3], ARGV[4]\n"
    "local key = p .. 'steps:' .. id\n"
    "gov_now(tonumber(ARGV[8]) * 1000)\n"
    "if redis.call('EXISTS', p .. 'app:' .. id) == 0 then return {'unknown'} end\n"
    "local raw = redis.call('HGET', key, item)\n"
    "if not raw then return {'unknown'} end\n"
    "local step = cjson.decode(raw)\n"
    "-- a step routed to a region is signed by that region only\n"
    "if ARGV[13] ~= '*' and not string.find(ARGV[13],\n"
    "   ' ' .. (step.region or '-') .. ' ', 1, true) then\n"
    "  return {'bad_signer'}\n"
    "end\n"
    "if redis.call('EXISTS', ARGV[10]) == 1 then return {'replay'} end\n"
    "if not string.find(' ' .. ARGV[5] .. ' ', ' ' .. step.state .. ' ', 1, true) then\n"
    "  return {'illegal', step.state}\n"
    "end\n"
    "local today, c = tonumber(ARGV[9]), gov_clock(ARGV[#ARGV])\n"
    "gov_unpause(step, c, today)\n"
    "if new == 'correction' or new == 'special' then\n"
    "  gov_pause(step, c, today)\n"
    "end\n"
    "if new == 'accepted' and not step.accepted_day then\n"
    "  step.accepted_day = today\n"
    "  step.accepted_w = c and c.w or nil\n"
    "end\n"
    "if new == 'correction' and ARGV[11] ~= '' then\n"
    "  step.correction = ARGV[11]\n"
    "elseif new ~= 'correction' then\n"
    "  step.correction = nil\n"
    "end\n"
    "if ARGV[12] ~= '' then step.result = ARGV[12] end\n"
    "if step.notify == 'correction' then\n"
    "  -- the department moved on: an answer not yet delivered is moot\n"
    "  step.notify = nil\n"
    "  step.notify_attempts = nil\n"
    "end\n"
    "local old = step.state\n"
    "step.state = new\n"
    "if ARGV[6] ~= '' then step.receipt = ARGV[6] end\n"
    "-- a note says why of this state: the next one has its own, or none\n"
    "step.note = ARGV[7] ~= '' and ARGV[7] or nil\n"
    "step.updated_at = tonumber(ARGV[8])\n"
    "redis.call('HSET', key, item, cjson.encode(step))\n"
    "redis.call('HINCRBY', p .. 'app:' .. id, 'ver', 1)\n"
    "redis.call('DEL', p .. 'doc:' .. id)\n"
    "redis.call('SET', ARGV[10], '1', 'EX', 900)\n"
    "redis.call('ZREM', p .. 'retry', id .. '|' .. item)\n"
    "gov_due(id, item, step)\n"
    "if new == 'approved' or new == 'denied' then\n"
    "  gov_step_done(c, id, item, step)\n"
    "end\n"
    "if new == 'approved' or new == 'denied' or new == 'refused' then\n"
    "  gov_app_done(c, id)\n"
    "end\n"
    "if new == 'approved' then\n"
    "  for i = 14, #ARGV - 1 do\n"
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
    "gov_event(p .. 'app:' .. id, id, new == 'correction'\n"
    "          and 'correction_requested' or 'step', item, old, new)\n"
    "return {'ok', old}\n";


static ngx_atomic_t  *ngx_gov_callback_legacy;


static void ngx_gov_callback_body(ngx_http_request_t *r);
static ngx_int_t ngx_gov_callback_known(ngx_http_request_t *r,
    ngx_gov_item_t *it, json_t *request, ngx_int_t *rc);
static ngx_gov_item_t *ngx_gov_callback_target(ngx_http_request_t *r,
    ngx_str_t *id);
static ngx_int_t ngx_gov_callback_signed(ngx_http_request_t *r,
    ngx_gov_item_t *it, ngx_str_t *id, ngx_str_t *body, ngx_str_t *hsig,
    ngx_str_t *signers, ngx_int_t *rc);
static ngx_uint_t ngx_gov_callback_verify(ngx_http_request_t *r,
    gov_sig_request_t *req, ngx_str_t *secret, ngx_str_t *sig, int form,
    ngx_str_t *who, ngx_uint_t slot);
static ngx_int_t ngx_gov_callback_record(ngx_http_request_t *r,
    ngx_gov_callback_t *cb, ngx_int_t state, gov_callback_t *parsed,
    ngx_str_t *hsig);
static void ngx_gov_callback_done(redisReply *reply, void *data);


/* gov_callback: departments push state changes */


ngx_int_t
ngx_http_gov_callback_handler(ngx_http_request_t *r)
{
    return ngx_http_gov_read_post(r, ngx_gov_callback_body);
}


static void
ngx_gov_callback_body(ngx_http_request_t *r)
{
    gov_callback_t       parsed;
    ngx_int_t            rc, state;
    ngx_str_t            body, id, hsig, signers;
    ngx_connection_t    *c;
    ngx_gov_item_t      *it;
    ngx_gov_callback_t  *cb;

    c = r->connection;

    /* /callback/APP_ID/ITEM */

    it = ngx_gov_callback_target(r, &id);
    if (it == NULL) {
        rc = ngx_http_gov_error(r, NGX_HTTP_NOT_FOUND, "not_found");
        goto done;
    }

    /* the signature before anything else is believed */

    if (ngx_gov_callback_signed(r, it, &id, &body, &hsig, &signers, &rc)
        != NGX_OK)
    {
        goto done;
    }

    state = gov_callback_parse((char *) body.data, body.len, &parsed);

    if (state == GOV_CALLBACK_INVALID) {
        rc = ngx_http_gov_error(r, NGX_HTTP_BAD_REQUEST, "invalid_body");
        goto done;
    }

    if (state < 0) {
        rc = ngx_http_gov_error(r, 422,
                                state == GOV_CALLBACK_BAD_REQUEST
                                ? "invalid_request"
                                : state == GOV_CALLBACK_BAD_RESULT
                                  ? "invalid_result" : "unknown_state");
        goto done;
    }

    if (parsed.request
        && ngx_gov_callback_known(r, it, parsed.request, &rc) != NGX_OK)
    {
        gov_callback_free(&parsed);
        goto done;
    }

    cb = ngx_pcalloc(r->pool, sizeof(ngx_gov_callback_t));
    if (cb == NULL) {
        gov_callback_free(&parsed);
        rc = NGX_HTTP_INTERNAL_SERVER_ERROR;
        goto done;
    }

    cb->request = r;
    cb->item = it;
    cb->app_id = id;
    cb->signers = signers;
    cb->state.data = (u_char *) gov_state_name(state);
    cb->state.len = ngx_strlen(cb->state.data);

    rc = ngx_http_gov_queued(r, ngx_gov_callback_record(r, cb, state,
                                                        &parsed, &hsig));

    gov_callback_free(&parsed);

    if (rc == NGX_DONE) {
        return;
    }

done:

    ngx_http_finalize_request(r, rc);
    ngx_http_run_posted_requests(c);
}


/*
 * A correction request names only the item's own materials and fields:
 * else 422 to the department, naming the first id that is not.
 */

static ngx_int_t
ngx_gov_callback_known(ngx_http_request_t *r, ngx_gov_item_t *it,
    json_t *request, ngx_int_t *rc)
{
    size_t                   i;
    json_t                  *v;
    ngx_str_t               *ids;
    ngx_uint_t               j, k, n, field;
    const char              *id;
    ngx_gov_field_t         *fields;
    ngx_gov_material_t      *materials;
    ngx_gov_bundles_conf_t  *bc;

    bc = ngx_gov_bc(r);
    materials = bc->materials.elts;
    fields = bc->fields.elts;

    for (field = 0; field < 2; field++) {
        json_array_foreach(json_object_get(request,
                                           field ? "fields" : "materials"),
                           i, v)
        {
            id = json_string_value(v);
            n = field ? it->fields.nelts : it->materials.nelts;

            for (j = 0; j < n; j++) {
                k = field ? it->field_idx[j] : it->material_idx[j];
                ids = field ? &fields[k].id : &materials[k].id;

                if (ids->len == json_string_length(v)
                    && ngx_strncmp(ids->data, id, ids->len) == 0)
                {
                    break;
                }
            }

            if (j == n) {
                *rc = ngx_http_gov_json_answer(r, 422, json_pack(
                          "{s:s,s:s}", "error",
                          field ? "unknown_field" : "unknown_material",
                          "id", id));
                return NGX_DECLINED;
            }
        }
    }

    return NGX_OK;
}


/*
 * The item and application id the URI names after the location's prefix,
 * "APP_ID/ITEM"; NULL when they cannot be one.
 */

static ngx_gov_item_t *
ngx_gov_callback_target(ngx_http_request_t *r, ngx_str_t *id)
{
    u_char                  *p, *end, *slash;
    ngx_str_t                item, rest;
    ngx_uint_t               i;
    ngx_gov_item_t          *items;
    ngx_gov_bundles_conf_t  *bc;

    bc = ngx_gov_bc(r);

    ngx_http_gov_uri_rest(r, &rest);

    p = rest.data;
    end = rest.data + rest.len;

    slash = ngx_strlchr(p, end, '/');

    if (slash == NULL || slash == p || slash + 1 >= end
        || ngx_strlchr(slash + 1, end, '/') != NULL)
    {
        return NULL;
    }

    id->data = p;
    id->len = slash - p;
    item.data = slash + 1;
    item.len = end - slash - 1;

    if (id->len < 10 || id->len > 20) {
        return NULL;
    }

    for (i = 0; i < id->len; i++) {
        if (!((id->data[i] >= 'A' && id->data[i] <= 'Z')
              || (id->data[i] >= '0' && id->data[i] <= '9')))
        {
            return NULL;
        }
    }

    items = bc->items.elts;

    for (i = 0; i < bc->items.nelts; i++) {
        if (items[i].id.len == item.len
            && ngx_strncmp(items[i].id.data, item.data, item.len) == 0)
        {
            return &items[i];
        }
    }

    return NULL;
}


/*
 * The body, signed within the window with the item's callback secret or
 * a region's (gov_region): "v2=" over the timestamp, method, path and
 * body, or the legacy "sha256=" over "TIMESTAMP.BODY" while
 * gov_callback_legacy_signatures is on.  NGX_OK with the
 * body, the signature header and who signed it (" - ID ", "-" the item's
 * own secret: the script takes it only for a step routed there), or
 * NGX_DECLINED with the answer's code in *rc.
 */

static ngx_int_t
ngx_gov_callback_signed(ngx_http_request_t *r, ngx_gov_item_t *it,
    ngx_str_t *id, ngx_str_t *body, ngx_str_t *hsig, ngx_str_t *signers,
    ngx_int_t *rc)
{
    int                        form;
    u_char                    *p;
    size_t                     len;
    long long                  ts;
    ngx_str_t                  hts;
    ngx_uint_t                 i, legacy_off;
    gov_sig_request_t          req;
    ngx_gov_region_t          *regions;
    ngx_http_gov_main_conf_t  *gmcf;

    gmcf = ngx_http_get_module_main_conf(r, ngx_http_gov_module);
    regions = gmcf->bundles.regions.elts;

    *rc = ngx_http_gov_read_body(r, body);

    if (*rc != NGX_OK) {
        *rc = ngx_http_gov_body_refused(r, *rc);
        return NGX_DECLINED;
    }

    /* kept aside when the X-Gov-* headers were stripped */
    ngx_http_gov_callback_headers(r, &hts, hsig);

    len = 3;

    for (i = 0; i < gmcf->bundles.regions.nelts; i++) {
        len += regions[i].id.len + 1;
    }

    signers->data = ngx_pnalloc(r->pool, len);
    if (signers->data == NULL) {
        *rc = NGX_HTTP_INTERNAL_SERVER_ERROR;
        return NGX_DECLINED;
    }

    p = signers->data;
    *p++ = ' ';

    form = gov_sig_form((char *) hsig->data, hsig->len);
    legacy_off = (form == GOV_SIG_V1 && !gmcf->bundles.legacy_signatures);

    if (hts.len && form != GOV_SIG_MALFORMED && !legacy_off
        && gov_sig_timestamp((char *) hts.data, hts.len, ngx_time(),
                             NGX_GOV_SIG_WINDOW, &ts)
           == GOV_SIG_OK)
    {
        /* the path as sent, without the query */
        req.ts = (char *) hts.data;
        req.ts_len = hts.len;
        req.method = (char *) r->method_name.data;
        req.method_len = r->method_name.len;
        req.path = (char *) r->unparsed_uri.data;
        req.path_len = r->args_start
                       ? (size_t) (r->args_start - 1 - r->unparsed_uri.data)
                       : r->unparsed_uri.len;
        req.body = (char *) body->data;
        req.body_len = body->len;

        if (ngx_gov_callback_verify(r, &req, &it->secret, hsig, form,
                                    &it->id,
                                    it - (ngx_gov_item_t *)
                                         gmcf->bundles.items.elts))
        {
            *p++ = '-';
            *p++ = ' ';
        }

        for (i = 0; i < gmcf->bundles.regions.nelts; i++) {
            if (ngx_gov_callback_verify(r, &req, &regions[i].secret, hsig,
                                        form, &regions[i].id,
                                        NGX_GOV_LEGACY_SLOTS / 2 + i))
            {
                p = ngx_sprintf(p, "%V ", &regions[i].id);
            }
        }
    }

    signers->len = p - signers->data;

    if (signers->len > 1) {
        return NGX_OK;
    }

    if (legacy_off) {
        ngx_log_error(NGX_LOG_WARN, r->connection->log, 0,
                      "gov: callback for %V/%V signed \"sha256=\", the "
                      "legacy form, while gov_callback_legacy_signatures "
                      "is off: sign with \"v2=\"", id, &it->id);

    } else {
        ngx_log_error(NGX_LOG_WARN, r->connection->log, 0,
                      "gov: callback for %V/%V with a bad or stale signature",
                      id, &it->id);
    }

    *rc = ngx_http_gov_error(r, NGX_HTTP_UNAUTHORIZED, "bad_signature");

    return NGX_DECLINED;
}


/* a slot per department of when its legacy signature was last said */

ngx_int_t
ngx_gov_callback_add_zone(ngx_conf_t *cf)
{
    return ngx_gov_shm_add(cf, "ngx_gov_callback_legacy",
                           NGX_GOV_LEGACY_SLOTS * sizeof(ngx_atomic_t),
                           (void **) &ngx_gov_callback_legacy);
}


/*
 * One department's secret against the signature: 1 when it signed.  A
 * legacy signature is taken, and said at warn once an hour per department
 * on the node (its slot in shared memory), so that the department is
 * reminded to move to v2 without a line per callback.
 */

static ngx_uint_t
ngx_gov_callback_verify(ngx_http_request_t *r, gov_sig_request_t *req,
    ngx_str_t *secret, ngx_str_t *sig, int form, ngx_str_t *who,
    ngx_uint_t slot)
{
    int                 rc;
    ngx_atomic_t       *said;
    ngx_atomic_uint_t   old;

    rc = gov_sig_verify(req, secret->data, secret->len, (char *) sig->data,
                        sig->len, form == GOV_SIG_V1);

    if (rc == GOV_SIG_OK) {
        return 1;
    }

    if (rc != GOV_SIG_V1) {
        return 0;
    }

    if (ngx_gov_callback_legacy) {
        said = &ngx_gov_callback_legacy[slot % NGX_GOV_LEGACY_SLOTS];
        old = *said;

        if (old && ngx_time() - (time_t) old < 3600) {
            return 1;
        }

        if (!ngx_atomic_cmp_set(said, old, (ngx_atomic_uint_t) ngx_time())) {
            return 1;                       /* another worker says it */
        }
    }

    ngx_log_error(NGX_LOG_WARN, r->connection->log, 0,
                  "gov: \"%V\" signs its callbacks \"sha256=\", the "
                  "legacy form: it is taken while "
                  "gov_callback_legacy_signatures is on; the department "
                  "should sign with \"v2=\" (said once an hour)", who);

    return 1;
}


/*
 * One script checks the transition and records it, with the signature's
 * hash as its replay mark.  NGX_OK (ngx_gov_callback_done() follows),
 * NGX_DECLINED when Redis is down, NGX_ERROR.
 */

static ngx_int_t
ngx_gov_callback_record(ngx_http_request_t *r, ngx_gov_callback_t *cb,
    ngx_int_t state, gov_callback_t *parsed, ngx_str_t *hsig)
{
    ngx_str_t                  receipt, note, replay, request, result, tag;
    ngx_gov_redis_args_t       cmd;
    ngx_http_gov_main_conf_t  *gmcf;
    u_char                     hash[32], hex[64];

    gmcf = ngx_http_get_module_main_conf(r, ngx_http_gov_module);

    /* copies: the parsed body goes after this */

    receipt.len = parsed->receipt_len;
    receipt.data = parsed->receipt ? ngx_pnalloc(r->pool, receipt.len + 1)
                                   : NULL;
    note.len = parsed->note_len;
    note.data = parsed->note ? ngx_pnalloc(r->pool, note.len + 1) : NULL;

    if ((parsed->receipt && receipt.data == NULL)
        || (parsed->note && note.data == NULL))
    {
        return NGX_ERROR;
    }

    if (receipt.data) {
        ngx_memcpy(receipt.data, parsed->receipt, receipt.len);
    }

    if (note.data) {
        ngx_memcpy(note.data, parsed->note, note.len);
    }

    EVP_Digest(hsig->data, hsig->len, hash, NULL, EVP_sha256(), NULL);
    ngx_hex_dump(hex, hash, 32);

    /* in the application's shard, beside what it guards */

    if (ngx_gov_redis_id_tag(r->pool, &gmcf->redis_prefix, &cb->app_id, &tag)
        != NGX_OK
        || ngx_gov_redis_keyf(r->pool, &replay, "%Vreplay:%*s", &tag,
                              (size_t) 64, hex)
           != NGX_OK)
    {
        return NGX_ERROR;
    }

    ngx_str_null(&request);
    ngx_str_null(&result);

    if ((parsed->request
         && ngx_gov_json_text(r->pool, json_incref(parsed->request), 0,
                              &request) != NGX_OK)
        || (parsed->result
            && ngx_gov_json_text(r->pool, json_incref(parsed->result), 0,
                                 &result) != NGX_OK))
    {
        return NGX_ERROR;
    }

    if (ngx_gov_state_cmd(r->pool, &gmcf->bundles, &gmcf->redis_prefix,
                          &cb->app_id, cb->item, state, &receipt, &note,
                          &request, &result, &replay, &cb->signers, &cmd)
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    return ngx_http_gov_redis_send_acked(r, ngx_gov_callback_done, cb, 1,
                                         &cmd);
}


/*
 * The state-change script's arguments: the states that may move to
 * "state" come from the core's table; "DEP:NEED1,NEED2" for every item
 * that depends on this one, which an approval may release.
 */

ngx_int_t
ngx_gov_state_cmd(ngx_pool_t *pool, ngx_gov_bundles_conf_t *bc,
    ngx_str_t *prefix, ngx_str_t *id, ngx_gov_item_t *it, ngx_int_t state,
    ngx_str_t *receipt, ngx_str_t *note, ngx_str_t *request,
    ngx_str_t *result, ngx_str_t *replay, ngx_str_t *signers,
    ngx_gov_redis_args_t *cmd)
{
    u_char           *p, *allowed, *now, *day, *clock, *kbuf;
    size_t           *argvlen;
    ngx_int_t         k;
    ngx_str_t         tag, keys[10];
    ngx_uint_t        i, j, n, nk;
    const char      **argv;
    ngx_gov_item_t   *items, *dep;

    items = bc->items.elts;

    n = 0;
    for (i = 0; i < bc->items.nelts; i++) {
        n += items[i].depends.nelts ? 1 : 0;
    }

    argv = ngx_palloc(pool, (17 + n) * sizeof(char *));
    argvlen = ngx_palloc(pool, (17 + n) * sizeof(size_t));
    allowed = ngx_pnalloc(pool, 256);
    now = ngx_pnalloc(pool, NGX_TIME_T_LEN);
    day = ngx_pnalloc(pool, NGX_INT_T_LEN);
    clock = ngx_pnalloc(pool, NGX_GOV_TALLY_CLOCK_LEN);

    if (argv == NULL || argvlen == NULL || allowed == NULL || now == NULL
        || day == NULL || clock == NULL)
    {
        return NGX_ERROR;
    }

    p = allowed;

    for (k = 0; k < GOV_STEP_STATES; k++) {
        if (gov_state_can(k, state)) {
            p = ngx_sprintf(p, "%s ", gov_state_name(k));
        }
    }

    if (ngx_gov_redis_id_tag(pool, prefix, id, &tag) != NGX_OK) {
        return NGX_ERROR;
    }

    ARG(0, "EVAL", 4);
    argv[1] = ngx_gov_events_script(ngx_gov_callback_lua,
                                    sizeof(ngx_gov_callback_lua) - 1,
                                    &argvlen[1]);
    ARG(2, "0", 1);
    ARG(3, tag.data, tag.len);
    ARG(4, id->data, id->len);
    ARG(5, it->id.data, it->id.len);
    ARG(6, gov_state_name(state), ngx_strlen(gov_state_name(state)));
    ARG(7, allowed, p - allowed);
    ARG(8, receipt->data ? (char *) receipt->data : "", receipt->len);
    ARG(9, note->data ? (char *) note->data : "", note->len);
    ARG(10, now, ngx_sprintf(now, "%T", ngx_time()) - now);
    ARG(11, day, ngx_sprintf(day, "%i", (ngx_int_t) gov_day(ngx_time()))
                 - day);
    ARG(12, replay->data, replay->len);
    ARG(13, request && request->data ? (char *) request->data : "",
        request ? request->len : 0);
    ARG(14, result && result->data ? (char *) result->data : "",
        result ? result->len : 0);

    /* who signed it ("*": a status URI answered, no signature) */
    if (signers) {
        ARG(15, signers->data, signers->len);

    } else {
        ARG(15, "*", 1);
    }

    k = 16;

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

    /* last, the clock the statistics count by */
    ARG(k, clock, ngx_gov_tally_clock(&bc->calendar, ngx_time(), clock));
    k++;

    cmd->argc = (int) k;
    cmd->argv = argv;
    cmd->argvlen = argvlen;

    /* the keys it touches, the replay guard last */

    kbuf = ngx_pnalloc(pool, NGX_GOV_EVENTS_KEYS_BUF);
    if (kbuf == NULL) {
        return NGX_ERROR;
    }

    nk = ngx_gov_events_keys(kbuf, &tag, id,
                             "steps:% app:% doc:% retry due stats events",
                             keys, 9);
    if (nk == 0) {
        return NGX_ERROR;
    }

    keys[nk++] = *replay;

    return ngx_gov_redis_eval_keys(pool, &cmd->argc, &cmd->argv,
                                   (size_t **) &cmd->argvlen, nk, keys);
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

    if (kind->len == 10 && ngx_strncmp(kind->str, "bad_signer", 10) == 0) {
        ngx_log_error(NGX_LOG_WARN, c->log, 0,
                      "gov: callback for %V/%V signed by \"%V\", not by "
                      "the region handling the step", &cb->app_id,
                      &cb->item->id, &cb->signers);
        rc = ngx_http_gov_error(r, NGX_HTTP_UNAUTHORIZED, "bad_signature");
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
    ngx_gov_pcache_drop(&cb->app_id);
    ngx_gov_tally_touch();

    ngx_str_null(&empty);
    rc = ngx_http_gov_send(r, NGX_HTTP_NO_CONTENT,
                           &r->headers_out.content_type, &empty);

done:

    ngx_http_finalize_request(r, rc);
    ngx_http_run_posted_requests(c);
}
