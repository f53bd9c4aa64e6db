/*
 * clarifai.http.core: HTTP transfers over libcurl's multi socket interface.
 *
 * Mechanics only. A session owns a CURLM (and with it the connection cache,
 * so connections are reused across calls), a share handle (TLS sessions and
 * DNS answers reused across connections) and one poller that libcurl's
 * socket callback keeps up to date. Transfers
 * are submitted one at a time and come back from poll() as they finish, so
 * the caller refills a freed slot at once and sees each result as it lands.
 *
 * The poller is chosen at build time (http.core.poller names it): epoll on
 * Linux, kqueue on macOS and the BSDs, poll(2) anywhere else or when built
 * with -DCLARIFAI_POLLER_POLL (make POLLER=poll; _EPOLL and _KQUEUE force
 * the others). With each, session:fd() is readable when poll(0) has work:
 * epoll's and kqueue's fd is the kernel object itself; with poll(2) it is
 * a pipe that a helper thread, started by the first fd() call, writes when
 * a watched socket is ready (so a host's event loop gets what it gets with
 * epoll, plus one thread per session it watches; the CLI, which never asks
 * for the fd, runs none).
 *
 *   key = session:submit(request)        start a transfer (never blocks)
 *   results = session:poll([seconds])    drive transfers; wait at most that
 *                                         long for one to finish (0: no wait)
 *   result = session:abort(key)          stop one transfer now
 *   results = session:abort_all()
 *   session:fd(), session:timeout()      for an event loop: the poller fd is
 *                                         readable when poll(0) has work; the
 *                                         timeout is when it must run anyway
 *
 * Policy (retries, what a status means, redaction, parallelism) lives in Lua.
 * Guarantees: TLS verification always on (TLS 1.2 or newer), redirects never
 * followed, only http/https, explicit timeouts, a response size cap (and,
 * skimming, a cap on bytes received), a request with a body never sent
 * twice by libcurl itself, no Lua code runs inside libcurl (nothing can
 * longjmp through it), every transfer is owned by its session from the
 * moment it is allocated (a raise anywhere leaks nothing;
 * close/__gc/__close release all), and waits end early when the signal
 * flag of clarifai.sys.core is set.
 */
#if defined(__APPLE__) && !defined(_DARWIN_C_SOURCE)
#define _DARWIN_C_SOURCE /* the BSD half of the headers (kqueue's types), which _POSIX_C_SOURCE hides */
#endif
#include <curl/curl.h>
#include <errno.h>
#include <math.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* The poller (see its section): one of -DCLARIFAI_POLLER_EPOLL, _KQUEUE or
   _POLL, else the platform's own. */
#if !defined(CLARIFAI_POLLER_EPOLL) && !defined(CLARIFAI_POLLER_KQUEUE) && !defined(CLARIFAI_POLLER_POLL)
#if defined(__linux__)
#define CLARIFAI_POLLER_EPOLL
#elif defined(__APPLE__) || defined(__FreeBSD__) || defined(__NetBSD__) || defined(__OpenBSD__) \
    || defined(__DragonFly__)
#define CLARIFAI_POLLER_KQUEUE
#else
#define CLARIFAI_POLLER_POLL
#endif
#endif
#if defined(CLARIFAI_POLLER_EPOLL)
#include <sys/epoll.h>
#elif defined(CLARIFAI_POLLER_KQUEUE)
#include <fcntl.h>
#include <sys/types.h>
#include <sys/event.h>
#include <sys/time.h>
#else
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#endif

#include "common.h"

/* libcurl 7.68 or newer (Ubuntu 20.04's; Debian 11 has 7.74). What came
   later is used where the headers have it, and where the library running
   lacks it, the module does without (see only_http_and_https and the
   re-send guard). CLARIFAI_CURL_AS=0x074400 (`make test-curl7.68`) builds as
   if the headers were 7.68's, with what came later poisoned (tools/curl-7.68.h),
   so that build proves the gates. */
#ifdef CLARIFAI_CURL_AS
#define CURL_HAS(v) (CLARIFAI_CURL_AS >= (v))
#else
#define CURL_HAS(v) (LIBCURL_VERSION_NUM >= (v))
#endif
#if !CURL_HAS(0x074400)
#error "clarifai.http.core needs libcurl 7.68.0 or newer"
#endif

#define SESSION_MT "clarifai.http.session"
#define POOL_MAX 64          /* idle easy handles kept for reuse */
#define MAX_WAIT_SLICE 0.25  /* longest single wait: bounds a signal that lands just before it */
#define HEADER_MAX (256 * 1024)
/* Hard limits: the largest values this module can hand libcurl (a number of
   seconds whose milliseconds fit a 32-bit long; a byte count a double holds
   exactly). Larger request values are clamped to them; exported as
   http.core.limits for Lua to read. */
#define MAX_SECONDS 2000000.0
#define MAX_BYTES 9007199254740992.0
#define MAX_PARALLEL 1024

