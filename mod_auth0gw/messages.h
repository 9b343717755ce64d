/* The registry of message numbers: one macro per message, one meaning per number, the level it is logged at. */
#ifndef AGW_MESSAGES_H
#define AGW_MESSAGES_H

/* A log line starts with its macro: AGW_M_TOKEN_REJECTED ": token rejected: ...". Every
 * number here has a row in README.md's "Reading the logs" and no other meaning;
 * t/sanity/02-messages.t checks both, and that no source logs a number written out.
 * Format (the test parses it): #define NAME "AGWnnnn" followed by a level: meaning comment. */

/* configuration and start */
#define AGW_M_CONFIG            "AGW0001" /* emerg: configuration error with file:line and the fix (apachectl configtest fails) */
#define AGW_M_INSECURE_HTTP     "AGW0002" /* warn: Auth0InsecureHTTP On in use (at start; from .htaccess, when read, at most once a minute per process) */
#define AGW_M_CONF_INCOMPLETE   "AGW0003" /* error: a merged per-directory configuration (e.g. from .htaccess) is incomplete: request refused (500) */
#define AGW_M_SECRET_INLINE     "AGW0004" /* warn: a client secret is written literally in the configuration */
#define AGW_M_VERSION           "AGW0005" /* notice: mod_auth0gw VERSION loaded, once per start and per restart */
#define AGW_M_CONFIG_SUMMARY    "AGW0006" /* emerg: how many configuration errors were logged above; httpd not started */
#define AGW_M_MAIN_INCOMPLETE   "AGW0007" /* warn: an AuthType Auth0 section at server level lacks a value in the main server only (every VirtualHost sets it): requests no virtual host answers would get 500 there */
#define AGW_M_NO_KEYSTORE       "AGW0010" /* crit: a child process cannot create its key store */
#define AGW_M_NO_REFRESHER      "AGW0011" /* crit: the JWKS refresh thread cannot start; keys refresh only on an unknown kid */
#define AGW_M_NO_CURL           "AGW0012" /* emerg: ChrootDir is set and libcurl could not be loaded before the chroot (the reason); httpd does not start */
#define AGW_M_FETCHER          "AGW0013" /* error: the fetcher process could not be started, or ended within 10 s of its start 5 times in a row: each child makes its own transfers (loading libcurl) until the next restart */
#define AGW_M_FETCHER_DIED     "AGW0014" /* warn: the fetcher process ended (its exit status or signal) and was started again */
#define AGW_M_CACHE_PROVIDER    "AGW0020" /* emerg: the Auth0Cache provider module is not loaded */
#define AGW_M_CACHE_CREATE      "AGW0021" /* emerg: the Auth0Cache provider refused its arguments */
#define AGW_M_FETCH_MUTEX       "AGW0022" /* emerg: the global mutex that serialises key and token fetches cannot be created */
#define AGW_M_CACHE_INIT        "AGW0023" /* warn: the shared cache could not be initialised at start; each process keeps its own state until it can */
#define AGW_M_NO_SHMCB          "AGW0024" /* notice: mod_socache_shmcb is not loaded: keys and backend tokens are kept per process */
#define AGW_M_CACHE_MUTEX       "AGW0025" /* emerg: the global mutex of the shared cache cannot be created */
#define AGW_M_CACHE_KEY         "AGW0026" /* emerg: the shared-cache key could not be made (no random bytes, or HKDF failed) */
#define AGW_M_STATE_DIR         "AGW0027" /* warn: the directory of the keys kept across restarts (Auth0StateDir) or its key file cannot be used: keys are not kept (the server starts), or a bad key file was replaced */
#define AGW_M_NONCE_KEY         "AGW0029" /* emerg: the DPoP nonce key could not be made (no random bytes, or HKDF failed) */
#define AGW_M_METRICS_SHM       "AGW0030" /* warn: the shared memory for the host's counters could not be made: each process counts for itself, and the status page says so */
#define AGW_M_METRICS_RESET     "AGW0031" /* notice: a restart with a module that counts other things: the host's counters start again from zero */
#define AGW_M_HCACHE_SHM        "AGW0032" /* warn: the shared memory for the host-wide table of verified tokens could not be made: each process keeps its own cache of Auth0TokenCache entries */
#define AGW_M_CYCLES            "AGW0033" /* warn: a make bench-cycles build only: a child's cycle counts of the hit path's steps, at its exit */

