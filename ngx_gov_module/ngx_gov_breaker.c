
/*
 * Copyright (C) ngx_gov_module authors
 */


/*
 * Circuit breakers.  Every subrequest the module sends (a department's
 * step, a status read-through, a notification, an e-licence check, the
 * identity provider) goes to a target location; each target has a
 * breaker in shared memory, one per node, found by the target's name.
 * After "failures" failures in a row (no answer, or a 5xx) it opens for
 * "open": requests that need the target do without it at once (503 with
 * Retry-After, a step left queued, the 502 page).  Then one probe goes;
 * its success closes the breaker, its failure opens it again.  The moves
 * are core/gov_breaker.c's; here are the slots, the lock and the log.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_gov_conf.h"
#include "ngx_gov_shm.h"
#include "ngx_gov_breaker.h"
#include "gov_breaker.h"


#define NGX_GOV_BREAKER_SLOTS  128
#define NGX_GOV_BREAKER_NAME   104


typedef struct {
    uint32_t                  hash;         /* 0: free */
    uint32_t                  len;
    u_char                    name[NGX_GOV_BREAKER_NAME];
    gov_breaker_t             b;
    ngx_msec_t                said;         /* a failure last logged */
    ngx_uint_t                unsaid;       /* failures not logged since */
} ngx_gov_breaker_slot_t;


typedef struct {
    ngx_atomic_t              lock;
    ngx_atomic_t              full;         /* said that it is full */
    ngx_gov_breaker_slot_t    slot[NGX_GOV_BREAKER_SLOTS];
} ngx_gov_breaker_shm_t;


static ngx_gov_breaker_slot_t *ngx_gov_breaker_find(ngx_log_t *log,
    ngx_str_t *target, ngx_uint_t add);
static ngx_http_gov_main_conf_t *ngx_gov_breaker_conf(void);


static ngx_gov_breaker_shm_t  *ngx_gov_breaker;


ngx_int_t
ngx_gov_breaker_add_zone(ngx_conf_t *cf)
{
    return ngx_gov_shm_add(cf, "ngx_gov_breaker",
                           sizeof(ngx_gov_breaker_shm_t),
                           (void **) &ngx_gov_breaker);
}


char *
ngx_gov_breaker_directive(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_gov_main_conf_t *gmcf = conf;

    ngx_int_t    n;
    ngx_str_t   *value, s;
    ngx_uint_t   i;
    ngx_msec_t   open;

    if (gmcf->breaker_failures != NGX_CONF_UNSET_UINT) {
        return "is duplicate";
    }

    value = cf->args->elts;

    if (cf->args->nelts == 2 && ngx_strcmp(value[1].data, "off") == 0) {
        gmcf->breaker_failures = 0;
        gmcf->breaker_open = NGX_GOV_BREAKER_OPEN_DEFAULT;
        return NGX_CONF_OK;
    }

    gmcf->breaker_failures = NGX_GOV_BREAKER_FAILURES_DEFAULT;
    gmcf->breaker_open = NGX_GOV_BREAKER_OPEN_DEFAULT;

    for (i = 1; i < cf->args->nelts; i++) {

        if (ngx_strncmp(value[i].data, "failures=", 9) == 0) {
            n = ngx_atoi(value[i].data + 9, value[i].len - 9);

            if (n < 1 || n > 1000) {
                ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                                   "invalid breaker \"%V\": failures in a "
                                   "row from 1 to 1000 (\"off\" for no "
                                   "breaker)", &value[i]);
                return NGX_CONF_ERROR;
            }

            gmcf->breaker_failures = n;
            continue;
        }

        if (ngx_strncmp(value[i].data, "open=", 5) == 0) {
            s.data = value[i].data + 5;
            s.len = value[i].len - 5;

            open = ngx_parse_time(&s, 0);

            if (open == (ngx_msec_t) NGX_ERROR || open < 1000
                || open > 3600000)
            {
                ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                                   "invalid breaker \"%V\": an open time "
                                   "from 1s to 1h", &value[i]);
                return NGX_CONF_ERROR;
            }

            gmcf->breaker_open = open;
            continue;
        }

        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid parameter \"%V\": gov_breaker takes "
                           "failures=N and open=TIME, or \"off\"",
                           &value[i]);
        return NGX_CONF_ERROR;
    }

    return NGX_CONF_OK;
}


