
/*
 * Copyright (C) ngx_gov_module authors
 */


/*
 * Configuration of bundles: gov_material, gov_field, gov_item {},
 * gov_bundle {}, gov_calendar.  References are resolved, and cycles and
 * missing pieces found, when the http block ends; every mistake names the
 * file and line of the directive that made it.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_gov_answer.h"
#include "ngx_gov_bundle_conf.h"


static char *ngx_gov_item_line(ngx_conf_t *cf, ngx_command_t *dummy,
    void *conf);
static char *ngx_gov_bundle_line(ngx_conf_t *cf, ngx_command_t *dummy,
    void *conf);
static ngx_int_t ngx_gov_read_file(ngx_conf_t *cf, ngx_str_t *path,
    ngx_str_t *out, size_t max);
static ngx_int_t ngx_gov_read_secret(ngx_conf_t *cf, ngx_str_t *path,
    ngx_str_t *out);
static char *ngx_gov_item_uri(ngx_conf_t *cf, ngx_gov_item_t *item,
    ngx_str_t *name, ngx_str_t *value);
static ngx_int_t ngx_gov_uint_arg(ngx_conf_t *cf, ngx_str_t *value,
    ngx_uint_t *n, ngx_uint_t min, ngx_uint_t max);
static ngx_int_t ngx_gov_push_ids(ngx_conf_t *cf, ngx_array_t *a,
    ngx_uint_t first);
static ngx_int_t ngx_gov_valid_id(ngx_str_t *id);
static ngx_int_t ngx_gov_cycle_from(ngx_gov_bundles_conf_t *bc,
    ngx_uint_t item, u_char *state, ngx_uint_t *path, ngx_uint_t depth,
    ngx_uint_t *end);
static ngx_int_t ngx_gov_resolve_item(ngx_conf_t *cf,
    ngx_gov_bundles_conf_t *bc, ngx_gov_item_t *it);
static ngx_uint_t *ngx_gov_resolve_ids(ngx_conf_t *cf, ngx_str_t *file,
    ngx_uint_t line, char *kind, ngx_str_t *name, ngx_array_t *ids,
    ngx_array_t *all, size_t size, char *unknown);
static ngx_int_t ngx_gov_check_cycles(ngx_conf_t *cf,
    ngx_gov_bundles_conf_t *bc);
static ngx_int_t ngx_gov_resolve_bundle(ngx_conf_t *cf,
    ngx_gov_bundles_conf_t *bc, ngx_gov_bundle_t *b);
static ngx_int_t ngx_gov_bundle_spec(ngx_conf_t *cf,
    ngx_gov_bundles_conf_t *bc, ngx_gov_bundle_t *b);
static ngx_uint_t ngx_gov_bundle_uses(ngx_gov_bundles_conf_t *bc,
    ngx_gov_bundle_t *b, ngx_uint_t material, ngx_uint_t k);
static ngx_int_t ngx_gov_build_guide(ngx_conf_t *cf,
    ngx_gov_bundles_conf_t *bc, ngx_gov_bundle_t *b);
static ngx_int_t ngx_gov_build_list(ngx_conf_t *cf,
    ngx_gov_bundles_conf_t *bc);
static int ngx_gov_regex_match(void *pattern, const char *s, size_t len);
static ngx_regex_t *ngx_gov_anchored(ngx_conf_t *cf, ngx_str_t *pattern,
    char *kind, ngx_str_t *id);
static char *ngx_gov_when(ngx_conf_t *cf, ngx_gov_bundle_t *b);
static ngx_int_t ngx_gov_resolve_whens(ngx_conf_t *cf,
    ngx_gov_bundles_conf_t *bc, ngx_gov_bundle_t *b);
static json_t *ngx_gov_guide_json(ngx_gov_bundles_conf_t *bc,
    ngx_gov_bundle_t *b, json_t *answers);
static void ngx_gov_calendar_cleanup(void *data);


#define ngx_gov_json_string(s)  json_stringn((char *) (s)->data, (s)->len)

#define ngx_gov_conf_error(file, line, fmt, ...)                             \
    ngx_log_error(NGX_LOG_EMERG, cf->log, 0, fmt " in %V:%ui",               \
                  __VA_ARGS__, file, line)


ngx_gov_bundles_conf_t *
ngx_gov_bundles_conf(ngx_conf_t *cf)
{
    ngx_http_gov_main_conf_t  *gmcf;

    gmcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_gov_module);

    return &gmcf->bundles;
}


static ngx_int_t
ngx_gov_valid_id(ngx_str_t *id)
{
    size_t  i;

    /* ids travel in URIs, headers and Redis keys */

    if (id->len == 0 || id->len > 64) {
        return NGX_ERROR;
    }

    for (i = 0; i < id->len; i++) {
        if (!((id->data[i] >= 'a' && id->data[i] <= 'z')
              || (id->data[i] >= 'A' && id->data[i] <= 'Z')
              || (id->data[i] >= '0' && id->data[i] <= '9')
              || id->data[i] == '_' || id->data[i] == '-'))
        {
            return NGX_ERROR;
        }
    }

    return NGX_OK;
}


ngx_int_t
ngx_gov_find(ngx_array_t *a, size_t size, ngx_str_t *id)
{
    u_char      *p;
    ngx_str_t   *s;
    ngx_uint_t   i;

    /* every element starts with its ngx_str_t id */

    p = a->elts;

    for (i = 0; i < a->nelts; i++) {
        s = (ngx_str_t *) (p + i * size);

        if (s->len == id->len && ngx_strncmp(s->data, id->data, id->len) == 0)
        {
            return i;
        }
    }

    return NGX_ERROR;
}


char *
ngx_gov_material(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_gov_bundles_conf_t *bc = &((ngx_http_gov_main_conf_t *) conf)->bundles;

    ngx_str_t           *value, days;
    ngx_uint_t           i;
    ngx_gov_material_t  *m;

    value = cf->args->elts;

    if (ngx_gov_valid_id(&value[1]) != NGX_OK) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid material id \"%V\": use 1-64 letters, "
                           "digits, \"_\" or \"-\"", &value[1]);
        return NGX_CONF_ERROR;
    }

    if (ngx_gov_find(&bc->materials, sizeof(ngx_gov_material_t), &value[1])
        != NGX_ERROR)
    {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "duplicate material \"%V\"", &value[1]);
        return NGX_CONF_ERROR;
    }

    m = ngx_array_push(&bc->materials);
    if (m == NULL) {
        return NGX_CONF_ERROR;
    }

    m->id = value[1];
    m->name = value[2];
    m->elicense = 0;
    m->tolerable = 0;

    for (i = 3; i < cf->args->nelts; i++) {
        if (ngx_strcmp(value[i].data, "elicense") == 0 && !m->elicense) {
            m->elicense = 1;
            continue;
        }

        if (ngx_strncmp(value[i].data, "tolerable=", 10) == 0
            && m->tolerable == 0)
        {
            /* 容缺受理: it may come this many working days later */
            days.data = value[i].data + 10;
            days.len = value[i].len - 10;

            if (ngx_gov_uint_arg(cf, &days, &m->tolerable, 1, 365)
                != NGX_OK)
            {
                return NGX_CONF_ERROR;
            }

            continue;
        }

        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid parameter \"%V\" in gov_material, "
                           "only \"elicense\" and \"tolerable=DAYS\" may "
                           "follow the name, once each", &value[i]);
        return NGX_CONF_ERROR;
    }

    return NGX_CONF_OK;
}


