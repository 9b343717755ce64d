-- wrk script of `make bench`: GETs one path, each request with the next token of a file (each thread its own share of the tokens), and prints a machine-readable result line.
--
-- wrk -t NTHREADS ... -s bench/tokens.lua URL -- PATH TOKENFILE|- STATEFILE|- NTHREADS [REPEAT]
--   TOKENFILE  one token a line; thread k of n sends lines k, k+n, k+2n ... in turn, so a token
--              comes back only after every other token of the file was sent once ("-": no
--              Authorization header at all)
--   STATEFILE  where each thread's position is kept between runs, so the next run goes on
--              with the tokens least recently sent instead of starting over ("-": none)
--   NTHREADS   wrk's -t (init() runs before every thread exists, so it cannot count them)
--   REPEAT     how many requests in a row carry the same token (default 1; the memory check
--              sends each twice, so that the module's cache admits it)

local threads = {}
local nthreads = 0

function setup(thread)
    thread:set("id", nthreads)
    nthreads = nthreads + 1
    table.insert(threads, thread)
end

local reqs, n, repeats, left = {}, 0, 1, 0
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

function init(args)
    local path, tokenfile, statefile = args[1], args[2], args[3]
    local nth = assert(tonumber(args[4]), "give wrk's thread count as the fourth argument")
    repeats = tonumber(args[5] or "1")
    assert(repeats and repeats >= 1, "REPEAT must be a number >= 1")
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
        local share = #lines >= nth
        for i, line in ipairs(lines) do
            if not share or (i - 1) % nth == id then
                n = n + 1
                reqs[n] = wrk.format("GET", path, { ["Authorization"] = "Bearer " .. line })
            end
        end
    end
    position = (read_positions(statefile)[id + 1] or 0) % n
    statepath = statefile
end

function request()
    if left > 0 then
        left = left - 1
        return reqs[position]
    end
    position = position % n + 1
    left = repeats - 1
    return reqs[position]
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
