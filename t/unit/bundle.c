
/*
 * Copyright (C) ngx_gov_module authors
 *
 * Unit tests of the working-day calendar, the step state machine, callback
 * signatures and application validation.
 */


#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "tap.h"
#include "gov_app.h"
#include "gov_calendar.h"
#include "gov_date.h"
#include "gov_sig.h"
#include "gov_state.h"


#define D(y, m, d)  gov_day_from_civil(y, m, d)


static const char *
ymd(int day)
{
    static char  buf[4][16];
    static int   n;
    int          y, m, d;

    gov_civil_from_day(day, &y, &m, &d);
    n = (n + 1) % 4;
    snprintf(buf[n], sizeof(buf[n]), "%04d-%02d-%02d", y, m, d);

    return buf[n];
}


static char *
slurp(const char *path, size_t *len)
{
    FILE  *f;
    char  *buf;
    long   n;

    f = fopen(path, "rb");
    if (f == NULL) {
        return NULL;
    }

    fseek(f, 0, SEEK_END);
    n = ftell(f);
    fseek(f, 0, SEEK_SET);
    buf = malloc(n + 1);
    *len = fread(buf, 1, n, f);
    buf[*len] = '\0';
    fclose(f);

    return buf;
}


/* a pattern is a required prefix here */
static int
match_prefix(void *pattern, const char *s, size_t len)
{
    size_t  n = strlen(pattern);

    return len >= n && memcmp(s, pattern, n) == 0;
}


static int
validate(const char *json, char *out, size_t size)
{
    int     rc;
    char   *dump;
    json_t *doc, *problems;

    static const gov_app_field_t  fields[] = {
        { "name", 1, NULL },
        { "id_number", 1, "11" },
        { "phone", 0, NULL },
    };

    static const gov_app_material_t  materials[] = {
        { "birth_cert", 1, 0 },
        { "photo", 0, 0 },
    };

    gov_app_spec_t  spec = { fields, 3, materials, 2, match_prefix };

    doc = json_loads(json, 0, NULL);
    rc = gov_app_validate(&spec, doc, &problems);
    json_decref(doc);

    out[0] = '\0';

    if (problems) {
        dump = json_dumps(problems, JSON_COMPACT | JSON_SORT_KEYS);
        snprintf(out, size, "%s", dump);
        free(dump);
        json_decref(problems);
    }

    return rc;
}


/* promises against a spec with tolerable materials ("" : valid) */
static const char *
promised(const char *json, int which)
{
    char         *dump;
    json_t       *doc, *problems, *out;
    static char   buf[1024];

    static const gov_app_field_t  fields[] = { { "name", 0, NULL } };

    static const gov_app_material_t  materials[] = {
        { "photo", 0, 3 }, { "id_card", 0, 0 }, { "book", 1, 5 },
    };

    gov_app_spec_t  spec = { fields, 1, materials, 3, NULL };

    doc = json_loads(json, 0, NULL);
    problems = NULL;
    out = NULL;

    if (which == 0) {
        (void) gov_app_validate(&spec, doc, &problems);
        out = problems;

    } else if (which == 1) {
        out = gov_app_promised(&spec, doc);

    } else {
        problems = json_loads("[\"photo\",\"book\"]", 0, NULL);
        (void) gov_app_supply_check(problems, doc, &out);
        json_decref(problems);
    }

    json_decref(doc);
    buf[0] = '\0';

    if (out) {
        dump = json_dumps(out, JSON_COMPACT | JSON_SORT_KEYS
                               | JSON_ENCODE_ANY);
        snprintf(buf, sizeof(buf), "%s", dump);
        free(dump);
        json_decref(out);
    }

    return buf;
}


