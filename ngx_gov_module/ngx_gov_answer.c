
/*
 * Copyright (C) ngx_gov_module authors
 */


/*
 * Request and answer helpers every handler uses: sending bodies, JSON
 * answers and errors, headers, reading a POST body, and Redis commands
 * tied to a request.  A browser's error page is drawn by the page service
 * through a hook set at start (ngx_gov_answer_set_error_page()), so this
 * service knows nothing above it.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_gov_conf.h"
#include "ngx_gov_answer.h"
#include "gov_http.h"


static ngx_gov_redis_cmd_t **ngx_http_gov_redis_owner(ngx_http_request_t *r);
static void ngx_http_gov_redis_cleanup(void *data);
static void ngx_http_gov_gathered(redisReply *reply, void *data);
static ngx_table_elt_t *ngx_http_gov_header_in(ngx_list_t *list,
    const char *lowcase_key, size_t len);
static redisReply *ngx_http_gov_reply_copy(ngx_pool_t *pool,
    redisReply *reply);


static u_char *ngx_http_gov_log_masked(ngx_http_request_t *r,
    ngx_http_request_t *sr, u_char *buf, size_t len);


static ngx_str_t  ngx_http_gov_json_type = ngx_string("application/json");

/* nginx's own error log context of a request, which ours wraps */
static ngx_http_log_handler_pt  ngx_http_gov_log_context;

static ngx_gov_error_page_pt  ngx_gov_answer_error_page;


void
ngx_gov_answer_set_error_page(ngx_gov_error_page_pt handler)
{
    ngx_gov_answer_error_page = handler;
}


/*
 * Sends a Redis command on behalf of a request.  The command is tied to the
 * request's pool: if the request is finalized first (the client went away),
 * the pool cleanup cancels the command and its handler never runs.  So the
 * handler's data may live in r->pool, and r itself is never handed to the
 * Redis layer.
 */

ngx_int_t
ngx_http_gov_redis_send(ngx_http_request_t *r,
    ngx_gov_redis_handler_pt handler, void *data, int argc,
    const char **argv, const size_t *argvlen)
{
    ngx_gov_redis_args_t  cmd;

    cmd.argc = argc;
    cmd.argv = argv;
    cmd.argvlen = argvlen;

    return ngx_http_gov_redis_send_n(r, handler, data, 1, &cmd);
}


ngx_int_t
ngx_http_gov_redis_send_n(ngx_http_request_t *r,
    ngx_gov_redis_handler_pt handler, void *data, ngx_uint_t n,
    ngx_gov_redis_args_t *cmds)
{
    ngx_gov_redis_cmd_t  **owner;

    owner = ngx_http_gov_redis_owner(r);
    if (owner == NULL) {
        return NGX_ERROR;
    }

    return ngx_gov_redis_send_n(r->connection->log, handler, data, owner,
                                n, cmds);
}


/* the slot a command's owner is kept in, cancelled with the request */

static ngx_gov_redis_cmd_t **
ngx_http_gov_redis_owner(ngx_http_request_t *r)
{
    ngx_pool_cleanup_t    *cln;
    ngx_gov_redis_cmd_t  **owner;

    cln = ngx_pool_cleanup_add(r->pool, sizeof(ngx_gov_redis_cmd_t *));
    if (cln == NULL) {
        return NULL;
    }

    owner = cln->data;
    *owner = NULL;

    cln->handler = ngx_http_gov_redis_cleanup;

    return owner;
}


ngx_int_t
ngx_http_gov_redis_send_acked(ngx_http_request_t *r,
    ngx_gov_redis_handler_pt handler, void *data, ngx_uint_t n,
    ngx_gov_redis_args_t *cmds)
{
    ngx_gov_redis_cmd_t  **owner;

    owner = ngx_http_gov_redis_owner(r);
    if (owner == NULL) {
        return NGX_ERROR;
    }

    return ngx_gov_redis_send_acked(r->connection->log, handler, data, owner,
                                    n, cmds);
}


