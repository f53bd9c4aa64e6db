/*
 * clarifai.http.core: HTTP transfers over libcurl's multi interface.
 *
 * Mechanics only: a session handle owns a CURLM (and with it the connection
 * cache, so connections are reused across calls); perform() runs a list of
 * requests with bounded parallelism and returns one result table each.
 * Policy (retries, what a status means, redaction) lives in Lua.
 *
 * Guarantees: TLS verification always on (TLS 1.2 or newer), redirects never
 * followed, only http/https, explicit timeouts, a response size cap, no Lua
 * callbacks from inside libcurl (nothing can longjmp through it), and every
 * libcurl object is owned by a userdata whose __gc releases it.
 */
#include <curl/curl.h>
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common.h"

#define SESSION_MT "clarifai.http.session"
#define BATCH_MT "clarifai.http.batch"

/* ---- interrupt flag ----------------------------------------------------- */

static volatile sig_atomic_t interrupted = 0;

static void on_sigint(int sig)
{
    (void)sig;
    interrupted = 1;
}

/* trap_interrupt(): SIGINT sets a flag that aborts transfers and sleeps. */
static int l_trap_interrupt(lua_State *L)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_sigint;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = 0; /* no SA_RESTART: let sleeps wake up */
    sigaction(SIGINT, &sa, NULL);
    (void)L;
    return 0;
}

static int l_interrupted(lua_State *L)
{
    lua_pushboolean(L, interrupted != 0);
    return 1;
}

/* sleep(seconds) -> true, or false when interrupted first */
static int l_sleep(lua_State *L)
{
    lua_Number s = luaL_checknumber(L, 1);
    if (s > 0 && !interrupted) {
        struct timespec ts;
        ts.tv_sec = (time_t)s;
        ts.tv_nsec = (long)((s - (lua_Number)ts.tv_sec) * 1e9);
        while (nanosleep(&ts, &ts) != 0 && errno == EINTR && !interrupted) { }
    }
    lua_pushboolean(L, !interrupted);
    return 1;
}

/* ---- error mnemonics ---------------------------------------------------- */

#define CURL_CODES(X) \
    X(UNSUPPORTED_PROTOCOL) X(URL_MALFORMAT) X(COULDNT_RESOLVE_PROXY) \
    X(COULDNT_RESOLVE_HOST) X(COULDNT_CONNECT) X(WEIRD_SERVER_REPLY) \
    X(HTTP2) X(PARTIAL_FILE) X(WRITE_ERROR) X(READ_ERROR) X(OUT_OF_MEMORY) \
    X(OPERATION_TIMEDOUT) X(RANGE_ERROR) X(SSL_CONNECT_ERROR) \
    X(ABORTED_BY_CALLBACK) X(TOO_MANY_REDIRECTS) X(GOT_NOTHING) \
    X(SSL_ENGINE_NOTFOUND) X(SEND_ERROR) X(RECV_ERROR) X(SSL_CERTPROBLEM) \
    X(SSL_CIPHER) X(PEER_FAILED_VERIFICATION) X(BAD_CONTENT_ENCODING) \
    X(FILESIZE_EXCEEDED) X(SSL_CACERT_BADFILE) X(SSL_SHUTDOWN_FAILED) \
    X(AGAIN) X(SSL_CRL_BADFILE) X(SSL_ISSUER_ERROR) X(HTTP2_STREAM) \
    X(SSL_PINNEDPUBKEYNOTMATCH) X(SSL_INVALIDCERTSTATUS) \
    X(HTTP3) X(QUIC_CONNECT_ERROR) X(PROXY) X(SSL_CLIENTCERT) \
    X(UNRECOVERABLE_POLL) X(NOT_BUILT_IN) X(FAILED_INIT) X(BAD_FUNCTION_ARGUMENT)

static const char *curl_mnemonic(CURLcode c)
{
    switch (c) {
#define CASE(n) case CURLE_##n: return #n;
    CURL_CODES(CASE)
#undef CASE
    default: return "CURL_ERROR";
    }
}

/* ---- growable byte buffer ---------------------------------------------- */

typedef struct {
    char *data;
    size_t len, cap;
} Bytes;

