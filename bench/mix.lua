-- bench/mix.lua: a load tester's mix for wrk (bench/progress-mix.sh).
--
--   wrk ... -s bench/mix.lua URL -- PAIRS MODE DIST
--
-- PAIRS is a file of "APPLICATION_ID TOKEN" lines, the token its owner's.
-- MODE: gov    GET /progress/ID with the owner's bearer token
--       seq    the same, the applications in file order (a warm-up pass)
--       lua    GET /lua?id=ID (the nginx+Lua peer, no identity)
--       static GET /static (return 200 of the document's size), with
--              the pair's token as the lookup sends it
-- DIST: uniform, or zipf (s = 1: the application of rank k is asked
--       1/k as often as the first).

local reqs, n = {}, 0
local mode, dist, cdf
local seq = 0

function init(args)
   mode = args[2] or "gov"
   dist = args[3] or "uniform"

   for line in io.lines(args[1]) do
      local id, tok = line:match("^(%S+)%s+(%S+)")
      if id then
         n = n + 1

         -- every request formatted once, here: the client's work per
         -- request is a pick, so that wrk measures the server
         --
         -- LuaJIT hashes a string by its length and a few of its bytes:
         -- 100,000 requests alike but for their tokens all fell in one
         -- chain of its string table (minutes of comparing before the
         -- first request).  A header whose length varies (0-126 bytes,
         -- the same in every case) spreads them.
         local h = { ["X-Mix"] = string.rep("-", n % 127) }
         if mode == "lua" then
            reqs[n] = wrk.format("GET", "/lua?id=" .. id, h)
         else
            h["Authorization"] = "Bearer " .. tok
            -- static: the same request as the lookup's, token included:
            -- what nginx costs to take it in is not the module's
            reqs[n] = wrk.format("GET", mode == "static" and "/static"
                                        or "/progress/" .. id, h)
         end
      end
   end

   math.randomseed(os.time())

   if dist == "zipf" then
      cdf = {}
      local sum = 0
      for i = 1, n do
         sum = sum + 1 / i
         cdf[i] = sum
      end
      for i = 1, n do
         cdf[i] = cdf[i] / sum
      end
   end
end

local function pick()
   if mode == "seq" then
      seq = seq % n + 1
      return seq
   end

   if dist ~= "zipf" then
      return math.random(n)
   end

   local u, lo, hi = math.random(), 1, n
   while lo < hi do
      local mid = math.floor((lo + hi) / 2)
      if cdf[mid] < u then lo = mid + 1 else hi = mid end
   end
   return lo
end

function request()
   return reqs[pick()]
end