typedef struct {
    ngx_http_request_t        *request;
    ngx_gov_redis_handler_pt   handler;
    void                      *data;
    ngx_uint_t                 waiting;
    ngx_uint_t                 failed;
    redisReply               **parts;
} ngx_http_gov_gather_t;


typedef struct {
    ngx_http_gov_gather_t     *gather;
    ngx_uint_t                 shard;
} ngx_http_gov_gather_part_t;


ngx_int_t
ngx_http_gov_redis_gather(ngx_http_request_t *r, ngx_http_gov_shard_pt build,
    ngx_gov_redis_handler_pt handler, void *data)
{
    ngx_int_t                    rc;
    ngx_uint_t                   s, shards;
    ngx_gov_redis_args_t         cmd;
    ngx_http_gov_gather_t       *g;
    ngx_http_gov_gather_part_t  *part;

    shards = ngx_gov_redis_shards();

    if (shards == 1) {
        if (build(r, 0, data, &cmd) != NGX_OK) {
            return NGX_ERROR;
        }

        return ngx_http_gov_redis_send_n(r, handler, data, 1, &cmd);
    }

    g = ngx_pcalloc(r->pool, sizeof(ngx_http_gov_gather_t));
    part = ngx_palloc(r->pool, shards * sizeof(ngx_http_gov_gather_part_t));

    if (g == NULL || part == NULL) {
        return NGX_ERROR;
    }

    g->parts = ngx_pcalloc(r->pool, shards * sizeof(redisReply *));
    if (g->parts == NULL) {
        return NGX_ERROR;
    }

    g->request = r;
    g->handler = handler;
    g->data = data;

    for (s = 0; s < shards; s++) {
        part[s].gather = g;
        part[s].shard = s;

        if (build(r, s, data, &cmd) != NGX_OK) {
            return NGX_ERROR;
        }

        /* each is cancelled with the request, should it go first */

        rc = ngx_http_gov_redis_send_n(r, ngx_http_gov_gathered, &part[s], 1,
                                       &cmd);
        if (rc != NGX_OK) {
            /* those sent are cancelled by the pool; nothing is called */
            return rc;
        }

        g->waiting++;
    }

    return NGX_OK;
}


ngx_int_t
ngx_http_gov_shard_cmd(ngx_http_request_t *r, ngx_uint_t shard,
    const char *name, ngx_str_t *suffix, ngx_uint_t n, const char **args,
    ngx_gov_redis_args_t *cmd)
{
    size_t                    *argvlen;
    ngx_str_t                  tag, key;
    ngx_uint_t                 i;
    const char               **argv;
    ngx_http_gov_main_conf_t  *gmcf;

    gmcf = ngx_http_get_module_main_conf(r, ngx_http_gov_module);

    argv = ngx_palloc(r->pool, (2 + n) * sizeof(char *));
    argvlen = ngx_palloc(r->pool, (2 + n) * sizeof(size_t));

    if (argv == NULL || argvlen == NULL
        || ngx_gov_redis_tag(r->pool, &gmcf->redis_prefix, shard, &tag)
           != NGX_OK
        || ngx_gov_redis_keyf(r->pool, &key, "%V%V", &tag, suffix) != NGX_OK)
    {
        return NGX_ERROR;
    }

    argv[0] = name;
    argvlen[0] = ngx_strlen(name);
    argv[1] = (char *) key.data;
    argvlen[1] = key.len;

    for (i = 0; i < n; i++) {
        argv[2 + i] = args[i];
        argvlen[2 + i] = ngx_strlen(args[i]);
    }

    cmd->argc = (int) (2 + n);
    cmd->argv = argv;
    cmd->argvlen = argvlen;

    return NGX_OK;
}


/* a shard's answer: kept (copied into the pool) until all are in */