static int bytes_add(Bytes *b, const char *p, size_t n)
{
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 1024;
        while (cap < b->len + n + 1) cap *= 2;
        char *d = (char *)realloc(b->data, cap);
        if (!d) return 0;
        b->data = d;
        b->cap = cap;
    }
    memcpy(b->data + b->len, p, n);
    b->len += n;
    b->data[b->len] = '\0';
    return 1;
}

static void bytes_free(Bytes *b)
{
    free(b->data);
    b->data = NULL;
    b->len = b->cap = 0;
}

/* ---- one transfer -------------------------------------------------------- */

typedef struct {
    CURL *easy;
    struct curl_slist *headers;
    Bytes body, head;
    size_t max_size;
    int too_large;  /* the write callback stopped the transfer at the cap */
    int oom;
    int state;      /* 0 pending, 1 running, 2 done */
    CURLcode result;
    char errbuf[CURL_ERROR_SIZE];
} Transfer;

static size_t on_body(char *p, size_t size, size_t n, void *ud)
{
    Transfer *t = (Transfer *)ud;
    size_t len = size * n;
    if (t->body.len + len > t->max_size) {
        t->too_large = 1;
        return 0;
    }
    if (!bytes_add(&t->body, p, len)) {
        t->oom = 1;
        return 0;
    }
    return len;
}

static size_t on_header(char *p, size_t size, size_t n, void *ud)
{
    Transfer *t = (Transfer *)ud;
    size_t len = size * n;
    /* A new status line starts a new response (e.g. after 100 Continue). */
    if (len >= 5 && memcmp(p, "HTTP/", 5) == 0) t->head.len = 0;
    if (t->head.len + len > 256 * 1024) {
        t->too_large = 1;
        return 0;
    }
    if (!bytes_add(&t->head, p, len)) {
        t->oom = 1;
        return 0;
    }
    return len;
}

static int on_progress(void *ud, curl_off_t dt, curl_off_t dn, curl_off_t ut, curl_off_t un)
{
    (void)ud; (void)dt; (void)dn; (void)ut; (void)un;
    return interrupted ? 1 : 0;
}

/* ---- the batch box: owns every transfer of one perform() ----------------- */

typedef struct Session Session;

typedef struct {
    CURLM *multi;   /* borrowed from the session; transfers are removed on release */
    Session *session;
    int n;
    Transfer *t;
    CURL **pool;    /* idle easy handles, reused by the next transfer */
    int npool, pool_cap;
} Batch;

struct Session {
    CURLM *multi;
    Batch *live;    /* the batch of a perform() that raised, until it is released */
};

/* Frees what one transfer holds; its easy handle goes back to the pool. */
static void transfer_release(Batch *b, Transfer *t)
{
    if (t->easy) {
        if (t->state == 1 && b->multi) curl_multi_remove_handle(b->multi, t->easy);
        if (b->pool && b->npool < b->pool_cap) b->pool[b->npool++] = t->easy;
        else curl_easy_cleanup(t->easy);
        t->easy = NULL;
    }
    curl_slist_free_all(t->headers);
    t->headers = NULL;
    bytes_free(&t->body);
    bytes_free(&t->head);
}

static void batch_release(Batch *b)
{
    if (b->t) {
        for (int i = 0; i < b->n; i++) transfer_release(b, &b->t[i]);
        free(b->t);
        b->t = NULL;
        b->n = 0;
    }
    if (b->pool) {
        for (int i = 0; i < b->npool; i++) curl_easy_cleanup(b->pool[i]);
        free(b->pool);
        b->pool = NULL;
        b->npool = 0;
    }
}

static int batch_gc(lua_State *L)
{
    Batch *b = (Batch *)luaL_checkudata(L, 1, BATCH_MT);
    batch_release(b);
    if (b->session && b->session->live == b) b->session->live = NULL;
    b->session = NULL;
    return 0;
}

/* ---- session ------------------------------------------------------------ */


static Session *check_session(lua_State *L)
{
    Session *s = (Session *)luaL_checkudata(L, 1, SESSION_MT);
    if (!s->multi) luaL_error(L, "attempt to use a closed HTTP session");
    return s;
}

static int session_close(lua_State *L)
{
    Session *s = (Session *)luaL_checkudata(L, 1, SESSION_MT);
    if (s->live) { /* handles of an aborted perform() must leave the multi first */
        batch_release(s->live);
        s->live->session = NULL;
        s->live = NULL;
    }
    if (s->multi) {
        curl_multi_cleanup(s->multi);
        s->multi = NULL;
    }
    return 0;
}

