/*
 * clarifai.yaml.core: a strict, single-document YAML loader built on libyaml.
 *
 *   value, err, code = core.load(text, { max_size = N, max_depth = N [, skim = N] })
 *   core.limits.max_depth                 the deepest nesting it can take
 *
 * Mappings become tables with string keys, sequences become arrays, plain
 * null forms (null, Null, NULL, ~, empty) become nil and every other scalar
 * is the exact string written: there is no implicit typing. Anchors,
 * aliases, non-standard tags, non-scalar keys, duplicate keys and multiple
 * documents are rejected. Bad input never raises: it returns
 * nil, "LINE:COL: problem", code.
 *
 * The value is built in one pass over the libyaml event stream. The Lua
 * stack holds the containers being built: each open mapping or sequence
 * has its table on the stack, an open mapping entry has its key above its
 * table, and a finished value sits on top until it is stored in its
 * parent. Per-level bookkeeping lives in the loader userdata, which also
 * owns the parser and the current event, so a Lua error at any point (out
 * of memory, stack overflow) leaks nothing: __close/__gc free them.
 *
 * skim = N (bytes; 0 or absent: keep everything): every scalar value (not a
 * key) longer than N bytes is returned as false instead of its text, so a
 * caller that needs a few short values of a file that also carries a long
 * text (config-lock.yaml and its Argo spec) is not handed the text. The
 * file is still checked whole: any error anywhere is reported as without
 * skim. Long block scalars are not even run through libyaml when the file's
 * shape allows it (see the skim section below); the result is the same.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <yaml.h>

#include "common.h"

#define LOADER_MT          "clarifai.yaml.loader"
#define MAX_DEPTH_CAP      10000 /* exported as limits.max_depth */
#define NAME_MAX_BYTES     64
#define STD_TAG_PREFIX     "tag:yaml.org,2002:"
#define STD_TAG_PREFIX_LEN (sizeof(STD_TAG_PREFIX) - 1)

/* Stack slots a nesting level may use above its table (key, value, copies,
 * the traversal in strip_nulls, an error message being built). */
#define LEVEL_SLOTS 8

enum { LV_DOC, LV_SEQ, LV_MAP };

typedef struct {
    /* Sequence: last index used. Mapping: null placeholders stored. */
    lua_Integer n;
    int kind;
    /* Mapping: a key is on the stack, its value is awaited. */
    int have_key;
} level;

/* The most block scalars one skimmed parse cuts (see skim). */
#define MAX_MARKS 64

typedef struct {
    yaml_parser_t parser;
    yaml_event_t event;
    int parser_live;
    int event_live;
    int base;        /* stack top below the tree being built */
    int max_depth;
    lua_Integer skim; /* values longer than this become false (0: none) */
    int marks;        /* placeholders of skipped block scalars (see skim) */
    unsigned char seen[MAX_MARKS]; /* ...each seen once as a block scalar value */
    /* levels[0] is the document; levels[1..max_depth] are containers. */
    level levels[];
} loader;

static void loader_release(loader *ld)
{
    if (ld->event_live) {
        ld->event_live = 0;
        yaml_event_delete(&ld->event);
    }
    if (ld->parser_live) {
        ld->parser_live = 0;
        yaml_parser_delete(&ld->parser);
    }
}

/* Both __gc and __close. */
static int loader_free(lua_State *L)
{
    loader *ld = (loader *)luaL_checkudata(L, 1, LOADER_MT);
    loader_release(ld);
    return 0;
}

/* ---- error messages --------------------------------------------------- */

static void add_position(luaL_Buffer *b, size_t line0, size_t col0)
{
    char pos[64];
    snprintf(pos, sizeof pos, "%zu:%zu", line0 + 1, col0 + 1);
    luaL_addstring(b, pos);
}

/* A name taken from the input (a key, a tag) may be a secret or garbage:
 * at most NAME_MAX_BYTES bytes, cut on a character boundary, with control
 * bytes shown as '?'. */
static void add_name(luaL_Buffer *b, const char *s, size_t n)
{
    size_t i;

    if (n > NAME_MAX_BYTES) {
        n = NAME_MAX_BYTES;
        while (n > 0 && ((unsigned char)s[n] & 0xC0) == 0x80)
            n--;
    }
    for (i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        luaL_addchar(b, (c < 0x20 || c == 0x7F) ? '?' : (char)c);
    }
}

/* Turn the finished message on top of the stack into nil, message, code. */
static int fail_result(lua_State *L, luaL_Buffer *b, const char *code)
{
    luaL_pushresult(b);
    lua_pushnil(L);
    lua_insert(L, -2);
    lua_pushstring(L, code);
    return 3;
}

