/* The gate: a request's token checked in one call, from the caches, the key store and the claims to the sender constraint. */
#include <string.h>
#include <apr_strings.h>

#include "agw_gate.h"
#include "agw_hot.h"
#include "agw_cycles.h"
#include "agw_crypt.h"
#include "agw_dpop.h"
#include "agw_json.h"
#include "agw_jws.h"
#include "agw_jwt.h"
#include "agw_util.h"

/* One call's state. */
typedef struct ctx_t {
    agw_gate_out_t *out;
    agw_gate_t *g;
    const agw_gate_policy_t *pol;
    const agw_gate_in_t *in;
    apr_int64_t now;
    apr_pool_t *p;
    unsigned char digest[32];
    agw_keysrc_t *src;          /* the policy's key source, once a cache found it usable */
    unsigned long version;      /* and the version of its set then */
    int host_looked;            /* the host's table was read: host_hit says what it held */
    int host_found;
    int brief_tried;            /* from_host_brief ran on a table hit */
    agw_hcache_hit_t host_hit;
    agw_jwt_brief_t host_brief;
    agw_jws_t *host_jws;        /* the hit's token, decoded */
} ctx_t;

/* The JWKS a token is checked against, held until the call's pool is cleared. */
typedef struct keys_t {
    agw_keysrc_t *src;
    agw_keys_ref_t *ref;
} keys_t;

/* What the signature step found: its outcome, the key source and key set version it used,
 * and whether the host's table spared the verification. */
typedef struct verdict_t {
    apr_status_t rv;
    const unsigned char *source;
    unsigned long version;
    int from_host;
} verdict_t;

static const agw_alg_set_t hs_algs = AGW_ALG_BIT(AGW_ALG_HS256) | AGW_ALG_BIT(AGW_ALG_HS384)
                                     | AGW_ALG_BIT(AGW_ALG_HS512);

static int is_hs(agw_alg_e alg)
{
    return alg == AGW_ALG_HS256 || alg == AGW_ALG_HS384 || alg == AGW_ALG_HS512;
}

/* The outcomes; each returns 1: the call's answer is out. */
static int refuse(ctx_t *x, json_t *claims, const agw_err_t *err)
{
    x->out->outcome = AGW_GATE_REFUSE;
    x->out->err = *err;
    x->out->claims = claims;
    return 1;
}

/* A token refused before its signature was trusted: its payload is parsed only for the log
 * line's iss/sub, and only when that line is written. */
static int refuse_unverified(ctx_t *x, agw_jws_t *jws, const agw_err_t *err)
{
    agw_err_t ignored = { NULL, NULL, AGW_R_NONE };

    if (x->in->log_payload)
        agw_jws_claims(jws, x->p, &ignored);
    return refuse(x, jws->payload, err);
}

static int dpop_refused(ctx_t *x, json_t *claims, const char *reason)
{
    agw_err_t err = { NULL, NULL, AGW_R_NONE };

    agw_err_refuse(&err, AGW_R_DPOP, reason);
    err.code = AGW_E_INVALID_DPOP_PROOF;
    return refuse(x, claims, &err);
}

static int unavailable(ctx_t *x, const char *name, apr_int64_t retry, const agw_err_t *err)
{
    x->out->outcome = AGW_GATE_UNAVAILABLE;
    x->out->source = name;
    x->out->retry_after = retry;
    x->out->err = *err;
    return 1;
}

/* The keys of one source: 0 with k set, or 1 (UNAVAILABLE). */
static int get_keys(ctx_t *x, const agw_keys_spec_t *spec, keys_t *k)
{
    agw_err_t err = { NULL, NULL, AGW_R_NONE };
    const char *name = spec->jwks ? spec->jwks : spec->issuer;
    apr_int64_t retry = 0;

    k->ref = apr_pcalloc(x->p, sizeof(*k->ref));
    if (!x->g->keys || agw_keystore_source(&k->src, x->g->keys, spec) != APR_SUCCESS) {
        agw_err_set(&err, NULL, "too many distinct key sources in this process");
        return unavailable(x, name, 60, &err);
    }
    if (agw_keysrc_get(k->ref, k->src, x->p, x->now, &retry, &err) != APR_SUCCESS)
        return unavailable(x, name, retry, &err);
    return 0;
}