static int session_tostring(lua_State *L)
{
    Session *s = (Session *)luaL_checkudata(L, 1, SESSION_MT);
    if (s->multi) lua_pushfstring(L, "http session (%p)", (void *)s);
    else lua_pushliteral(L, "http session (closed)");
    return 1;
}

/* new() -> session */
static int l_new(lua_State *L)
{
    Session *s = (Session *)lua_newuserdatauv(L, sizeof(Session), 0);
    s->multi = NULL;
    s->live = NULL;
    luaL_setmetatable(L, SESSION_MT);
    s->multi = curl_multi_init();
    if (!s->multi) return luaL_error(L, "curl_multi_init failed");
    curl_multi_setopt(s->multi, CURLMOPT_MAXCONNECTS, 64L);
    return 1;
}

/* Field readers for a request table at index idx (programmer errors raise). */
static const char *opt_string(lua_State *L, int idx, const char *k, int required)
{
    lua_getfield(L, idx, k);
    const char *v = NULL;
    if (lua_type(L, -1) == LUA_TSTRING) v = lua_tostring(L, -1);
    else if (!lua_isnil(L, -1) || required)
        luaL_error(L, "request field '%s' must be a string", k);
    lua_pop(L, 1); /* the string stays alive: the request table holds it */
    return v;
}

static double opt_number(lua_State *L, int idx, const char *k, double dflt)
{
    lua_getfield(L, idx, k);
    double v = dflt;
    if (lua_type(L, -1) == LUA_TNUMBER) v = (double)lua_tonumber(L, -1);
    else if (!lua_isnil(L, -1)) luaL_error(L, "request field '%s' must be a number", k);
    lua_pop(L, 1);
    return v;
}

static const char *const known_fields[] = {
    "method", "url", "headers", "body", "connect_timeout", "timeout", "max_size",
    "low_speed_limit", "low_speed_time", "ca_file", "ca_path", NULL
};

static void check_fields(lua_State *L, int idx)
{
    lua_pushnil(L);
    while (lua_next(L, idx)) {
        int ok = 0;
        if (lua_type(L, -2) == LUA_TSTRING) {
            const char *k = lua_tostring(L, -2);
            for (int i = 0; known_fields[i]; i++)
                if (strcmp(k, known_fields[i]) == 0) { ok = 1; break; }
        }
        if (!ok) luaL_error(L, "unknown request field '%s'", luaL_tolstring(L, -2, NULL));
        lua_pop(L, 1);
    }
}

/* Raises for a request table that setup_transfer would refuse. */
static void validate_request(lua_State *L, int idx)
{
    check_fields(L, idx);
    opt_string(L, idx, "url", 1);
    opt_string(L, idx, "method", 0);
    opt_string(L, idx, "ca_file", 0);
    opt_string(L, idx, "ca_path", 0);
    static const char *const nums[] = {
        "connect_timeout", "timeout", "max_size", "low_speed_limit", "low_speed_time", NULL
    };
    for (int i = 0; nums[i]; i++) opt_number(L, idx, nums[i], 0);
    if (opt_number(L, idx, "max_size", 0) < 0) luaL_error(L, "request field 'max_size' must not be negative");
    lua_getfield(L, idx, "body");
    if (!lua_isnil(L, -1) && lua_type(L, -1) != LUA_TSTRING) luaL_error(L, "request field 'body' must be a string");
    lua_pop(L, 1);
    lua_getfield(L, idx, "headers");
    if (lua_istable(L, -1)) {
        lua_Integer n = luaL_len(L, -1);
        for (lua_Integer i = 1; i <= n; i++) {
            lua_rawgeti(L, -1, i);
            size_t hl;
            if (lua_type(L, -1) != LUA_TSTRING) luaL_error(L, "request headers must be strings");
            const char *h = lua_tolstring(L, -1, &hl);
            if (strlen(h) != hl || strpbrk(h, "\r\n")) luaL_error(L, "request header contains CR, LF or NUL");
            lua_pop(L, 1);
        }
    } else if (!lua_isnil(L, -1)) {
        luaL_error(L, "request field 'headers' must be an array of strings");
    }
    lua_pop(L, 1);
}