/* "LINE:COL: problem[ 'NAME'][ tail]" at an event's start mark. */
static int fail_at(lua_State *L, const yaml_mark_t *mark, const char *code,
                   const char *problem, const char *name, size_t name_len,
                   const char *tail)
{
    luaL_Buffer b;

    luaL_checkstack(L, LEVEL_SLOTS, "yaml: message");
    luaL_buffinit(L, &b);
    add_position(&b, mark->line, mark->column);
    luaL_addstring(&b, ": ");
    luaL_addstring(&b, problem);
    if (name) {
        luaL_addstring(&b, " '");
        add_name(&b, name, name_len);
        luaL_addchar(&b, '\'');
    }
    if (tail)
        luaL_addstring(&b, tail);
    return fail_result(L, &b, code);
}

static int fail_tag(lua_State *L, const yaml_mark_t *mark, const char *tag)
{
    luaL_Buffer b;
    size_t n = strlen(tag);

    luaL_checkstack(L, LEVEL_SLOTS, "yaml: message");
    luaL_buffinit(L, &b);
    add_position(&b, mark->line, mark->column);
    luaL_addstring(&b, ": tag '");
    /* Show the standard prefix the way it is usually written. */
    if (n >= STD_TAG_PREFIX_LEN && memcmp(tag, STD_TAG_PREFIX, STD_TAG_PREFIX_LEN) == 0) {
        luaL_addstring(&b, "!!");
        add_name(&b, tag + STD_TAG_PREFIX_LEN, n - STD_TAG_PREFIX_LEN);
    } else {
        add_name(&b, tag, n);
    }
    luaL_addstring(&b, "' is not allowed");
    return fail_result(L, &b, "yaml_unsupported");
}

/* Reader errors carry a byte offset, not a mark: count lines and
 * characters up to it the way libyaml's marks do (0-based, columns in
 * characters, the byte order mark not counted). */
static void offset_position(const unsigned char *s, size_t len, size_t off,
                            yaml_encoding_t enc, size_t *line, size_t *col)
{
    size_t i = 0;

    *line = 0;
    *col = 0;
    if (off > len)
        off = len;
    if (enc == YAML_UTF16LE_ENCODING || enc == YAML_UTF16BE_ENCODING) {
        int le = (enc == YAML_UTF16LE_ENCODING);
        if (len >= 2 && ((s[0] == 0xFF && s[1] == 0xFE) || (s[0] == 0xFE && s[1] == 0xFF)))
            i = 2;
        for (; i < off && i + 1 < len; i += 2) {
            unsigned u = le ? (unsigned)(s[i] | (s[i + 1] << 8))
                            : (unsigned)((s[i] << 8) | s[i + 1]);
            if (u == '\r') {
                unsigned next = 0;
                if (i + 3 < len)
                    next = le ? (unsigned)(s[i + 2] | (s[i + 3] << 8))
                              : (unsigned)((s[i + 2] << 8) | s[i + 3]);
                if (next != '\n') {
                    (*line)++;
                    *col = 0;
                }
            } else if (u == '\n' || u == 0x85 || u == 0x2028 || u == 0x2029) {
                (*line)++;
                *col = 0;
            } else if (u < 0xDC00 || u > 0xDFFF) {
                (*col)++;
            }
        }
        return;
    }
    if (len >= 3 && s[0] == 0xEF && s[1] == 0xBB && s[2] == 0xBF)
        i = 3;
    for (; i < off; i++) {
        unsigned char c = s[i];
        if (c == '\n') {
            (*line)++;
            *col = 0;
        } else if (c == '\r') {
            if (i + 1 >= len || s[i + 1] != '\n') {
                (*line)++;
                *col = 0;
            }
        } else if (c == 0xC2 && i + 1 < off && s[i + 1] == 0x85) {
            (*line)++;
            *col = 0;
            i++;
        } else if (c == 0xE2 && i + 2 < off && s[i + 1] == 0x80
                   && (s[i + 2] == 0xA8 || s[i + 2] == 0xA9)) {
            (*line)++;
            *col = 0;
            i += 2;
        } else if ((c & 0xC0) != 0x80) {
            (*col)++;
        }
    }
}

