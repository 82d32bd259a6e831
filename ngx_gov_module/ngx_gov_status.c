
/*
 * Copyright (C) ngx_gov_module authors
 */


/*
 * gov_status: every figure of the metrics service, summed over all
 * workers, in the Prometheus text format.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_gov_conf.h"
#include "ngx_gov_metrics.h"
#include "ngx_gov_answer.h"
#include "ngx_gov_breaker.h"
#include "ngx_gov_pcache.h"
#include "ngx_gov_status.h"


ngx_int_t
ngx_http_gov_status_handler(ngx_http_request_t *r)
{
    ngx_int_t                  rc;
    ngx_str_t                  text, all;
    ngx_http_gov_main_conf_t  *gmcf;

    static ngx_str_t  type =
        ngx_string("text/plain; version=0.0.4; charset=utf-8");

    rc = ngx_http_gov_get_only(r);
    if (rc != NGX_OK) {
        return rc;
    }

    gmcf = ngx_http_get_module_main_conf(r, ngx_http_gov_module);

    rc = ngx_gov_metrics_text(r->pool, &gmcf->bundles, &gmcf->events,
                              gmcf->queues, &text);

    if (rc == NGX_DECLINED) {
        return ngx_http_gov_retry_after(r, 1) == NGX_OK
               ? NGX_HTTP_SERVICE_UNAVAILABLE
               : NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (rc != NGX_OK
        || ngx_gov_breaker_text(r->pool, &text, &all) != NGX_OK
        || ngx_gov_pcache_text(r->pool, &all, &text) != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return ngx_http_gov_send(r, NGX_HTTP_OK, &type, &text);
}
