
/*
 * Copyright (C) ngx_gov_module authors
 */


#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gov_calendar.h"


static int gov_calendar_cmp(const void *a, const void *b);
static const gov_calendar_day_t *gov_calendar_find(const gov_calendar_t *cal,
    int day);


/* H. Hinnant's days_from_civil / civil_from_days */

int
gov_day_from_civil(int y, int m, int d)
{
    int       era;
    unsigned  yoe, doy, doe;

    y -= m <= 2;
    era = (y >= 0 ? y : y - 399) / 400;
    yoe = (unsigned) (y - era * 400);
    doy = (unsigned) ((153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1);
    doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;

    return era * 146097 + (int) doe - 719468;
}


void
gov_civil_from_day(int day, int *y, int *m, int *d)
{
    int       era, yy;
    unsigned  doe, yoe, doy, mp;

    day += 719468;
    era = (day >= 0 ? day : day - 146096) / 146097;
    doe = (unsigned) (day - era * 146097);
    yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    yy = (int) yoe + era * 400;
    doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    mp = (5 * doy + 2) / 153;

    *d = (int) (doy - (153 * mp + 2) / 5 + 1);
    *m = (int) (mp < 10 ? mp + 3 : mp - 9);
    *y = yy + (*m <= 2);
}


int
gov_weekday(int day)
{
    /* 1970-01-01 was a Thursday */
    return day >= -4 ? (day + 4) % 7 : (day + 5) % 7 + 6;
}


static int
gov_calendar_cmp(const void *a, const void *b)
{
    const gov_calendar_day_t  *x = a, *y = b;

    return (x->day > y->day) - (x->day < y->day);
}


/*
 * The calendar file, line by line, with the exact line of every mistake.
 * One loop over the text of more than 120 lines: the cursor, the line
 * number and the error text are shared by every check of a line.
 */

int
gov_calendar_parse(gov_calendar_t *cal, const char *text, size_t len,
    size_t *line, char *err, size_t errlen)
{
    int                  y, m, d, day, n;
    char                 buf[128], word[16], extra[2];
    size_t               i, start, end, cap, k;
    gov_calendar_day_t  *days, *grown;

    cal->days = NULL;
    cal->ndays = 0;

    days = NULL;
    cap = 0;
    *line = 0;

    i = 0;

    while (i < len) {
        (*line)++;
        start = i;

        while (i < len && text[i] != '\n') {
            i++;
        }

        end = i;
        i++;

        for (k = start; k < end; k++) {
            if (text[k] == '#') {
                end = k;
                break;
            }
        }

        while (start < end && (text[start] == ' ' || text[start] == '\t'
                               || text[start] == '\r'))
        {
            start++;
        }

        while (end > start && (text[end - 1] == ' ' || text[end - 1] == '\t'
                               || text[end - 1] == '\r'))
        {
            end--;
        }

        if (start == end) {
            continue;
        }

        if (end - start >= sizeof(buf)) {
            snprintf(err, errlen, "line too long");
            goto failed;
        }

        memcpy(buf, text + start, end - start);
        buf[end - start] = '\0';

        n = sscanf(buf, "%4d-%2d-%2d %15s %1s", &y, &m, &d, word, extra);

        if (n != 4 || buf[4] != '-' || buf[7] != '-'
            || (buf[10] != ' ' && buf[10] != '\t'))
        {
            snprintf(err, errlen, "expected \"YYYY-MM-DD holiday|workday\", "
                     "got \"%s\"", buf);
            goto failed;
        }

        if (y < 1970 || y > 9999 || m < 1 || m > 12 || d < 1 || d > 31) {
            snprintf(err, errlen, "invalid date \"%.10s\"", buf);
            goto failed;
        }

        day = gov_day_from_civil(y, m, d);

        {
            int  yy, mm, dd;

            gov_civil_from_day(day, &yy, &mm, &dd);

            if (yy != y || mm != m || dd != d) {
                snprintf(err, errlen, "invalid date \"%.10s\"", buf);
                goto failed;
            }
        }

        if (strcmp(word, "holiday") != 0 && strcmp(word, "workday") != 0) {
            snprintf(err, errlen, "\"%s\" is neither \"holiday\" nor "
                     "\"workday\"", word);
            goto failed;
        }

        if (cal->ndays == cap) {
            cap = cap ? cap * 2 : 64;
            grown = realloc(days, cap * sizeof(gov_calendar_day_t));
            if (grown == NULL) {
                snprintf(err, errlen, "out of memory");
                goto failed;
            }

            days = grown;
            cal->days = days;
        }

        days[cal->ndays].day = day;
        days[cal->ndays].workday = word[0] == 'w';
        cal->ndays++;
    }

    cal->days = days;

    if (cal->ndays) {
        qsort(days, cal->ndays, sizeof(gov_calendar_day_t), gov_calendar_cmp);

        for (k = 1; k < cal->ndays; k++) {
            if (days[k].day == days[k - 1].day) {
                gov_civil_from_day(days[k].day, &y, &m, &d);
                snprintf(err, errlen, "%04d-%02d-%02d is listed twice",
                         y, m, d);
                *line = 0;
                goto failed;
            }
        }
    }

    return 0;

failed:

    free(days);
    cal->days = NULL;
    cal->ndays = 0;

    return -1;
}


void
gov_calendar_free(gov_calendar_t *cal)
{
    free(cal->days);
    cal->days = NULL;
    cal->ndays = 0;
}


static const gov_calendar_day_t *
gov_calendar_find(const gov_calendar_t *cal, int day)
{
    size_t  lo, hi, mid;

    if (cal == NULL || cal->ndays == 0) {
        return NULL;
    }

    lo = 0;
    hi = cal->ndays;

    while (lo < hi) {
        mid = lo + (hi - lo) / 2;

        if (cal->days[mid].day == day) {
            return &cal->days[mid];
        }

        if (cal->days[mid].day < day) {
            lo = mid + 1;

        } else {
            hi = mid;
        }
    }

    return NULL;
}


int
gov_calendar_is_workday(const gov_calendar_t *cal, int day)
{
    int                        wd;
    const gov_calendar_day_t  *special;

    special = gov_calendar_find(cal, day);

    if (special) {
        return special->workday;
    }

    wd = gov_weekday(day);

    return wd != 0 && wd != 6;
}


int
gov_calendar_add(const gov_calendar_t *cal, int start, int n)
{
    int  day;

    day = start;

    while (n > 0) {
        day++;

        if (gov_calendar_is_workday(cal, day)) {
            n--;
        }
    }

    return day;
}


int
gov_calendar_between(const gov_calendar_t *cal, int from, int to)
{
    int  day, n;

    n = 0;

    for (day = from + 1; day <= to; day++) {
        n += gov_calendar_is_workday(cal, day);
    }

    return n;
}


int
gov_calendar_ordinal(const gov_calendar_t *cal, int day)
{
    int     n, d, wd, normal;
    size_t  i;

    if (day <= 0) {
        return 0;
    }

    /* Monday to Friday in (0, day]: five a week, then the days left */

    n = day / 7 * 5;

    for (d = day - day % 7 + 1; d <= day; d++) {
        wd = gov_weekday(d);
        n += (wd != 0 && wd != 6);
    }

    /* then the calendar's holidays on weekdays and workdays on weekends */

    for (i = 0; cal && i < cal->ndays && cal->days[i].day <= day; i++) {
        if (cal->days[i].day <= 0) {
            continue;
        }

        wd = gov_weekday(cal->days[i].day);
        normal = (wd != 0 && wd != 6);

        n += cal->days[i].workday - normal;
    }

    return n;
}