char *
ngx_gov_field(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_gov_bundles_conf_t *bc = &((ngx_http_gov_main_conf_t *) conf)->bundles;

    ngx_str_t        *value;
    ngx_uint_t        i;
    ngx_gov_field_t  *f;

    value = cf->args->elts;

    if (ngx_gov_valid_id(&value[1]) != NGX_OK) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid field id \"%V\": use 1-64 letters, "
                           "digits, \"_\" or \"-\"", &value[1]);
        return NGX_CONF_ERROR;
    }

    if (ngx_gov_find(&bc->fields, sizeof(ngx_gov_field_t), &value[1])
        != NGX_ERROR)
    {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "duplicate field \"%V\"", &value[1]);
        return NGX_CONF_ERROR;
    }

    f = ngx_array_push(&bc->fields);
    if (f == NULL) {
        return NGX_CONF_ERROR;
    }

    ngx_memzero(f, sizeof(ngx_gov_field_t));

    f->id = value[1];
    f->label = value[2];

    for (i = 3; i < cf->args->nelts; i++) {

        if (ngx_strcmp(value[i].data, "optional") == 0) {
            f->optional = 1;
            continue;
        }

        if (ngx_strncmp(value[i].data, "pattern=", 8) == 0
            && value[i].len > 8)
        {
            f->pattern.data = value[i].data + 8;
            f->pattern.len = value[i].len - 8;

            f->regex = ngx_gov_anchored(cf, &f->pattern, "field", &f->id);
            if (f->regex == NULL) {
                return NGX_CONF_ERROR;
            }

            continue;
        }

        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid parameter \"%V\" in gov_field",
                           &value[i]);
        return NGX_CONF_ERROR;
    }

    return NGX_CONF_OK;
}


char *
ngx_gov_item(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_gov_bundles_conf_t *bc = &((ngx_http_gov_main_conf_t *) conf)->bundles;

    char            *rv;
    ngx_str_t       *value;
    ngx_conf_t       save;
    ngx_gov_item_t  *item;

    value = cf->args->elts;

    if (ngx_gov_valid_id(&value[1]) != NGX_OK) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid item id \"%V\": use 1-64 letters, "
                           "digits, \"_\" or \"-\"", &value[1]);
        return NGX_CONF_ERROR;
    }

    if (ngx_gov_find(&bc->items, sizeof(ngx_gov_item_t), &value[1])
        != NGX_ERROR)
    {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0, "duplicate item \"%V\"",
                           &value[1]);
        return NGX_CONF_ERROR;
    }

    item = ngx_array_push(&bc->items);
    if (item == NULL) {
        return NGX_CONF_ERROR;
    }

    ngx_memzero(item, sizeof(ngx_gov_item_t));

    item->id = value[1];
    item->time_limit = NGX_CONF_UNSET_UINT;
    item->file = cf->conf_file->file.name;
    item->line = cf->conf_file->line;

    if (ngx_array_init(&item->materials, cf->pool, 4, sizeof(ngx_str_t))
        != NGX_OK
        || ngx_array_init(&item->fields, cf->pool, 4, sizeof(ngx_str_t))
           != NGX_OK
        || ngx_array_init(&item->depends, cf->pool, 2, sizeof(ngx_str_t))
           != NGX_OK)
    {
        return NGX_CONF_ERROR;
    }

    save = *cf;
    cf->handler = ngx_gov_item_line;
    cf->handler_conf = (void *) item;

    rv = ngx_conf_parse(cf, NULL);

    *cf = save;

    if (rv != NGX_CONF_OK) {
        return rv;
    }

    if (item->backend.len == 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "item \"%V\" has no \"backend\"", &item->id);
        return NGX_CONF_ERROR;
    }

    if (item->name.len == 0 || item->department.len == 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "item \"%V\" needs \"name\" and \"department\"",
                           &item->id);
        return NGX_CONF_ERROR;
    }

    if (item->secret.len == 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "item \"%V\" has no \"callback_secret_file\"",
                           &item->id);
        return NGX_CONF_ERROR;
    }

    if (item->time_limit == NGX_CONF_UNSET_UINT) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "item \"%V\" has no \"time_limit\"", &item->id);
        return NGX_CONF_ERROR;
    }

    return NGX_CONF_OK;
}


static char *
ngx_gov_item_line(ngx_conf_t *cf, ngx_command_t *dummy, void *conf)
{
    ngx_gov_item_t  *item = conf;

    ngx_str_t  *value, *name;

    value = cf->args->elts;
    name = &value[0];

#define ngx_gov_is(s)  (name->len == sizeof(s) - 1                          \
                        && ngx_strncmp(name->data, s, sizeof(s) - 1) == 0)

    if (ngx_gov_is("materials") || ngx_gov_is("fields")
        || ngx_gov_is("depends"))
    {
        if (cf->args->nelts < 2) {
            goto args;
        }

        return ngx_gov_push_ids(cf, ngx_gov_is("materials") ? &item->materials
                                    : ngx_gov_is("fields") ? &item->fields
                                    : &item->depends, 1) == NGX_OK
               ? NGX_CONF_OK : NGX_CONF_ERROR;
    }

    if (cf->args->nelts != 2) {
        goto args;
    }

    if (ngx_gov_is("name")) {
        item->name = value[1];

    } else if (ngx_gov_is("department")) {
        item->department = value[1];

    } else if (ngx_gov_is("backend") || ngx_gov_is("status")) {
        return ngx_gov_item_uri(cf, item, name, &value[1]);

    } else if (ngx_gov_is("callback_secret_file")) {
        if (ngx_gov_read_secret(cf, &value[1], &item->secret) != NGX_OK) {
            return NGX_CONF_ERROR;
        }

    } else if (ngx_gov_is("time_limit")) {
        if (ngx_gov_uint_arg(cf, &value[1], &item->time_limit, 1, 3650)
            != NGX_OK)
        {
            return NGX_CONF_ERROR;
        }

    } else {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "unknown directive \"%V\" in gov_item", name);
        return NGX_CONF_ERROR;
    }

    return NGX_CONF_OK;

args:

    ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                       "invalid number of arguments in \"%V\" of gov_item",
                       name);
    return NGX_CONF_ERROR;
}