/* Whether the set still holds the very key (by thumbprint, not by kid: an issuer may reuse
 * a kid for new key material) that verified a cached token, under the same kid. */
static const agw_jwk_t *find_key(const agw_jwks_t *jwks, const unsigned char thumbprint[32],
                                 const char *kid, agw_alg_e alg)
{
    int i;

    for (i = 0; i < jwks->keys->nelts; i++) {
        const agw_jwk_t *j = APR_ARRAY_IDX(jwks->keys, i, agw_jwk_t *);
        if (agw_jwk_is_key(j->thumbprint, j->kid, j->kty, j->alg, thumbprint, kid, alg))
            return j;
    }
    return NULL;
}

/* ---- sender-constrained tokens: DPoP (RFC 9449) and certificate-bound (RFC 8705) ---------- */

/* With a nonce rule, a verified proof must carry a nonce issued here within the last two
 * slots; the current nonce is offered whatever the answer. 0 when it holds. */
static int dpop_nonce_check(ctx_t *x, const agw_dpop_t *proof, json_t *claims)
{
    agw_err_t err = { NULL, NULL, AGW_R_NONE };

    if (!x->pol->dpop_nonce)
        return 0;
    x->out->nonce = agw_nonce_make(x->p, x->g->nonces, x->now);
    if (agw_nonce_check(x->g->nonces, x->p, proof->nonce, x->now, x->pol->leeway, &err)
        == APR_SUCCESS)
        return 0;
    return refuse(x, claims, &err);
}

/* The DPoP header verified against the request, the token and the nonces: 0 when it holds. */
static int dpop_proof(ctx_t *x, json_t *claims, agw_dpop_t **proof)
{
    agw_err_t err = { NULL, NULL, AGW_R_NONE };
    const agw_gate_in_t *in = x->in;
    agw_dpop_req_t req;

    if (!in->dpop)
        return dpop_refused(x, claims, "DPoP scheme without exactly one DPoP header");
    req.method = in->method;
    req.url = in->url;
    req.token = in->token;
    req.token_len = in->len;
    req.now = x->now;
    req.window = AGW_DPOP_WINDOW;
    req.leeway = x->pol->leeway;
    req.keys = x->g->proofkeys;
    if (agw_dpop_verify(proof, x->p, in->dpop, strlen(in->dpop), &req, &err) != APR_SUCCESS)
        return refuse(x, claims, &err);
    return dpop_nonce_check(x, *proof, claims);
}

/* A proof's jti, remembered in the shared store until the proof would be too old anyway:
 * seen there already is a replay. A store that fails lets the proof on: it is fresh and
 * verified, the store only adds the once-only rule. The client request that brought the
 * proof may check it again (an internal redirect or subrequest): that is no replay. */
static int dpop_fresh(ctx_t *x, const agw_dpop_t *proof, json_t *claims)
{
    const char *key = agw_dpop_replay_key(x->p, proof);

    if (key && x->in->used_replay && !strcmp(x->in->used_replay, key))
        return 0;
    if (!key)
        return dpop_refused(x, claims, "DPoP proof cannot be checked (hash failed)");
    if (x->g->replay_add
        && x->g->replay_add(x->g->replay_baton, key, proof->replay_until, x->p) == APR_EEXIST)
        return dpop_refused(x, claims, "DPoP proof replayed");
    x->out->replay_key = key;
    return 0;
}

/* What the token's cnf binds it to, proved by the request (a DPoP proof of that key, the
 * TLS client certificate), and the DPoP mode's rule on schemes. 0 when it all holds. */
