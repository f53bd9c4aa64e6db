/* Shared bits of the C modules: the Lua API they are written against (5.4,
 * with compat.h and the shims below on 5.1, 5.2, 5.3 and LuaJIT), the export
 * macro and small helpers. */
#ifndef CLARIFAI_COMMON_H
#define CLARIFAI_COMMON_H

#include <stdint.h>
#include <stdio.h>

#include <lua.h>
#include <lauxlib.h>

#if !defined(LUA_VERSION_NUM) || LUA_VERSION_NUM < 503
/* Lua 5.1, 5.2 and LuaJIT: the parts of the 5.3 API the modules use. */
#include "compat.h"
#endif

#if LUA_VERSION_NUM < 504
/* The 5.4 API the modules use, on older Luas. */
#define lua_newuserdatauv(L, size, nuv) lua_newuserdata((L), (size))
#endif

#ifndef LUA_MAXINTEGER
#define LUA_MAXINTEGER ((lua_Integer)INT64_MAX)
#endif

/* Whether the collector is running: 5.1 cannot tell (it counts as running). */
#if LUA_VERSION_NUM >= 502
#define clarifai_gc_running(L) lua_gc((L), LUA_GCISRUNNING, 0)
#else
#define clarifai_gc_running(L) 1
#endif

/* Only luaopen_* is visible; the modules are built with -fvisibility=hidden. */
#define CLARIFAI_EXPORT __attribute__((visibility("default")))

/* Registry key of the signal flag's address (set by clarifai.sys.core). */
#define CLARIFAI_SIGNAL_KEY "clarifai.sys.signal"

/* Runtime failure: push nil, message, code and return 3 values. */
static inline int clarifai_fail(lua_State *L, const char *msg, const char *code)
{
    lua_pushnil(L);
    lua_pushstring(L, msg);
    lua_pushstring(L, code);
    return 3;
}

/* lua_Integer as text, on every Lua (lua_pushfstring's %I is 5.3+). */
static inline const char *clarifai_int(char *buf, size_t n, lua_Integer v)
{
    snprintf(buf, n, "%lld", (long long)v);
    return buf;
}

#endif