static double monotime(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
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
    X(HTTP3) X(NOT_BUILT_IN) X(FAILED_INIT) X(BAD_FUNCTION_ARGUMENT) \
    CURL_CODES_769(X) CURL_CODES_773(X) CURL_CODES_777(X) CURL_CODES_784(X)
/* the codes newer libcurls added, by the version that did */
#if CURL_HAS(0x074500)
#define CURL_CODES_769(X) X(QUIC_CONNECT_ERROR)
#else
#define CURL_CODES_769(X)
#endif
#if CURL_HAS(0x074900)
#define CURL_CODES_773(X) X(PROXY)
#else
#define CURL_CODES_773(X)
#endif
#if CURL_HAS(0x074d00)
#define CURL_CODES_777(X) X(SSL_CLIENTCERT)
#else
#define CURL_CODES_777(X)
#endif
#if CURL_HAS(0x075400)
#define CURL_CODES_784(X) X(UNRECOVERABLE_POLL)
#else
#define CURL_CODES_784(X)
#endif

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

/* ---- skimming: long string values dropped as a body streams in ---------- */

/*
 * A streaming scanner over a JSON body that keeps every byte except string
 * values longer than a threshold, each of which becomes `null`: so neither
 * this buffer nor Lua ever holds the long text (a run's Argo spec and
 * status). Object keys are never dropped (object and array context is
 * tracked), escapes are followed (\" does not end a string), and bytes of
 * a UTF-8 sequence are never split (a string is kept or dropped whole).
 * Whitespace and everything outside long strings are kept, so the cap on
 * kept bytes still ends a padded or endless body. It never fails: a body
 * that is not JSON passes through (its strings at most shortened to null,
 * never a byte added elsewhere), and nesting beyond SKIM_DEPTH stops the
 * skimming for the rest of the body (the decoder refuses such depth anyway).
 * A string at the top level (not inside an object or array) is kept.
 */
#define SKIM_DEPTH 256

enum { SK_OUT, SK_KEY, SK_VALUE, SK_DROP, SK_OFF };

typedef struct {
    size_t threshold; /* longest string value kept, in bytes between its quotes (as sent); 0: off */
    size_t start;     /* SK_VALUE: where the value's opening quote is in the body */
    size_t len;       /* SK_VALUE: its bytes so far */
    size_t dropped;   /* string values replaced by null */
    int mode, esc, key_next, depth;
    unsigned char objects[SKIM_DEPTH / 8]; /* bit d set: level d + 1 is an object */
} Skim;

static int skim_in_object(const Skim *k)
{
    int d = k->depth - 1;
    return k->depth > 0 && (k->objects[d / 8] >> (d % 8)) & 1;
}

/* One byte outside any string: the container context. */
static void skim_structure(Skim *k, char c)
{
    if (c == '{' || c == '[') {
        if (k->depth == SKIM_DEPTH) {
            k->mode = SK_OFF;
            return;
        }
        int d = k->depth++;
        unsigned char bit = (unsigned char)(1u << (d % 8));
        if (c == '{') k->objects[d / 8] |= bit;
        else k->objects[d / 8] &= (unsigned char)~bit;
        k->key_next = c == '{';
    } else if (c == '}' || c == ']') {
        if (k->depth > 0) k->depth--;
        k->key_next = 0;
    } else if (c == ',') {
        k->key_next = skim_in_object(k);
    } else if (c == ':') {
        k->key_next = 0;
    }
}

/* Scans a string from p[*i] to its closing quote (or the end of the
   chunk); returns 1 when it closed. SK_VALUE counts its bytes and returns
   -1 as soon as it is longer than the threshold. */
static int skim_string(Skim *k, const char *p, size_t n, size_t *i)
{
    size_t j = *i;
    int value = k->mode == SK_VALUE, closed = 0;
    while (j < n) {
        char c = p[j++];
        if (k->esc) {
            k->esc = 0;
        } else if (c == '\\') {
            k->esc = 1;
        } else if (c == '"') {
            closed = 1;
            break;
        }
        if (value && ++k->len > k->threshold) {
            *i = j;
            return -1;
        }
    }
    *i = j;
    return closed;
}

/* Feeds n bytes: what is kept is appended to b. 0 when out of memory. */
static int skim_feed(Skim *k, Bytes *b, const char *p, size_t n)
{
    size_t i = 0, from = 0; /* p[from..i) is kept, appended in one go */
    while (i < n && k->mode != SK_OFF) {
        if (k->mode == SK_OUT) {
            char c = p[i];
            if (c != '"') {
                skim_structure(k, c);
                i++;
                continue;
            }
            if (k->depth > 0 && !(k->key_next && skim_in_object(k))) {
                if (i > from && !bytes_add(b, p + from, i - from)) return 0;
                from = i;
                k->start = b->len;
                k->len = 0;
                k->mode = SK_VALUE;
            } else {
                k->mode = SK_KEY;
            }
            k->esc = 0;
            i++;
            continue;
        }
        int got = skim_string(k, p, n, &i);
        if (got < 0) { /* too long: what was kept of it goes, null stands for it */
            b->len = k->start;
            if (b->data) b->data[b->len] = '\0';
            if (!bytes_add(b, "null", 4)) return 0;
            k->mode = SK_DROP;
        } else if (got > 0) {
            if (k->mode == SK_DROP) {
                k->dropped++;
                from = i;
            }
            k->mode = SK_OUT;
        }
        if (k->mode == SK_DROP) from = i;
    }
    if (k->mode == SK_DROP || from == n) return 1;
    return bytes_add(b, p + from, n - from);
}

/* ---- poller: the one fd an event loop watches --------------------------- */

/*
 * The backends differ only in this section, behind six calls:
 *   poller_open(p) -> 0 | -1 (errno)      poller_close(p)
 *   poller_set(p, sock, what, fresh)      watch sock for CURL_POLL_IN/OUT/
 *       INOUT, or forget it (REMOVE); fresh: the poller does not have it
 *       yet. A socket the poller cannot take is left to its transfer's
 *       timeout (every request has one).
 *   poller_wait(p, out, wait_ms) -> n     ready sockets within wait_ms (0:
 *       none); an interrupted wait (a signal) counts as none
 *   poller_fd(p) -> fd | -1 (errno)       what session:fd() hands an event
 *       loop: readable when poll(0) has work
 *   poller_looked(p)                      poll() has handed libcurl what was
 *       ready (the poll backend's helper may look again)
 * p->fd is -1 once closed.
 */

typedef struct {
    int fd;
    int mask; /* CURL_CSELECT_* */
} PollEvent;

#define POLL_BATCH 64

#if defined(CLARIFAI_POLLER_EPOLL) || defined(CLARIFAI_POLLER_KQUEUE)

/* epoll and kqueue: one kernel object, whose fd is itself readable while a
   socket it watches is ready; it is what session:fd() returns. */
typedef struct {
    int fd;
} Poller;

static int poller_fd(Poller *p)
{
    return p->fd;
}

static void poller_looked(Poller *p)
{
    (void)p;
}

static void poller_close(Poller *p)
{
    close(p->fd);
    p->fd = -1;
}

#endif

#if defined(CLARIFAI_POLLER_EPOLL)

#define POLLER_NAME "epoll"

static int poller_open(Poller *p)
{
    p->fd = epoll_create1(EPOLL_CLOEXEC);
    return p->fd < 0 ? -1 : 0;
}

/* fresh: ADD at once instead of a failed MOD first. */
static void poller_set(Poller *p, curl_socket_t sock, int what, int fresh)
{
    if (what == CURL_POLL_REMOVE) {
        (void)epoll_ctl(p->fd, EPOLL_CTL_DEL, sock, NULL);
        return;
    }
    struct epoll_event ev;
    memset(&ev, 0, sizeof ev);
    ev.events = ((what & CURL_POLL_IN) ? EPOLLIN : 0u) | ((what & CURL_POLL_OUT) ? EPOLLOUT : 0u);
    ev.data.fd = sock;
    if (fresh) {
        if (epoll_ctl(p->fd, EPOLL_CTL_ADD, sock, &ev) != 0 && errno == EEXIST)
            (void)epoll_ctl(p->fd, EPOLL_CTL_MOD, sock, &ev);
    } else if (epoll_ctl(p->fd, EPOLL_CTL_MOD, sock, &ev) != 0 && errno == ENOENT) {
        (void)epoll_ctl(p->fd, EPOLL_CTL_ADD, sock, &ev);
    }
}

static int poller_wait(Poller *p, PollEvent *out, int wait_ms)
{
    struct epoll_event evs[POLL_BATCH];
    int n = epoll_wait(p->fd, evs, POLL_BATCH, wait_ms);
    if (n < 0) return 0;
    for (int i = 0; i < n; i++) {
        int m = 0;
        if (evs[i].events & (EPOLLIN | EPOLLHUP)) m |= CURL_CSELECT_IN;
        if (evs[i].events & EPOLLOUT) m |= CURL_CSELECT_OUT;
        if (evs[i].events & EPOLLERR) m |= CURL_CSELECT_ERR;
        out[i].fd = evs[i].data.fd;
        out[i].mask = m;
    }
    return n;
}

#elif defined(CLARIFAI_POLLER_KQUEUE)

#define POLLER_NAME "kqueue"

static int poller_open(Poller *p)
{
    p->fd = kqueue(); /* a fork does not inherit it; FD_CLOEXEC keeps it from an exec */
    if (p->fd < 0) return -1;
    (void)fcntl(p->fd, F_SETFD, FD_CLOEXEC);
    return 0;
}

#ifndef EV_RECEIPT
/* Without it a failed change is still reported in the list, and a pending
   event the call returns instead is reported again (filters are level-
   triggered): nothing is lost. */
#define EV_RECEIPT 0
#endif

/* A filter per direction, each added or deleted (REMOVE deletes both) in
   one kevent() call. EV_RECEIPT reports each change on its own, so deleting
   a filter that was never added (ENOENT) is harmless and cannot stop the
   other change; no pending event is taken. fresh needs no special case. */
static void poller_set(Poller *p, curl_socket_t sock, int what, int fresh)
{
    struct kevent ch[2], got[2];
    struct timespec now = { 0, 0 };
    int want = what == CURL_POLL_REMOVE ? 0 : what;
    (void)fresh;
    EV_SET(&ch[0], (uintptr_t)sock, EVFILT_READ, ((want & CURL_POLL_IN) ? EV_ADD : EV_DELETE) | EV_RECEIPT,
           0, 0, 0);
    EV_SET(&ch[1], (uintptr_t)sock, EVFILT_WRITE, ((want & CURL_POLL_OUT) ? EV_ADD : EV_DELETE) | EV_RECEIPT,
           0, 0, 0);
    (void)kevent(p->fd, ch, 2, got, 2, &now);
}

/* A socket's read and write filters report apart: merged into one entry. */
static int poller_wait(Poller *p, PollEvent *out, int wait_ms)
{
    struct kevent evs[POLL_BATCH];
    struct timespec ts;
    ts.tv_sec = wait_ms / 1000;
    ts.tv_nsec = (long)(wait_ms % 1000) * 1000000L;
    int got = kevent(p->fd, NULL, 0, evs, POLL_BATCH, &ts), n = 0;
    for (int i = 0; i < got; i++) {
        int m = 0, k = 0;
        if (evs[i].flags & EV_ERROR) m |= CURL_CSELECT_ERR; /* data: the errno */
        else if (evs[i].filter == EVFILT_READ) m |= CURL_CSELECT_IN;
        else if (evs[i].filter == EVFILT_WRITE) m |= CURL_CSELECT_OUT;
        if (evs[i].flags & EV_EOF) /* the peer closed; fflags: the socket's error, if any */
            m |= CURL_CSELECT_IN | (evs[i].fflags ? CURL_CSELECT_ERR : 0);
        while (k < n && out[k].fd != (int)evs[i].ident) k++;
        if (k == n) {
            out[n].fd = (int)evs[i].ident;
            out[n++].mask = 0;
        }
        out[k].mask |= m;
    }
    return n;
}

#else /* CLARIFAI_POLLER_POLL */

#define POLLER_NAME "poll"

/*
 * poll(2): the watched sockets in an array that the waits poll. No kernel
 * object gathers them for an event loop, so session:fd() is the read end of
 * a pipe, the note, kept by a helper thread: it polls the same sockets (and
 * its own wake pipe), and when one is ready it writes the note and waits
 * until poll() has read it (poller_looked: after libcurl was handed what
 * was ready), then looks again. So the fd is readable when poll(0) has
 * work, as epoll's is, at the cost of a thread and a copy of the set per
 * look. The helper starts at the first fd() call (the CLI, which waits in
 * poll(), never runs one), touches no Lua state, takes no signal (they stay
 * the host's) and is stopped and joined by close. The lock guards the set's
 * changes (the session writes it; the helper copies it), noted and quit.
 */
typedef struct {
    int fd;               /* the note's read end; -1 when closed */
    int note_w;           /* its write end (the helper writes) */
    int wake[2];          /* the helper's: look again, or quit */
    struct pollfd *set;   /* the watched sockets: n of cap */
    int n, cap, next;     /* next: where reporting starts (no socket starves) */
    pthread_mutex_t lock;
    pthread_t helper;
    int helping, noted, quit;
} Poller;

static int pipe_pair(int fds[2])
{
    fds[0] = fds[1] = -1;
    if (pipe(fds) != 0) return -1;
    for (int i = 0; i < 2; i++) {
        int fl = fcntl(fds[i], F_GETFL);
        if (fl < 0 || fcntl(fds[i], F_SETFL, fl | O_NONBLOCK) != 0 || fcntl(fds[i], F_SETFD, FD_CLOEXEC) != 0) {
            int e = errno;
            close(fds[0]);
            close(fds[1]);
            fds[0] = fds[1] = -1;
            errno = e;
            return -1;
        }
    }
    return 0;
}

static void drain(int fd)
{
    char buf[64];
    while (read(fd, buf, sizeof buf) > 0) { }
}

static void poke(int fd)
{
    if (write(fd, "", 1) < 0) { } /* full: it is readable already */
}

static int poller_open(Poller *p)
{
    int note[2] = { -1, -1 }, e = 0;
    memset(p, 0, sizeof *p);
    p->wake[0] = p->wake[1] = -1;
    if (pipe_pair(note) == 0 && pipe_pair(p->wake) == 0 && (e = pthread_mutex_init(&p->lock, NULL)) == 0) {
        p->fd = note[0];
        p->note_w = note[1];
        return 0;
    }
    if (e) errno = e;
    e = errno;
    int fds[4] = { note[0], note[1], p->wake[0], p->wake[1] };
    for (int i = 0; i < 4; i++) if (fds[i] >= 0) close(fds[i]);
    p->fd = -1;
    errno = e;
    return -1;
}

static void poller_set(Poller *p, curl_socket_t sock, int what, int fresh)
{
    int i = 0;
    (void)fresh;
    while (i < p->n && p->set[i].fd != sock) i++;
    pthread_mutex_lock(&p->lock);
    if (what == CURL_POLL_REMOVE) {
        if (i < p->n) p->set[i] = p->set[--p->n];
    } else {
        if (i == p->n && p->n == p->cap) {
            int cap = p->cap ? p->cap * 2 : 16;
            struct pollfd *set = (struct pollfd *)realloc(p->set, (size_t)cap * sizeof *set);
            if (set) {
                p->set = set;
                p->cap = cap;
            }
        }
        if (i < p->cap) {
            if (i == p->n) p->n++;
            p->set[i].fd = sock;
            p->set[i].events = (short)(((what & CURL_POLL_IN) ? POLLIN : 0) | ((what & CURL_POLL_OUT) ? POLLOUT : 0));
            p->set[i].revents = 0;
        }
    }
    pthread_mutex_unlock(&p->lock);
    if (p->helping) poke(p->wake[1]);
}

static int poller_wait(Poller *p, PollEvent *out, int wait_ms)
{
    int got = poll(p->set, (nfds_t)p->n, wait_ms), n = 0;
    for (int k = 0; k < p->n && n < got && n < POLL_BATCH; k++) {
        int i = (p->next + k) % p->n, m = 0;
        short r = p->set[i].revents;
        if (!r) continue;
        if (r & (POLLIN | POLLHUP)) m |= CURL_CSELECT_IN;
        if (r & POLLOUT) m |= CURL_CSELECT_OUT;
        if (r & (POLLERR | POLLNVAL)) m |= CURL_CSELECT_ERR;
        out[n].fd = p->set[i].fd;
        out[n++].mask = m;
        if (n == POLL_BATCH) p->next = (i + 1) % p->n;
    }
    return n;
}

/* The helper: copy the set (unless a note is waiting: then only the wake
   pipe), poll, and write the note when a socket is ready. With no room for
   its copy, or poll failing, it writes the note anyway (the loop's poll(0)
   looks; never a hang). */
static void *poll_helper(void *arg)
{
    Poller *p = (Poller *)arg;
    struct pollfd one, *mine = NULL;
    int cap = 0;
    for (;;) {
        struct pollfd *fds = &one;
        int n = 0, ms = -1;
        pthread_mutex_lock(&p->lock);
        int quit = p->quit;
        if (!quit && !p->noted) {
            if (p->n + 1 > cap) {
                struct pollfd *more = (struct pollfd *)realloc(mine, (size_t)(p->cap + 1) * sizeof *more);
                if (more) {
                    mine = more;
                    cap = p->cap + 1;
                }
            }
            if (p->n + 1 <= cap) {
                fds = mine;
                n = p->n;
                for (int i = 0; i < n; i++) { /* not revents: the session's poll() may be writing it */
                    mine[i + 1].fd = p->set[i].fd;
                    mine[i + 1].events = p->set[i].events;
                }
            } else {
                ms = 10;
            }
        }
        pthread_mutex_unlock(&p->lock);
        if (quit) break;
        fds[0].fd = p->wake[0];
        fds[0].events = POLLIN;
        fds[0].revents = 0;
        int got = poll(fds, (nfds_t)(n + 1), ms);
        if (got > 0 && fds[0].revents) {
            drain(p->wake[0]);
            got--;
        }
        if (got != 0 || ms >= 0) {
            pthread_mutex_lock(&p->lock);
            if (!p->noted) {
                p->noted = 1;
                poke(p->note_w);
            }
            pthread_mutex_unlock(&p->lock);
        }
    }
    free(mine);
    return NULL;
}

static int poller_fd(Poller *p)
{
    if (!p->helping) {
        sigset_t all, old;
        sigfillset(&all);
        pthread_sigmask(SIG_SETMASK, &all, &old); /* the helper inherits a mask that blocks every signal */
        int e = pthread_create(&p->helper, NULL, poll_helper, (void *)p);
        pthread_sigmask(SIG_SETMASK, &old, NULL);
        if (e != 0) {
            errno = e;
            return -1;
        }
        p->helping = 1;
    }
    return p->fd;
}

static void poller_looked(Poller *p)
{
    if (!p->helping) return;
    pthread_mutex_lock(&p->lock);
    if (p->noted) { /* read and cleared together: a note is never lost nor left over */
        drain(p->fd);
        p->noted = 0;
        poke(p->wake[1]);
    }
    pthread_mutex_unlock(&p->lock);
}

static void poller_close(Poller *p)
{
    if (p->helping) {
        pthread_mutex_lock(&p->lock);
        p->quit = 1;
        pthread_mutex_unlock(&p->lock);
        poke(p->wake[1]);
        pthread_join(p->helper, NULL);
        p->helping = 0;
    }
    pthread_mutex_destroy(&p->lock);
    close(p->fd);
    close(p->note_w);
    close(p->wake[0]);
    close(p->wake[1]);
    free(p->set);
    p->set = NULL;
    p->n = p->cap = 0;
    p->fd = -1;
}

#endif

/* ---- transfers and the session that owns them --------------------------- */

typedef enum {
    T_SETUP,   /* allocated, not yet in the multi (a raise here leaves it for release) */
    T_ACTIVE,  /* in the multi */
    T_DONE     /* finished or aborted; its result is waiting to be delivered */
} TState;

typedef struct Transfer {
    struct Transfer *prev, *next;
    CURL *easy;
    struct curl_slist *headers;
    Bytes body, head;
    size_t max_size;     /* body bytes kept, at most */
    size_t max_received; /* body bytes received (skimmed ones included), at most */
    size_t received;
    Skim skim;           /* skim.threshold 0: every byte is kept */
    lua_Integer key;
    TState state;
    int too_large;   /* the write callback stopped the transfer at the cap */
    int oom;
    int aborted;     /* stopped by abort() */
    int has_body;    /* a request with a body: never sent twice */
    int starts;      /* times libcurl started sending the request */
    int resend_refused; /* libcurl was about to send it again: stopped instead */
    CURLcode result;
    char errbuf[CURL_ERROR_SIZE];
} Transfer;

typedef struct {
    CURLM *multi;          /* NULL once closed */
    CURLSH *share;
    Poller poller;         /* its fd is -1 when closed */
    double timer_at;       /* monotonic time libcurl wants to be called, < 0: none */
    Transfer *first;       /* every transfer the session owns */
    int active, done;
    lua_Integer next_key;
    CURL *pool[POOL_MAX];
    int npool;
} Session;

static const volatile sig_atomic_t no_signal = 0;

/* The flag clarifai.sys.core publishes; a constant zero when it is not loaded. */
static const volatile sig_atomic_t *signal_flag(lua_State *L)
{
    const volatile sig_atomic_t *p = &no_signal;
    if (lua_getfield(L, LUA_REGISTRYINDEX, CLARIFAI_SIGNAL_KEY) == LUA_TLIGHTUSERDATA)
        p = (const volatile sig_atomic_t *)lua_touserdata(L, -1);
    lua_pop(L, 1);
    return p;
}

/* The body as it arrives: kept whole, or skimmed; stopped beyond a cap. */
static size_t on_body(char *p, size_t size, size_t n, void *ud)
{
    Transfer *t = (Transfer *)ud;
    size_t len = size * n;
    t->received += len;
    if (t->received > t->max_received) { /* unskimmed, received bytes are the kept ones */
        t->too_large = 1;
        return 0;
    }
    if (!(t->skim.threshold ? skim_feed(&t->skim, &t->body, p, len) : bytes_add(&t->body, p, len))) {
        t->oom = 1;
        return 0;
    }
    if (t->body.len > t->max_size) {
        t->too_large = 1;
        return 0;
    }
    return len;
}

/*
 * Called each time libcurl starts sending the request (on a new or reused
 * connection). A second time means libcurl is re-sending it by itself: a
 * reused connection closed before any answer came. A request with a body
 * (a change) may have been applied by then, so it is not sent again: the
 * transfer ends as "sent, no answer" and the caller decides (it reads the
 * run back). GETs are re-sent freely.
 */
#if CURL_HAS(0x075000) /* 7.80 */
static int on_prereq(void *ud, char *remote_ip, char *local_ip, int remote_port, int local_port)
{
    Transfer *t = (Transfer *)ud;
    (void)remote_ip;
    (void)local_ip;
    (void)remote_port;
    (void)local_port;
    if (t->has_body && t->starts++ > 0) {
        t->resend_refused = 1;
        return CURL_PREREQFUNC_ABORT;
    }
    return CURL_PREREQFUNC_OK;
}
#endif

static size_t on_header(char *p, size_t size, size_t n, void *ud)
{
    Transfer *t = (Transfer *)ud;
    size_t len = size * n;
    /* A new status line starts a new response (e.g. after 100 Continue). */
    if (len >= 5 && memcmp(p, "HTTP/", 5) == 0) t->head.len = 0;
    if (t->head.len + len > HEADER_MAX) {
        t->too_large = 1;
        return 0;
    }
    if (!bytes_add(&t->head, p, len)) {
        t->oom = 1;
        return 0;
    }
    return len;
}

/* libcurl's per-socket pointer (curl_multi_assign) remembers what the
   poller was last told, so an unchanged request costs no system call and a
   socket new to libcurl's table is added without a failing MOD first. */
static char watch_marks[4]; /* &watch_marks[what]: the poller watches for `what` */

static int on_socket(CURL *easy, curl_socket_t sock, int what, void *ud, void *sockp)
{
    Session *s = (Session *)ud;
    (void)easy;
    if (s->poller.fd < 0) return 0;
    if (what == CURL_POLL_REMOVE) {
        poller_set(&s->poller, sock, what, 0);
        return 0; /* libcurl forgets the socket, and its pointer with it */
    }
    char *mark = &watch_marks[what & 3];
    if (sockp == (void *)mark) return 0;
    poller_set(&s->poller, sock, what, sockp == NULL);
    curl_multi_assign(s->multi, sock, (void *)mark);
    return 0;
}

static int on_timer(CURLM *multi, long timeout_ms, void *ud)
{
    Session *s = (Session *)ud;
    (void)multi;
    s->timer_at = timeout_ms < 0 ? -1.0 : monotime() + (double)timeout_ms / 1000.0;
    return 0;
}

static void link_transfer(Session *s, Transfer *t)
{
    t->prev = NULL;
    t->next = s->first;
    if (s->first) s->first->prev = t;
    s->first = t;
}

/* Unlinks and frees t; its easy handle goes back to the pool. */
static void free_transfer(Session *s, Transfer *t)
{
    if (t->prev) t->prev->next = t->next;
    else s->first = t->next;
    if (t->next) t->next->prev = t->prev;
    if (t->easy) {
        if (t->state == T_ACTIVE) {
            curl_multi_remove_handle(s->multi, t->easy);
            s->active--;
        }
        if (s->npool < POOL_MAX) s->pool[s->npool++] = t->easy;
        else curl_easy_cleanup(t->easy);
    }
    if (t->state == T_DONE) s->done--;
    curl_slist_free_all(t->headers);
    bytes_free(&t->body);
    bytes_free(&t->head);
    free(t);
}

/* Marks an active transfer finished with rc (it leaves the multi). */
static void finish_transfer(Session *s, Transfer *t, CURLcode rc)
{
    if (t->state == T_ACTIVE) {
        curl_multi_remove_handle(s->multi, t->easy);
        s->active--;
    }
    if (t->state != T_DONE) s->done++;
    t->state = T_DONE;
    t->result = rc;
}

/* Releases everything: transfers, pooled handles, the multi, share, poller. */
static void session_release(Session *s)
{
    while (s->first) free_transfer(s, s->first);
    for (int i = 0; i < s->npool; i++) curl_easy_cleanup(s->pool[i]);
    s->npool = 0;
    if (s->multi) {
        curl_multi_cleanup(s->multi); /* may still call on_socket: the poller closes after */
        s->multi = NULL;
    }
    if (s->share) {
        curl_share_cleanup(s->share);
        s->share = NULL;
    }
    if (s->poller.fd >= 0) poller_close(&s->poller);
    s->active = s->done = 0;
    s->timer_at = -1.0;
}

static Session *check_session(lua_State *L)
{
    Session *s = (Session *)luaL_checkudata(L, 1, SESSION_MT);
    if (!s->multi) luaL_error(L, "attempt to use a closed HTTP session");
    return s;
}

static int session_close(lua_State *L)
{
    session_release((Session *)luaL_checkudata(L, 1, SESSION_MT));
    return 0;
}

static int session_tostring(lua_State *L)
{
    Session *s = (Session *)luaL_checkudata(L, 1, SESSION_MT);
    if (s->multi) lua_pushfstring(L, "http session (%p)", (void *)s);
    else lua_pushliteral(L, "http session (closed)");
    return 1;
}

/* new() -> session | nil, message, code */
static int l_new(lua_State *L)
{
    Session *s = (Session *)lua_newuserdatauv(L, sizeof(Session), 0);
    memset(s, 0, sizeof *s);
    s->poller.fd = -1;
    s->timer_at = -1.0;
    luaL_setmetatable(L, SESSION_MT); /* closed until acquired: __gc is safe from here */
    if (poller_open(&s->poller) != 0) return clarifai_fail(L, strerror(errno), "POLLER");
    s->share = curl_share_init();
    s->multi = curl_multi_init();
    if (!s->share || !s->multi) {
        session_release(s);
        return clarifai_fail(L, "cannot initialise libcurl", "FAILED_INIT");
    }
    curl_share_setopt(s->share, CURLSHOPT_SHARE, CURL_LOCK_DATA_SSL_SESSION);
    curl_share_setopt(s->share, CURLSHOPT_SHARE, CURL_LOCK_DATA_DNS);
    curl_multi_setopt(s->multi, CURLMOPT_SOCKETFUNCTION, on_socket);
    curl_multi_setopt(s->multi, CURLMOPT_SOCKETDATA, (void *)s);
    curl_multi_setopt(s->multi, CURLMOPT_TIMERFUNCTION, on_timer);
    curl_multi_setopt(s->multi, CURLMOPT_TIMERDATA, (void *)s);
    curl_multi_setopt(s->multi, CURLMOPT_MAXCONNECTS, 64L);
    curl_multi_setopt(s->multi, CURLMOPT_PIPELINING, (long)CURLPIPE_MULTIPLEX);
    return 1;
}

/*
 * session:limit(connections, streams): how many connections the cache keeps
 * (HTTP/1.1 needs one per transfer in flight) and how many streams one
 * HTTP/2 connection may carry (transfers in flight up to the server's own
 * limit then share a single connection). Both 1..limits.parallel; the
 * caller (clarifai.transport) decides them.
 */
static int session_limit(lua_State *L)
{
    Session *s = check_session(L);
    lua_Integer conns = luaL_checkinteger(L, 2), streams = luaL_checkinteger(L, 3);
    luaL_argcheck(L, conns >= 1 && conns <= MAX_PARALLEL, 2, "connections must be 1..1024");
    luaL_argcheck(L, streams >= 1 && streams <= MAX_PARALLEL, 3, "streams must be 1..1024");
    curl_multi_setopt(s->multi, CURLMOPT_MAXCONNECTS, (long)conns);
    curl_multi_setopt(s->multi, CURLMOPT_MAX_CONCURRENT_STREAMS, (long)streams);
    return 0;
}

/* ---- requests ------------------------------------------------------------ */

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

/* A non-negative number (NaN and negatives raise), clamped to max; dflt < 0:
   the field is required (the caller gives every limit: no defaults here). */
static double opt_number(lua_State *L, int idx, const char *k, double dflt, double max)
{
    lua_getfield(L, idx, k);
    double v = dflt;
    if (lua_type(L, -1) == LUA_TNUMBER) v = (double)lua_tonumber(L, -1);
    else if (!lua_isnil(L, -1)) luaL_error(L, "request field '%s' must be a number", k);
    else if (dflt < 0) luaL_error(L, "request field '%s' is required", k);
    lua_pop(L, 1);
    if (!(v >= 0)) luaL_error(L, "request field '%s' must be a non-negative number", k);
    return v > max ? max : v;
}

static const char *const known_fields[] = {
    "method", "url", "headers", "body", "connect_timeout", "timeout", "max_size",
    "low_speed_limit", "low_speed_time", "ca_file", "ca_path", "proxy", "noproxy", "skim", "max_received", NULL
};

/* A request, read and checked in full before anything is allocated. */
typedef struct {
    const char *url, *method, *cafile, *capath, *body, *proxy, *noproxy;
    size_t body_len;
    double connect_timeout, timeout, max_size, low_limit, low_time, skim, max_received;
    lua_Integer nheaders;
} Request;

static void read_request(lua_State *L, int idx, Request *r)
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
    r->url = opt_string(L, idx, "url", 1);
    r->method = opt_string(L, idx, "method", 0);
    if (!r->method) r->method = "GET";
    r->cafile = opt_string(L, idx, "ca_file", 0);
    r->capath = opt_string(L, idx, "ca_path", 0);
    r->proxy = opt_string(L, idx, "proxy", 0);
    r->noproxy = opt_string(L, idx, "noproxy", 0);
    r->connect_timeout = opt_number(L, idx, "connect_timeout", -1, MAX_SECONDS);
    r->timeout = opt_number(L, idx, "timeout", -1, MAX_SECONDS);
    r->max_size = opt_number(L, idx, "max_size", -1, MAX_BYTES);
    r->low_limit = opt_number(L, idx, "low_speed_limit", 0, MAX_SECONDS);
    r->low_time = opt_number(L, idx, "low_speed_time", 0, MAX_SECONDS);
    r->skim = opt_number(L, idx, "skim", 0, MAX_BYTES);
    r->max_received = opt_number(L, idx, "max_received", 0, MAX_BYTES);
    if (r->max_received < r->max_size) r->max_received = r->max_size;
    r->body = NULL;
    r->body_len = 0;
    lua_getfield(L, idx, "body");
    if (lua_type(L, -1) == LUA_TSTRING) r->body = lua_tolstring(L, -1, &r->body_len);
    else if (!lua_isnil(L, -1)) luaL_error(L, "request field 'body' must be a string");
    lua_pop(L, 1);
    r->nheaders = 0;
    lua_getfield(L, idx, "headers");
    if (lua_istable(L, -1)) {
        r->nheaders = (lua_Integer)lua_rawlen(L, -1);
        for (lua_Integer i = 1; i <= r->nheaders; i++) {
            size_t hl;
            if (lua_rawgeti(L, -1, i) != LUA_TSTRING) luaL_error(L, "request headers must be strings");
            const char *h = lua_tolstring(L, -1, &hl);
            if (strlen(h) != hl || strpbrk(h, "\r\n")) luaL_error(L, "request header contains CR, LF or NUL");
            lua_pop(L, 1);
        }
    } else if (!lua_isnil(L, -1)) {
        luaL_error(L, "request field 'headers' must be an array of strings");
    }
    lua_pop(L, 1);
}

