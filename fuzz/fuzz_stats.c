
/*
 * Copyright (C) ngx_gov_module authors
 *
 * libFuzzer target: the statistics.  The input is a period ("?month=",
 * "?year="), a counter's name, and, byte by byte, the counts of six
 * departments, which are ranked: the ranking must be ordered, ranks must
 * run from 1, and the boards must neither overlap nor hold a department
 * tied with the first; and the calendar's working-day ordinal must agree
 * with walking the days.
 */


#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "gov_calendar.h"
#include "gov_stats.h"


int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    int                 y, m, a, b;
    size_t              i, k;
    gov_stats_dept_t    deps[6];
    gov_stats_counts_t  c;

    static const char  *names[6] = { "a", "b", "c", "d", "e", "f" };

    if (gov_stats_period((const char *) data, size, &y, &m) == 0) {
        if (y < 2000 || y > 2999 || m < 0 || m > 12
            || (size == 4) != (m == 0))
        {
            abort();
        }
    }

    memset(&c, 0, sizeof(c));
    (void) gov_stats_counter(&c, (const char *) data, size);

    memset(deps, 0, sizeof(deps));

    for (i = 0; i < 6; i++) {
        deps[i].name = names[i];

        if (4 * i + 3 < size) {
            deps[i].counts.finished = data[4 * i] % 8;
            deps[i].counts.on_time = data[4 * i + 1] % 8
                                     % (deps[i].counts.finished + 1);
            deps[i].counts.ratings = data[4 * i + 2] % 8;
            deps[i].counts.satisfied = data[4 * i + 3] % 8
                                       % (deps[i].counts.ratings + 1);
        }
    }

    gov_stats_rank(deps, 6);

    for (i = 0; i < 6; i++) {
        if (deps[i].board == GOV_STATS_BOARD_BLACK
            && deps[i].on_time_rate == deps[0].on_time_rate
            && deps[i].satisfaction == deps[0].satisfaction)
        {
            abort();
        }

        if ((deps[i].counts.finished > 0) != (deps[i].rank != 0)) {
            abort();
        }

        if (deps[i].rank && deps[i].rank != (int) i + 1) {
            abort();
        }

        for (k = i + 1; k < 6 && deps[k].rank; k++) {
            if (deps[k].on_time_rate > deps[i].on_time_rate) {
                abort();
            }
        }
    }

    /* the ordinal against walking the days, around the input's days */

    a = size ? 20000 + data[0] * 3 : 20000;
    b = a + (size > 1 ? data[1] : 7);

    if (gov_calendar_ordinal(NULL, b) - gov_calendar_ordinal(NULL, a)
        != gov_calendar_between(NULL, a, b))
    {
        abort();
    }

    return 0;
}
