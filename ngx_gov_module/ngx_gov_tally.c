
/*
 * Copyright (C) ngx_gov_module authors
 */


/*
 * The statistics (阳光公开) are counted by the scripts that make the
 * changes, never by scanning: a submission counts an application, the
 * callback that decides a step counts its item's finish and whether it
 * was on time, the change that leaves every step final counts the
 * application's, a rating and a rectification count theirs.  Each adds
 * to a hash per month ("stats:YYYY-MM") and per year ("stats:YYYY"),
 * fields "b:BUNDLE:COUNTER" and "i:ITEM:COUNTER".
 *
 * Working days are counted without the calendar in Redis: the clock each
 * script is given carries today's working-day ordinal (working days since
 * 1970, gov_calendar_ordinal()), the scripts keep the ordinal of the day
 * of submission, acceptance and of each pause's ends, and the difference
 * of two ordinals is the working days between them.  On time is then the
 * test the progress page makes: finished no later than the deadline, that
 * is the time limit plus the working days paused after the start.
 */


#include <ngx_config.h>
#include <ngx_core.h>

#include "ngx_gov_shm.h"
#include "ngx_gov_tally.h"
#include "gov_date.h"


static ngx_atomic_t  *ngx_gov_tally_gen;


static const char  ngx_gov_tally_lua_body[] =
    "local function gov_clock(s)\n"
    "  local m, d, w, wd = string.match(s or '',\n"
    "    '^(%d%d%d%d%-%d%d) (%-?%d+) (%-?%d+) ([01])$')\n"
    "  if not m then return nil end\n"
    "  return {m = m, y = string.sub(m, 1, 4), day = tonumber(d),\n"
    "          w = tonumber(w), wd = wd == '1'}\n"
    "end\n"
    "local function gov_tally(c, field, n)\n"
    "  if n == 0 then return end\n"
    "  redis.call('HINCRBY', GOV_P .. 'stats:' .. c.m, field, n)\n"
    "  redis.call('HINCRBY', GOV_P .. 'stats:' .. c.y, field, n)\n"
    "end\n"
    "local function gov_pause(s, c, today)\n"
    "  s.paused_since = today\n"
    "  s.paused_since_w = c and c.w or nil\n"
    "end\n"
    "local function gov_unpause(s, c, today)\n"
    "  if not s.paused_since then return end\n"
    "  s.pauses = s.pauses or {}\n"
    "  if c and s.paused_since_w then\n"
    "    table.insert(s.pauses, {s.paused_since, today, s.paused_since_w, c.w})\n"
    "  else\n"
    "    table.insert(s.pauses, {s.paused_since, today})\n"
    "  end\n"
    "  s.paused_since = nil\n"
    "  s.paused_since_w = nil\n"
    "end\n"
    "local function gov_paused_w(s)\n"
    "  local n = 0\n"
    "  for _, q in ipairs(s.pauses or {}) do\n"
    "    if q[3] and q[4] then n = n + q[4] - q[3] end\n"
    "  end\n"
    "  return n\n"
    "end\n"
    "local function gov_finished(c, scope, day, w, limit, paused)\n"
    "  local used, n = c.w - w, limit + paused\n"
    "  local on\n"
    "  if n == 0 then on = c.day == day\n"
    "  else on = used < n or (used == n and c.wd) end\n"
    "  gov_tally(c, scope .. 'finished', 1)\n"
    "  if on then gov_tally(c, scope .. 'on_time', 1) end\n"
    "  gov_tally(c, scope .. 'days', math.max(0, used - paused))\n"
    "end\n"
    "local function gov_stats_of(id)\n"
    "  local st = redis.call('HGET', GOV_P .. 'app:' .. id, 'stats')\n"
    "  return st and cjson.decode(st)\n"
    "end\n"
    /* the steps whose clock runs, by the ordinal of their deadline: the
     * ones past it are gov_steps_overdue */
    "local function gov_due(id, item, s)\n"
    "  local m, t = id .. '|' .. item, s.state\n"
    "  if s.accepted_w and t ~= 'correction' and t ~= 'special'\n"
    "     and t ~= 'approved' and t ~= 'delivered' and t ~= 'denied'\n"
    "     and t ~= 'refused' and t ~= 'withdrawn' then\n"
    "    local st = gov_stats_of(id)\n"
    "    local lim = st and st.i and st.i[item]\n"
    "    if lim then\n"
    "      redis.call('ZADD', GOV_P .. 'due',\n"
    "                 s.accepted_w + lim + gov_paused_w(s), m)\n"
    "      return\n"
    "    end\n"
    "  end\n"
    "  redis.call('ZREM', GOV_P .. 'due', m)\n"
    "end\n"
    /* a step just decided (approved or denied): its item's figures */
    "local function gov_step_done(c, id, item, s)\n"
    "  if not c or not s.accepted_w then return end\n"
    "  local st = gov_stats_of(id)\n"
    "  local lim = st and st.i and st.i[item]\n"
    "  if not lim then return end\n"
    "  gov_finished(c, 'i:' .. item .. ':', s.accepted_day, s.accepted_w,\n"
    "               lim, gov_paused_w(s))\n"
    "end\n"
    /* after a step became final: the application once all are, none
     * withdrawn, counted once */
    "local function gov_app_done(c, id)\n"
    "  if not c then return end\n"
    "  local akey = GOV_P .. 'app:' .. id\n"
    "  local a = redis.call('HMGET', akey, 'stats', 'bundle', 'finished')\n"
    "  if not a[1] or a[3] then return end\n"
    "  local maxp = 0\n"
    "  for _, raw in ipairs(redis.call('HVALS', GOV_P .. 'steps:' .. id)) do\n"
    "    local s = cjson.decode(raw)\n"
    "    local t = s.state\n"
    "    if t ~= 'approved' and t ~= 'delivered' and t ~= 'denied'\n"
    "       and t ~= 'refused' then return end\n"
    "    local p = gov_paused_w(s)\n"
    "    if p > maxp then maxp = p end\n"
    "  end\n"
    "  local st = cjson.decode(a[1])\n"
    "  redis.call('HSET', akey, 'finished', c.m)\n"
    "  gov_finished(c, 'b:' .. a[2] .. ':', st.d, st.w, st.l, maxp)\n"
    "end\n"
    /* what a rating counts for: the bundle, and the items it decided */
    "local function gov_rating_scopes(id)\n"
    "  local a = redis.call('HMGET', GOV_P .. 'app:' .. id, 'stats', 'bundle')\n"
    "  if not a[1] then return nil end\n"
    "  local out = {'b:' .. a[2] .. ':'}\n"
    "  local all = redis.call('HGETALL', GOV_P .. 'steps:' .. id)\n"
    "  for i = 1, #all, 2 do\n"
    "    local t = cjson.decode(all[i + 1]).state\n"
    "    if t == 'approved' or t == 'delivered' or t == 'denied' then\n"
    "      out[#out + 1] = 'i:' .. all[i] .. ':'\n"
    "    end\n"
    "  end\n"
    "  return out\n"
    "end\n";