/* Only http and https, redirects included (none is followed anyway): by
   name since libcurl 7.85, else by the bitmask, which the 7.85 headers
   deprecate but every libcurl honours. A module built with newer headers
   than the library it runs with (macOS's own libcurl follows the OS
   release) finds out here, from the library's answer. */
static void only_http_and_https(CURL *e)
{
#if CURL_HAS(0x075500) /* 7.85 */
    if (curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https") == CURLE_OK
        && curl_easy_setopt(e, CURLOPT_REDIR_PROTOCOLS_STR, "http,https") == CURLE_OK)
        return;
#endif
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"
    curl_easy_setopt(e, CURLOPT_PROTOCOLS, (long)(CURLPROTO_HTTP | CURLPROTO_HTTPS));
    curl_easy_setopt(e, CURLOPT_REDIR_PROTOCOLS, (long)(CURLPROTO_HTTP | CURLPROTO_HTTPS));
#pragma GCC diagnostic pop
}

/* Makes libcurl ask before it (re)sends t's request (on_prereq); 0 when this
   libcurl cannot (before 7.80): the caller then gives the request a
   connection of its own, which libcurl never re-sends on (it re-sends only
   on a reused connection found closed). */
static int guard_resend(CURL *e, Transfer *t)
{
#if CURL_HAS(0x075000)
    if (curl_easy_setopt(e, CURLOPT_PREREQFUNCTION, on_prereq) == CURLE_OK) {
        curl_easy_setopt(e, CURLOPT_PREREQDATA, (void *)t);
        return 1;
    }
#else
    (void)e;
    (void)t;
#endif
    return 0;
}