/* Configure transfer t from the request table at idx. */
static void setup_transfer(lua_State *L, int idx, Transfer *t, Batch *b)
{
    /* validate_request() has checked the fields of every request already */
    const char *url = opt_string(L, idx, "url", 1);
    const char *method = opt_string(L, idx, "method", 0);
    const char *cafile = opt_string(L, idx, "ca_file", 0);
    const char *capath = opt_string(L, idx, "ca_path", 0);
    double connect_timeout = opt_number(L, idx, "connect_timeout", 10);
    double timeout = opt_number(L, idx, "timeout", 30);
    double max_size = opt_number(L, idx, "max_size", 1024 * 1024);
    double low_limit = opt_number(L, idx, "low_speed_limit", 0);
    double low_time = opt_number(L, idx, "low_speed_time", 0);
    if (!method) method = "GET";
    if (max_size < 0) luaL_error(L, "request field 'max_size' must not be negative");

    if (b->npool > 0) {
        t->easy = b->pool[--b->npool];
        curl_easy_reset(t->easy);
    } else {
        t->easy = curl_easy_init();
    }
    if (!t->easy) luaL_error(L, "curl_easy_init failed");
    t->max_size = (size_t)max_size;

    CURL *e = t->easy;
    curl_easy_setopt(e, CURLOPT_PRIVATE, (void *)t);
    curl_easy_setopt(e, CURLOPT_URL, url);
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(e, CURLOPT_ERRORBUFFER, t->errbuf);
    curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(e, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(e, CURLOPT_SSL_VERIFYPEER, 1L);
    curl_easy_setopt(e, CURLOPT_SSL_VERIFYHOST, 2L);
    curl_easy_setopt(e, CURLOPT_SSLVERSION, (long)CURL_SSLVERSION_TLSv1_2);
    curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, (long)(connect_timeout * 1000));
    curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, (long)(timeout * 1000));
    if (low_limit > 0 && low_time > 0) {
        curl_easy_setopt(e, CURLOPT_LOW_SPEED_LIMIT, (long)low_limit);
        curl_easy_setopt(e, CURLOPT_LOW_SPEED_TIME, (long)low_time);
    }
    curl_easy_setopt(e, CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)max_size);
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, (void *)t);
    curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(e, CURLOPT_HEADERDATA, (void *)t);
    curl_easy_setopt(e, CURLOPT_NOPROGRESS, 0L);
    curl_easy_setopt(e, CURLOPT_XFERINFOFUNCTION, on_progress);
    curl_easy_setopt(e, CURLOPT_TCP_KEEPALIVE, 1L);
    if (cafile) curl_easy_setopt(e, CURLOPT_CAINFO, cafile);
    if (capath) curl_easy_setopt(e, CURLOPT_CAPATH, capath);

    size_t body_len = 0;
    lua_getfield(L, idx, "body");
    const char *body = NULL;
    if (lua_type(L, -1) == LUA_TSTRING) body = lua_tolstring(L, -1, &body_len);
    else if (!lua_isnil(L, -1)) luaL_error(L, "request field 'body' must be a string");
    if (strcmp(method, "GET") == 0 && !body) {
        curl_easy_setopt(e, CURLOPT_HTTPGET, 1L);
    } else {
        curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)body_len);
        curl_easy_setopt(e, CURLOPT_COPYPOSTFIELDS, body ? body : "");
        curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, method);
    }
    lua_pop(L, 1);

    /* "Expect:" stops curl from waiting for 100-continue on larger bodies. */
    t->headers = curl_slist_append(NULL, "Expect:");
    lua_getfield(L, idx, "headers");
    if (lua_istable(L, -1)) {
        lua_Integer n = luaL_len(L, -1);
        for (lua_Integer i = 1; i <= n; i++) {
            lua_rawgeti(L, -1, i);
            if (lua_type(L, -1) != LUA_TSTRING) luaL_error(L, "request headers must be strings");
            size_t hl;
            const char *h = lua_tolstring(L, -1, &hl);
            if (strlen(h) != hl || strpbrk(h, "\r\n")) luaL_error(L, "request header contains CR, LF or NUL");
            struct curl_slist *nl = curl_slist_append(t->headers, h);
            if (!nl) luaL_error(L, "out of memory");
            t->headers = nl;
            lua_pop(L, 1);
        }
    } else if (!lua_isnil(L, -1)) {
        luaL_error(L, "request field 'headers' must be an array of strings");
    }
    lua_pop(L, 1);
    curl_easy_setopt(e, CURLOPT_HTTPHEADER, t->headers);
}

