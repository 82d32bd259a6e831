
/*
 * Copyright (C) ngx_gov_module authors
 */


/*
 * Submissions: POST /bundles/ID/applications (JSON or the form),
 * validated, persisted in Redis by one script with the Idempotency-Key,
 * then fanned out through the dispatch room and answered.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include <openssl/evp.h>
#include <openssl/rand.h>

#include "ngx_gov_metrics.h"
#include "ngx_gov_events.h"
#include "ngx_gov_tally.h"
#include "ngx_gov_idmark.h"
#include "ngx_gov_answer.h"
#include "ngx_gov_page.h"
#include "ngx_gov_access.h"
#include "ngx_gov_bundle_conf.h"
#include "ngx_gov_form.h"
#include "ngx_gov_dispatch.h"
#include "ngx_gov_route.h"
#include "ngx_gov_upload.h"
#include "ngx_gov_elicense.h"
#include "ngx_gov_submit.h"
#include "gov_date.h"
#include "gov_http.h"
#include "gov_state.h"


/* an application read and checked, waiting for its uploads' owner */
typedef struct {
    ngx_gov_bundle_t         *bundle;
    json_t                   *doc;
    json_t                   *problems;
    json_t                   *hexes;        /* the uploads it names */
    ngx_str_t                 body;
    ngx_uint_t                form;
    ngx_str_t                 subject;
    ngx_str_t                 actor;
    json_t                   *known;        /* while e-licences are checked */
    ngx_uint_t                elicensed;
} ngx_gov_submit_read_t;


typedef struct {
    ngx_http_request_t       *request;
    ngx_gov_bundle_t         *bundle;
    json_t                   *doc;
    json_t                   *hexes;
    ngx_str_t                 subject;
    ngx_str_t                 actor;
    ngx_str_t                 idem;
    ngx_str_t                 docstr;       /* doc as stored */
    ngx_str_t                 app_id;
    u_char                    code[8];
    ngx_uint_t                day;          /* of the id's date */
    time_t                    submitted;
    u_char                   *chosen;       /* per item of the bundle */
    ngx_uint_t                nchosen;
    ngx_gov_region_t        **regions;      /* per item: where routed */
    ngx_gov_batch_t          *batch;
    ngx_event_t               timer;
    ngx_event_t               answer_ev;
    ngx_uint_t                answered;
} ngx_gov_submit_t;


#define ARG(i, s, l)  argv[i] = (const char *) (s); argvlen[i] = (l)

#define NGX_GOV_STEP_QUEUED  "{\"state\":\"queued\",\"attempts\":0}"
#define NGX_GOV_STEP_ROUTED                                                  \
    "{\"state\":\"queued\",\"attempts\":0,\"region\":\"%V\"}"


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
    "local nu = 13 + 3 * tonumber(ARGV[10])\n"
    "for k = nu + 1, nu + tonumber(ARGV[nu]) do\n"
    "  if redis.call('HEXISTS', p .. 'up:' .. ARGV[k], 'o:' .. ARGV[9]) == 0\n"
    "     or redis.call('EXISTS', p .. 'updel:' .. ARGV[k]) == 1 then\n"
    "    return {'unknown_upload', ARGV[k]}\n"
    "  end\n"
    "end\n"
    "local sk = p .. 'seq:' .. ARGV[2] .. ARGV[3]\n"
    "local hw = tonumber(ARGV[12])\n"
    "-- the number n of the id is seq * shards + shard: its shard, read back\n"
    "local ns, sh = string.match(ARGV[#ARGV - 2], '^(%d+) (%d+)$')\n"
    "ns, sh = tonumber(ns), tonumber(sh)\n"
    "local id\n"
    "repeat\n"
    "  local seq = redis.call('INCR', sk)\n"
    "  if seq * ns + sh <= hw then\n"
    "    seq = math.floor((hw - sh) / ns) + 1\n"
    "    redis.call('SET', sk, seq)\n"
    "  end\n"
    "  local n = seq * ns + sh\n"
    "  if n > 999999 then return redis.error_reply('sequence exhausted') end\n"
    "  id = ARGV[2] .. ARGV[3] .. string.format('%06d', n)\n"
    "until redis.call('EXISTS', p .. 'app:' .. id) == 0\n"
    "redis.call('EXPIRE', sk, 172800)\n"
    "redis.call('HSET', p .. 'app:' .. id, 'doc', ARGV[7], 'code', ARGV[8],\n"
    "           'subject', ARGV[9], 'actor', ARGV[11], 'ver', 0,\n"
    "           'bundle', cjson.decode(ARGV[7]).bundle)\n"
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
    "-- 容缺受理: each promise by its due day (YYYYMMDD), for the sweep\n"
    "for _, pr in ipairs(cjson.decode(ARGV[7]).promises or {}) do\n"
    "  redis.call('ZADD', p .. 'promises',\n"
    "             tonumber((string.gsub(pr.due, '-', ''))),\n"
    "             id .. '|' .. pr.material)\n"
    "end\n"
    "local c, st = gov_clock(ARGV[#ARGV]), ARGV[#ARGV - 1]\n"
    "if c then\n"
    "  redis.call('HSET', p .. 'app:' .. id, 'stats', st)\n"
    "  st = cjson.decode(st)\n"
    "  gov_tally(c, 'b:' .. cjson.decode(ARGV[7]).bundle .. ':applications', 1)\n"
    "  for item in pairs(st.i) do\n"
    "    gov_tally(c, 'i:' .. item .. ':applications', 1)\n"
    "  end\n"
    "end\n"
    "for k = nu + 1, nu + tonumber(ARGV[nu]) do\n"
    "  redis.call('HINCRBY', p .. 'up:' .. ARGV[k], 'refs', 1)\n"
    "  redis.call('ZREM', p .. 'upidle', ARGV[k])\n"
    "end\n"
    "if ARGV[6] ~= '' then\n"
    "  redis.call('SET', p .. 'idem:' .. ARGV[6], id, 'EX', 86400)\n"
    "end\n"
    "gov_event(p .. 'app:' .. id, id, 'submitted')\n"
    "return {'new', id}\n";


static ngx_int_t ngx_gov_created(ngx_http_request_t *r, ngx_gov_bundle_t *b,
    ngx_str_t *body, json_t *doc);
static json_t *ngx_gov_received(ngx_gov_bundle_t *b, json_t *guide,
    json_t *doc);
static void ngx_gov_submit_body(ngx_http_request_t *r);
static void ngx_gov_submit_cleanup(void *data);
static void ngx_gov_submit_identity(ngx_http_request_t *r);
static ngx_int_t ngx_gov_submit_read(ngx_http_request_t *r,
    ngx_gov_submit_read_t *rd, ngx_int_t *rc);