/* Sets every option of t's easy handle; 0 when libcurl ran out of memory.
   The header strings are read from the table at hidx (checked already). */
static int setup_easy(lua_State *L, Session *s, Transfer *t, const Request *r, int hidx)
{
    CURL *e = t->easy;
    curl_easy_setopt(e, CURLOPT_PRIVATE, (void *)t);
    curl_easy_setopt(e, CURLOPT_SHARE, s->share);
    curl_easy_setopt(e, CURLOPT_URL, r->url);
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(e, CURLOPT_ERRORBUFFER, t->errbuf);
    curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 0L);
    only_http_and_https(e);
    curl_easy_setopt(e, CURLOPT_SSL_VERIFYPEER, 1L);
    curl_easy_setopt(e, CURLOPT_SSL_VERIFYHOST, 2L);
    curl_easy_setopt(e, CURLOPT_SSLVERSION, (long)CURL_SSLVERSION_TLSv1_2);
    /* over TLS, wait for a connection that may multiplex (HTTP/2, known from
       ALPN at the handshake) rather than open another; plain http is
       HTTP/1.1 here and never multiplexes, so waiting would only serialise */
    if (strncmp(r->url, "https:", 6) == 0) curl_easy_setopt(e, CURLOPT_PIPEWAIT, 1L);
    curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, (long)(r->connect_timeout * 1000));
    curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, (long)(r->timeout * 1000));
    if (r->low_limit > 0 && r->low_time > 0) {
        curl_easy_setopt(e, CURLOPT_LOW_SPEED_LIMIT, (long)r->low_limit);
        curl_easy_setopt(e, CURLOPT_LOW_SPEED_TIME, (long)r->low_time);
    }
    /* a declared length beyond what may be received is refused at once */
    curl_easy_setopt(e, CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)t->max_received); /* max_size unless skimming */
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, (void *)t);
    curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(e, CURLOPT_HEADERDATA, (void *)t);
    curl_easy_setopt(e, CURLOPT_TCP_KEEPALIVE, 1L);
    if (r->cafile) curl_easy_setopt(e, CURLOPT_CAINFO, r->cafile);
    /* the proxy Lua resolved ("" = none): libcurl then reads no environment */
    if (r->proxy) curl_easy_setopt(e, CURLOPT_PROXY, r->proxy);
    if (r->noproxy) curl_easy_setopt(e, CURLOPT_NOPROXY, r->noproxy);
    if (r->capath) curl_easy_setopt(e, CURLOPT_CAPATH, r->capath);
    if (strcmp(r->method, "GET") == 0 && !r->body) {
        curl_easy_setopt(e, CURLOPT_HTTPGET, 1L);
    } else {
        t->has_body = 1;
        if (!guard_resend(e, t)) curl_easy_setopt(e, CURLOPT_FRESH_CONNECT, 1L);
        curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)r->body_len);
        if (curl_easy_setopt(e, CURLOPT_COPYPOSTFIELDS, r->body ? r->body : "") != CURLE_OK) return 0;
        curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, r->method);
    }
    /* "Expect:" stops curl from waiting for 100-continue on larger bodies. */
    t->headers = curl_slist_append(NULL, "Expect:");
    if (!t->headers) return 0;
    for (lua_Integer i = 1; i <= r->nheaders; i++) {
        lua_rawgeti(L, hidx, i); /* a string (checked), anchored by the request */
        struct curl_slist *nl = curl_slist_append(t->headers, lua_tostring(L, -1));
        lua_pop(L, 1);
        if (!nl) return 0;
        t->headers = nl;
    }
    curl_easy_setopt(e, CURLOPT_HTTPHEADER, t->headers);
    return 1;
}