static int sender_check(ctx_t *x, json_t *claims)
{
    agw_err_t err = { NULL, NULL, AGW_R_NONE };
    agw_dpop_mode_e mode = x->pol->dpop;
    int dpop = x->in->dpop_scheme;
    agw_dpop_t *proof = NULL;
    agw_cnf_t cnf;

    if (agw_cnf_read(&cnf, claims, &err) != APR_SUCCESS)
        return refuse(x, claims, &err);
    if (dpop && dpop_proof(x, claims, &proof))
        return 1;
    if (!dpop && (cnf.jkt || mode == AGW_DPOP_REQUIRED)) {
        x->out->dpop_challenge = mode != AGW_DPOP_OFF ? 1 : -1;
        if (cnf.jkt)
            agw_err_refuse(&err, AGW_R_BINDING, "DPoP-bound token sent without DPoP");
        else
            agw_err_refuse(&err, AGW_R_DPOP, "Bearer token refused (Auth0DPoP required)");
        return refuse(x, claims, &err);
    }
    if (proof && !cnf.jkt && mode == AGW_DPOP_REQUIRED)
        agw_err_refuse(&err, AGW_R_BINDING, "token is not DPoP-bound (Auth0DPoP required)");
    else if (cnf.jkt)
        agw_cnf_jkt_check(cnf.jkt, proof, &err);
    if (!err.reason && cnf.x5t_s256)
        agw_cnf_x5t_check(cnf.x5t_s256, x->in->client_cert
                                            ? x->in->client_cert(x->in->cert_baton) : NULL,
                          x->p, &err);
    if (err.reason)
        return refuse(x, claims, &err);
    if (proof && dpop_fresh(x, proof, claims))
        return 1;
    x->out->proof_alg = proof ? proof->alg : AGW_ALG_NONE;
    x->out->jkt_bound = cnf.jkt != NULL;
    x->out->cert_bound = cnf.x5t_s256 != NULL;
    return 0;
}

/* The claims are the token's and its signature is good: check them and the sender. */
static int accept_claims(ctx_t *x, const char *issuer, json_t *claims, const char *kid,
                         agw_alg_e alg)
{
    agw_err_t err = { NULL, NULL, AGW_R_NONE };

    if (agw_jwt_check_claims(claims, issuer, x->pol->audiences, x->now, x->pol->leeway, &err)
        != APR_SUCCESS)
        return refuse(x, claims, &err);
    if (sender_check(x, claims))
        return 1;
    x->out->outcome = AGW_GATE_ACCEPT;
    x->out->claims = claims;
    x->out->kid = kid;
    x->out->alg = alg;
    return 1;
}

/* ---- the front cache: tokens this process verified before ---------------------------------- */

static int serve_cached(ctx_t *x, agw_tcache_hit_t *hit)
{
    x->out->served = AGW_GATE_SERVED_FRONT;
    /* the hit lives on the caller's stack: its kid is kept in out, without an allocation */
    memcpy(x->out->kid_buf, hit->kid, sizeof(x->out->kid_buf));
    return accept_claims(x, x->pol->keys.issuer, hit->claims, x->out->kid_buf, hit->alg);
}

/* A bad signature stays bad while the key set is the same: no second verify. An alg this
 * section does not allow is refused as such by the full path (the entry is left alone). */
static int negative_hit(ctx_t *x, const unsigned char *source, unsigned long version)
{
    agw_tcache_hit_t hit;
    agw_err_t err = { NULL, NULL, AGW_R_NONE };

    if (!x->g->negative
        || !agw_tcache_get(x->g->negative, x->digest, source, x->now, 0, x->p, &hit))
        return 0;
    if (!(x->pol->algs & AGW_ALG_BIT(hit.alg)))
        return 0;
    if (hit.version == version) {
        agw_err_refuse(&err, AGW_R_SIGNATURE, "signature invalid");
        return refuse(x, hit.claims, &err);
    }
    agw_tcache_drop(x->g->negative, x->digest);
    return 0;
}

