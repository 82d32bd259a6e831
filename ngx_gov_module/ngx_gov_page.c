
/*
 * Copyright (C) ngx_gov_module authors
 */


/*
 * Pages: every NAME.mustache of gov_templates is compiled when the
 * configuration loads (an error names the file and line) and rendered
 * without parsing again; the templates are each other's partials.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_gov_conf.h"
#include "ngx_gov_answer.h"
#include "ngx_gov_page.h"
#include "gov_mustache.h"
#include "gov_csp.h"


typedef struct {
    ngx_str_t                 name;
    gov_mustache_t           *tpl;
} ngx_gov_template_t;


static const gov_mustache_t *ngx_gov_page_partial(void *ctx,
    const char *name, size_t len);
static void ngx_gov_templates_cleanup(void *data);
static ngx_int_t ngx_gov_page_prefs(ngx_http_request_t *r, json_t *data);
static ngx_int_t ngx_gov_page_headers(ngx_http_request_t *r);


typedef struct {
    const char               *error;
    const char               *title;
    const char               *message;
} ngx_gov_error_text_t;


/* what went wrong, in plain Chinese, by the error code of the JSON answer */

static ngx_gov_error_text_t  ngx_gov_error_texts[] = {
    { "not_found", "没有找到",
      "没有找到您要找的页面或办件。请检查网址或办件编号是否正确；"
      "用查询码查询时，请确认查询码。" },
    { "unknown_bundle", "没有这个事项",
      "没有找到您要办理的事项，请从事项列表中重新选择。" },
    { "too_large", "提交的内容太多",
      "您提交的内容超过了允许的大小，请精简后重新提交。" },
    { "malformed_json", "提交的内容无法识别",
      "请返回上一页，重新填写后再提交。" },
    { "malformed_form", "提交的内容无法识别",
      "请返回上一页，重新填写后再提交。" },
    { "invalid_body", "提交的内容无法识别",
      "请返回上一页，重新填写后再提交。" },
    { "unsupported_media_type", "提交的内容无法识别",
      "请返回上一页，重新填写后再提交。" },
    { "idempotency_key_too_long", "提交的内容无法识别",
      "请刷新申报页面后重新提交。" },
    { "invalid_score", "请选择评价分数",
      "请在 1 到 5 分中选择一个分数（5 分为非常满意），再提交评价。" },
    { "invalid_comment", "评价内容太长",
      "评价内容请不要超过 1000 个字。" },
    { "already_rated", "您已经评价过了",
      "每个办件只能评价一次。感谢您的反馈！" },
    { "not_finished", "暂时还不能评价",
      "所有事项办结后才能评价，请耐心等待。" },
    { "too_many_attempts", "查询次数太多",
      "查询码输错的次数太多。为保护申请人的信息，请过一段时间再试。" },
    { "invalid_state", "登录已经失效",
      "这次登录已经完成过、已经超过 10 分钟，或不是在这个浏览器里开始的。"
      "请回到首页重新登录。" },
    { "idp_unavailable", "统一身份认证平台暂时连不上",
      "暂时无法通过统一身份认证平台登录，请稍后再试。"
      "您的办件和已经提交的材料不受影响。" },
    { "unavailable", "系统繁忙",
      "系统暂时繁忙，请稍等一会儿再试。如果您刚才在提交申报，"
      "这次没有提交成功，请稍后重新提交，已填写的内容不会计入。" },
    { NULL, NULL, NULL }
};

static ngx_gov_error_text_t  ngx_gov_error_4xx = { "bad_request",
    "请求有误", "请返回上一页，检查后重新操作。" };

static ngx_gov_error_text_t  ngx_gov_error_5xx = { "internal",
    "系统出错了", "很抱歉，系统出现了问题，请稍后再试。" };


static ngx_str_t  ngx_gov_html_type = ngx_string("text/html; charset=utf-8");


#define NGX_GOV_CSP_HEAD                                                     \
    "default-src 'self'; script-src 'self'; style-src 'self'"
#define NGX_GOV_CSP_TAIL                                                     \
    "; img-src 'self' data:; object-src 'none'; base-uri 'none'; "           \
    "frame-ancestors 'none'; form-action 'self'"