ngx_int_t
ngx_gov_breaker_ask(ngx_log_t *log, ngx_str_t *target, ngx_uint_t *slot,
    ngx_uint_t *probe, ngx_msec_t *left)
{
    int                        rc;
    uint64_t                   ms;
    ngx_gov_breaker_slot_t    *s;
    ngx_http_gov_main_conf_t  *gmcf;

    *slot = NGX_GOV_BREAKER_NONE;
    *probe = 0;

    gmcf = ngx_gov_breaker_conf();

    if (gmcf == NULL || gmcf->breaker_failures == 0) {
        return NGX_OK;
    }

    s = ngx_gov_breaker_find(log, target, 1);
    if (s == NULL) {
        return NGX_OK;
    }

    *slot = s - ngx_gov_breaker->slot;

    ngx_spinlock(&ngx_gov_breaker->lock, ngx_pid, 1024);

    rc = gov_breaker_ask(&s->b, ngx_current_msec, gmcf->breaker_open, &ms);

    ngx_unlock(&ngx_gov_breaker->lock);

    if (rc == GOV_BREAKER_REFUSE) {
        *left = (ngx_msec_t) ms;
        return NGX_DECLINED;
    }

    if (rc == GOV_BREAKER_PROBE) {
        *probe = 1;

        ngx_log_error(NGX_LOG_NOTICE, log, 0,
                      "gov breaker: \"%V\" half-open, one request tries it",
                      target);
    }

    return NGX_OK;
}


void
ngx_gov_breaker_tell(ngx_log_t *log, ngx_uint_t slot, ngx_uint_t probe,
    ngx_uint_t status)
{
    int                        rc;
    ngx_str_t                  name;
    ngx_uint_t                 ok, failures;
    ngx_gov_breaker_slot_t    *s;
    ngx_http_gov_main_conf_t  *gmcf;

    if (slot == NGX_GOV_BREAKER_NONE || ngx_gov_breaker == NULL) {
        return;
    }

    gmcf = ngx_gov_breaker_conf();
    if (gmcf == NULL) {
        return;
    }

    s = &ngx_gov_breaker->slot[slot];

    /* an answer, even a refusal (4xx), is a target that works */
    ok = (status >= 100 && status < 500);

    ngx_spinlock(&ngx_gov_breaker->lock, ngx_pid, 1024);

    rc = gov_breaker_tell(&s->b, ok, probe, ngx_current_msec,
                          gmcf->breaker_failures, gmcf->breaker_open);
    failures = s->b.failures;

    ngx_unlock(&ngx_gov_breaker->lock);

    name.data = s->name;
    name.len = s->len;

    if (rc == GOV_BREAKER_OPENED) {
        if (probe) {
            ngx_log_error(NGX_LOG_WARN, log, 0,
                          "gov breaker: \"%V\" still fails (status %ui), "
                          "open for %M ms more", &name, status,
                          gmcf->breaker_open);

        } else {
            ngx_log_error(NGX_LOG_WARN, log, 0,
                          "gov breaker: \"%V\" open after %ui failures in "
                          "a row (the last: status %ui): for %M ms it is "
                          "not tried", &name, failures, status,
                          gmcf->breaker_open);
        }

    } else if (rc == GOV_BREAKER_CLOSING) {
        ngx_log_error(NGX_LOG_NOTICE, log, 0,
                      "gov breaker: \"%V\" answered again (status %ui), "
                      "closed", &name, status);
    }
}


ngx_uint_t
ngx_gov_breaker_say(ngx_uint_t slot, u_char *buf, ngx_str_t *more)
{
    ngx_uint_t               unsaid;
    ngx_msec_t               since;
    ngx_gov_breaker_slot_t  *s;

    ngx_str_null(more);
    more->data = buf;

    if (slot == NGX_GOV_BREAKER_NONE || ngx_gov_breaker == NULL) {
        return 1;
    }

    s = &ngx_gov_breaker->slot[slot];

    ngx_spinlock(&ngx_gov_breaker->lock, ngx_pid, 1024);

    since = ngx_current_msec - s->said;

    if (s->said && since < 1000) {
        s->unsaid++;
        ngx_unlock(&ngx_gov_breaker->lock);
        return 0;
    }

    unsaid = s->said ? s->unsaid : 0;
    s->unsaid = 0;
    s->said = ngx_current_msec ? ngx_current_msec : 1;

    ngx_unlock(&ngx_gov_breaker->lock);

    if (unsaid) {
        more->len = ngx_snprintf(buf, NGX_GOV_BREAKER_MORE_LEN,
                                 " (and %ui more in the last %M s)", unsaid,
                                 (since + 999) / 1000)
                    - buf;
    }

    return 1;
}


time_t
ngx_gov_breaker_left(ngx_str_t *target)
{
    uint64_t                   left;
    ngx_gov_breaker_slot_t    *s;

    s = ngx_gov_breaker_find(NULL, target, 0);

    if (s == NULL) {
        return 0;
    }

    left = gov_breaker_left(&s->b, ngx_current_msec);

    return (time_t) ((left + 999) / 1000);
}


