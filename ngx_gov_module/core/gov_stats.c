
/*
 * Copyright (C) ngx_gov_module authors
 */


#include <stdlib.h>
#include <string.h>

#include "gov_stats.h"


static int gov_stats_cmp(const void *a, const void *b);
static int gov_stats_digits(const char *s, size_t n);


const char  *gov_stats_counter_names[GOV_STATS_NCOUNTERS] = {
    "applications", "finished", "on_time", "days", "ratings", "satisfied",
    "bad", "rectified", "withdrawn"
};


long *
gov_stats_counter(gov_stats_counts_t *c, const char *name, size_t len)
{
    size_t  i;
    long   *fields[GOV_STATS_NCOUNTERS];

    fields[0] = &c->applications;
    fields[1] = &c->finished;
    fields[2] = &c->on_time;
    fields[3] = &c->days;
    fields[4] = &c->ratings;
    fields[5] = &c->satisfied;
    fields[6] = &c->bad;
    fields[7] = &c->rectified;
    fields[8] = &c->withdrawn;

    for (i = 0; i < GOV_STATS_NCOUNTERS; i++) {
        if (strlen(gov_stats_counter_names[i]) == len
            && memcmp(gov_stats_counter_names[i], name, len) == 0)
        {
            return fields[i];
        }
    }

    return NULL;
}


void
gov_stats_add(gov_stats_counts_t *to, const gov_stats_counts_t *from)
{
    to->applications += from->applications;
    to->finished += from->finished;
    to->on_time += from->on_time;
    to->days += from->days;
    to->ratings += from->ratings;
    to->satisfied += from->satisfied;
    to->bad += from->bad;
    to->rectified += from->rectified;
    to->withdrawn += from->withdrawn;
}


int
gov_stats_period(const char *s, size_t len, int *year, int *month)
{
    if ((len != 4 && len != 7) || !gov_stats_digits(s, 4) || s[0] != '2') {
        return -1;
    }

    *year = (s[0] - '0') * 1000 + (s[1] - '0') * 100 + (s[2] - '0') * 10
            + (s[3] - '0');
    *month = 0;

    if (len == 4) {
        return 0;
    }

    if (s[4] != '-' || !gov_stats_digits(s + 5, 2)) {
        return -1;
    }

    *month = (s[5] - '0') * 10 + (s[6] - '0');

    return (*month >= 1 && *month <= 12) ? 0 : -1;
}


double
gov_stats_rate(long part, long whole)
{
    return whole > 0 ? (double) part / (double) whole : -1;
}


void
gov_stats_rank(gov_stats_dept_t *deps, size_t n)
{
    size_t  i, ranked, k, black;

    for (i = 0; i < n; i++) {
        deps[i].on_time_rate = gov_stats_rate(deps[i].counts.on_time,
                                              deps[i].counts.finished);
        deps[i].satisfaction = gov_stats_rate(deps[i].counts.satisfied,
                                              deps[i].counts.ratings);
        deps[i].rank = 0;
        deps[i].board = GOV_STATS_BOARD_NONE;
    }

    if (n > 1) {
        qsort(deps, n, sizeof(gov_stats_dept_t), gov_stats_cmp);
    }

    ranked = 0;

    for (i = 0; i < n && deps[i].counts.finished > 0; i++) {
        deps[i].rank = (int) ++ranked;
    }

    if (ranked < 2) {
        return;
    }

    k = ranked / 3 ? ranked / 3 : 1;

    for (i = 0; i < k; i++) {
        deps[i].board = GOV_STATS_BOARD_RED;
    }

    /* the last third, leaving out any that did as well as the first */

    black = 0;

    for (i = ranked; i > k && black < k; i--) {
        if (deps[i - 1].on_time_rate == deps[0].on_time_rate
            && deps[i - 1].satisfaction == deps[0].satisfaction)
        {
            break;
        }

        deps[i - 1].board = GOV_STATS_BOARD_BLACK;
        black++;
    }
}


static int
gov_stats_cmp(const void *a, const void *b)
{
    const gov_stats_dept_t  *x = a, *y = b;

    if ((x->counts.finished > 0) != (y->counts.finished > 0)) {
        return x->counts.finished > 0 ? -1 : 1;
    }

    if (x->on_time_rate != y->on_time_rate) {
        return x->on_time_rate > y->on_time_rate ? -1 : 1;
    }

    if (x->satisfaction != y->satisfaction) {
        return x->satisfaction > y->satisfaction ? -1 : 1;
    }

    return strcmp(x->name, y->name);
}


static int
gov_stats_digits(const char *s, size_t n)
{
    size_t  i;

    for (i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9') {
            return 0;
        }
    }

    return 1;
}