static void
promise_tests(void)
{
    is_str(promised("{\"materials\":{\"id_card\":\"R\"},"
                    "\"promises\":[\"photo\",\"book\"]}", 0), "",
           "tolerable materials promised are not missing");
    is_str(promised("{\"materials\":{\"id_card\":\"R\"}}", 0),
           "{\"error\":\"invalid_application\",\"invalid\":[],"
           "\"missing\":[\"photo\",\"book\"]}",
           "without a promise they are");
    is_str(promised("{\"materials\":{},\"promises\":[\"id_card\",\"x\",1,"
                    "\"photo\",\"book\"]}", 0),
           "{\"error\":\"invalid_application\",\"invalid\":["
           "{\"id\":\"id_card\",\"reason\":\"not_tolerable\"},"
           "{\"id\":\"x\",\"reason\":\"unknown_material\"},"
           "{\"id\":\"promises\",\"reason\":\"not_a_string\"}],"
           "\"missing\":[\"id_card\"]}",
           "promises of what may not wait, of nothing, not a string");
    is_str(promised("{\"materials\":{\"id_card\":\"R\",\"photo\":\"P\","
                    "\"book\":\"B\"},\"promises\":{}}", 0),
           "{\"error\":\"invalid_application\",\"invalid\":["
           "{\"id\":\"promises\",\"reason\":\"not_an_array\"}],"
           "\"missing\":[]}", "promises not an array");

    is_str(promised("{\"materials\":{\"photo\":\"P\"},"
                    "\"promises\":[\"book\",\"photo\",\"book\"]}", 1),
           "[\"book\"]",
           "kept: once each, given ones dropped, in the spec's order");
    is_str(promised("{\"materials\":{}}", 1), "[]", "no promise: none");

    is_str(promised("{\"materials\":{\"photo\":\"P\"}}", 2), "",
           "a supplement of a pending material");
    is_str(promised("{\"materials\":{}}", 2),
           "{\"error\":\"invalid_supplement\",\"invalid\":[],"
           "\"missing\":[\"photo\",\"book\"]}",
           "nothing supplied: the pending ones missing");
    is_str(promised("{\"materials\":{\"id_card\":\"x\",\"photo\":"
                    "\"elicense\",\"book\":\"\"}}", 2),
           "{\"error\":\"invalid_supplement\",\"invalid\":["
           "{\"id\":\"id_card\",\"reason\":\"not_promised\"},"
           "{\"id\":\"photo\",\"reason\":\"elicense_not_allowed\"},"
           "{\"id\":\"book\",\"reason\":\"not_a_string\"}],"
           "\"missing\":[]}",
           "not promised, an e-licence, an empty reference");
    is_str(promised("{\"materials\":[1]}", 2),
           "{\"error\":\"invalid_supplement\",\"invalid\":["
           "{\"id\":\"materials\",\"reason\":\"not_an_object\"}],"
           "\"missing\":[]}", "materials not an object");
}


static int
cbparse(const char *body, gov_callback_t *cb)
{
    return gov_callback_parse(body, strlen(body), cb);
}


/* the form text as the JSON validation takes it, keys sorted ("" : NULL) */
static const char *
form(const char *text)
{
    char         *dump;
    json_t       *doc;
    static char   out[1024];

    doc = gov_app_from_form(text, strlen(text));
    if (doc == NULL) {
        return "";
    }

    dump = json_dumps(doc, JSON_COMPACT | JSON_SORT_KEYS);
    snprintf(out, sizeof(out), "%s", dump);
    free(dump);
    json_decref(doc);

    return out;
}