/* A cached token whose key set changed since: it stays trusted only while its key is still
 * there. 0 to serve it, -1 to verify in full, 1 when the answer is out. */
static int still_held(ctx_t *x, agw_tcache_hit_t *hit, keys_t *k, int held)
{
    if (!held && get_keys(x, &x->pol->keys, k))
        return 1;
    if (hit->version != k->ref->version) {
        if (!find_key(k->ref->jwks, hit->key, hit->kid, hit->alg)) {
            agw_tcache_drop(x->g->front, x->digest);
            return -1;
        }
        agw_tcache_touch_version(x->g->front, x->digest, k->ref->version);
    }
    return 0;
}

/* A token verified before against the same key source: only its signature check is
 * skipped. 0 on a miss (the full path runs), 1 when the answer is out. The hot path takes
 * no lock of the key store: the source is found without one, and its version says whether
 * the key set changed since the token was verified. */
static int from_front(ctx_t *x, agw_alg_set_t algs)
{
    const agw_gate_policy_t *pol = x->pol;
    agw_tcache_hit_t hit;
    agw_keysrc_t *src;
    unsigned long version;
    keys_t k;
    int rc, held = 0;

    if ((algs & hs_algs) && pol->hmac_id
        && agw_tcache_get(x->g->front, x->digest, pol->hmac_id, x->now, pol->leeway, x->p,
                          &hit))
        return (algs & AGW_ALG_BIT(hit.alg)) ? serve_cached(x, &hit) : 0;
    if (!(algs & ~hs_algs))
        return 0;
    if (x->src) {               /* the host's table, read first, found it */
        src = x->src;
        version = x->version;
    }
    else {
        src = x->g->keys ? agw_keystore_find(x->g->keys, &pol->keys) : NULL;
        version = src ? agw_keysrc_peek(src, x->now) : 0;
    }
    if (!version) {
        if (get_keys(x, &pol->keys, &k))
            return 1;
        src = k.src;
        version = k.ref->version;
        held = 1;
    }
    x->src = src;
    x->version = version;
    if (!agw_tcache_get(x->g->front, x->digest, agw_keysrc_id(src), x->now, pol->leeway,
                        x->p, &hit))
        return 0;
    if (!(algs & AGW_ALG_BIT(hit.alg)))
        return 0;
    if (hit.version != version && (rc = still_held(x, &hit, &k, held)) != 0)
        return rc > 0;
    return serve_cached(x, &hit);
}

/* ---- the full path ------------------------------------------------------------------------ */

/* A location with several issuers: the issuer named by the token's iss, read before the
 * signature only to choose the key source (*jwks; NULL: discovery), and checked again after
 * it. NULL, with err set and nothing fetched, for an iss the location does not trust. */
static const char *route(ctx_t *x, agw_jws_t *jws, const char **jwks, agw_err_t *err)
{
    const apr_array_header_t *trust = x->pol->trust;
    const char *iss;
    int i;

    if (agw_jws_claims(jws, x->p, err) != APR_SUCCESS)
        return NULL;
    iss = agw_json_str(jws->payload, "iss");
    for (i = 0; iss && i < trust->nelts; i++) {
        const agw_trust_t *t = &APR_ARRAY_IDX(trust, i, agw_trust_t);
        if (!strcmp(iss, t->issuer)) {
            *jwks = t->jwks;
            return t->issuer;
        }
    }
    agw_err_refuse(err, AGW_R_ISSUER, "issuer not trusted here");
    return NULL;
}

/* The host's table knows these exact token bytes verified by a key of this source that is
 * still in this process's set: the signature check would say the same, so it is skipped
 * (jws->key set). An entry whose key this process does not hold is left alone: another
 * process may hold a newer set, and the entry dies with its token or by eviction. */