char *
ngx_gov_bundle(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_gov_bundles_conf_t *bc = &((ngx_http_gov_main_conf_t *) conf)->bundles;

    char              *rv;
    ngx_str_t         *value, *ids, *id;
    ngx_uint_t         i, j;
    ngx_conf_t         save;
    ngx_gov_when_t    *whens;
    ngx_gov_bundle_t  *b, *other;

    value = cf->args->elts;

    if (ngx_gov_valid_id(&value[1]) != NGX_OK) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid bundle id \"%V\": use 1-64 letters, "
                           "digits, \"_\" or \"-\"", &value[1]);
        return NGX_CONF_ERROR;
    }

    if (ngx_gov_find(&bc->bundles, sizeof(ngx_gov_bundle_t), &value[1])
        != NGX_ERROR)
    {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0, "duplicate bundle \"%V\"",
                           &value[1]);
        return NGX_CONF_ERROR;
    }

    b = ngx_array_push(&bc->bundles);
    if (b == NULL) {
        return NGX_CONF_ERROR;
    }

    ngx_memzero(b, sizeof(ngx_gov_bundle_t));

    b->id = value[1];
    b->time_limit = NGX_CONF_UNSET_UINT;
    b->file = cf->conf_file->file.name;
    b->line = cf->conf_file->line;

    if (ngx_array_init(&b->items, cf->pool, 8, sizeof(ngx_str_t)) != NGX_OK
        || ngx_array_init(&b->whens, cf->pool, 2, sizeof(ngx_gov_when_t))
           != NGX_OK)
    {
        return NGX_CONF_ERROR;
    }

    save = *cf;
    cf->handler = ngx_gov_bundle_line;
    cf->handler_conf = (void *) b;

    rv = ngx_conf_parse(cf, NULL);

    *cf = save;

    if (rv != NGX_CONF_OK) {
        return rv;
    }

    /* the items of its situations are the bundle's too */

    whens = b->whens.elts;

    for (i = 0; i < b->whens.nelts; i++) {
        ids = whens[i].items.elts;

        for (j = 0; j < whens[i].items.nelts; j++) {
            if (ngx_gov_find(&b->items, sizeof(ngx_str_t), &ids[j])
                != NGX_ERROR)
            {
                continue;
            }

            id = ngx_array_push(&b->items);
            if (id == NULL) {
                return NGX_CONF_ERROR;
            }

            *id = ids[j];
        }
    }

    if (b->name.len == 0 || b->code.len == 0 || b->items.nelts == 0
        || b->time_limit == NGX_CONF_UNSET_UINT)
    {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "bundle \"%V\" needs \"name\", \"code\", "
                           "\"items\" and \"time_limit\"", &b->id);
        return NGX_CONF_ERROR;
    }

    other = bc->bundles.elts;

    for (i = 0; i + 1 < bc->bundles.nelts; i++) {
        if (other[i].code.len == b->code.len
            && ngx_strncmp(other[i].code.data, b->code.data, b->code.len)
               == 0)
        {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "bundle \"%V\" uses code \"%V\" of bundle "
                               "\"%V\" already", &b->id, &b->code,
                               &other[i].id);
            return NGX_CONF_ERROR;
        }
    }

    return NGX_CONF_OK;
}


static char *
ngx_gov_bundle_line(ngx_conf_t *cf, ngx_command_t *dummy, void *conf)
{
    ngx_gov_bundle_t  *b = conf;

    size_t      i;
    ngx_str_t  *value, *name;

    value = cf->args->elts;
    name = &value[0];

    if (ngx_gov_is("items")) {
        if (cf->args->nelts < 2) {
            goto args;
        }

        return ngx_gov_push_ids(cf, &b->items, 1) == NGX_OK ? NGX_CONF_OK
                                                         : NGX_CONF_ERROR;
    }

    if (ngx_gov_is("when")) {
        if (cf->args->nelts < 4) {
            goto args;
        }

        return ngx_gov_when(cf, b);
    }

    if (cf->args->nelts != 2) {
        goto args;
    }

    if (ngx_gov_is("name")) {
        b->name = value[1];

    } else if (ngx_gov_is("code")) {
        if (value[1].len < 2 || value[1].len > 4) {
            goto bad_code;
        }

        for (i = 0; i < value[1].len; i++) {
            if (value[1].data[i] < 'A' || value[1].data[i] > 'Z') {
                goto bad_code;
            }
        }

        b->code = value[1];

    } else if (ngx_gov_is("time_limit")) {
        if (ngx_gov_uint_arg(cf, &value[1], &b->time_limit, 1, 3650)
            != NGX_OK)
        {
            return NGX_CONF_ERROR;
        }

    } else {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "unknown directive \"%V\" in gov_bundle", name);
        return NGX_CONF_ERROR;
    }

    return NGX_CONF_OK;

bad_code:

    ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                       "invalid code \"%V\" of bundle \"%V\": 2-4 upper-case "
                       "letters", &value[1], &b->id);
    return NGX_CONF_ERROR;

args:

    ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                       "invalid number of arguments in \"%V\" of gov_bundle",
                       name);
    return NGX_CONF_ERROR;
}


/* when FIELD "PATTERN" ITEM ...: the items a situation includes */

static char *
ngx_gov_when(ngx_conf_t *cf, ngx_gov_bundle_t *b)
{
    ngx_str_t       *value;
    ngx_gov_when_t  *w;

    value = cf->args->elts;

    w = ngx_array_push(&b->whens);
    if (w == NULL) {
        return NGX_CONF_ERROR;
    }

    ngx_memzero(w, sizeof(ngx_gov_when_t));

    w->field = value[1];
    w->pattern = value[2];
    w->file = cf->conf_file->file.name;
    w->line = cf->conf_file->line;

    if (w->pattern.len == 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "empty pattern in \"when %V\" of bundle \"%V\"",
                           &w->field, &b->id);
        return NGX_CONF_ERROR;
    }

    w->regex = ngx_gov_anchored(cf, &w->pattern, "situation", &w->field);
    if (w->regex == NULL) {
        return NGX_CONF_ERROR;
    }

    if (ngx_array_init(&w->items, cf->pool, 4, sizeof(ngx_str_t)) != NGX_OK) {
        return NGX_CONF_ERROR;
    }

    return ngx_gov_push_ids(cf, &w->items, 3) == NGX_OK ? NGX_CONF_OK
                                                        : NGX_CONF_ERROR;
}


/* a pattern that must match the whole value, as HTML's pattern attribute */

static ngx_regex_t *
ngx_gov_anchored(ngx_conf_t *cf, ngx_str_t *pattern, char *kind,
    ngx_str_t *id)
{
    u_char               errstr[NGX_MAX_CONF_ERRSTR];
    ngx_str_t            anchored;
    ngx_regex_compile_t  rc;

    anchored.len = pattern->len + sizeof("^(?:)$") - 1;
    anchored.data = ngx_pnalloc(cf->pool, anchored.len);
    if (anchored.data == NULL) {
        return NULL;
    }

    ngx_sprintf(anchored.data, "^(?:%V)$", pattern);

    ngx_memzero(&rc, sizeof(ngx_regex_compile_t));

    rc.pattern = anchored;
    rc.pool = cf->pool;
    rc.err.len = NGX_MAX_CONF_ERRSTR;
    rc.err.data = errstr;

    if (ngx_regex_compile(&rc) != NGX_OK) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid pattern of %s \"%V\": %V", kind, id,
                           &rc.err);
        return NULL;
    }

    return rc.regex;
}


/* the ids from argument "first" on, each once */

static ngx_int_t
ngx_gov_push_ids(ngx_conf_t *cf, ngx_array_t *a, ngx_uint_t first)
{
    ngx_str_t   *value, *s;
    ngx_uint_t   i;

    value = cf->args->elts;

    for (i = first; i < cf->args->nelts; i++) {
        if (ngx_gov_find(a, sizeof(ngx_str_t), &value[i]) != NGX_ERROR) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "\"%V\" is listed twice in \"%V\"",
                               &value[i], &value[0]);
            return NGX_ERROR;
        }

        s = ngx_array_push(a);
        if (s == NULL) {
            return NGX_ERROR;
        }

        *s = value[i];
    }

    return NGX_OK;
}


static ngx_int_t
ngx_gov_uint_arg(ngx_conf_t *cf, ngx_str_t *value, ngx_uint_t *n,
    ngx_uint_t min, ngx_uint_t max)
{
    ngx_int_t  v;

    v = ngx_atoi(value->data, value->len);

    if (v == NGX_ERROR || (ngx_uint_t) v < min || (ngx_uint_t) v > max) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid number \"%V\", must be from %ui to %ui",
                           value, min, max);
        return NGX_ERROR;
    }

    *n = v;

    return NGX_OK;
}


/*
 * "backend" or "status" of an item: a location URI, or a value with
 * variables ($gov_field_NAME among them) evaluated for each application
 * when its step is sent or asked about (ngx_gov_route.c).
 */

