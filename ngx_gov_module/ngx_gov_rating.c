
/*
 * Copyright (C) ngx_gov_module authors
 */


/*
 * 好差评 ratings: POST /progress/ID/rating, JSON or the page's form.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_gov_metrics.h"
#include "ngx_gov_pcache.h"
#include "ngx_gov_answer.h"
#include "ngx_gov_events.h"
#include "ngx_gov_tally.h"
#include "ngx_gov_bundle_conf.h"
#include "ngx_gov_rating.h"
#include "gov_date.h"
#include "gov_http.h"


typedef struct {
    ngx_http_request_t       *request;
    ngx_str_t                 id;
    ngx_uint_t                score;
    ngx_uint_t                form;         /* by the progress page's form */
} ngx_gov_rating_t;


static json_t *ngx_gov_rating_form(u_char *text, size_t len);
static ngx_int_t ngx_gov_rating_json(ngx_http_request_t *r, ngx_str_t *id,
    json_t *body, json_t *app, ngx_str_t *text);
static void ngx_gov_rating_stored(redisReply *reply, void *data);


/* scores 1-2 (差评) also go to the rectification list */

static const char  ngx_gov_rating_lua[] =
    "if redis.call('HSETNX', KEYS[1], 'rating', ARGV[1]) == 0 "
    "then return 0 end "
    "gov_now(ARGV[4]) "
    "redis.call('HINCRBY', KEYS[1], 'ver', 1) "
    "redis.call('DEL', KEYS[3]) "
    "if tonumber(ARGV[2]) <= 2 then "
    "redis.call('RPUSH', KEYS[2], ARGV[1]) end "
    "local id, c = string.match(KEYS[1], 'app:([^:]*)$'), gov_clock(ARGV[3]) "
    "local scopes = c and gov_rating_scopes(id) "
    "if scopes then "
    "local sc = tonumber(ARGV[2]) "
    "for _, s in ipairs(scopes) do "
    "gov_tally(c, s .. 'ratings', 1) "
    "if sc >= 4 then gov_tally(c, s .. 'satisfied', 1) end "
    "if sc <= 2 then gov_tally(c, s .. 'bad', 1) end "
    "end "
    "redis.call('HSET', KEYS[1], 'rated', c.m) end "
    "gov_event(KEYS[1], id, 'rated', nil, nil, nil, 'score', ARGV[2]) "
    "return 1";


ngx_uint_t
ngx_gov_rating_check(ngx_http_request_t *r, json_t **body, ngx_uint_t *form,
    ngx_int_t *rc)
{
    json_t     *v;
    ngx_str_t   text;

    *rc = ngx_http_gov_read_body(r, &text);

    if (*rc != NGX_OK) {
        *rc = ngx_http_gov_body_refused(r, *rc);
        return 0;
    }

    if (ngx_http_gov_body_type(r) == NGX_GOV_BODY_FORM) {
        /* the rating form of the progress page */
        *form = 1;
        *body = ngx_gov_rating_form(text.data, text.len);

    } else {
        *body = json_loadb((char *) text.data, text.len,
                           JSON_REJECT_DUPLICATES, NULL);
    }

    if (!json_is_object(*body)) {
        *rc = ngx_http_gov_error(r, NGX_HTTP_BAD_REQUEST, "malformed_json");
        return 0;
    }

    v = json_object_get(*body, "score");

    if (!json_is_integer(v) || json_integer_value(v) < 1
        || json_integer_value(v) > 5)
    {
        *rc = ngx_http_gov_error(r, 422, "invalid_score");
        return 0;
    }

    v = json_object_get(*body, "comment");

    if (v && (!json_is_string(v) || json_string_length(v) > 1000)) {
        *rc = ngx_http_gov_error(r, 422, "invalid_comment");
        return 0;
    }

    return 1;
}


ngx_int_t
ngx_gov_rating_store(ngx_http_request_t *r, ngx_str_t *id, json_t *body,
    ngx_uint_t form, json_t *app)
{
    u_char                     sc[4], *clock;
    ngx_str_t                  text, tag;
    json_int_t                 score;
    ngx_gov_rating_t          *rt;
    ngx_gov_redis_args_t       cmd;
    ngx_http_gov_main_conf_t  *gmcf;

    u_char       ms[NGX_TIME_T_LEN + 4];
    ngx_time_t  *tp;
    const char  *argv[7];
    size_t       argvlen[7];

    gmcf = ngx_http_get_module_main_conf(r, ngx_http_gov_module);

    rt = ngx_pcalloc(r->pool, sizeof(ngx_gov_rating_t));

    clock = ngx_pnalloc(r->pool, NGX_GOV_TALLY_CLOCK_LEN);

    if (rt == NULL || clock == NULL
        || ngx_gov_rating_json(r, id, body, app, &text) != NGX_OK)
    {
        return NGX_ERROR;
    }

    score = json_integer_value(json_object_get(body, "score"));

    rt->request = r;
    rt->id = *id;
    rt->score = (ngx_uint_t) score;
    rt->form = form;

    argv[0] = "EVAL";
    argvlen[0] = 4;
    argv[1] = ngx_gov_events_script(ngx_gov_rating_lua,
                                    sizeof(ngx_gov_rating_lua) - 1,
                                    &argvlen[1]);
    argv[2] = "0";
    argvlen[2] = 1;
    argv[3] = (char *) text.data;
    argvlen[3] = text.len;
    argv[4] = (char *) sc;
    argvlen[4] = ngx_sprintf(sc, "%L", (int64_t) score) - sc;

    argv[5] = (char *) clock;
    argvlen[5] = ngx_gov_tally_clock(&gmcf->bundles.calendar, ngx_time(),
                                     clock);

    tp = ngx_timeofday();
    argv[6] = (char *) ms;
    argvlen[6] = ngx_sprintf(ms, "%T%03M", tp->sec, tp->msec) - ms;

    cmd.argc = 7;
    cmd.argv = argv;
    cmd.argvlen = argvlen;

    /* KEYS[1..3] as the script names them, then what else it touches */

    if (ngx_gov_redis_id_tag(r->pool, &gmcf->redis_prefix, id, &tag)
        != NGX_OK
        || ngx_gov_events_eval_keys(r->pool, &tag, id,
                                    "app:% ratings:bad doc:% steps:% "
                                    "stats events", NULL, NULL, 0, &cmd)
           != NGX_OK)
    {
        return NGX_ERROR;
    }

    return ngx_http_gov_redis_send_acked(r, ngx_gov_rating_stored, rt, 1,
                                         &cmd);
}


