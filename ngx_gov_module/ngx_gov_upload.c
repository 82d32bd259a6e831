
/*
 * Copyright (C) ngx_gov_module authors
 */


/*
 * Materials uploaded.  A body never sits whole in memory: a request body
 * filter takes each buffer as nginx reads it, parses multipart forms
 * (core/gov_multipart.c), hashes and sniffs each file's bytes and writes
 * them to a temporary file in STORE/.tmp, page-cache writes as nginx's own
 * client body files are (no thread pool: a write() of a body buffer does
 * not wait for the disk).  A finished file is linked into STORE/xx/yy/HEX,
 * so a stored file appears whole or not at all; a request that ends
 * early removes its temporary files through its pool.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include <openssl/rand.h>

#include "ngx_gov_metrics.h"
#include "ngx_gov_answer.h"
#include "ngx_gov_access.h"
#include "ngx_gov_upload.h"


#define NGX_GOV_UPLOAD_FORM_OVERHEAD  65536
#define NGX_GOV_HTTP_UNPROCESSABLE    422
#define NGX_GOV_HTTP_INSUFFICIENT     507

/* what the flow slot of a request holds */
#define NGX_GOV_UPLOAD_KIND_STREAM    0x75707374
#define NGX_GOV_UPLOAD_KIND_WAIT      0x75707774
#define NGX_GOV_SWEEP_BATCH           "100"

/*
 * What one upload may take of one turn of the event loop: a fast client
 * on a fast link keeps nginx's body reader busy for as long as its socket
 * refills, so past this the buffers wait for the next turn.
 */
#define NGX_GOV_UPLOAD_TURN           (32 * 1024)


static ngx_int_t ngx_gov_upload_body_filter(ngx_http_request_t *r,
    ngx_chain_t *in);
static void ngx_gov_upload_consume(ngx_gov_upload_stream_t *st, u_char *p,
    size_t len);
static void ngx_gov_upload_resume(ngx_event_t *ev);
static void ngx_gov_upload_form_identity(ngx_http_request_t *r);
static void ngx_gov_upload_form_stored(ngx_http_request_t *r,
    ngx_gov_upload_stream_t *st);
static ngx_gov_upload_stream_t *ngx_gov_upload_stream(ngx_http_request_t *r,
    ngx_uint_t mode, ngx_gov_upload_done_pt done);
static ngx_int_t ngx_gov_upload_start(ngx_http_request_t *r,
    ngx_gov_upload_stream_t *st);
static int ngx_gov_upload_part_begin(void *data, const gov_mp_part_t *part);
static int ngx_gov_upload_part_data(void *data, const char *p, size_t len);
static int ngx_gov_upload_part_end(void *data);
static ngx_gov_upload_file_t *ngx_gov_upload_file_add(
    ngx_gov_upload_stream_t *st, const char *field, size_t field_len,
    const char *filename, size_t filename_len);
static void ngx_gov_upload_file_data(ngx_gov_upload_stream_t *st,
    ngx_gov_upload_file_t *f, const u_char *p, size_t len);
static void ngx_gov_upload_file_end(ngx_gov_upload_stream_t *st,
    ngx_gov_upload_file_t *f);
static ngx_int_t ngx_gov_upload_temp(ngx_gov_upload_stream_t *st,
    ngx_gov_upload_file_t *f);
static void ngx_gov_upload_refuse(ngx_gov_upload_file_t *f,
    ngx_uint_t status, const char *error);
static void ngx_gov_upload_store_error(ngx_gov_upload_stream_t *st,
    ngx_gov_upload_file_t *f, ngx_err_t err, const char *what);
static ngx_int_t ngx_gov_upload_form_add(ngx_gov_upload_stream_t *st,
    const u_char *p, size_t len, ngx_uint_t escape);
static void ngx_gov_upload_cleanup(void *data);
static void ngx_gov_upload_body_done(ngx_http_request_t *r);
static void ngx_gov_upload_path_buf(u_char *path, ngx_str_t *store,
    const u_char *hex, ngx_uint_t shard);
static u_char *ngx_gov_upload_path(ngx_gov_upload_conf_t *ucf,
    ngx_pool_t *pool, const u_char *hex, ngx_uint_t shard);
static ngx_uint_t ngx_gov_upload_shard(ngx_http_request_t *r);
static ngx_int_t ngx_gov_upload_link_shard(ngx_http_request_t *r,
    ngx_uint_t shard, void *data, ngx_gov_redis_args_t *cmd);
static void ngx_gov_upload_link_done(redisReply *reply, void *data);
static ngx_int_t ngx_gov_upload_keys(ngx_pool_t *pool, ngx_str_t *tag,
    const char *first, ngx_gov_upload_file_t *f, ngx_uint_t nf,
    json_t *hexes, ngx_gov_redis_args_t *cmd);

static void ngx_gov_upload_owned(ngx_http_request_t *r,
    ngx_gov_upload_stream_t *st);
static void ngx_gov_upload_own_done(redisReply *reply, void *data);
static void ngx_gov_upload_known_done(redisReply *reply, void *data);

static ngx_int_t ngx_gov_upload_get(ngx_http_request_t *r, ngx_str_t *hex);
static void ngx_gov_upload_get_identity(ngx_http_request_t *r);
static void ngx_gov_upload_get_done(redisReply *reply, void *data);
static ngx_int_t ngx_gov_upload_serve(ngx_http_request_t *r, u_char *hex,
    ngx_int_t type, ngx_uint_t link, ngx_uint_t shard);
static ngx_uint_t ngx_gov_upload_is_hex(ngx_str_t *s);

static void ngx_gov_upload_sweep(ngx_event_t *ev);
static void ngx_gov_upload_swept(redisReply *reply, void *data);
static ngx_uid_t ngx_gov_upload_worker_uid(ngx_conf_t *cf, ngx_gid_t *gid);


static ngx_http_request_body_filter_pt  ngx_gov_upload_next_body_filter;

static const gov_mp_handlers_t  ngx_gov_upload_mp = {
    ngx_gov_upload_part_begin,
    ngx_gov_upload_part_data,
    ngx_gov_upload_part_end
};

static ngx_event_t  ngx_gov_sweep_ev;
static ngx_msec_t   ngx_gov_sweep_every;


typedef struct {
    ngx_uint_t                kind;
    ngx_http_request_t       *request;
    ngx_gov_upload_stream_t  *stream;
    ngx_gov_upload_done_pt    done;
    ngx_gov_upload_known_pt   known;
    void                     *data;
    u_char                    hex[NGX_GOV_UPLOAD_HEX];
    ngx_uint_t                shard;        /* where the file was found */
} ngx_gov_upload_wait_t;


/*
 * One script records the files of a request as their owner's; nothing
 * while any of them is being swept (the caller answers 503, a retry then
 * stores it again).  A file no application names waits in "upidle".
 */

static const char  ngx_gov_upload_own_lua[] =
    "local p, subj, now = ARGV[1], ARGV[2], ARGV[3]\n"
    "local n = tonumber(ARGV[4])\n"
    "for i = 0, n - 1 do\n"
    "  if redis.call('EXISTS', p .. 'updel:' .. ARGV[5 + 4 * i]) == 1 then\n"
    "    return 'busy'\n"
    "  end\n"
    "end\n"
    "for i = 0, n - 1 do\n"
    "  local h = ARGV[5 + 4 * i]\n"
    "  local k = p .. 'up:' .. h\n"
    "  redis.call('HSET', k, 'type', ARGV[6 + 4 * i], 'size', ARGV[7 + 4 * i],\n"
    "             'o:' .. subj, ARGV[8 + 4 * i])\n"
    "  redis.call('HSETNX', k, 'at', now)\n"
    "  redis.call('HSETNX', k, 'refs', 0)\n"
    "  if redis.call('HGET', k, 'refs') == '0' then\n"
    "    redis.call('ZADD', p .. 'upidle', now, h)\n"
    "  end\n"
    "end\n"
    "return 'ok'\n";


static const char  ngx_gov_upload_known_lua[] =
    "local p, subj = ARGV[1], ARGV[2]\n"
    "local out = {}\n"
    "for i = 3, #ARGV do\n"
    "  local h = ARGV[i]\n"
    "  local v = redis.call('HMGET', p .. 'up:' .. h, 'type', 'size',\n"
    "                       'o:' .. subj)\n"
    "  if v[3] and redis.call('EXISTS', p .. 'updel:' .. h) == 0 then\n"
    "    out[#out + 1] = h\n"
    "    out[#out + 1] = v[1]\n"
    "    out[#out + 1] = v[2]\n"
    "    out[#out + 1] = v[3]\n"
    "  end\n"
    "end\n"
    "return out\n";


/*
 * The sweeper's turn is taken by one worker of all nodes per period;
 * what it deletes in Redis is marked "updel" until the files are gone.
 */

static const char  ngx_gov_upload_sweep_lua[] =
    "local p = ARGV[1]\n"
    "if not redis.call('SET', p .. 'upsweep', '1', 'NX', 'PX', ARGV[3]) then\n"
    "  return {}\n"
    "end\n"
    "local hs = redis.call('ZRANGEBYSCORE', p .. 'upidle', '-inf', ARGV[2],\n"
    "                      'LIMIT', 0, " NGX_GOV_SWEEP_BATCH ")\n"
    "local out = {}\n"
    "for _, h in ipairs(hs) do\n"
    "  redis.call('ZREM', p .. 'upidle', h)\n"
    "  if tonumber(redis.call('HGET', p .. 'up:' .. h, 'refs') or '0') == 0\n"
    "  then\n"
    "    redis.call('DEL', p .. 'up:' .. h)\n"
    "    redis.call('SET', p .. 'updel:' .. h, '1', 'PX', 60000)\n"
    "    out[#out + 1] = h\n"
    "  end\n"
    "end\n"
    "return out\n";


/* configuration */


void
ngx_gov_upload_create_conf(ngx_gov_upload_conf_t *ucf)
{
    ucf->max_size = NGX_CONF_UNSET;
    ucf->keep_unused = NGX_CONF_UNSET;
    ucf->link_ttl = NGX_CONF_UNSET;
}


/* gov_upload_store PATH [max_size=SIZE] [types=LIST] [keep_unused=TIME] */

