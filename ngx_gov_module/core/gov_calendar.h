
/*
 * Copyright (C) ngx_gov_module authors
 *
 * The working-day calendar (工作日): weekends, public holidays and makeup
 * workdays (调休上班), and deadlines counted in working days as Chinese
 * administrative law counts them: from the day after.  No nginx header.
 *
 * Days are whole days since 1970-01-01 (day 0) in the server's zone.
 */


#ifndef _GOV_CALENDAR_H_INCLUDED_
#define _GOV_CALENDAR_H_INCLUDED_


#include <stddef.h>


typedef struct {
    int          day;
    int          workday;       /* 1: makeup workday, 0: holiday */
} gov_calendar_day_t;


typedef struct {
    gov_calendar_day_t  *days;  /* sorted by day */
    size_t               ndays;
} gov_calendar_t;


/* civil date <-> day number (proleptic Gregorian) */
int gov_day_from_civil(int y, int m, int d);
void gov_civil_from_day(int day, int *y, int *m, int *d);
int gov_weekday(int day);                   /* 0 Sunday .. 6 Saturday */

/*
 * Parses "YYYY-MM-DD holiday|workday" lines; "#" starts a comment, blank
 * lines are skipped.  Returns 0, or -1 with the 1-based line in *line and a
 * message in "err".  Duplicate days are errors.
 */
int gov_calendar_parse(gov_calendar_t *cal, const char *text, size_t len,
    size_t *line, char *err, size_t errlen);
void gov_calendar_free(gov_calendar_t *cal);

/* 1 when "day" is a working day; a NULL calendar knows weekends only */
int gov_calendar_is_workday(const gov_calendar_t *cal, int day);

/* the day on which the "n"th working day after "start" falls (n >= 0) */
int gov_calendar_add(const gov_calendar_t *cal, int start, int n);

/* working days in (from, to]; 0 when to <= from */
int gov_calendar_between(const gov_calendar_t *cal, int from, int to);

/*
 * The working days in (0, day]: ordinal(b) - ordinal(a) is
 * gov_calendar_between(a, b) for 0 <= a <= b, found without walking the
 * days (a script that counts on-time finishes needs only numbers).
 */
int gov_calendar_ordinal(const gov_calendar_t *cal, int day);


#endif /* _GOV_CALENDAR_H_INCLUDED_ */