static ngx_int_t ngx_gov_submit_uploads(ngx_http_request_t *r,
    ngx_gov_submit_read_t *rd);
static void ngx_gov_submit_checked(ngx_http_request_t *r, void *data,
    json_t *known);
static json_t *ngx_gov_submit_elicenses(ngx_gov_submit_read_t *rd);
static void ngx_gov_submit_elicensed(ngx_http_request_t *r, void *data,
    ngx_int_t rc, json_t *missing);
static void ngx_gov_submit_read_cleanup(void *data);
static void ngx_gov_submit_owned(ngx_http_request_t *r,
    ngx_gov_upload_stream_t *st);
static ngx_int_t ngx_gov_submit_parse(ngx_http_request_t *r,
    ngx_gov_submit_read_t *rd, ngx_int_t *rc);
static void ngx_gov_submit_problem_n(json_t **problems, const char *id,
    size_t len, const char *reason);
static void ngx_gov_submit_problem(json_t **problems, const char *id,
    const char *reason);
static ngx_int_t ngx_gov_submit_routes(ngx_http_request_t *r,
    ngx_gov_submit_t *sc);
static ngx_int_t ngx_gov_submit_promises(ngx_http_request_t *r,
    ngx_gov_submit_t *sc, json_t *ids);
static ngx_gov_submit_t *ngx_gov_submit_create(ngx_http_request_t *r,
    ngx_gov_bundle_t *b, ngx_str_t *subject, ngx_str_t *actor, json_t *doc,
    json_t *uploads, json_t *hexes);
static ngx_int_t ngx_gov_submit_idempotency(ngx_http_request_t *r,
    ngx_gov_submit_t *sc, ngx_str_t *body, ngx_uint_t form, ngx_int_t *rc);
static ngx_int_t ngx_gov_submit_keys(ngx_http_request_t *r,
    ngx_gov_submit_t *sc, ngx_str_t *tag, u_char *date, u_char *clock,
    ngx_gov_redis_args_t *cmd);
static ngx_int_t ngx_gov_submit_persist(ngx_http_request_t *r,
    ngx_gov_submit_t *sc);
static void ngx_gov_submit_persisted(redisReply *reply, void *data);
static ngx_int_t ngx_gov_submit_lost_upload(ngx_gov_submit_t *sc,
    redisReply *hex);
static ngx_int_t ngx_gov_submit_replayed(ngx_gov_submit_t *sc,
    redisReply *id, redisReply *answer);
static ngx_int_t ngx_gov_submit_fan_out(ngx_gov_submit_t *sc);
static void ngx_gov_submit_dispatched(ngx_gov_batch_t *batch);
static void ngx_gov_submit_timeout(ngx_event_t *ev);
static void ngx_gov_submit_answer(ngx_gov_submit_t *sc);


/*
 * 201: the JSON answer, or for a browser the receipt built from it, with
 * each step's item and department named from the guide.
 */

ngx_int_t
ngx_gov_submit_handler(ngx_http_request_t *r)
{
    char                       boundary[GOV_MP_BOUNDARY_MAX + 1];
    ngx_http_gov_main_conf_t  *gmcf;

    gmcf = ngx_http_get_module_main_conf(r, ngx_http_gov_module);

    if (r->method == NGX_HTTP_POST && r->headers_in.content_type
        && gmcf->upload.path.len
        && gov_mp_boundary((char *) r->headers_in.content_type->value.data,
                           r->headers_in.content_type->value.len, boundary))
    {
        /* the form with its files: identity first, then the stream */
        return ngx_gov_upload_form(r, NGX_GOV_UPLOAD_FORM,
                                   ngx_gov_submit_owned);
    }

    return ngx_http_gov_read_post(r, ngx_gov_submit_body);
}


/*
 * The files are the citizen's: the form's own fields, each stored file
 * as "materials.ID=upload:HEX" in place of what the form said for ID,
 * and a file refused (type, size, empty) as a problem of its material.
 */

static void
ngx_gov_submit_owned(ngx_http_request_t *r, ngx_gov_upload_stream_t *st)
{
    ngx_int_t               rc;
    ngx_uint_t              i;
    ngx_connection_t       *c;
    ngx_pool_cleanup_t     *cln;
    ngx_gov_upload_file_t  *f;
    ngx_gov_submit_read_t  *rd;

    c = r->connection;
    f = st->files.elts;

    if (st->status) {
        rc = ngx_http_gov_error(r, st->status, st->error ? st->error
                                                         : "unavailable");
        goto done;
    }

    cln = ngx_pool_cleanup_add(r->pool, sizeof(ngx_gov_submit_read_t));
    if (cln == NULL) {
        rc = NGX_HTTP_INTERNAL_SERVER_ERROR;
        goto done;
    }

    rd = cln->data;
    ngx_memzero(rd, sizeof(ngx_gov_submit_read_t));
    cln->handler = ngx_gov_submit_read_cleanup;

    rd->form = 1;
    rd->bundle = ngx_gov_uri_bundle(r);
    (void) ngx_http_gov_whoami(r, &rd->subject, &rd->actor);

    if (ngx_gov_upload_form_text(r, st, &rd->body) != NGX_OK) {
        rc = NGX_HTTP_INTERNAL_SERVER_ERROR;
        goto done;
    }

    if (ngx_gov_submit_parse(r, rd, &rc) != NGX_OK) {
        goto done;
    }

    for (i = 0; i < st->files.nelts; i++) {
        if (f[i].status && f[i].field.len > 10) {
            /* "materials.ID": the problem is ID's */
            ngx_gov_submit_problem_n(&rd->problems,
                                     (char *) f[i].field.data + 10,
                                     f[i].field.len - 10, f[i].error);
        }
    }

    rc = ngx_gov_submit_uploads(r, rd);

    if (rc == NGX_DONE) {
        return;
    }

done:

    ngx_http_finalize_request(r, rc);
    ngx_http_run_posted_requests(c);
}


static ngx_int_t
ngx_gov_created(ngx_http_request_t *r, ngx_gov_bundle_t *b, ngx_str_t *body,
    json_t *doc)
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

    if (doc) {
        v = ngx_gov_received(b, guide, doc);
        json_object_set_new(data, "has_received",
                            json_boolean(json_array_size(v) != 0));
        json_object_set_new(data, "received", v);
    }

    json_decref(guide);

    rc = ngx_http_gov_page(r, NGX_HTTP_CREATED, "receipt", data);

    if (rc == NGX_DECLINED) {
        rc = ngx_http_gov_send_json(r, NGX_HTTP_CREATED, body);
    }

    return rc;
}


/* what the receipt lists as received, material by material */

