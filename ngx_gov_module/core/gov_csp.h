
/*
 * Copyright (C) ngx_gov_module authors
 *
 * The pages' Content-Security-Policy: the sources that let a template's
 * own <style> blocks in, by their hashes (CSP Level 2), so that nothing
 * inline is allowed wholesale.
 */


#ifndef _GOV_CSP_H_INCLUDED_
#define _GOV_CSP_H_INCLUDED_


#include <stddef.h>

#include "gov_mustache.h"


/*
 * Appends " 'sha256-BASE64'" to "out" for each <style> block of the
 * template text whose content has no tag ("{{"), that is, renders as it
 * is written.  Returns the number of blocks that hold a tag (their hash
 * cannot be known before rendering), or -1 when memory ran out.
 */
int gov_csp_style_hashes(const char *text, size_t len, gov_mbuf_t *out);


#endif /* _GOV_CSP_H_INCLUDED_ */
