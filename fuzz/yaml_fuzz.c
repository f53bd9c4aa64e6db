/*
 * libFuzzer harness for clarifai.yaml.core (csrc/yaml.c).
 *
 * Build and run from the repository root (one minute):
 *
 *   clang -g -O1 -fno-omit-frame-pointer -fsanitize=fuzzer,address,undefined \
 *     -fno-sanitize-recover=all -I/usr/include/lua5.4 \
 *     fuzz/yaml_fuzz.c -o /tmp/yaml_fuzz -llua5.4 -lyaml \
 *   && mkdir -p /tmp/yaml_fuzz_corpus \
 *   && /tmp/yaml_fuzz -max_total_time=60 -max_len=8192 -timeout=10 \
 *        /tmp/yaml_fuzz_corpus fuzz/corpus/yaml
 *
 * Each input is loaded three times, each in a fresh lua_State:
 *   1. with default options: load must not raise, and the result must be
 *      either a tree of tables and strings or nil, "LINE:COL: ...", code;
 *   2. with small limits (max_depth 4, max_size half the input), the same;
 *   3. with an allocator that fails after a few allocations inside load:
 *      raising is allowed there, leaking or touching freed memory is not
 *      (the loader userdata must release the parser and event);
 *   4. with and without skim (a few bytes, so block scalars are cut out
 *      before libyaml sees them): the results must agree, values longer
 *      than skim given as false, errors word for word.
 */
#include "../csrc/yaml.c"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

typedef struct {
    long budget; /* allocations that may still grow memory; < 0: unlimited */
} fuzz_alloc_state;

static void *fuzz_alloc(void *ud, void *ptr, size_t osize, size_t nsize)
{
    fuzz_alloc_state *st = (fuzz_alloc_state *)ud;

    if (nsize == 0) {
        free(ptr);
        return NULL;
    }
    /* Lua requires shrinking to succeed; only growth may fail. */
    if (st->budget >= 0 && (ptr == NULL || nsize > osize)) {
        if (st->budget == 0)
            return NULL;
        st->budget--;
    }
    return realloc(ptr, nsize);
}

static void die(lua_State *L, const char *what)
{
    const char *msg = lua_type(L, -1) == LUA_TSTRING ? lua_tostring(L, -1) : "(no message)";
    fprintf(stderr, "yaml_fuzz: %s: %s\n", what, msg);
    abort();
}

/* The value at the top is a string or a table of strings and tables, keyed
 * by strings or positive integers. */
static void check_tree(lua_State *L, int depth)
{
    int t;

    if (lua_type(L, -1) == LUA_TSTRING)
        return;
    if (lua_type(L, -1) != LUA_TTABLE || depth > MAX_DEPTH_CAP)
        die(L, "result holds a value that is not a string or a table");
    if (!lua_checkstack(L, 4))
        die(L, "stack");
    t = lua_gettop(L);
    lua_pushnil(L);
    while (lua_next(L, t)) {
        int kt = lua_type(L, -2);
        if (kt != LUA_TSTRING && !(kt == LUA_TNUMBER && lua_isinteger(L, -2)
                                   && lua_tointeger(L, -2) > 0))
            die(L, "result holds a bad key");
        check_tree(L, depth + 1);
        lua_pop(L, 1);
    }
}

static void check_result(lua_State *L)
{
    static const char *const codes[] = {
        "yaml_parse", "yaml_limit", "yaml_unsupported", "yaml_duplicate", NULL,
    };
    const char *msg, *code, *p;
    int i, ok = 0;

    if (lua_isnil(L, -1) && lua_isnil(L, -2)) {
        if (!lua_isnil(L, -3)) {
            lua_pushvalue(L, -3);
            check_tree(L, 0);
            lua_pop(L, 1);
        }
        return;
    }
    if (!lua_isnil(L, -3) || lua_type(L, -2) != LUA_TSTRING || lua_type(L, -1) != LUA_TSTRING)
        die(L, "failure is not nil, message, code");
    msg = lua_tostring(L, -2);
    code = lua_tostring(L, -1);
    for (i = 0; codes[i]; i++)
        ok |= strcmp(code, codes[i]) == 0;
    if (!ok)
        die(L, "unknown code");
    /* "LINE:COL: " with both numbers at least 1 */
    p = msg;
    if (*p < '1' || *p > '9')
        die(L, "message has no line");
    while (*p >= '0' && *p <= '9')
        p++;
    if (*p++ != ':' || *p < '1' || *p > '9')
        die(L, "message has no column");
    while (*p >= '0' && *p <= '9')
        p++;
    if (p[0] != ':' || p[1] != ' ' || p[2] == '\0')
        die(L, "message has no problem text");
}

enum { RUN_DEFAULT, RUN_SMALL, RUN_FAILING_ALLOC };

#define FUZZ_SKIM 8

/* Is the skimmed value at index b what the full value at index a gives:
 * strings longer than FUZZ_SKIM as false, everything else the same? */