/*
 * session:submit(request) -> key | nil, message, code
 * request: {method, url, headers = {"Name: value", ...}, body,
 *   connect_timeout, timeout, max_size (these three required),
 *   low_speed_limit, low_speed_time (0 or absent: off),
 *   ca_file, ca_path, proxy, noproxy,
 *   skim (bytes; 0 or absent: off): string values of the JSON body longer
 *     than this are replaced by null as the body arrives (see skim_feed),
 *   max_received (with skim: body bytes that may arrive, skimmed ones
 *     included; never below max_size, which caps the bytes kept)}
 * (times in seconds; numbers above http.core.limits are clamped to them).
 * A request with a body is never re-sent by libcurl (see on_prereq). A
 * malformed request raises before anything is allocated. The transfer
 * starts at the next poll().
 */
static int session_submit(lua_State *L)
{
    Session *s = check_session(L);
    luaL_checktype(L, 2, LUA_TTABLE);
    lua_settop(L, 2);
    luaL_checkstack(L, 8, "http: submit");
    Request r;
    read_request(L, 2, &r);
    lua_getfield(L, 2, "headers"); /* index 3: the header array, or nil */

    Transfer *t = (Transfer *)calloc(1, sizeof(Transfer));
    if (!t) return clarifai_fail(L, "out of memory", "OUT_OF_MEMORY");
    t->state = T_SETUP;
    t->max_size = r.max_size >= (double)SIZE_MAX ? SIZE_MAX : (size_t)r.max_size;
    t->max_received = t->max_size;
    if (r.skim >= 1) {
        t->skim.threshold = r.skim >= (double)SIZE_MAX ? SIZE_MAX : (size_t)r.skim;
        t->max_received = r.max_received >= (double)SIZE_MAX ? SIZE_MAX : (size_t)r.max_received;
    }
    link_transfer(s, t); /* owned from here on */
    if (s->npool > 0) {
        t->easy = s->pool[--s->npool];
        curl_easy_reset(t->easy);
    } else {
        t->easy = curl_easy_init();
    }
    if (!t->easy || !setup_easy(L, s, t, &r, 3)) {
        free_transfer(s, t);
        return clarifai_fail(L, "out of memory", "OUT_OF_MEMORY");
    }
    t->key = ++s->next_key;
    if (curl_multi_add_handle(s->multi, t->easy) != CURLM_OK) {
        t->state = T_DONE; /* delivered by the next poll() as FAILED_INIT */
        t->result = CURLE_FAILED_INIT;
        s->done++;
    } else {
        t->state = T_ACTIVE;
        s->active++;
    }
    lua_pushinteger(L, t->key);
    return 1;
}