static int fail_parse(lua_State *L, loader *ld, const char *text, size_t len)
{
    const yaml_parser_t *p = &ld->parser;
    luaL_Buffer b;
    size_t line, col;

    if (p->error == YAML_MEMORY_ERROR)
        return luaL_error(L, "yaml: not enough memory");
    if (p->error == YAML_READER_ERROR) {
        offset_position((const unsigned char *)text, len, p->problem_offset,
                        p->encoding, &line, &col);
    } else {
        line = p->problem_mark.line;
        col = p->problem_mark.column;
    }
    luaL_checkstack(L, LEVEL_SLOTS, "yaml: message");
    luaL_buffinit(L, &b);
    add_position(&b, line, col);
    luaL_addstring(&b, ": ");
    luaL_addstring(&b, p->problem ? p->problem : "invalid YAML");
    if (p->context && p->error != YAML_READER_ERROR) {
        luaL_addstring(&b, " (");
        luaL_addstring(&b, p->context);
        luaL_addstring(&b, " at ");
        add_position(&b, p->context_mark.line, p->context_mark.column);
        luaL_addchar(&b, ')');
    }
    return fail_result(L, &b, "yaml_parse");
}

/* ---- building values -------------------------------------------------- */

enum { TAG_BAD, TAG_OK, TAG_STR };

/* Scalars may carry !!str (forces a string), !!int, !!float, !!bool or
 * !!null (accepted, no effect: every scalar is a string or a plain null). */
static int scalar_tag(const char *tag)
{
    const char *t;

    if (strncmp(tag, STD_TAG_PREFIX, STD_TAG_PREFIX_LEN) != 0)
        return TAG_BAD;
    t = tag + STD_TAG_PREFIX_LEN;
    if (strcmp(t, "str") == 0)
        return TAG_STR;
    if (strcmp(t, "int") == 0 || strcmp(t, "float") == 0 || strcmp(t, "bool") == 0
        || strcmp(t, "null") == 0)
        return TAG_OK;
    return TAG_BAD;
}

static int container_tag_ok(const char *tag, const char *want)
{
    return strncmp(tag, STD_TAG_PREFIX, STD_TAG_PREFIX_LEN) == 0
           && strcmp(tag + STD_TAG_PREFIX_LEN, want) == 0;
}

static int is_null_text(const char *s, size_t n)
{
    switch (n) {
    case 0:
        return 1;
    case 1:
        return s[0] == '~';
    case 4:
        return memcmp(s, "null", 4) == 0 || memcmp(s, "Null", 4) == 0
               || memcmp(s, "NULL", 4) == 0;
    default:
        return 0;
    }
}

/* Store the value on top of the stack (or a null, nothing pushed) in the
 * container at level lv. The document level keeps it on the stack. */
static void store(lua_State *L, loader *ld, level *lv, int isnull)
{
    switch (lv->kind) {
    case LV_SEQ:
        lv->n++;
        if (!isnull)
            lua_rawseti(L, -2, lv->n);
        break;
    case LV_MAP:
        if (isnull) {
            /* A placeholder, so a later duplicate of this key is seen. */
            lua_pushlightuserdata(L, ld);
            lv->n++;
        }
        lua_rawset(L, -3);
        lv->have_key = 0;
        break;
    default:
        if (isnull)
            lua_pushnil(L);
        break;
    }
}

/* Remove the null placeholders from the mapping on top of the stack. */
static void strip_nulls(lua_State *L, loader *ld, lua_Integer count)
{
    lua_pushnil(L);
    while (lua_next(L, -2)) {
        if (lua_type(L, -1) == LUA_TLIGHTUSERDATA && lua_touserdata(L, -1) == (void *)ld) {
            lua_pop(L, 1);
            lua_pushvalue(L, -1);
            lua_pushnil(L);
            lua_rawset(L, -4);
            if (--count == 0) {
                lua_pop(L, 1);
                break;
            }
        } else {
            lua_pop(L, 1);
        }
    }
}

/* Checks shared by mapping and sequence starts; pushes the new table. */
static int open_container(lua_State *L, loader *ld, int *depth, int max_depth,
                          const yaml_event_t *ev, const char *anchor, const char *tag,
                          const char *want_tag, int kind)
{
    level *parent = &ld->levels[*depth];
    level *lv;

    if (anchor)
        return fail_at(L, &ev->start_mark, "yaml_unsupported",
                       "anchors and aliases are not allowed", NULL, 0, NULL);
    if (tag && !container_tag_ok(tag, want_tag))
        return fail_tag(L, &ev->start_mark, tag);
    if (parent->kind == LV_MAP && !parent->have_key)
        return fail_at(L, &ev->start_mark, "yaml_unsupported",
                       "a mapping key must be a scalar", NULL, 0, NULL);
    if (*depth >= max_depth) {
        char tail[64];
        snprintf(tail, sizeof tail, " of %d levels", max_depth);
        return fail_at(L, &ev->start_mark, "yaml_limit",
                       "nesting is deeper than the limit", NULL, 0, tail);
    }
    if (!lua_checkstack(L, 2 * LEVEL_SLOTS)) {
        /* This VM's stack is smaller than max_depth needs (LuaJIT's is):
           drop the partial tree, which frees room for the message. */
        lua_settop(L, ld->base);
        return fail_at(L, &ev->start_mark, "yaml_limit",
                       "nesting is deeper than this Lua's stack allows", NULL, 0, NULL);
    }
    /* Most mappings have a few keys: skip the first rehashes. */
    lua_createtable(L, 0, kind == LV_MAP ? 4 : 0);
    (*depth)++;
    lv = &ld->levels[*depth];
    lv->n = 0;
    lv->kind = kind;
    lv->have_key = 0;
    return 0;
}