#define NGX_GOV_PERMISSIONS                                                  \
    "camera=(), microphone=(), geolocation=(), payment=(), usb=()"


static void
ngx_gov_templates_cleanup(void *data)
{
    ngx_array_t  *a = data;

    ngx_uint_t           i;
    ngx_gov_template_t  *t;

    t = a->elts;

    for (i = 0; i < a->nelts; i++) {
        gov_mustache_free(t[i].tpl);
    }
}


char *
ngx_gov_templates_directive(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_gov_main_conf_t *gmcf = conf;

    char                 err[256];
    u_char              *buf;
    size_t               line, len;
    ssize_t              n;
    ngx_fd_t             fd;
    ngx_dir_t            dir;
    ngx_int_t            rc;
    ngx_str_t           *value, path, file;
    ngx_uint_t           tagged;
    gov_mbuf_t           styles;
    ngx_pool_cleanup_t  *cln;
    ngx_gov_template_t  *t;

    if (gmcf->templates) {
        return "is duplicate";
    }

    ngx_memzero(&styles, sizeof(gov_mbuf_t));
    tagged = 0;

    value = cf->args->elts;
    path = value[1];

    if (ngx_conf_full_name(cf->cycle, &path, 1) != NGX_OK) {
        return NGX_CONF_ERROR;
    }

    gmcf->templates = ngx_array_create(cf->pool, 8,
                                       sizeof(ngx_gov_template_t));
    if (gmcf->templates == NULL) {
        return NGX_CONF_ERROR;
    }

    cln = ngx_pool_cleanup_add(cf->pool, 0);
    if (cln == NULL) {
        return NGX_CONF_ERROR;
    }

    cln->handler = ngx_gov_templates_cleanup;
    cln->data = gmcf->templates;

    if (ngx_open_dir(&path, &dir) == NGX_ERROR) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, ngx_errno,
                           "cannot open templates folder \"%V\"", &path);
        return NGX_CONF_ERROR;
    }

    for ( ;; ) {
        ngx_set_errno(0);

        if (ngx_read_dir(&dir) == NGX_ERROR) {
            break;
        }

        len = ngx_de_namelen(&dir);

        if (len <= 9 || ngx_strncmp(ngx_de_name(&dir) + len - 9, ".mustache",
                                    9) != 0)
        {
            continue;
        }

        file.len = path.len + 1 + len;
        file.data = ngx_pnalloc(cf->temp_pool, file.len + 1);
        if (file.data == NULL) {
            goto failed;
        }

        ngx_sprintf(file.data, "%V/%s%Z", &path, ngx_de_name(&dir));

        fd = ngx_open_file(file.data, NGX_FILE_RDONLY, NGX_FILE_OPEN, 0);
        if (fd == NGX_INVALID_FILE) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, ngx_errno,
                               "cannot open template \"%V\"", &file);
            goto failed;
        }

        buf = ngx_pnalloc(cf->temp_pool, 256 * 1024);
        n = buf ? ngx_read_fd(fd, buf, 256 * 1024) : -1;
        (void) ngx_close_file(fd);

        if (n < 0 || n == 256 * 1024) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, ngx_errno,
                               "cannot read template \"%V\" (at most 256k)",
                               &file);
            goto failed;
        }

        t = ngx_array_push(gmcf->templates);
        if (t == NULL) {
            goto failed;
        }

        t->name.len = len - 9;
        t->name.data = ngx_pnalloc(cf->pool, t->name.len);
        if (t->name.data == NULL) {
            goto failed;
        }

        ngx_memcpy(t->name.data, ngx_de_name(&dir), t->name.len);

        rc = gov_csp_style_hashes((char *) buf, (size_t) n, &styles);
        if (rc < 0) {
            goto failed;
        }

        if (rc > 0) {
            ngx_conf_log_error(NGX_LOG_WARN, cf, 0,
                               "a <style> of template \"%V\" has a tag: "
                               "the pages' Content-Security-Policy allows "
                               "inline styles ('unsafe-inline')", &file);
            tagged = 1;
        }

        t->tpl = gov_mustache_compile((char *) buf, (size_t) n, err,
                                      sizeof(err), &line);
        if (t->tpl == NULL) {
            gmcf->templates->nelts--;
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "template error in %V:%uz: %s", &file, line,
                               err);
            goto failed;
        }
    }

    (void) ngx_close_dir(&dir);

    /* the pages' policy: their own <style> blocks in by hash, else none */

    if (tagged) {
        styles.len = 0;

        if (gov_mbuf_append(&styles, " 'unsafe-inline'", 16) != 0) {
            gov_mbuf_free(&styles);
            return NGX_CONF_ERROR;
        }
    }

    gmcf->csp.len = sizeof(NGX_GOV_CSP_HEAD) - 1 + styles.len
                    + sizeof(NGX_GOV_CSP_TAIL) - 1;
    gmcf->csp.data = ngx_pnalloc(cf->pool, gmcf->csp.len);
    if (gmcf->csp.data == NULL) {
        gov_mbuf_free(&styles);
        return NGX_CONF_ERROR;
    }

    ngx_sprintf(gmcf->csp.data, NGX_GOV_CSP_HEAD "%*s" NGX_GOV_CSP_TAIL,
                styles.len, styles.data);
    gov_mbuf_free(&styles);

    return NGX_CONF_OK;