ngx_int_t
ngx_gov_tally_add_zone(ngx_conf_t *cf)
{
    return ngx_gov_shm_add(cf, "ngx_gov_tally", sizeof(ngx_atomic_t),
                           (void **) &ngx_gov_tally_gen);
}


/*
 * GOV_P, the prefix of the keys the script's shard holds: the hash tag
 * its first key begins with in a cluster ("{gov:7}"), else the prefix.
 */

#define NGX_GOV_TALLY_P1                                                     \
    "local GOV_P = string.match(KEYS[1] or '', '^({[^}]*})') or '"
#define NGX_GOV_TALLY_P2  "'\n"


size_t
ngx_gov_tally_lua_size(ngx_str_t *prefix)
{
    return sizeof(NGX_GOV_TALLY_P1 NGX_GOV_TALLY_P2) - 1 + prefix->len
           + sizeof(ngx_gov_tally_lua_body) - 1;
}


u_char *
ngx_gov_tally_lua(u_char *p, ngx_str_t *prefix)
{
    /* the prefix is checked at configuration: no quote, no backslash */

    p = ngx_cpymem(p, NGX_GOV_TALLY_P1, sizeof(NGX_GOV_TALLY_P1) - 1);
    p = ngx_cpymem(p, prefix->data, prefix->len);
    p = ngx_cpymem(p, NGX_GOV_TALLY_P2, sizeof(NGX_GOV_TALLY_P2) - 1);

    return ngx_cpymem(p, ngx_gov_tally_lua_body,
                      sizeof(ngx_gov_tally_lua_body) - 1);
}


size_t
ngx_gov_tally_clock(const gov_calendar_t *cal, time_t now, u_char *buf)
{
    int  day, y, m, d;

    day = gov_day(now);
    gov_civil_from_day(day, &y, &m, &d);

    return ngx_sprintf(buf, "%04d-%02d %d %d %d", y, m, day,
                       gov_calendar_ordinal(cal, day),
                       gov_calendar_is_workday(cal, day))
           - buf;
}


void
ngx_gov_tally_touch(void)
{
    if (ngx_gov_tally_gen) {
        (void) ngx_atomic_fetch_add(ngx_gov_tally_gen, 1);
    }
}


ngx_atomic_uint_t
ngx_gov_tally_generation(void)
{
    return ngx_gov_tally_gen ? *ngx_gov_tally_gen : 0;
}
