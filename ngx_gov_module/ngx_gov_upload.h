
/*
 * Copyright (C) ngx_gov_module authors
 *
 * Materials uploaded (CONTRACT section 8): streamed into the store,
 * typed from their bytes, owned in Redis, served to owners and to link
 * holders, swept when unused.  The submission form streams its files
 * through here too.
 */


#ifndef _NGX_GOV_UPLOAD_H_INCLUDED_
#define _NGX_GOV_UPLOAD_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include <openssl/evp.h>
#include <jansson.h>

#include "ngx_gov_conf.h"
#include "gov_multipart.h"
#include "gov_sniff.h"


#define NGX_GOV_UPLOAD_HEX        64


typedef struct {
    ngx_str_t                 field;        /* the part's name, or "file" */
    ngx_str_t                 filename;     /* as the browser sent it */
    off_t                     size;
    ngx_int_t                 type;         /* GOV_TYPE_* */
    u_char                    hex[NGX_GOV_UPLOAD_HEX];

    /* 0 once stored, else the HTTP status and code of its problem */
    ngx_uint_t                status;
    const char               *error;

    ngx_uint_t                created;      /* this request stored it */
    ngx_fd_t                  fd;           /* the temporary file */
    ngx_str_t                 temp;         /* its name, "" once gone */
    EVP_MD_CTX               *md;
    gov_sniff_t               sniff;
} ngx_gov_upload_file_t;


typedef struct ngx_gov_upload_stream_s  ngx_gov_upload_stream_t;

typedef void (*ngx_gov_upload_done_pt)(ngx_http_request_t *r,
    ngx_gov_upload_stream_t *st);


/* what a body is */
#define NGX_GOV_UPLOAD_ONE        0     /* the file, or a form with "file" */
#define NGX_GOV_UPLOAD_FORM       1     /* a form: fields, materials.ID files */


struct ngx_gov_upload_stream_s {
    ngx_uint_t                kind;
    ngx_http_request_t       *request;
    ngx_gov_upload_conf_t    *conf;
    ngx_uint_t                mode;
    ngx_uint_t                multipart;
    ngx_uint_t                active;
    ngx_gov_upload_done_pt    done;
    ngx_gov_upload_done_pt    form_done;    /* ngx_gov_upload_form()'s */

    /* 0, or the HTTP status and code that refuse the whole body */
    ngx_uint_t                status;
    const char               *error;

    ngx_array_t               files;        /* ngx_gov_upload_file_t */
    ngx_gov_upload_file_t    *file;         /* the one being received */
    ngx_uint_t                in_field;     /* a form field's value */

    /* buffers held back so that one upload never holds the event loop */
    ngx_chain_t              *pending;
    ngx_chain_t             **pending_last;
    size_t                    pass;         /* bytes taken this turn */
    ngx_event_t               resume;

    /* a form's fields, urlencoded as a browser would send them */
    ngx_str_t                 form;
    size_t                    form_size;

    gov_mp_t                  mp;
};


/* location handler: gov_upload */
ngx_int_t ngx_gov_upload_handler(ngx_http_request_t *r);

/* the request body filter that streams uploads */
ngx_int_t ngx_gov_upload_init(ngx_conf_t *cf);

/*
 * Reads the body of "r" (NGX_GOV_UPLOAD_FORM: a multipart form) into the
 * store, then calls "done".  Returns what a content handler returns.
 */
ngx_int_t ngx_gov_upload_read(ngx_http_request_t *r, ngx_uint_t mode,
    ngx_gov_upload_done_pt done);

/*
 * Files posted (NGX_GOV_UPLOAD_ONE: POST /uploads/, with its size checked
 * first; NGX_GOV_UPLOAD_FORM: a form), for a content handler: identity
 * (401, 503), the cross-site rule (403), the body streamed in, the files
 * recorded as the citizen's; then "done" runs once (st->status 0: all
 * well, else the answer's status and st->error).  Returns NGX_DONE or an
 * answer's code.
 */
ngx_int_t ngx_gov_upload_form(ngx_http_request_t *r, ngx_uint_t mode,
    ngx_gov_upload_done_pt done);

/*
 * Records the stored files of "st" as "subject"'s in Redis; "done" then
 * runs with st->status 0, or 503 when Redis could not take them (the
 * files this request stored are removed again).  NGX_OK or NGX_ERROR.
 */
ngx_int_t ngx_gov_upload_own(ngx_http_request_t *r,
    ngx_gov_upload_stream_t *st, ngx_str_t *subject,
    ngx_gov_upload_done_pt done);

/*
 * "upload:HEX" refs named by an application: "done" runs with a JSON
 * object HEX -> {"type","size","name"} of those that belong to
 * "subject" (NULL: Redis down).
 */
typedef void (*ngx_gov_upload_known_pt)(ngx_http_request_t *r, void *data,
    json_t *known);

ngx_int_t ngx_gov_upload_known(ngx_http_request_t *r, ngx_str_t *subject,
    json_t *hexes, ngx_gov_upload_known_pt done, void *data);

/*
 * A form streamed with its files, as the urlencoded form it stands for:
 * its fields, and each stored file as "materials.ID=upload:HEX" in place
 * of what the form said for that ID (a refused file leaves it out).
 */
ngx_int_t ngx_gov_upload_form_text(ngx_http_request_t *r,
    ngx_gov_upload_stream_t *st, ngx_str_t *text);

/* the HEX of an "upload:HEX" ref, else NULL */
const char *ngx_gov_upload_ref_hex(const char *ref, size_t len);

ngx_int_t ngx_gov_upload_init_process(ngx_cycle_t *cycle);
void ngx_gov_upload_exit_process(ngx_cycle_t *cycle);

char *ngx_gov_upload_store_directive(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
char *ngx_gov_upload_secret_directive(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
char *ngx_gov_upload_init_conf(ngx_conf_t *cf, ngx_gov_upload_conf_t *ucf);
void ngx_gov_upload_create_conf(ngx_gov_upload_conf_t *ucf);


#endif /* _NGX_GOV_UPLOAD_H_INCLUDED_ */
