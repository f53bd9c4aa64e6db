/*
 * benchcore: process control and clocks for the benchmark driver.
 *
 *   r = run{argv = {...}, env = {"K=V", ...}, cwd = dir,
 *           stdin = path, stdout = path, stderr = path}
 *       -> {wall = seconds, utime = s, stime = s, maxrss_kb = n,
 *           status = exit code | nil, signal = n | nil}
 *       Starts the program directly (no shell), waits for it, and times
 *       the whole life of the process from spawn to reap.
 *   pid = start{...same fields...}      background process
 *   r = wait(pid)                        reap it: {status, signal, utime, stime, maxrss_kb}
 *   alive = kill(pid, sig)               true when the signal was delivered
 *   t = now()                            CLOCK_MONOTONIC seconds
 *   sleep(seconds)
 *   n = clk_tck()                        sysconf(_SC_CLK_TCK)
 *   pid = getpid()
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/time.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <lua.h>
#include <lauxlib.h>

extern char **environ;

static double mono(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static double tv_sec(struct timeval tv)
{
    return (double)tv.tv_sec + (double)tv.tv_usec / 1e6;
}

/* A NULL-terminated array of the strings in table field `name` (or NULL). */
static char **string_list(lua_State *L, int idx, const char *name, int required)
{
    lua_getfield(L, idx, name);
    if (lua_isnil(L, -1)) {
        lua_pop(L, 1);
        if (required) luaL_error(L, "field '%s' is required", name);
        return NULL;
    }
    luaL_checktype(L, -1, LUA_TTABLE);
    lua_Integer n = luaL_len(L, -1);
    if (required && n < 1) luaL_error(L, "field '%s' must not be empty", name);
    char **out = (char **)lua_newuserdatauv(L, sizeof(char *) * (size_t)(n + 1), 0);
    for (lua_Integer i = 1; i <= n; i++) {
        lua_rawgeti(L, -2, i);
        out[i - 1] = (char *)luaL_checkstring(L, -1);
        /* the string stays referenced by the table, which stays on the stack */
        lua_pop(L, 1);
    }
    out[n] = NULL;
    /* keep table and userdata alive below the caller's working area */
    return out;
}

static const char *opt_field(lua_State *L, int idx, const char *name)
{
    lua_getfield(L, idx, name);
    const char *s = lua_isnil(L, -1) ? NULL : luaL_checkstring(L, -1);
    return s; /* left on the stack: keeps the string alive */
}

static pid_t spawn_from(lua_State *L, int idx)
{
    luaL_checktype(L, idx, LUA_TTABLE);
    char **argv = string_list(L, idx, "argv", 1);
    char **envp = string_list(L, idx, "env", 0);
    const char *cwd = opt_field(L, idx, "cwd");
    const char *in = opt_field(L, idx, "stdin");
    const char *out = opt_field(L, idx, "stdout");
    const char *err = opt_field(L, idx, "stderr");

    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 0, in ? in : "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_addopen(&fa, 1, out ? out : "/dev/null", O_WRONLY | O_CREAT | O_TRUNC, 0644);
    posix_spawn_file_actions_addopen(&fa, 2, err ? err : "/dev/null", O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (cwd) posix_spawn_file_actions_addchdir_np(&fa, cwd);

    posix_spawnattr_t at;
    posix_spawnattr_init(&at);
    sigset_t none, all;
    sigemptyset(&none);
    sigfillset(&all);
    posix_spawnattr_setsigmask(&at, &none);
    posix_spawnattr_setsigdefault(&at, &all);
    posix_spawnattr_setflags(&at, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);

    pid_t pid;
    int rc = posix_spawnp(&pid, argv[0], &fa, &at, argv, envp ? envp : environ);
    posix_spawn_file_actions_destroy(&fa);
    posix_spawnattr_destroy(&at);
    if (rc != 0) luaL_error(L, "cannot start %s: %s", argv[0], strerror(rc));
    return pid;
}

static void push_wait(lua_State *L, int st, const struct rusage *ru)
{
    lua_createtable(L, 0, 6);
    if (WIFEXITED(st)) {
        lua_pushinteger(L, WEXITSTATUS(st));
        lua_setfield(L, -2, "status");
    } else if (WIFSIGNALED(st)) {
        lua_pushinteger(L, WTERMSIG(st));
        lua_setfield(L, -2, "signal");
    }
    lua_pushnumber(L, tv_sec(ru->ru_utime));
    lua_setfield(L, -2, "utime");
    lua_pushnumber(L, tv_sec(ru->ru_stime));
    lua_setfield(L, -2, "stime");
    lua_pushinteger(L, ru->ru_maxrss);
    lua_setfield(L, -2, "maxrss_kb");
}

static int reap(lua_State *L, pid_t pid, int *st, struct rusage *ru)
{
    for (;;) {
        pid_t r = wait4(pid, st, 0, ru);
        if (r == pid) return 1;
        if (r < 0 && errno == EINTR) continue;
        return luaL_error(L, "wait4(%d): %s", (int)pid, strerror(errno));
    }
}

static int l_run(lua_State *L)
{
    int st;
    struct rusage ru;
    double t0 = mono();
    pid_t pid = spawn_from(L, 1);
    reap(L, pid, &st, &ru);
    double t1 = mono();
    push_wait(L, st, &ru);
    lua_pushnumber(L, t1 - t0);
    lua_setfield(L, -2, "wall");
    return 1;
}

static int l_start(lua_State *L)
{
    pid_t pid = spawn_from(L, 1);
    lua_pushinteger(L, pid);
    return 1;
}

static int l_wait(lua_State *L)
{
    pid_t pid = (pid_t)luaL_checkinteger(L, 1);
    int st;
    struct rusage ru;
    reap(L, pid, &st, &ru);
    push_wait(L, st, &ru);
    return 1;
}

static int l_kill(lua_State *L)
{
    pid_t pid = (pid_t)luaL_checkinteger(L, 1);
    int sig = (int)luaL_optinteger(L, 2, SIGTERM);
    lua_pushboolean(L, pid > 0 && kill(pid, sig) == 0);
    return 1;
}

static int l_now(lua_State *L)
{
    lua_pushnumber(L, mono());
    return 1;
}

static int l_sleep(lua_State *L)
{
    double s = luaL_checknumber(L, 1);
    if (s > 0) {
        struct timespec ts;
        ts.tv_sec = (time_t)s;
        ts.tv_nsec = (long)((s - (double)ts.tv_sec) * 1e9);
        while (nanosleep(&ts, &ts) != 0 && errno == EINTR) { }
    }
    return 0;
}

static int l_clk_tck(lua_State *L)
{
    lua_pushinteger(L, sysconf(_SC_CLK_TCK));
    return 1;
}

static int l_getpid(lua_State *L)
{
    lua_pushinteger(L, getpid());
    return 1;
}

static const luaL_Reg funcs[] = {
    {"run", l_run},
    {"start", l_start},
    {"wait", l_wait},
    {"kill", l_kill},
    {"now", l_now},
    {"sleep", l_sleep},
    {"clk_tck", l_clk_tck},
    {"getpid", l_getpid},
    {NULL, NULL}
};

int luaopen_benchcore(lua_State *L);
int luaopen_benchcore(lua_State *L)
{
    luaL_newlib(L, funcs);
    return 1;
}