/* Push the response headers as {lower-case name = value} (last one wins). */
static void push_headers(lua_State *L, const Bytes *h)
{
    lua_newtable(L);
    if (!h->data) return;
    const char *p = h->data, *end = h->data + h->len;
    while (p < end) {
        const char *eol = memchr(p, '\n', (size_t)(end - p));
        const char *le = eol ? eol : end;
        const char *colon = memchr(p, ':', (size_t)(le - p));
        if (colon && colon > p && memcmp(p, "HTTP/", 5) != 0) {
            luaL_Buffer b;
            luaL_buffinit(L, &b);
            for (const char *q = p; q < colon; q++) {
                char c = *q;
                luaL_addchar(&b, (c >= 'A' && c <= 'Z') ? (char)(c + 32) : c);
            }
            luaL_pushresult(&b);
            const char *v = colon + 1, *ve = le;
            while (v < ve && (*v == ' ' || *v == '\t')) v++;
            while (ve > v && (ve[-1] == '\r' || ve[-1] == ' ' || ve[-1] == '\t')) ve--;
            lua_pushlstring(L, v, (size_t)(ve - v));
            lua_rawset(L, -3);
        }
        p = eol ? eol + 1 : end;
    }
}

static void push_result(lua_State *L, Transfer *t)
{
    if (!t->easy) { /* never started (interrupted first) */
        lua_createtable(L, 0, 5);
        lua_pushboolean(L, 0);
        lua_setfield(L, -2, "sent");
        lua_pushboolean(L, 0);
        lua_setfield(L, -2, "responded");
        lua_pushnumber(L, 0);
        lua_setfield(L, -2, "time");
        lua_pushliteral(L, "INTERRUPTED");
        lua_setfield(L, -2, "error_code");
        lua_pushliteral(L, "interrupted");
        lua_setfield(L, -2, "error");
        return;
    }
    long status = 0;
    curl_off_t retry_after = 0;
    long request_size = 0, header_size = 0;
    double total = 0;
    char *redirect = NULL, *ip = NULL;
    curl_easy_getinfo(t->easy, CURLINFO_RESPONSE_CODE, &status);
    curl_easy_getinfo(t->easy, CURLINFO_RETRY_AFTER, &retry_after);
    curl_easy_getinfo(t->easy, CURLINFO_REQUEST_SIZE, &request_size);
    curl_easy_getinfo(t->easy, CURLINFO_HEADER_SIZE, &header_size);
    curl_easy_getinfo(t->easy, CURLINFO_TOTAL_TIME, &total);
    curl_easy_getinfo(t->easy, CURLINFO_REDIRECT_URL, &redirect);
    curl_easy_getinfo(t->easy, CURLINFO_PRIMARY_IP, &ip);

    lua_createtable(L, 0, 10);
    lua_pushboolean(L, request_size > 0);
    lua_setfield(L, -2, "sent");
    lua_pushnumber(L, (lua_Number)total);
    lua_setfield(L, -2, "time");
    if (ip && *ip) {
        lua_pushstring(L, ip);
        lua_setfield(L, -2, "ip");
    }
    if (t->result == CURLE_OK) {
        lua_pushinteger(L, status);
        lua_setfield(L, -2, "status");
        push_headers(L, &t->head);
        lua_setfield(L, -2, "headers");
        lua_pushlstring(L, t->body.data ? t->body.data : "", t->body.len);
        lua_setfield(L, -2, "body");
        if (retry_after > 0) {
            lua_pushinteger(L, (lua_Integer)retry_after);
            lua_setfield(L, -2, "retry_after");
        }
        if (redirect) {
            lua_pushstring(L, redirect);
            lua_setfield(L, -2, "redirect_url");
        }
        return;
    }
    const char *code, *msg;
    if (t->too_large) {
        code = "TOO_LARGE";
        msg = "response exceeded the size limit";
    } else if (t->oom) {
        code = "OUT_OF_MEMORY";
        msg = "out of memory while receiving the response";
    } else if (t->result == CURLE_ABORTED_BY_CALLBACK && interrupted) {
        code = "INTERRUPTED";
        msg = "interrupted";
    } else if (t->result == CURLE_FILESIZE_EXCEEDED) {
        code = "TOO_LARGE";
        msg = "response exceeded the size limit";
    } else {
        code = curl_mnemonic(t->result);
        msg = t->errbuf[0] ? t->errbuf : curl_easy_strerror(t->result);
    }
    lua_pushstring(L, code);
    lua_setfield(L, -2, "error_code");
    lua_pushstring(L, msg);
    lua_setfield(L, -2, "error");
    lua_pushboolean(L, header_size > 0);
    lua_setfield(L, -2, "responded");
    if (status > 0) {
        lua_pushinteger(L, status);
        lua_setfield(L, -2, "status");
    }
}

