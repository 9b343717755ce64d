/* Parsers of directive values, shared by the httpd setters and the unit tests: string in, error out. */
#include <stdlib.h>
#include <string.h>
#include <apr_file_io.h>
#include <apr_lib.h>
#include <apr_strings.h>
#include "agw_conf.h"
#include "agw_util.h"

#define AGW_SECRET_MAX   (64 * 1024)   /* larger "secret" files are a mistake (a key bundle, a log) */
#define AGW_NAME_MAX     256           /* header, cookie, query and environment variable names */
#define AGW_URL_MAX      2048
#define AGW_ECHO_MAX     64            /* how much of a bad argument an error message repeats */
#define AGW_ECHO_PATH    1024          /* a path is repeated whole: the admin must find the file */

/* An argument as an error message may repeat it: bounded and printable. */
static const char *echo_max(apr_pool_t *p, const char *arg, apr_size_t max)
{
    return agw_text_log(p, arg, max, AGW_TEXT_MARK_CUT);
}

static const char *echo_arg(apr_pool_t *p, const char *arg)
{
    return echo_max(p, arg, AGW_ECHO_MAX);
}

static const char *echo_path(apr_pool_t *p, const char *path)
{
    return echo_max(p, path, AGW_ECHO_PATH);
}

/* ---- Auth0Algorithms ---------------------------------------------------------------- */

static const char *valid_alg_list(apr_pool_t *p)
{
    const char *list = NULL;
    int a;

    for (a = AGW_ALG_NONE + 1; a < AGW_ALG_COUNT; a++)
        list = list ? apr_pstrcat(p, list, " ", agw_alg_name((agw_alg_e)a), NULL)
                    : agw_alg_name((agw_alg_e)a);
    return list;
}

const char *agw_conf_algorithms(agw_alg_set_t *out, apr_pool_t *p, int argc,
                                char *const argv[])
{
    agw_alg_set_t set = 0;
    agw_alg_e alg;
    int i, a;

    if (argc < 1)
        return apr_psprintf(p, "needs at least one algorithm, from: %s", valid_alg_list(p));
    for (i = 0; i < argc; i++) {
        if (strcasecmp(argv[i], "none") == 0)
            return "none is never accepted: tokens must be signed; list the algorithms "
                   "your issuer signs with, e.g. RS256";
        alg = agw_alg_from_name(argv[i], (apr_size_t)-1);
        if (alg != AGW_ALG_NONE) {
            set |= AGW_ALG_BIT(alg);
            continue;
        }
        /* The most likely slip is the case ("rs256", "EDDSA"): name the right spelling. */
        for (a = AGW_ALG_NONE + 1; a < AGW_ALG_COUNT; a++)
            if (strcasecmp(argv[i], agw_alg_name((agw_alg_e)a)) == 0)
                return apr_psprintf(p, "unknown algorithm '%s': names are case-sensitive, "
                                    "write %s", echo_arg(p, argv[i]),
                                    agw_alg_name((agw_alg_e)a));
        return apr_psprintf(p, "unknown algorithm '%s': use one or more of %s",
                            echo_arg(p, argv[i]), valid_alg_list(p));
    }
    *out = set;
    return NULL;
}

/* ---- seconds ------------------------------------------------------------------------ */

const char *agw_conf_seconds(apr_int64_t *out, apr_pool_t *p, const char *arg, apr_int64_t max)
{
    apr_int64_t v = 0;
    const char *s;

    if (!arg || !*arg)
        return apr_psprintf(p, "needs a number of seconds (digits only, at most %"
                            APR_INT64_T_FMT ")", max);
    for (s = arg; *s; s++) {
        if (*s < '0' || *s > '9')
            return apr_psprintf(p, "'%s' is not a number of seconds: use digits only "
                                "(no sign, unit or spaces), at most %" APR_INT64_T_FMT,
                                echo_arg(p, arg), max);
        /* Checked before multiplying, so no value can overflow. */
        if (v > (max - (*s - '0')) / 10)
            return apr_psprintf(p, "'%s' is too large: at most %" APR_INT64_T_FMT " seconds",
                                echo_arg(p, arg), max);
        v = v * 10 + (*s - '0');
    }
    *out = v;
    return NULL;
}

/* ---- Auth0TokenFrom ----------------------------------------------------------------- */

/* RFC 9110 tchar: the characters a header field name (and a cookie name, RFC 6265) may use. */
static int is_tchar(char c)
{
    return apr_isalnum(c) || (c && strchr("!#$%&'*+-.^_`|~", c) != NULL);
}