/* ---- skim: long block scalars kept away from libyaml ------------------
 *
 * With skim, a long block scalar (a "KEY: |" line and the more-indented
 * lines below it, more than skim bytes of them past their indentation) is
 * cut out of the text libyaml parses: its lines are replaced by one line at
 * the same indentation holding a numbered placeholder that the input does
 * not contain. The lines cut are checked here for everything libyaml checks
 * in a block scalar's lines: characters it accepts (valid UTF-8, no control
 * characters), no tab where indentation is expected. The shorter text must
 * then parse, and show each placeholder exactly once, as the whole value of
 * a block scalar. The two texts are the same up to the placeholder, so
 * libyaml reached that header in the same state, and a value of exactly the
 * placeholder means it took the placeholder's indentation as the scalar's:
 * in the whole text it takes the same indentation, so the scalar there is
 * the lines cut, and what follows them parses as it does in the shorter
 * text. The value is skimmed either way (false). Anything else (an error,
 * a placeholder not seen, a text this does not handle: UTF-16, CR or other
 * line breaks than LF in the lines to cut, a tab in their indentation) runs
 * the whole text through libyaml instead, so results and errors are always
 * those of a full parse.
 */
#define MARK_PREFIX     "clarifai.yaml.skipped."
#define MARK_PREFIX_LEN (sizeof(MARK_PREFIX) - 1)
#define MARK_LEN        (MARK_PREFIX_LEN + 4) /* four hex digits */

typedef struct {
    size_t from, to; /* the lines cut: [from, to) */
    size_t indent;   /* the scalar's indentation */
} cut;

/* Does s[0, n) contain needle[0, k)? */
static int contains(const unsigned char *s, size_t n, const char *needle, size_t k)
{
    const unsigned char *p = s, *end = s + n;

    while ((size_t)(end - p) >= k) {
        p = memchr(p, needle[0], (size_t)(end - p) - k + 1);
        if (!p)
            return 0;
        if (memcmp(p, needle, k) == 0)
            return 1;
        p++;
    }
    return 0;
}

/* The end of the line that starts at i: its '\n', or n. */
static size_t line_end(const unsigned char *s, size_t n, size_t i)
{
    const unsigned char *p = memchr(s + i, '\n', n - i);
    return p ? (size_t)(p - s) : n;
}

/* Is the line s[a, e) a block scalar header: "...: |" with an optional
 * chomping indicator (|- |+ > >- >+) and trailing spaces, nothing else
 * after the colon? */
static int is_header(const unsigned char *s, size_t a, size_t e)
{
    while (e > a && s[e - 1] == ' ')
        e--;
    if (e > a && (s[e - 1] == '-' || s[e - 1] == '+'))
        e--;
    if (e == a || (s[e - 1] != '|' && s[e - 1] != '>'))
        return 0;
    e--;
    if (e == a || s[e - 1] != ' ')
        return 0;
    while (e > a && s[e - 1] == ' ')
        e--;
    return e > a && s[e - 1] == ':';
}

#define ONES  ((uint64_t)0x0101010101010101ULL)
#define HIGHS ((uint64_t)0x8080808080808080ULL)

/* Are s[i, e) characters libyaml takes inside a scalar line (tab, printable
 * ASCII, valid UTF-8 of printable characters), none of them a line break?
 * Stricter than libyaml where that is simpler: the BOM and U+FFFE/U+FFFF
 * are refused too (the caller then parses the whole text). */