/*
 * session:perform(requests [, parallel]) -> results
 * requests: array of {method, url, headers = {"Name: value", ...}, body,
 *   connect_timeout, timeout, max_size, low_speed_limit, low_speed_time,
 *   ca_file, ca_path} (times in seconds).
 * results: array, same order, each either
 *   {status, headers, body, sent, time, retry_after?, redirect_url?} or
 *   {error, error_code, sent, responded, time, status?}.
 * At most `parallel` transfers are in flight at once; more are started as
 * others finish, so a queued request's timeout starts when it is sent.
 */
static int session_perform(lua_State *L)
{
    Session *s = check_session(L);
    luaL_checktype(L, 2, LUA_TTABLE);
    lua_Integer parallel = luaL_optinteger(L, 3, 8);
    luaL_argcheck(L, parallel >= 1 && parallel <= 1024, 3, "parallel must be 1..1024");
    lua_Integer n = luaL_len(L, 2);
    luaL_argcheck(L, n >= 0 && n <= 1000000, 2, "too many requests");
    lua_settop(L, 3);

    /* Check every request first: a programmer error raises before anything is sent. */
    for (lua_Integer i = 1; i <= n; i++) {
        lua_rawgeti(L, 2, i);
        luaL_argcheck(L, lua_istable(L, -1), 2, "each request must be a table");
        validate_request(L, lua_gettop(L));
        lua_pop(L, 1);
    }

    Batch *b = (Batch *)lua_newuserdatauv(L, sizeof(Batch), 0);
    memset(b, 0, sizeof *b);
    b->multi = s->multi;
    b->session = s;
    luaL_setmetatable(L, BATCH_MT);
    s->live = b;
    int box = lua_gettop(L);
    if (n > 0) {
        b->t = (Transfer *)calloc((size_t)n, sizeof(Transfer));
        b->pool = (CURL **)calloc((size_t)parallel, sizeof(CURL *));
        if (!b->t || !b->pool) return luaL_error(L, "out of memory");
        b->n = (int)n;
        b->pool_cap = (int)parallel;
    }
    lua_createtable(L, (int)n, 0);
    int results = lua_gettop(L);
    curl_multi_setopt(s->multi, CURLMOPT_MAX_HOST_CONNECTIONS, (long)parallel);

    /* At most `parallel` in flight; each result is stored and its transfer
       released as soon as it finishes, so memory stays flat for big batches. */
    int next = 0, active = 0, done = 0;
    while (done < b->n) {
        while (active < parallel && next < b->n && !interrupted) {
            Transfer *t = &b->t[next];
            lua_rawgeti(L, 2, next + 1);
            setup_transfer(L, lua_gettop(L), t, b);
            lua_pop(L, 1);
            next++;
            if (curl_multi_add_handle(s->multi, t->easy) != CURLM_OK) {
                t->state = 2;
                t->result = CURLE_FAILED_INIT;
                push_result(L, t);
                lua_rawseti(L, results, (lua_Integer)(t - b->t) + 1);
                transfer_release(b, t);
                done++;
                continue;
            }
            t->state = 1;
            active++;
        }
        if (interrupted) {
            /* stop at once: everything not finished ends as interrupted */
            for (int i = 0; i < b->n; i++) {
                Transfer *t = &b->t[i];
                if (t->state == 2) continue;
                if (t->state == 1) {
                    curl_multi_remove_handle(s->multi, t->easy);
                    t->state = 3; /* removed; release must not remove again */
                }
                t->result = CURLE_ABORTED_BY_CALLBACK;
                push_result(L, t);
                lua_rawseti(L, results, i + 1);
                transfer_release(b, t);
                t->state = 2;
                done++;
            }
            break;
        }
        int running = 0;
        CURLMcode mc = curl_multi_perform(s->multi, &running);
        if (mc != CURLM_OK) {
            batch_release(b); /* detach from the multi before raising */
            s->live = NULL;
            return luaL_error(L, "curl_multi_perform: %s", curl_multi_strerror(mc));
        }
        CURLMsg *m;
        int left;
        while ((m = curl_multi_info_read(s->multi, &left))) {
            if (m->msg != CURLMSG_DONE) continue;
            Transfer *t = NULL;
            curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, (char **)&t);
            CURLcode rc = m->data.result;
            curl_multi_remove_handle(s->multi, m->easy_handle);
            if (t) {
                t->result = rc;
                t->state = 3;
                push_result(L, t);
                lua_rawseti(L, results, (lua_Integer)(t - b->t) + 1);
                transfer_release(b, t);
                t->state = 2;
                active--;
                done++;
            }
        }
        if (done < b->n && active > 0)
            curl_multi_poll(s->multi, NULL, 0, 200, NULL); /* wakes for the interrupt check */
    }

    batch_release((Batch *)lua_touserdata(L, box));
    s->live = NULL;
    lua_pushvalue(L, results);
    return 1;
}

