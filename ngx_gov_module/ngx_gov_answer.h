
/*
 * Copyright (C) ngx_gov_module authors
 *
 * Request and answer helpers every handler uses (ngx_gov_answer.c).
 */


#ifndef _NGX_GOV_ANSWER_H_INCLUDED_
#define _NGX_GOV_ANSWER_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include <jansson.h>

#include "ngx_gov_redis.h"


/*
 * Draws a browser's error page; NGX_DECLINED when there is none, then the
 * JSON answer goes out.  Set at start by the page service.
 */
typedef ngx_int_t (*ngx_gov_error_page_pt)(ngx_http_request_t *r,
    ngx_uint_t status, const char *error);

void ngx_gov_answer_set_error_page(ngx_gov_error_page_pt handler);


/*
 * "json" as compact text in "pool", with a newline when "nl" is set.  It
 * takes the reference to "json" (NULL is an error).
 */
ngx_int_t ngx_gov_json_text(ngx_pool_t *pool, json_t *json, ngx_uint_t nl,
    ngx_str_t *out);


/* what a request body is, by its Content-Type */
#define NGX_GOV_BODY_OTHER        0
#define NGX_GOV_BODY_JSON         1
#define NGX_GOV_BODY_FORM         2

ngx_uint_t ngx_http_gov_body_type(ngx_http_request_t *r);


/*
 * After queueing a Redis command ("rc" of ngx_http_gov_redis_send()):
 * NGX_DONE while its reply is awaited; else the answer to finalize with,
 * 503 with Retry-After when Redis is down, or 500.
 */
ngx_int_t ngx_http_gov_queued(ngx_http_request_t *r, ngx_int_t rc);


/* the URI after the prefix of the request's location ("/bundles/") */
void ngx_http_gov_uri_rest(ngx_http_request_t *r, ngx_str_t *rest);


/*
 * The largest body a handler reads itself (README "Body sizes"): JSON,
 * and forms, percent-encoded (a Chinese character takes 9 bytes there)
 */
#define NGX_GOV_BODY_MAX          65536
#define NGX_GOV_FORM_MAX          196608

/* NGX_GOV_FORM_MAX for a form body, else NGX_GOV_BODY_MAX */
off_t ngx_http_gov_body_limit(ngx_http_request_t *r);


/*
 * A POST handler's start: 405 for other methods, 413 past
 * ngx_http_gov_body_limit(), else the body is read and "handler" runs.
 */
ngx_int_t ngx_http_gov_read_post(ngx_http_request_t *r,
    ngx_http_client_body_handler_pt handler);

ngx_int_t ngx_http_gov_redis_send(ngx_http_request_t *r,
    ngx_gov_redis_handler_pt handler, void *data, int argc,
    const char **argv, const size_t *argvlen);
ngx_int_t ngx_http_gov_redis_send_n(ngx_http_request_t *r,
    ngx_gov_redis_handler_pt handler, void *data, ngx_uint_t n,
    ngx_gov_redis_args_t *cmds);
/* a write the answer acknowledges: see ngx_gov_redis_send_acked() */
ngx_int_t ngx_http_gov_redis_send_acked(ngx_http_request_t *r,
    ngx_gov_redis_handler_pt handler, void *data, ngx_uint_t n,
    ngx_gov_redis_args_t *cmds);

/*
 * One command per shard, as "build" makes it for shard "shard", their
 * array replies joined into one array (the elements of shard 0, then of
 * shard 1, ...) for "handler"; NULL when any of them failed.  With one
 * Redis, the command and its reply as they are.
 */
typedef ngx_int_t (*ngx_http_gov_shard_pt)(ngx_http_request_t *r,
    ngx_uint_t shard, void *data, ngx_gov_redis_args_t *cmd);

ngx_int_t ngx_http_gov_redis_gather(ngx_http_request_t *r,
    ngx_http_gov_shard_pt build, ngx_gov_redis_handler_pt handler,
    void *data);