static json_t *
ngx_gov_received(ngx_gov_bundle_t *b, json_t *guide, json_t *doc)
{
    char         size[32];
    size_t       i, k;
    json_t      *list, *m, *v, *meta, *pr;
    const char  *id, *value;

    list = json_array();

    json_array_foreach(json_object_get(guide, "materials"), i, m) {
        id = json_string_value(json_object_get(m, "id"));
        v = id ? json_object_get(json_object_get(doc, "materials"), id)
               : NULL;
        value = json_string_value(v);

        if (value == NULL) {
            /* 容缺受理: promised, with its day */

            json_array_foreach(json_object_get(doc, "promises"), k, pr) {
                value = json_string_value(json_object_get(pr, "material"));

                if (id && value && ngx_strcmp(value, id) == 0) {
                    json_array_append_new(list, json_pack("{s:O,s:s,s:O}",
                                          "name", json_object_get(m, "name"),
                                          "what", "承诺后补，请于此日前补交",
                                          "file", json_object_get(pr,
                                                                  "due")));
                }
            }

            continue;
        }

        if (ngx_strcmp(value, "elicense") == 0) {
            json_array_append_new(list, json_pack("{s:O,s:s}",
                                  "name", json_object_get(m, "name"),
                                  "what", "电子证照"));
            continue;
        }

        meta = (ngx_strlen(value) == 7 + 64)
               ? json_object_get(json_object_get(doc, "uploads"), value + 7)
               : NULL;

        if (meta) {
            json_array_append_new(list, json_pack("{s:O,s:s,s:O?,s:s}",
                "name", json_object_get(m, "name"), "what", "已上传",
                "file", json_object_get(meta, "name"),
                "size", ngx_gov_size_text(json_integer_value(
                            json_object_get(meta, "size")), size)));
            continue;
        }

        json_array_append_new(list, json_pack("{s:O,s:s,s:s}",
                              "name", json_object_get(m, "name"),
                              "what", "材料编号", "file", value));
    }

    return list;
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

    if (sc->hexes) {
        json_decref(sc->hexes);
        sc->hexes = NULL;
    }
}


static void
ngx_gov_submit_identity(ngx_http_request_t *r)
{
    ngx_int_t               rc, reason;
    ngx_connection_t       *c;
    ngx_pool_cleanup_t     *cln;
    ngx_gov_submit_read_t  *rd;

    c = r->connection;

    cln = ngx_pool_cleanup_add(r->pool, sizeof(ngx_gov_submit_read_t));
    if (cln == NULL) {
        rc = NGX_HTTP_INTERNAL_SERVER_ERROR;
        goto done;
    }

    rd = cln->data;
    ngx_memzero(rd, sizeof(ngx_gov_submit_read_t));
    cln->handler = ngx_gov_submit_read_cleanup;

    reason = ngx_http_gov_whoami(r, &rd->subject, &rd->actor);

    if (reason == NGX_DECLINED) {
        rc = ngx_http_gov_unavailable(r);
        goto done;
    }

    if (reason != GOV_AUTH_OK) {
        rc = ngx_http_gov_unauthenticated(r, reason);
        goto done;
    }

    if (ngx_http_gov_same_site(r) != NGX_OK) {
        rc = ngx_http_gov_cross_site(r);
        goto done;
    }

    /* which bundle: the URI was checked by the handler */

    rd->bundle = ngx_gov_uri_bundle(r);

    if (ngx_gov_submit_read(r, rd, &rc) != NGX_OK) {
        goto done;
    }

    rc = ngx_gov_submit_uploads(r, rd);

    if (rc == NGX_DONE) {
        return;
    }

done:

    ngx_http_finalize_request(r, rc);
    ngx_http_run_posted_requests(c);
}


/*
 * The application as sent: JSON from API clients, an HTML form from
 * browsers, validated against the bundle with every problem at once
 * (rd->problems).  NGX_OK, or NGX_DECLINED with the answer's code in *rc.
 */

static ngx_int_t
ngx_gov_submit_read(ngx_http_request_t *r, ngx_gov_submit_read_t *rd,
    ngx_int_t *rc)
{
    switch (ngx_http_gov_body_type(r)) {

    case NGX_GOV_BODY_JSON:
        rd->form = 0;
        break;

    case NGX_GOV_BODY_FORM:
        rd->form = 1;
        break;

    default:
        *rc = ngx_http_gov_error(r, NGX_HTTP_UNSUPPORTED_MEDIA_TYPE,
                                 "unsupported_media_type");
        return NGX_DECLINED;
    }

    *rc = ngx_http_gov_read_body(r, &rd->body);

    if (*rc != NGX_OK) {
        *rc = ngx_http_gov_body_refused(r, *rc);
        return NGX_DECLINED;
    }

    return ngx_gov_submit_parse(r, rd, rc);
}


/* rd->body as JSON or a form, validated into rd->doc and rd->problems */

static ngx_int_t
ngx_gov_submit_parse(ngx_http_request_t *r, ngx_gov_submit_read_t *rd,
    ngx_int_t *rc)
{
    u_char            *chosen;
    json_t            *promised;
    gov_app_spec_t     spec;
    ngx_gov_bundle_t  *b;

    b = rd->bundle;

    if (rd->form) {
        rd->doc = gov_app_from_form((char *) rd->body.data, rd->body.len);

    } else {
        rd->doc = json_loadb((char *) rd->body.data, rd->body.len,
                             JSON_REJECT_DUPLICATES, NULL);
    }

    if (rd->doc == NULL) {
        *rc = ngx_http_gov_error(r, NGX_HTTP_BAD_REQUEST,
                                 rd->form ? "malformed_form"
                                          : "malformed_json");
        return NGX_DECLINED;
    }

    /* the items its situation chooses: only theirs are asked for */

    chosen = ngx_palloc(r->pool, b->items.nelts);

    if (chosen != NULL) {
        (void) ngx_gov_bundle_choose(ngx_gov_bc(r), b,
                                     json_object_get(rd->doc, "fields"),
                                     chosen);
    }

    if (chosen == NULL
        || ngx_gov_bundle_spec_for(r->pool, ngx_gov_bc(r), b, chosen,
                                   rd->doc, &spec)
           != NGX_OK)
    {
        json_decref(rd->doc);
        *rc = NGX_HTTP_INTERNAL_SERVER_ERROR;
        return NGX_DECLINED;
    }

    rd->problems = NULL;

    if (gov_app_validate(&spec, rd->doc, &rd->problems) != 0
        && rd->problems == NULL)
    {
        json_decref(rd->doc);
        *rc = NGX_HTTP_INTERNAL_SERVER_ERROR;
        return NGX_DECLINED;
    }

    if (rd->problems == NULL) {
        /* 容缺受理: only what is promised, tolerable and still missing */
        promised = gov_app_promised(&spec, rd->doc);

        if (promised == NULL) {
            json_decref(rd->doc);
            *rc = NGX_HTTP_INTERNAL_SERVER_ERROR;
            return NGX_DECLINED;
        }

        json_object_set_new(rd->doc, "promises", promised);
    }

    return NGX_OK;
}