static const char *check_token_name(apr_pool_t *p, const char *kind, const char *name)
{
    const char *s;

    if (!*name)
        return apr_psprintf(p, "%s= needs a name, e.g. %s=%s", kind, kind,
                            strcmp(kind, "header") == 0 ? "X-Access-Token" : "access_token");
    if (strlen(name) > AGW_NAME_MAX)
        return apr_psprintf(p, "%s name is too long (at most %d characters)", kind,
                            AGW_NAME_MAX);
    for (s = name; *s; s++)
        if (!is_tchar(*s))
            return apr_psprintf(p, "%s name '%s' has a character not allowed in a name: "
                                "use letters, digits and !#$%%&'*+-.^_`|~", kind,
                                echo_arg(p, name));
    return NULL;
}

const char *agw_conf_token_from(agw_token_src_t *out, apr_pool_t *p, const char *arg)
{
    static const struct { const char *prefix; agw_src_kind_e kind; } kinds[] = {
        { "header=", AGW_SRC_HEADER }, { "cookie=", AGW_SRC_COOKIE }, { "query=", AGW_SRC_QUERY },
    };
    const char *err;
    size_t i, plen;

    if (!arg)
        arg = "";
    if (strcasecmp(arg, "header") == 0) {
        out->kind = AGW_SRC_HEADER;
        out->name = "Authorization";
        out->bearer = 1;
        return NULL;
    }
    for (i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++) {
        plen = strlen(kinds[i].prefix);
        if (strncasecmp(arg, kinds[i].prefix, plen) != 0)
            continue;
        err = check_token_name(p, apr_pstrmemdup(p, kinds[i].prefix, plen - 1), arg + plen);
        if (err)
            return err;
        out->kind = kinds[i].kind;
        out->name = apr_pstrdup(p, arg + plen);
        /* header=Authorization means the standard header, and that one carries a scheme. */
        out->bearer = kinds[i].kind == AGW_SRC_HEADER && strcasecmp(out->name, "Authorization") == 0;
        return NULL;
    }
    return apr_psprintf(p, "unknown token source '%s': use header, header=NAME, cookie=NAME "
                        "or query=NAME", echo_arg(p, arg));
}

/* ---- keywords (Auth0Mode, Auth0DPoP, ...) -------------------------------------------- */

/* "a, b or c": the keywords as the error message offers them. */
static const char *keyword_list(apr_pool_t *p, const agw_conf_word_t *words)
{
    const char *list = NULL;
    size_t i;

    for (i = 0; words[i].word; i++)
        list = !list ? words[i].word
                     : apr_pstrcat(p, list, words[i + 1].word ? ", " : " or ", words[i].word,
                                   NULL);
    return list ? list : "";
}

const char *agw_conf_keyword(int *out, apr_pool_t *p, const char *arg,
                             const agw_conf_word_t *words, const char *what)
{
    size_t i;

    for (i = 0; arg && words[i].word; i++) {
        if (strcasecmp(arg, words[i].word) == 0) {
            *out = words[i].value;
            return NULL;
        }
    }
    return apr_psprintf(p, "'%s' is not %s; give %s", echo_arg(p, arg ? arg : ""), what,
                        keyword_list(p, words));
}

/* ---- secrets ------------------------------------------------------------------------ */

static apr_size_t strip_crlf(const char *s, apr_size_t len)
{
    while (len > 0 && (s[len - 1] == '\n' || s[len - 1] == '\r'))
        len--;
    return len;
}

static const char *read_secret_file(const char **psecret, apr_size_t *plen, apr_pool_t *p,
                                    const char *path)
{
    agw_file_step_e step;
    apr_status_t rv;
    apr_size_t len;
    char *buf, ebuf[120];

    rv = agw_file_read(&buf, &len, &step, p, path, AGW_SECRET_MAX);
    if (step == AGW_FILE_OPEN)
        return apr_psprintf(p, "cannot read secret file %s: %s; check the path and that "
                            "the user starting Apache can read it", echo_path(p, path),
                            apr_strerror(rv, ebuf, sizeof(ebuf)));
    if (step == AGW_FILE_READ)
        return apr_psprintf(p, "cannot read secret file %s: %s; it must be a readable "
                            "regular file", echo_path(p, path),
                            apr_strerror(rv, ebuf, sizeof(ebuf)));
    if (step == AGW_FILE_TOO_LARGE)
        return apr_psprintf(p, "secret file %s is larger than %d bytes: it should hold only "
                            "the secret", echo_path(p, path), AGW_SECRET_MAX);
    len = strip_crlf(buf, len);
    if (len == 0)
        return apr_psprintf(p, "secret file %s is empty: put the secret in it", echo_path(p, path));
    buf[len] = '\0';
    *psecret = buf;
    *plen = len;
    return NULL;
}