static char *
ngx_gov_item_uri(ngx_conf_t *cf, ngx_gov_item_t *item, ngx_str_t *name,
    ngx_str_t *value)
{
    ngx_http_complex_value_t          *cv;
    ngx_http_compile_complex_value_t   ccv;

    cv = NULL;

    if (ngx_http_script_variables_count(value)) {
        cv = ngx_palloc(cf->pool, sizeof(ngx_http_complex_value_t));
        if (cv == NULL) {
            return NGX_CONF_ERROR;
        }

        ngx_memzero(&ccv, sizeof(ngx_http_compile_complex_value_t));

        ccv.cf = cf;
        ccv.value = value;
        ccv.complex_value = cv;

        if (ngx_http_compile_complex_value(&ccv) != NGX_OK) {
            return NGX_CONF_ERROR;
        }

    } else if (value->len == 0 || value->data[0] != '/') {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"%V\" of item \"%V\" must be a location "
                           "URI starting with \"/\"", name, &item->id);
        return NGX_CONF_ERROR;
    }

    if (name->len == sizeof("backend") - 1) {
        item->backend = *value;
        item->backend_cv = cv;

    } else {
        item->status = *value;
        item->status_cv = cv;
    }

    return NGX_CONF_OK;
}


/* a callback secret: at least 16 bytes, a final newline not counted */

static ngx_int_t
ngx_gov_read_secret(ngx_conf_t *cf, ngx_str_t *path, ngx_str_t *out)
{
    if (ngx_gov_read_file(cf, path, out, 4096) != NGX_OK) {
        return NGX_ERROR;
    }

    while (out->len
           && (out->data[out->len - 1] == '\n'
               || out->data[out->len - 1] == '\r'))
    {
        out->len--;
    }

    if (out->len < 16) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "callback secret \"%V\" is shorter than 16 "
                           "bytes", path);
        return NGX_ERROR;
    }

    return NGX_OK;
}


/* gov_region ID "NAME" PREFIX callback_secret_file=PATH */

char *
ngx_gov_region(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_str_t               *value, path;
    ngx_uint_t               i, dup;
    ngx_gov_region_t        *rg, *regions;
    ngx_gov_bundles_conf_t  *bc;

    bc = ngx_gov_bundles_conf(cf);
    value = cf->args->elts;

    if (ngx_gov_valid_id(&value[1]) != NGX_OK) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid region id \"%V\": 1-64 letters, digits, "
                           "\"_\" or \"-\"", &value[1]);
        return NGX_CONF_ERROR;
    }

    if (value[2].len == 0 || value[2].len > 128) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "region \"%V\" needs a name of 1-128 bytes",
                           &value[1]);
        return NGX_CONF_ERROR;
    }

    if (value[3].len < 2 || value[3].data[0] != '/'
        || ngx_strlchr(value[3].data, value[3].data + value[3].len, '$'))
    {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "the prefix \"%V\" of region \"%V\" must be a "
                           "URI prefix starting with \"/\", without "
                           "variables", &value[3], &value[1]);
        return NGX_CONF_ERROR;
    }

    regions = bc->regions.elts;
    dup = ngx_gov_find(&bc->regions, sizeof(ngx_gov_region_t), &value[1])
          != NGX_ERROR;

    for (i = 0; !dup && i < bc->regions.nelts; i++) {
        dup = regions[i].prefix.len == value[3].len
              && ngx_strncmp(regions[i].prefix.data, value[3].data,
                             value[3].len) == 0;
    }

    if (dup) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "region \"%V\" or its prefix \"%V\" is "
                           "duplicate", &value[1], &value[3]);
        return NGX_CONF_ERROR;
    }

    if (value[4].len <= sizeof("callback_secret_file=") - 1
        || ngx_strncmp(value[4].data, "callback_secret_file=",
                       sizeof("callback_secret_file=") - 1) != 0)
    {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "region \"%V\" needs "
                           "\"callback_secret_file=PATH\", not \"%V\"",
                           &value[1], &value[4]);
        return NGX_CONF_ERROR;
    }

    rg = ngx_array_push(&bc->regions);
    if (rg == NULL) {
        return NGX_CONF_ERROR;
    }

    rg->id = value[1];
    rg->name = value[2];
    rg->prefix = value[3];

    path.data = value[4].data + sizeof("callback_secret_file=") - 1;
    path.len = value[4].len - (sizeof("callback_secret_file=") - 1);

    if (ngx_gov_read_secret(cf, &path, &rg->secret) != NGX_OK) {
        return NGX_CONF_ERROR;
    }

    return NGX_CONF_OK;
}


static ngx_int_t
ngx_gov_read_file(ngx_conf_t *cf, ngx_str_t *name, ngx_str_t *out,
    size_t max)
{
    size_t           size;
    ssize_t          n;
    ngx_fd_t         fd;
    ngx_str_t        path;
    ngx_file_info_t  fi;

    path = *name;

    if (ngx_conf_full_name(cf->cycle, &path, 1) != NGX_OK) {
        return NGX_ERROR;
    }

    fd = ngx_open_file(path.data, NGX_FILE_RDONLY, NGX_FILE_OPEN, 0);
    if (fd == NGX_INVALID_FILE) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, ngx_errno,
                           "cannot open \"%V\"", &path);
        return NGX_ERROR;
    }

    if (ngx_fd_info(fd, &fi) == NGX_FILE_ERROR) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, ngx_errno,
                           "cannot stat \"%V\"", &path);
        (void) ngx_close_file(fd);
        return NGX_ERROR;
    }

    size = (size_t) ngx_file_size(&fi);

    if (size > max) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"%V\" is larger than %uz bytes", &path, max);
        (void) ngx_close_file(fd);
        return NGX_ERROR;
    }

    out->data = ngx_pnalloc(cf->pool, size + 1);
    if (out->data == NULL) {
        (void) ngx_close_file(fd);
        return NGX_ERROR;
    }

    n = ngx_read_fd(fd, out->data, size);
    (void) ngx_close_file(fd);

    if (n == -1 || (size_t) n != size) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, ngx_errno,
                           "cannot read \"%V\"", &path);
        return NGX_ERROR;
    }

    out->data[size] = '\0';
    out->len = size;

    return NGX_OK;
}


static void
ngx_gov_calendar_cleanup(void *data)
{
    gov_calendar_free(data);
}


char *
ngx_gov_calendar(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_gov_bundles_conf_t *bc = &((ngx_http_gov_main_conf_t *) conf)->bundles;

    char                 err[256];
    size_t               line;
    ngx_str_t           *value, text, path;
    ngx_pool_cleanup_t  *cln;

    if (bc->calendar.days) {
        return "is duplicate";
    }

    value = cf->args->elts;

    if (ngx_gov_read_file(cf, &value[1], &text, 1024 * 1024) != NGX_OK) {
        return NGX_CONF_ERROR;
    }

    if (gov_calendar_parse(&bc->calendar, (char *) text.data, text.len,
                           &line, err, sizeof(err))
        != 0)
    {
        path = value[1];
        (void) ngx_conf_full_name(cf->cycle, &path, 1);

        if (line) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "bad calendar line %V:%uz: %s", &path, line,
                               err);
        } else {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0, "bad calendar %V: %s",
                               &path, err);
        }

        return NGX_CONF_ERROR;
    }

    cln = ngx_pool_cleanup_add(cf->pool, 0);
    if (cln == NULL) {
        return NGX_CONF_ERROR;
    }

    cln->handler = ngx_gov_calendar_cleanup;
    cln->data = &bc->calendar;

    return NGX_CONF_OK;
}


static int
ngx_gov_regex_match(void *pattern, const char *s, size_t len)
{
    ngx_int_t  rc;
    ngx_str_t  value;

    value.data = (u_char *) s;
    value.len = len;

    rc = ngx_regex_exec(pattern, &value, NULL, 0);

    if (rc == NGX_REGEX_NO_MATCHED) {
        return 0;
    }

    return rc >= 0 ? 1 : -1;
}