/* ---- results --------------------------------------------------------------- */

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

static void set_int(lua_State *L, const char *k, lua_Integer v)
{
    lua_pushinteger(L, v);
    lua_setfield(L, -2, k);
}

/*
 * A result table:
 *   {key, status, headers, body, sent, time, ip?, http_version, connects,
 *    retry_after?, redirect_url?, skimmed?, received?}
 * or on failure
 *   {key, error, error_code, sent, responded, time, status?, ...}
 * sent: the request left (some of it reached the server); connects: new
 * connections this transfer opened; skimmed (a request with skim): string
 * values dropped, received: body bytes that arrived; cap (TOO_LARGE): "kept"
 * or "received", the limit the body went over. error_code NO_ANSWER: a
 * request with a body whose reused connection closed before any answer,
 * which libcurl would have sent again by itself (it may have been applied).
 */
static void push_result(lua_State *L, Transfer *t)
{
    long status = 0, request_size = 0, header_size = 0, version = 0, connects = 0;
    curl_off_t retry_after = 0;
    double total = 0;
    char *redirect = NULL, *ip = NULL;
    CURL *e = t->easy;
    curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &status);
    curl_easy_getinfo(e, CURLINFO_RETRY_AFTER, &retry_after);
    curl_easy_getinfo(e, CURLINFO_REQUEST_SIZE, &request_size);
    curl_easy_getinfo(e, CURLINFO_HEADER_SIZE, &header_size);
    curl_easy_getinfo(e, CURLINFO_TOTAL_TIME, &total);
    curl_easy_getinfo(e, CURLINFO_REDIRECT_URL, &redirect);
    curl_easy_getinfo(e, CURLINFO_PRIMARY_IP, &ip);
    curl_easy_getinfo(e, CURLINFO_HTTP_VERSION, &version);
    curl_easy_getinfo(e, CURLINFO_NUM_CONNECTS, &connects);

    lua_createtable(L, 0, 14);
    set_int(L, "key", t->key);
    lua_pushboolean(L, request_size > 0 || t->resend_refused);
    lua_setfield(L, -2, "sent");
    if (t->skim.threshold) {
        set_int(L, "skimmed", (lua_Integer)t->skim.dropped);
        set_int(L, "received", (lua_Integer)t->received);
    }
    lua_pushnumber(L, (lua_Number)total);
    lua_setfield(L, -2, "time");
    set_int(L, "connects", connects);
    if (ip && *ip) {
        lua_pushstring(L, ip);
        lua_setfield(L, -2, "ip");
    }
    if (version == CURL_HTTP_VERSION_2_0) lua_pushliteral(L, "2");
    else if (version == CURL_HTTP_VERSION_1_1) lua_pushliteral(L, "1.1");
    else if (version == CURL_HTTP_VERSION_1_0) lua_pushliteral(L, "1.0");
    else if (version == CURL_HTTP_VERSION_3) lua_pushliteral(L, "3");
    else lua_pushnil(L);
    lua_setfield(L, -2, "http_version");
    if (t->result == CURLE_OK && !t->aborted) {
        set_int(L, "status", status);
        push_headers(L, &t->head);
        lua_setfield(L, -2, "headers");
        lua_pushlstring(L, t->body.data ? t->body.data : "", t->body.len);
        lua_setfield(L, -2, "body");
        if (retry_after > 0) set_int(L, "retry_after", (lua_Integer)retry_after);
        if (redirect) {
            lua_pushstring(L, redirect);
            lua_setfield(L, -2, "redirect_url");
        }
        return;
    }
    const char *code, *msg;
    if (t->aborted) {
        code = "ABORTED";
        msg = "aborted";
    } else if (t->resend_refused) {
        code = "NO_ANSWER";
        msg = "the connection closed after the request was sent, before any answer; not sent again";
    } else if (t->too_large || t->result == CURLE_FILESIZE_EXCEEDED) {
        code = "TOO_LARGE";
        msg = "response exceeded the size limit";
        /* which cap: the bytes received (a declared length is checked against it) or the bytes kept */
        int received = t->skim.threshold && (t->received > t->max_received || t->result == CURLE_FILESIZE_EXCEEDED);
        lua_pushstring(L, received ? "received" : "kept");
        lua_setfield(L, -2, "cap");
    } else if (t->oom) {
        code = "OUT_OF_MEMORY";
        msg = "out of memory while receiving the response";
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
    if (status > 0) set_int(L, "status", status);
}

