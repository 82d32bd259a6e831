
/*
 * Copyright (C) ngx_gov_module authors
 *
 * 一件事 bundles: materials, fields, items and bundles as configured, the
 * guide, submissions, their dispatch to the departments and the callbacks
 * that move steps.
 */


#ifndef _NGX_GOV_BUNDLE_H_INCLUDED_
#define _NGX_GOV_BUNDLE_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "gov_app.h"
#include "gov_calendar.h"
#include "ngx_gov_redis.h"


typedef struct {
    ngx_str_t                 id;
    ngx_str_t                 name;
    ngx_uint_t                elicense;
} ngx_gov_material_t;


typedef struct {
    ngx_str_t                 id;
    ngx_str_t                 label;
    ngx_str_t                 pattern;      /* as configured */
    ngx_regex_t              *regex;        /* anchored: the whole value */
    ngx_uint_t                optional;
} ngx_gov_field_t;


typedef struct {
    ngx_str_t                 id;
    ngx_str_t                 name;
    ngx_str_t                 department;
    ngx_str_t                 backend;
    ngx_str_t                 status;
    ngx_str_t                 secret;
    ngx_array_t               materials;    /* ngx_str_t, then indexes */
    ngx_array_t               fields;
    ngx_array_t               depends;
    ngx_uint_t               *material_idx;
    ngx_uint_t               *field_idx;
    ngx_uint_t               *depends_idx;
    ngx_uint_t                time_limit;
    ngx_str_t                 file;
    ngx_uint_t                line;
} ngx_gov_item_t;


typedef struct {
    ngx_str_t                 id;
    ngx_str_t                 name;
    ngx_str_t                 code;
    ngx_array_t               items;        /* ngx_str_t */
    ngx_uint_t               *item_idx;
    ngx_uint_t                time_limit;
    ngx_str_t                 file;
    ngx_uint_t                line;

    gov_app_field_t          *app_fields;
    ngx_uint_t                napp_fields;
    gov_app_material_t       *app_materials;
    ngx_uint_t                napp_materials;

    ngx_str_t                 guide;        /* the 一次告知 JSON */
} ngx_gov_bundle_t;


typedef struct {
    ngx_array_t               materials;    /* ngx_gov_material_t */
    ngx_array_t               fields;       /* ngx_gov_field_t */
    ngx_array_t               items;        /* ngx_gov_item_t */
    ngx_array_t               bundles;      /* ngx_gov_bundle_t */
    gov_calendar_t            calendar;
    ngx_msec_t                dispatch_timeout;
    ngx_str_t                 list;         /* GET /bundles/ JSON */
} ngx_gov_bundles_conf_t;


ngx_gov_bundles_conf_t *ngx_gov_bundles_conf(ngx_conf_t *cf);
gov_app_match_pt ngx_gov_bundles_matcher(void);
char *ngx_gov_bundles_init_conf(ngx_conf_t *cf, ngx_gov_bundles_conf_t *bc);

char *ngx_gov_material(ngx_conf_t *cf, ngx_command_t *cmd, void *conf);
char *ngx_gov_field(ngx_conf_t *cf, ngx_command_t *cmd, void *conf);
char *ngx_gov_item(ngx_conf_t *cf, ngx_command_t *cmd, void *conf);
char *ngx_gov_bundle(ngx_conf_t *cf, ngx_command_t *cmd, void *conf);
char *ngx_gov_calendar(ngx_conf_t *cf, ngx_command_t *cmd, void *conf);

ngx_int_t ngx_http_gov_bundles_handler(ngx_http_request_t *r);
ngx_int_t ngx_http_gov_callback_handler(ngx_http_request_t *r);
ngx_int_t ngx_http_gov_progress_handler(ngx_http_request_t *r);
void ngx_gov_progress_exit_process(ngx_cycle_t *cycle);

/* every cached copy of an application's progress must go */
void ngx_gov_progress_changed(ngx_str_t *app_id);

ngx_int_t ngx_gov_state_cmd(ngx_pool_t *pool, ngx_gov_bundles_conf_t *bc,
    ngx_str_t *prefix, ngx_str_t *id, ngx_gov_item_t *it, ngx_int_t state,
    ngx_str_t *receipt, ngx_str_t *note, ngx_str_t *replay,
    ngx_gov_redis_args_t *cmd);

/* a request without a client, for subrequests a timer starts */
ngx_http_request_t *ngx_gov_fake_request(ngx_cycle_t *cycle);
void ngx_gov_fake_request_free(ngx_http_request_t *r);

ngx_int_t ngx_gov_dispatch_init_process(ngx_cycle_t *cycle);
void ngx_gov_dispatch_exit_process(ngx_cycle_t *cycle);

/* the day number of a UNIX time in the server's zone */
int ngx_gov_day(time_t t);

/* writes an ISO 8601 date "YYYY-MM-DD" (10 bytes) */
u_char *ngx_gov_iso_date(u_char *p, int day);

/* writes an ISO 8601 time with the server's offset (25 bytes) */
u_char *ngx_gov_iso_time(u_char *p, time_t t);


#endif /* _NGX_GOV_BUNDLE_H_INCLUDED_ */