/* 0 white, 1 on the current path, 2 done */

static ngx_int_t
ngx_gov_cycle_from(ngx_gov_bundles_conf_t *bc, ngx_uint_t item,
    u_char *state, ngx_uint_t *path, ngx_uint_t depth, ngx_uint_t *end)
{
    ngx_uint_t       i;
    ngx_gov_item_t  *items;

    items = bc->items.elts;

    if (state[item] == 2) {
        return NGX_OK;
    }

    if (state[item] == 1) {
        path[depth] = item;
        *end = depth;
        return NGX_DECLINED;
    }

    state[item] = 1;
    path[depth] = item;

    for (i = 0; i < items[item].depends.nelts; i++) {
        if (ngx_gov_cycle_from(bc, items[item].depends_idx[i], state, path,
                               depth + 1, end)
            == NGX_DECLINED)
        {
            return NGX_DECLINED;
        }
    }

    state[item] = 2;

    return NGX_OK;
}


char *
ngx_gov_bundles_init_conf(ngx_conf_t *cf, ngx_gov_bundles_conf_t *bc)
{
    ngx_uint_t         i;
    ngx_gov_item_t    *items;
    ngx_gov_bundle_t  *bundles;

    items = bc->items.elts;
    bundles = bc->bundles.elts;

    if (bc->dispatch_timeout == NGX_CONF_UNSET_MSEC) {
        bc->dispatch_timeout = 5000;
    }

    ngx_conf_init_value(bc->legacy_signatures, 0);

    for (i = 0; i < bc->items.nelts; i++) {
        if (ngx_gov_resolve_item(cf, bc, &items[i]) != NGX_OK) {
            return NGX_CONF_ERROR;
        }
    }

    if (ngx_gov_check_cycles(cf, bc) != NGX_OK) {
        return NGX_CONF_ERROR;
    }

    for (i = 0; i < bc->bundles.nelts; i++) {
        if (ngx_gov_resolve_bundle(cf, bc, &bundles[i]) != NGX_OK
            || ngx_gov_bundle_spec(cf, bc, &bundles[i]) != NGX_OK
            || ngx_gov_build_guide(cf, bc, &bundles[i]) != NGX_OK)
        {
            return NGX_CONF_ERROR;
        }
    }

    if (ngx_gov_build_list(cf, bc) != NGX_OK) {
        return NGX_CONF_ERROR;
    }

    return NGX_CONF_OK;
}


/* an item's materials, fields and depends must exist: their indexes */

static ngx_int_t
ngx_gov_resolve_item(ngx_conf_t *cf, ngx_gov_bundles_conf_t *bc,
    ngx_gov_item_t *it)
{
    it->material_idx = ngx_gov_resolve_ids(cf, &it->file, it->line,
                                           "item", &it->id, &it->materials,
                                           &bc->materials,
                                           sizeof(ngx_gov_material_t),
                                           "names unknown material");
    it->field_idx = ngx_gov_resolve_ids(cf, &it->file, it->line, "item",
                                        &it->id, &it->fields, &bc->fields,
                                        sizeof(ngx_gov_field_t),
                                        "names unknown field");
    it->depends_idx = ngx_gov_resolve_ids(cf, &it->file, it->line, "item",
                                          &it->id, &it->depends, &bc->items,
                                          sizeof(ngx_gov_item_t),
                                          "depends on unknown item");

    if (it->material_idx == NULL || it->field_idx == NULL
        || it->depends_idx == NULL)
    {
        return NGX_ERROR;
    }

    return NGX_OK;
}


/*
 * The index in "all" (elements of "size" bytes, each starting with its id)
 * of every id in "ids"; NULL after an error naming the first unknown one
 * and its owner (the item or bundle "name", configured at file:line).
 */

static ngx_uint_t *
ngx_gov_resolve_ids(ngx_conf_t *cf, ngx_str_t *file, ngx_uint_t line,
    char *kind, ngx_str_t *name, ngx_array_t *ids, ngx_array_t *all,
    size_t size, char *unknown)
{
    ngx_int_t    k;
    ngx_str_t   *id;
    ngx_uint_t   j, *idx;

    idx = ngx_palloc(cf->pool, (ids->nelts + 1) * sizeof(ngx_uint_t));
    if (idx == NULL) {
        return NULL;
    }

    id = ids->elts;

    for (j = 0; j < ids->nelts; j++) {
        k = ngx_gov_find(all, size, &id[j]);
        if (k == NGX_ERROR) {
            ngx_gov_conf_error(file, line, "%s \"%V\" %s \"%V\"", kind,
                               name, unknown, &id[j]);
            return NULL;
        }

        idx[j] = k;
    }

    return idx;
}


/* no dependency cycles: the first one found is named in full */

static ngx_int_t
ngx_gov_check_cycles(ngx_conf_t *cf, ngx_gov_bundles_conf_t *bc)
{
    u_char          *state, *p;
    ngx_str_t        cycle;
    ngx_uint_t       i, j, n, m, *path;
    ngx_gov_item_t  *items, *it;

    if (bc->items.nelts == 0) {
        return NGX_OK;
    }

    items = bc->items.elts;

    state = ngx_pcalloc(cf->temp_pool, bc->items.nelts);
    path = ngx_palloc(cf->temp_pool,
                      (bc->items.nelts + 1) * sizeof(ngx_uint_t));
    if (state == NULL || path == NULL) {
        return NGX_ERROR;
    }

    for (i = 0; i < bc->items.nelts; i++) {
        if (ngx_gov_cycle_from(bc, i, state, path, 0, &n) != NGX_DECLINED) {
            continue;
        }

        /* path[n] is on the path already: the cycle starts there */

        for (m = 0; path[m] != path[n]; m++) {
            /* void */
        }

        cycle.data = ngx_pnalloc(cf->temp_pool, 4096);
        if (cycle.data == NULL) {
            return NGX_ERROR;
        }

        p = cycle.data;

        for (j = m; j <= n; j++) {
            p = ngx_snprintf(p, cycle.data + 4096 - p, "%s%V",
                             j > m ? " -> " : "", &items[path[j]].id);
        }

        cycle.len = p - cycle.data;

        it = &items[path[n]];

        ngx_gov_conf_error(&it->file, it->line, "dependency cycle: %V",
                           &cycle);
        return NGX_ERROR;
    }

    return NGX_OK;
}


/* a bundle's items must exist, and their depends stay inside the bundle */

static ngx_int_t
ngx_gov_resolve_bundle(ngx_conf_t *cf, ngx_gov_bundles_conf_t *bc,
    ngx_gov_bundle_t *b)
{
    ngx_uint_t       j, n, m;
    ngx_gov_item_t  *items, *it;

    items = bc->items.elts;

    b->item_idx = ngx_gov_resolve_ids(cf, &b->file, b->line, "bundle",
                                      &b->id, &b->items, &bc->items,
                                      sizeof(ngx_gov_item_t),
                                      "names unknown item");
    if (b->item_idx == NULL) {
        return NGX_ERROR;
    }

    for (j = 0; j < b->items.nelts; j++) {
        it = &items[b->item_idx[j]];

        if (it->status.len) {
            b->asks = 1;
        }

        for (n = 0; n < it->depends.nelts; n++) {
            for (m = 0; m < b->items.nelts; m++) {
                if (b->item_idx[m] == it->depends_idx[n]) {
                    break;
                }
            }

            if (m == b->items.nelts) {
                ngx_gov_conf_error(&b->file, b->line,
                                   "item \"%V\" of bundle \"%V\" depends "
                                   "on \"%V\", which the bundle does not "
                                   "include", &it->id, &b->id,
                                   &items[it->depends_idx[n]].id);
                return NGX_ERROR;
            }
        }
    }

    return ngx_gov_resolve_whens(cf, bc, b);
}