/* Moves finished transfers out of the multi (no Lua calls). */
static void collect_done(Session *s)
{
    CURLMsg *m;
    int left;
    while ((m = curl_multi_info_read(s->multi, &left))) {
        if (m->msg != CURLMSG_DONE) continue;
        Transfer *t = NULL;
        CURLcode rc = m->data.result;
        curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, (char **)&t);
        if (t) finish_transfer(s, t, rc);
    }
}

/* One pass: wait up to wait_ms for socket activity, hand it to libcurl,
   run the timer when due, collect what finished. */
static void drive(Session *s, int wait_ms)
{
    PollEvent evs[POLL_BATCH];
    int running = 0;
    int n = poller_wait(&s->poller, evs, wait_ms);
    for (int i = 0; i < n; i++)
        curl_multi_socket_action(s->multi, (curl_socket_t)evs[i].fd, evs[i].mask, &running);
    poller_looked(&s->poller);
    if (s->timer_at >= 0 && monotime() >= s->timer_at) {
        s->timer_at = -1.0;
        curl_multi_socket_action(s->multi, CURL_SOCKET_TIMEOUT, 0, &running);
    }
    collect_done(s);
}

/* Pushes an array with the result of every finished transfer and frees
   them. A raise while building leaves the rest owned for the next call. */
static int deliver(lua_State *L, Session *s)
{
    lua_createtable(L, s->done, 0);
    int out = lua_gettop(L), n = 0;
    Transfer *t = s->first;
    while (t && s->done > 0) {
        Transfer *next = t->next;
        if (t->state == T_DONE) {
            push_result(L, t);
            lua_rawseti(L, out, ++n);
            free_transfer(s, t);
        }
        t = next;
    }
    return 1;
}

/*
 * session:poll([seconds]) -> results
 * Advances every transfer without blocking, then, while nothing has finished,
 * waits for the network up to `seconds` (default 0). Returns the results of
 * the transfers that finished (possibly none), in no particular order. A
 * signal caught by clarifai.sys.core during the call ends the wait early (one
 * caught before it does not: the caller has seen it and may be letting the
 * transfers in flight finish).
 */
