
/*
 * Copyright (C) ngx_gov_module authors
 *
 * Public statistics (阳光公开 · 好差评): the period asked for, the figures
 * published from the counters the changing scripts keep, and the ranking
 * of departments (红黑榜).  No nginx header.
 */


#ifndef _GOV_STATS_H_INCLUDED_
#define _GOV_STATS_H_INCLUDED_


#include <stddef.h>


/* what the scripts count, per bundle or item, per month and per year */
typedef struct {
    long         applications;
    long         finished;
    long         on_time;
    long         days;          /* working days taken, summed */
    long         ratings;
    long         satisfied;     /* scores 4-5 */
    long         bad;           /* scores 1-2 */
    long         rectified;
    long         withdrawn;
} gov_stats_counts_t;


/* the counters' names in a Redis hash field "b:ID:NAME" / "i:ID:NAME" */
#define GOV_STATS_NCOUNTERS  9

extern const char  *gov_stats_counter_names[GOV_STATS_NCOUNTERS];

/* the counter "name" (of "len" bytes) of "c"; NULL when unknown */
long *gov_stats_counter(gov_stats_counts_t *c, const char *name, size_t len);

void gov_stats_add(gov_stats_counts_t *to, const gov_stats_counts_t *from);


/*
 * "YYYY-MM" (month 1-12) or "YYYY" (*month 0), years 2000-2999: 0, or -1
 * for anything else.
 */
int gov_stats_period(const char *s, size_t len, int *year, int *month);


/* a share: -1 when there is nothing to share (published as null) */
double gov_stats_rate(long part, long whole);


#define GOV_STATS_BOARD_NONE   0
#define GOV_STATS_BOARD_RED    1     /* 红榜 */
#define GOV_STATS_BOARD_BLACK  2     /* 黑榜 */

typedef struct {
    const char          *name;
    gov_stats_counts_t   counts;
    double               on_time_rate;  /* -1: nothing finished */
    double               satisfaction;  /* -1: no rating */
    int                  rank;          /* 1.., 0: nothing finished */
    int                  board;
} gov_stats_dept_t;


/*
 * Orders "deps" for the 红黑榜: departments that finished work by on-time
 * rate, then satisfaction (none counts lowest), then name; those that
 * finished nothing last, unranked.  With two or more ranked, the first
 * third (at least one) is the red board and the last third the black
 * board, never one tied with the first.  Rates are computed here.
 */
void gov_stats_rank(gov_stats_dept_t *deps, size_t n);


#endif /* _GOV_STATS_H_INCLUDED_ */
