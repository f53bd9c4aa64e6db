/* Shared bits of the C modules: export macro and small Lua helpers. */
#ifndef CLARIFAI_COMMON_H
#define CLARIFAI_COMMON_H

#include <lua.h>
#include <lauxlib.h>

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

#endif
