-- wrk script of `make bench`: GETs one path, each request with the next token of a file (each thread its own share of the tokens), and prints a machine-readable result line.
--
-- wrk -t NTHREADS ... -s bench/tokens.lua URL -- PATH TOKENFILE|- STATEFILE|- NTHREADS [REPEAT [ORDERFILE]]
--   TOKENFILE  one token a line (or "TOKEN PROOF": sent as `Authorization: DPoP TOKEN` and
--              `DPoP: PROOF`, RFC 9449; a JWT has no space); thread k of n sends lines k, k+n, k+2n ... in turn, so a token
--              comes back only after every other token of the file was sent once ("-": no
--              Authorization header at all)
--   STATEFILE  where each thread's position is kept between runs, so the next run goes on
--              with the tokens least recently sent instead of starting over ("-": none)
--   NTHREADS   wrk's -t (init() runs before every thread exists, so it cannot count them)
--   REPEAT     how many requests in a row carry the same token (default 1; the memory check
--              sends each twice, so that the module's cache admits it)
--   (headers given to wrk with -H, such as "Connection: close", are sent with every request)
--   ORDERFILE  the order of the tokens instead of the file's: one line number of TOKENFILE
--              (1-based) a line, sent in turn (thread k of n: entries k, k+n ...), then over
--              again; every thread holds all the tokens ("-" or none: the file's order)

local threads = {}
local nthreads = 0

function setup(thread)
    thread:set("id", nthreads)
    nthreads = nthreads + 1
    table.insert(threads, thread)
end

local reqs, n, repeats, left = {}, 0, 1, 0
-- with an ORDERFILE: the request numbers of reqs to send, in turn (else nil)
local order = nil
-- globals, read by done() through thread:get
position, statepath = 0, nil

local function read_positions(statefile)
    local at = {}
    local f = statefile ~= "-" and io.open(statefile, "r")
    if f then
        for line in f:lines() do
            table.insert(at, tonumber(line))
        end
        f:close()
    end
    return at
end

local function read_order(orderfile, ntokens, nth)
    local list, i = {}, 0
    for line in io.lines(orderfile) do
        if #line > 0 then
            local k = tonumber(line)
            assert(k and k >= 1 and k <= ntokens, orderfile .. ": not a line number of the token file: " .. line)
            if i % nth == id then
                table.insert(list, k)
            end
            i = i + 1
        end
    end
    assert(#list > 0, "no line numbers in " .. orderfile)
    return list
end

function init(args)
    local path, tokenfile, statefile = args[1], args[2], args[3]
    local nth = assert(tonumber(args[4]), "give wrk's thread count as the fourth argument")
    repeats = tonumber(args[5] or "1")
    assert(repeats and repeats >= 1, "REPEAT must be a number >= 1")
    local orderfile = args[6] ~= "-" and args[6] or nil
    -- wrk.format uses wrk.headers (wrk -H) only when given no headers of its own
    local function with_token(token)
        local h = {}
        for k, v in pairs(wrk.headers) do
            h[k] = v
        end
        local bound, proof = token:match("^(%S+) (%S+)$")
        if bound then
            h["Authorization"] = "DPoP " .. bound
            h["DPoP"] = proof
        else
            h["Authorization"] = "Bearer " .. token
        end
        return h
    end
    if tokenfile == "-" then
        reqs[1] = wrk.format("GET", path)
        n = 1
    else
        local lines = {}
        for line in io.lines(tokenfile) do
            if #line > 0 then
                table.insert(lines, line)
            end
        end
        assert(#lines > 0, "no tokens in " .. tokenfile)
        -- a file with fewer tokens than threads (the same-token case) goes to every thread
        local share = #lines >= nth and not orderfile
        for i, line in ipairs(lines) do
            if not share or (i - 1) % nth == id then
                n = n + 1
                reqs[n] = wrk.format("GET", path, with_token(line))
            end
        end
    end
    if orderfile then
        order = read_order(orderfile, n, nth)
    end
    position = (read_positions(statefile)[id + 1] or 0) % (order and #order or n)
    statepath = statefile
end

local function current()
    return order and reqs[order[position]] or reqs[position]
end

function request()
    if left > 0 then
        left = left - 1
        return current()
    end
    position = position % (order and #order or n) + 1
    left = repeats - 1
    return current()
end

function done(summary, latency, requests)
    local e = summary.errors
    io.write(string.format("RESULT requests=%d duration_us=%d p50_us=%d p99_us=%d "
        .. "status_errors=%d connect=%d read=%d write=%d timeout=%d\n",
        summary.requests, summary.duration, latency:percentile(50), latency:percentile(99),
        e.status, e.connect, e.read, e.write, e.timeout))
    local statefile = threads[1]:get("statepath")
    if statefile and statefile ~= "-" then
        local f = assert(io.open(statefile, "w"))
        for _, t in ipairs(threads) do
            f:write(tostring(t:get("position")), "\n")
        end
        f:close()
    end
end