static int line_chars_ok(const unsigned char *s, size_t i, size_t e)
{
    while (i < e) {
        unsigned c, cp;
        size_t k, j;

        /* eight printable ASCII bytes at a time: none below 0x20, none
           0x7F, none with the high bit set */
        while (e - i >= 8) {
            uint64_t w;
            memcpy(&w, s + i, 8);
            if (((w - ONES * 0x20) & ~w & HIGHS) | (w & HIGHS)
                | ((((w ^ (ONES * 0x7F)) - ONES) & ~(w ^ (ONES * 0x7F))) & HIGHS))
                break;
            i += 8;
        }
        if (i >= e)
            break;
        c = s[i];
        if ((c >= 0x20 && c < 0x7F) || c == '\t') {
            i++;
            continue;
        }
        if (c >= 0xC2 && c <= 0xDF) {
            cp = c & 0x1F;
            k = 1;
        } else if (c >= 0xE0 && c <= 0xEF) {
            cp = c & 0x0F;
            k = 2;
        } else if (c >= 0xF0 && c <= 0xF4) {
            cp = c & 0x07;
            k = 3;
        } else {
            return 0; /* controls (CR included), DEL, stray or invalid bytes */
        }
        if (e - i <= k)
            return 0;
        for (j = 1; j <= k; j++) {
            unsigned d = s[i + j];
            if ((d & 0xC0) != 0x80)
                return 0;
            cp = (cp << 6) | (d & 0x3F);
        }
        if ((k == 2 && cp < 0x800) || (k == 3 && (cp < 0x10000 || cp > 0x10FFFF)))
            return 0; /* overlong, or beyond Unicode */
        if (cp < 0xA0 || (cp >= 0xD800 && cp <= 0xDFFF) || cp == 0x2028 || cp == 0x2029
            || cp == 0xFEFF || cp == 0xFFFE || cp == 0xFFFF)
            return 0; /* C1 controls and NEL, surrogates, LS, PS, BOM, non-characters */
        i += k + 1;
    }
    return 1;
}

/* The block scalars worth cutting (at most MAX_MARKS): headers whose first
 * line below is indented (m spaces, then neither a tab nor a line end) and
 * whose lines hold more than skim bytes past the indentation. Returns how
 * many were found; 0 when there is none or the text is not one this
 * handles (then the whole text is parsed). */
static int plan_cuts(const unsigned char *s, size_t n, lua_Integer skim, cut *cuts)
{
    size_t i = 0;
    int k = 0;

    if (n >= 2 && ((s[0] == 0xFF && s[1] == 0xFE) || (s[0] == 0xFE && s[1] == 0xFF)))
        return 0; /* UTF-16 */
    while (i < n && k < MAX_MARKS) {
        size_t e = line_end(s, n, i), a, m = 0, j, bytes = 0;

        if (e >= n || !is_header(s, i, e)) {
            i = e + 1;
            continue;
        }
        a = e + 1;
        while (a + m < n && s[a + m] == ' ')
            m++;
        if (m == 0 || a + m >= n || s[a + m] == '\n' || s[a + m] == '\t' || s[a + m] == '\r') {
            i = a;
            continue;
        }
        /* Its lines: indented m or more, or blank (fewer spaces, then LF). */
        for (j = a; j < n;) {
            size_t sp = 0, le;

            while (sp < m && j + sp < n && s[j + sp] == ' ')
                sp++;
            if (sp < m) {
                if (j + sp < n && s[j + sp] == '\n') {
                    j += sp + 1;
                    continue;
                }
                if (j + sp < n && (s[j + sp] == '\t' || s[j + sp] == '\r'))
                    return 0; /* a tab in the indentation (libyaml's error), or CR */
                break; /* less indented: the scalar ends at this line */
            }
            le = line_end(s, n, j);
            if (!line_chars_ok(s, j + m, le))
                return 0;
            bytes += le - j - m;
            j = le < n ? le + 1 : n;
        }
        if ((lua_Integer)bytes > skim) {
            cuts[k].from = a;
            cuts[k].to = j;
            cuts[k].indent = m;
            k++;
        }
        i = j;
    }
    /* The placeholders must be the only ones in the text libyaml gets: a
       value that is one lies within a line, so within the lines kept. */
    for (i = 0; i <= (size_t)k && k > 0; i++) {
        size_t from = i == 0 ? 0 : cuts[i - 1].to, to = i == (size_t)k ? n : cuts[i].from;
        if (contains(s + from, to - from, MARK_PREFIX, MARK_PREFIX_LEN))
            return 0;
    }
    return k;
}