/*
 * The materials given as "upload:HEX": each must be the applicant's own
 * upload, asked of Redis before anything is answered, so that every
 * problem still comes at once.
 */

static ngx_int_t
ngx_gov_submit_uploads(ngx_http_request_t *r, ngx_gov_submit_read_t *rd)
{
    json_t      *materials, *v;
    ngx_int_t    rc;
    const char  *key, *hex;

    rd->hexes = json_array();
    if (rd->hexes == NULL) {
        ngx_gov_submit_checked(r, rd, NULL);
        return NGX_DONE;
    }

    materials = json_object_get(rd->doc, "materials");

    json_object_foreach(materials, key, v) {
        if (!json_is_string(v) || json_string_length(v) < 7
            || ngx_strncmp(json_string_value(v), "upload:", 7) != 0)
        {
            continue;
        }

        hex = ngx_gov_upload_ref_hex(json_string_value(v),
                                     json_string_length(v));

        if (hex) {
            json_array_append_new(rd->hexes,
                                  json_stringn(hex, NGX_GOV_UPLOAD_HEX));
        }
    }

    if (json_array_size(rd->hexes) == 0) {
        ngx_gov_submit_checked(r, rd, json_object());
        return NGX_DONE;
    }

    rc = ngx_gov_upload_known(r, &rd->subject, rd->hexes,
                              ngx_gov_submit_checked, rd);

    return rc == NGX_OK ? NGX_DONE : NGX_HTTP_INTERNAL_SERVER_ERROR;
}


/*
 * Every problem known ("known": the uploads that are the applicant's,
 * NULL when Redis is down): the form again or 422, else persisted.
 */

static void
ngx_gov_submit_checked(ngx_http_request_t *r, void *data, json_t *known)
{
    ngx_gov_submit_read_t *rd = data;

    json_t            *materials, *v, *uploads, *meta, *asked;
    ngx_int_t          rc;
    const char        *key, *hex;
    ngx_connection_t  *c;
    ngx_gov_submit_t  *sc;

    c = r->connection;
    sc = NULL;
    uploads = NULL;

    if (known == NULL) {
        rc = ngx_http_gov_unavailable(r);
        goto done;
    }

    /* 电子证照: the library asked first, its answers among the problems */

    if (!rd->elicensed && ngx_gov_elicense_on(r)) {
        rd->elicensed = 1;
        asked = ngx_gov_submit_elicenses(rd);

        if (json_array_size(asked)) {
            rd->known = known;
            rc = ngx_gov_elicense_check(r, &rd->subject, asked,
                                        ngx_gov_submit_elicensed, rd);
            json_decref(asked);

            if (rc == NGX_OK) {
                return;
            }

            rd->known = NULL;
            rc = NGX_HTTP_INTERNAL_SERVER_ERROR;
            goto done;
        }

        json_decref(asked);
    }

    /* unknown and others' uploads alike: existence is never revealed */

    uploads = json_object();
    materials = json_object_get(rd->doc, "materials");

    json_object_foreach(materials, key, v) {
        if (!json_is_string(v) || json_string_length(v) < 7
            || ngx_strncmp(json_string_value(v), "upload:", 7) != 0)
        {
            continue;
        }

        hex = ngx_gov_upload_ref_hex(json_string_value(v),
                                     json_string_length(v));
        meta = hex ? json_object_getn(known, hex, NGX_GOV_UPLOAD_HEX) : NULL;

        if (meta) {
            json_object_setn(uploads, hex, NGX_GOV_UPLOAD_HEX, meta);
            continue;
        }

        ngx_gov_submit_problem(&rd->problems, key, "unknown_upload");
    }

    if (rd->problems) {
        rc = NGX_DECLINED;

        if (rd->form && ngx_http_gov_wants_html(r)) {
            /* the form again, every problem next to its field */
            rc = ngx_gov_apply_page(r, rd->bundle, rd->doc, rd->problems,
                                    known, 422);
        }

        if (rc == NGX_DECLINED) {
            rc = ngx_http_gov_json_answer(r, 422, json_incref(rd->problems));
        }

        goto done;
    }

    sc = ngx_gov_submit_create(r, rd->bundle, &rd->subject, &rd->actor,
                               rd->doc, uploads, rd->hexes);

    if (sc == NULL) {
        rc = NGX_HTTP_INTERNAL_SERVER_ERROR;
        goto done;
    }

    if (ngx_gov_submit_routes(r, sc) != NGX_OK) {
        /* the configuration routes an item nowhere: nothing is stored */
        rc = ngx_http_gov_error(r, NGX_HTTP_INTERNAL_SERVER_ERROR,
                                "no_route");
        goto done;
    }

    if (ngx_gov_submit_idempotency(r, sc, &rd->body, rd->form, &rc)
        != NGX_OK)
    {
        goto done;
    }

    /* persisted first: no department hears of it before Redis has it */

    rc = ngx_http_gov_queued(r, ngx_gov_submit_persist(r, sc));

done:

    json_decref(known);
    json_decref(uploads);
    ngx_gov_submit_read_cleanup(rd);

    if (rc == NGX_DONE) {
        return;
    }

    ngx_http_finalize_request(r, rc);
    ngx_http_run_posted_requests(c);
}


/* the materials given as "elicense" that may be: the library is asked */

static json_t *
ngx_gov_submit_elicenses(ngx_gov_submit_read_t *rd)
{
    json_t      *asked, *v;
    ngx_uint_t   k;
    const char  *key;

    asked = json_array();

    json_object_foreach(json_object_get(rd->doc, "materials"), key, v) {
        if (!json_is_string(v) || ngx_strcmp(json_string_value(v), "elicense")
                                  != 0)
        {
            continue;
        }

        for (k = 0; k < rd->bundle->napp_materials; k++) {
            if (rd->bundle->app_materials[k].elicense
                && ngx_strcmp(rd->bundle->app_materials[k].id, key) == 0)
            {
                json_array_append_new(asked, json_string(key));
                break;
            }
        }
    }

    return asked;
}