static int host_verified(ctx_t *x, agw_jws_t *jws, const agw_jwks_t *jwks,
                         const unsigned char *source)
{
    agw_hcache_hit_t hit;
    const agw_jwk_t *key;

    if (!x->g->host
        || !agw_hcache_get(x->g->host, x->digest, source, x->now, x->pol->leeway, &hit, NULL))
        return 0;
    /* same bytes, same header: a mismatch here would mean another token's entry */
    if (hit.alg != jws->alg || strcmp(hit.kid, jws->kid ? jws->kid : ""))
        return 0;
    if (!(key = find_key(jwks, hit.key, hit.kid, hit.alg)))
        return 0;
    jws->key = key;
    return 1;
}

/* A token naming a kid the set does not hold: one refetch if the cooldown allows. */
static apr_status_t unknown_kid(ctx_t *x, keys_t *k, agw_jws_t *jws, agw_err_t *err)
{
    unsigned long seen = k->ref->version;
    apr_status_t rv = APR_NOTFOUND;

    if (x->g->log)
        x->g->log(x->g->log_baton, AGW_LOG_DEBUG, AGW_MSG_UNKNOWN_KID,
                  apr_psprintf(x->p, "token names kid %s, not in the cached JWKS; refetching "
                               "if the cooldown allows", jws->kid ? agw_text_log(x->p, jws->kid,
                               96, AGW_TEXT_WORD) : "-"));
    if (agw_keysrc_unknown_kid(k->ref, k->src, x->p, x->now, err) == APR_SUCCESS
        && k->ref->version != seen)
        rv = agw_jws_verify(jws, k->ref->jwks, x->pol->algs, err);
    if (rv == APR_NOTFOUND)
        agw_err_refuse(err, AGW_R_UNKNOWN_KEY, "unknown key");
    return rv;
}

/* A signature checked against the keys of spec's source (or found good in the host's
 * table), refetched once for an unknown kid. 0 with v->rv the outcome (err set), 1 when
 * there are no keys. */
static int verify_keys(ctx_t *x, const agw_keys_spec_t *spec, agw_jws_t *jws, verdict_t *v,
                       agw_err_t *err)
{
    keys_t k;

    if (get_keys(x, spec, &k))
        return 1;
    v->source = agw_keysrc_id(k.src);
    v->version = k.ref->version;
    if ((v->from_host = host_verified(x, jws, k.ref->jwks, v->source))) {
        v->rv = APR_SUCCESS;
        return 0;
    }
    v->rv = agw_jws_verify(jws, k.ref->jwks, x->pol->algs, err);
    if (v->rv == APR_NOTFOUND)
        v->rv = unknown_kid(x, &k, jws, err);
    v->version = k.ref->version;
    return 0;
}

/* The signature step: an HMAC secret's or a key source's (with the host's table); a bad
 * signature is remembered per key set version. 0 with v->rv its outcome, 1 without keys. */
static int check_signature(ctx_t *x, const agw_keys_spec_t *spec, agw_jws_t *jws,
                           verdict_t *v, agw_err_t *err)
{
    agw_err_t typ_err = { NULL, NULL, AGW_R_NONE };

    memset(v, 0, sizeof(*v));
    if (is_hs(jws->alg)) {
        v->rv = agw_jws_verify(jws, x->pol->hmac_jwks, x->pol->algs, err);
        v->source = x->pol->hmac_id;
    }
    else if (verify_keys(x, spec, jws, v, err))
        return 1;
    x->out->served = v->from_host ? AGW_GATE_SERVED_HOST : AGW_GATE_SERVED_VERIFIED;
    /* only a token the sections that read the cache (no token types) would check this far */
    if (x->g->negative && v->rv == APR_EINVAL && err->kind == AGW_R_SIGNATURE
        && !is_hs(jws->alg) && agw_jwt_check_typ(jws->typ, NULL, &typ_err) == APR_SUCCESS)
        agw_tcache_put(x->g->negative, x->digest, v->source, NULL, jws->alg,
                       jws->kid ? jws->kid : "", NULL, v->version,
                       x->now + AGW_GATE_NEGATIVE_TTL, x->in->len);
    return 0;
}