/* Pushes the text with the cuts' lines replaced by their placeholders. */
static void push_cut_text(lua_State *L, const char *s, size_t n, const cut *cuts, int k)
{
    luaL_Buffer b;
    char mark[MARK_LEN + 2];
    size_t at = 0, j;
    int i;

    luaL_buffinit(L, &b);
    for (i = 0; i < k; i++) {
        luaL_addlstring(&b, s + at, cuts[i].from - at);
        for (j = 0; j < cuts[i].indent; j++)
            luaL_addchar(&b, ' ');
        snprintf(mark, sizeof mark, MARK_PREFIX "%04x\n", (unsigned)i);
        luaL_addlstring(&b, mark, MARK_LEN + 1);
        at = cuts[i].to;
    }
    luaL_addlstring(&b, s + at, n - at);
    luaL_pushresult(&b);
}

/* Is this scalar event a placeholder, as a block scalar's whole value?
 * Marks it seen (once). */
static int is_mark(loader *ld, const yaml_event_t *ev)
{
    const char *v = (const char *)ev->data.scalar.value;
    size_t n = ev->data.scalar.length;
    unsigned idx = 0;
    size_t i;

    if (ev->data.scalar.style != YAML_LITERAL_SCALAR_STYLE
        && ev->data.scalar.style != YAML_FOLDED_SCALAR_STYLE)
        return 0;
    if (!(n == MARK_LEN || (n == MARK_LEN + 1 && v[MARK_LEN] == '\n'))
        || memcmp(v, MARK_PREFIX, MARK_PREFIX_LEN) != 0)
        return 0;
    for (i = MARK_PREFIX_LEN; i < MARK_LEN; i++) {
        char c = v[i];
        unsigned d = (c >= '0' && c <= '9') ? (unsigned)(c - '0')
                     : (c >= 'a' && c <= 'f') ? (unsigned)(c - 'a' + 10) : 16;
        if (d == 16)
            return 0;
        idx = idx * 16 + d;
    }
    if (idx >= (unsigned)ld->marks || ld->seen[idx])
        return 0;
    ld->seen[idx] = 1;
    return 1;
}

static int on_scalar(lua_State *L, loader *ld, level *lv, const yaml_event_t *ev)
{
    const char *v = (const char *)ev->data.scalar.value;
    size_t n = ev->data.scalar.length;
    int tag = TAG_OK;

    if (ev->data.scalar.anchor)
        return fail_at(L, &ev->start_mark, "yaml_unsupported",
                       "anchors and aliases are not allowed", NULL, 0, NULL);
    if (ev->data.scalar.tag) {
        tag = scalar_tag((const char *)ev->data.scalar.tag);
        if (tag == TAG_BAD)
            return fail_tag(L, &ev->start_mark, (const char *)ev->data.scalar.tag);
    }
    if (lv->kind == LV_MAP && !lv->have_key) {
        /* A key: always the string written. */
        lua_pushlstring(L, v, n);
        lua_pushvalue(L, -1);
        if (lua_rawget(L, -3) != LUA_TNIL)
            return fail_at(L, &ev->start_mark, "yaml_duplicate", "duplicate key", v, n, NULL);
        lua_pop(L, 1);
        lv->have_key = 1;
        return 0;
    }
    if (tag != TAG_STR && ev->data.scalar.style == YAML_PLAIN_SCALAR_STYLE
        && is_null_text(v, n)) {
        store(L, ld, lv, 1);
    } else if ((ld->marks && is_mark(ld, ev)) || (ld->skim > 0 && (lua_Integer)n > ld->skim)) {
        lua_pushboolean(L, 0); /* skimmed */
        store(L, ld, lv, 0);
    } else {
        lua_pushlstring(L, v, n);
        store(L, ld, lv, 0);
    }
    return 0;
}

/* Run the parser to the end of the stream. Returns the number of results
 * on top of the stack: 1 (the root) or 3 (nil, message, code). */
