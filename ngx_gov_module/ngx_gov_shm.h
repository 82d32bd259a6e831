
/*
 * Copyright (C) ngx_gov_module authors
 *
 * Fixed-size blocks of shared memory that live across reloads: the
 * figures, the id high-water marks and the single-flight locks each own
 * one (ngx_gov_shm.c).
 */


#ifndef _NGX_GOV_SHM_H_INCLUDED_
#define _NGX_GOV_SHM_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>


/*
 * Adds a zone "name" holding "size" zeroed bytes; once shared memory is
 * set up, *addr points to them in every process.  A reload keeps the
 * block of the old cycle.
 */
ngx_int_t ngx_gov_shm_add(ngx_conf_t *cf, char *name, size_t size,
    void **addr);


#endif /* _NGX_GOV_SHM_H_INCLUDED_ */