/* The brief of an accepted token's claims, made only when the host's table stores it. */
typedef struct brief_baton_t {
    const json_t *claims;
    apr_pool_t *p;
} brief_baton_t;

static int make_brief(agw_jwt_brief_t *out, void *baton)
{
    brief_baton_t *b = baton;

    return agw_jwt_brief_make(out, b->claims, b->p);
}

/* An accepted token, for the host's table (tokens of HMAC secrets stay in the process: their
 * key is no key set's) and the front cache (only tokens that pass the default typ rule, of
 * a location with one issuer: every location that reads the cache is such). */
static void remember(ctx_t *x, const verdict_t *v, const agw_jws_t *jws)
{
    agw_err_t typ_err = { NULL, NULL, AGW_R_NONE };
    brief_baton_t bb = { jws->payload, x->p };
    apr_int64_t exp;

    if (agw_jwt_time(&exp, json_object_get(jws->payload, "exp")) != APR_SUCCESS)
        return;
    /* the table serves tokens without parsing their header again: only those that pass the
     * default typ rule (what every location without Auth0TokenType asks) go in */
    if (x->g->host && !v->from_host && !is_hs(jws->alg) && jws->key
        && agw_jwt_check_typ(jws->typ, NULL, &typ_err) == APR_SUCCESS)
        agw_hcache_put(x->g->host, x->digest, v->source, jws->alg, jws->kid ? jws->kid : "",
                       jws->key->thumbprint, exp, x->now, make_brief, &bb);
    if (!x->g->front || x->pol->token_types || x->pol->trust)
        return;
    /* the host has seen a token of its table twice already; a capped front still waits for
     * this process's second sighting, so that a token seen once here does not push out one
     * that keeps coming back (Zipf mix under prefork: 128 entries hit 62% instead of 54%) */
    (v->from_host && !x->g->front_capped ? agw_tcache_put_admitted : agw_tcache_put)(
        x->g->front, x->digest, v->source, jws->payload, jws->alg, jws->kid ? jws->kid : "",
        jws->key->thumbprint, v->version, exp, x->in->len);
}

/* Header, typ, alg, issuer routing, signature, claims: the token in full. */
static void check_full(ctx_t *x)
{
    const agw_gate_policy_t *pol = x->pol;
    agw_err_t err = { NULL, NULL, AGW_R_NONE };
    agw_keys_spec_t spec = pol->keys;
    agw_jws_t *jws = NULL;
    verdict_t v;

    if (agw_jws_decode_header(&jws, x->p, x->in->token, x->in->len, AGW_TOKEN_MAX_BYTES, &err)
        != APR_SUCCESS) {
        refuse(x, NULL, &err);
        return;
    }
    if (agw_jwt_check_typ(jws->typ, pol->token_types, &err) != APR_SUCCESS
        || (!(pol->algs & AGW_ALG_BIT(jws->alg))
            && agw_err_refuse(&err, AGW_R_ALG, "alg not allowed"))
        || (pol->trust && !(spec.issuer = route(x, jws, &spec.jwks, &err)))) {
        refuse_unverified(x, jws, &err);
        return;
    }
    if (check_signature(x, &spec, jws, &v, &err))
        return;
    if (v.rv != APR_SUCCESS) {
        refuse_unverified(x, jws, &err);
        return;
    }
    if (agw_jws_claims(jws, x->p, &err) != APR_SUCCESS) {
        refuse(x, NULL, &err);
        return;
    }
    accept_claims(x, spec.issuer, jws->payload, jws->kid, jws->alg);
    if (x->out->outcome == AGW_GATE_ACCEPT)
        remember(x, &v, jws);
}

/* A token whose claims the host's table briefed: they are checked from the brief, and parsed
 * only if the request needs more of them (the glue asks agw_jws_claims of out->lazy). Only a
 * Bearer token where Bearer tokens may pass comes here, and a briefed token has no cnf: the
 * sender check would have nothing to prove. A token the brief refuses takes the parse path,
 * so that its refusal is logged with its iss and sub. 1 when accepted. */