ngx_int_t
ngx_gov_breaker_text(ngx_pool_t *pool, ngx_str_t *in, ngx_str_t *out)
{
    u_char                  *p;
    u_char                   used[NGX_GOV_BREAKER_SLOTS];
    size_t                   size;
    ngx_uint_t               i, k, n;
    ngx_str_t                name;
    gov_breaker_t            b[NGX_GOV_BREAKER_SLOTS];
    ngx_gov_breaker_slot_t  *s;

    static const char  *names[4][3] = {
        { "gov_breaker_state", "gauge",
          "The target's circuit breaker: 0 closed, 1 open, 2 half-open "
          "(one probe out)." },
        { "gov_breaker_opened_total", "counter",
          "Times the target's breaker opened (this node)." },
        { "gov_breaker_failures_total", "counter",
          "Requests to the target that got no answer or a 5xx (this "
          "node)." },
        { "gov_breaker_refused_total", "counter",
          "Requests that did without the target, its breaker open (this "
          "node)." }
    };

    *out = *in;

    if (ngx_gov_breaker == NULL) {
        return NGX_OK;
    }

    n = 0;

    ngx_spinlock(&ngx_gov_breaker->lock, ngx_pid, 1024);

    /* a copy: the slots taken now, their figures at one moment */

    for (i = 0; i < NGX_GOV_BREAKER_SLOTS; i++) {
        used[i] = (ngx_gov_breaker->slot[i].hash != 0);

        if (used[i]) {
            b[i] = ngx_gov_breaker->slot[i].b;
            n++;
        }
    }

    ngx_unlock(&ngx_gov_breaker->lock);

    size = in->len + 4 * 256 + 4 * n * (NGX_GOV_BREAKER_NAME + 64);

    out->data = ngx_pnalloc(pool, size);
    if (out->data == NULL) {
        return NGX_ERROR;
    }

    p = ngx_cpymem(out->data, in->data, in->len);

    for (k = 0; k < 4; k++) {
        p = ngx_sprintf(p, "# HELP %s %s\n# TYPE %s %s\n", names[k][0],
                        names[k][2], names[k][0], names[k][1]);

        for (i = 0; i < NGX_GOV_BREAKER_SLOTS; i++) {
            s = &ngx_gov_breaker->slot[i];

            if (!used[i]) {
                continue;
            }

            name.data = s->name;
            name.len = s->len;

            p = ngx_sprintf(p, "%s{target=\"%V\"} %uL\n", names[k][0], &name,
                            k == 0 ? (uint64_t) b[i].state
                            : k == 1 ? b[i].opened
                            : k == 2 ? b[i].failed : b[i].refused);
        }
    }

    out->len = p - out->data;

    return NGX_OK;
}


/*
 * The target's slot: by the CRC32 of its name, the next free one when
 * taken ("add"), NULL when every slot is taken (said once).  Names are
 * URIs of locations: "\"" and "\\" never appear in them (the labels).
 */

static ngx_gov_breaker_slot_t *
ngx_gov_breaker_find(ngx_log_t *log, ngx_str_t *target, ngx_uint_t add)
{
    size_t                   len;
    uint32_t                 hash;
    ngx_uint_t               i, k;
    ngx_gov_breaker_slot_t  *s;

    if (ngx_gov_breaker == NULL) {
        return NULL;
    }

    len = ngx_min(target->len, NGX_GOV_BREAKER_NAME);
    hash = ngx_crc32_short(target->data, target->len) | 1;

    for (k = 0; k < NGX_GOV_BREAKER_SLOTS; k++) {
        i = (hash + k) % NGX_GOV_BREAKER_SLOTS;
        s = &ngx_gov_breaker->slot[i];

        if (s->hash == hash && s->len == len
            && ngx_memcmp(s->name, target->data, len) == 0)
        {
            return s;
        }

        if (s->hash != 0) {
            continue;
        }

        if (!add) {
            return NULL;
        }

        ngx_spinlock(&ngx_gov_breaker->lock, ngx_pid, 1024);

        if (s->hash != 0) {
            /* another worker took it meanwhile: look again */
            ngx_unlock(&ngx_gov_breaker->lock);
            k--;
            continue;
        }

        ngx_memcpy(s->name, target->data, len);
        s->len = len;
        ngx_memory_barrier();
        s->hash = hash;

        ngx_unlock(&ngx_gov_breaker->lock);

        return s;
    }

    if (log && ngx_atomic_cmp_set(&ngx_gov_breaker->full, 0, 1)) {
        ngx_log_error(NGX_LOG_WARN, log, 0,
                      "gov breaker: %d targets already, \"%V\" has none",
                      NGX_GOV_BREAKER_SLOTS, target);
    }

    return NULL;
}


static ngx_http_gov_main_conf_t *
ngx_gov_breaker_conf(void)
{
    if (ngx_gov_breaker == NULL) {
        return NULL;
    }

    return ngx_http_cycle_get_module_main_conf(ngx_cycle,
                                               ngx_http_gov_module);
}
