/* The few parts of the Lua 5.3 API the modules use that Lua 5.1, 5.2 and
 * LuaJIT 2.1 lack or give other meanings, written for this project (nothing
 * to install besides the interpreter's own headers). Included by common.h
 * only when LUA_VERSION_NUM < 503. Each is a static function with our prefix
 * and a macro of the 5.3 name, so a header that declares the same name (as
 * LuaJIT's does for some) does not clash. */
#ifndef CLARIFAI_COMPAT_H
#define CLARIFAI_COMPAT_H

#include <math.h>

#include <lua.h>
#include <lauxlib.h>

/* 5.3: lua_getfield, lua_rawget and lua_rawgeti return the type pushed. */
static inline int clarifai_getfield(lua_State *L, int idx, const char *k)
{
    lua_getfield(L, idx, k);
    return lua_type(L, -1);
}

static inline int clarifai_rawget(lua_State *L, int idx)
{
    lua_rawget(L, idx);
    return lua_type(L, -1);
}

static inline int clarifai_rawgeti(lua_State *L, int idx, lua_Integer n)
{
    lua_rawgeti(L, idx, (int)n);
    return lua_type(L, -1);
}

/* 5.3: a number converts only when it has an exact integer value (5.1, 5.2
 * and LuaJIT truncate). Strings are not converted: the modules check the
 * type first. */
static inline lua_Integer clarifai_tointegerx(lua_State *L, int idx, int *isnum)
{
    int ok = 0;
    lua_Integer v = 0;
    if (lua_type(L, idx) == LUA_TNUMBER) {
        lua_Number n = lua_tonumber(L, idx);
        /* 2^63 as a double: the first value past lua_Integer's range */
        if (n == floor(n) && n >= -9223372036854775808.0 && n < 9223372036854775808.0) {
            v = (lua_Integer)n;
            ok = 1;
        }
    }
    if (isnum) *isnum = ok;
    return v;
}

#define lua_getfield(L, i, k) clarifai_getfield((L), (i), (k))
#define lua_rawget(L, i) clarifai_rawget((L), (i))
#define lua_rawgeti(L, i, n) clarifai_rawgeti((L), (i), (n))
#define lua_tointegerx(L, i, p) clarifai_tointegerx((L), (i), (p))

#if LUA_VERSION_NUM < 502
/* Lua 5.1 and LuaJIT */

#ifndef LUA_OK
#define LUA_OK 0
#endif

#define lua_rawlen(L, i) lua_objlen((L), (i))
#define luaL_len(L, i) ((lua_Integer)lua_objlen((L), (i)))

static inline void clarifai_setfuncs(lua_State *L, const luaL_Reg *l, int nup)
{
    luaL_checkstack(L, nup, "too many upvalues");
    for (; l->name; l++) {
        for (int i = 0; i < nup; i++) lua_pushvalue(L, -nup);
        lua_pushcclosure(L, l->func, nup);
        lua_setfield(L, -(nup + 2), l->name);
    }
    lua_pop(L, nup);
}

static inline void clarifai_setmetatable(lua_State *L, const char *tname)
{
    luaL_getmetatable(L, tname);
    lua_setmetatable(L, -2);
}

/* Only for messages: the value as text (its __tostring when it has one). */
static inline const char *clarifai_tolstring(lua_State *L, int idx, size_t *len)
{
    if (!luaL_callmeta(L, idx, "__tostring")) {
        switch (lua_type(L, idx)) {
        case LUA_TNUMBER:
        case LUA_TSTRING: lua_pushvalue(L, idx); break;
        case LUA_TBOOLEAN: lua_pushstring(L, lua_toboolean(L, idx) ? "true" : "false"); break;
        case LUA_TNIL: lua_pushliteral(L, "nil"); break;
        default: lua_pushfstring(L, "%s: %p", luaL_typename(L, idx), lua_topointer(L, idx)); break;
        }
    }
    return lua_tolstring(L, -1, len);
}

#undef luaL_setfuncs
#undef luaL_setmetatable
#undef luaL_newlib
#define luaL_setfuncs(L, l, n) clarifai_setfuncs((L), (l), (n))
#define luaL_setmetatable(L, t) clarifai_setmetatable((L), (t))
#define luaL_newlib(L, l) (lua_newtable(L), clarifai_setfuncs((L), (l), 0))
#define luaL_tolstring(L, i, n) clarifai_tolstring((L), (i), (n))

#endif /* LUA_VERSION_NUM < 502 */

#endif