AGW_HOT static int accept_brief(ctx_t *x, agw_jws_t *jws, const agw_jwt_brief_t *b)
{
    agw_err_t err = { NULL, NULL, AGW_R_NONE };

    if (agw_jwt_check_brief(b, x->pol->keys.issuer, x->pol->audiences, x->now, x->pol->leeway,
                            &err) != APR_SUCCESS)
        return 0;
    x->out->outcome = AGW_GATE_ACCEPT;
    x->out->lazy = jws;
    x->out->user = agw_jwt_brief_user(x->p, b);
    x->out->kid = jws->kid;
    x->out->alg = jws->alg;
    return 1;
}

/* May a token the host's table briefed be accepted from its brief here? Only a Bearer token
 * where Bearer tokens may pass, and REMOTE_USER from the default claims. */
AGW_HOT static int briefs_allowed(const ctx_t *x)
{
    return x->pol->user_default && !x->in->dpop_scheme && x->pol->dpop != AGW_DPOP_REQUIRED;
}

/* Reads the host's table once per call (a second caller gets the first one's answer): 1 with
 * x->host_hit (and x->host_brief when briefs are allowed) and the token decoded in
 * x->host_jws, 0 when the table cannot answer for this token here. */
AGW_HOT static int host_lookup(ctx_t *x)
{
    const agw_gate_policy_t *pol = x->pol;
    agw_err_t err = { NULL, NULL, AGW_R_NONE };
    agw_keysrc_t *src;
    int found;

    if (x->host_looked)
        return x->host_found;
    if (!x->g->host || pol->token_types || pol->trust || !(pol->algs & ~hs_algs)
        || !x->g->keys)
        return 0;
    /* without a usable set yet, nothing is remembered: once the front's path has loaded the
     * keys (x->src set), the table is read then */
    if (!(src = x->src)) {
        if (!(src = agw_keystore_find(x->g->keys, &pol->keys))
            || !(x->version = agw_keysrc_peek(src, x->now)))
            return 0;
        x->src = src;
    }
    x->host_looked = 1;
    AGW_CY_START(cy_table);
    found = agw_hcache_get(x->g->host, x->digest, agw_keysrc_id(src), x->now, pol->leeway,
                           &x->host_hit, briefs_allowed(x) ? &x->host_brief : NULL);
    AGW_CY_END(AGW_CY_TABLE, cy_table);
    if (!found || !(pol->algs & AGW_ALG_BIT(x->host_hit.alg)))
        return 0;
    memcpy(x->out->kid_buf, x->host_hit.kid, sizeof(x->out->kid_buf));
    if (agw_jws_decode_verified(&x->host_jws, x->p, x->in->token, x->in->len, x->host_hit.alg,
                                *x->host_hit.kid ? x->out->kid_buf : NULL, &err) != APR_SUCCESS)
        return 0;
    x->host_found = 1;
    return 1;
}

/* A briefed token whose key the source's current set is known to hold needs neither the key
 * store's lock nor the set: the brief answers for the claims. 1 when accepted so. */
AGW_HOT static int from_host_brief(ctx_t *x)
{
    const agw_hcache_hit_t *hit = &x->host_hit;

    if (x->brief_tried || !briefs_allowed(x) || !host_lookup(x))
        return 0;
    x->brief_tried = 1;
    AGW_CY_START(cy_brief);
    if (!hit->briefed || !agw_keysrc_holds(x->src, x->version, hit->key, hit->kid, hit->alg)
        || !accept_brief(x, x->host_jws, &x->host_brief))
        return 0;
    AGW_CY_END(AGW_CY_BRIEF, cy_brief);
    x->out->served = AGW_GATE_SERVED_HOST;
    return 1;
}

