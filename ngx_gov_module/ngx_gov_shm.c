
/*
 * Copyright (C) ngx_gov_module authors
 */


#include <ngx_config.h>
#include <ngx_core.h>

#include "ngx_gov_conf.h"
#include "ngx_gov_shm.h"


typedef struct {
    void                    **addr;
    void                     *block;
    size_t                    size;
} ngx_gov_shm_t;


static ngx_int_t ngx_gov_shm_init(ngx_shm_zone_t *shm_zone, void *data);


ngx_int_t
ngx_gov_shm_add(ngx_conf_t *cf, char *name, size_t size, void **addr)
{
    ngx_str_t        zname;
    ngx_gov_shm_t   *ctx;
    ngx_shm_zone_t  *shm_zone;

    ctx = ngx_pcalloc(cf->pool, sizeof(ngx_gov_shm_t));
    if (ctx == NULL) {
        return NGX_ERROR;
    }

    ctx->addr = addr;
    ctx->size = size;

    zname.data = (u_char *) name;
    zname.len = ngx_strlen(name);

    shm_zone = ngx_shared_memory_add(cf, &zname,
                                     ngx_align(size, ngx_pagesize)
                                     + 8 * ngx_pagesize,
                                     &ngx_http_gov_module);
    if (shm_zone == NULL) {
        return NGX_ERROR;
    }

    if (shm_zone->data) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "gov: shared zone \"%s\" added twice", name);
        return NGX_ERROR;
    }

    shm_zone->init = ngx_gov_shm_init;
    shm_zone->data = ctx;
    shm_zone->noreuse = 0;

    return NGX_OK;
}


static ngx_int_t
ngx_gov_shm_init(ngx_shm_zone_t *shm_zone, void *data)
{
    ngx_gov_shm_t    *ctx, *octx;
    ngx_slab_pool_t  *shpool;

    ctx = shm_zone->data;
    octx = data;

    if (octx && octx->size == ctx->size) {
        /* a reload: keep what the old cycle counted */
        ctx->block = octx->block;
        *ctx->addr = ctx->block;
        return NGX_OK;
    }

    shpool = (ngx_slab_pool_t *) shm_zone->shm.addr;

    if (shm_zone->shm.exists) {
        ctx->block = shpool->data;
        *ctx->addr = ctx->block;
        return NGX_OK;
    }

    ctx->block = ngx_slab_calloc(shpool, ctx->size);
    if (ctx->block == NULL) {
        return NGX_ERROR;
    }

    shpool->data = ctx->block;
    *ctx->addr = ctx->block;

    return NGX_OK;
}
