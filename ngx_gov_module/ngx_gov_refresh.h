
/*
 * Copyright (C) ngx_gov_module authors
 *
 * Read-through refresh from the items' status URIs (ngx_gov_refresh.c).
 */


#ifndef _NGX_GOV_REFRESH_H_INCLUDED_
#define _NGX_GOV_REFRESH_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_gov_redis.h"

/*
 * asks the departments about "id" unless another worker already does;
 * "doc" is the application as stored (its fields may route a status URI)
 */
void ngx_gov_refresh(ngx_http_request_t *r, ngx_str_t *id,
    redisReply *steps, redisReply *doc);


#endif /* _NGX_GOV_REFRESH_H_INCLUDED_ */