static int session_poll(lua_State *L)
{
    Session *s = check_session(L);
    lua_Number timeout = luaL_optnumber(L, 2, 0);
    luaL_argcheck(L, timeout >= 0 && timeout == timeout, 2, "timeout must be a non-negative number");
    const volatile sig_atomic_t *flag = signal_flag(L);
    sig_atomic_t seen = *flag; /* a signal already seen does not cut later waits short */
    double deadline = monotime() + (double)timeout;
    drive(s, 0);
    while (s->done == 0 && s->active > 0 && *flag == seen) {
        double now = monotime(), wait = deadline - now;
        if (wait <= 0) break;
        if (s->timer_at >= 0 && s->timer_at - now < wait) wait = s->timer_at - now;
        if (wait > MAX_WAIT_SLICE) wait = MAX_WAIT_SLICE;
        drive(s, wait > 0 ? (int)ceil(wait * 1000.0) : 0);
    }
    return deliver(L, s);
}

static Transfer *find_transfer(Session *s, lua_Integer key)
{
    for (Transfer *t = s->first; t; t = t->next)
        if (t->key == key) return t;
    return NULL;
}

/* session:abort(key) -> result (error_code "ABORTED") | nil when unknown or already finished */
static int session_abort(lua_State *L)
{
    Session *s = check_session(L);
    lua_Integer key = luaL_checkinteger(L, 2);
    Transfer *t = find_transfer(s, key);
    if (!t || t->state != T_ACTIVE) return 0;
    t->aborted = 1;
    finish_transfer(s, t, CURLE_ABORTED_BY_CALLBACK);
    push_result(L, t);
    free_transfer(s, t);
    return 1;
}

/* session:abort_all() -> results of every transfer still in flight */
static int session_abort_all(lua_State *L)
{
    Session *s = check_session(L);
    for (Transfer *t = s->first; t; t = t->next) {
        if (t->state == T_ACTIVE) {
            t->aborted = 1;
            finish_transfer(s, t, CURLE_ABORTED_BY_CALLBACK);
        }
    }
    return deliver(L, s);
}

/* session:active() -> transfers in flight; finished ones not yet delivered */
static int session_active(lua_State *L)
{
    Session *s = check_session(L);
    lua_pushinteger(L, s->active);
    lua_pushinteger(L, s->done);
    return 2;
}

/* session:fd() -> the fd an event loop watches: readable when poll(0) has
   work to do | nil, message, "POLLER" (the poll backend could not start its
   helper thread) */
static int session_fd(lua_State *L)
{
    Session *s = check_session(L);
    int fd = poller_fd(&s->poller);
    if (fd < 0) return clarifai_fail(L, strerror(errno), "POLLER");
    lua_pushinteger(L, fd);
    return 1;
}

/* session:timeout() -> seconds until poll() must run even without I/O;
   0 when it has results to deliver; nil when nothing is pending */
static int session_timeout(lua_State *L)
{
    Session *s = check_session(L);
    if (s->done > 0) {
        lua_pushnumber(L, 0);
        return 1;
    }
    if (s->active == 0 || s->timer_at < 0) return 0;
    double left = s->timer_at - monotime();
    lua_pushnumber(L, left > 0 ? (lua_Number)left : 0);
    return 1;
}

/* version() -> libcurl version string; features() -> {http2 = bool, ssl =
   the TLS library's name and version, resend_guard = whether a request with
   a body may go on a reused connection, libcurl asking before it sends
   (7.80 and newer); without, each takes a connection of its own} */
static int l_version(lua_State *L)
{
    lua_pushstring(L, curl_version_info(CURLVERSION_NOW)->version);
    return 1;
}

static int l_features(lua_State *L)
{
    const curl_version_info_data *v = curl_version_info(CURLVERSION_NOW);
    CURL *probe = curl_easy_init();
    int guarded = probe && guard_resend(probe, NULL);
    if (probe) curl_easy_cleanup(probe);
    lua_createtable(L, 0, 3);
    lua_pushboolean(L, (v->features & CURL_VERSION_HTTP2) != 0);
    lua_setfield(L, -2, "http2");
    lua_pushstring(L, v->ssl_version ? v->ssl_version : "");
    lua_setfield(L, -2, "ssl");
    lua_pushboolean(L, guarded);
    lua_setfield(L, -2, "resend_guard");
    return 1;
}

/* A buffer Lua owns while skim() fills it: freed by __gc whatever raises. */
#define BYTES_MT "clarifai.http.bytes"

static int bytes_gc(lua_State *L)
{
    bytes_free((Bytes *)luaL_checkudata(L, 1, BYTES_MT));
    return 0;
}

/*
 * skim(chunks, threshold) -> text, dropped
 * The scanner a request's skim option runs, on its own: chunks (a string,
 * or an array of strings fed one after another, as a body arrives in
 * pieces) with every string value longer than threshold bytes replaced by
 * null; dropped: how many were.
 */
static int l_skim(lua_State *L)
{
    lua_Integer n = 1;
    if (lua_type(L, 1) == LUA_TTABLE) {
        n = (lua_Integer)lua_rawlen(L, 1);
        for (lua_Integer i = 1; i <= n; i++) {
            if (lua_rawgeti(L, 1, i) != LUA_TSTRING) luaL_error(L, "skim: chunk %d is not a string", (int)i);
            lua_pop(L, 1);
        }
    } else {
        luaL_checktype(L, 1, LUA_TSTRING);
    }
    lua_Integer threshold = luaL_checkinteger(L, 2);
    luaL_argcheck(L, threshold >= 1, 2, "threshold must be at least 1");
    Bytes *b = (Bytes *)lua_newuserdatauv(L, sizeof(Bytes), 0);
    memset(b, 0, sizeof *b);
    luaL_setmetatable(L, BYTES_MT);
    Skim k;
    memset(&k, 0, sizeof k);
    k.threshold = (size_t)threshold;
    for (lua_Integer i = 1; i <= n; i++) {
        size_t len;
        if (lua_type(L, 1) == LUA_TTABLE) lua_rawgeti(L, 1, i);
        else lua_pushvalue(L, 1);
        const char *p = lua_tolstring(L, -1, &len); /* a string (checked): no conversion */
        int ok = skim_feed(&k, b, p, len);
        lua_pop(L, 1);
        if (!ok) return luaL_error(L, "skim: out of memory");
    }
    lua_pushlstring(L, b->data ? b->data : "", b->len);
    lua_pushinteger(L, (lua_Integer)k.dropped);
    bytes_free(b);
    return 2;
}

static const luaL_Reg session_methods[] = {
    {"submit", session_submit},
    {"poll", session_poll},
    {"abort", session_abort},
    {"abort_all", session_abort_all},
    {"active", session_active},
    {"limit", session_limit},
    {"fd", session_fd},
    {"timeout", session_timeout},
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
    {"features", l_features},
    {"skim", l_skim},
    {NULL, NULL}
};

CLARIFAI_EXPORT int luaopen_clarifai_http_core(lua_State *L);
CLARIFAI_EXPORT int luaopen_clarifai_http_core(lua_State *L)
{
    static int global_ready = 0; /* luaopen may run more than once per process */
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
    if (luaL_newmetatable(L, BYTES_MT)) {
        lua_pushcfunction(L, bytes_gc);
        lua_setfield(L, -2, "__gc");
    }
    lua_pop(L, 1);
    luaL_newlib(L, funcs);
    lua_createtable(L, 0, 3);
    lua_pushnumber(L, MAX_SECONDS);
    lua_setfield(L, -2, "seconds");
    lua_pushnumber(L, MAX_BYTES);
    lua_setfield(L, -2, "bytes");
    lua_pushinteger(L, MAX_PARALLEL);
    lua_setfield(L, -2, "parallel");
    lua_setfield(L, -2, "limits");
    lua_pushliteral(L, POLLER_NAME);
    lua_setfield(L, -2, "poller");
    return 1;
}