static void
ngx_gov_submit_elicensed(ngx_http_request_t *r, void *data, ngx_int_t rc,
    json_t *missing)
{
    ngx_gov_submit_read_t *rd = data;

    size_t             i;
    json_t            *known, *v;
    ngx_connection_t  *c;

    c = r->connection;
    known = rd->known;
    rd->known = NULL;

    if (rc != NGX_OK) {
        /* the library cannot say: nothing is accepted on a guess */
        json_decref(known);
        ngx_gov_submit_read_cleanup(rd);
        ngx_http_finalize_request(r,
                                  ngx_http_gov_unavailable_for(r, "elicense",
                                      ngx_gov_elicense_left(r)));
        ngx_http_run_posted_requests(c);
        return;
    }

    json_array_foreach(missing, i, v) {
        ngx_gov_submit_problem(&rd->problems, json_string_value(v),
                               "elicense_not_found");
    }

    json_decref(missing);

    ngx_gov_submit_checked(r, rd, known);
}


static void
ngx_gov_submit_read_cleanup(void *data)
{
    ngx_gov_submit_read_t *rd = data;

    json_decref(rd->known);
    rd->known = NULL;
    json_decref(rd->doc);
    json_decref(rd->problems);
    json_decref(rd->hexes);

    rd->doc = NULL;
    rd->problems = NULL;
    rd->hexes = NULL;
}


/* one more {"id","reason"} in the problems, made when there were none */

static void
ngx_gov_submit_problem(json_t **problems, const char *id, const char *reason)
{
    ngx_gov_submit_problem_n(problems, id, ngx_strlen(id), reason);
}


static void
ngx_gov_submit_problem_n(json_t **problems, const char *id, size_t len,
    const char *reason)
{
    size_t   i;
    json_t  *invalid, *missing, *v;

    if (*problems == NULL) {
        *problems = json_pack("{s:s,s:[],s:[]}", "error",
                              "invalid_application", "missing", "invalid");
        if (*problems == NULL) {
            return;
        }
    }

    /* a reason says more than "missing" */

    missing = json_object_get(*problems, "missing");

    json_array_foreach(missing, i, v) {
        if (json_string_length(v) == len
            && ngx_strncmp(json_string_value(v), id, len) == 0)
        {
            json_array_remove(missing, i);
            break;
        }
    }

    invalid = json_object_get(*problems, "invalid");

    if (!json_is_array(invalid)) {
        invalid = json_array();
        json_object_set_new(*problems, "invalid", invalid);
    }

    json_array_append_new(invalid, json_pack("{s:s%,s:s}", "id", id, len,
                                             "reason", reason));
}


/*
 * The submission: its query code (8 characters from a cryptographic
 * source) and the document stored and sent, with only the known fields
 * and materials.
 */

static ngx_gov_submit_t *
ngx_gov_submit_create(ngx_http_request_t *r, ngx_gov_bundle_t *b,
    ngx_str_t *subject, ngx_str_t *actor, json_t *doc, json_t *uploads,
    json_t *hexes)
{
    u_char              *p, random[8], date[GOV_ISO_TIME_LEN];
    json_t              *v;
    ngx_uint_t           i;
    ngx_gov_submit_t    *sc;
    ngx_pool_cleanup_t  *cln;

    static const char  alphabet[] = "23456789ABCDEFGHJKLMNPQRSTUVWXYZ";

    cln = ngx_pool_cleanup_add(r->pool, sizeof(ngx_gov_submit_t));
    if (cln == NULL) {
        return NULL;
    }

    sc = cln->data;
    ngx_memzero(sc, sizeof(ngx_gov_submit_t));
    cln->handler = ngx_gov_submit_cleanup;

    sc->request = r;
    sc->bundle = b;
    sc->subject = *subject;
    sc->actor = *actor;
    sc->submitted = ngx_time();

    if (RAND_bytes(random, sizeof(random)) != 1) {
        return NULL;
    }

    for (i = 0; i < 8; i++) {
        sc->code[i] = alphabet[random[i] & 31];
    }

    /* the items of its situation: the steps it will have */

    sc->chosen = ngx_palloc(r->pool, b->items.nelts);
    if (sc->chosen == NULL) {
        return NULL;
    }

    sc->nchosen = ngx_gov_bundle_choose(ngx_gov_bc(r), b,
                                        json_object_get(doc, "fields"),
                                        sc->chosen);

    sc->doc = json_object();
    json_object_set_new(sc->doc, "bundle",
                        json_stringn((char *) b->id.data, b->id.len));
    json_object_set_new(sc->doc, "subject",
                        json_stringn((char *) subject->data, subject->len));
    json_object_set_new(sc->doc, "actor", actor->len
                        ? json_stringn((char *) actor->data, actor->len)
                        : json_null());

    v = json_object_get(doc, "fields");
    json_object_set_new(sc->doc, "fields", v ? json_incref(v) : json_object());
    v = json_object_get(doc, "materials");
    json_object_set_new(sc->doc, "materials",
                        v ? json_incref(v) : json_object());

    if (json_array_size(json_object_get(doc, "promises"))
        && ngx_gov_submit_promises(r, sc, json_object_get(doc, "promises"))
           != NGX_OK)
    {
        return NULL;
    }

    if (json_object_size(uploads)) {
        /* what departments are told of each upload (ngx_gov_payload()) */
        json_object_set(sc->doc, "uploads", uploads);
        sc->hexes = json_incref(hexes);
    }

    p = (u_char *) gov_iso_time((char *) date, sc->submitted);
    json_object_set_new(sc->doc, "submitted_at",
                        json_stringn((char *) date, p - date));

    if (ngx_gov_json_text(r->pool, json_incref(sc->doc), 0, &sc->docstr)
        != NGX_OK)
    {
        return NULL;
    }

    return sc;
}


/*
 * 容缺受理: each promised material with the day it is due, its tolerable
 * working days after submission by the calendar; kept in the document,
 * which departments get, and swept when past due.
 */

static ngx_int_t
ngx_gov_submit_promises(ngx_http_request_t *r, ngx_gov_submit_t *sc,
    json_t *ids)
{
    int                      due;
    u_char                   date[GOV_ISO_TIME_LEN], *p;
    json_t                  *promises, *v;
    ngx_str_t                id;
    ngx_int_t                k;
    ngx_uint_t               i;
    ngx_gov_material_t      *materials;
    ngx_gov_bundles_conf_t  *bc;

    bc = ngx_gov_bc(r);
    materials = bc->materials.elts;

    promises = json_array();
    if (promises == NULL) {
        return NGX_ERROR;
    }

    json_object_set_new(sc->doc, "promises", promises);

    json_array_foreach(ids, i, v) {
        id.data = (u_char *) json_string_value(v);
        id.len = json_string_length(v);

        k = ngx_gov_find(&bc->materials, sizeof(ngx_gov_material_t), &id);

        if (k == NGX_ERROR || materials[k].tolerable == 0) {
            /* validation let it through: cannot be */
            return NGX_ERROR;
        }

        due = gov_calendar_add(&bc->calendar, gov_day(sc->submitted),
                               (int) materials[k].tolerable);
        p = (u_char *) gov_iso_date((char *) date, due);

        json_array_append_new(promises,
                              json_pack("{s:O,s:s%}", "material", v,
                                        "due", (char *) date,
                                        (size_t) (p - date)));
    }

    return NGX_OK;
}