failed:

    gov_mbuf_free(&styles);
    (void) ngx_close_dir(&dir);

    return NGX_CONF_ERROR;
}


/*
 * The headers of a page: its policy (nothing but the portal's own, no
 * script at all, never in a frame), no Referer where a query code is in
 * the address (the portal's own pages only elsewhere), and no powerful
 * feature.
 */

static ngx_int_t
ngx_gov_page_headers(ngx_http_request_t *r)
{
    ngx_str_t                  v, code;
    ngx_http_gov_loc_conf_t   *glcf;
    ngx_http_gov_main_conf_t  *gmcf;

    glcf = ngx_http_get_module_loc_conf(r, ngx_http_gov_module);

    if (!glcf->security_headers || r != r->main) {
        return NGX_OK;
    }

    gmcf = ngx_http_get_module_main_conf(r, ngx_http_gov_module);

    if (ngx_http_gov_add_header(r, &r->headers_out.headers,
                                "Content-Security-Policy", &gmcf->csp)
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    ngx_str_set(&v, "DENY");

    if (ngx_http_gov_add_header(r, &r->headers_out.headers,
                                "X-Frame-Options", &v)
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    if (ngx_http_arg(r, (u_char *) "code", 4, &code) == NGX_OK) {
        ngx_str_set(&v, "no-referrer");

    } else {
        ngx_str_set(&v, "same-origin");
    }

    if (ngx_http_gov_add_header(r, &r->headers_out.headers,
                                "Referrer-Policy", &v)
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    ngx_str_set(&v, NGX_GOV_PERMISSIONS);

    return ngx_http_gov_add_header(r, &r->headers_out.headers,
                                   "Permissions-Policy", &v);
}


static const gov_mustache_t *
ngx_gov_page_partial(void *ctx, const char *name, size_t len)
{
    ngx_array_t  *a = ctx;

    ngx_uint_t           i;
    ngx_gov_template_t  *t;

    t = a->elts;

    for (i = 0; i < a->nelts; i++) {
        if (t[i].name.len == len && ngx_strncmp(t[i].name.data, name, len)
                                    == 0)
        {
            return t[i].tpl;
        }
    }

    return NULL;
}


/*
 * Renders page "name" with "data" (the reference is taken) and sends it;
 * NGX_DECLINED when there is no such template (the caller answers JSON).
 */

ngx_int_t
ngx_http_gov_page(ngx_http_request_t *r, ngx_uint_t status, const char *name,
    json_t *data)
{
    ngx_int_t                  rc;
    ngx_str_t                  body;
    gov_mbuf_t                 out;
    const gov_mustache_t      *tpl;
    ngx_http_gov_main_conf_t  *gmcf;

    gmcf = ngx_http_get_module_main_conf(r, ngx_http_gov_module);

    if (gmcf->templates == NULL || data == NULL) {
        json_decref(data);
        return NGX_DECLINED;
    }

    tpl = ngx_gov_page_partial(gmcf->templates, name, ngx_strlen(name));
    if (tpl == NULL) {
        json_decref(data);
        return NGX_DECLINED;
    }

    if (json_is_object(data) && ngx_gov_page_prefs(r, data) != NGX_OK) {
        json_decref(data);
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ngx_memzero(&out, sizeof(gov_mbuf_t));

    rc = gov_mustache_render(tpl, data, ngx_gov_page_partial, gmcf->templates,
                             &out);
    json_decref(data);

    if (rc != 0) {
        gov_mbuf_free(&out);
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    body.len = out.len;
    body.data = ngx_pnalloc(r->pool, out.len);
    if (body.data == NULL) {
        gov_mbuf_free(&out);
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ngx_memcpy(body.data, out.data, out.len);
    gov_mbuf_free(&out);

    if (ngx_gov_page_headers(r) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return ngx_http_gov_send(r, status, &ngx_gov_html_type, &body);
}


/*
 * What every page's header needs: the text size the citizen chose (the
 * GOVTEXT cookie, "l" or "xl"; gov_text_size sets it) and this page's
 * address, escaped for the switch's return_to ("/" for the answer to a
 * POST).
 */

static ngx_int_t
ngx_gov_page_prefs(ngx_http_request_t *r, json_t *data)
{
    size_t      len;
    u_char     *here;
    ngx_str_t   value;
    const char *size;

    static ngx_str_t  name = ngx_string("GOVTEXT");

    size = "m";

    if (ngx_http_parse_multi_header_lines(&r->headers_in.cookies, &name,
                                          &value)
        != NGX_DECLINED)
    {
        if (value.len == 1 && value.data[0] == 'l') {
            size = "l";

        } else if (value.len == 2 && ngx_strncmp(value.data, "xl", 2) == 0) {
            size = "xl";
        }
    }

    if (size[0] != 'm'
        && json_object_set_new(data, "text_size", json_string(size)) != 0)
    {
        return NGX_ERROR;
    }

    if (json_object_set_new(data, size[0] == 'm' ? "text_m"
                                  : size[0] == 'l' ? "text_l" : "text_xl",
                            json_true())
        != 0)
    {
        return NGX_ERROR;
    }

    if (!(r->method & (NGX_HTTP_GET|NGX_HTTP_HEAD))) {
        /* the answer to a form: its address takes no GET, home does */
        return json_object_set_new(data, "here", json_string("/")) == 0
               ? NGX_OK : NGX_ERROR;
    }

    len = r->uri.len + 2 * ngx_escape_uri(NULL, r->uri.data, r->uri.len,
                                          NGX_ESCAPE_ARGS);
    here = ngx_pnalloc(r->pool, len);
    if (here == NULL) {
        return NGX_ERROR;
    }

    (void) ngx_escape_uri(here, r->uri.data, r->uri.len, NGX_ESCAPE_ARGS);

    return json_object_set_new(data, "here",
                               json_stringn((char *) here, len)) == 0
           ? NGX_OK : NGX_ERROR;
}


/*
 * The error page for a browser: what went wrong in plain Chinese;
 * NGX_DECLINED without an "error" template (the caller answers JSON).
 */

ngx_int_t
ngx_http_gov_error_page(ngx_http_request_t *r, ngx_uint_t status,
    const char *error)
{
    json_t                *data;
    ngx_gov_error_text_t  *t;

    for (t = ngx_gov_error_texts; t->error; t++) {
        if (ngx_strcmp(t->error, error) == 0) {
            break;
        }
    }

    if (t->error == NULL) {
        t = (status >= NGX_HTTP_INTERNAL_SERVER_ERROR) ? &ngx_gov_error_5xx
                                                       : &ngx_gov_error_4xx;
    }

    data = json_pack("{s:s,s:s,s:i,s:s}", "title", t->title,
                     "message", t->message, "status", (int) status,
                     "error", error);

    return ngx_http_gov_page(r, status, "error", data);
}
