
/*
 * Copyright (C) ngx_gov_module authors
 *
 * Days and dates in the server's time zone: the day number of a UNIX time
 * (days since 1970-01-01, as gov_calendar counts them) and the ISO 8601
 * forms the progress documents carry.  No nginx header.
 */


#ifndef _GOV_DATE_H_INCLUDED_
#define _GOV_DATE_H_INCLUDED_


#include <stddef.h>
#include <time.h>


#define GOV_ISO_DATE_LEN  10        /* YYYY-MM-DD */
#define GOV_ISO_TIME_LEN  25        /* YYYY-MM-DDThh:mm:ss+hh:mm */


/*
 * The day number of a UNIX time in the server's zone.  Asked on every
 * lookup: the last answer is kept, so localtime runs once a second at most.
 */
int gov_day(time_t t);

/* writes "YYYY-MM-DD" (GOV_ISO_DATE_LEN bytes, no NUL); returns the end */
char *gov_iso_date(char *p, int day);

/* the day of "YYYY-MM-DD" (a real date, 2000..2199), or -1 */
int gov_date_parse(const char *s, size_t len);

/* writes the time with the server's UTC offset (GOV_ISO_TIME_LEN bytes) */
char *gov_iso_time(char *p, time_t t);


#endif /* _GOV_DATE_H_INCLUDED_ */