char *
ngx_gov_upload_store_directive(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf)
{
    ngx_gov_upload_conf_t  *ucf = (void *) ((char *) conf + cmd->offset);

    u_char      *p, *end, *comma;
    ngx_str_t   *value, s;
    ngx_int_t    type;
    ngx_uint_t   i;

    if (ucf->path.data) {
        return "is duplicate";
    }

    value = cf->args->elts;
    ucf->path = value[1];

    while (ucf->path.len > 1 && ucf->path.data[ucf->path.len - 1] == '/') {
        ucf->path.len--;
    }

    if (ngx_conf_full_name(cf->cycle, &ucf->path, 0) != NGX_OK) {
        return NGX_CONF_ERROR;
    }

    ucf->file = cf->conf_file->file.name;
    ucf->line = cf->conf_file->line;

    for (i = 2; i < cf->args->nelts; i++) {

        if (ngx_strncmp(value[i].data, "max_size=", 9) == 0) {
            s.data = value[i].data + 9;
            s.len = value[i].len - 9;
            ucf->max_size = ngx_parse_offset(&s);

            if (ucf->max_size <= 0) {
                ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                                   "gov_upload_store: invalid size in "
                                   "\"%V\"", &value[i]);
                return NGX_CONF_ERROR;
            }

            continue;
        }

        if (ngx_strncmp(value[i].data, "keep_unused=", 12) == 0) {
            s.data = value[i].data + 12;
            s.len = value[i].len - 12;
            ucf->keep_unused = ngx_parse_time(&s, 1);

            if (ucf->keep_unused == (time_t) NGX_ERROR
                || ucf->keep_unused <= 0)
            {
                ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                                   "gov_upload_store: invalid time in "
                                   "\"%V\"", &value[i]);
                return NGX_CONF_ERROR;
            }

            continue;
        }

        if (ngx_strncmp(value[i].data, "types=", 6) == 0) {
            ucf->types = 0;
            p = value[i].data + 6;
            end = value[i].data + value[i].len;

            while (p < end) {
                comma = ngx_strlchr(p, end, ',');
                if (comma == NULL) {
                    comma = end;
                }

                type = gov_type_from_name((char *) p, comma - p);

                if (type == GOV_TYPE_UNKNOWN) {
                    ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                                       "gov_upload_store: unknown type "
                                       "\"%*s\" (pdf, jpeg, png, ofd)",
                                       (size_t) (comma - p), p);
                    return NGX_CONF_ERROR;
                }

                ucf->types |= (ngx_uint_t) 1 << type;
                p = comma + 1;
            }

            if (ucf->types == 0) {
                ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                                   "gov_upload_store: \"types=\" names no "
                                   "type");
                return NGX_CONF_ERROR;
            }

            continue;
        }

        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "gov_upload_store: invalid parameter \"%V\"",
                           &value[i]);
        return NGX_CONF_ERROR;
    }

    return NGX_CONF_OK;
}


/* gov_upload_link_secret_file PATH: read once, at start */

char *
ngx_gov_upload_secret_directive(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf)
{
    ngx_gov_upload_conf_t  *ucf = (void *) ((char *) conf + cmd->offset);

    ssize_t          n;
    ngx_str_t       *value, name;
    ngx_file_t       file;
    ngx_file_info_t  fi;

    if (ucf->link_secret.data) {
        return "is duplicate";
    }

    value = cf->args->elts;
    name = value[1];

    if (ngx_conf_full_name(cf->cycle, &name, 1) != NGX_OK) {
        return NGX_CONF_ERROR;
    }

    ngx_memzero(&file, sizeof(ngx_file_t));
    file.name = name;
    file.log = cf->log;

    file.fd = ngx_open_file(name.data, NGX_FILE_RDONLY, NGX_FILE_OPEN, 0);

    if (file.fd == NGX_INVALID_FILE) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, ngx_errno,
                           "gov_upload_link_secret_file: cannot open \"%V\"",
                           &name);
        return NGX_CONF_ERROR;
    }

    if (ngx_fd_info(file.fd, &fi) == NGX_FILE_ERROR
        || ngx_file_size(&fi) > 4096)
    {
        ngx_close_file(file.fd);
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "gov_upload_link_secret_file: \"%V\" is not a "
                           "file of at most 4096 bytes", &name);
        return NGX_CONF_ERROR;
    }

    ucf->link_secret.data = ngx_pnalloc(cf->pool, 4096);
    if (ucf->link_secret.data == NULL) {
        ngx_close_file(file.fd);
        return NGX_CONF_ERROR;
    }

    n = ngx_read_file(&file, ucf->link_secret.data, 4096, 0);

    ngx_close_file(file.fd);

    if (n == NGX_ERROR) {
        return NGX_CONF_ERROR;
    }

    while (n > 0 && (ucf->link_secret.data[n - 1] == '\n'
                     || ucf->link_secret.data[n - 1] == '\r'))
    {
        n--;
    }

    if (n < 32) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "gov_upload_link_secret_file: \"%V\" holds %z "
                           "bytes, at least 32 are needed", &name, n);
        return NGX_CONF_ERROR;
    }

    ucf->link_secret.len = n;

    return NGX_CONF_OK;
}


/*
 * The store must be a directory the workers can write: checked here, so
 * that nginx -t says so with the directive's place.
 */

char *
ngx_gov_upload_init_conf(ngx_conf_t *cf, ngx_gov_upload_conf_t *ucf)
{
    ngx_uid_t         uid;
    ngx_gid_t         gid;
    ngx_uint_t        ok;
    ngx_file_info_t   fi;

    ngx_conf_init_value(ucf->max_size, 20 * 1024 * 1024);
    ngx_conf_init_value(ucf->keep_unused, 86400);
    ngx_conf_init_value(ucf->link_ttl, 7 * 86400);

    if (ucf->types == 0) {
        ucf->types = (1 << GOV_TYPE_PDF) | (1 << GOV_TYPE_JPEG)
                     | (1 << GOV_TYPE_PNG) | (1 << GOV_TYPE_OFD);
    }

    if (ucf->path.data == NULL) {
        if (ucf->used_line) {
            ngx_log_error(NGX_LOG_EMERG, cf->log, 0,
                          "\"gov_upload\" in %V:%ui needs "
                          "\"gov_upload_store\"", &ucf->used_file,
                          ucf->used_line);
            return NGX_CONF_ERROR;
        }

        return NGX_CONF_OK;
    }

    if (ucf->link_secret.data == NULL) {
        ngx_log_error(NGX_LOG_EMERG, cf->log, 0,
                      "\"gov_upload_store\" in %V:%ui needs "
                      "\"gov_upload_link_secret_file\": departments "
                      "download materials through signed links",
                      &ucf->file, ucf->line);
        return NGX_CONF_ERROR;
    }

    if (ngx_file_info(ucf->path.data, &fi) == NGX_FILE_ERROR
        || !ngx_is_dir(&fi))
    {
        ngx_log_error(NGX_LOG_EMERG, cf->log, ngx_errno,
                      "gov_upload_store \"%V\" in %V:%ui is not a "
                      "directory", &ucf->path, &ucf->file, ucf->line);
        return NGX_CONF_ERROR;
    }

    uid = ngx_gov_upload_worker_uid(cf, &gid);

    if (uid == 0) {
        ok = 1;

    } else if (fi.st_uid == uid) {
        ok = (fi.st_mode & (S_IWUSR|S_IXUSR)) == (S_IWUSR|S_IXUSR);

    } else if (fi.st_gid == gid) {
        ok = (fi.st_mode & (S_IWGRP|S_IXGRP)) == (S_IWGRP|S_IXGRP);

    } else {
        ok = (fi.st_mode & (S_IWOTH|S_IXOTH)) == (S_IWOTH|S_IXOTH);
    }

    if (!ok) {
        ngx_log_error(NGX_LOG_EMERG, cf->log, 0,
                      "gov_upload_store \"%V\" in %V:%ui is not writable "
                      "by the worker user (uid %d)", &ucf->path, &ucf->file,
                      ucf->line, (int) uid);
        return NGX_CONF_ERROR;
    }

    /* STORE/.tmp, created (and given to the worker user) by nginx */

    ucf->temp = ngx_pcalloc(cf->pool, sizeof(ngx_path_t));
    if (ucf->temp == NULL) {
        return NGX_CONF_ERROR;
    }

    ucf->temp->name.len = ucf->path.len + sizeof("/.tmp") - 1;
    ucf->temp->name.data = ngx_pnalloc(cf->pool, ucf->temp->name.len + 1);
    if (ucf->temp->name.data == NULL) {
        return NGX_CONF_ERROR;
    }

    ngx_sprintf(ucf->temp->name.data, "%V/.tmp%Z", &ucf->path);
    ucf->temp->conf_file = ucf->file.data;
    ucf->temp->line = ucf->line;

    if (ngx_add_path(cf, &ucf->temp) != NGX_OK) {
        return NGX_CONF_ERROR;
    }

    return NGX_CONF_OK;
}


/* the workers' user: the "user" directive, else nobody under root */

static ngx_uid_t
ngx_gov_upload_worker_uid(ngx_conf_t *cf, ngx_gid_t *gid)
{
    struct passwd    *pw;
    ngx_core_conf_t  *ccf;

    ccf = (ngx_core_conf_t *) ngx_get_conf(cf->cycle->conf_ctx,
                                           ngx_core_module);

    if (geteuid() != 0) {
        *gid = getegid();
        return geteuid();
    }

    if (ccf && ccf->user != (ngx_uid_t) NGX_CONF_UNSET_UINT) {
        *gid = ccf->group;
        return ccf->user;
    }

    pw = getpwnam(NGX_USER);

    if (pw == NULL) {
        *gid = 0;
        return 0;
    }

    *gid = pw->pw_gid;

    return pw->pw_uid;
}


ngx_int_t
ngx_gov_upload_init(ngx_conf_t *cf)
{
    ngx_gov_upload_next_body_filter = ngx_http_top_request_body_filter;
    ngx_http_top_request_body_filter = ngx_gov_upload_body_filter;

    return NGX_OK;
}


/* streaming */