int
main(void)
{
    int             i, j, rc, legal, y, m, d;
    char            err[256], out[1024], sig[72];
    size_t          len, line;
    char           *text;
    long long       ts;
    gov_calendar_t  cal;

    /* --- dates ------------------------------------------------------------ */

    is_int(D(1970, 1, 1), 0, "day 0 is 1970-01-01");
    is_str(ymd(D(2026, 11, 25)), "2026-11-25", "round trip");
    is_str(ymd(D(2028, 2, 29)), "2028-02-29", "leap day");
    is_int(gov_weekday(D(2026, 11, 25)), 3, "2026-11-25 is a Wednesday");
    is_int(gov_weekday(D(1969, 12, 31)), 3, "1969-12-31 was a Wednesday");

    for (i = D(1999, 1, 1); i < D(2031, 1, 1); i++) {
        gov_civil_from_day(i, &y, &m, &d);
        if (D(y, m, d) != i) {
            break;
        }
    }

    is_int(i, D(2031, 1, 1), "civil dates round trip 1999..2030");

    /* --- the calendar file ---------------------------------------------- */

    text = slurp("../shared/data/calendar/cn-2026.txt", &len);
    if (text == NULL) {
        text = slurp("conf/calendar/cn-2026.txt", &len);
    }

    ok(text != NULL, "the 2026 calendar is readable");

    rc = gov_calendar_parse(&cal, text, len, &line, err, sizeof(err));
    is_int(rc, 0, "the official 2026 calendar parses: %s", rc ? err : "");
    is_int(cal.ndays, 39, "39 listed days");
    free(text);

    /* the contract's example: 5 working days from Wednesday 2026-11-25 */
    is_str(ymd(gov_calendar_add(&cal, D(2026, 11, 25), 5)), "2026-12-02",
           "5 working days after 2026-11-25 is 2026-12-02");

    is_str(ymd(gov_calendar_add(&cal, D(2026, 11, 27), 1)), "2026-11-30",
           "Friday + 1 skips the weekend");
    is_str(ymd(gov_calendar_add(&cal, D(2026, 9, 30), 1)), "2026-10-08",
           "the National Day holiday is skipped");
    is_str(ymd(gov_calendar_add(&cal, D(2026, 10, 9), 1)), "2026-10-10",
           "Saturday 2026-10-10 is a makeup workday");
    is_str(ymd(gov_calendar_add(&cal, D(2026, 2, 13), 1)), "2026-02-14",
           "Saturday 2026-02-14 is a makeup workday");
    is_str(ymd(gov_calendar_add(&cal, D(2026, 2, 14), 1)), "2026-02-24",
           "Spring Festival is skipped");
    is_str(ymd(gov_calendar_add(&cal, D(2026, 12, 30), 2)), "2027-01-01",
           "across the year boundary (2027 not listed: weekdays count)");
    is_str(ymd(gov_calendar_add(&cal, D(2025, 12, 31), 1)), "2026-01-04",
           "into 2026: 1-3 January rest, Sunday 4 January is a workday");
    is_int(gov_calendar_add(&cal, D(2026, 11, 25), 0), D(2026, 11, 25),
           "0 working days: the same day");
    ok(gov_calendar_is_workday(&cal, D(2026, 1, 4)),
       "Sunday 2026-01-04 is a makeup workday");
    ok(!gov_calendar_is_workday(&cal, D(2026, 10, 1)), "2026-10-01 rests");
    ok(!gov_calendar_is_workday(NULL, D(2026, 11, 28)),
       "without a calendar, Saturday rests");
    is_int(gov_calendar_between(&cal, D(2026, 11, 25), D(2026, 12, 2)), 5,
           "working days in (25 Nov, 2 Dec]");
    is_int(gov_calendar_between(&cal, D(2026, 12, 2), D(2026, 11, 25)), 0,
           "an empty interval");

    /* clock pauses: days in correction push the deadline by as many */
    is_str(ymd(gov_calendar_add(&cal, D(2026, 11, 25),
                                5 + gov_calendar_between(&cal,
                                                         D(2026, 11, 26),
                                                         D(2026, 11, 30)))),
           "2026-12-04", "a pause from Thursday to Monday adds 2 days");

    gov_calendar_free(&cal);

    {
        const char  *bad[] = {
            "2026-13-01 holiday\n",
            "2026-02-30 holiday\n",
            "2026-01-01 vacation\n",
            "2026/01/01 holiday\n",
            "2026-01-01\n",
            "2026-01-01 holiday extra\n",
            "# ok\n2026-01-01 holiday\n2026-01-01 workday\n",
        };

        for (i = 0; i < 7; i++) {
            rc = gov_calendar_parse(&cal, bad[i], strlen(bad[i]), &line, err,
                                    sizeof(err));
            ok(rc == -1, "bad calendar %d refused (line %zu): %s", i, line,
               err);
        }

        rc = gov_calendar_parse(&cal, "\n# c\n  \n2026-05-01 holiday # x\r\n",
                                27, &line, err, sizeof(err));
        ok(rc == 0 && cal.ndays == 1, "comments, blanks and CRLF");
        gov_calendar_free(&cal);
    }

    /* --- the state machine: every pair -------------------------------- */

    {
        /* the contract's table, transcribed independently */
        static const char  *table[GOV_STEP_STATES] = {
            "received refused",
            "accepted correction refused withdrawn",
            "received accepted refused withdrawn",
            "reviewing approved denied special correction withdrawn",
            "approved denied special correction withdrawn",
            "reviewing approved denied",
            "delivered",
            "", "", "", ""
        };

        int  wrong = 0;

        legal = 0;

        for (i = 0; i < GOV_STEP_STATES; i++) {
            for (j = 0; j < GOV_STEP_STATES; j++) {
                char  word[32];
                int   want;

                snprintf(word, sizeof(word), " %s ", gov_state_name(j));
                snprintf(out, sizeof(out), " %s ", table[i]);
                want = strstr(out, word) != NULL;

                if (gov_state_can(i, j) != want) {
                    wrong++;
                    printf("# %s -> %s: got %d\n", gov_state_name(i),
                           gov_state_name(j), !want);
                }

                legal += want;
            }
        }

        is_int(wrong, 0, "all 121 pairs of states follow the contract");
        is_int(legal, 25, "25 legal moves");
    }

    ok(!gov_state_can(GOV_STEP_DELIVERED, GOV_STEP_QUEUED),
       "nothing leaves delivered");
    ok(!gov_state_can(-1, 0) && !gov_state_can(0, 99), "out of range");
    ok(gov_state_terminal(GOV_STEP_DENIED) && gov_state_terminal(
       GOV_STEP_REFUSED) && gov_state_terminal(GOV_STEP_WITHDRAWN)
       && gov_state_terminal(GOV_STEP_DELIVERED)
       && !gov_state_terminal(GOV_STEP_APPROVED), "terminal states");
    ok(gov_state_paused(GOV_STEP_CORRECTION) && gov_state_paused(
       GOV_STEP_SPECIAL) && !gov_state_paused(GOV_STEP_REVIEWING),
       "the clock pauses in correction and special");
    {
        int  st, n = 0, bad = 0;

        for (st = 0; st < GOV_STEP_STATES; st++) {
            if (gov_state_withdrawable(st)) {
                n++;
                bad += gov_state_terminal(st);
            }
        }

        ok(n == 5 && !bad && gov_state_withdrawable(GOV_STEP_CORRECTION)
           && !gov_state_withdrawable(GOV_STEP_SPECIAL)
           && !gov_state_withdrawable(GOV_STEP_APPROVED),
           "a withdrawal stops the five open states, none final");
    }
    is_int(gov_state_from_str("reviewing", 9), GOV_STEP_REVIEWING, "names");
    is_int(gov_state_from_str("review", 6), -1, "no prefixes");
    is_str(gov_state_name_zh(GOV_STEP_CORRECTION), "补正中", "Chinese names");

    /* --- signatures ------------------------------------------------------ */

    gov_sig_make((const unsigned char *) "key", 3, "1795600000", 10,
                 "{\"state\":\"accepted\"}", 20, sig);
    sig[71] = '\0';

    is_int(gov_sig_check((const unsigned char *) "key", 3, "1795600000", 10,
                         "{\"state\":\"accepted\"}", 20, sig, 71),
           GOV_SIG_OK, "a good signature");
    is_int(gov_sig_check((const unsigned char *) "kez", 3, "1795600000", 10,
                         "{\"state\":\"accepted\"}", 20, sig, 71),
           GOV_SIG_MISMATCH, "another secret");
    is_int(gov_sig_check((const unsigned char *) "key", 3, "1795600001", 10,
                         "{\"state\":\"accepted\"}", 20, sig, 71),
           GOV_SIG_MISMATCH, "another timestamp");
    is_int(gov_sig_check((const unsigned char *) "key", 3, "1795600000", 10,
                         "{\"state\":\"approved\"}", 20, sig, 71),
           GOV_SIG_MISMATCH, "another body");
    is_int(gov_sig_check((const unsigned char *) "key", 3, "1795600000", 10,
                         "{}", 2, sig, 70), GOV_SIG_MALFORMED, "too short");
    is_int(gov_sig_check((const unsigned char *) "key", 3, "1795600000", 10,
                         "{}", 2, "md5=00", 6), GOV_SIG_MALFORMED,
           "another scheme");
    sig[20] = 'g';
    is_int(gov_sig_check((const unsigned char *) "key", 3, "1795600000", 10,
                         "{}", 2, sig, 71), GOV_SIG_MALFORMED, "not hex");

    /* v2: the request's timestamp, method, path and body (CONTRACT 5) */
    {
        char               v2[68], v1[72];
        gov_sig_request_t  req, other;

        static const char  want[] = "v2=bfe061ab3851a4462546f525e50582d2"
                                    "fa68dc3008741ecbb7945bb1f60dcb2d";

        /* want: printf '1795600000\nPOST\n/callback/NB20261125000042/nhc'
         * '\n{"state":"accepted"}' | openssl dgst -sha256 -hmac key */

        req.ts = "1795600000";
        req.ts_len = 10;
        req.method = "POST";
        req.method_len = 4;
        req.path = "/callback/NB20261125000042/nhc";
        req.path_len = strlen(req.path);
        req.body = "{\"state\":\"accepted\"}";
        req.body_len = 20;

        gov_sig_v2_make(&req, (const unsigned char *) "key", 3, v2);
        v2[67] = '\0';
        is_str(v2, want, "v2 as openssl computes it");

        is_int(gov_sig_verify(&req, (const unsigned char *) "key", 3, want,
                              67, 0), GOV_SIG_OK, "v2: a good signature");

        other = req;
        other.path = "/callback/NB20261125000043/nhc";
        is_int(gov_sig_verify(&other, (const unsigned char *) "key", 3,
                              want, 67, 0),
               GOV_SIG_MISMATCH, "v2: another application");
        other = req;
        other.path = "/callback/NB20261125000042/mps";
        is_int(gov_sig_verify(&other, (const unsigned char *) "key", 3,
                              want, 67, 0),
               GOV_SIG_MISMATCH, "v2: another item");
        other = req;
        other.method = "PUT";
        other.method_len = 3;
        is_int(gov_sig_verify(&other, (const unsigned char *) "key", 3,
                              want, 67, 0),
               GOV_SIG_MISMATCH, "v2: another method");

        gov_sig_make((const unsigned char *) "key", 3, "1795600000", 10,
                     "{\"state\":\"accepted\"}", 20, v1);
        is_int(gov_sig_verify(&req, (const unsigned char *) "key", 3, v1, 71,
                              0), GOV_SIG_LEGACY, "v1 while legacy is off");
        is_int(gov_sig_verify(&req, (const unsigned char *) "key", 3, v1, 71,
                              1), GOV_SIG_V1, "v1 while legacy is on");
        is_int(gov_sig_verify(&req, (const unsigned char *) "kez", 3, v1, 71,
                              1), GOV_SIG_MISMATCH, "v1, another secret");
        is_int(gov_sig_verify(&req, (const unsigned char *) "key", 3, "v2=00",
                              5, 1), GOV_SIG_MALFORMED, "v2 too short");
    }

    is_int(gov_sig_timestamp("1795600000", 10, 1795600100, 300, &ts),
           GOV_SIG_OK, "100s old: fine");
    is_int(gov_sig_timestamp("1795600000", 10, 1795600301, 300, &ts),
           GOV_SIG_STALE, "301s old: stale");
    is_int(gov_sig_timestamp("1795600400", 10, 1795600000, 300, &ts),
           GOV_SIG_STALE, "400s ahead: stale");
    is_int(gov_sig_timestamp("17956e0000", 10, 1795600000, 300, &ts),
           GOV_SIG_MALFORMED, "not digits");
    is_int(gov_sig_timestamp("", 0, 1795600000, 300, &ts),
           GOV_SIG_MALFORMED, "empty");

    /* --- application validation ---------------------------------------- */

    rc = validate("{\"fields\":{\"name\":\"张三\",\"id_number\":\"110101\"},"
                  "\"materials\":{\"birth_cert\":\"elicense\","
                  "\"photo\":\"file-1\"}}", out, sizeof(out));
    is_int(rc, 0, "a valid application");

    rc = validate("{\"fields\":{\"id_number\":\"99\",\"phone\":5,"
                  "\"x\":\"1\"},\"materials\":{\"photo\":\"elicense\","
                  "\"y\":\"2\"}}", out, sizeof(out));
    is_int(rc, 1, "an invalid application");
    is_str(out, "{\"error\":\"invalid_application\",\"invalid\":["
                "{\"id\":\"id_number\",\"reason\":\"pattern_mismatch\"},"
                "{\"id\":\"phone\",\"reason\":\"not_a_string\"},"
                "{\"id\":\"x\",\"reason\":\"unknown_field\"},"
                "{\"id\":\"photo\",\"reason\":\"elicense_not_allowed\"},"
                "{\"id\":\"y\",\"reason\":\"unknown_material\"}],"
                "\"missing\":[\"name\",\"birth_cert\"]}",
           "every problem at once");

    rc = validate("{}", out, sizeof(out));
    is_str(out, "{\"error\":\"invalid_application\",\"invalid\":[],"
                "\"missing\":[\"name\",\"id_number\",\"birth_cert\","
                "\"photo\"]}", "an empty object: everything missing");

    rc = validate("[1]", out, sizeof(out));
    is_int(rc, 1, "an array is refused");
    rc = validate("{\"fields\":[],\"materials\":\"x\"}", out, sizeof(out));
    ok(strstr(out, "{\"id\":\"fields\",\"reason\":\"not_an_object\"}")
       && strstr(out, "{\"id\":\"materials\",\"reason\":\"not_an_object\"}"),
       "fields and materials must be objects");

    rc = validate("{\"fields\":{\"name\":\"a\\u0001b\",\"id_number\":\"11\"},"
                  "\"materials\":{\"birth_cert\":\"x\",\"photo\":\"y\"}}",
                  out, sizeof(out));
    ok(strstr(out, "control_character") != NULL, "control characters");

    rc = validate("{\"fields\":{\"name\":\"<script>'\\\" OR 1=1;--\\n\","
                  "\"id_number\":\"11\"},\"materials\":{\"birth_cert\":\"x\","
                  "\"photo\":\"y\"}}", out, sizeof(out));
    is_int(rc, 0, "HTML, quotes, newlines and SQL are plain text");

    {
        char  big[1200 + 200];

        snprintf(big, sizeof(big), "{\"fields\":{\"name\":\"%01100d\","
                 "\"id_number\":\"11\"},\"materials\":{\"birth_cert\":\"x\","
                 "\"photo\":\"y\"}}", 0);
        rc = validate(big, out, sizeof(out));
        ok(strstr(out, "too_long") != NULL, "values over 1024 characters");
    }

    {
        /* 1024 Chinese characters (3,072 bytes) are 1024, not too long */
        char    zh[3 * 1025 + 200], *p;
        size_t  i;

        for (i = 0; i < 2; i++) {
            p = zh + sprintf(zh, "{\"fields\":{\"name\":\"");
            for (size_t k = 0; k < 1024 + i; k++) {
                p += sprintf(p, "\xe6\x83\x85");
            }
            sprintf(p, "\",\"id_number\":\"11\"},\"materials\":"
                    "{\"birth_cert\":\"x\",\"photo\":\"y\"}}");
            rc = validate(zh, out, sizeof(out));
            ok((strstr(out, "too_long") != NULL) == (i == 1),
               i ? "1025 Chinese characters: too long"
                 : "1024 Chinese characters: taken");
        }
    }

    /* --- the application form (x-www-form-urlencoded) ------------------- */

    is_str(form("fields.name=%E5%BC%A0%E4%B8%89&fields.phone=138+0000"
                "&materials.photo=ref-1&elicense.birth_cert=1&submit=x"),
           "{\"fields\":{\"name\":\"\xe5\xbc\xa0\xe4\xb8\x89\",\"phone\":\"138 0000\"},"
           "\"materials\":{\"birth_cert\":\"elicense\",\"photo\":\"ref-1\"}}",
           "a form: decoded, the ticked e-licence, other names ignored");
    is_str(form("elicense.birth_cert=1&materials.birth_cert=R9"),
           "{\"fields\":{},\"materials\":{\"birth_cert\":\"R9\"}}",
           "a reference given beside the ticked box wins");
    is_str(form("fields.name=&fields.phone=&&=x&fields.=y"),
           "{\"fields\":{},\"materials\":{}}",
           "empty values are left out (then reported missing)");
    is_str(form(""), "{\"fields\":{},\"materials\":{}}", "an empty form");
    is_str(form("fields.name=a&fields.name=b"), "", "a name twice: malformed");
    is_str(form("fields.name=%E5%BC"), "", "a value not UTF-8: malformed");
    is_str(form("fields.name=%zz"), "", "a bad escape: malformed");
    is_str(form("fields.na%00me=x"), "", "a NUL in a name: malformed");
    is_str(form("promises.photo=1&promises.id=on&materials.id=R"),
           "{\"fields\":{},\"materials\":{\"id\":\"R\"},"
           "\"promises\":[\"photo\",\"id\"]}",
           "ticked 承诺后补 boxes are the promises");
    is_str(form("promises.photo=1&promises.photo=1"), "",
           "a promise twice: malformed");

    /* --- 容缺受理: promises and supplements ------------------------------ */

    promise_tests();

    {
        char    *dump;
        json_t  *guide, *doc, *problems, *view;

        guide = json_loads("{\"fields\":[{\"id\":\"name\",\"label\":\"N\","
                           "\"required\":true},{\"id\":\"phone\","
                           "\"label\":\"P\",\"required\":false}],"
                           "\"materials\":[{\"id\":\"birth_cert\","
                           "\"name\":\"B\",\"elicense\":true},"
                           "{\"id\":\"photo\",\"name\":\"F\","
                           "\"elicense\":false}]}", 0, NULL);

        view = gov_app_form_view(guide, NULL, NULL);
        dump = json_dumps(view, JSON_COMPACT | JSON_SORT_KEYS);
        ok(strstr(dump, "\"invalid\":false") && strstr(dump, "\"errors\":[]")
           && strstr(dump, "\"use_elicense\":true"),
           "a blank form: no errors, the e-licence offered ticked");
        free(dump);
        json_decref(view);

        doc = gov_app_from_form("fields.phone=x%3Cb%3E&materials.photo="
                                "elicense", 31);
        problems = json_loads("{\"missing\":[\"name\",\"birth_cert\"],"
                              "\"invalid\":[{\"id\":\"phone\",\"reason\":"
                              "\"pattern_mismatch\"},{\"id\":\"photo\","
                              "\"reason\":\"elicense_not_allowed\"}]}",
                              0, NULL);
        view = gov_app_form_view(guide, doc, problems);
        dump = json_dumps(view, JSON_COMPACT | JSON_SORT_KEYS);

        is_int(json_array_size(json_object_get(view, "errors")), 4,
               "every problem at once, in the guide's order: %s", dump);
        is_str(json_string_value(json_object_get(json_array_get(
                   json_object_get(view, "errors"), 0), "id")), "name",
               "the first error is the first field");
        is_str(json_string_value(json_object_get(json_array_get(
                   json_object_get(view, "fields"), 1), "value")), "x<b>",
               "the value given is kept (escaped by the template)");
        ok(json_is_string(json_object_get(json_array_get(
               json_object_get(view, "fields"), 0), "error")),
           "the missing field carries its message inline");
        ok(json_is_false(json_object_get(json_array_get(
               json_object_get(view, "materials"), 0), "use_elicense")),
           "not ticked again when the citizen did not tick it");
        free(dump);
        json_decref(view);
        json_decref(problems);

        problems = json_loads("{\"missing\":[],\"invalid\":[{\"id\":\"x\","
                              "\"reason\":\"unknown_field\"}]}", 0, NULL);
        view = gov_app_form_view(guide, doc, problems);
        is_str(json_string_value(json_object_get(json_array_get(
                   json_object_get(view, "errors"), 0), "id")), "form",
               "a name the form lacks (tampered) still shows an error");
        json_decref(view);
        json_decref(problems);
        json_decref(doc);
        json_decref(guide);
    }

    /* --- a department's callback body ----------------------------------- */

    {
        gov_callback_t  cb;
        char            longer[1200];
        const char     *head = "{\"state\":\"received\",\"note\":\"";

        is_int(cbparse("{\"state\":\"accepted\",\"receipt\":\"R1\","
                       "\"note\":\"ok\"}", &cb),
               GOV_STEP_ACCEPTED, "a callback body");
        ok(cb.receipt && cb.receipt_len == 2
           && memcmp(cb.receipt, "R1", 2) == 0 && cb.note
           && cb.note_len == 2, "with its receipt and note");
        json_decref(cb.doc);

        is_int(cbparse("{\"state\":\"approved\",\"receipt\":5}", &cb),
               GOV_STEP_APPROVED, "a receipt that is not a string");
        ok(cb.receipt == NULL, "is left out");
        json_decref(cb.doc);

        memset(longer, 'x', sizeof(longer) - 1);
        memcpy(longer, head, strlen(head));
        memcpy(longer + sizeof(longer) - 3, "\"}", 3);
        is_int(cbparse(longer, &cb), GOV_STEP_RECEIVED,
               "a note over 1024 bytes");
        ok(cb.note == NULL, "is left out");
        json_decref(cb.doc);

        is_int(cbparse("{\"state\":\"done\"}", &cb),
               GOV_CALLBACK_UNKNOWN_STATE, "an unknown state");
        ok(cb.doc == NULL, "leaves nothing to free");
        is_int(cbparse("{\"state\":\"accepted\",\"state\":\"denied\"}", &cb),
               GOV_CALLBACK_INVALID, "duplicate keys");
        is_int(cbparse("[\"state\"]", &cb), GOV_CALLBACK_INVALID,
               "not an object");
        is_int(cbparse("{\"state\":1}", &cb), GOV_CALLBACK_INVALID,
               "a state that is not a string");
        is_int(cbparse("", &cb), GOV_CALLBACK_INVALID, "an empty body");

        /* 补正告知 and results */

        is_int(cbparse("{\"state\":\"correction\",\"request\":"
                       "{\"materials\":[\"photo\"],\"note\":\"n\","
                       "\"due\":\"2026-12-31\"}}", &cb),
               GOV_STEP_CORRECTION, "a correction request");
        ok(cb.request && json_array_size(json_object_get(cb.request,
                                                        "fields")) == 0
           && json_array_size(json_object_get(cb.request, "materials")) == 1
           && json_is_null(json_object_get(cb.request, "note")) == 0,
           "normalized: fields present and empty, materials, note");
        gov_callback_free(&cb);

        is_int(cbparse("{\"state\":\"correction\",\"request\":"
                       "{\"fields\":[\"a b\"]}}", &cb),
               GOV_CALLBACK_BAD_REQUEST, "an id with a space");
        ok(cb.doc == NULL && cb.request == NULL, "leaves nothing to free");
        is_int(cbparse("{\"state\":\"correction\",\"request\":"
                       "{\"materials\":[\"a\"],\"due\":\"2026-13-01\"}}",
                       &cb),
               GOV_CALLBACK_BAD_REQUEST, "month 13");
        is_int(cbparse("{\"state\":\"correction\",\"request\":"
                       "{\"note\":\"\"}}", &cb),
               GOV_CALLBACK_BAD_REQUEST, "a request asking nothing");
        is_int(cbparse("{\"state\":\"accepted\",\"request\":"
                       "{\"note\":\"x\"}}", &cb),
               GOV_CALLBACK_BAD_REQUEST, "a request with another state");
        is_int(cbparse("{\"state\":\"correction\",\"request\":null}",
                       &cb),
               GOV_STEP_CORRECTION, "a null request is no request");
        ok(cb.request == NULL, "none");
        gov_callback_free(&cb);

        is_int(cbparse("{\"state\":\"delivered\",\"result\":"
                       "{\"kind\":\"pickup\",\"number\":\"N1\"}}", &cb),
               GOV_STEP_DELIVERED, "a result");
        ok(cb.result && json_is_null(json_object_get(cb.result, "note")),
           "normalized");
        gov_callback_free(&cb);
        is_int(cbparse("{\"state\":\"approved\",\"result\":"
                       "{\"kind\":\"fax\"}}", &cb),
               GOV_CALLBACK_BAD_RESULT, "a result of an unknown kind");
        is_int(cbparse("{\"state\":\"denied\",\"result\":"
                       "{\"kind\":\"mail\"}}", &cb),
               GOV_CALLBACK_BAD_RESULT, "a result of a denial");
        is_str(gov_result_kind_zh("download"), "下载", "kinds in Chinese");
        is_int(gov_date_parse("2028-02-29", 10) > 0, 1, "a leap day");
        is_int(gov_date_parse("2026-02-29", 10), -1, "no leap day");
        is_int(gov_date_parse("2026-1-01", 9), -1, "not YYYY-MM-DD");
    }

    /* --- days and ISO dates in the server's zone (gov_date) ------------ */

    {
        char    buf[GOV_ISO_TIME_LEN + 1];
        time_t  t;

        setenv("TZ", "Asia/Shanghai", 1);
        tzset();

        /* 2026-11-25 00:30 in Beijing is still the 24th in UTC */
        t = 1795537800;

        is_int(gov_day(t), gov_day_from_civil(2026, 11, 25),
               "gov_day counts days in the server's zone");
        is_int(gov_day(t), gov_day_from_civil(2026, 11, 25),
               "and answers again from its memo");
        is_int(gov_day(t - 3600), gov_day_from_civil(2026, 11, 24),
               "an hour earlier is the day before");

        buf[gov_iso_date(buf, gov_day_from_civil(2026, 2, 17)) - buf] = '\0';
        is_str(buf, "2026-02-17", "gov_iso_date");

        buf[gov_iso_time(buf, t) - buf] = '\0';
        is_str(buf, "2026-11-25T00:30:00+08:00",
               "gov_iso_time carries the zone's offset");

        setenv("TZ", "America/St_Johns", 1);
        tzset();
        buf[gov_iso_time(buf, t) - buf] = '\0';
        is_str(buf, "2026-11-24T13:00:00-03:30",
               "a negative offset with minutes");
    }

    return done_testing();
}