static int build(lua_State *L, loader *ld, const char *text, size_t len, int max_depth)
{
    yaml_event_t *ev = &ld->event;
    int depth = 0, docs = 0, rc;

    ld->levels[0].kind = LV_DOC;
    ld->levels[0].n = 0;
    ld->levels[0].have_key = 0;
    luaL_checkstack(L, LEVEL_SLOTS, "yaml: stack");
    for (;;) {
        if (!yaml_parser_parse(&ld->parser, ev))
            return fail_parse(L, ld, text, len);
        ld->event_live = 1;
        rc = 0;
        switch (ev->type) {
        case YAML_STREAM_END_EVENT:
            yaml_event_delete(ev);
            ld->event_live = 0;
            if (docs == 0)
                lua_pushnil(L);
            return 1;
        case YAML_DOCUMENT_START_EVENT:
            if (docs++)
                return fail_at(L, &ev->start_mark, "yaml_unsupported",
                               "more than one document", NULL, 0, NULL);
            break;
        case YAML_ALIAS_EVENT:
            return fail_at(L, &ev->start_mark, "yaml_unsupported",
                           "anchors and aliases are not allowed", NULL, 0, NULL);
        case YAML_SCALAR_EVENT:
            rc = on_scalar(L, ld, &ld->levels[depth], ev);
            break;
        case YAML_MAPPING_START_EVENT:
            rc = open_container(L, ld, &depth, max_depth, ev,
                                (const char *)ev->data.mapping_start.anchor,
                                (const char *)ev->data.mapping_start.tag, "map", LV_MAP);
            break;
        case YAML_SEQUENCE_START_EVENT:
            rc = open_container(L, ld, &depth, max_depth, ev,
                                (const char *)ev->data.sequence_start.anchor,
                                (const char *)ev->data.sequence_start.tag, "seq", LV_SEQ);
            break;
        case YAML_MAPPING_END_EVENT:
            if (ld->levels[depth].n > 0)
                strip_nulls(L, ld, ld->levels[depth].n);
            depth--;
            store(L, ld, &ld->levels[depth], 0);
            break;
        case YAML_SEQUENCE_END_EVENT:
            depth--;
            store(L, ld, &ld->levels[depth], 0);
            break;
        default: /* stream start, document end */
            break;
        }
        if (rc)
            return rc;
        yaml_event_delete(ev);
        ld->event_live = 0;
    }
}

/* ---- load ------------------------------------------------------------- */

static lua_Integer opt_integer(lua_State *L, const char *name, lua_Integer lo, lua_Integer hi)
{
    int isint = 0;
    lua_Integer v = 0;

    if (lua_type(L, -1) == LUA_TNUMBER)
        v = lua_tointegerx(L, -1, &isint);
    if (!isint || v < lo || v > hi) {
        if (lua_type(L, -1) == LUA_TNUMBER) {
            char a[32], b[32];
            luaL_argerror(L, 2, lua_pushfstring(L, "option '%s' must be an integer in [%s, %s]",
                                                name, clarifai_int(a, sizeof a, lo), clarifai_int(b, sizeof b, hi)));
        }
        luaL_argerror(L, 2, lua_pushfstring(L, "option '%s' must be an integer, got %s",
                                            name, luaL_typename(L, -1)));
    }
    return v;
}

/* The limits every load names (the caller's, from clarifai.limits: this
   module keeps no defaults of its own). */
static void read_opts(lua_State *L, lua_Integer *max_size, lua_Integer *max_depth,
                      lua_Integer *skim)
{
    luaL_checktype(L, 2, LUA_TTABLE);
    *max_size = -1;
    *max_depth = -1;
    *skim = 0;
    lua_pushnil(L);
    while (lua_next(L, 2)) {
        size_t kl = 0;
        const char *k = lua_type(L, -2) == LUA_TSTRING ? lua_tolstring(L, -2, &kl) : NULL;
        if (k && kl == 8 && memcmp(k, "max_size", 8) == 0)
            *max_size = opt_integer(L, "max_size", 0, LUA_MAXINTEGER);
        else if (k && kl == 9 && memcmp(k, "max_depth", 9) == 0)
            *max_depth = opt_integer(L, "max_depth", 1, MAX_DEPTH_CAP);
        else if (k && kl == 4 && memcmp(k, "skim", 4) == 0)
            *skim = opt_integer(L, "skim", 0, LUA_MAXINTEGER);
        else if (k)
            luaL_argerror(L, 2, lua_pushfstring(L, "unknown option '%s'", k));
        else
            luaL_argerror(L, 2, lua_pushfstring(L, "unknown option of type %s",
                                                luaL_typename(L, -2)));
        lua_pop(L, 1);
    }
    if (*max_size < 0) luaL_argerror(L, 2, "option 'max_size' is required");
    if (*max_depth < 0) luaL_argerror(L, 2, "option 'max_depth' is required");
}

/* build_call(text, loader): runs the parser (under lua_pcall: a raise,
 * e.g. out of memory, comes back to l_load, which releases the loader). */
static int build_call(lua_State *L)
{
    size_t len;
    const char *text = lua_tolstring(L, 1, &len);
    loader *ld = (loader *)lua_touserdata(L, 2);
    ld->base = lua_gettop(L);
    return build(L, ld, text, len, ld->max_depth);
}