/*
 * Each item of the bundle: the situation that includes it (-1: always).
 * A situation names a defined field and items of the bundle, an item is
 * in one situation at most, and an item is never left waiting for one a
 * situation may leave out.
 */

static ngx_int_t
ngx_gov_resolve_whens(ngx_conf_t *cf, ngx_gov_bundles_conf_t *bc,
    ngx_gov_bundle_t *b)
{
    ngx_int_t        f, m;
    ngx_str_t       *ids;
    ngx_uint_t       i, j, k, n;
    ngx_gov_item_t  *items, *it;
    ngx_gov_when_t  *w;

    items = bc->items.elts;

    b->item_when = ngx_palloc(cf->pool, b->items.nelts * sizeof(ngx_int_t));
    if (b->item_when == NULL) {
        return NGX_ERROR;
    }

    for (j = 0; j < b->items.nelts; j++) {
        b->item_when[j] = -1;
    }

    w = b->whens.elts;

    for (i = 0; i < b->whens.nelts; i++) {
        f = ngx_gov_find(&bc->fields, sizeof(ngx_gov_field_t), &w[i].field);

        if (f == NGX_ERROR) {
            ngx_gov_conf_error(&w[i].file, w[i].line,
                               "\"when\" of bundle \"%V\" names unknown "
                               "field \"%V\"", &b->id, &w[i].field);
            return NGX_ERROR;
        }

        w[i].field_idx = (ngx_uint_t) f;
        ids = w[i].items.elts;

        for (k = 0; k < w[i].items.nelts; k++) {
            m = ngx_gov_find(&bc->items, sizeof(ngx_gov_item_t), &ids[k]);

            for (j = 0; m != NGX_ERROR && j < b->items.nelts; j++) {
                if (b->item_idx[j] == (ngx_uint_t) m) {
                    break;
                }
            }

            if (m == NGX_ERROR || j == b->items.nelts) {
                ngx_gov_conf_error(&w[i].file, w[i].line,
                                   "\"when\" of bundle \"%V\" names "
                                   "unknown item \"%V\"", &b->id, &ids[k]);
                return NGX_ERROR;
            }

            if (b->item_when[j] != -1) {
                ngx_gov_conf_error(&w[i].file, w[i].line,
                                   "item \"%V\" is in two situations of "
                                   "bundle \"%V\"", &ids[k], &b->id);
                return NGX_ERROR;
            }

            b->item_when[j] = (ngx_int_t) i;
        }
    }

    /* what an item depends on is there whenever the item is */

    for (j = 0; j < b->items.nelts; j++) {
        it = &items[b->item_idx[j]];

        for (n = 0; n < it->depends.nelts; n++) {
            for (k = 0; k < b->items.nelts; k++) {
                if (b->item_idx[k] == it->depends_idx[n]) {
                    break;
                }
            }

            if (b->item_when[k] != -1 && b->item_when[k] != b->item_when[j]) {
                w = b->whens.elts;
                ngx_gov_conf_error(&w[b->item_when[k]].file,
                                   w[b->item_when[k]].line,
                                   "item \"%V\" of bundle \"%V\" depends "
                                   "on \"%V\", which the situation \"%V\" "
                                   "may leave out", &it->id, &b->id,
                                   &items[it->depends_idx[n]].id,
                                   &w[b->item_when[k]].field);
                return NGX_ERROR;
            }
        }
    }

    return NGX_OK;
}


/* what the validator checks: the fields and materials of all the items */

static ngx_int_t
ngx_gov_bundle_spec(ngx_conf_t *cf, ngx_gov_bundles_conf_t *bc,
    ngx_gov_bundle_t *b)
{
    ngx_uint_t           k;
    ngx_gov_field_t     *fields;
    gov_app_field_t     *af;
    ngx_gov_material_t  *materials;
    gov_app_material_t  *am;

    fields = bc->fields.elts;
    materials = bc->materials.elts;

    b->app_fields = ngx_pcalloc(cf->pool, (bc->fields.nelts + 1)
                                          * sizeof(gov_app_field_t));
    b->app_materials = ngx_pcalloc(cf->pool, (bc->materials.nelts + 1)
                                             * sizeof(gov_app_material_t));
    if (b->app_fields == NULL || b->app_materials == NULL) {
        return NGX_ERROR;
    }

    for (k = 0; k < bc->fields.nelts; k++) {
        if (ngx_gov_bundle_uses(bc, b, 0, k)) {
            af = &b->app_fields[b->napp_fields++];
            af->id = (char *) fields[k].id.data;
            af->required = !fields[k].optional;
            af->pattern = fields[k].regex;
        }
    }

    for (k = 0; k < bc->materials.nelts; k++) {
        if (ngx_gov_bundle_uses(bc, b, 1, k)) {
            am = &b->app_materials[b->napp_materials++];
            am->id = (char *) materials[k].id.data;
            am->elicense = materials[k].elicense;
            am->tolerable = (int) materials[k].tolerable;
        }
    }

    return NGX_OK;
}


/* 1 when some item of the bundle names field (0) or material (1) "k" */

static ngx_uint_t
ngx_gov_bundle_uses(ngx_gov_bundles_conf_t *bc, ngx_gov_bundle_t *b,
    ngx_uint_t material, ngx_uint_t k)
{
    ngx_uint_t       j, n, count, *idx;
    ngx_gov_item_t  *items, *it;
    ngx_gov_when_t  *whens;

    items = bc->items.elts;
    whens = b->whens.elts;

    /* a situation's question is asked of every application */

    for (j = 0; !material && j < b->whens.nelts; j++) {
        if (whens[j].field_idx == k) {
            return 1;
        }
    }

    for (j = 0; j < b->items.nelts; j++) {
        it = &items[b->item_idx[j]];

        idx = material ? it->material_idx : it->field_idx;
        count = material ? it->materials.nelts : it->fields.nelts;

        for (n = 0; n < count; n++) {
            if (idx[n] == k) {
                return 1;
            }
        }
    }

    return 0;
}


/* the match callback the validator calls */

gov_app_match_pt
ngx_gov_bundles_matcher(void)
{
    return ngx_gov_regex_match;
}


static ngx_int_t
ngx_gov_build_guide(ngx_conf_t *cf, ngx_gov_bundles_conf_t *bc,
    ngx_gov_bundle_t *b)
{
    return ngx_gov_json_text(cf->pool, ngx_gov_guide_json(bc, b, NULL), 1,
                             &b->guide);
}


/*
 * The guide (一次告知) for the answers to the bundle's situations given
 * ("answers": {"FIELD":"VALUE"}, may be NULL): the items that apply, an
 * item whose situation is not answered with its "when", and the union of
 * their materials (with needed_by) and fields; "situations" lists the
 * questions.  A new reference.
 */

