-- bench/tokens.lua: each request a bearer token picked at random from a
-- file of tokens, one a line (bench/jwt.sh).
--
--   wrk ... -s bench/tokens.lua URL -- TOKENS

local toks, n = {}, 0

function init(args)
   for line in io.lines(args[1]) do
      if #line > 0 then
         n = n + 1
         toks[n] = "Bearer " .. line
      end
   end

   math.randomseed(os.time())
end

function request()
   wrk.headers["Authorization"] = toks[math.random(n)]
   return wrk.format(nil)
end
