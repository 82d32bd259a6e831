-- wrk script: submit.lua's application, each connection waiting 20 ms
-- between requests (ten connections: about 500 submissions a second)
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer " .. os.getenv("GOV_TOKEN")
wrk.body = '{"fields":{"name":"张三","id_number":"11010119900101123X"},' ..
           '"materials":{"id_card":"ref-1"}}'

function delay()
    return 20
end
