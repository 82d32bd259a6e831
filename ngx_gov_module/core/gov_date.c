
/*
 * Copyright (C) ngx_gov_module authors
 */


#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "gov_calendar.h"
#include "gov_date.h"


int
gov_day(time_t t)
{
    struct tm  tm;

    static time_t  last_t = -1;
    static int     last_day;

    if (t == last_t) {
        return last_day;
    }

    if (localtime_r(&t, &tm) == NULL) {
        return 0;
    }

    last_t = t;
    last_day = gov_day_from_civil(tm.tm_year + 1900, tm.tm_mon + 1,
                                  tm.tm_mday);

    return last_day;
}


char *
gov_iso_date(char *p, int day)
{
    int   y, m, d;
    char  buf[32];

    gov_civil_from_day(day, &y, &m, &d);

    snprintf(buf, sizeof(buf), "%04d-%02d-%02d", y % 10000, m % 100,
             d % 100);
    memcpy(p, buf, GOV_ISO_DATE_LEN);

    return p + GOV_ISO_DATE_LEN;
}


int
gov_date_parse(const char *s, size_t len)
{
    int     y, m, d, yy, mm, dd, day;
    size_t  i;

    if (len != GOV_ISO_DATE_LEN || s[4] != '-' || s[7] != '-') {
        return -1;
    }

    for (i = 0; i < len; i++) {
        if (i != 4 && i != 7 && (s[i] < '0' || s[i] > '9')) {
            return -1;
        }
    }

    y = (s[0] - '0') * 1000 + (s[1] - '0') * 100 + (s[2] - '0') * 10
        + (s[3] - '0');
    m = (s[5] - '0') * 10 + (s[6] - '0');
    d = (s[8] - '0') * 10 + (s[9] - '0');

    if (y < 2000 || y > 2199 || m < 1 || m > 12 || d < 1 || d > 31) {
        return -1;
    }

    day = gov_day_from_civil(y, m, d);

    /* 2026-02-30 is no day */
    gov_civil_from_day(day, &yy, &mm, &dd);

    return (yy == y && mm == m && dd == d) ? day : -1;
}


char *
gov_iso_time(char *p, time_t t)
{
    long       off;
    char       buf[64];
    struct tm  tm;

    if (localtime_r(&t, &tm) == NULL) {
        memset(&tm, 0, sizeof(struct tm));
    }

    off = tm.tm_gmtoff / 60;

    snprintf(buf, sizeof(buf), "%04d-%02d-%02dT%02d:%02d:%02d%c%02ld:%02ld",
             (tm.tm_year + 1900) % 10000, tm.tm_mon + 1, tm.tm_mday,
             tm.tm_hour, tm.tm_min, tm.tm_sec, off < 0 ? '-' : '+',
             labs(off / 60) % 100, labs(off % 60));
    memcpy(p, buf, GOV_ISO_TIME_LEN);

    return p + GOV_ISO_TIME_LEN;
}