static void
ngx_http_gov_gathered(redisReply *reply, void *data)
{
    ngx_http_gov_gather_part_t *part = data;

    size_t                  i, n;
    redisReply             *all;
    ngx_http_gov_gather_t  *g;

    g = part->gather;
    g->waiting--;

    if (reply == NULL || reply->type != REDIS_REPLY_ARRAY) {
        g->failed = 1;

    } else {
        g->parts[part->shard] = ngx_http_gov_reply_copy(g->request->pool,
                                                        reply);
        if (g->parts[part->shard] == NULL) {
            g->failed = 1;
        }
    }

    if (g->waiting) {
        return;
    }

    if (g->failed) {
        g->handler(NULL, g->data);
        return;
    }

    n = 0;

    for (i = 0; i < ngx_gov_redis_shards(); i++) {
        n += g->parts[i]->elements;
    }

    all = ngx_pcalloc(g->request->pool, sizeof(redisReply));
    if (all == NULL) {
        g->handler(NULL, g->data);
        return;
    }

    all->type = REDIS_REPLY_ARRAY;
    all->element = ngx_palloc(g->request->pool, (n + 1) * sizeof(void *));
    if (all->element == NULL) {
        g->handler(NULL, g->data);
        return;
    }

    for (i = 0; i < ngx_gov_redis_shards(); i++) {
        for (n = 0; n < g->parts[i]->elements; n++) {
            all->element[all->elements++] = g->parts[i]->element[n];
        }
    }

    g->handler(all, g->data);
}


/* a reply as hiredis gave it, deep, into "pool" */

static redisReply *
ngx_http_gov_reply_copy(ngx_pool_t *pool, redisReply *reply)
{
    size_t       i;
    redisReply  *c;

    c = ngx_pcalloc(pool, sizeof(redisReply));
    if (c == NULL) {
        return NULL;
    }

    c->type = reply->type;
    c->integer = reply->integer;
    c->len = reply->len;

    if (reply->str) {
        c->str = ngx_pnalloc(pool, reply->len + 1);
        if (c->str == NULL) {
            return NULL;
        }

        ngx_memcpy(c->str, reply->str, reply->len);
        c->str[reply->len] = '\0';
    }

    if (reply->type == REDIS_REPLY_ARRAY && reply->elements) {
        c->element = ngx_palloc(pool, reply->elements * sizeof(void *));
        if (c->element == NULL) {
            return NULL;
        }

        for (i = 0; i < reply->elements; i++) {
            c->element[i] = ngx_http_gov_reply_copy(pool, reply->element[i]);
            if (c->element[i] == NULL) {
                return NULL;
            }
        }

        c->elements = reply->elements;
    }

    return c;
}


static void
ngx_http_gov_redis_cleanup(void *data)
{
    ngx_gov_redis_cancel(data);
}


ngx_int_t
ngx_http_gov_send(ngx_http_request_t *r, ngx_uint_t status,
    ngx_str_t *content_type, ngx_str_t *body)
{
    ngx_int_t     rc;
    ngx_buf_t    *b;
    ngx_chain_t   out;

    if (status == NGX_HTTP_SERVICE_UNAVAILABLE
        && ngx_http_gov_retry_after(r, 1) != NGX_OK)
    {
        return NGX_ERROR;
    }

    if (r == r->main && ngx_http_gov_security_headers(r) != NGX_OK) {
        return NGX_ERROR;
    }

    r->headers_out.status = status;
    r->headers_out.content_length_n = body->len;
    r->headers_out.content_type = *content_type;
    r->headers_out.content_type_len = content_type->len;
    r->headers_out.content_type_lowcase = NULL;

    if (body->len == 0) {
        r->header_only = 1;
    }

    rc = ngx_http_send_header(r);

    if (rc == NGX_ERROR || rc > NGX_OK || r->header_only) {
        return rc;
    }

    b = ngx_calloc_buf(r->pool);
    if (b == NULL) {
        return NGX_ERROR;
    }

    b->pos = body->data;
    b->last = body->data + body->len;
    b->memory = 1;
    b->last_buf = (r == r->main) ? 1 : 0;
    b->last_in_chain = 1;

    out.buf = b;
    out.next = NULL;

    return ngx_http_output_filter(r, &out);
}


