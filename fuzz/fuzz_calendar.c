
/*
 * Copyright (C) ngx_gov_module authors
 *
 * libFuzzer target: calendar files, then deadlines over what parsed.
 */


#include <stddef.h>
#include <stdint.h>

#include "gov_calendar.h"


int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    int             day, end;
    char            err[256];
    size_t          line;
    gov_calendar_t  cal;

    if (gov_calendar_parse(&cal, (const char *) data, size, &line, err,
                           sizeof(err))
        != 0)
    {
        return 0;
    }

    day = gov_day_from_civil(2026, 11, 25);
    end = gov_calendar_add(&cal, day, 30);

    /* thirty working days later is later, and has thirty working days */
    if (end <= day || gov_calendar_between(&cal, day, end) != 30) {
        __builtin_trap();
    }

    gov_calendar_free(&cal);

    return 0;
}