/* the rating as kept: score, comment, time, application and bundle */

static ngx_int_t
ngx_gov_rating_json(ngx_http_request_t *r, ngx_str_t *id, json_t *body,
    json_t *app, ngx_str_t *text)
{
    u_char   at[GOV_ISO_TIME_LEN];
    json_t  *rating, *comment;

    (void) gov_iso_time((char *) at, ngx_time());

    comment = json_object_get(body, "comment");

    rating = json_object();
    json_object_set_new(rating, "score",
                        json_integer(json_integer_value(
                            json_object_get(body, "score"))));
    json_object_set_new(rating, "comment", comment ? json_incref(comment)
                                                   : json_string(""));
    json_object_set_new(rating, "at",
                        json_stringn((char *) at, GOV_ISO_TIME_LEN));
    json_object_set_new(rating, "id", json_stringn((char *) id->data,
                                                   id->len));
    json_object_set(rating, "bundle", json_object_get(app, "bundle"));

    return ngx_gov_json_text(r->pool, rating, 0, text);
}


/* score=N&comment=TEXT as the JSON a rating takes; NULL when malformed */

static json_t *
ngx_gov_rating_form(u_char *text, size_t len)
{
    long     n;
    u_char   score[8], *comment;
    json_t  *o;

    o = json_object();
    if (o == NULL) {
        return NULL;
    }

    n = gov_form_get((char *) text, len, "score", (char *) score,
                     sizeof(score) - 1);

    if (n == 1 && score[0] >= '1' && score[0] <= '5') {
        json_object_set_new(o, "score", json_integer(score[0] - '0'));

    } else if (n >= 0) {
        /* not chosen, or not a score: 422 */
        json_object_set_new(o, "score", json_null());

    } else if (n == -2) {
        json_decref(o);
        return NULL;
    }

    comment = malloc(len + 1);
    if (comment == NULL) {
        json_decref(o);
        return NULL;
    }

    n = gov_form_get((char *) text, len, "comment", (char *) comment, len);

    if (n > 0) {
        json_object_set_new(o, "comment",
                            json_stringn((char *) comment, (size_t) n));

        if (json_object_get(o, "comment") == NULL) {
            /* not UTF-8 */
            free(comment);
            json_decref(o);
            return NULL;
        }

    } else if (n == -2) {
        free(comment);
        json_decref(o);
        return NULL;
    }

    free(comment);

    return o;
}


static void
ngx_gov_rating_stored(redisReply *reply, void *data)
{
    ngx_gov_rating_t    *rt = data;

    ngx_int_t            rc;
    ngx_str_t            empty, location;
    ngx_connection_t    *c;
    ngx_http_request_t  *r;

    r = rt->request;
    c = r->connection;

    if (reply == NULL || reply->type != REDIS_REPLY_INTEGER) {
        rc = ngx_http_gov_unavailable(r);
        goto done;
    }

    if (reply->integer == 0) {
        rc = ngx_http_gov_error(r, NGX_HTTP_CONFLICT, "already_rated");
        goto done;
    }

    ngx_gov_metrics_inc(NGX_GOV_M_RATINGS + rt->score - 1);
    ngx_gov_tally_touch();
    ngx_gov_pcache_drop(&rt->id);

    ngx_str_null(&empty);

    if (rt->form && ngx_http_gov_wants_html(r)) {
        /* back to the progress page, which shows the rating */

        location.data = ngx_pnalloc(r->pool, sizeof("/progress/") - 1
                                             + rt->id.len);
        if (location.data == NULL) {
            rc = NGX_HTTP_INTERNAL_SERVER_ERROR;
            goto done;
        }

        location.len = ngx_sprintf(location.data, "/progress/%V", &rt->id)
                       - location.data;

        rc = ngx_http_gov_location(r, &location);

        if (rc == NGX_OK) {
            rc = ngx_http_gov_send(r, NGX_HTTP_SEE_OTHER,
                                   &r->headers_out.content_type, &empty);
        }

        goto done;
    }

    rc = ngx_http_gov_send(r, NGX_HTTP_NO_CONTENT,
                           &r->headers_out.content_type, &empty);

done:

    ngx_http_finalize_request(r, rc);
    ngx_http_run_posted_requests(c);
}