ngx_int_t
ngx_http_gov_send_json(ngx_http_request_t *r, ngx_uint_t status,
    ngx_str_t *body)
{
    return ngx_http_gov_send(r, status, &ngx_http_gov_json_type, body);
}


/* a JSON value (the reference is taken) as compact text and a newline */

ngx_int_t
ngx_http_gov_json_dump(ngx_http_request_t *r, json_t *json, ngx_str_t *out)
{
    return ngx_gov_json_text(r->pool, json, 1, out);
}


ngx_int_t
ngx_gov_json_text(ngx_pool_t *pool, json_t *json, ngx_uint_t nl,
    ngx_str_t *out)
{
    char  *dump;

    dump = json ? json_dumps(json, JSON_COMPACT) : NULL;
    json_decref(json);

    if (dump == NULL) {
        return NGX_ERROR;
    }

    out->len = ngx_strlen(dump);
    out->data = ngx_pnalloc(pool, out->len + 1);

    if (out->data == NULL) {
        free(dump);
        return NGX_ERROR;
    }

    ngx_memcpy(out->data, dump, out->len);
    free(dump);

    if (nl) {
        out->data[out->len++] = '\n';
    }

    return NGX_OK;
}


ngx_uint_t
ngx_http_gov_body_type(ngx_http_request_t *r)
{
    ngx_str_t  *ct;

    if (r->headers_in.content_type == NULL) {
        return NGX_GOV_BODY_OTHER;
    }

    ct = &r->headers_in.content_type->value;

    if (ct->len >= 16
        && ngx_strncasecmp(ct->data, (u_char *) "application/json", 16) == 0)
    {
        return NGX_GOV_BODY_JSON;
    }

    if (ct->len >= 33
        && ngx_strncasecmp(ct->data,
                           (u_char *) "application/x-www-form-urlencoded", 33)
           == 0)
    {
        return NGX_GOV_BODY_FORM;
    }

    return NGX_GOV_BODY_OTHER;
}


void
ngx_http_gov_uri_rest(ngx_http_request_t *r, ngx_str_t *rest)
{
    ngx_http_core_loc_conf_t  *clcf;

    clcf = ngx_http_get_module_loc_conf(r, ngx_http_core_module);

    *rest = r->uri;

    if (rest->len >= clcf->name.len
        && ngx_strncmp(rest->data, clcf->name.data, clcf->name.len) == 0)
    {
        rest->data += clcf->name.len;
        rest->len -= clcf->name.len;
    }
}


ngx_int_t
ngx_http_gov_queued(ngx_http_request_t *r, ngx_int_t rc)
{
    if (rc == NGX_OK) {
        return NGX_DONE;
    }

    if (rc == NGX_DECLINED) {
        return ngx_http_gov_unavailable(r);
    }

    return NGX_HTTP_INTERNAL_SERVER_ERROR;
}


