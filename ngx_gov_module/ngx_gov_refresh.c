
/*
 * Copyright (C) ngx_gov_module authors
 */


/*
 * Read-through refresh: when a lookup finds the stored steps older than
 * gov_progress_refresh, one worker (single-flight across workers) asks the
 * items' status URIs and applies what they answer as callbacks would.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_gov_lock.h"
#include "ngx_gov_pcache.h"
#include "ngx_gov_tally.h"
#include "ngx_gov_answer.h"
#include "ngx_gov_subreq.h"
#include "ngx_gov_bundle_conf.h"
#include "ngx_gov_dispatch.h"
#include "ngx_gov_route.h"
#include "ngx_gov_callback.h"
#include "ngx_gov_refresh.h"
#include "gov_http.h"
#include "gov_state.h"


typedef struct ngx_gov_refresh_s  ngx_gov_refresh_t;

typedef struct {
    ngx_gov_refresh_t        *refresh;
    ngx_gov_item_t           *item;
    ngx_str_t                 state;        /* as stored */
    ngx_str_t                 receipt;
} ngx_gov_refresh_step_t;

struct ngx_gov_refresh_s {
    ngx_http_request_t       *request;      /* without a client */
    ngx_str_t                 id;
    uint32_t                  lock;
    ngx_msec_t                until;        /* the lock holds till then */
    ngx_uint_t                pending;
};


static ngx_int_t ngx_gov_refresh_mark(ngx_http_request_t *r,
    ngx_str_t *id);
static ngx_int_t ngx_gov_refresh_ask(ngx_gov_refresh_t *rf,
    ngx_gov_item_t *it, redisReply *steps, json_t *fields);
static ngx_int_t ngx_gov_refresh_done(ngx_http_request_t *sr, void *data,
    ngx_int_t rc);
static void ngx_gov_refresh_applied(redisReply *reply, void *data);


/*
 * Read-through from the departments' status URIs: when the stored state
 * is older than gov_progress_refresh, one request (single-flight across
 * workers, by a lock in shared memory that expires by itself) asks every
 * status URI of a step not yet finished, in the background, through a
 * request without a client; the others, and this one, get the last state
 * at once.  A state from a status URI is taken only when it is a legal
 * move; a department that fails changes nothing (stale-if-error).
 */

void
ngx_gov_refresh(ngx_http_request_t *r, ngx_str_t *id, redisReply *steps,
    redisReply *doc)
{
    json_t                    *app;
    uint32_t                   lock;
    ngx_uint_t                 i;
    ngx_gov_item_t            *items, *it;
    ngx_gov_bundle_t          *b;
    ngx_gov_refresh_t         *rf;
    ngx_http_request_t        *fr;
    ngx_gov_bundles_conf_t    *bc;
    ngx_http_gov_loc_conf_t   *glcf;
    ngx_http_gov_main_conf_t  *gmcf;

    gmcf = ngx_http_get_module_main_conf(r, ngx_http_gov_module);
    glcf = ngx_http_get_module_loc_conf(r, ngx_http_gov_module);
    bc = &gmcf->bundles;

    if (gmcf->dispatch_ctx == NULL) {
        return;
    }

    b = ngx_gov_app_bundle(bc, id);

    if (b == NULL || !ngx_gov_bundle_asks(bc, b)) {
        return;
    }

    items = bc->items.elts;

    lock = ngx_crc32_short(id->data, id->len);

    if (!ngx_gov_lock_try(lock, bc->dispatch_timeout + 5000)) {
        /* another worker is asking: the last state will do */
        return;
    }

    if (ngx_gov_refresh_mark(r, id) != NGX_OK) {
        ngx_gov_lock_release(lock);
        return;
    }

    fr = ngx_gov_fake_request((ngx_cycle_t *) ngx_cycle);
    if (fr == NULL) {
        ngx_gov_lock_release(lock);
        return;
    }

    rf = ngx_pcalloc(fr->pool, sizeof(ngx_gov_refresh_t));
    if (rf == NULL) {
        goto failed;
    }

    rf->request = fr;
    rf->lock = lock;
    rf->until = ngx_current_msec + glcf->progress_refresh;
    rf->id.len = id->len;
    rf->id.data = ngx_pnalloc(fr->pool, id->len);
    if (rf->id.data == NULL) {
        goto failed;
    }

    ngx_memcpy(rf->id.data, id->data, id->len);

    /* its fields, for status URIs routed by them (跨省通办) */

    app = doc->type == REDIS_REPLY_STRING
          ? json_loadb(doc->str, doc->len, 0, NULL) : NULL;

    for (i = 0; i < b->items.nelts; i++) {
        it = &items[b->item_idx[i]];

        if (it->status.len
            && ngx_gov_refresh_ask(rf, it, steps,
                                   json_object_get(app, "fields"))
               == NGX_OK)
        {
            rf->pending++;
        }
    }

    json_decref(app);

    if (rf->pending == 0) {
        goto failed;
    }

    ngx_http_run_posted_requests(fr->connection);

    return;

failed:

    ngx_gov_lock_release(lock);
    ngx_gov_fake_request_free(fr);
}