static json_t *
ngx_gov_guide_json(ngx_gov_bundles_conf_t *bc, ngx_gov_bundle_t *b,
    json_t *answers)
{
    json_t              *doc, *items, *mats, *flds, *o, *deps, *needed, *v;
    json_t              *sits, *wi;
    u_char              *in;
    ngx_int_t            m;
    ngx_uint_t           i, j, n, k, asked;
    ngx_gov_item_t      *it, *all;
    ngx_gov_when_t      *w, *whens;
    ngx_gov_field_t     *fields;
    ngx_gov_material_t  *materials;

    all = bc->items.elts;
    fields = bc->fields.elts;
    materials = bc->materials.elts;
    whens = b->whens.elts;

    in = ngx_alloc(b->items.nelts + 1, ngx_cycle->log);
    if (in == NULL) {
        return NULL;
    }

    items = json_array();
    mats = json_array();
    flds = json_array();

    for (i = 0; i < b->items.nelts; i++) {
        it = &all[b->item_idx[i]];
        w = b->item_when ? (b->item_when[i] < 0 ? NULL
                                                : &whens[b->item_when[i]])
                         : NULL;
        in[i] = 1;
        v = NULL;

        if (w) {
            v = json_object_get(answers, (char *) fields[w->field_idx].id.data);

            if (json_is_string(v)) {
                m = ngx_gov_regex_match(w->regex, json_string_value(v),
                                        json_string_length(v));
                in[i] = (m == 1);

            } else {
                v = NULL;
            }
        }

        if (!in[i]) {
            continue;
        }

        deps = json_array();

        for (j = 0; j < it->depends.nelts; j++) {
            json_array_append_new(deps,
                                  ngx_gov_json_string(
                                      &all[it->depends_idx[j]].id));
        }

        o = json_object();
        json_object_set_new(o, "id", ngx_gov_json_string(&it->id));
        json_object_set_new(o, "name", ngx_gov_json_string(&it->name));
        json_object_set_new(o, "department",
                            ngx_gov_json_string(&it->department));
        json_object_set_new(o, "time_limit", json_integer(it->time_limit));
        json_object_set_new(o, "depends", deps);

        if (w && v == NULL) {
            /* not answered: the condition, for the citizen to see */
            wi = json_object();
            json_object_set_new(wi, "field", ngx_gov_json_string(&w->field));
            json_object_set_new(wi, "pattern",
                                ngx_gov_json_string(&w->pattern));
            json_object_set_new(o, "when", wi);
        }

        json_array_append_new(items, o);
    }

    /* materials: the union over the items, each once, with needed_by */

    for (k = 0; k < bc->materials.nelts; k++) {
        needed = json_array();

        for (i = 0; i < b->items.nelts; i++) {
            it = &all[b->item_idx[i]];

            for (n = 0; in[i] && n < it->materials.nelts; n++) {
                if (it->material_idx[n] == k) {
                    json_array_append_new(needed,
                                          ngx_gov_json_string(&it->id));
                    break;
                }
            }
        }

        if (json_array_size(needed) == 0) {
            json_decref(needed);
            continue;
        }

        o = json_object();
        json_object_set_new(o, "id", ngx_gov_json_string(&materials[k].id));
        json_object_set_new(o, "name",
                            ngx_gov_json_string(&materials[k].name));
        json_object_set_new(o, "elicense",
                            json_boolean(materials[k].elicense));

        if (materials[k].tolerable) {
            /* 容缺受理: how many working days it may come later */
            json_object_set_new(o, "tolerable",
                                json_integer(materials[k].tolerable));
        }

        json_object_set_new(o, "needed_by", needed);
        json_array_append_new(mats, o);
    }

    /* fields: the situations' questions, then those of the items */

    for (k = 0; k < bc->fields.nelts; k++) {
        asked = 0;

        for (j = 0; j < b->whens.nelts; j++) {
            if (whens[j].field_idx == k) {
                asked = 1;
            }
        }

        for (i = 0; !asked && i < b->items.nelts; i++) {
            it = &all[b->item_idx[i]];

            for (n = 0; in[i] && n < it->fields.nelts; n++) {
                if (it->field_idx[n] == k) {
                    asked = 1;
                    break;
                }
            }
        }

        if (!asked) {
            continue;
        }

        o = json_object();
        json_object_set_new(o, "id", ngx_gov_json_string(&fields[k].id));
        json_object_set_new(o, "label", ngx_gov_json_string(&fields[k].label));
        json_object_set_new(o, "pattern", fields[k].pattern.len
                            ? ngx_gov_json_string(&fields[k].pattern)
                            : json_null());
        json_object_set_new(o, "required", json_boolean(!fields[k].optional));
        json_array_append_new(flds, o);
    }

    ngx_free(in);

    doc = json_object();
    json_object_set_new(doc, "id", ngx_gov_json_string(&b->id));
    json_object_set_new(doc, "name", ngx_gov_json_string(&b->name));
    json_object_set_new(doc, "time_limit", json_integer(b->time_limit));
    json_object_set_new(doc, "items", items);
    json_object_set_new(doc, "materials", mats);
    json_object_set_new(doc, "fields", flds);

    if (b->whens.nelts) {
        sits = json_array();

        for (j = 0; j < b->whens.nelts; j++) {
            o = json_object();
            json_object_set_new(o, "field",
                                ngx_gov_json_string(&whens[j].field));
            json_object_set_new(o, "label",
                                ngx_gov_json_string(
                                    &fields[whens[j].field_idx].label));
            json_object_set_new(o, "pattern",
                                ngx_gov_json_string(&whens[j].pattern));

            v = json_object_get(answers,
                                (char *) fields[whens[j].field_idx].id.data);
            json_object_set_new(o, "answer", json_is_string(v)
                                             ? json_incref(v) : json_null());

            needed = json_array();

            for (i = 0; i < b->items.nelts; i++) {
                if (b->item_when[i] == (ngx_int_t) j) {
                    json_array_append_new(needed, ngx_gov_json_string(
                                              &all[b->item_idx[i]].id));
                }
            }

            json_object_set_new(o, "items", needed);
            json_array_append_new(sits, o);
        }

        json_object_set_new(doc, "situations", sits);
    }

    return doc;
}


/* --- an application's own items: its situation --------------------- */


ngx_uint_t
ngx_gov_bundle_choose(ngx_gov_bundles_conf_t *bc, ngx_gov_bundle_t *b,
    json_t *fields, u_char *chosen)
{
    json_t           *v;
    ngx_uint_t        j, n;
    ngx_gov_when_t   *w;
    ngx_gov_field_t  *all;

    all = bc->fields.elts;
    n = 0;

    for (j = 0; j < b->items.nelts; j++) {
        chosen[j] = 1;

        if (b->item_when && b->item_when[j] >= 0) {
            w = &((ngx_gov_when_t *) b->whens.elts)[b->item_when[j]];
            v = json_object_get(fields, (char *) all[w->field_idx].id.data);

            chosen[j] = json_is_string(v)
                        && ngx_gov_regex_match(w->regex,
                                               json_string_value(v),
                                               json_string_length(v))
                           == 1;
        }

        n += chosen[j];
    }

    return n;
}


/*
 * What the validator checks for the items chosen: the situations'
 * fields and the chosen items' fields and materials.  A field or material
 * only the items left out ask for is taken out of "doc" (it is neither
 * refused nor kept).
 */