static int is_env_name(const char *s)
{
    if (!*s || apr_isdigit(*s) || strlen(s) > AGW_NAME_MAX)
        return 0;
    for (; *s; s++)
        if (!apr_isalnum(*s) && *s != '_')
            return 0;
    return 1;
}

const char *agw_conf_secret(const char **psecret, apr_size_t *plen, int *pliteral,
                            apr_pool_t *p, const char *arg, int allow_literal)
{
    const char *secret = NULL, *val, *err;
    apr_size_t len = 0;
    int literal = 0;

    if (!arg)
        arg = "";
    /* Prefixes in any case: "File:/x" silently taken as a literal secret would be a trap. */
    if (strncasecmp(arg, "file:", 5) == 0) {
        if (!arg[5])
            return "file: needs a path, e.g. file:/etc/apache2/auth0/client.secret";
        if ((err = read_secret_file(&secret, &len, p, arg + 5)) != NULL)
            return err;
    }
    else if (strncasecmp(arg, "env:", 4) == 0) {
        if (!is_env_name(arg + 4))
            return apr_psprintf(p, "env: needs an environment variable name (letters, digits, "
                                "_), e.g. env:AUTH0_CLIENT_SECRET; got '%s'", echo_arg(p, arg));
        val = getenv(arg + 4);
        if (!val)
            return apr_psprintf(p, "environment variable %s is not set: export it where Apache "
                                "is started (e.g. /etc/apache2/envvars)", arg + 4);
        len = strip_crlf(val, strlen(val));
        if (len == 0)
            return apr_psprintf(p, "environment variable %s is empty: put the secret in it",
                                arg + 4);
        secret = apr_pstrmemdup(p, val, len);
    }
    else if (allow_literal) {
        /* The argument is the secret: never repeat it in a message. */
        if (!*arg)
            return "the secret is empty: use file:PATH or env:VAR";
        secret = apr_pstrdup(p, arg);
        len = strlen(arg);
        literal = 1;
    }
    else {
        /* Not echoed: an administrator may have pasted the secret itself. */
        return "must be file:PATH or env:VAR (a literal secret is not accepted here)";
    }
    if (psecret)
        *psecret = secret;
    if (plen)
        *plen = len;
    if (pliteral)
        *pliteral = literal;
    return NULL;
}

/* ---- URLs --------------------------------------------------------------------------- */

const char *agw_conf_url(apr_pool_t *p, const char *arg, int allow_http, int allow_file)
{
    const char *s, *host, *end;
    size_t slen;

    if (!arg || !*arg)
        return allow_file ? "needs an https:// URL or file:PATH" : "needs an https:// URL";
    if (strlen(arg) > AGW_URL_MAX)
        return apr_psprintf(p, "URL is too long (at most %d characters)", AGW_URL_MAX);
    if (strncasecmp(arg, "file:", 5) == 0) {
        if (!allow_file)
            return "file: is not accepted here: use an https:// URL";
        if (!arg[5])
            return "file: needs a path, e.g. file:/etc/apache2/auth0/jwks.json";
        return NULL;
    }
    for (s = arg; *s; s++)
        if ((unsigned char)*s <= 0x20 || (unsigned char)*s >= 0x7f)
            return apr_psprintf(p, "'%s' has a space or control character: percent-encode it",
                                echo_arg(p, arg));
    if (strncasecmp(arg, "https://", 8) == 0)
        slen = 8;
    else if (strncasecmp(arg, "http://", 7) == 0) {
        if (!allow_http)
            return "an http:// URL is not protected by TLS: use https://, or set "
                   "Auth0InsecureHTTP On for development only";
        slen = 7;
    }
    else
        return apr_psprintf(p, "'%s' is not an https:// URL%s", echo_arg(p, arg),
                            allow_file ? " (or file:PATH)" : "");
    host = arg + slen;
    end = host + strcspn(host, "/?#");
    if (end == host)
        return apr_psprintf(p, "'%s' has no host name", echo_arg(p, arg));
    /* Credentials in a URL would end up in logs and the status page. */
    if (memchr(host, '@', (size_t)(end - host)))
        return "a URL must not carry user:password@: use Auth0ClientSecret for credentials";
    return NULL;
}