ngx_int_t
ngx_gov_upload_read(ngx_http_request_t *r, ngx_uint_t mode,
    ngx_gov_upload_done_pt done)
{
    ngx_gov_upload_stream_t  *st;

    st = ngx_gov_upload_stream(r, mode, done);
    if (st == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return ngx_gov_upload_start(r, st);
}


/*
 * Files posted, the way POST /uploads/, the submission form and a
 * correction's answer take them: the identity first (401, 503), the
 * cross-site rule (403), then the body streams in and the stored files
 * are recorded as the citizen's.  "done" runs once, with st->status 0
 * when all went well.  For a content handler: NGX_DONE, or an answer's
 * code.
 */

ngx_int_t
ngx_gov_upload_form(ngx_http_request_t *r, ngx_uint_t mode,
    ngx_gov_upload_done_pt done)
{
    ngx_gov_upload_stream_t  *st;

    st = ngx_gov_upload_stream(r, mode, ngx_gov_upload_form_stored);
    if (st == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    st->form_done = done;

    r->main->count++;
    ngx_http_gov_identity_then(r, ngx_gov_upload_form_identity);

    return NGX_DONE;
}


static void
ngx_gov_upload_form_identity(ngx_http_request_t *r)
{
    off_t                     most;
    ngx_int_t                 rc, reason, same;
    ngx_str_t                 subject, actor;
    ngx_connection_t         *c;
    ngx_gov_upload_stream_t  *st;

    c = r->connection;
    st = ngx_http_gov_flow(r);

    reason = ngx_http_gov_whoami(r, &subject, &actor);
    same = (reason == GOV_AUTH_OK) ? ngx_http_gov_same_site(r) : NGX_OK;

    if (st && st->kind == NGX_GOV_UPLOAD_KIND_STREAM
        && st->mode == NGX_GOV_UPLOAD_ONE && reason == GOV_AUTH_OK
        && same == NGX_OK)
    {
        /* one file: its size is known before a byte is read */

        most = st->conf->max_size + NGX_GOV_UPLOAD_FORM_OVERHEAD;

        if (r->headers_in.content_length_n > most
            || r->headers_in.content_length_n == 0)
        {
            ngx_gov_metrics_inc(NGX_GOV_M_UPLOADS_REFUSED);

            rc = ngx_http_discard_request_body(r);

            if (rc == NGX_OK) {
                rc = r->headers_in.content_length_n
                     ? ngx_http_gov_error(r,
                                          NGX_HTTP_REQUEST_ENTITY_TOO_LARGE,
                                          "too_large")
                     : ngx_http_gov_error(r, NGX_GOV_HTTP_UNPROCESSABLE,
                                          "empty");
            }

            goto done;
        }
    }

    if (st == NULL || st->kind != NGX_GOV_UPLOAD_KIND_STREAM
        || reason != GOV_AUTH_OK || same != NGX_OK)
    {
        rc = ngx_http_discard_request_body(r);

        if (rc == NGX_OK) {
            rc = (st == NULL || st->kind != NGX_GOV_UPLOAD_KIND_STREAM)
                 ? NGX_HTTP_INTERNAL_SERVER_ERROR
                 : (reason == NGX_DECLINED) ? ngx_http_gov_unavailable(r)
                 : (reason != GOV_AUTH_OK)
                   ? ngx_http_gov_unauthenticated(r, reason)
                   : ngx_http_gov_cross_site(r);
        }

        goto done;
    }

    rc = ngx_gov_upload_start(r, st);

    if (rc < NGX_HTTP_SPECIAL_RESPONSE) {
        rc = NGX_DONE;
    }

done:

    ngx_http_finalize_request(r, rc);
    ngx_http_run_posted_requests(c);
}


/* the form is in: its files become the citizen's, then the caller's turn */

static void
ngx_gov_upload_form_stored(ngx_http_request_t *r,
    ngx_gov_upload_stream_t *st)
{
    ngx_str_t  subject, actor;

    if (st->status == 0) {
        (void) ngx_http_gov_whoami(r, &subject, &actor);

        if (ngx_gov_upload_own(r, st, &subject, st->form_done) == NGX_OK) {
            return;
        }

        st->status = NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    st->form_done(r, st);
}


/* a stream of the request's body, ready to start */

static ngx_gov_upload_stream_t *
ngx_gov_upload_stream(ngx_http_request_t *r, ngx_uint_t mode,
    ngx_gov_upload_done_pt done)
{
    void                     **slot;
    ngx_pool_cleanup_t        *cln;
    ngx_gov_upload_stream_t   *st;
    ngx_http_gov_main_conf_t  *gmcf;

    gmcf = ngx_http_get_module_main_conf(r, ngx_http_gov_module);

    cln = ngx_pool_cleanup_add(r->pool, sizeof(ngx_gov_upload_stream_t));
    slot = ngx_http_gov_flow_slot(r);

    if (cln == NULL || slot == NULL) {
        return NULL;
    }

    st = cln->data;
    ngx_memzero(st, sizeof(ngx_gov_upload_stream_t));

    if (ngx_array_init(&st->files, r->pool, 4, sizeof(ngx_gov_upload_file_t))
        != NGX_OK)
    {
        return NULL;
    }

    cln->handler = ngx_gov_upload_cleanup;

    st->kind = NGX_GOV_UPLOAD_KIND_STREAM;
    st->request = r;
    st->resume.handler = ngx_gov_upload_resume;
    st->resume.data = st;
    st->resume.log = r->connection->log;
    st->conf = &gmcf->upload;
    st->mode = mode;
    st->done = done;

    *slot = st;

    return st;
}


/* the body is read into the stream from now on */

static ngx_int_t
ngx_gov_upload_start(ngx_http_request_t *r, ngx_gov_upload_stream_t *st)
{
    char    boundary[GOV_MP_BOUNDARY_MAX + 1];
    size_t  blen;

    blen = 0;

    if (r->headers_in.content_type) {
        blen = gov_mp_boundary((char *) r->headers_in.content_type->value.data,
                               r->headers_in.content_type->value.len,
                               boundary);
    }

    if (blen) {
        st->multipart = 1;
        gov_mp_init(&st->mp, boundary, blen, &ngx_gov_upload_mp, st);

    } else if (st->mode == NGX_GOV_UPLOAD_FORM) {
        return NGX_HTTP_UNSUPPORTED_MEDIA_TYPE;

    } else {
        /* the body is the file */
        st->file = ngx_gov_upload_file_add(st, "file", 4, NULL, 0);
        if (st->file == NULL) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }
    }

    st->active = 1;

    return ngx_http_read_client_request_body(r, ngx_gov_upload_body_done);
}


/*
 * Every buffer of the body as nginx reads it, for requests streaming an
 * upload: taken here, so nothing is buffered or saved by nginx; only the
 * last buffer's mark goes on, which ends the body.
 */

static ngx_int_t
ngx_gov_upload_body_filter(ngx_http_request_t *r, ngx_chain_t *in)
{
    ngx_buf_t                *b;
    ngx_chain_t              *cl, *tl, last;
    ngx_gov_upload_stream_t  *st;

    st = ngx_http_gov_flow(r);

    if (st == NULL || st->kind != NGX_GOV_UPLOAD_KIND_STREAM || !st->active) {
        return ngx_gov_upload_next_body_filter(r, in);
    }

    /*
     * Buffers may be held for the next turn at any time: nginx is told so
     * from the first call on (HTTP/2 decides on flow control by the flag
     * as it stands when the body starts, called with no buffer).
     */
    r->request_body->filter_need_buffering = 1;

    last.buf = NULL;
    last.next = NULL;

    for (cl = in; cl; cl = cl->next) {
        b = cl->buf;

        if (b->in_file) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        if (st->pending || st->pass >= NGX_GOV_UPLOAD_TURN) {
            /* held, in order, for the next turn */
            tl = ngx_alloc_chain_link(r->pool);
            if (tl == NULL) {
                return NGX_HTTP_INTERNAL_SERVER_ERROR;
            }

            tl->buf = b;
            tl->next = NULL;

            if (st->pending == NULL) {
                st->pending_last = &st->pending;
            }

            *st->pending_last = tl;
            st->pending_last = &tl->next;
            continue;
        }

        if (b->last > b->pos) {
            ngx_gov_upload_consume(st, b->pos, b->last - b->pos);
            st->pass += b->last - b->pos;
            b->pos = b->last;
        }

        if (b->last_buf) {
            last.buf = b;
        }
    }

    if (st->pending) {
        /* nginx waits while buffers are held; the next turn goes on */
        if (!st->resume.posted) {
            ngx_post_event(&st->resume, &ngx_posted_next_events);
        }

    } else if (st->pass >= NGX_GOV_UPLOAD_TURN && !st->resume.posted) {
        /* a new turn for this request */
        ngx_post_event(&st->resume, &ngx_posted_next_events);
    }

    if (last.buf) {
        st->active = 0;
        return ngx_gov_upload_next_body_filter(r, &last);
    }

    return ngx_gov_upload_next_body_filter(r, NULL);
}


/* the next turn of the loop: the held buffers, then nginx reads on */

static void
ngx_gov_upload_resume(ngx_event_t *ev)
{
    ngx_gov_upload_stream_t *st = ev->data;

    ngx_buf_t           *b;
    ngx_int_t            rc;
    ngx_chain_t         *cl, last;
    ngx_connection_t    *c;
    ngx_http_request_t  *r;

    r = st->request;
    c = r->connection;

    st->pass = 0;

    if (st->pending == NULL) {
        return;
    }

    last.buf = NULL;
    last.next = NULL;

    while (st->pending) {
        cl = st->pending;
        b = cl->buf;

        if (b->last > b->pos) {
            ngx_gov_upload_consume(st, b->pos, b->last - b->pos);
            st->pass += b->last - b->pos;
            b->pos = b->last;
        }

        if (b->last_buf) {
            last.buf = b;
        }

        st->pending = cl->next;
        ngx_free_chain(r->pool, cl);

        if (st->pending && st->pass >= NGX_GOV_UPLOAD_TURN) {
            ngx_post_event(&st->resume, &ngx_posted_next_events);
            return;
        }
    }

    if (last.buf) {
        st->active = 0;

        rc = ngx_gov_upload_next_body_filter(r, &last);

        if (rc != NGX_OK) {
            ngx_http_finalize_request(r, rc);
            ngx_http_run_posted_requests(c);
            return;
        }
    }

    /* as nginx's read event would: read on, or finish the body */

    r->read_event_handler(r);
    ngx_http_run_posted_requests(c);
}


static void
ngx_gov_upload_consume(ngx_gov_upload_stream_t *st, u_char *p, size_t len)
{
    int  rc;

    if (st->status) {
        return;                             /* refused: the rest is read */
    }

    if (!st->multipart) {
        ngx_gov_upload_file_data(st, st->file, p, len);

        if (st->file->status) {
            st->status = st->file->status;
            st->error = st->file->error;
        }

        return;
    }

    rc = gov_mp_feed(&st->mp, (char *) p, len);

    if (rc == GOV_MP_MALFORMED && st->status == 0) {
        ngx_log_error(NGX_LOG_INFO, st->request->connection->log, 0,
                      "gov: upload refused: %s", gov_mp_error(&st->mp));
        st->status = NGX_HTTP_BAD_REQUEST;
        st->error = "malformed_multipart";
    }
}


static int
ngx_gov_upload_part_begin(void *data, const gov_mp_part_t *part)
{
    ngx_gov_upload_stream_t *st = data;

    u_char  *p;

    st->file = NULL;
    st->in_field = 0;

    if (part->filename == NULL) {

        if (st->mode != NGX_GOV_UPLOAD_FORM) {
            return 0;                       /* fields of the upload: none */
        }

        /* a field of the form, as "name=value" urlencoded */

        if ((st->form.len && ngx_gov_upload_form_add(st, (u_char *) "&", 1, 0)
                             != NGX_OK)
            || ngx_gov_upload_form_add(st, (u_char *) part->name,
                                       part->name_len, 1) != NGX_OK
            || ngx_gov_upload_form_add(st, (u_char *) "=", 1, 0) != NGX_OK)
        {
            return 1;
        }

        st->in_field = 1;
        return 0;
    }

    if (st->mode == NGX_GOV_UPLOAD_ONE) {
        if (part->name_len != 4 || ngx_strncmp(part->name, "file", 4) != 0
            || st->files.nelts)
        {
            st->status = NGX_GOV_HTTP_UNPROCESSABLE;
            st->error = "one_file_named_file";
            return 1;
        }

    } else {
        p = (u_char *) part->name;

        if (part->name_len <= 10 || ngx_strncmp(p, "materials.", 10) != 0) {
            st->status = NGX_GOV_HTTP_UNPROCESSABLE;
            st->error = "unexpected_file";
            return 1;
        }

        if (part->filename_len == 0) {
            return 0;                       /* a file input left empty */
        }
    }

    st->file = ngx_gov_upload_file_add(st, part->name, part->name_len,
                                       part->filename, part->filename_len);

    if (st->file == NULL) {
        st->status = NGX_HTTP_INTERNAL_SERVER_ERROR;
        st->error = "internal_error";
        return 1;
    }

    return 0;
}


static int
ngx_gov_upload_part_data(void *data, const char *p, size_t len)
{
    ngx_gov_upload_stream_t *st = data;

    if (st->file) {
        ngx_gov_upload_file_data(st, st->file, (u_char *) p, len);

        if (st->file->status && st->mode == NGX_GOV_UPLOAD_ONE) {
            st->status = st->file->status;
            st->error = st->file->error;
            return 1;
        }

        return st->status ? 1 : 0;
    }

    if (st->in_field) {
        return ngx_gov_upload_form_add(st, (u_char *) p, len, 1) == NGX_OK
               ? 0 : 1;
    }

    return 0;
}


static int
ngx_gov_upload_part_end(void *data)
{
    ngx_gov_upload_stream_t *st = data;

    if (st->file) {
        ngx_gov_upload_file_end(st, st->file);

        if (st->file->status && st->mode == NGX_GOV_UPLOAD_ONE) {
            st->status = st->file->status;
            st->error = st->file->error;
        }

        st->file = NULL;
    }

    st->in_field = 0;

    return st->status ? 1 : 0;
}


static ngx_gov_upload_file_t *
ngx_gov_upload_file_add(ngx_gov_upload_stream_t *st, const char *field,
    size_t field_len, const char *filename, size_t filename_len)
{
    ngx_pool_t             *pool;
    ngx_gov_upload_file_t  *f;

    pool = st->request->pool;

    f = ngx_array_push(&st->files);
    if (f == NULL) {
        return NULL;
    }

    ngx_memzero(f, sizeof(ngx_gov_upload_file_t));
    f->fd = NGX_INVALID_FILE;
    gov_sniff_init(&f->sniff);

    f->field.data = ngx_pnalloc(pool, field_len + filename_len + 1);
    if (f->field.data == NULL) {
        return NULL;
    }

    f->field.len = field_len;
    ngx_memcpy(f->field.data, field, field_len);

    f->filename.data = f->field.data + field_len;
    f->filename.len = filename_len;

    if (filename_len) {
        ngx_memcpy(f->filename.data, filename, filename_len);
    }

    f->md = EVP_MD_CTX_new();

    if (f->md == NULL
        || EVP_DigestInit_ex(f->md, EVP_sha256(), NULL) != 1)
    {
        return NULL;
    }

    return f;
}


static void
ngx_gov_upload_file_data(ngx_gov_upload_stream_t *st,
    ngx_gov_upload_file_t *f, const u_char *p, size_t len)
{
    ssize_t    n;
    ngx_int_t  type;

    if (f->status) {
        return;
    }

    if (f->size + (off_t) len > st->conf->max_size) {
        ngx_gov_upload_refuse(f, NGX_HTTP_REQUEST_ENTITY_TOO_LARGE,
                              "too_large");
        return;
    }

    gov_sniff_feed(&f->sniff, p, len);

    if (f->sniff.failed) {
        ngx_gov_upload_refuse(f, NGX_HTTP_INTERNAL_SERVER_ERROR,
                              "internal_error");
        return;
    }

    if (f->size < GOV_SNIFF_HEAD && f->size + (off_t) len >= GOV_SNIFF_HEAD) {
        /* the first bytes tell whether it can be anything we take */
        type = gov_sniff_result(&f->sniff);

        if (type == GOV_TYPE_UNKNOWN && !f->sniff.zip) {
            ngx_gov_upload_refuse(f, NGX_HTTP_UNSUPPORTED_MEDIA_TYPE,
                                  "unsupported_type");
            return;
        }
    }

    if (EVP_DigestUpdate(f->md, p, len) != 1) {
        ngx_gov_upload_refuse(f, NGX_HTTP_INTERNAL_SERVER_ERROR,
                              "internal_error");
        return;
    }

    if (f->fd == NGX_INVALID_FILE && ngx_gov_upload_temp(st, f) != NGX_OK) {
        return;
    }

    while (len) {
        n = pwrite(f->fd, p, len, f->size);

        if (n == -1) {
            if (ngx_errno == NGX_EINTR) {
                continue;
            }

            ngx_gov_upload_store_error(st, f, ngx_errno, "write to");
            return;
        }

        p += n;
        len -= n;
        f->size += n;
    }
}


/* the file is complete: its type, its hash, then into the store */

static void
ngx_gov_upload_file_end(ngx_gov_upload_stream_t *st,
    ngx_gov_upload_file_t *f)
{
    u_char        *path, *p, md[EVP_MAX_MD_SIZE];
    ngx_err_t      err;
    ngx_uint_t     tries;
    unsigned int   mdlen;

    if (f->status) {
        return;
    }

    if (f->size == 0) {
        ngx_gov_upload_refuse(f, NGX_GOV_HTTP_UNPROCESSABLE, "empty");
        return;
    }

    f->type = gov_sniff_result(&f->sniff);
    gov_sniff_free(&f->sniff);

    if (f->type == GOV_TYPE_UNKNOWN
        || !(st->conf->types & ((ngx_uint_t) 1 << f->type)))
    {
        ngx_gov_upload_refuse(f, NGX_HTTP_UNSUPPORTED_MEDIA_TYPE,
                              "unsupported_type");
        return;
    }

    if (EVP_DigestFinal_ex(f->md, md, &mdlen) != 1) {
        ngx_gov_upload_refuse(f, NGX_HTTP_INTERNAL_SERVER_ERROR,
                              "internal_error");
        return;
    }

    ngx_hex_dump(f->hex, md, 32);

    path = ngx_gov_upload_path(st->conf, st->request->pool, f->hex,
                               ngx_gov_upload_shard(st->request));
    if (path == NULL) {
        ngx_gov_upload_refuse(f, NGX_HTTP_INTERNAL_SERVER_ERROR,
                              "internal_error");
        return;
    }

    /* linked, never renamed over: the same bytes may be there already */

    for (tries = 0; ; tries++) {
        if (link((char *) f->temp.data, (char *) path) == 0) {
            f->created = 1;
            break;
        }

        err = ngx_errno;

        if (err == NGX_EEXIST) {
            break;
        }

        if (err == NGX_ENOENT && tries == 0) {
            /* STORE/[sN/]xx/yy, made once */
            for (p = path + st->conf->path.len + 1; *p; p++) {
                if (*p == '/') {
                    *p = '\0';
                    (void) ngx_create_dir(path, 0700);
                    *p = '/';
                }
            }

            continue;
        }

        ngx_gov_upload_store_error(st, f, err, "link into");
        return;
    }

    ngx_close_file(f->fd);
    f->fd = NGX_INVALID_FILE;
    (void) ngx_delete_file(f->temp.data);
    f->temp.len = 0;

    ngx_gov_metrics_inc(NGX_GOV_M_UPLOADS);
    ngx_gov_metrics_add(NGX_GOV_M_UPLOAD_BYTES, f->size);
}


/* STORE/.tmp/ and 32 random hex digits, opened exclusively */

static ngx_int_t
ngx_gov_upload_temp(ngx_gov_upload_stream_t *st, ngx_gov_upload_file_t *f)
{
    u_char  rnd[16], *p;

    f->temp.len = st->conf->temp->name.len + 1 + 32;
    f->temp.data = ngx_pnalloc(st->request->pool, f->temp.len + 1);

    if (f->temp.data == NULL || RAND_bytes(rnd, sizeof(rnd)) != 1) {
        f->temp.len = 0;
        ngx_gov_upload_refuse(f, NGX_HTTP_INTERNAL_SERVER_ERROR,
                              "internal_error");
        return NGX_ERROR;
    }

    p = ngx_sprintf(f->temp.data, "%V/", &st->conf->temp->name);
    p = ngx_hex_dump(p, rnd, sizeof(rnd));
    *p = '\0';

    f->fd = ngx_open_file(f->temp.data, NGX_FILE_WRONLY,
                          NGX_FILE_CREATE_OR_OPEN|O_EXCL, 0600);

    if (f->fd == NGX_INVALID_FILE) {
        ngx_gov_upload_store_error(st, f, ngx_errno, "create");
        f->temp.len = 0;
        return NGX_ERROR;
    }

    return NGX_OK;
}


static void
ngx_gov_upload_refuse(ngx_gov_upload_file_t *f, ngx_uint_t status,
    const char *error)
{
    f->status = status;
    f->error = error;

    ngx_gov_metrics_inc(NGX_GOV_M_UPLOADS_REFUSED);
}


/* a full store is 507, any other failure of the store 500 */

static void
ngx_gov_upload_store_error(ngx_gov_upload_stream_t *st,
    ngx_gov_upload_file_t *f, ngx_err_t err, const char *what)
{
    ngx_log_error(NGX_LOG_ERR, st->request->connection->log, err,
                  "gov: cannot %s the upload store \"%V\"", what,
                  &st->conf->path);

    if (err == NGX_ENOSPC
#ifdef EDQUOT
        || err == EDQUOT
#endif
        || err == EFBIG)
    {
        ngx_gov_upload_refuse(f, NGX_GOV_HTTP_INSUFFICIENT,
                              "insufficient_storage");

    } else {
        ngx_gov_upload_refuse(f, NGX_HTTP_SERVICE_UNAVAILABLE,
                              "store_unavailable");
    }

    /* the whole body fails with it */
    st->status = f->status;
    st->error = f->error;
}


static ngx_int_t
ngx_gov_upload_form_add(ngx_gov_upload_stream_t *st, const u_char *p,
    size_t len, ngx_uint_t escape)
{
    size_t   need;
    u_char  *d;

    if (st->form.data == NULL) {
        st->form_size = NGX_GOV_BODY_MAX;
        st->form.data = ngx_pnalloc(st->request->pool, st->form_size);

        if (st->form.data == NULL) {
            st->status = NGX_HTTP_INTERNAL_SERVER_ERROR;
            st->error = "internal_error";
            return NGX_ERROR;
        }
    }

    need = escape ? len + 2 * ngx_escape_uri(NULL, (u_char *) p, len,
                                             NGX_ESCAPE_ARGS)
                  : len;

    /* "&" and "=" are escaped too, as a browser's form would have them */

    if (escape) {
        for (d = (u_char *) p; d < p + len; d++) {
            if (*d == '&' || *d == '=' || *d == '+' || *d == ' '
                || *d == '#')
            {
                need += 2;
            }
        }
    }

    if (st->form.len + need > st->form_size) {
        st->status = NGX_HTTP_REQUEST_ENTITY_TOO_LARGE;
        st->error = "too_large";
        return NGX_ERROR;
    }

    d = st->form.data + st->form.len;

    if (!escape) {
        d = ngx_cpymem(d, p, len);

    } else {
        for ( ; len; len--, p++) {
            if (*p == '&' || *p == '=' || *p == '+' || *p == ' '
                || *p == '#')
            {
                d = ngx_sprintf(d, "%%%02XD", (ngx_uint_t) *p);
                continue;
            }

            d = (u_char *) ngx_escape_uri(d, (u_char *) p, 1,
                                          NGX_ESCAPE_ARGS);
        }
    }

    st->form.len = d - st->form.data;

    return NGX_OK;
}


/* what a request leaves: temporary files and digests, never a stored file */

static void
ngx_gov_upload_cleanup(void *data)
{
    ngx_gov_upload_stream_t *st = data;

    ngx_uint_t              i;
    ngx_gov_upload_file_t  *f;

    if (st->resume.posted) {
        ngx_delete_posted_event(&st->resume);
    }

    f = st->files.elts;

    for (i = 0; i < st->files.nelts; i++) {
        if (f[i].fd != NGX_INVALID_FILE) {
            ngx_close_file(f[i].fd);
        }

        if (f[i].temp.len) {
            (void) ngx_delete_file(f[i].temp.data);
        }

        if (f[i].md) {
            EVP_MD_CTX_free(f[i].md);
        }

        gov_sniff_free(&f[i].sniff);
    }
}


static void
ngx_gov_upload_body_done(ngx_http_request_t *r)
{
    ngx_uint_t                i;
    ngx_gov_upload_file_t    *f;
    ngx_gov_upload_stream_t  *st;

    st = ngx_http_gov_flow(r);

    if (st == NULL || st->kind != NGX_GOV_UPLOAD_KIND_STREAM) {
        ngx_http_finalize_request(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
        return;
    }

    st->active = 0;

    if (st->status == 0) {
        if (st->multipart) {
            if (gov_mp_finish(&st->mp) != GOV_MP_OK && st->status == 0) {
                ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                              "gov: upload refused: %s",
                              gov_mp_error(&st->mp));
                st->status = NGX_HTTP_BAD_REQUEST;
                st->error = "malformed_multipart";
            }

        } else {
            ngx_gov_upload_file_end(st, st->file);

            if (st->file->status) {
                st->status = st->file->status;
                st->error = st->file->error;
            }
        }
    }

    /* what was not stored goes now, not when the connection closes */

    f = st->files.elts;

    for (i = 0; i < st->files.nelts; i++) {
        if (f[i].fd != NGX_INVALID_FILE) {
            ngx_close_file(f[i].fd);
            f[i].fd = NGX_INVALID_FILE;
        }

        if (f[i].temp.len) {
            (void) ngx_delete_file(f[i].temp.data);
            f[i].temp.len = 0;
        }
    }

    if (st->status == 0 && st->mode == NGX_GOV_UPLOAD_ONE
        && st->files.nelts == 0)
    {
        st->status = NGX_GOV_HTTP_UNPROCESSABLE;
        st->error = "empty";
    }

    st->done(r, st);
}


/*
 * STORE/xx/yy/HEX; in a cluster STORE/sN/xx/yy/HEX: each shard keeps its
 * own files, so that a shard's sweep never takes a file another shard's
 * applications name (the same bytes may be in two shards, for two people).
 */

static u_char *
ngx_gov_upload_path(ngx_gov_upload_conf_t *ucf, ngx_pool_t *pool,
    const u_char *hex, ngx_uint_t shard)
{
    u_char  *path;

    path = ngx_pnalloc(pool, ucf->path.len + 10 + NGX_INT_T_LEN
                             + NGX_GOV_UPLOAD_HEX + 1);
    if (path == NULL) {
        return NULL;
    }

    ngx_gov_upload_path_buf(path, &ucf->path, hex, shard);

    return path;
}


static void
ngx_gov_upload_path_buf(u_char *path, ngx_str_t *store, const u_char *hex,
    ngx_uint_t shard)
{
    if (ngx_gov_redis_shards() > 1) {
        ngx_sprintf(path, "%V/s%ui/%*s/%*s/%*s%Z", store, shard, (size_t) 2,
                    hex, (size_t) 2, hex + 2, (size_t) NGX_GOV_UPLOAD_HEX,
                    hex);
        return;
    }

    ngx_sprintf(path, "%V/%*s/%*s/%*s%Z", store, (size_t) 2, hex,
                (size_t) 2, hex + 2, (size_t) NGX_GOV_UPLOAD_HEX, hex);
}


/*
 * The keys an upload script touches, declared: "first" (a key of the
 * shard, or none), then each file's record and its sweeping mark, the
 * files from "f" (those not refused) or the hexes of "hexes".
 */

static ngx_int_t
ngx_gov_upload_keys(ngx_pool_t *pool, ngx_str_t *tag, const char *first,
    ngx_gov_upload_file_t *f, ngx_uint_t nf, json_t *hexes,
    ngx_gov_redis_args_t *cmd)
{
    size_t       n, hl;
    json_t      *v;
    ngx_str_t   *keys;
    ngx_uint_t   i, k;
    const char  *h;

    n = hexes ? json_array_size(hexes) : nf;

    keys = ngx_palloc(pool, (1 + 2 * n) * sizeof(ngx_str_t));
    if (keys == NULL) {
        return NGX_ERROR;
    }

    k = 0;

    if (first
        && ngx_gov_redis_keyf(pool, &keys[k++], "%V%s", tag, first) != NGX_OK)
    {
        return NGX_ERROR;
    }

    for (i = 0; i < n; i++) {
        if (hexes) {
            v = json_array_get(hexes, i);
            h = json_string_value(v);
            hl = json_string_length(v);

        } else if (f[i].status == 0) {
            h = (const char *) f[i].hex;
            hl = NGX_GOV_UPLOAD_HEX;

        } else {
            continue;
        }

        if (ngx_gov_redis_keyf(pool, &keys[k++], "%Vup:%*s", tag, hl, h)
            != NGX_OK
            || ngx_gov_redis_keyf(pool, &keys[k++], "%Vupdel:%*s", tag, hl, h)
               != NGX_OK)
        {
            return NGX_ERROR;
        }
    }

    if (k == 0) {
        return NGX_OK;
    }

    return ngx_gov_redis_eval_keys(pool, &cmd->argc, &cmd->argv,
                                   (size_t **) &cmd->argvlen, k, keys);
}


/* the shard of the person the request is for (uploads are theirs) */

static ngx_uint_t
ngx_gov_upload_shard(ngx_http_request_t *r)
{
    ngx_str_t  subject, actor;

    if (ngx_gov_redis_shards() == 1
        || ngx_http_gov_whoami(r, &subject, &actor) != GOV_AUTH_OK)
    {
        return 0;
    }

    return ngx_gov_redis_name_shard(&subject);
}


/* ownership in Redis */


ngx_int_t
ngx_gov_upload_own(ngx_http_request_t *r, ngx_gov_upload_stream_t *st,
    ngx_str_t *subject, ngx_gov_upload_done_pt done)
{
    u_char                    *buf, *p;
    size_t                    *argvlen;
    ngx_str_t                  tag;
    ngx_int_t                  rc;
    ngx_uint_t                 i, n, k;
    const char               **argv;
    ngx_gov_upload_file_t     *f;
    ngx_gov_upload_wait_t     *w;
    ngx_gov_redis_args_t       cmd;
    ngx_http_gov_main_conf_t  *gmcf;

    gmcf = ngx_http_get_module_main_conf(r, ngx_http_gov_module);
    f = st->files.elts;

    n = 0;

    for (i = 0; i < st->files.nelts; i++) {
        n += (f[i].status == 0);
    }

    w = ngx_pcalloc(r->pool, sizeof(ngx_gov_upload_wait_t));
    argv = ngx_palloc(r->pool, (7 + 4 * n) * sizeof(char *));
    argvlen = ngx_palloc(r->pool, (7 + 4 * n) * sizeof(size_t));
    buf = ngx_pnalloc(r->pool, (n + 2) * NGX_OFF_T_LEN);

    if (w == NULL || argv == NULL || argvlen == NULL || buf == NULL) {
        return NGX_ERROR;
    }

    w->request = r;
    w->stream = st;
    w->done = done;

    if (n == 0) {
        done(r, st);
        return NGX_OK;
    }

    p = buf;

    argv[0] = "EVAL";
    argvlen[0] = 4;
    argv[1] = ngx_gov_upload_own_lua;
    argvlen[1] = sizeof(ngx_gov_upload_own_lua) - 1;
    argv[2] = "0";
    argvlen[2] = 1;

    /* a person's uploads are in their shard */

    if (ngx_gov_redis_name_tag(r->pool, &gmcf->redis_prefix, subject, &tag)
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    argv[3] = (char *) tag.data;
    argvlen[3] = tag.len;
    argv[4] = (char *) subject->data;
    argvlen[4] = subject->len;
    argv[5] = (char *) p;
    argvlen[5] = ngx_sprintf(p, "%T", ngx_time() * 1000) - p;
    p += argvlen[5];
    argv[6] = (char *) p;
    argvlen[6] = ngx_sprintf(p, "%ui", n) - p;
    p += argvlen[6];

    k = 7;

    for (i = 0; i < st->files.nelts; i++) {
        if (f[i].status) {
            continue;
        }

        argv[k] = (char *) f[i].hex;
        argvlen[k++] = NGX_GOV_UPLOAD_HEX;
        argv[k] = gov_type_name(f[i].type);
        argvlen[k] = ngx_strlen(argv[k]);
        k++;
        argv[k] = (char *) p;
        argvlen[k++] = ngx_sprintf(p, "%O", f[i].size) - p;
        p += argvlen[k - 1];
        argv[k] = (char *) f[i].filename.data;
        argvlen[k++] = f[i].filename.len;
    }

    cmd.argc = (int) k;
    cmd.argv = argv;
    cmd.argvlen = argvlen;

    if (ngx_gov_upload_keys(r->pool, &tag, "upidle", f, st->files.nelts,
                            NULL, &cmd)
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    rc = ngx_http_gov_redis_send_acked(r, ngx_gov_upload_own_done, w, 1,
                                       &cmd);

    if (rc == NGX_OK) {
        return NGX_OK;
    }

    if (rc == NGX_DECLINED) {
        /* Redis is down: answered like a failed reply */
        ngx_gov_upload_own_done(NULL, w);
        return NGX_OK;
    }

    return NGX_ERROR;
}


static void
ngx_gov_upload_own_done(redisReply *reply, void *data)
{
    ngx_gov_upload_wait_t *w = data;

    u_char                   *path;
    ngx_uint_t                i;
    ngx_gov_upload_file_t    *f;
    ngx_gov_upload_stream_t  *st;

    st = w->stream;

    if (reply == NULL
        || (reply->type != REDIS_REPLY_STRING
            && reply->type != REDIS_REPLY_STATUS)
        || reply->len != 2 || ngx_strncmp(reply->str, "ok", 2) != 0)
    {
        if (reply && reply->type == REDIS_REPLY_ERROR) {
            ngx_log_error(NGX_LOG_ERR, w->request->connection->log, 0,
                          "gov: cannot record an upload: %*s",
                          (size_t) ngx_min(reply->len, 200), reply->str);
        }

        /* nothing is kept that Redis does not know */

        f = st->files.elts;

        for (i = 0; i < st->files.nelts; i++) {
            if (f[i].status == 0 && f[i].created) {
                path = ngx_gov_upload_path(st->conf, w->request->pool,
                                           f[i].hex,
                                           ngx_gov_upload_shard(w->request));
                if (path) {
                    (void) ngx_delete_file(path);
                }

                f[i].created = 0;
            }
        }

        st->status = NGX_HTTP_SERVICE_UNAVAILABLE;
        st->error = "unavailable";
    }

    w->done(w->request, st);
}


ngx_int_t
ngx_gov_upload_known(ngx_http_request_t *r, ngx_str_t *subject,
    json_t *hexes, ngx_gov_upload_known_pt done, void *data)
{
    size_t                    *argvlen;
    json_t                    *v;
    ngx_str_t                  tag;
    ngx_int_t                  rc;
    ngx_uint_t                 i, n;
    const char               **argv;
    ngx_gov_upload_wait_t     *w;
    ngx_gov_redis_args_t       cmd;
    ngx_http_gov_main_conf_t  *gmcf;

    gmcf = ngx_http_get_module_main_conf(r, ngx_http_gov_module);

    n = json_array_size(hexes);

    w = ngx_pcalloc(r->pool, sizeof(ngx_gov_upload_wait_t));
    argv = ngx_palloc(r->pool, (5 + n) * sizeof(char *));
    argvlen = ngx_palloc(r->pool, (5 + n) * sizeof(size_t));

    if (w == NULL || argv == NULL || argvlen == NULL) {
        return NGX_ERROR;
    }

    w->request = r;
    w->known = done;
    w->data = data;

    argv[0] = "EVAL";
    argvlen[0] = 4;
    argv[1] = ngx_gov_upload_known_lua;
    argvlen[1] = sizeof(ngx_gov_upload_known_lua) - 1;
    argv[2] = "0";
    argvlen[2] = 1;

    if (ngx_gov_redis_name_tag(r->pool, &gmcf->redis_prefix, subject, &tag)
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    argv[3] = (char *) tag.data;
    argvlen[3] = tag.len;
    argv[4] = (char *) subject->data;
    argvlen[4] = subject->len;

    json_array_foreach(hexes, i, v) {
        argv[5 + i] = json_string_value(v);
        argvlen[5 + i] = json_string_length(v);
    }

    cmd.argc = (int) (5 + n);
    cmd.argv = argv;
    cmd.argvlen = argvlen;

    if (ngx_gov_upload_keys(r->pool, &tag, NULL, NULL, 0, hexes, &cmd)
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    rc = ngx_http_gov_redis_send_n(r, ngx_gov_upload_known_done, w, 1, &cmd);

    if (rc == NGX_DECLINED) {
        ngx_gov_upload_known_done(NULL, w);
        return NGX_OK;
    }

    return rc;
}


static void
ngx_gov_upload_known_done(redisReply *reply, void *data)
{
    ngx_gov_upload_wait_t *w = data;

    size_t       i;
    json_t      *known, *o;
    redisReply  *e;

    known = NULL;

    if (reply && reply->type == REDIS_REPLY_ARRAY) {
        known = json_object();

        for (i = 0; i + 3 < reply->elements; i += 4) {
            e = reply->element[i];

            if (e->type != REDIS_REPLY_STRING
                || reply->element[i + 1]->type != REDIS_REPLY_STRING
                || reply->element[i + 2]->type != REDIS_REPLY_STRING
                || reply->element[i + 3]->type != REDIS_REPLY_STRING)
            {
                continue;
            }

            o = json_pack("{s:s%,s:I,s:s%}",
                          "type", reply->element[i + 1]->str,
                          (size_t) reply->element[i + 1]->len,
                          "size", (json_int_t) ngx_atoof((u_char *)
                                                  reply->element[i + 2]->str,
                                                  reply->element[i + 2]->len),
                          "name", reply->element[i + 3]->str,
                          (size_t) reply->element[i + 3]->len);

            if (o) {
                json_object_setn_new(known, e->str, e->len, o);
            }
        }
    }

    w->known(w->request, w->data, known);
}


ngx_int_t
ngx_gov_upload_form_text(ngx_http_request_t *r, ngx_gov_upload_stream_t *st,
    ngx_str_t *text)
{
    u_char                 *p, *end, *pair, *amp, *eq;
    size_t                  len;
    ngx_uint_t              i, j, replaced;
    ngx_gov_upload_file_t  *f;

    f = st->files.elts;

    len = st->form.len + st->files.nelts * (sizeof("&=upload%3A") + 64
                                            + GOV_MP_NAME_MAX * 3);
    p = ngx_pnalloc(r->pool, len);
    if (p == NULL) {
        return NGX_ERROR;
    }

    text->data = p;

    /* the fields, but not a material a file was sent for */

    end = st->form.data + st->form.len;

    for (pair = st->form.data; pair && pair < end; pair = amp + 1) {
        amp = ngx_strlchr(pair, end, '&');
        if (amp == NULL) {
            amp = end;
        }

        eq = ngx_strlchr(pair, amp, '=');
        replaced = 0;

        for (j = 0; eq && j < st->files.nelts; j++) {
            if ((size_t) (eq - pair) == f[j].field.len
                && ngx_strncmp(pair, f[j].field.data, f[j].field.len) == 0)
            {
                replaced = 1;
            }
        }

        if (!replaced && amp > pair) {
            if (p > text->data) {
                *p++ = '&';
            }

            p = ngx_cpymem(p, pair, amp - pair);
        }

        if (amp == end) {
            break;
        }
    }

    for (i = 0; i < st->files.nelts; i++) {
        if (f[i].status) {
            continue;
        }

        if (p > text->data) {
            *p++ = '&';
        }

        p = (u_char *) ngx_escape_uri(p, f[i].field.data, f[i].field.len,
                                      NGX_ESCAPE_ARGS);
        p = ngx_sprintf(p, "=upload%%3A%*s", (size_t) 64, f[i].hex);
    }

    text->len = p - text->data;

    return NGX_OK;
}


const char *
ngx_gov_upload_ref_hex(const char *ref, size_t len)
{
    ngx_str_t  hex;

    if (len != 7 + NGX_GOV_UPLOAD_HEX || ngx_strncmp(ref, "upload:", 7) != 0)
    {
        return NULL;
    }

    hex.data = (u_char *) ref + 7;
    hex.len = NGX_GOV_UPLOAD_HEX;

    return ngx_gov_upload_is_hex(&hex) ? ref + 7 : NULL;
}


/* the location: POST /uploads/, GET /uploads/HEX */


ngx_int_t
ngx_gov_upload_handler(ngx_http_request_t *r)
{
    ngx_int_t   rc;
    ngx_str_t   rest;

    ngx_http_gov_uri_rest(r, &rest);

    if (r->method & (NGX_HTTP_GET|NGX_HTTP_HEAD)) {
        rc = ngx_http_discard_request_body(r);
        if (rc != NGX_OK) {
            return rc;
        }

        if (!ngx_gov_upload_is_hex(&rest)) {
            return ngx_http_gov_error(r, NGX_HTTP_NOT_FOUND, "not_found");
        }

        return ngx_gov_upload_get(r, &rest);
    }

    if (r->method != NGX_HTTP_POST) {
        return NGX_HTTP_NOT_ALLOWED;
    }

    if (rest.len) {
        rc = ngx_http_discard_request_body(r);
        if (rc != NGX_OK) {
            return rc;
        }

        return ngx_http_gov_error(r, NGX_HTTP_NOT_FOUND, "not_found");
    }

    return ngx_gov_upload_form(r, NGX_GOV_UPLOAD_ONE, ngx_gov_upload_owned);
}


static void
ngx_gov_upload_owned(ngx_http_request_t *r, ngx_gov_upload_stream_t *st)
{
    u_char                  ref[7 + NGX_GOV_UPLOAD_HEX];
    json_t                 *answer;
    ngx_int_t               rc;
    ngx_connection_t       *c;
    ngx_gov_upload_file_t  *f;

    c = r->connection;

    if (st->status) {
        rc = st->error ? ngx_http_gov_error(r, st->status, st->error)
                       : (ngx_int_t) st->status;
        goto done;
    }

    f = st->files.elts;

    ngx_memcpy(ref, "upload:", 7);
    ngx_memcpy(ref + 7, f->hex, NGX_GOV_UPLOAD_HEX);

    answer = json_pack("{s:s%,s:s,s:I,s:s%}",
                       "ref", (char *) ref, sizeof(ref),
                       "type", gov_type_name(f->type),
                       "size", (json_int_t) f->size,
                       "sha256", (char *) f->hex,
                       (size_t) NGX_GOV_UPLOAD_HEX);

    if (answer == NULL) {
        rc = NGX_HTTP_INTERNAL_SERVER_ERROR;
        goto done;
    }

    if (f->filename.len) {
        json_object_set_new(answer, "name",
                            json_stringn((char *) f->filename.data,
                                         f->filename.len));
    }

    ngx_log_error(NGX_LOG_INFO, c->log, 0, "gov: upload %*s stored, %O bytes",
                  (size_t) 16, f->hex, f->size);

    rc = ngx_http_gov_json_answer(r, NGX_HTTP_CREATED, answer);

done:

    ngx_http_finalize_request(r, rc);
    ngx_http_run_posted_requests(c);
}


/*
 * GET /uploads/HEX: a link's signature needs no identity; else the
 * owner's (or their agent's) identity.  Either way Redis says the type.
 */

static ngx_int_t
ngx_gov_upload_get(ngx_http_request_t *r, ngx_str_t *hex)
{
    void                     **slot;
    ngx_int_t                  rc;
    ngx_str_t                  sig, expires;
    ngx_gov_upload_wait_t     *w;
    ngx_http_gov_main_conf_t  *gmcf;

    gmcf = ngx_http_get_module_main_conf(r, ngx_http_gov_module);

    w = ngx_pcalloc(r->pool, sizeof(ngx_gov_upload_wait_t));
    if (w == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    w->kind = NGX_GOV_UPLOAD_KIND_WAIT;
    w->request = r;
    ngx_memcpy(w->hex, hex->data, NGX_GOV_UPLOAD_HEX);

    if (ngx_http_arg(r, (u_char *) "sig", 3, &sig) != NGX_OK) {
        slot = ngx_http_gov_flow_slot(r);
        if (slot == NULL) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        *slot = w;

        r->main->count++;
        ngx_http_gov_identity_then(r, ngx_gov_upload_get_identity);
        return NGX_DONE;
    }

    if (ngx_http_arg(r, (u_char *) "expires", 7, &expires) != NGX_OK) {
        ngx_str_null(&expires);
    }

    rc = gov_link_check(gmcf->upload.link_secret.data,
                        gmcf->upload.link_secret.len, (char *) hex->data,
                        hex->len, (char *) expires.data, expires.len,
                        (char *) sig.data, sig.len, ngx_time());

    if (rc != GOV_LINK_OK) {
        return ngx_http_gov_error(r, NGX_HTTP_NOT_FOUND,
                                  rc == GOV_LINK_EXPIRED ? "link_expired"
                                                         : "not_found");
    }

    w->data = w;                            /* a link: no owner asked */

    /*
     * Whose it is the link does not say: every shard is asked, the first
     * that has the bytes serves them (the same hex, the same bytes).
     */

    r->main->count++;

    rc = ngx_http_gov_queued(r, ngx_http_gov_redis_gather(r,
                                        ngx_gov_upload_link_shard,
                                        ngx_gov_upload_link_done, w));
    if (rc != NGX_DONE) {
        ngx_http_finalize_request(r, rc);
    }

    return NGX_DONE;
}


static void
ngx_gov_upload_get_identity(ngx_http_request_t *r)
{
    size_t                     argvlen[4];
    ngx_int_t                  rc, reason;
    ngx_str_t                  subject, actor, tag, key;
    const char                *argv[4];
    ngx_connection_t          *c;
    ngx_gov_upload_wait_t     *w;
    ngx_http_gov_main_conf_t  *gmcf;

    c = r->connection;
    gmcf = ngx_http_get_module_main_conf(r, ngx_http_gov_module);
    w = ngx_http_gov_flow(r);

    reason = ngx_http_gov_whoami(r, &subject, &actor);

    if (w == NULL || w->kind != NGX_GOV_UPLOAD_KIND_WAIT) {
        rc = NGX_HTTP_INTERNAL_SERVER_ERROR;
        goto done;
    }

    if (reason == NGX_DECLINED) {
        rc = ngx_http_gov_unavailable(r);
        goto done;
    }

    if (reason != GOV_AUTH_OK) {
        rc = ngx_http_gov_unauthenticated(r, reason);
        goto done;
    }

    /* the owner's file, in the owner's shard */

    w->shard = ngx_gov_redis_name_shard(&subject);

    argv[0] = "HMGET";
    argvlen[0] = 5;
    argv[3] = ngx_pnalloc(r->pool, 2 + subject.len);

    if (argv[3] == NULL
        || ngx_gov_redis_tag(r->pool, &gmcf->redis_prefix, w->shard, &tag)
           != NGX_OK
        || ngx_gov_redis_keyf(r->pool, &key, "%Vup:%*s", &tag,
                              (size_t) NGX_GOV_UPLOAD_HEX, w->hex)
           != NGX_OK)
    {
        rc = NGX_HTTP_INTERNAL_SERVER_ERROR;
        goto done;
    }

    argv[1] = (char *) key.data;
    argvlen[1] = key.len;
    argv[2] = "type";
    argvlen[2] = 4;
    argvlen[3] = ngx_sprintf((u_char *) argv[3], "o:%V", &subject)
                 - (u_char *) argv[3];

    rc = ngx_http_gov_queued(r, ngx_http_gov_redis_send(r,
                                        ngx_gov_upload_get_done, w, 4,
                                        argv, argvlen));
    if (rc == NGX_DONE) {
        return;
    }

done:

    ngx_http_finalize_request(r, rc);
    ngx_http_run_posted_requests(c);
}


static ngx_int_t
ngx_gov_upload_link_shard(ngx_http_request_t *r, ngx_uint_t shard,
    void *data, ngx_gov_redis_args_t *cmd)
{
    ngx_gov_upload_wait_t *w = data;

    u_char     buf[3 + NGX_GOV_UPLOAD_HEX];
    ngx_str_t  suffix;

    static const char  *type[] = { "type" };

    suffix.data = buf;
    suffix.len = ngx_sprintf(buf, "up:%*s", (size_t) NGX_GOV_UPLOAD_HEX,
                             w->hex)
                 - buf;

    return ngx_http_gov_shard_cmd(r, shard, "HMGET", &suffix, 1, type, cmd);
}


/* one type per shard: the first shard that has the file */

static void
ngx_gov_upload_link_done(redisReply *reply, void *data)
{
    ngx_gov_upload_wait_t *w = data;

    size_t       i;
    redisReply   one, *e[1];

    if (reply && reply->type == REDIS_REPLY_ARRAY) {
        for (i = 0; i < reply->elements; i++) {
            if (reply->element[i]->type == REDIS_REPLY_STRING) {
                w->shard = i;
                e[0] = reply->element[i];
                one = *reply;
                one.elements = 1;
                one.element = e;
                ngx_gov_upload_get_done(&one, w);
                return;
            }
        }
    }

    ngx_gov_upload_get_done(reply, w);
}


static void
ngx_gov_upload_get_done(redisReply *reply, void *data)
{
    ngx_gov_upload_wait_t *w = data;

    ngx_int_t            rc, type;
    redisReply          *t;
    ngx_connection_t    *c;
    ngx_http_request_t  *r;

    r = w->request;
    c = r->connection;

    if (reply == NULL || reply->type != REDIS_REPLY_ARRAY
        || reply->elements < 1)
    {
        rc = ngx_http_gov_unavailable(r);
        goto done;
    }

    t = reply->element[0];

    /* the owner asked: the second field is theirs, or nobody's */

    if (t->type != REDIS_REPLY_STRING
        || (w->data == NULL && (reply->elements < 2
                                || reply->element[1]->type
                                   != REDIS_REPLY_STRING)))
    {
        rc = ngx_http_gov_error(r, NGX_HTTP_NOT_FOUND, "not_found");
        goto done;
    }

    type = gov_type_from_name(t->str, t->len);

    rc = ngx_gov_upload_serve(r, w->hex, type, w->data != NULL, w->shard);

done:

    ngx_http_finalize_request(r, rc);
    ngx_http_run_posted_requests(c);
}


/*
 * The file, as an attachment of its true type that no browser renders
 * as a page of the portal (nosniff, a sandboxing policy).
 */

static ngx_int_t
ngx_gov_upload_serve(ngx_http_request_t *r, u_char *hex, ngx_int_t type,
    ngx_uint_t link, ngx_uint_t shard)
{
    u_char                    *path, *p;
    ngx_buf_t                 *b;
    ngx_str_t                  v;
    ngx_int_t                  rc;
    ngx_chain_t                out;
    ngx_file_info_t            fi;
    ngx_pool_cleanup_t        *cln;
    ngx_pool_cleanup_file_t   *clnf;
    ngx_http_gov_main_conf_t  *gmcf;

    gmcf = ngx_http_get_module_main_conf(r, ngx_http_gov_module);

    path = ngx_gov_upload_path(&gmcf->upload, r->pool, hex, shard);
    cln = ngx_pool_cleanup_add(r->pool, sizeof(ngx_pool_cleanup_file_t));
    b = ngx_calloc_buf(r->pool);

    if (path == NULL || cln == NULL || b == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    b->file = ngx_pcalloc(r->pool, sizeof(ngx_file_t));
    if (b->file == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    b->file->fd = ngx_open_file(path, NGX_FILE_RDONLY, NGX_FILE_OPEN, 0);

    if (b->file->fd == NGX_INVALID_FILE) {
        ngx_log_error(NGX_LOG_ERR, r->connection->log, ngx_errno,
                      "gov: upload %s is known but not in the store", path);
        return ngx_http_gov_error(r, NGX_HTTP_NOT_FOUND, "not_found");
    }

    clnf = cln->data;
    clnf->fd = b->file->fd;
    clnf->name = path;
    clnf->log = r->pool->log;
    cln->handler = ngx_pool_cleanup_file;

    if (ngx_fd_info(b->file->fd, &fi) == NGX_FILE_ERROR) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    b->file->name.data = path;
    b->file->name.len = ngx_strlen(path);
    b->file->log = r->connection->log;
    b->file->directio = 0;

    r->headers_out.status = NGX_HTTP_OK;
    r->headers_out.content_length_n = ngx_file_size(&fi);
    r->headers_out.content_type.data = (u_char *) gov_type_mime(type);
    r->headers_out.content_type.len = ngx_strlen(gov_type_mime(type));
    r->headers_out.content_type_len = r->headers_out.content_type.len;

    p = ngx_pnalloc(r->pool, sizeof("attachment; filename=\".ofd\"")
                             + NGX_GOV_UPLOAD_HEX);
    if (p == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    v.data = p;
    v.len = ngx_sprintf(p, "attachment; filename=\"%*s%s\"",
                        (size_t) NGX_GOV_UPLOAD_HEX, hex, gov_type_ext(type))
            - p;

    if (ngx_http_gov_add_header(r, &r->headers_out.headers,
                                "Content-Disposition", &v) != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ngx_str_set(&v, "nosniff");
    rc = ngx_http_gov_add_header(r, &r->headers_out.headers,
                                 "X-Content-Type-Options", &v);

    ngx_str_set(&v, "default-src 'none'; sandbox");
    rc |= ngx_http_gov_add_header(r, &r->headers_out.headers,
                                  "Content-Security-Policy", &v);

    if (link) {
        ngx_str_set(&v, "private");

    } else {
        ngx_str_set(&v, "private, no-store");
    }

    rc |= ngx_http_gov_add_header(r, &r->headers_out.headers,
                                  "Cache-Control", &v);

    if (rc != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    rc = ngx_http_send_header(r);

    if (rc == NGX_ERROR || rc > NGX_OK || r->header_only) {
        return rc;
    }

    b->file_pos = 0;
    b->file_last = ngx_file_size(&fi);
    b->in_file = b->file_last ? 1 : 0;
    b->last_buf = 1;
    b->last_in_chain = 1;

    out.buf = b;
    out.next = NULL;

    return ngx_http_output_filter(r, &out);
}


static ngx_uint_t
ngx_gov_upload_is_hex(ngx_str_t *s)
{
    ngx_uint_t  i;

    if (s->len != NGX_GOV_UPLOAD_HEX) {
        return 0;
    }

    for (i = 0; i < s->len; i++) {
        if (!((s->data[i] >= '0' && s->data[i] <= '9')
              || (s->data[i] >= 'a' && s->data[i] <= 'f')))
        {
            return 0;
        }
    }

    return 1;
}


/* the sweeper */


ngx_int_t
ngx_gov_upload_init_process(ngx_cycle_t *cycle)
{
    ngx_http_gov_main_conf_t  *gmcf;

    gmcf = ngx_http_cycle_get_module_main_conf(cycle, ngx_http_gov_module);

    if (gmcf == NULL || gmcf->redis == NULL || gmcf->upload.path.len == 0) {
        return NGX_OK;
    }

    /* a turn at most every minute, or as often as keep_unused asks */

    ngx_gov_sweep_every = (ngx_msec_t) ngx_min(gmcf->upload.keep_unused, 60)
                          * 1000;

    ngx_gov_sweep_ev.handler = ngx_gov_upload_sweep;
    ngx_gov_sweep_ev.log = cycle->log;
    ngx_gov_sweep_ev.data = gmcf;
    ngx_gov_sweep_ev.cancelable = 1;

    ngx_add_timer(&ngx_gov_sweep_ev,
                  ngx_gov_sweep_every / 2 + ngx_random() % 1000);

    return NGX_OK;
}


void
ngx_gov_upload_exit_process(ngx_cycle_t *cycle)
{
    if (ngx_gov_sweep_ev.timer_set) {
        ngx_del_timer(&ngx_gov_sweep_ev);
    }
}


static void
ngx_gov_upload_sweep(ngx_event_t *ev)
{
    ngx_http_gov_main_conf_t *gmcf = ev->data;

    u_char       cutoff[NGX_INT64_LEN], turn[NGX_INT64_LEN];
    u_char       tbuf[NGX_GOV_REDIS_TAG_MAX];
    u_char       keys[2 * NGX_GOV_REDIS_TAG_MAX + 16];
    size_t       argvlen[8];
    ngx_str_t    tag;
    ngx_uint_t   s;
    const char  *argv[8];

    if (ngx_exiting || ngx_quit || ngx_terminate) {
        return;
    }

    ngx_add_timer(ev, ngx_gov_sweep_every + ngx_random() % 1000);

    if (!ngx_gov_redis_available()) {
        return;
    }

    argv[0] = "EVAL";
    argvlen[0] = 4;
    argv[1] = ngx_gov_upload_sweep_lua;
    argvlen[1] = sizeof(ngx_gov_upload_sweep_lua) - 1;
    argv[2] = "2";
    argvlen[2] = 1;
    argv[6] = (char *) cutoff;
    argvlen[6] = ngx_sprintf(cutoff, "%T",
                             (ngx_time() - gmcf->upload.keep_unused) * 1000)
                 - cutoff;
    argv[7] = (char *) turn;
    argvlen[7] = ngx_sprintf(turn, "%M", ngx_max(ngx_gov_sweep_every, 2000)
                                         - 1000)
                 - turn;

    /* each shard's files, by one worker of all nodes per period */

    for (s = 0; s < ngx_gov_redis_shards(); s++) {
        ngx_gov_redis_tag_buf(tbuf, &gmcf->redis_prefix, s, &tag);

        argv[3] = (char *) keys;
        argvlen[3] = ngx_sprintf(keys, "%Vupsweep", &tag) - keys;
        argv[4] = (char *) keys + argvlen[3];
        argvlen[4] = ngx_sprintf(keys + argvlen[3], "%Vupidle", &tag)
                     - (keys + argvlen[3]);
        argv[5] = (char *) tag.data;
        argvlen[5] = tag.len;

        (void) ngx_gov_redis_send(ev->log, ngx_gov_upload_swept,
                                  (void *) (uintptr_t) s, NULL, 8, argv,
                                  argvlen);
    }
}


static void
ngx_gov_upload_swept(redisReply *reply, void *data)
{
    ngx_uint_t  shard = (ngx_uint_t) (uintptr_t) data;

    u_char                     path[NGX_MAX_PATH], key[NGX_MAX_PATH];
    u_char                     tbuf[NGX_GOV_REDIS_TAG_MAX];
    size_t                     i, argvlen[2];
    ngx_err_t                  err;
    ngx_str_t                  hex, tag;
    redisReply                *e;
    const char                *argv[2];
    ngx_http_gov_main_conf_t  *gmcf;

    if (reply == NULL || reply->type != REDIS_REPLY_ARRAY) {
        return;
    }

    gmcf = ngx_http_cycle_get_module_main_conf(ngx_cycle, ngx_http_gov_module);
    ngx_gov_redis_tag_buf(tbuf, &gmcf->redis_prefix, shard, &tag);

    for (i = 0; i < reply->elements; i++) {
        e = reply->element[i];

        hex.data = (u_char *) e->str;
        hex.len = e->len;

        if (e->type != REDIS_REPLY_STRING || !ngx_gov_upload_is_hex(&hex)
            || gmcf->upload.path.len + 80 > NGX_MAX_PATH
            || gmcf->redis_prefix.len + 80 > NGX_MAX_PATH)
        {
            continue;
        }

        ngx_gov_upload_path_buf(path, &gmcf->upload.path, hex.data, shard);

        if (ngx_delete_file(path) == NGX_FILE_ERROR) {
            err = ngx_errno;

            if (err != NGX_ENOENT) {
                ngx_log_error(NGX_LOG_ERR, ngx_cycle->log, err,
                              "gov: cannot sweep \"%s\"", path);
                continue;
            }
        }

        ngx_gov_metrics_inc(NGX_GOV_M_UPLOADS_SWEPT);

        argv[0] = "DEL";
        argvlen[0] = 3;
        argv[1] = (char *) key;
        argvlen[1] = ngx_sprintf(key, "%Vupdel:%V", &tag, &hex) - key;

        (void) ngx_gov_redis_send(ngx_cycle->log, NULL, NULL, NULL, 2, argv,
                                  argvlen);
    }

    if (reply->elements) {
        ngx_log_error(NGX_LOG_INFO, ngx_cycle->log, 0,
                      "gov: swept %uz unused uploads", reply->elements);
    }
}
