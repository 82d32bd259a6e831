-- bench/submit-tokens.lua: each request a submission to the newborn
-- bundle by a citizen picked at random from a file of tokens, one a line
-- (bench/cluster.sh): many citizens, so many shards.
--
--   wrk ... -s bench/submit-tokens.lua URL -- TOKENS

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

wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.body = '{"fields":{"name":"张三"},"materials":{"id_card":"ref-1"}}'

function request()
   wrk.headers["Authorization"] = toks[math.random(n)]
   return wrk.format(nil)
end