/* the next refresh is due in gov_progress_refresh: a mark in Redis */

static ngx_int_t
ngx_gov_refresh_mark(ngx_http_request_t *r, ngx_str_t *id)
{
    ngx_str_t                  key;
    ngx_http_gov_loc_conf_t   *glcf;
    ngx_http_gov_main_conf_t  *gmcf;

    const char  *argv[5];
    size_t       argvlen[5];
    u_char       ms[NGX_INT_T_LEN];

    gmcf = ngx_http_get_module_main_conf(r, ngx_http_gov_module);
    glcf = ngx_http_get_module_loc_conf(r, ngx_http_gov_module);

    if (ngx_gov_redis_id_key(r->pool, &gmcf->redis_prefix, "refreshed:", id,
                             &key)
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    argv[0] = "SET";
    argvlen[0] = 3;
    argv[1] = (char *) key.data;
    argvlen[1] = key.len;
    argv[2] = "1";
    argvlen[2] = 1;
    argv[3] = "PX";
    argvlen[3] = 2;
    argv[4] = (char *) ms;
    argvlen[4] = ngx_sprintf(ms, "%M", glcf->progress_refresh) - ms;

    (void) ngx_gov_redis_send(r->connection->log, NULL, NULL, NULL, 5, argv,
                              argvlen);

    return NGX_OK;
}


/*
 * Asks an item's status URI about its step, by the department's receipt:
 * a background subrequest GET STATUS/RECEIPT.  NGX_DECLINED when the step
 * has nothing to ask (final, or no receipt yet).
 */

static ngx_int_t
ngx_gov_refresh_ask(ngx_gov_refresh_t *rf, ngx_gov_item_t *it,
    redisReply *steps, json_t *fields)
{
    u_char                      *p;
    size_t                       len;
    json_t                      *step, *v;
    ngx_int_t                    state;
    ngx_str_t                    uri, base;
    ngx_uint_t                   k;
    ngx_http_request_t          *fr, *sr;
    ngx_gov_refresh_step_t      *rs;
    ngx_http_post_subrequest_t  *ps;

    fr = rf->request;
    step = NULL;

    for (k = 0; k + 1 < steps->elements; k += 2) {
        if (steps->element[k]->len == it->id.len
            && ngx_strncmp(steps->element[k]->str, it->id.data, it->id.len)
               == 0)
        {
            step = json_loadb(steps->element[k + 1]->str,
                              steps->element[k + 1]->len, 0, NULL);
            break;
        }
    }

    v = json_object_get(step, "state");
    state = json_is_string(v)
            ? gov_state_from_str(json_string_value(v), json_string_length(v))
            : -1;

    v = json_object_get(step, "receipt");

    /* a receipt is what the status URI is asked about */

    if (state < 0 || gov_state_terminal(state) || !json_is_string(v)
        || json_string_length(v) == 0 || json_string_length(v) > 128)
    {
        json_decref(step);
        return NGX_DECLINED;
    }

    if (ngx_gov_route_uri(fr, it, NGX_GOV_ROUTE_STATUS, fields, &base)
        != NGX_OK)
    {
        json_decref(step);
        return NGX_ERROR;
    }

    rs = ngx_pcalloc(fr->pool, sizeof(ngx_gov_refresh_step_t));
    ps = ngx_palloc(fr->pool, sizeof(ngx_http_post_subrequest_t));

    len = gov_pct_encode(NULL, json_string_value(v), json_string_length(v));
    uri.data = ngx_pnalloc(fr->pool, base.len + 1 + len);

    if (rs == NULL || ps == NULL || uri.data == NULL) {
        json_decref(step);
        return NGX_ERROR;
    }

    p = ngx_cpymem(uri.data, base.data, base.len);
    *p++ = '/';
    p += gov_pct_encode((char *) p, json_string_value(v),
                        json_string_length(v));
    uri.len = p - uri.data;

    rs->refresh = rf;
    rs->item = it;
    rs->state.data = (u_char *) gov_state_name(state);
    rs->state.len = ngx_strlen(rs->state.data);

    json_decref(step);

    ps->handler = ngx_gov_refresh_done;
    ps->data = rs;

    /* its handler runs once, also when the proxy gives up */
    ps = ngx_gov_subrequest_once(fr->pool, ps);
    if (ps == NULL) {
        return NGX_ERROR;
    }

    /* the department's status URI: while its breaker is open, not asked */
    if (ngx_gov_subrequest_guard(fr, &base, ps) != NGX_OK) {
        return NGX_DECLINED;
    }

    if (ngx_http_subrequest(fr, &uri, NULL, &sr, ps,
                            NGX_HTTP_SUBREQUEST_IN_MEMORY
                            |NGX_HTTP_SUBREQUEST_BACKGROUND)
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    sr->method = NGX_HTTP_GET;
    ngx_str_set(&sr->method_name, "GET");
    sr->header_only = 0;

    ngx_memzero(&sr->headers_in, sizeof(ngx_http_headers_in_t));
    sr->headers_in.keep_alive_n = -1;
    sr->headers_in.content_length_n = 0;

    if (ngx_list_init(&sr->headers_in.headers, fr->pool, 2,
                      sizeof(ngx_table_elt_t))
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    (void) ngx_http_gov_add_header(sr, &sr->headers_in.headers,
                                   "X-Gov-Application", &rf->id);
    (void) ngx_http_gov_add_header(sr, &sr->headers_in.headers,
                                   "X-Gov-Item", &it->id);

    if (it->status_cv && ngx_gov_route_bind(sr, fields) != NGX_OK) {
        return NGX_ERROR;
    }

    return NGX_OK;
}


static ngx_int_t
ngx_gov_refresh_done(ngx_http_request_t *sr, void *data, ngx_int_t rc)
{
    ngx_gov_refresh_step_t  *rs = data;

    u_char                     more_buf[NGX_GOV_BREAKER_MORE_LEN];
    json_t                    *json, *v;
    ngx_str_t                  more;
    ngx_buf_t                 *b;
    ngx_int_t                  state, old;
    ngx_str_t                  receipt, note, replay, tag, *id;
    ngx_gov_refresh_t         *rf;
    ngx_gov_redis_args_t       cmd;
    ngx_http_gov_main_conf_t  *gmcf;

    rf = rs->refresh;
    gmcf = ngx_http_get_module_main_conf(sr, ngx_http_gov_module);

    b = (sr->out && sr->out->buf) ? sr->out->buf : NULL;
    json = NULL;

    if (sr->headers_out.status == NGX_HTTP_OK && b && b->last > b->pos) {
        json = json_loadb((char *) b->pos, b->last - b->pos, 0, NULL);
    }

    v = json_object_get(json, "state");
    state = json_is_string(v) ? gov_state_from_str(json_string_value(v),
                                                   json_string_length(v))
                              : -1;
    old = gov_state_from_str((char *) rs->state.data, rs->state.len);

    if (json == NULL || state < 0) {
        /* stale-if-error: the last state stands */
        if (ngx_gov_subrequest_say(more_buf, &more)) {
            ngx_log_error(NGX_LOG_WARN, sr->connection->log, 0,
                          "gov: status of %V/%V unavailable (%i), "
                          "keeping the last state%V", &rf->id,
                          &rs->item->id,
                          sr->headers_out.status ? (ngx_int_t)
                              sr->headers_out.status : rc, &more);
        }

    } else if (state != old && gov_state_can(old, state)) {

        ngx_str_null(&receipt);
        ngx_str_null(&note);

        v = json_object_get(json, "note");
        if (json_is_string(v) && json_string_length(v) <= 1024) {
            note.len = json_string_length(v);
            note.data = ngx_pnalloc(sr->pool, note.len + 1);
            if (note.data) {
                ngx_memcpy(note.data, json_string_value(v), note.len);
            }
        }

        /* a key no replay can match: this change is ours */

        if (ngx_gov_redis_id_tag(sr->pool, &gmcf->redis_prefix, &rf->id,
                                 &tag)
            == NGX_OK
            && ngx_gov_redis_keyf(sr->pool, &replay,
                                  "%Vreplay:refresh-%V-%V-%ui", &tag,
                                  &rf->id, &rs->item->id,
                                  (ngx_uint_t) ngx_random())
               == NGX_OK)
        {
            id = ngx_alloc(sizeof(ngx_str_t) + rf->id.len,
                           ngx_cycle->log);

            if (id
                && ngx_gov_state_cmd(sr->pool, &gmcf->bundles,
                                     &gmcf->redis_prefix, &rf->id, rs->item,
                                     state, &receipt, &note, NULL, NULL,
                                     &replay, NULL, &cmd)
                   == NGX_OK)
            {
                id->data = (u_char *) (id + 1);
                id->len = rf->id.len;
                ngx_memcpy(id->data, rf->id.data, rf->id.len);

                /* the script checks the move again, atomically */

                if (ngx_gov_redis_send_n(sr->connection->log,
                                         ngx_gov_refresh_applied, id, NULL,
                                         1, &cmd)
                    != NGX_OK)
                {
                    ngx_free(id);
                }

            } else if (id) {
                ngx_free(id);
            }
        }

    } else if (state != old) {
        ngx_log_error(NGX_LOG_WARN, sr->connection->log, 0,
                      "gov: status of %V/%V says \"%s\", not a legal move "
                      "from \"%V\", ignored", &rf->id, &rs->item->id,
                      gov_state_name(state), &rs->state);
    }

    json_decref(json);

    if (--rf->pending == 0) {
        ngx_gov_lock_release_at(rf->lock, rf->until);
        ngx_gov_fake_request_free(rf->request);
    }

    return rc;
}


static void
ngx_gov_refresh_applied(redisReply *reply, void *data)
{
    ngx_str_t  *id = data;

    if (reply && reply->type == REDIS_REPLY_ARRAY && reply->elements >= 1
        && reply->element[0]->type == REDIS_REPLY_STRING
        && reply->element[0]->len == 2)
    {
        /* "ok": every cached copy goes */
        ngx_gov_pcache_drop(id);
        ngx_gov_tally_touch();
    }

    ngx_free(id);
}
