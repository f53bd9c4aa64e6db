/*
 * clarifai.sys.core: the few operating-system facts the CLI needs and Lua
 * lacks: signals and time (the stop flag and its handler, an interruptible
 * sleep, a monotonic clock), output that a blocked reader cannot hold past a
 * stop, terminal checks and a safe file read. Loading
 * it does not load libcurl or libyaml, so commands that send nothing stay
 * cheap.
 *
 * Signals: trap_signals() makes SIGINT, SIGTERM and SIGHUP set one flag (the
 * number of the first one caught) instead of killing the process. Lua polls
 * it with signal(); the HTTP module reads the same flag through a pointer
 * published once in the registry (SIGNAL_KEY), so a wait for the network
 * returns as soon as a signal arrives, and write() gives up writing once the
 * grace after the signal is over. Nothing is trapped unless asked: a
 * host program embedding the library keeps its own handlers.
 */
#define _XOPEN_SOURCE 700 /* realpath */
#if defined(__APPLE__) && !defined(_DARWIN_C_SOURCE)
#define _DARWIN_C_SOURCE /* st_mtimespec, TIOCGWINSZ: hidden by _POSIX_C_SOURCE alone */
#endif
#include <dlfcn.h>
#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <sys/ioctl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <fcntl.h>
#include <signal.h>
#include <string.h>
#include <sys/stat.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include "common.h"

/* ---- signals and time ----------------------------------------------------- */

static volatile sig_atomic_t caught = 0;
/* When it was caught (CLOCK_MONOTONIC, written before the flag): the stop's
   grace for in-flight requests and for output counts from here. */
static volatile sig_atomic_t caught_sec = 0, caught_nsec = 0;

static void on_signal(int sig)
{
    if (!caught) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts); /* async-signal-safe */
        caught_sec = (sig_atomic_t)ts.tv_sec;
        caught_nsec = (sig_atomic_t)ts.tv_nsec;
        caught = sig;
    }
}

static double monotime(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static double caught_at(void)
{
    return (double)caught_sec + (double)caught_nsec / 1e9;
}

/* trap_signals(): SIGINT, SIGTERM and SIGHUP set the flag (idempotent). */
static int l_trap_signals(lua_State *L)
{
    static const int sigs[] = { SIGINT, SIGTERM, SIGHUP };
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = 0; /* no SA_RESTART: sleeps and waits wake up */
    for (size_t i = 0; i < sizeof sigs / sizeof sigs[0]; i++) sigaction(sigs[i], &sa, NULL);
    (void)L;
    return 0;
}

/* signal() -> number of the first signal caught, its monotime() | nil */
static int l_signal(lua_State *L)
{
    if (!caught) return 0;
    lua_pushinteger(L, (lua_Integer)caught);
    lua_pushnumber(L, (lua_Number)caught_at());
    return 2;
}

/* clear_signal(): forget a caught signal (tests, a host that handled it). */
static int l_clear_signal(lua_State *L)
{
    (void)L;
    caught = 0;
    return 0;
}

/* sleep(seconds) -> true, or false when a signal was caught first */
static int l_sleep(lua_State *L)
{
    lua_Number s = luaL_checknumber(L, 1);
    if (s > 0 && !caught) {
        struct timespec ts;
        if (s > 1e6) s = 1e6;
        ts.tv_sec = (time_t)s;
        ts.tv_nsec = (long)((s - (lua_Number)ts.tv_sec) * 1e9);
        while (nanosleep(&ts, &ts) != 0 && errno == EINTR && !caught) { }
    }
    lua_pushboolean(L, !caught);
    return 1;
}

/* isatty(fd) -> boolean */
static int l_isatty(lua_State *L)
{
    lua_Integer fd = luaL_checkinteger(L, 1);
    luaL_argcheck(L, fd >= 0 && fd <= 1024, 1, "file descriptor out of range");
    lua_pushboolean(L, isatty((int)fd));
    return 1;
}

/* monotime() -> seconds as a float, from CLOCK_MONOTONIC */
static int l_monotime(lua_State *L)
{
    lua_pushnumber(L, (lua_Number)monotime());
    return 1;
}

/*
 * write(fd, data [, grace]) -> bytes | bytes written, message, code
 * Writes all of data, never blocking in write(2): it waits in poll(2) for
 * the fd to take more, then writes at most PIPE_BUF bytes (whole writes to
 * regular files), so a signal is noticed while a reader holds the pipe
 * full. Once a trapped signal has been caught, waiting goes on only until
 * `grace` seconds after it (default 1); past that, only what the fd takes
 * at once is written, and the rest is code "TIMEOUT". Other codes:
 * "EPIPE" (the reader went away), "ENOSPC", "EBADF", "EIO". The descriptor's
 * flags are never changed (it may be shared with other processes).
 */
static int l_write(lua_State *L)
{
    lua_Integer fd = luaL_checkinteger(L, 1);
    size_t len;
    const char *data = luaL_checklstring(L, 2, &len);
    lua_Number grace = luaL_optnumber(L, 3, 1);
    luaL_argcheck(L, fd >= 0 && fd <= INT_MAX, 1, "file descriptor out of range");
    luaL_argcheck(L, grace >= 0, 3, "grace must be a non-negative number"); /* NaN fails too */
    if (grace > 86400) grace = 86400;
    struct stat st;
    int whole = fstat((int)fd, &st) == 0 && S_ISREG(st.st_mode);
    size_t off = 0;
    const char *code = NULL;
    int err = 0;
    while (off < len) {
        int wait_ms = 100; /* a slice: a signal landing just before poll() is seen soon */
        int late = 0;
        if (caught) {
            double left = caught_at() + (double)grace - monotime();
            if (left <= 0) {
                late = 1; /* past the grace: only what the fd takes without waiting */
                wait_ms = 0;
            } else if (left < 0.1) {
                wait_ms = (int)(left * 1000.0) + 1;
            }
        }
        struct pollfd pfd;
        pfd.fd = (int)fd;
        pfd.events = POLLOUT;
        pfd.revents = 0;
        int r = poll(&pfd, 1, wait_ms);
        if (r < 0 && errno != EINTR) {
            err = errno;
            break;
        }
        if (r == 0 && late) {
            code = "TIMEOUT";
            break;
        }
        if (r <= 0) continue;
        size_t n = len - off;
        if (!whole && n > PIPE_BUF) n = PIPE_BUF;
        ssize_t w = write((int)fd, data + off, n);
        if (w < 0) {
            if (errno == EINTR || errno == EAGAIN || errno == EWOULDBLOCK) continue;
            err = errno;
            break;
        }
        off += (size_t)w;
    }
    lua_pushinteger(L, (lua_Integer)off);
    if (off == len) return 1;
    if (code) {
        lua_pushliteral(L, "the output could not be written within the grace after a signal");
        lua_pushstring(L, code);
        return 3;
    }
    lua_pushstring(L, strerror(err));
    lua_pushstring(L, err == EPIPE ? "EPIPE" : err == ENOSPC ? "ENOSPC" : err == EBADF ? "EBADF" : "EIO");
    return 3;
}

/*
 * save(name, data) -> path | nil, message, code
 * Writes data to a new file $TMPDIR/clarifai-<name>-XXXXXX (else /tmp),
 * mode 0600, and returns its path: for output that could not reach its
 * reader and for lists of ids too long to print.
 */
static int l_save(lua_State *L)
{
    const char *name = luaL_checkstring(L, 1);
    size_t len;
    const char *data = luaL_checklstring(L, 2, &len);
    const char *dir = getenv("TMPDIR");
    if (!dir || !*dir) dir = "/tmp";
    lua_pushfstring(L, "%s/clarifai-%s-XXXXXX", dir, name);
    size_t tlen;
    const char *t = lua_tolstring(L, -1, &tlen);
    char *path = (char *)lua_newuserdatauv(L, tlen + 1, 0); /* mkstemp edits it in place */
    memcpy(path, t, tlen + 1);
    int fd = mkstemp(path);
    if (fd < 0) return clarifai_fail(L, strerror(errno), "EIO");
    (void)fchmod(fd, 0600);
    size_t off = 0;
    while (off < len) {
        ssize_t w = write(fd, data + off, len - off);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) {
            int e = w < 0 ? errno : EIO;
            close(fd);
            (void)unlink(path);
            return clarifai_fail(L, strerror(e), "EIO");
        }
        off += (size_t)w;
    }
    if (close(fd) != 0) {
        int e = errno;
        (void)unlink(path);
        return clarifai_fail(L, strerror(e), "EIO");
    }
    lua_pushstring(L, path);
    return 1;
}

