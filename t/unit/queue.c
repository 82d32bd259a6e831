
/*
 * Copyright (C) ngx_gov_module authors
 *
 * Unit tests of the waiting room's cookies (gov_queue.c).
 */


#include <string.h>

#include "tap.h"
#include "gov_queue.h"


int
main(void)
{
    char                 pass[GOV_QUEUE_PASS_MAX], bad[GOV_QUEUE_PASS_MAX];
    size_t               n;
    long long            num;
    const char          *tok;
    const unsigned char  key[] = "0123456789abcdef0123456789abcdef";

    n = gov_queue_pass(key, 32, "peak", 4, 1796000000, pass);
    is_int(n, 2 + 10 + 1 + 64, "a pass: p.EXPIRES.HMAC");
    ok(memcmp(pass, "p.1796000000.", 13) == 0, "... starting p.EXPIRES.");
    ok(gov_queue_pass_ok(key, 32, "peak", 4, pass, n, 1795999999),
       "valid before it expires");
    ok(!gov_queue_pass_ok(key, 32, "peak", 4, pass, n, 1796000000),
       "not when it expires");
    ok(!gov_queue_pass_ok(key, 32, "other", 5, pass, n, 1795999999),
       "not in another zone");
    ok(!gov_queue_pass_ok((const unsigned char *) "another key 0123456789abc",
                          25, "peak", 4, pass, n, 1795999999),
       "not with another key");

    memcpy(bad, pass, n);
    bad[2] = '2';       /* a later expiry, the same HMAC */
    ok(!gov_queue_pass_ok(key, 32, "peak", 4, bad, n, 1795999999),
       "a changed expiry is refused");

    memcpy(bad, pass, n);
    bad[n - 1] = bad[n - 1] == 'a' ? 'b' : 'a';
    ok(!gov_queue_pass_ok(key, 32, "peak", 4, bad, n, 1795999999),
       "a changed HMAC is refused");

    ok(!gov_queue_pass_ok(key, 32, "peak", 4, pass, n - 1, 1795999999),
       "a short pass is refused");
    ok(!gov_queue_pass_ok(key, 32, "peak", 4, "p..x", 4, 0), "garbage");
    ok(!gov_queue_pass_ok(key, 32, "peak", 4, "", 0, 0), "empty");
    is_int(gov_queue_pass(key, 32, "peak", 4, -1, pass), 0,
           "no pass for a negative expiry");

    ok(gov_queue_ticket("t.42.0123456789abcdef0123456789abcdef", 37, &num,
                        &tok), "a ticket");
    is_int(num, 42, "... its number");
    ok(memcmp(tok, "0123456789abcdef", 16) == 0, "... its token");
    ok(!gov_queue_ticket("t.042.0123456789abcdef0123456789abcdef", 38, &num,
                         &tok), "a leading zero is refused");
    ok(!gov_queue_ticket("t.42.0123456789ABCDEF0123456789abcdef", 37, &num,
                         &tok), "upper-case hex is refused");
    ok(!gov_queue_ticket("t.4x.0123456789abcdef0123456789abcdef", 37, &num,
                         &tok), "a number that is no number");
    ok(!gov_queue_ticket("t.42.0123456789abcdef0123456789abcde", 36, &num,
                         &tok), "a short token");
    ok(!gov_queue_ticket("p.42.0123456789abcdef0123456789abcdef", 37, &num,
                         &tok), "a pass is no ticket");
    ok(!gov_queue_ticket("t.1234567890123456.0123456789abcdef0123456789abcdef",
                         51, &num, &tok), "a number too long");

    is_int(gov_queue_refresh(0), 1, "refresh: at least a second");
    is_int(gov_queue_refresh(20), 4, "a fifth of the wait");
    is_int(gov_queue_refresh(3600), 10, "at most ten seconds");

    return done_testing();
}
