-- wrk script: POST a valid application to the five-item bundle
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer " .. os.getenv("GOV_TOKEN")
wrk.body = '{"fields":{"name":"张三","id_number":"11010119900101123X"},' ..
           '"materials":{"id_card":"ref-1"}}'