/*
 * unread(fd) -> how many bytes written to the pipe at fd its reader has not
 * read | nil (fd is not a pipe, or the system cannot tell). After a write
 * failed with EPIPE this is what the reader never took: a pipe keeps its
 * data until its last end closes, and FIONREAD counts it from either end.
 */
static int l_unread(lua_State *L)
{
    lua_Integer fd = luaL_checkinteger(L, 1);
    luaL_argcheck(L, fd >= 0 && fd <= INT_MAX, 1, "file descriptor out of range");
#ifdef FIONREAD
    struct stat st;
    int n = 0;
    if (fstat((int)fd, &st) == 0 && S_ISFIFO(st.st_mode) && ioctl((int)fd, FIONREAD, &n) == 0 && n >= 0) {
        lua_pushinteger(L, (lua_Integer)n);
        return 1;
    }
#endif
    return 0;
}

/* columns(fd) -> the terminal's width in columns | nil */
static int l_columns(lua_State *L)
{
    lua_Integer fd = luaL_checkinteger(L, 1);
    luaL_argcheck(L, fd >= 0 && fd <= INT_MAX, 1, "file descriptor out of range");
    struct winsize ws;
    if (ioctl((int)fd, TIOCGWINSZ, &ws) != 0 || ws.ws_col == 0) return 0;
    lua_pushinteger(L, (lua_Integer)ws.ws_col);
    return 1;
}

/*
 * tty_foreground() -> true when the process has a controlling terminal and
 * its process group is that terminal's foreground group (a job in the
 * background must never stop on a prompt).
 */
static int l_tty_foreground(lua_State *L)
{
    int fd = open("/dev/tty", O_RDWR | O_NOCTTY | O_CLOEXEC | O_NONBLOCK);
    int fg = 0;
    if (fd >= 0) {
        pid_t pg = tcgetpgrp(fd);
        fg = pg > 0 && pg == getpgrp();
        close(fd);
    }
    lua_pushboolean(L, fg);
    return 1;
}

/* A closed stdout pipe must give EPIPE on write, not kill the process. */
static int l_ignore_sigpipe(lua_State *L)
{
    (void)L;
    signal(SIGPIPE, SIG_IGN);
    return 0;
}

/* File descriptor box: closed by __gc/__close if a raise happens mid-read. */
typedef struct { int fd; } FdBox;

static void fdbox_release(FdBox *b)
{
    if (b && b->fd >= 0) {
        close(b->fd);
        b->fd = -1;
    }
}

static int fdbox_close(lua_State *L)
{
    fdbox_release((FdBox *)lua_touserdata(L, 1));
    return 0;
}

static const char *file_kind(mode_t m)
{
    if (S_ISDIR(m)) return "a directory";
    if (S_ISFIFO(m)) return "a FIFO";
    if (S_ISCHR(m) || S_ISBLK(m)) return "a device";
    if (S_ISSOCK(m)) return "a socket";
    return "not a regular file";
}

/* read(2), retried when a signal interrupts it before any byte arrives. */
static ssize_t read_retrying(int fd, void *buf, size_t len)
{
    ssize_t n;
    do n = read(fd, buf, len); while (n < 0 && errno == EINTR);
    return n;
}

/*
 * read_file(path, max_bytes) -> data, mode | nil, message, code
 * Opens without blocking (a FIFO or device never hangs the caller), refuses
 * anything but a regular file and anything larger than max_bytes.
 * code: "ENOENT", "EACCES", "NOT_REGULAR", "TOO_LARGE" or "EIO".
 */