ngx_int_t
ngx_gov_bundle_spec_for(ngx_pool_t *pool, ngx_gov_bundles_conf_t *bc,
    ngx_gov_bundle_t *b, u_char *chosen, json_t *doc, gov_app_spec_t *spec)
{
    u_char              *keep;
    json_t              *part;
    ngx_uint_t           i, j, n, nf, nm, kept;
    ngx_gov_item_t      *all, *it;
    ngx_gov_when_t      *whens;
    gov_app_field_t     *af;
    gov_app_material_t  *am;

    spec->fields = b->app_fields;
    spec->nfields = b->napp_fields;
    spec->materials = b->app_materials;
    spec->nmaterials = b->napp_materials;
    spec->match = ngx_gov_regex_match;

    if (b->whens.nelts == 0) {
        return NGX_OK;
    }

    all = bc->items.elts;
    whens = b->whens.elts;

    af = ngx_palloc(pool, (b->napp_fields + 1) * sizeof(gov_app_field_t));
    am = ngx_palloc(pool, (b->napp_materials + 1)
                          * sizeof(gov_app_material_t));
    keep = ngx_palloc(pool, bc->fields.nelts + bc->materials.nelts + 1);

    if (af == NULL || am == NULL || keep == NULL) {
        return NGX_ERROR;
    }

    ngx_memzero(keep, bc->fields.nelts + bc->materials.nelts);

    for (j = 0; j < b->whens.nelts; j++) {
        keep[whens[j].field_idx] = 1;
    }

    for (i = 0; i < b->items.nelts; i++) {
        if (!chosen[i]) {
            continue;
        }

        it = &all[b->item_idx[i]];

        for (n = 0; n < it->fields.nelts; n++) {
            keep[it->field_idx[n]] = 1;
        }

        for (n = 0; n < it->materials.nelts; n++) {
            keep[bc->fields.nelts + it->material_idx[n]] = 1;
        }
    }

    nf = 0;
    part = json_object_get(doc, "fields");

    for (i = 0; i < b->napp_fields; i++) {
        kept = 0;

        for (j = 0; j < bc->fields.nelts; j++) {
            if (keep[j] && ngx_strcmp(((ngx_gov_field_t *)
                                       bc->fields.elts)[j].id.data,
                                      b->app_fields[i].id) == 0)
            {
                kept = 1;
                break;
            }
        }

        if (kept) {
            af[nf++] = b->app_fields[i];

        } else if (json_is_object(part)) {
            json_object_del(part, b->app_fields[i].id);
        }
    }

    nm = 0;
    part = json_object_get(doc, "materials");

    for (i = 0; i < b->napp_materials; i++) {
        kept = 0;

        for (j = 0; j < bc->materials.nelts; j++) {
            if (keep[bc->fields.nelts + j]
                && ngx_strcmp(((ngx_gov_material_t *)
                               bc->materials.elts)[j].id.data,
                              b->app_materials[i].id) == 0)
            {
                kept = 1;
                break;
            }
        }

        if (kept) {
            am[nm++] = b->app_materials[i];

        } else if (json_is_object(part)) {
            json_object_del(part, b->app_materials[i].id);
        }
    }

    spec->fields = af;
    spec->nfields = nf;
    spec->materials = am;
    spec->nmaterials = nm;

    return NGX_OK;
}


/* the guide as JSON text for the answers given (NULL: the whole guide) */

ngx_int_t
ngx_gov_bundle_guide(ngx_pool_t *pool, ngx_gov_bundles_conf_t *bc,
    ngx_gov_bundle_t *b, json_t *answers, ngx_str_t *out)
{
    if (answers == NULL || b->whens.nelts == 0) {
        *out = b->guide;
        return NGX_OK;
    }

    return ngx_gov_json_text(pool, ngx_gov_guide_json(bc, b, answers), 1,
                             out);
}


/* the guide as JSON for the answers given; a new reference */

json_t *
ngx_gov_bundle_guide_json(ngx_gov_bundles_conf_t *bc, ngx_gov_bundle_t *b,
    json_t *answers)
{
    if (answers == NULL || b->whens.nelts == 0) {
        return json_loadb((char *) b->guide.data, b->guide.len, 0, NULL);
    }

    return ngx_gov_guide_json(bc, b, answers);
}


static ngx_int_t
ngx_gov_build_list(ngx_conf_t *cf, ngx_gov_bundles_conf_t *bc)
{
    json_t            *doc, *list, *o;
    ngx_uint_t         i;
    ngx_gov_bundle_t  *b;

    list = json_array();
    b = bc->bundles.elts;

    for (i = 0; i < bc->bundles.nelts; i++) {
        o = json_object();
        json_object_set_new(o, "id", ngx_gov_json_string(&b[i].id));
        json_object_set_new(o, "name", ngx_gov_json_string(&b[i].name));
        json_object_set_new(o, "items", json_integer(b[i].items.nelts));
        json_object_set_new(o, "time_limit", json_integer(b[i].time_limit));
        json_array_append_new(list, o);
    }

    doc = json_object();
    json_object_set_new(doc, "bundles", list);

    return ngx_gov_json_text(cf->pool, doc, 1, &bc->list);
}


ngx_gov_bundles_conf_t *
ngx_gov_bc(ngx_http_request_t *r)
{
    ngx_http_gov_main_conf_t  *gmcf;

    gmcf = ngx_http_get_module_main_conf(r, ngx_http_gov_module);

    return &gmcf->bundles;
}


ngx_gov_bundle_t *
ngx_gov_find_bundle(ngx_gov_bundles_conf_t *bc, u_char *id, size_t len)
{
    ngx_uint_t         i;
    ngx_gov_bundle_t  *b;

    b = bc->bundles.elts;

    for (i = 0; i < bc->bundles.nelts; i++) {
        if (b[i].id.len == len && ngx_strncmp(b[i].id.data, id, len) == 0) {
            return &b[i];
        }
    }

    return NULL;
}


/* the bundle of /bundles/ID/...: the handler checked that it exists */

ngx_gov_bundle_t *
ngx_gov_uri_bundle(ngx_http_request_t *r)
{
    u_char     *end;
    ngx_str_t   rest;

    ngx_http_gov_uri_rest(r, &rest);

    end = ngx_strlchr(rest.data, rest.data + rest.len, '/');
    if (end == NULL) {
        end = rest.data + rest.len;
    }

    return ngx_gov_find_bundle(ngx_gov_bc(r), rest.data, end - rest.data);
}


/* the bundle of an application: the code that starts its id */

ngx_gov_bundle_t *
ngx_gov_app_bundle(ngx_gov_bundles_conf_t *bc, ngx_str_t *id)
{
    u_char            *end;
    ngx_uint_t         i;
    ngx_gov_bundle_t  *bundles;

    for (end = id->data; end < id->data + id->len; end++) {
        if (*end >= '0' && *end <= '9') {
            break;
        }
    }

    bundles = bc->bundles.elts;

    for (i = 0; i < bc->bundles.nelts; i++) {
        if (bundles[i].code.len == (size_t) (end - id->data)
            && ngx_strncmp(bundles[i].code.data, id->data,
                           end - id->data) == 0)
        {
            return &bundles[i];
        }
    }

    return NULL;
}


/* 1 when some item of the bundle has a status URI to be asked */

ngx_uint_t
ngx_gov_bundle_asks(ngx_gov_bundles_conf_t *bc, ngx_gov_bundle_t *b)
{
    /* found once, as the bundle's items were resolved */
    return b->asks;
}


/* the answers to the bundle's situations in the query; NULL without any */

json_t *
ngx_gov_bundle_answers(ngx_http_request_t *r, ngx_gov_bundle_t *b)
{
    json_t          *answers;
    ngx_str_t        value;
    ngx_uint_t       i;
    ngx_gov_when_t  *w;

    if (b->whens.nelts == 0 || r->args.len == 0) {
        return NULL;
    }

    answers = json_object();
    w = b->whens.elts;

    for (i = 0; i < b->whens.nelts; i++) {
        /* conf strings end in NUL */
        if (ngx_http_gov_query_arg(r, (char *) w[i].field.data, &value, 0)
            != NGX_OK
            || value.data == NULL)
        {
            continue;
        }

        /* not UTF-8: not an answer */
        json_object_set_new(answers, (char *) w[i].field.data,
                            json_stringn((char *) value.data, value.len));
    }

    if (json_object_size(answers) == 0) {
        json_decref(answers);
        return NULL;
    }

    return answers;
}