/* A token the host's table knows by its exact bytes, verified by a key this process still
 * holds: its header, checked when it was verified, is not parsed again (the table holds only
 * tokens that passed the default typ rule, so a location with token types, or with several
 * issuers, checks in full). Nothing is fetched here: without usable keys the full path runs.
 * 0 on a miss, 1 when the answer is out. */
static int from_host(ctx_t *x)
{
    const agw_gate_policy_t *pol = x->pol;
    agw_err_t err = { NULL, NULL, AGW_R_NONE };
    const agw_hcache_hit_t *hit = &x->host_hit;
    agw_jws_t *jws;
    verdict_t v = { APR_SUCCESS, NULL, 0, 1 };
    keys_t k;

    if (from_host_brief(x))
        return 1;
    if (!host_lookup(x))
        return 0;
    jws = x->host_jws;
    v.source = agw_keysrc_id(x->src);
    if (get_keys(x, &pol->keys, &k))
        return 1;
    if (agw_keysrc_id(k.src) != v.source
        || !(jws->key = find_key(k.ref->jwks, hit->key, hit->kid, hit->alg)))
        return 0;
    v.version = k.ref->version;
    x->out->served = AGW_GATE_SERVED_HOST;
    if (hit->briefed && briefs_allowed(x) && accept_brief(x, jws, &x->host_brief))
        return 1;
    if (agw_jws_claims(jws, x->p, &err) != APR_SUCCESS)
        return refuse(x, NULL, &err);
    accept_claims(x, pol->keys.issuer, jws->payload, jws->kid, jws->alg);
    if (x->out->outcome == AGW_GATE_ACCEPT)
        remember(x, &v, jws);
    return 1;
}

AGW_HOT apr_status_t agw_gate_check(agw_gate_out_t *out, agw_gate_t *g, const agw_gate_policy_t *pol,
                            const agw_gate_in_t *in, apr_int64_t now, apr_pool_t *p)
{
    ctx_t x;

    memset(out, 0, sizeof(*out));
    out->outcome = AGW_GATE_ERROR;      /* fails closed: every path sets its outcome */
    out->proof_alg = AGW_ALG_NONE;
    x.out = out;
    x.g = g;
    x.pol = pol;
    x.in = in;
    x.now = now;
    x.p = p;
    x.src = NULL;
    x.version = 0;
    x.host_looked = x.host_found = x.brief_tried = 0;
    /* an all-zero digest would be one cache key for every such token: refuse instead */
    AGW_CY_START(cy_sha);
    if (agw_crypt_sha256(x.digest, in->token, in->len) != APR_SUCCESS) {
        out->outcome = AGW_GATE_ERROR;
        agw_err_set(&out->err, NULL, "cannot hash the token (libcrypto failed)");
        out->fp = "-";
        return APR_EGENERAL;
    }
    AGW_CY_END(AGW_CY_SHA256, cy_sha);
    out->fp = agw_hex(p, x.digest, 6);
    /* where a hit from the host's brief costs less than one from this process's front (the
     * front's claims are a parsed document, checked under a lock), the host's table first */
    if (g->host_first && in->len <= AGW_TOKEN_MAX_BYTES && from_host_brief(&x))
        return APR_SUCCESS;
    /* the cache keeps no typ: a location with token types checks every token in full; nor
     * does a location with several issuers use it (each token's source is routed) */
    if (g->front && in->len <= AGW_TOKEN_MAX_BYTES && !pol->token_types && !pol->trust
        && from_front(&x, pol->algs))
        return APR_SUCCESS;
    if (in->len <= AGW_TOKEN_MAX_BYTES && from_host(&x))
        return APR_SUCCESS;
    /* a token the host's table knows good is not looked for among the bad ones: a bad
     * signature under this key set is remembered only after both caches missed */
    if (x.src && negative_hit(&x, agw_keysrc_id(x.src), x.version))
        return APR_SUCCESS;
    check_full(&x);
    return APR_SUCCESS;
}