/* requests */
#define AGW_M_TOKEN_REJECTED    "AGW0100" /* info: token rejected: reason, fp, iss, sub and refusal= (the counter it counts in) */
#define AGW_M_NO_TOKEN          "AGW0101" /* info: request without a token */
#define AGW_M_NO_KEYS           "AGW0102" /* error: no usable keys (503) */
#define AGW_M_AUTHZ_DENIED      "AGW0103" /* info: authorization denied: which Require line was not met */
#define AGW_M_UNKNOWN_KID       "AGW0104" /* debug: the token's kid is not in the cached JWKS: refetch if the cooldown allows */
#define AGW_M_TOKEN_ACCEPTED    "AGW0105" /* debug: token accepted (fp, kid, alg, user) */
#define AGW_M_HASH_FAILED       "AGW0106" /* error: the token could not be hashed (libcrypto failed): request refused with 500 */
#define AGW_M_REPORT_ONLY       "AGW0107" /* info: Auth0Mode report-only: what would have been refused (no token, a bad token with its reason and refusal=, a Require auth0-* line not met); the request goes on */
#define AGW_M_ANONYMOUS         "AGW0108" /* debug: Auth0Mode optional: no token, the request goes on anonymous */
#define AGW_M_PREFLIGHT         "AGW0109" /* debug: Auth0PassPreflight On: a CORS preflight passes without a token */
#define AGW_M_HEADER_REMOVED    "AGW0110" /* debug: an incoming claim header was removed */
#define AGW_M_CLAIMS_LOST       "AGW0111" /* error: a token accepted from the host table's brief of its claims, whose claims cannot be parsed when the request asks for them (libjansson failing): the request has no claims (Require auth0-* denies, no claim headers) */
#define AGW_M_SENDER_PROVED     "AGW0120" /* debug: a sender-constrained request proved: a DPoP proof verified and remembered, a token bound to its key (cnf.jkt) or to the TLS client certificate (cnf x5t#S256) */

/* keys (logged by the core's key store through its callback: src/agw_keys.h AGW_MSG_*) */
#define AGW_M_JWKS_FETCHED      "AGW0200" /* info: JWKS fetched (n keys, m skipped) */
#define AGW_M_JWKS_FAILED       "AGW0201" /* warn: JWKS fetch failed, with the reason */
#define AGW_M_JWKS_SKIPPED      "AGW0202" /* warn: a JWKS key was skipped, and why */
#define AGW_M_JWKS_RESTORED     "AGW0203" /* info: a process found no keys in memory or the shared cache and took the set kept across restarts (n keys, fetched s ago); it refreshes it within seconds */

/* backend tokens (proxy) */
#define AGW_M_CLIENT_TOKEN      "AGW0210" /* info: client-credentials token obtained (expires in, fp) */
#define AGW_M_CLIENT_FAILED     "AGW0211" /* error: token request failed, with the endpoint's error / error_description and the backoff */
#define AGW_M_PROXY_NO_TOKEN    "AGW0212" /* error: no backend token: request not forwarded (503) */
#define AGW_M_PROXY_NO_CLIENT   "AGW0213" /* error: Auth0ProxyClient names no <Auth0Client> of the request's server (500) */
#define AGW_M_PROXY_ORIGIN      "AGW0214" /* error: client and backend origin not among its Auth0ClientBackend origins: request refused (403), nothing fetched or forwarded */
#define AGW_M_PROXY_FORWARD     "AGW0215" /* error: client and URL of a forward-proxy request (ProxyRequests On): refused (403), the token goes to reverse-proxied backends only */
#define AGW_M_CC_STORE          "AGW0216" /* crit: the client token store could not be made at process start (out of memory): every request of an Auth0ProxyClient location gets 503 */
#define AGW_M_CC_RESTORED       "AGW0217" /* info: a process with no backend token took the one kept across restarts (client, expires in, fp) instead of asking the endpoint */
#define AGW_M_PROXY_DPOP        "AGW0218" /* error: client with Auth0ClientDPoPKey: no DPoP proof for a proxied request (the backend URL is a balancer://, whose member is chosen later, or signing failed): not forwarded (500) */

/* shared cache */
#define AGW_M_CACHE_OUTAGE      "AGW0301" /* warn: shared cache unreachable (at most every 30 s per process) */
#define AGW_M_CACHE_NOT_STORED  "AGW0302" /* debug: the shared cache did not take an entry (too large for its size?) */
#define AGW_M_CACHE_FORGED      "AGW0303" /* warn: a shared-cache record failed to open (another fleet key, or tampered with): ignored, the network is used (at most every 30 s per process) */
#define AGW_M_STATE_FORGED      "AGW0304" /* warn: a file kept across restarts (a key set or a backend token) failed to open (sealed with another key, or tampered with): ignored, the network is used (once per file and process) */
#define AGW_M_STATE_WRITE       "AGW0305" /* warn: a file kept across restarts (a key set or a backend token) could not be written (at most once a minute per process) */

#endif
