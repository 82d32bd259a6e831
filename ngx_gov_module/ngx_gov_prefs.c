
/*
 * Copyright (C) ngx_gov_module authors
 */


/*
 * gov_text_size: the text-size switch of every page (适老化), without
 * JavaScript.  GET ?size=m|l|xl&return_to=PATH keeps the size in the
 * GOVTEXT cookie (a year; "m", the standard size, removes it) and sends the
 * browser back to the page it came from (a same-origin path, else "/").
 * The page service reads the cookie when it draws a page.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_gov_answer.h"
#include "ngx_gov_prefs.h"
#include "gov_http.h"


ngx_int_t
ngx_gov_text_size_handler(ngx_http_request_t *r)
{
    ngx_int_t   rc;
    ngx_str_t   size, back, cookie;

    static ngx_str_t  home = ngx_string("/");

    if (!(r->method & (NGX_HTTP_GET|NGX_HTTP_HEAD))) {
        return NGX_HTTP_NOT_ALLOWED;
    }

    rc = ngx_http_discard_request_body(r);
    if (rc != NGX_OK) {
        return rc;
    }

    if (ngx_http_gov_query_arg(r, "size", &size, 0) != NGX_OK
        || ngx_http_gov_query_arg(r, "return_to", &back, 0) != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (size.len == 1 && size.data[0] == 'm') {
        ngx_str_set(&cookie, "GOVTEXT=; Path=/; Max-Age=0; SameSite=Lax");

    } else if (size.len == 1 && size.data[0] == 'l') {
        ngx_str_set(&cookie,
                    "GOVTEXT=l; Path=/; Max-Age=31536000; SameSite=Lax");

    } else if (size.len == 2 && size.data[0] == 'x' && size.data[1] == 'l') {
        ngx_str_set(&cookie,
                    "GOVTEXT=xl; Path=/; Max-Age=31536000; SameSite=Lax");

    } else {
        return ngx_http_gov_error(r, NGX_HTTP_BAD_REQUEST, "invalid_size");
    }

    if (back.len == 0 || !gov_return_to_ok((char *) back.data, back.len)) {
        back = home;
    }

    if (ngx_http_gov_add_header(r, &r->headers_out.headers, "Set-Cookie",
                                &cookie)
        != NGX_OK
        || ngx_http_gov_location(r, &back) != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    back.len = 0;
    back.data = NULL;

    return ngx_http_gov_send(r, NGX_HTTP_SEE_OTHER,
                             &r->headers_out.content_type, &back);
}