static int l_read_file(lua_State *L)
{
    const char *path = luaL_checkstring(L, 1);
    lua_Integer max = luaL_checkinteger(L, 2);
    luaL_argcheck(L, max >= 0, 2, "negative size limit");

    FdBox *box = (FdBox *)lua_newuserdatauv(L, sizeof(FdBox), 0);
    box->fd = -1;
    luaL_setmetatable(L, "clarifai.sys.fdbox");

    box->fd = open(path, O_RDONLY | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
    if (box->fd < 0) {
        int e = errno;
        return clarifai_fail(L, strerror(e), e == ENOENT ? "ENOENT" : e == EACCES ? "EACCES" : "EIO");
    }
    struct stat st;
    if (fstat(box->fd, &st) != 0) {
        int e = errno;
        fdbox_release(box);
        return clarifai_fail(L, strerror(e), "EIO");
    }
    if (!S_ISREG(st.st_mode)) {
        fdbox_release(box);
        return clarifai_fail(L, file_kind(st.st_mode), "NOT_REGULAR");
    }
    if ((lua_Integer)st.st_size > max) {
        fdbox_release(box);
        lua_pushnil(L);
        char a[32], b[32];
        lua_pushfstring(L, "file is %s bytes; the limit is %s bytes",
                        clarifai_int(a, sizeof a, (lua_Integer)st.st_size), clarifai_int(b, sizeof b, max));
        lua_pushliteral(L, "TOO_LARGE");
        return 3;
    }

    /* The size fstat gave, in one read (and one more to see the end): not
       LUAL_BUFFERSIZE at a time (1 KB on some builds: 80 reads for an 80 KB
       lockfile). A file that grew meanwhile goes on below. */
    size_t want = (size_t)st.st_size + 1;
    char *whole = (char *)lua_newuserdatauv(L, want, 0);
    size_t got = 0;
    while (got < want) {
        ssize_t n = read_retrying(box->fd, whole + got, want - got);
        if (n < 0) {
            int e = errno;
            fdbox_release(box);
            return clarifai_fail(L, strerror(e), "EIO");
        }
        if (n == 0) break;
        got += (size_t)n;
    }
    if ((lua_Integer)got > max) {
        fdbox_release(box);
        return clarifai_fail(L, "file grew past the size limit while being read", "TOO_LARGE");
    }
    if (got < want) {
        lua_pushlstring(L, whole, got);
        lua_pushinteger(L, (lua_Integer)(st.st_mode & 07777));
        fdbox_release(box);
        return 2;
    }
    luaL_Buffer b; /* it grew: the rest as it comes */
    luaL_buffinit(L, &b);
    luaL_addlstring(&b, whole, got);
    lua_Integer total = (lua_Integer)got;
    for (;;) {
        char *p = luaL_prepbuffer(&b);
        ssize_t n = read_retrying(box->fd, p, LUAL_BUFFERSIZE);
        if (n < 0) {
            int e = errno;
            luaL_pushresult(&b);
            fdbox_release(box);
            return clarifai_fail(L, strerror(e), "EIO");
        }
        if (n == 0) break;
        total += n;
        if (total > max) { /* grew while we read */
            luaL_pushresult(&b);
            fdbox_release(box);
            return clarifai_fail(L, "file grew past the size limit while being read", "TOO_LARGE");
        }
        luaL_addsize(&b, (size_t)n);
    }
    luaL_pushresult(&b);
    lua_pushinteger(L, (lua_Integer)(st.st_mode & 07777));
    fdbox_release(box);
    return 2;
}

/*
 * digest(path) -> "SIZE:HASH" | nil, message, code
 * A file's fingerprint: its size in bytes and a 64-bit FNV-1a hash of its
 * bytes taken eight at a time (little-endian words; the last 0..7 bytes one
 * by one), in hex. The launcher compares a source's with the one recorded
 * when its precompiled chunk was built (install may reset modification
 * times); tools/fingerprint.lua computes the same. Nothing that can raise
 * runs while the file is open.
 */
#define FNV_PRIME 1099511628211ULL

static int l_digest(lua_State *L)
{
    const char *path = luaL_checkstring(L, 1);
    int fd = open(path, O_RDONLY | O_NOCTTY | O_CLOEXEC);
    if (fd < 0) {
        int e = errno;
        return clarifai_fail(L, strerror(e), e == ENOENT ? "ENOENT" : "EIO");
    }
    uint64_t h = 14695981039346656037ULL;
    uint64_t size = 0;
    unsigned char buf[16384];
    size_t have = 0; /* bytes in buf not hashed yet (fewer than 8 between reads) */
    for (;;) {
        ssize_t n = read_retrying(fd, buf + have, sizeof buf - have);
        if (n < 0) {
            int e = errno;
            close(fd);
            return clarifai_fail(L, strerror(e), "EIO");
        }
        if (n == 0) break;
        size += (uint64_t)n;
        have += (size_t)n;
        size_t i = 0;
        for (; i + 8 <= have; i += 8) {
            uint64_t w;
            memcpy(&w, buf + i, 8); /* one load, not eight */
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
            w = __builtin_bswap64(w);
#endif
            h = (h ^ w) * FNV_PRIME;
        }
        memmove(buf, buf + i, have - i);
        have -= i;
    }
    close(fd);
    for (size_t i = 0; i < have; i++) h = (h ^ buf[i]) * FNV_PRIME;
    char out[64];
    snprintf(out, sizeof out, "%llu:%016llx", (unsigned long long)size, (unsigned long long)h);
    lua_pushstring(L, out);
    return 1;
}

/*
 * open_lazy(path) -> true | nil, message, "EIO"
 * Opens a shared object with lazy binding (RTLD_LAZY | RTLD_LOCAL, and deep
 * binding where that is safe: see deep_binding) and keeps
 * it open for the life of the process. Lua's own loader then opens the same
 * file with RTLD_NOW, which finds it loaded and relocated and does no more
 * work: the libraries it pulls in (libcurl's thirty-odd) bind a function
 * when it is first called instead of every function at load, as a program
 * started with them does. Nothing else changes: the module is opened by
 * Lua's loader as before. Waits first for a preload() of any object.
 */
/* <dlfcn.h> declares RTLD_DEEPBIND only under _GNU_SOURCE: glibc's value. */
#if defined(__GLIBC__) && !defined(RTLD_DEEPBIND)
#define RTLD_DEEPBIND 0x00008
#endif

/* Deep binding (glibc): the object and the libraries it pulls in look a
 * symbol up among themselves before the program's global scope (the
 * interpreter, readline, libc...), which every lookup would otherwise walk
 * first and miss: for libcurl's thousands of relocations, the difference
 * between loading it into this process and a program linked with it. The
 * same objects are found either way (the global scope holds nothing the
 * group defines, libc is in both), except when something interposes
 * symbols: not with LD_PRELOAD or /etc/ld.so.preload (a preloaded malloc
 * must stay everyone's) nor in a sanitizer build (which refuses it). */
static int deep_binding(void)
{
#if defined(RTLD_DEEPBIND) && !defined(__SANITIZE_ADDRESS__)
#if defined(__has_feature)
#if __has_feature(address_sanitizer)
    return 0;
#endif
#endif
    const char *pre = getenv("LD_PRELOAD");
    if ((pre && *pre) || access("/etc/ld.so.preload", F_OK) == 0)
        return 0;
    return RTLD_DEEPBIND;
#else
    return 0;
#endif
}

/*
 * preload(path) -> true | nil, message, code
 * Starts opening a shared object as open_lazy does, on a thread of its own,
 * and returns at once. Mapping and binding libcurl and the thirty-odd
 * libraries it pulls in is about half of a pause; the CLI spends that time
 * undumping its Lua and reading its files instead of waiting. open_lazy(path)
 * waits for the thread first (so does closing a state that started one), so
 * the module is loaded by the time Lua's loader asks for it. The thread
 * blocks every signal: they stay the main thread's (trap_signals, nap). A
 * failure is not reported here: open_lazy, on this thread, opens the object
 * again and says why. While the thread runs, any other dlopen (a C module,
 * Lua's loader) waits for it to finish: open the others first. One load at a
 * time per process (a second call waits for the first).
 */
static pthread_mutex_t preload_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_t preload_thread;
static int preload_running;
static int preload_mode;
static char preload_path[PATH_MAX];

static void *preload_main(void *unused)
{
    (void)unused;
    /* kept open for the life of the process, as open_lazy keeps its own */
    if (!dlopen(preload_path, preload_mode)) (void)dlerror();
    return NULL;
}

/* Joins the load preload() started, if one runs (preload_lock held). */
static void preload_join_locked(void)
{
    if (preload_running) {
        pthread_join(preload_thread, NULL);
        preload_running = 0;
    }
}

/* Waits for a load preload() started, if one is running. */
static void preload_wait(void)
{
    pthread_mutex_lock(&preload_lock);
    preload_join_locked();
    pthread_mutex_unlock(&preload_lock);
}

static int preload_gc(lua_State *L)
{
    (void)L;
    preload_wait();
    return 0;
}

#define PRELOAD_GUARD "clarifai.sys.preload"

static int l_preload(lua_State *L)
{
    size_t len;
    const char *path = luaL_checklstring(L, 1, &len);
    if (len >= sizeof preload_path) return clarifai_fail(L, "path too long", "ENAMETOOLONG");
    /* a userdata whose __gc waits for the thread, so that closing the state
       (os.exit(code, true)) never runs exit handlers beside a dlopen */
    lua_getfield(L, LUA_REGISTRYINDEX, PRELOAD_GUARD);
    if (lua_isnil(L, -1)) {
        lua_newuserdatauv(L, 1, 0);
        lua_newtable(L);
        lua_pushcfunction(L, preload_gc);
        lua_setfield(L, -2, "__gc");
        lua_setmetatable(L, -2);
        lua_setfield(L, LUA_REGISTRYINDEX, PRELOAD_GUARD);
    }
    lua_pop(L, 1);
    pthread_mutex_lock(&preload_lock);
    preload_join_locked();
    memcpy(preload_path, path, len + 1);
    preload_mode = RTLD_LAZY | RTLD_LOCAL | deep_binding(); /* here: getenv is not for threads */
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    int rc = pthread_create(&preload_thread, NULL, preload_main, NULL);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    preload_running = rc == 0;
    pthread_mutex_unlock(&preload_lock);
    if (rc != 0) return clarifai_fail(L, strerror(rc), "EAGAIN");
    lua_pushboolean(L, 1);
    return 1;
}

/*
 * guard_std_fds(): each of descriptors 0, 1 and 2 that is closed gets
 * /dev/null opened on it the wrong way round (stdin write-only, stdout and
 * stderr read-only). Reading stdin and writing stdout still fail with EBADF
 * as on a closed descriptor, but no file opened later, by this thread or by
 * a preload's (a library being mapped), can take the number and be read as
 * the run ids or written as the results. The command calls it first thing;
 * the library leaves a host's descriptors alone.
 */
static int l_guard_std_fds(lua_State *L)
{
    (void)L;
    for (int fd = 0; fd <= 2; fd++) {
        if (fcntl(fd, F_GETFD) != -1 || errno != EBADF) continue;
        int held = open("/dev/null", fd == 0 ? O_WRONLY : O_RDONLY);
        if (held >= 0 && held != fd) {
            dup2(held, fd);
            close(held);
        }
    }
    return 0;
}

static int l_open_lazy(lua_State *L)
{
    const char *path = luaL_checkstring(L, 1);
    preload_wait();
    if (!dlopen(path, RTLD_LAZY | RTLD_LOCAL | deep_binding())) {
        const char *e = dlerror();
        return clarifai_fail(L, e ? e : "dlopen failed", "EIO");
    }
    lua_pushboolean(L, 1);
    return 1;
}

/* A stat's modification time: st_mtim (POSIX 2008), st_mtimespec on macOS. */
static struct timespec modified_at(const struct stat *st)
{
#if defined(__APPLE__)
    return st->st_mtimespec;
#else
    return st->st_mtim;
#endif
}

/* A stat's status-change time (st_ctim; st_ctimespec on macOS). */
static struct timespec changed_at(const struct stat *st)
{
#if defined(__APPLE__)
    return st->st_ctimespec;
#else
    return st->st_ctim;
#endif
}

/*
 * stat_sig(path [, settled]) -> "DEV:INO:SIZE:MTIME:CTIME" | nil
 * What stat says of a file, in one string: device, inode, size, and the
 * modification and status-change times in nanoseconds. Writing a file
 * changes its status-change time (no call sets it back) and so its
 * signature; renaming another file over it changes the inode. The launcher
 * trusts a precompiled chunk whose source still has the signature recorded
 * when the chunk was built, without reading the source (one stat instead of
 * an open and reads). With settled = S, nil unless both times are at least
 * S seconds old: a file written just before its signature was taken could
 * be written again within the same clock tick, leaving the same times (a
 * build records no signature then, and the source is read each time).
 */
static int l_stat_sig(lua_State *L)
{
    const char *path = luaL_checkstring(L, 1);
    lua_Number settled = luaL_optnumber(L, 2, -1);
    struct stat st;
    if (stat(path, &st) != 0 || !S_ISREG(st.st_mode)) return 0;
    struct timespec m = modified_at(&st), c = changed_at(&st);
    if (settled >= 0) {
        struct timespec now;
        clock_gettime(CLOCK_REALTIME, &now);
        double latest = (double)(m.tv_sec > c.tv_sec ? m.tv_sec : c.tv_sec) + 1.0;
        if ((double)now.tv_sec - latest < settled) return 0;
    }
    char out[160];
    snprintf(out, sizeof out, "%llu:%llu:%llu:%lld.%09ld:%lld.%09ld", (unsigned long long)st.st_dev,
             (unsigned long long)st.st_ino, (unsigned long long)st.st_size, (long long)m.tv_sec, (long)m.tv_nsec,
             (long long)c.tv_sec, (long)c.tv_nsec);
    lua_pushstring(L, out);
    return 1;
}

/* realpath(path) -> resolved path | nil, message */
static int l_realpath(lua_State *L)
{
    const char *path = luaL_checkstring(L, 1);
    char *r = realpath(path, NULL);
    if (!r) return clarifai_fail(L, strerror(errno), "ENOENT");
    lua_pushstring(L, r); /* may raise: copy first, then free */
    free(r);
    return 1;
}

/*
 * exec(path, argv) -> only returns on failure: nil, message
 * Replaces this process (used to hand commands to another CLI). Every
 * argument is copied into one Lua-owned block first, so nothing leaks if a
 * raise happens before execv.
 */
static int l_exec(lua_State *L)
{
    const char *path = luaL_checkstring(L, 1);
    luaL_checktype(L, 2, LUA_TTABLE);
    lua_Integer n = luaL_len(L, 2);
    luaL_argcheck(L, n >= 1 && n < 4096, 2, "argv must have 1..4095 entries");
    char **argv = (char **)lua_newuserdatauv(L, (size_t)(n + 1) * sizeof(char *), 0);
    for (lua_Integer i = 1; i <= n; i++) {
        lua_rawgeti(L, 2, i);
        if (lua_type(L, -1) != LUA_TSTRING) return luaL_error(L, "argv entries must be strings");
        /* the strings stay referenced by the argv table during execv */
        argv[i - 1] = (char *)(uintptr_t)lua_tostring(L, -1);
        lua_pop(L, 1);
    }
    argv[n] = NULL;
    fflush(stdout);
    fflush(stderr);
    execv(path, argv);
    return clarifai_fail(L, strerror(errno), "EXEC");
}

/* setenv(name, value): for the process and what it execs (the hand-over mark). */
static int l_setenv(lua_State *L)
{
    const char *name = luaL_checkstring(L, 1);
    const char *value = luaL_checkstring(L, 2);
    luaL_argcheck(L, *name && !strchr(name, '='), 1, "invalid variable name");
    preload_wait(); /* the libraries a preload opens read the environment as they start */
    if (setenv(name, value, 1) != 0) return clarifai_fail(L, strerror(errno), "EIO");
    lua_pushboolean(L, 1);
    return 1;
}

/*
 * quick_exit(code [, flush]): flushes C streams (unless flush is false: a
 * stopped command whose reader blocks must not wait for it) and ends the
 * process without running exit handlers and library destructors (libcurl's
 * dependencies register many; the kernel reclaims everything anyway). For
 * the CLI's last step only, after every output has been written.
 */
static int l_quick_exit(lua_State *L)
{
    lua_Integer code = luaL_checkinteger(L, 1);
    if (lua_isnoneornil(L, 2) || lua_toboolean(L, 2)) fflush(NULL);
    _exit((int)(code & 0xff));
    return 0;
}

/* ---- child processes (hooks) ---------------------------------------------- */
/*
 * The mechanics of running a user's command without a shell (clarifai.hooks
 * decides what runs when): spawn() starts it with posix_spawnp, its stdin a
 * pipe that gets a given text and then EOF, its signal dispositions and mask
 * the defaults whatever this process has (the CLI ignores SIGPIPE and traps
 * SIGINT, SIGTERM and SIGHUP), optionally in a process group of its own;
 * reap() collects an ended child without waiting; kill() signals a child or
 * its group; environ() lists this process's environment (the base a hook's
 * is built from); nap() sleeps whatever the stop flag says (waits after a
 * stop). Nothing here keeps state between calls: the Lua side tracks pids.
 * Only POSIX calls (posix_spawn, waitpid, sigwait): the same code builds
 * for macOS.
 */
#include <spawn.h>
#include <sys/wait.h>
#if defined(__APPLE__)
#include <crt_externs.h> /* a dylib cannot reach `environ` directly */
#define current_environ() (*_NSGetEnviron())
#else
extern char **environ;
#define current_environ() (environ)
#endif
/* Closing every other descriptor in the child: macOS has a spawn flag for
   it, glibc (2.34 and later) a file action that its headers declare only
   past POSIX's names. Elsewhere a child inherits what lacks FD_CLOEXEC. */
#if defined(__APPLE__)
#define CLOSE_OTHERS_FLAG POSIX_SPAWN_CLOEXEC_DEFAULT
#elif defined(__GLIBC__) && (__GLIBC__ > 2 || (__GLIBC__ == 2 && __GLIBC_MINOR__ >= 34))
#define CLOSE_OTHERS_CLOSEFROM 1
int posix_spawn_file_actions_addclosefrom_np(posix_spawn_file_actions_t *fa, int from);
#endif

static const struct { const char *name; int sig; } signal_names[] = {
    {"HUP", SIGHUP},     {"INT", SIGINT},     {"QUIT", SIGQUIT},   {"ILL", SIGILL},   {"TRAP", SIGTRAP},
    {"ABRT", SIGABRT},   {"BUS", SIGBUS},     {"FPE", SIGFPE},     {"KILL", SIGKILL}, {"USR1", SIGUSR1},
    {"SEGV", SIGSEGV},   {"USR2", SIGUSR2},   {"PIPE", SIGPIPE},   {"ALRM", SIGALRM}, {"TERM", SIGTERM},
    {"CHLD", SIGCHLD},   {"CONT", SIGCONT},   {"STOP", SIGSTOP},   {"TSTP", SIGTSTP}, {"TTIN", SIGTTIN},
    {"TTOU", SIGTTOU},   {"URG", SIGURG},     {"XCPU", SIGXCPU},   {"XFSZ", SIGXFSZ}, {"VTALRM", SIGVTALRM},
    {"PROF", SIGPROF},   {"SYS", SIGSYS},
};

/* A signal argument: a number (0 included: a check that the target exists)
   or a name with or without "SIG" ("TERM", "SIGTERM"). Raises otherwise. */
static int signal_arg(lua_State *L, int idx)
{
    if (lua_type(L, idx) == LUA_TNUMBER) {
        lua_Integer n = luaL_checkinteger(L, idx);
        luaL_argcheck(L, n >= 0 && n < 128, idx, "signal number out of range");
        return (int)n;
    }
    const char *name = luaL_checkstring(L, idx);
    if (strncmp(name, "SIG", 3) == 0) name += 3;
    for (size_t i = 0; i < sizeof signal_names / sizeof signal_names[0]; i++)
        if (strcmp(name, signal_names[i].name) == 0) return signal_names[i].sig;
    return luaL_argerror(L, idx, "unknown signal name");
}

/* Checks that the value at idx is a list of n strings (NUL-free; with
   `assign`, each NAME=value with a non-empty NAME), n within [min, max], and
   returns n. Only raw accesses: no Lua code runs, so the strings stay
   those of the table while spawn() uses them. */
static int check_strings(lua_State *L, int idx, const char *what, size_t min, size_t max, int assign)
{
    if (lua_type(L, idx) != LUA_TTABLE) return luaL_error(L, "spawn: %s must be a table", what);
    size_t n = (size_t)lua_rawlen(L, idx);
    if (n < min || n > max) return luaL_error(L, "spawn: %s must have %d to %d entries", what, (int)min, (int)max);
    for (size_t i = 1; i <= n; i++) {
        size_t len;
        if (lua_rawgeti(L, idx, (lua_Integer)i) != LUA_TSTRING)
            return luaL_error(L, "spawn: %s entries must be strings", what);
        const char *s = lua_tolstring(L, -1, &len);
        if (strlen(s) != len) return luaL_error(L, "spawn: %s entries must not contain NUL", what);
        if (assign) {
            const char *eq = strchr(s, '=');
            if (!eq || eq == s) return luaL_error(L, "spawn: %s entries must be NAME=value", what);
        }
        lua_pop(L, 1);
    }
    return (int)n;
}

/* stdout/stderr: "inherit" (default) -> 0, "null" -> 1; raises otherwise. */
static int output_mode(lua_State *L, int idx, const char *what)
{
    if (lua_isnil(L, idx)) return 0;
    const char *s = lua_tostring(L, idx);
    if (lua_type(L, idx) == LUA_TSTRING && strcmp(s, "inherit") == 0) return 0;
    if (lua_type(L, idx) == LUA_TSTRING && strcmp(s, "null") == 0) return 1;
    return luaL_error(L, "spawn: %s must be \"inherit\" or \"null\"", what);
}

/* The fd with FD_CLOEXEC set, moved above 2 if it was 0..2 (the child's
   stdio slots, where a dup2 onto itself would keep the flag): the new fd, or
   -1 with errno (the fd is closed either way on failure). */
static int cloexec_high(int fd)
{
    if (fd < 3) {
        int nfd = fcntl(fd, F_DUPFD_CLOEXEC, 3);
        int e = errno;
        close(fd);
        errno = e;
        return nfd;
    }
    if (fcntl(fd, F_SETFD, FD_CLOEXEC) != 0) {
        int e = errno;
        close(fd);
        errno = e;
        return -1;
    }
    return fd;
}

/* A pipe for the child's stdin: both ends close-on-exec and above 2, the
   write end non-blocking (it is ours alone). 0, or an errno. */
static int stdin_pipe(int p[2])
{
    if (pipe(p) != 0) return errno;
    int w = p[1];
    p[0] = cloexec_high(p[0]);
    if (p[0] < 0) {
        int e = errno;
        close(w);
        p[1] = -1;
        return e;
    }
    p[1] = cloexec_high(w);
    int fl = p[1] < 0 ? -1 : fcntl(p[1], F_GETFL);
    if (fl < 0 || fcntl(p[1], F_SETFL, fl | O_NONBLOCK) != 0) {
        int e = errno;
        if (p[1] >= 0) close(p[1]);
        close(p[0]);
        p[0] = p[1] = -1;
        return e;
    }
    return 0;
}

/* Writes what the pipe takes now (never waits) and returns how much that
   was: EAGAIN (a child that does not read) and EPIPE (one that is gone) end
   it quietly. SIGPIPE is blocked meanwhile and the one an EPIPE raised is
   taken back, so a host that does not ignore SIGPIPE is not killed by it. */
static size_t feed(int fd, const char *data, size_t len)
{
    sigset_t pipe_only, old, pending;
    sigemptyset(&pipe_only);
    sigaddset(&pipe_only, SIGPIPE);
    sigprocmask(SIG_BLOCK, &pipe_only, &old);
    int was_pending = sigpending(&pending) == 0 && sigismember(&pending, SIGPIPE);
    size_t off = 0;
    int epipe = 0;
    while (off < len) {
        ssize_t w = write(fd, data + off, len - off);
        if (w > 0) {
            off += (size_t)w;
            continue;
        }
        if (w < 0 && errno == EINTR) continue;
        epipe = w < 0 && errno == EPIPE;
        break;
    }
    if (epipe && !was_pending && sigpending(&pending) == 0 && sigismember(&pending, SIGPIPE)) {
        int sig;
        sigwait(&pipe_only, &sig); /* pending: returns at once */
    }
    sigprocmask(SIG_SETMASK, &old, NULL);
    return off;
}

typedef struct {
    int argc, envc;          /* envc < 0: this process's environment */
    int has_stdin, pgroup, out_null, err_null;
} SpawnOpts;

/* Builds the file actions and attributes and spawns: 0 or an errno. The
   child gets the default disposition of every signal that can have one and
   an empty mask; its stdin is the pipe's read end (or /dev/null). */
static int spawn_child(pid_t *pid, const SpawnOpts *o, int stdin_fd, char **argv, char **envp)
{
    posix_spawn_file_actions_t fa;
    posix_spawnattr_t at;
    int err = posix_spawn_file_actions_init(&fa);
    if (err) return err;
    err = posix_spawnattr_init(&at);
    if (err) {
        posix_spawn_file_actions_destroy(&fa);
        return err;
    }
    if (stdin_fd >= 0) {
        if (!err) err = posix_spawn_file_actions_adddup2(&fa, stdin_fd, 0);
        if (!err) err = posix_spawn_file_actions_addclose(&fa, stdin_fd);
    } else {
        err = posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
    }
    if (!err && o->out_null) err = posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
    if (!err && o->err_null) err = posix_spawn_file_actions_addopen(&fa, 2, "/dev/null", O_WRONLY, 0);
#if defined(CLOSE_OTHERS_FLAG)
    /* everything not named by a file action is closed: 1 and 2 are named */
    if (!err && !o->out_null) err = posix_spawn_file_actions_addinherit_np(&fa, 1);
    if (!err && !o->err_null) err = posix_spawn_file_actions_addinherit_np(&fa, 2);
#elif defined(CLOSE_OTHERS_CLOSEFROM)
    if (!err) err = posix_spawn_file_actions_addclosefrom_np(&fa, 3);
#endif
    sigset_t def, none;
    sigfillset(&def);
    sigdelset(&def, SIGKILL);
    sigdelset(&def, SIGSTOP);
    sigemptyset(&none);
    short flags = POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK;
    if (o->pgroup) flags |= POSIX_SPAWN_SETPGROUP;
#if defined(CLOSE_OTHERS_FLAG)
    flags |= CLOSE_OTHERS_FLAG;
#endif
    if (!err) err = posix_spawnattr_setsigdefault(&at, &def);
    if (!err) err = posix_spawnattr_setsigmask(&at, &none);
    if (!err && o->pgroup) err = posix_spawnattr_setpgroup(&at, 0);
    if (!err) err = posix_spawnattr_setflags(&at, flags);
    if (!err) err = posix_spawnp(pid, argv[0], &fa, &at, argv, envp ? envp : current_environ());
    posix_spawnattr_destroy(&at);
    posix_spawn_file_actions_destroy(&fa);
    return err;
}

/*
 * spawn{argv = {...} [, env = {"NAME=value", ...}] [, stdin = text]
 *       [, new_pgroup = bool] [, stdout = "inherit"|"null"] [, stderr = ...]}
 *   -> pid, bytes of stdin written | nil, message, code
 * Starts argv[1] (looked up in PATH, this process's, when it has no slash)
 * with argv as its arguments and env as its whole environment (default:
 * this process's). With stdin, the child's stdin is a pipe that gets as much
 * of the text as it takes without waiting, then EOF; the rest is dropped
 * (the second result says how much went). Without, /dev/null. new_pgroup:
 * the child leads a process group of its own (its pgid is its pid). The
 * child starts with every signal's default disposition and nothing blocked,
 * and with descriptors 0, 1 and 2 only (glibc 2.34+ and macOS; elsewhere it
 * also inherits those of this process that lack FD_CLOEXEC).
 * codes: "ENOENT" (no such command), "EACCES", "SPAWN" (anything else).
 * Wrong types raise; the arrays are built only after every check.
 */
static int l_spawn(lua_State *L)
{
    luaL_checktype(L, 1, LUA_TTABLE);
    lua_settop(L, 1);
    /* every field first (a metamethod may run here), then raw checks only */
    lua_getfield(L, 1, "argv");       /* 2 */
    lua_getfield(L, 1, "env");        /* 3 */
    lua_getfield(L, 1, "stdin");      /* 4 */
    lua_getfield(L, 1, "new_pgroup"); /* 5 */
    lua_getfield(L, 1, "stdout");     /* 6 */
    lua_getfield(L, 1, "stderr");     /* 7 */
    SpawnOpts o;
    o.argc = check_strings(L, 2, "argv", 1, 4095, 0);
    o.envc = lua_isnil(L, 3) ? -1 : check_strings(L, 3, "env", 0, 65535, 1);
    if (!lua_isnil(L, 4) && lua_type(L, 4) != LUA_TSTRING) return luaL_error(L, "spawn: stdin must be a string");
    o.has_stdin = !lua_isnil(L, 4);
    o.pgroup = lua_toboolean(L, 5);
    o.out_null = output_mode(L, 6, "stdout");
    o.err_null = output_mode(L, 7, "stderr");
    size_t text_len = 0;
    const char *text = o.has_stdin ? lua_tolstring(L, 4, &text_len) : NULL;

    /* nothing below raises until every resource is released */
    size_t slots = (size_t)o.argc + 1 + (o.envc >= 0 ? (size_t)o.envc + 1 : 0);
    char **argv = (char **)malloc(slots * sizeof(char *));
    if (!argv) return clarifai_fail(L, "out of memory", "SPAWN");
    for (int i = 0; i < o.argc; i++) {
        lua_rawgeti(L, 2, i + 1);
        argv[i] = (char *)(uintptr_t)lua_tostring(L, -1); /* kept alive by the argv table */
        lua_pop(L, 1);
    }
    argv[o.argc] = NULL;
    char **envp = NULL;
    if (o.envc >= 0) {
        envp = argv + o.argc + 1;
        for (int i = 0; i < o.envc; i++) {
            lua_rawgeti(L, 3, i + 1);
            envp[i] = (char *)(uintptr_t)lua_tostring(L, -1);
            lua_pop(L, 1);
        }
        envp[o.envc] = NULL;
    }
    int p[2] = { -1, -1 };
    pid_t pid = 0;
    int err = o.has_stdin ? stdin_pipe(p) : 0;
    if (!err) err = spawn_child(&pid, &o, p[0], argv, envp);
    free(argv);
    if (p[0] >= 0) close(p[0]);
    size_t written = 0;
    if (p[1] >= 0) {
        if (!err) written = feed(p[1], text, text_len);
        close(p[1]);
    }
    if (err) {
        lua_rawgeti(L, 2, 1);
        lua_pushnil(L);
        lua_pushfstring(L, "%s: %s", lua_tostring(L, -2), strerror(err));
        lua_pushstring(L, err == ENOENT ? "ENOENT" : err == EACCES ? "EACCES" : "SPAWN");
        return 3;
    }
    lua_pushinteger(L, (lua_Integer)pid);
    lua_pushinteger(L, (lua_Integer)written);
    return 2;
}

/*
 * reap(pid) -> pid, "exit", status | pid, "signal", number | nil
 *   | nil, message, code
 * Collects the child pid if it has ended, without waiting: nil when it is
 * still running. Only that child: a host embedding the library keeps its
 * own. code: "ECHILD" (not a child of this process, or already collected).
 */
static int l_reap(lua_State *L)
{
    lua_Integer want = luaL_checkinteger(L, 1);
    luaL_argcheck(L, want > 0 && want <= INT_MAX, 1, "pid must be positive");
    int st = 0;
    pid_t r;
    do r = waitpid((pid_t)want, &st, WNOHANG);
    while (r < 0 && errno == EINTR);
    if (r == 0) {
        lua_pushnil(L);
        return 1;
    }
    if (r < 0) return clarifai_fail(L, strerror(errno), errno == ECHILD ? "ECHILD" : "EIO");
    lua_pushinteger(L, (lua_Integer)r);
    if (WIFSIGNALED(st)) {
        lua_pushliteral(L, "signal");
        lua_pushinteger(L, (lua_Integer)WTERMSIG(st));
    } else {
        lua_pushliteral(L, "exit");
        lua_pushinteger(L, (lua_Integer)WEXITSTATUS(st));
    }
    return 3;
}

/*
 * kill(target, signal) -> true | nil, message, code
 * target: a pid, or minus a process group's id (the group's every member).
 * signal: a name ("TERM", "SIGTERM") or a number. 0, -1 and this process's
 * own group raise (they would reach the caller). codes: "ESRCH" (no such
 * process or group), "EPERM".
 */
static int l_kill(lua_State *L)
{
    lua_Integer target = luaL_checkinteger(L, 1);
    int sig = signal_arg(L, 2);
    luaL_argcheck(L, target != 0 && target != -1 && target > -(lua_Integer)INT_MAX && target <= INT_MAX, 1,
                  "target must be a pid or a negative process group id");
    luaL_argcheck(L, target > 0 || (pid_t)(-target) != getpgrp(), 1, "refusing to signal the caller's own group");
    if (kill((pid_t)target, sig) != 0) {
        int e = errno;
        return clarifai_fail(L, strerror(e), e == ESRCH ? "ESRCH" : e == EPERM ? "EPERM" : "EINVAL");
    }
    lua_pushboolean(L, 1);
    return 1;
}

/* environ() -> { "NAME=value", ... }: this process's environment. */
static int l_environ(lua_State *L)
{
    char **e = current_environ();
    lua_newtable(L);
    for (int i = 0; e && e[i]; i++) {
        lua_pushstring(L, e[i]);
        lua_rawseti(L, -2, i + 1);
    }
    return 1;
}

/* nap(seconds): sleeps even when a stop signal was caught (sleep() then
   returns at once): for the short waits of a stop itself. */
static int l_nap(lua_State *L)
{
    lua_Number s = luaL_checknumber(L, 1);
    if (s > 0) {
        struct timespec ts;
        if (s > 86400) s = 86400;
        ts.tv_sec = (time_t)s;
        ts.tv_nsec = (long)((s - (lua_Number)ts.tv_sec) * 1e9);
        while (nanosleep(&ts, &ts) != 0 && errno == EINTR) { }
    }
    return 0;
}

static const luaL_Reg child_funcs[] = {
    {"spawn", l_spawn},
    {"reap", l_reap},
    {"kill", l_kill},
    {"environ", l_environ},
    {"nap", l_nap},
    {NULL, NULL}
};

/* The child-process functions and `signals` (name -> number) into the
   module table on the stack's top. */
static void open_children(lua_State *L)
{
    luaL_setfuncs(L, child_funcs, 0);
    lua_newtable(L);
    for (size_t i = 0; i < sizeof signal_names / sizeof signal_names[0]; i++) {
        lua_pushinteger(L, signal_names[i].sig);
        lua_setfield(L, -2, signal_names[i].name);
    }
    lua_setfield(L, -2, "signals");
}

static const luaL_Reg funcs[] = {
    {"trap_signals", l_trap_signals},
    {"signal", l_signal},
    {"clear_signal", l_clear_signal},
    {"sleep", l_sleep},
    {"tty_foreground", l_tty_foreground},
    {"quick_exit", l_quick_exit},
    {"realpath", l_realpath},
    {"stat_sig", l_stat_sig},
    {"digest", l_digest},
    {"open_lazy", l_open_lazy},
    {"preload", l_preload},
    {"guard_std_fds", l_guard_std_fds},
    {"exec", l_exec},
    {"setenv", l_setenv},
    {"isatty", l_isatty},
    {"write", l_write},
    {"save", l_save},
    {"columns", l_columns},
    {"unread", l_unread},
    {"monotime", l_monotime},
    {"ignore_sigpipe", l_ignore_sigpipe},
    {"read_file", l_read_file},
    {NULL, NULL}
};

CLARIFAI_EXPORT int luaopen_clarifai_sys_core(lua_State *L);
CLARIFAI_EXPORT int luaopen_clarifai_sys_core(lua_State *L)
{
    if (luaL_newmetatable(L, "clarifai.sys.fdbox")) {
        lua_pushcfunction(L, fdbox_close);
        lua_setfield(L, -2, "__gc");
        lua_pushcfunction(L, fdbox_close);
        lua_setfield(L, -2, "__close");
    }
    lua_pop(L, 1);
    /* the flag's address, for the HTTP module's waits (see the top) */
    lua_pushlightuserdata(L, (void *)(uintptr_t)&caught);
    lua_setfield(L, LUA_REGISTRYINDEX, CLARIFAI_SIGNAL_KEY);
    luaL_newlib(L, funcs);
    lua_pushinteger(L, SIGINT);
    lua_setfield(L, -2, "SIGINT");
    lua_pushinteger(L, SIGTERM);
    lua_setfield(L, -2, "SIGTERM");
    lua_pushinteger(L, SIGHUP);
    lua_setfield(L, -2, "SIGHUP");
    lua_pushinteger(L, SIGPIPE);
    lua_setfield(L, -2, "SIGPIPE");
    open_children(L);
    return 1;
}
