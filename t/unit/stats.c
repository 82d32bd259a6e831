
/*
 * Copyright (C) ngx_gov_module authors
 *
 * Unit tests of the public statistics (gov_stats.c), the calendar's
 * working-day ordinal the counting scripts use, and the operator claim.
 */


#include <math.h>
#include <string.h>

#include <jansson.h>

#include "tap.h"
#include "gov_calendar.h"
#include "gov_jwt.h"
#include "gov_stats.h"


#define D(y, m, d)  gov_day_from_civil(y, m, d)


static gov_stats_dept_t
dept(const char *name, long finished, long on_time, long ratings,
    long satisfied)
{
    gov_stats_dept_t  d;

    memset(&d, 0, sizeof(d));
    d.name = name;
    d.counts.finished = finished;
    d.counts.on_time = on_time;
    d.counts.ratings = ratings;
    d.counts.satisfied = satisfied;

    return d;
}


int
main(void)
{
    int                  y, m, a, b, bad;
    long                *c;
    size_t               line;
    json_t              *claims;
    char                 err[128];
    gov_calendar_t       cal;
    gov_stats_dept_t     deps[6];
    gov_stats_counts_t   counts, sum;

    static const char  text[] =
        "2026-10-01 holiday\n2026-10-02 holiday\n2026-10-05 holiday\n"
        "2026-10-06 holiday\n2026-10-07 holiday\n2026-10-10 workday\n"
        "2026-09-20 workday\n2026-12-31 holiday\n";

    /* --- periods ------------------------------------------------------- */

    is_int(gov_stats_period("2026-12", 7, &y, &m), 0, "2026-12 is a month");
    is_int(y, 2026, "... of 2026");
    is_int(m, 12, "... December");
    is_int(gov_stats_period("2026", 4, &y, &m), 0, "2026 is a year");
    is_int(m, 0, "... month 0");
    is_int(gov_stats_period("2026-13", 7, &y, &m), -1, "no 13th month");
    is_int(gov_stats_period("2026-00", 7, &y, &m), -1, "no month 0");
    is_int(gov_stats_period("2026-1", 6, &y, &m), -1, "two digits");
    is_int(gov_stats_period("1999", 4, &y, &m), -1, "not before 2000");
    is_int(gov_stats_period("2026/12", 7, &y, &m), -1, "a dash");
    is_int(gov_stats_period("20x6", 4, &y, &m), -1, "digits only");
    is_int(gov_stats_period("", 0, &y, &m), -1, "not empty");

    /* --- counters ------------------------------------------------------ */

    memset(&counts, 0, sizeof(counts));
    c = gov_stats_counter(&counts, "on_time", 7);
    ok(c == &counts.on_time, "the counter on_time by name");
    ok(gov_stats_counter(&counts, "on_tim", 6) == NULL,
       "a prefix names nothing");
    ok(gov_stats_counter(&counts, "rectified", 9) == &counts.rectified,
       "rectified by name");
    counts.finished = 3;
    counts.on_time = 2;
    memset(&sum, 0, sizeof(sum));
    gov_stats_add(&sum, &counts);
    gov_stats_add(&sum, &counts);
    is_int(sum.finished, 6, "sums add up");
    ok(gov_stats_rate(0, 0) < 0, "no share of nothing");
    ok(fabs(gov_stats_rate(2, 3) - 2.0 / 3.0) < 1e-15, "2 of 3");

    /* --- the ranking --------------------------------------------------- */

    deps[0] = dept("市监局", 10, 9, 4, 3);
    deps[1] = dept("公安局", 10, 10, 4, 2);
    deps[2] = dept("人社局", 10, 10, 4, 4);
    deps[3] = dept("卫健委", 0, 0, 0, 0);
    deps[4] = dept("税务局", 4, 2, 0, 0);
    deps[5] = dept("医保局", 10, 9, 0, 0);
    gov_stats_rank(deps, 6);

    is_str(deps[0].name, "人社局", "first: on time, most satisfied");
    is_str(deps[1].name, "公安局", "then on time, less satisfied");
    is_str(deps[2].name, "市监局", "then 90%% with ratings");
    is_str(deps[3].name, "医保局", "90%% without ratings after it");
    is_str(deps[4].name, "税务局", "50%% last of the ranked");
    is_str(deps[5].name, "卫健委", "nothing finished: unranked, last");
    is_int(deps[0].rank, 1, "rank 1");
    is_int(deps[4].rank, 5, "rank 5");
    is_int(deps[5].rank, 0, "no rank without work");
    is_int(deps[0].board, GOV_STATS_BOARD_RED, "the first on the red board");
    is_int(deps[1].board, GOV_STATS_BOARD_NONE, "5 ranked: one red");
    is_int(deps[4].board, GOV_STATS_BOARD_BLACK, "the last on the black");
    is_int(deps[3].board, GOV_STATS_BOARD_NONE, "5 ranked: one black");
    is_int(deps[5].board, GOV_STATS_BOARD_NONE, "unranked: no board");
    ok(fabs(deps[2].satisfaction - 0.75) < 1e-15, "satisfaction 3 of 4");
    ok(deps[3].satisfaction < 0, "no ratings: no satisfaction");

    deps[0] = dept("甲", 2, 2, 1, 1);
    deps[1] = dept("乙", 3, 3, 1, 1);
    gov_stats_rank(deps, 2);
    is_int(deps[0].board, GOV_STATS_BOARD_RED, "a tie: the first is red");
    is_int(deps[1].board, GOV_STATS_BOARD_NONE,
           "... and one as good is never black");

    deps[0] = dept("甲", 2, 1, 0, 0);
    gov_stats_rank(deps, 1);
    is_int(deps[0].rank, 1, "one department is ranked");
    is_int(deps[0].board, GOV_STATS_BOARD_NONE, "... on no board alone");

    /* --- the working-day ordinal --------------------------------------- */

    ok(gov_calendar_parse(&cal, text, sizeof(text) - 1, &line, err,
                          sizeof(err)) == 0, "a calendar");

    bad = 0;

    for (a = D(2026, 9, 1); a < D(2027, 1, 31); a += 3) {
        for (b = a; b < a + 60; b += 5) {
            if (gov_calendar_ordinal(&cal, b) - gov_calendar_ordinal(&cal, a)
                != gov_calendar_between(&cal, a, b))
            {
                bad++;
            }
        }
    }

    is_int(bad, 0, "ordinal(b) - ordinal(a) = between(a, b), 2026-09..2027");
    is_int(gov_calendar_ordinal(&cal, D(2026, 10, 10))
           - gov_calendar_ordinal(&cal, D(2026, 9, 30)), 3,
           "National Day week: 3 working days 10-01..10-10 (8, 9, 10)");
    is_int(gov_calendar_ordinal(NULL, D(1970, 1, 8)), 5,
           "1970-01-02..08: five weekdays");
    is_int(gov_calendar_ordinal(NULL, 0), 0, "nothing before day 1");
    gov_calendar_free(&cal);

    /* --- the operator claim -------------------------------------------- */

    claims = json_pack("{s:s, s:[s, s], s:i}", "role", "operator", "roles",
                       "citizen", "operator", "level", 3);
    ok(gov_jwt_claim_holds(claims, "role", "operator"), "role: operator");
    ok(!gov_jwt_claim_holds(claims, "role", "operato"), "not a prefix");
    ok(gov_jwt_claim_holds(claims, "roles", "operator"), "an array holds it");
    ok(!gov_jwt_claim_holds(claims, "roles", "admin"), "... not another");
    ok(!gov_jwt_claim_holds(claims, "level", "3"), "a number is no string");
    ok(!gov_jwt_claim_holds(claims, "missing", "operator"), "no such claim");
    json_decref(claims);

    return done_testing();
}