/*
 * Where each routed item goes (跨省通办): its backend evaluated with the
 * application's fields now, so that a field routing it nowhere stores
 * nothing, and the region it leads to kept on the step (its callbacks are
 * signed with that region's secret, its page says who handles it).
 */

static ngx_int_t
ngx_gov_submit_routes(ngx_http_request_t *r, ngx_gov_submit_t *sc)
{
    ngx_str_t                uri;
    ngx_uint_t               i;
    ngx_gov_item_t          *items, *it;
    ngx_gov_bundles_conf_t  *bc;

    bc = ngx_gov_bc(r);
    items = bc->items.elts;

    sc->regions = ngx_pcalloc(r->pool, sc->bundle->items.nelts
                                       * sizeof(ngx_gov_region_t *));
    if (sc->regions == NULL) {
        return NGX_ERROR;
    }

    for (i = 0; i < sc->bundle->items.nelts; i++) {
        it = &items[sc->bundle->item_idx[i]];

        if (!sc->chosen[i] || it->backend_cv == NULL) {
            continue;
        }

        if (ngx_gov_route_uri(r, it, NGX_GOV_ROUTE_BACKEND,
                              json_object_get(sc->doc, "fields"), &uri)
            != NGX_OK)
        {
            return NGX_ERROR;
        }

        sc->regions[i] = ngx_gov_route_region(bc, &uri);
    }

    return NGX_OK;
}


/*
 * The Idempotency-Key header (a form: its hidden field), kept per subject
 * and hashed.  NGX_OK, or NGX_DECLINED with the answer's code in *rc.
 */

static ngx_int_t
ngx_gov_submit_idempotency(ngx_http_request_t *r, ngx_gov_submit_t *sc,
    ngx_str_t *body, ngx_uint_t form, ngx_int_t *rc)
{
    u_char            hash[32], hex[64], key[257];
    long              klen;
    ngx_str_t         idem;
    ngx_table_elt_t  *h;

    h = ngx_http_gov_find_header(r, "idempotency-key", 15);

    if (h) {
        idem = h->value;

    } else if (form) {
        klen = gov_form_get((char *) body->data, body->len,
                            "idempotency_key", (char *) key, sizeof(key) - 1);
        idem.data = key;
        idem.len = (klen > 0) ? (size_t) klen : 0;

        if (klen == -2) {
            /* too long (or malformed): refused below */
            idem.len = sizeof(key);
        }

    } else {
        return NGX_OK;
    }

    if (idem.len == 0) {
        return NGX_OK;
    }

    if (idem.len > 255) {
        *rc = ngx_http_gov_error(r, NGX_HTTP_BAD_REQUEST,
                                 "idempotency_key_too_long");
        return NGX_DECLINED;
    }

    EVP_Digest(idem.data, idem.len, hash, NULL, EVP_sha256(), NULL);
    ngx_hex_dump(hex, hash, 32);

    sc->idem.len = sc->subject.len + 1 + 64;
    sc->idem.data = ngx_pnalloc(r->pool, sc->idem.len);
    if (sc->idem.data == NULL) {
        *rc = NGX_HTTP_INTERNAL_SERVER_ERROR;
        return NGX_DECLINED;
    }

    ngx_sprintf(sc->idem.data, "%V:%*s", &sc->subject, (size_t) 64, hex);

    return NGX_OK;
}


/*
 * One script stores the application, its steps, the retry queue entries
 * of the steps that can go now, the subject's index and the idempotency
 * key.  NGX_OK (ngx_gov_submit_persisted() follows), NGX_DECLINED when
 * Redis is down, NGX_ERROR.
 */