/*
 * session:request(req) -> status, headers, body, result
 *                       | nil, message, code, result
 * One request: perform() with a single entry, unpacked.
 */
static int session_request(lua_State *L)
{
    check_session(L);
    luaL_checktype(L, 2, LUA_TTABLE);
    lua_settop(L, 2);
    lua_pushcfunction(L, session_perform);
    lua_pushvalue(L, 1);
    lua_createtable(L, 1, 0);
    lua_pushvalue(L, 2);
    lua_rawseti(L, -2, 1);
    lua_pushinteger(L, 1);
    lua_call(L, 3, 1);
    lua_rawgeti(L, -1, 1);
    int res = lua_gettop(L);
    if (lua_getfield(L, res, "error_code") == LUA_TSTRING) {
        lua_pushnil(L);
        lua_getfield(L, res, "error");
        lua_pushvalue(L, res + 1);
        lua_pushvalue(L, res);
        return 4;
    }
    lua_pop(L, 1);
    lua_getfield(L, res, "status");
    lua_getfield(L, res, "headers");
    lua_getfield(L, res, "body");
    lua_pushvalue(L, res);
    return 4;
}

/* version() -> libcurl version string */
static int l_version(lua_State *L)
{
    lua_pushstring(L, curl_version_info(CURLVERSION_NOW)->version);
    return 1;
}

static const luaL_Reg session_methods[] = {
    {"perform", session_perform},
    {"request", session_request},
    {"close", session_close},
    {NULL, NULL}
};

static const luaL_Reg session_meta[] = {
    {"__gc", session_close},
    {"__close", session_close},
    {"__tostring", session_tostring},
    {"__index", NULL},
    {NULL, NULL}
};

static const luaL_Reg funcs[] = {
    {"new", l_new},
    {"version", l_version},
    {"trap_interrupt", l_trap_interrupt},
    {"interrupted", l_interrupted},
    {"sleep", l_sleep},
    {NULL, NULL}
};

CLARIFAI_EXPORT int luaopen_clarifai_http_core(lua_State *L);
CLARIFAI_EXPORT int luaopen_clarifai_http_core(lua_State *L)
{
    static int global_ready = 0; /* luaopen may run once per Lua state */
    if (!global_ready) {
        if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
            return luaL_error(L, "curl_global_init failed");
        global_ready = 1;
    }
    if (luaL_newmetatable(L, SESSION_MT)) {
        luaL_setfuncs(L, session_meta, 0);
        luaL_newlib(L, session_methods);
        lua_setfield(L, -2, "__index");
    }
    lua_pop(L, 1);
    if (luaL_newmetatable(L, BATCH_MT)) {
        lua_pushcfunction(L, batch_gc);
        lua_setfield(L, -2, "__gc");
        lua_pushcfunction(L, batch_gc);
        lua_setfield(L, -2, "__close");
    }
    lua_pop(L, 1);
    luaL_newlib(L, funcs);
    return 1;
}