static int same_skimmed(lua_State *L, int a, int b, int depth)
{
    size_t n;
    int ok = 1;

    a = lua_absindex(L, a);
    b = lua_absindex(L, b);
    if (lua_type(L, a) == LUA_TSTRING) {
        (void)lua_tolstring(L, a, &n);
        if (n > FUZZ_SKIM)
            return lua_type(L, b) == LUA_TBOOLEAN && !lua_toboolean(L, b);
        return lua_type(L, b) == LUA_TSTRING && lua_rawequal(L, a, b);
    }
    if (lua_type(L, a) != lua_type(L, b))
        return 0;
    if (lua_type(L, a) != LUA_TTABLE)
        return 1; /* nil */
    if (depth > MAX_DEPTH_CAP || !lua_checkstack(L, 6))
        die(L, "stack");
    /* every key of a in b with the same value, and b no larger */
    lua_pushnil(L);
    while (ok && lua_next(L, a)) {
        lua_pushvalue(L, -2);
        lua_rawget(L, b);
        ok = same_skimmed(L, -2, -1, depth + 1);
        lua_pop(L, 2);
    }
    if (!ok) {
        lua_pop(L, 1);
        return 0;
    }
    lua_pushnil(L);
    while (lua_next(L, b)) {
        lua_pushvalue(L, -2);
        if (lua_rawget(L, a) == LUA_TNIL) {
            lua_pop(L, 3);
            return 0;
        }
        lua_pop(L, 2);
    }
    return 1;
}

static void push_load(lua_State *L, const uint8_t *data, size_t size, lua_Integer skim)
{
    lua_getfield(L, -1, "load");
    lua_pushlstring(L, (const char *)data, size);
    lua_createtable(L, 0, 3);
    lua_pushinteger(L, 64);
    lua_setfield(L, -2, "max_depth");
    lua_pushinteger(L, 1024 * 1024);
    lua_setfield(L, -2, "max_size");
    lua_pushinteger(L, skim);
    lua_setfield(L, -2, "skim");
    if (lua_pcall(L, 2, 3, 0) != LUA_OK)
        die(L, "load raised");
}

/* The same input with and without skim. */
static void run_skim(const uint8_t *data, size_t size)
{
    lua_State *L = luaL_newstate();
    int full, skimmed;

    if (!L)
        abort();
    luaL_requiref(L, "clarifai.yaml.core", luaopen_clarifai_yaml_core, 0);
    push_load(L, data, size, 0);
    full = lua_gettop(L) - 2; /* value, message, code */
    lua_pushvalue(L, 1);
    push_load(L, data, size, FUZZ_SKIM);
    skimmed = lua_gettop(L) - 2;
    if (lua_isnil(L, full + 1) != lua_isnil(L, skimmed + 1)
        || !lua_rawequal(L, full + 1, skimmed + 1) || !lua_rawequal(L, full + 2, skimmed + 2))
        die(L, "skim: a different message or code");
    if (lua_isnil(L, full + 1) && !same_skimmed(L, full, skimmed, 0))
        die(L, "skim: a different result");
    lua_close(L);
}

static void run(const uint8_t *data, size_t size, int mode)
{
    fuzz_alloc_state st = { -1 };
    lua_State *L = lua_newstate(fuzz_alloc, &st);
    int status;

    if (!L)
        abort();
    luaL_requiref(L, "clarifai.yaml.core", luaopen_clarifai_yaml_core, 0);
    /* Opening twice must be harmless. */
    lua_pop(L, 1);
    luaL_requiref(L, "clarifai.yaml.core", luaopen_clarifai_yaml_core, 0);
    lua_getfield(L, -1, "load");
    lua_pushlstring(L, (const char *)data, size);
    /* the limits the library gives it (clarifai.limits), or small ones */
    lua_createtable(L, 0, 2);
    lua_pushinteger(L, mode == RUN_SMALL ? 4 : 64);
    lua_setfield(L, -2, "max_depth");
    lua_pushinteger(L, mode == RUN_SMALL ? (lua_Integer)(size / 2) : 1024 * 1024);
    lua_setfield(L, -2, "max_size");
    if (mode == RUN_FAILING_ALLOC) {
        unsigned h = (unsigned)size;
        size_t i;
        for (i = 0; i < size && i < 64; i++)
            h = h * 31u + data[i];
        st.budget = (long)(h % 97u);
    }
    status = lua_pcall(L, 2, 3, 0);
    st.budget = -1;
    if (mode == RUN_FAILING_ALLOC) {
        if (status == LUA_OK)
            check_result(L);
    } else {
        if (status != LUA_OK)
            die(L, "load raised");
        check_result(L);
    }
    lua_close(L);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    run(data, size, RUN_DEFAULT);
    run(data, size, RUN_SMALL);
    run(data, size, RUN_FAILING_ALLOC);
    run_skim(data, size);
    return 0;
}