static ngx_int_t
ngx_gov_submit_persist(ngx_http_request_t *r, ngx_gov_submit_t *sc)
{
    u_char                    *date, *now_ms, *lease, *nitems, *high, *hex;
    u_char                    *p, hash[32];
    json_t                    *v, *limits;
    ngx_str_t                  stats;
    ngx_uint_t                 i, k, n, ready, nup;
    ngx_gov_item_t            *items, *it;
    ngx_gov_bundle_t          *b;
    const char               **argv;
    size_t                    *argvlen;
    ngx_str_t                  tag;
    ngx_uint_t                 shard;
    ngx_gov_redis_args_t       cmd;
    ngx_gov_bundles_conf_t    *bc;
    ngx_http_gov_main_conf_t  *gmcf;

    gmcf = ngx_http_get_module_main_conf(r, ngx_http_gov_module);
    bc = &gmcf->bundles;
    b = sc->bundle;
    items = bc->items.elts;
    n = sc->nchosen;

    nup = json_array_size(sc->hexes);

    argv = ngx_palloc(r->pool, (19 + 3 * n + nup) * sizeof(char *));
    argvlen = ngx_palloc(r->pool, (19 + 3 * n + nup) * sizeof(size_t));
    date = ngx_pnalloc(r->pool, GOV_ISO_DATE_LEN + 64 + 8 * NGX_INT64_LEN
                                + NGX_GOV_TALLY_CLOCK_LEN);

    if (argv == NULL || argvlen == NULL || date == NULL) {
        return NGX_ERROR;
    }

    hex = date + GOV_ISO_DATE_LEN;
    now_ms = hex + 64;
    lease = now_ms + NGX_INT64_LEN;
    nitems = lease + NGX_INT64_LEN;
    high = nitems + NGX_INT64_LEN;

    EVP_Digest(sc->code, 8, hash, NULL, EVP_sha256(), NULL);
    ngx_hex_dump(hex, hash, 32);

    sc->day = gov_day(sc->submitted);

    ARG(0, "EVAL", 4);
    argv[1] = ngx_gov_events_script(ngx_gov_submit_lua,
                                    sizeof(ngx_gov_submit_lua) - 1,
                                    &argvlen[1]);
    ARG(2, "0", 1);

    /* a citizen's applications, uploads and list are one shard */
    shard = ngx_gov_redis_name_shard(&sc->subject);

    if (ngx_gov_redis_tag(r->pool, &gmcf->redis_prefix, shard, &tag)
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    ARG(3, tag.data, tag.len);
    ARG(4, b->code.data, b->code.len);
    (void) gov_iso_date((char *) date, sc->day);

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
    ARG(9, sc->docstr.data, sc->docstr.len);
    ARG(10, hex, 64);
    ARG(11, sc->subject.data, sc->subject.len);
    ARG(12, nitems, ngx_sprintf(nitems, "%ui", n) - nitems);
    ARG(13, sc->actor.data ? (char *) sc->actor.data : "", sc->actor.len);

    /* above what this node issued today, should Redis have lost it */
    ARG(14, high, ngx_sprintf(high, "%ui",
                              ngx_gov_idmark_get(b - (ngx_gov_bundle_t *)
                                                   bc->bundles.elts, sc->day))
                  - high);

    for (i = 0, k = 0; i < b->items.nelts; i++) {
        if (!sc->chosen[i]) {
            continue;
        }

        it = &items[b->item_idx[i]];
        ready = it->depends.nelts == 0;

        ARG(15 + 3 * k, it->id.data, it->id.len);

        if (sc->regions[i]) {
            p = ngx_pnalloc(r->pool, sizeof(NGX_GOV_STEP_ROUTED) - 1
                                     + sc->regions[i]->id.len);
            if (p == NULL) {
                return NGX_ERROR;
            }

            ARG(16 + 3 * k, p, ngx_sprintf(p, NGX_GOV_STEP_ROUTED,
                                           &sc->regions[i]->id) - p);

        } else {
            ARG(16 + 3 * k, NGX_GOV_STEP_QUEUED,
                sizeof(NGX_GOV_STEP_QUEUED) - 1);
        }

        ARG(17 + 3 * k, ready ? "1" : "0", 1);
        k++;
    }

    /* the uploads it names, checked again and counted in the script */

    p = high + NGX_INT64_LEN;
    ARG(15 + 3 * n, p, ngx_sprintf(p, "%ui", nup) - p);

    for (i = 0; i < nup; i++) {
        v = json_array_get(sc->hexes, i);
        ARG(16 + 3 * n + i, json_string_value(v), json_string_length(v));
    }

    /*
     * For the statistics: the day of submission and its working-day
     * ordinal, and the time limits promised (the bundle's, each item's);
     * then the clock the script counts the application by.
     */

    limits = json_object();

    for (i = 0; i < b->items.nelts; i++) {
        if (!sc->chosen[i]) {
            continue;
        }

        it = &items[b->item_idx[i]];
        json_object_set_new(limits, (char *) it->id.data,
                            json_integer((json_int_t) it->time_limit));
    }

    if (ngx_gov_json_text(r->pool,
                          json_pack("{s:i, s:i, s:i, s:o}",
                                    "d", sc->day,
                                    "w", gov_calendar_ordinal(&bc->calendar,
                                                              sc->day),
                                    "l", (int) b->time_limit, "i", limits),
                          0, &stats)
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    p = high + 2 * NGX_INT64_LEN;
    ARG(16 + 3 * n + nup, p, ngx_sprintf(p, "%ui %ui",
                                         ngx_gov_redis_shards(), shard) - p);

    ARG(17 + 3 * n + nup, stats.data, stats.len);

    p = high + 4 * NGX_INT64_LEN;
    ARG(18 + 3 * n + nup, p, ngx_gov_tally_clock(&bc->calendar, sc->submitted,
                                                 p));

    cmd.argc = (int) (19 + 3 * n + nup);
    cmd.argv = argv;
    cmd.argvlen = argvlen;

    if (ngx_gov_submit_keys(r, sc, &tag, (u_char *) argv[5],
                            (u_char *) argv[cmd.argc - 1], &cmd)
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    /* the 201 is an acknowledgement: with wait=N, replicas hold it first */
    return ngx_http_gov_redis_send_acked(r, ngx_gov_submit_persisted, sc, 1,
                                         &cmd);
}


/*
 * The keys the submission script touches that can be named before it
 * runs (the new application's are made by it): all in the subject's
 * shard, the sequence first.
 */

static ngx_int_t
ngx_gov_submit_keys(ngx_http_request_t *r, ngx_gov_submit_t *sc,
    ngx_str_t *tag, u_char *date, u_char *clock, ngx_gov_redis_args_t *cmd)
{
    json_t                    *v;
    ngx_str_t                 *keys;
    ngx_uint_t                 i, k, nup;
    ngx_http_gov_main_conf_t  *gmcf;

    gmcf = ngx_http_get_module_main_conf(r, ngx_http_gov_module);
    nup = json_array_size(sc->hexes);

    keys = ngx_palloc(r->pool, (10 + nup) * sizeof(ngx_str_t));
    if (keys == NULL) {
        return NGX_ERROR;
    }

    k = 0;

    if (ngx_gov_redis_keyf(r->pool, &keys[k++], "%Vseq:%V%*s", tag,
                           &sc->bundle->code, (size_t) 8, date)
        != NGX_OK
        || ngx_gov_redis_keyf(r->pool, &keys[k++], "%Vuser:%V", tag,
                              &sc->subject)
           != NGX_OK
        || ngx_gov_redis_keyf(r->pool, &keys[k++], "%Vretry", tag) != NGX_OK
        || ngx_gov_redis_keyf(r->pool, &keys[k++], "%Vpromises", tag)
           != NGX_OK
        || ngx_gov_redis_keyf(r->pool, &keys[k++], "%Vstats:%*s", tag,
                              (size_t) 7, clock)
           != NGX_OK
        || ngx_gov_redis_keyf(r->pool, &keys[k++], "%Vstats:%*s", tag,
                              (size_t) 4, clock)
           != NGX_OK
        || ngx_gov_redis_keyf(r->pool, &keys[k++], "%Vupidle", tag)
           != NGX_OK)
    {
        return NGX_ERROR;
    }

    if (gmcf->events.stream.len
        && (ngx_gov_redis_keyf(r->pool, &keys[k++], "%V%V", tag,
                               &gmcf->events.stream)
            != NGX_OK
            || ngx_gov_redis_keyf(r->pool, &keys[k++], "%Vfinal", tag)
               != NGX_OK))
    {
        return NGX_ERROR;
    }

    if (sc->idem.data
        && ngx_gov_redis_keyf(r->pool, &keys[k++], "%Videm:%V", tag,
                              &sc->idem)
           != NGX_OK)
    {
        return NGX_ERROR;
    }

    for (i = 0; i < nup; i++) {
        v = json_array_get(sc->hexes, i);

        if (ngx_gov_redis_keyf(r->pool, &keys[k++], "%Vup:%s", tag,
                               json_string_value(v))
            != NGX_OK)
        {
            return NGX_ERROR;
        }
    }

    return ngx_gov_redis_eval_keys(r->pool, &cmd->argc, &cmd->argv,
                                   (size_t **) &cmd->argvlen, k, keys);
}


static void
ngx_gov_submit_persisted(redisReply *reply, void *data)
{
    ngx_gov_submit_t *sc = data;

    redisReply              *kind, *val;
    ngx_int_t                rc;
    ngx_connection_t        *c;
    ngx_http_request_t      *r;
    ngx_gov_bundles_conf_t  *bc;

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

    if (kind->len == 14 && ngx_strncmp(kind->str, "unknown_upload", 14) == 0)
    {
        /* swept or taken away between the check and now: nothing stored */
        rc = ngx_gov_submit_lost_upload(sc, val);
        goto done;
    }

    if (kind->len == 3 && ngx_strncmp(kind->str, "dup", 3) == 0
        && reply->elements == 3
        && reply->element[2]->type == REDIS_REPLY_STRING)
    {
        rc = ngx_gov_submit_replayed(sc, val, reply->element[2]);
        goto done;
    }

    ngx_gov_tally_touch();

    sc->app_id.len = val->len;
    sc->app_id.data = ngx_pnalloc(r->pool, val->len);
    if (sc->app_id.data == NULL) {
        rc = NGX_HTTP_INTERNAL_SERVER_ERROR;
        goto done;
    }

    ngx_memcpy(sc->app_id.data, val->str, val->len);

    if (val->len > 6) {
        ngx_gov_idmark_seen(sc->bundle
                            - (ngx_gov_bundle_t *) bc->bundles.elts,
                            sc->day, (ngx_uint_t) ngx_atoi(sc->app_id.data
                                                           + val->len - 6,
                                                           6));
    }

    ngx_log_error(NGX_LOG_INFO, c->log, 0, "gov: application %V persisted",
                  &sc->app_id);

    ngx_gov_metrics_inc(NGX_GOV_M_APPLICATIONS);
    ngx_gov_metrics_bundle(sc->bundle - (ngx_gov_bundle_t *)
                                        bc->bundles.elts);

    if (ngx_gov_submit_fan_out(sc) != NGX_OK) {
        rc = NGX_HTTP_INTERNAL_SERVER_ERROR;
        goto done;
    }

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


static ngx_int_t
ngx_gov_submit_lost_upload(ngx_gov_submit_t *sc, redisReply *hex)
{
    json_t      *problems, *v;
    const char  *key;

    problems = NULL;

    json_object_foreach(json_object_get(sc->doc, "materials"), key, v) {
        if (json_is_string(v) && json_string_length(v) == 7 + hex->len
            && ngx_strncmp(json_string_value(v) + 7, hex->str, hex->len) == 0)
        {
            ngx_gov_submit_problem(&problems, key, "unknown_upload");
        }
    }

    if (problems == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return ngx_http_gov_json_answer(sc->request, 422, problems);
}


/*
 * The same Idempotency-Key within 24h: the first answer ("answer" as
 * stored; empty while the first request is still dispatching), nothing
 * new.
 */

static ngx_int_t
ngx_gov_submit_replayed(ngx_gov_submit_t *sc, redisReply *id,
    redisReply *answer)
{
    ngx_str_t            body, location;
    ngx_http_request_t  *r;

    r = sc->request;

    ngx_gov_metrics_inc(NGX_GOV_M_IDEMPOTENT_REPLAYS);

    body.len = answer->len;

    if (body.len == 0) {
        body.len = sizeof("{\"id\":\"\",\"status\":\"processing\"}\n") - 1
                   + id->len;
    }

    body.data = ngx_pnalloc(r->pool, body.len);
    location.data = ngx_pnalloc(r->pool, sizeof("/progress/") - 1 + id->len);

    if (body.data == NULL || location.data == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (answer->len) {
        ngx_memcpy(body.data, answer->str, body.len);

    } else {
        ngx_sprintf(body.data, "{\"id\":\"%*s\",\"status\":\"processing\"}\n",
                    (size_t) id->len, id->str);
    }

    location.len = ngx_sprintf(location.data, "/progress/%*s",
                               (size_t) id->len, id->str)
                   - location.data;

    if (ngx_http_gov_add_header(r, &r->headers_out.headers, "Location",
                                &location)
        != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return ngx_gov_created(r, sc->bundle, &body, NULL);
}


/*
 * Fan out, in parallel, to every item whose depends are met; the others
 * wait in "queued" until their depends are approved.  A step that cannot
 * be sent now is in the retry queue already.
 */

static ngx_int_t
ngx_gov_submit_fan_out(ngx_gov_submit_t *sc)
{
    json_t              *payload;
    ngx_str_t            pl;
    ngx_uint_t           i, k;
    ngx_gov_item_t      *items, *it;
    ngx_gov_dispatch_t  *d;
    ngx_http_request_t  *r;

    r = sc->request;
    items = ngx_gov_bc(r)->items.elts;

    sc->batch = ngx_gov_batch_create(r, sc->nchosen);
    if (sc->batch == NULL) {
        return NGX_ERROR;
    }

    sc->batch->done = ngx_gov_submit_dispatched;
    sc->batch->data = sc;

    for (i = 0, k = 0; i < sc->bundle->items.nelts; i++) {
        if (!sc->chosen[i]) {
            continue;
        }

        it = &items[sc->bundle->item_idx[i]];

        d = &sc->batch->steps[k++];
        d->batch = sc->batch;
        d->item = it;
        d->app_id = sc->app_id;
        d->outcome = NGX_GOV_OUT_PENDING;

        if (it->depends.nelts) {
            continue;
        }

        payload = ngx_gov_payload(sc->doc, &sc->app_id, it);

        if (ngx_gov_json_text(r->pool, payload, 0, &pl) != NGX_OK) {
            return NGX_ERROR;
        }

        if (ngx_gov_dispatch(sc->batch, d, &pl, &sc->subject, &sc->actor,
                             json_object_get(sc->doc, "fields"))
            != NGX_OK)
        {
            d->outcome = NGX_GOV_OUT_FAILED;
        }
    }

    sc->batch->nsteps = sc->nchosen;

    return NGX_OK;
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
    ngx_str_t                  location, body, key;
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

    p = (u_char *) gov_iso_date((char *) day, gov_calendar_add(&bc->calendar,
                                               gov_day(sc->submitted),
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

        if (ngx_gov_redis_id_key(r->pool, &gmcf->redis_prefix, "app:",
                                 &sc->app_id, &key)
            == NGX_OK)
        {
            argv[1] = (char *) key.data;
            argvlen[1] = key.len;
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

    rc = ngx_gov_created(r, sc->bundle, &body, sc->doc);

done:

    ngx_http_finalize_request(r, rc);
    ngx_http_run_posted_requests(c);
}
