
/*
 * Copyright (C) ngx_gov_module authors
 *
 * A test module that clashes with every library name ngx_gov_module uses:
 * it exports its own jwt_decode() (as modules that embed libjwt do), and
 * hiredis and jansson names (as Debian's nchan embeds hiredis).  The
 * hiredis and jansson fakes abort: a module that binds to them crashes its
 * worker.  "clash;" answers what this module's own jwt_decode() returned:
 * 4242 when its call bound to its own definition, as it must.
 *
 * Built by t/090-neighbours.t against the configured nginx tree in
 * build/plain, loaded before and after ngx_http_gov_module.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>


int jwt_decode(void **jwt, const char *token, const unsigned char *key,
    int key_len);
void jwt_free(void *jwt);
int jwt_get_alg(void *jwt);
void *redisReaderCreate(void);
int redisReaderFeed(void *r, const char *buf, size_t len);
int redisReaderGetReply(void *r, void **reply);
void redisReaderFree(void *r);
int redisFormatCommandArgv(char **target, int argc, const char **argv,
    const size_t *argvlen);
void redisFreeCommand(char *cmd);
void freeReplyObject(void *reply);
void *json_loadb(const char *buf, size_t len, size_t flags, void *error);
void *json_object_get(const void *object, const char *key);
void *json_object(void);
int json_object_set_new(void *object, const char *key, void *value);
void json_delete(void *json);
char *json_dumps(const void *json, size_t flags);

static char *ngx_http_clash(ngx_conf_t *cf, ngx_command_t *cmd, void *conf);
static ngx_int_t ngx_http_clash_handler(ngx_http_request_t *r);


static ngx_command_t  ngx_http_clash_commands[] = {

    { ngx_string("clash"),
      NGX_HTTP_LOC_CONF|NGX_CONF_NOARGS,
      ngx_http_clash,
      0,
      0,
      NULL },

      ngx_null_command
};


static ngx_http_module_t  ngx_http_clash_module_ctx = {
    NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL
};


ngx_module_t  ngx_http_clash_module = {
    NGX_MODULE_V1,
    &ngx_http_clash_module_ctx,
    ngx_http_clash_commands,
    NGX_HTTP_MODULE,
    NULL, NULL, NULL, NULL, NULL, NULL, NULL,
    NGX_MODULE_V1_PADDING
};


ngx_module_t  *ngx_modules[] = { &ngx_http_clash_module, NULL };
char          *ngx_module_names[] = { "ngx_http_clash_module", NULL };
char          *ngx_module_order[] = { NULL };


int
jwt_decode(void **jwt, const char *token, const unsigned char *key,
    int key_len)
{
    *jwt = NULL;
    return 4242;
}


void jwt_free(void *jwt) { abort(); }
int jwt_get_alg(void *jwt) { abort(); }
void *redisReaderCreate(void) { abort(); }
int redisReaderFeed(void *r, const char *b, size_t n) { abort(); }
int redisReaderGetReply(void *r, void **reply) { abort(); }
void redisReaderFree(void *r) { abort(); }
int redisFormatCommandArgv(char **t, int c, const char **v, const size_t *l)
    { abort(); }
void redisFreeCommand(char *cmd) { abort(); }
void freeReplyObject(void *reply) { abort(); }
void *json_loadb(const char *b, size_t n, size_t f, void *e) { abort(); }
void *json_object_get(const void *o, const char *k) { abort(); }
void *json_object(void) { abort(); }
int json_object_set_new(void *o, const char *k, void *v) { abort(); }
void json_delete(void *json) { abort(); }
char *json_dumps(const void *json, size_t flags) { abort(); }


static char *
ngx_http_clash(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_core_loc_conf_t  *clcf;

    clcf = ngx_http_conf_get_module_loc_conf(cf, ngx_http_core_module);
    clcf->handler = ngx_http_clash_handler;

    return NGX_CONF_OK;
}


static ngx_int_t
ngx_http_clash_handler(ngx_http_request_t *r)
{
    int           rc;
    void         *jwt;
    ngx_buf_t    *b;
    ngx_chain_t   out;

    rc = jwt_decode(&jwt, "x.y.z", (const unsigned char *) "k", 1);

    b = ngx_create_temp_buf(r->pool, 32);
    if (b == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    b->last = ngx_sprintf(b->last, "clash %d\n", rc);
    b->last_buf = 1;

    r->headers_out.status = NGX_HTTP_OK;
    r->headers_out.content_length_n = b->last - b->pos;

    rc = ngx_http_send_header(r);
    if (rc == NGX_ERROR || rc > NGX_OK || r->header_only) {
        return rc;
    }

    out.buf = b;
    out.next = NULL;

    return ngx_http_output_filter(r, &out);
}
