-- wrk script: the same body of UPLOAD_BYTES bytes (a PDF by its first
-- bytes) to gov_upload (POST) or to the DAV baseline (PUT), as UPLOAD_METHOD
local n = tonumber(os.getenv("UPLOAD_BYTES"))
wrk.method = os.getenv("UPLOAD_METHOD") or "POST"
wrk.headers["Content-Type"] = "application/pdf"
wrk.headers["Authorization"] = "Bearer " .. os.getenv("GOV_TOKEN")
wrk.body = "%PDF-1.4\n" .. string.rep("0123456789abcdef", (n - 9) / 16)