/*
 * For such a "build": NAME KEY ARGS... where KEY is the shard's tag and
 * "suffix" ("stats:2026-12", "up:HEX"), the "n" ARGS after it.
 */
ngx_int_t ngx_http_gov_shard_cmd(ngx_http_request_t *r, ngx_uint_t shard,
    const char *name, ngx_str_t *suffix, ngx_uint_t n, const char **args,
    ngx_gov_redis_args_t *cmd);
ngx_int_t ngx_http_gov_send(ngx_http_request_t *r, ngx_uint_t status,
    ngx_str_t *content_type, ngx_str_t *body);
ngx_int_t ngx_http_gov_send_json(ngx_http_request_t *r, ngx_uint_t status,
    ngx_str_t *body);
ngx_int_t ngx_http_gov_json_dump(ngx_http_request_t *r, json_t *json,
    ngx_str_t *out);
ngx_int_t ngx_http_gov_json_answer(ngx_http_request_t *r, ngx_uint_t status,
    json_t *json);
ngx_int_t ngx_http_gov_error(ngx_http_request_t *r, ngx_uint_t status,
    const char *error);
ngx_int_t ngx_http_gov_unavailable(ngx_http_request_t *r);

/* 503 {"error":"unavailable","reason":REASON}, Retry-After: RETRY (>= 1) */
ngx_int_t ngx_http_gov_unavailable_for(ngx_http_request_t *r,
    const char *reason, time_t retry);
ngx_int_t ngx_http_gov_add_header(ngx_http_request_t *r, ngx_list_t *list,
    const char *key, ngx_str_t *value);
ngx_int_t ngx_http_gov_location(ngx_http_request_t *r, ngx_str_t *location);
ngx_table_elt_t *ngx_http_gov_find_header(ngx_http_request_t *r,
    const char *lowcase_key, size_t len);
ngx_table_elt_t *ngx_http_gov_find_out_header(ngx_http_request_t *r,
    const char *lowcase_key, size_t len);
/* Retry-After: SECONDS on the answer, unless it has one (every 503 has) */
ngx_int_t ngx_http_gov_retry_after(ngx_http_request_t *r, time_t seconds);

/*
 * What every answer of the module carries (gov_security_headers):
 * X-Content-Type-Options, and Strict-Transport-Security over TLS
 * (gov_hsts).  ngx_http_gov_send() adds them to a main request's answer.
 */
ngx_int_t ngx_http_gov_security_headers(ngx_http_request_t *r);
char *ngx_gov_hsts_directive(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
ngx_uint_t ngx_http_gov_wants_html(ngx_http_request_t *r);
ngx_int_t ngx_http_gov_get_only(ngx_http_request_t *r);
void ngx_http_gov_mask(ngx_http_request_t *r, ngx_str_t *secret);
/*
 * The error log's lines about this request (and its subrequests: the
 * upstream's address) show the values of query arguments named "holder="
 * as '*': an ID number a subrequest asks with never reaches a log.
 */
void ngx_http_gov_log_hide_holder(ngx_http_request_t *r);
/*
 * A subject as a log line may show it: its first and last four
 * characters ("1101**********1234"), all '*' when it is shorter than 9.
 */
void ngx_http_gov_log_subject(ngx_http_request_t *r, ngx_str_t *subject,
    ngx_str_t *out);
ngx_int_t ngx_http_gov_query_arg(ngx_http_request_t *r, char *name,
    ngx_str_t *value, ngx_uint_t mask);
/* the body in one piece: NGX_OK, 413 past the limit, or 500 */
ngx_int_t ngx_http_gov_read_body(ngx_http_request_t *r, ngx_str_t *body);
/* the answer to what ngx_http_gov_read_body() refused: 413 too_large, 500 */
ngx_int_t ngx_http_gov_body_refused(ngx_http_request_t *r, ngx_int_t rc);


#endif /* _NGX_GOV_ANSWER_H_INCLUDED_ */