ngx_int_t
ngx_http_gov_json_answer(ngx_http_request_t *r, ngx_uint_t status,
    json_t *json)
{
    ngx_str_t  body;

    if (ngx_http_gov_json_dump(r, json, &body) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return ngx_http_gov_send_json(r, status, &body);
}


/* {"error":"..."}: every error body of the module */

ngx_int_t
ngx_http_gov_error(ngx_http_request_t *r, ngx_uint_t status,
    const char *error)
{
    u_char     *p;
    ngx_int_t   rc;
    ngx_str_t   body;

    if (ngx_gov_answer_error_page && ngx_http_gov_wants_html(r)) {
        rc = ngx_gov_answer_error_page(r, status, error);
        if (rc != NGX_DECLINED) {
            return rc;
        }
    }

    p = ngx_pnalloc(r->pool, sizeof("{\"error\":\"\"}\n") + ngx_strlen(error));
    if (p == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    body.data = p;
    body.len = ngx_sprintf(p, "{\"error\":\"%s\"}\n", error) - p;

    return ngx_http_gov_send_json(r, status, &body);
}


ngx_int_t
ngx_http_gov_add_header(ngx_http_request_t *r, ngx_list_t *list,
    const char *key, ngx_str_t *value)
{
    size_t            len;
    ngx_table_elt_t  *h;

    h = ngx_list_push(list);
    if (h == NULL) {
        return NGX_ERROR;
    }

    len = ngx_strlen(key);

    h->key.data = (u_char *) key;
    h->key.len = len;
    h->value = *value;

    h->lowcase_key = ngx_pnalloc(r->pool, len);
    if (h->lowcase_key == NULL) {
        return NGX_ERROR;
    }

    h->hash = ngx_hash_strlow(h->lowcase_key, h->key.data, len);

    return NGX_OK;
}


ngx_table_elt_t *
ngx_http_gov_find_header(ngx_http_request_t *r, const char *lowcase_key,
    size_t len)
{
    return ngx_http_gov_header_in(&r->headers_in.headers, lowcase_key, len);
}


/* an answer's header of that name (any case), NULL when it has none */

ngx_table_elt_t *
ngx_http_gov_find_out_header(ngx_http_request_t *r, const char *lowcase_key,
    size_t len)
{
    return ngx_http_gov_header_in(&r->headers_out.headers, lowcase_key, len);
}


static ngx_table_elt_t *
ngx_http_gov_header_in(ngx_list_t *list, const char *lowcase_key, size_t len)
{
    ngx_uint_t        i;
    ngx_list_part_t  *part;
    ngx_table_elt_t  *h;

    part = &list->part;
    h = part->elts;

    for (i = 0; /* void */; i++) {

        if (i >= part->nelts) {
            if (part->next == NULL) {
                return NULL;
            }

            part = part->next;
            h = part->elts;
            i = 0;
        }

        if (h[i].key.len == len
            && ngx_strncasecmp(h[i].key.data, (u_char *) lowcase_key, len)
               == 0)
        {
            return &h[i];
        }
    }
}


/*
 * A redirect's Location, kept as given: a relative path stays relative
 * (RFC 7231), so that it can only ever lead back to this origin.
 */

ngx_int_t
ngx_http_gov_location(ngx_http_request_t *r, ngx_str_t *location)
{
    ngx_http_clear_location(r);

    return ngx_http_gov_add_header(r, &r->headers_out.headers, "Location",
                                   location);
}


/*
 * A query argument, percent-decoded ('+' a space) and NUL-ended in the
 * request's pool; empty when absent.  "mask" keeps it out of the logs.
 */

ngx_int_t
ngx_http_gov_query_arg(ngx_http_request_t *r, char *name, ngx_str_t *value,
    ngx_uint_t mask)
{
    long       n;
    ngx_str_t  arg;

    ngx_str_null(value);

    if (ngx_http_arg(r, (u_char *) name, ngx_strlen(name), &arg) != NGX_OK) {
        return NGX_OK;
    }

    value->data = ngx_pnalloc(r->pool, arg.len + 1);
    if (value->data == NULL) {
        return NGX_ERROR;
    }

    n = gov_pct_decode((char *) value->data, (char *) arg.data, arg.len, 1);
    value->len = n < 0 ? 0 : (size_t) n;
    value->data[value->len] = '\0';

    if (mask) {
        ngx_http_gov_mask(r, &arg);
    }

    return NGX_OK;
}


/*
 * Overwrites every occurrence of a secret taken from the query string (a
 * token, a query code) in the request line and URI with '*', so that
 * neither the access log nor error log lines ever hold it whole.
 */

void
ngx_http_gov_mask(ngx_http_request_t *r, ngx_str_t *secret)
{
    u_char      *p, *last, *copy;
    ngx_uint_t   i;
    ngx_str_t   *where[3];

    if (secret->len < 4) {
        return;
    }

    /* the secret may itself lie in the buffer being masked */

    copy = ngx_pnalloc(r->pool, secret->len);
    if (copy == NULL) {
        return;
    }

    ngx_memcpy(copy, secret->data, secret->len);

    where[0] = &r->request_line;
    where[1] = &r->unparsed_uri;
    where[2] = &r->args;

    for (i = 0; i < 3; i++) {
        if (where[i]->data == NULL || where[i]->len < secret->len) {
            continue;
        }

        p = where[i]->data;
        last = where[i]->data + where[i]->len - secret->len;

        while (p <= last) {
            if (*p == *copy && ngx_memcmp(p, copy, secret->len) == 0) {
                ngx_memset(p, '*', secret->len);
                p += secret->len;
                continue;
            }

            p++;
        }
    }
}


/* a browser navigation: the client takes HTML */

ngx_uint_t
ngx_http_gov_wants_html(ngx_http_request_t *r)
{
    ngx_table_elt_t  *accept;

    accept = ngx_http_gov_find_header(r, "accept", 6);

    if (accept == NULL) {
        return 0;
    }

    return ngx_strlcasestrn(accept->value.data,
                            accept->value.data + accept->value.len,
                            (u_char *) "text/html", 9 - 1)
           != NULL;
}


/* a GET or HEAD, its body (if any) discarded; else 405 */

ngx_int_t
ngx_http_gov_get_only(ngx_http_request_t *r)
{
    if (!(r->method & (NGX_HTTP_GET|NGX_HTTP_HEAD))) {
        return NGX_HTTP_NOT_ALLOWED;
    }

    return ngx_http_discard_request_body(r);
}


/*
 * The largest body a handler reads itself: NGX_GOV_FORM_MAX for a form
 * (percent-encoding takes 9 bytes for a Chinese character that JSON
 * carries in 3), NGX_GOV_BODY_MAX for anything else.
 */

off_t
ngx_http_gov_body_limit(ngx_http_request_t *r)
{
    return ngx_http_gov_body_type(r) == NGX_GOV_BODY_FORM
           ? NGX_GOV_FORM_MAX : NGX_GOV_BODY_MAX;
}


/*
 * The request body, in memory and in one piece, wherever nginx kept it:
 * in its buffers or, past client_body_buffer_size, in its temporary
 * file, read back here (at most the limit, a file nginx has just
 * written).  NGX_OK, 413 past the limit (a chunked body has no declared
 * length to refuse early), or 500.
 */

ngx_int_t
ngx_http_gov_read_body(ngx_http_request_t *r, ngx_str_t *body)
{
    u_char       *p;
    off_t         len;
    ssize_t       n;
    ngx_buf_t    *b;
    ngx_chain_t  *cl;

    ngx_str_null(body);

    if (r->request_body == NULL || r->request_body->bufs == NULL) {
        return NGX_OK;
    }

    len = 0;

    for (cl = r->request_body->bufs; cl; cl = cl->next) {
        b = cl->buf;
        len += b->in_file ? b->file_last - b->file_pos : b->last - b->pos;
    }

    if (len > ngx_http_gov_body_limit(r)) {
        return NGX_HTTP_REQUEST_ENTITY_TOO_LARGE;
    }

    cl = r->request_body->bufs;

    if (cl->next == NULL && !cl->buf->in_file) {
        body->data = cl->buf->pos;
        body->len = (size_t) len;
        return NGX_OK;
    }

    body->data = ngx_pnalloc(r->pool, (size_t) len);
    if (body->data == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    p = body->data;

    for ( /* void */ ; cl; cl = cl->next) {
        b = cl->buf;

        if (!b->in_file) {
            p = ngx_cpymem(p, b->pos, b->last - b->pos);
            continue;
        }

        n = ngx_read_file(b->file, p, (size_t) (b->file_last - b->file_pos),
                          b->file_pos);

        if (n != (ssize_t) (b->file_last - b->file_pos)) {
            ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                          "gov: the request body's temporary file \"%V\" "
                          "gave %z of %O bytes", &b->file->name, n,
                          b->file_last - b->file_pos);
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        p += n;
    }

    body->len = (size_t) len;

    return NGX_OK;
}


/* the answer to a body ngx_http_gov_read_body() refused */

ngx_int_t
ngx_http_gov_body_refused(ngx_http_request_t *r, ngx_int_t rc)
{
    if (rc == NGX_HTTP_REQUEST_ENTITY_TOO_LARGE) {
        return ngx_http_gov_error(r, rc, "too_large");
    }

    return NGX_HTTP_INTERNAL_SERVER_ERROR;
}


/*
 * Every 503 of the module says when to come back: "seconds", unless the
 * answer already carries a Retry-After of its own (a waiting room's
 * estimate, a breaker's time left).
 */

ngx_int_t
ngx_http_gov_retry_after(ngx_http_request_t *r, time_t seconds)
{
    u_char     *p;
    ngx_str_t   value;

    if (ngx_http_gov_find_out_header(r, "retry-after", 11) != NULL) {
        return NGX_OK;
    }

    p = ngx_pnalloc(r->pool, NGX_TIME_T_LEN);
    if (p == NULL) {
        return NGX_ERROR;
    }

    value.data = p;
    value.len = ngx_sprintf(p, "%T", seconds) - p;

    return ngx_http_gov_add_header(r, &r->headers_out.headers, "Retry-After",
                                   &value);
}


ngx_int_t
ngx_http_gov_unavailable(ngx_http_request_t *r)
{
    return ngx_http_gov_unavailable_for(r, "storage", 1);
}


ngx_int_t
ngx_http_gov_unavailable_for(ngx_http_request_t *r, const char *reason,
    time_t retry)
{
    u_char     *p;
    size_t      len;
    ngx_int_t   rc;
    ngx_str_t   body;

    if (ngx_http_gov_retry_after(r, retry > 0 ? retry : 1) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (ngx_gov_answer_error_page && ngx_http_gov_wants_html(r)) {
        rc = ngx_gov_answer_error_page(r, NGX_HTTP_SERVICE_UNAVAILABLE,
                                       "unavailable");
        if (rc != NGX_DECLINED) {
            return rc;
        }
    }

    len = sizeof("{\"error\":\"unavailable\",\"reason\":\"\"}\n") - 1
          + ngx_strlen(reason);

    p = ngx_pnalloc(r->pool, len);
    if (p == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    body.data = p;
    body.len = ngx_sprintf(p, "{\"error\":\"unavailable\",\"reason\":\"%s\"}\n",
                           reason)
               - p;

    return ngx_http_gov_send(r, NGX_HTTP_SERVICE_UNAVAILABLE,
                             &ngx_http_gov_json_type, &body);
}


/*
 * Both write endpoints take a bounded JSON body by POST: anything else
 * is 405, a declared length over the bound is 413 before a byte is read.
 */

ngx_int_t
ngx_http_gov_read_post(ngx_http_request_t *r,
    ngx_http_client_body_handler_pt handler)
{
    ngx_int_t  rc;

    if (r->method != NGX_HTTP_POST) {
        return NGX_HTTP_NOT_ALLOWED;
    }

    if (r->headers_in.content_length_n > ngx_http_gov_body_limit(r)) {
        rc = ngx_http_discard_request_body(r);
        if (rc != NGX_OK) {
            return rc;
        }

        return ngx_http_gov_error(r, NGX_HTTP_REQUEST_ENTITY_TOO_LARGE,
                                  "too_large");
    }

    rc = ngx_http_read_client_request_body(r, handler);

    if (rc >= NGX_HTTP_SPECIAL_RESPONSE) {
        return rc;
    }

    return NGX_DONE;
}


ngx_int_t
ngx_http_gov_security_headers(ngx_http_request_t *r)
{
    u_char                   *p;
    ngx_str_t                 v;
    ngx_http_gov_loc_conf_t  *glcf;

    glcf = ngx_http_get_module_loc_conf(r, ngx_http_gov_module);

    if (!glcf->security_headers
        || ngx_http_gov_find_out_header(r, "x-content-type-options", 22))
    {
        /* off, or there already */
        return NGX_OK;
    }

    ngx_str_set(&v, "nosniff");

    if (ngx_http_gov_add_header(r, &r->headers_out.headers,
                                "X-Content-Type-Options", &v)
        != NGX_OK)
    {
        return NGX_ERROR;
    }

#if (NGX_HTTP_SSL)

    if (r->connection->ssl && glcf->hsts > 0) {
        p = ngx_pnalloc(r->pool, sizeof("max-age=") - 1 + NGX_TIME_T_LEN);
        if (p == NULL) {
            return NGX_ERROR;
        }

        v.data = p;
        v.len = ngx_sprintf(p, "max-age=%T", glcf->hsts) - p;

        if (ngx_http_gov_add_header(r, &r->headers_out.headers,
                                    "Strict-Transport-Security", &v)
            != NGX_OK)
        {
            return NGX_ERROR;
        }
    }

#else

    (void) p;

#endif

    return NGX_OK;
}


/* gov_hsts time | off */

char *
ngx_gov_hsts_directive(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_gov_loc_conf_t *glcf = conf;

    ngx_str_t  *value;

    if (glcf->hsts != NGX_CONF_UNSET) {
        return "is duplicate";
    }

    value = cf->args->elts;

    if (ngx_strcmp(value[1].data, "off") == 0) {
        glcf->hsts = 0;
        return NGX_CONF_OK;
    }

    glcf->hsts = ngx_parse_time(&value[1], 1);

    if (glcf->hsts == (time_t) NGX_ERROR || glcf->hsts == 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"gov_hsts\": \"%V\" is neither a time above "
                           "zero (\"180d\") nor \"off\"", &value[1]);
        return NGX_CONF_ERROR;
    }

    return NGX_CONF_OK;
}


void
ngx_http_gov_log_hide_holder(ngx_http_request_t *r)
{
    r = r->main;

    if (r->log_handler == ngx_http_gov_log_masked) {
        return;
    }

    if (ngx_http_gov_log_context == NULL) {
        ngx_http_gov_log_context = r->log_handler;

    } else if (r->log_handler != ngx_http_gov_log_context) {
        /* another module's context: left as it is */
        return;
    }

    r->log_handler = ngx_http_gov_log_masked;
}


static u_char *
ngx_http_gov_log_masked(ngx_http_request_t *r, ngx_http_request_t *sr,
    u_char *buf, size_t len)
{
    u_char  *p, *last;

    last = ngx_http_gov_log_context(r, sr, buf, len);

    for (p = buf; p + sizeof("holder=") - 1 < last; p++) {
        if (ngx_strncmp(p, "holder=", sizeof("holder=") - 1) != 0) {
            continue;
        }

        for (p += sizeof("holder=") - 1;
             p < last && *p != '&' && *p != '"' && *p != ' ';
             p++)
        {
            *p = '*';
        }
    }

    return last;
}


void
ngx_http_gov_log_subject(ngx_http_request_t *r, ngx_str_t *subject,
    ngx_str_t *out)
{
    size_t  i, len;

    len = ngx_min(subject->len, 64);

    out->data = ngx_pnalloc(r->pool, len);
    if (out->data == NULL) {
        ngx_str_set(out, "*");
        return;
    }

    for (i = 0; i < len; i++) {
        out->data[i] = (len > 8 && (i < 4 || i + 4 >= len)) ? subject->data[i]
                                                            : '*';
    }

    out->len = len;
}