/*
 * parse(at, max_depth, skim, marks): parses the text at stack index `at`
 * and leaves the results on the top (1: the root, or 3: nil, message,
 * code); returns how many. With marks (the text has that many placeholders
 * of cut block scalars), a result without every placeholder seen, or an
 * error, is dropped: returns 0 and the caller parses the whole text.
 * The loader's libyaml state is released as soon as the tree is built (or
 * building failed), not left to the collector: a long-running host that
 * loads many files keeps no parser buffers alive. The collector is paused
 * while the tree is built (everything allocated is live, so collecting
 * would only cost time: about a quarter of a large load).
 */
static int parse(lua_State *L, int at, lua_Integer max_depth, lua_Integer skim, int marks)
{
    size_t len;
    const char *text = lua_tolstring(L, at, &len);
    int top = lua_gettop(L), i, n;

    loader *ld = (loader *)lua_newuserdatauv(
        L, offsetof(loader, levels) + ((size_t)max_depth + 1) * sizeof(level), 0);
    ld->parser_live = 0;
    ld->event_live = 0;
    ld->max_depth = (int)max_depth;
    ld->skim = skim;
    ld->marks = marks;
    memset(ld->seen, 0, sizeof ld->seen);
    luaL_setmetatable(L, LOADER_MT); /* __gc releases it if anything below raises */
    if (!yaml_parser_initialize(&ld->parser))
        return luaL_error(L, "yaml: not enough memory");
    ld->parser_live = 1;
    yaml_parser_set_input_string(&ld->parser, (const unsigned char *)text, len);

    int gc_was_running = clarifai_gc_running(L);
    if (gc_was_running) lua_gc(L, LUA_GCSTOP, 0);
    lua_pushcfunction(L, build_call);
    lua_pushvalue(L, at);
    lua_pushvalue(L, top + 1);
    int status = lua_pcall(L, 2, LUA_MULTRET, 0);
    loader_release(ld);
    if (gc_was_running) lua_gc(L, LUA_GCRESTART, 0);
    if (status != LUA_OK) return lua_error(L);
    n = lua_gettop(L) - (top + 1);
    for (i = 0; marks && n == 1 && i < marks; i++)
        if (!ld->seen[i])
            n = 0;
    if (marks && n != 1)
        n = 0;
    if (n == 0)
        lua_settop(L, top + 1);
    lua_remove(L, top + 1); /* the loader */
    return n;
}

/*
 * load(text, {max_size, max_depth [, skim]}). With skim, long block
 * scalars are cut out first when the text allows (see plan_cuts); should
 * the shorter text not give the whole text's result, the whole text is
 * parsed.
 */
static int l_load(lua_State *L)
{
    size_t len;
    luaL_checklstring(L, 1, &len);
    lua_Integer max_size, max_depth, skim;
    read_opts(L, &max_size, &max_depth, &skim);
    if ((unsigned long long)len > (unsigned long long)max_size) {
        luaL_Buffer b;
        char msg[128];
        snprintf(msg, sizeof msg, "1:1: input is %zu bytes; the limit is %lld bytes",
                 len, (long long)max_size);
        luaL_buffinit(L, &b);
        luaL_addstring(&b, msg);
        return fail_result(L, &b, "yaml_limit");
    }
    lua_settop(L, 1); /* the text stays anchored at index 1 */
    if (skim > 0 && (lua_Integer)len > skim) {
        cut cuts[MAX_MARKS];
        const char *text = lua_tostring(L, 1);
        int k = plan_cuts((const unsigned char *)text, len, skim, cuts);
        if (k > 0) {
            push_cut_text(L, text, len, cuts, k);
            int n = parse(L, 2, max_depth, skim, k);
            if (n > 0)
                return n;
            lua_settop(L, 1);
        }
    }
    return parse(L, 1, max_depth, skim, 0);
}

CLARIFAI_EXPORT int luaopen_clarifai_yaml_core(lua_State *L);

CLARIFAI_EXPORT int luaopen_clarifai_yaml_core(lua_State *L)
{
    static const luaL_Reg loader_meta[] = {
        { "__gc", loader_free },
        { "__close", loader_free },
        { NULL, NULL },
    };
    static const luaL_Reg funcs[] = {
        { "load", l_load },
        { NULL, NULL },
    };

    luaL_newmetatable(L, LOADER_MT); /* existing one is reused */
    luaL_setfuncs(L, loader_meta, 0);
    lua_pop(L, 1);
    luaL_newlib(L, funcs);
    lua_pushstring(L, yaml_get_version_string());
    lua_setfield(L, -2, "_VERSION");
    lua_createtable(L, 0, 1);
    lua_pushinteger(L, MAX_DEPTH_CAP);
    lua_setfield(L, -2, "max_depth");
    lua_setfield(L, -2, "limits");
    return 1;
}
