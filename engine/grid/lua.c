/* lua.c - runs an experiment file in a Lua 5.4 sandbox and copies the table
 * it hands to experiment{} into a plain C tree (sq_gv), so validation never
 * touches the Lua stack. Also finds the source line of a value path by
 * reading the file's table constructors, so errors can name the line of a
 * bad key.
 *
 * The sandbox: only the base, table, string and math libraries, without
 * load/loadfile/dofile/require/collectgarbage/string.dump (no io, os, debug,
 * package); text chunks only; a heap cap through a counting allocator; an
 * instruction budget through a count hook. Two host functions:
 *   experiment{...}  declare the experiment (exactly once, in the file itself)
 *   include "x.lua"  run a sibling file of the same directory in the same
 *                    sandbox and return what it returns (shared definitions)
 * print() writes to stderr. Every Lua call runs under lua_pcall; errors come
 * back as "file:line: message" from Lua itself. */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <lauxlib.h>
#include <lua.h>
#include <lualib.h>

#include "grid.h"
#include "io/atomic.h"

#define MAX_FILE (1u << 20)
#define MAX_DEPTH 32
#define MAX_NODES 200000
#define HOOK_EVERY 1000

typedef struct ctx {
    size_t used, limit;
    long long count, max_count;
    int ref, call_line, include_depth, oom;
    char dir[SQ_G_PATH];
    char chunk[SQ_G_PATH + 2]; /* "@path" of the main file */
} ctx;

static void *l_alloc(void *ud, void *ptr, size_t osize, size_t nsize)
{
    ctx *c = ud;
    if (!ptr)
        osize = 0;
    if (nsize == 0) {
        free(ptr);
        c->used -= osize;
        return NULL;
    }
    if (nsize > osize && c->used + (nsize - osize) > c->limit) {
        c->oom = 1;
        return NULL;
    }
    void *p = realloc(ptr, nsize);
    if (p)
        c->used = c->used - osize + nsize;
    return p;
}

static ctx *get_ctx(lua_State *L) { return lua_touserdata(L, lua_upvalueindex(1)); }

static void hook(lua_State *L, lua_Debug *ar)
{
    ctx *c;
    lua_getallocf(L, (void **)&c);
    c->count += HOOK_EVERY;
    if (c->count <= c->max_count)
        return;
    char where[300] = "";
    if (lua_getinfo(L, "Sl", ar) && ar->currentline > 0)
        snprintf(where, sizeof where, "%s:%d: ", ar->short_src, ar->currentline);
    luaL_error(L, "%sthe experiment script ran more than %I Lua instructions; an endless loop?",
               where, (lua_Integer)c->max_count);
}

static int l_experiment(lua_State *L)
{
    ctx *c = get_ctx(L);
    luaL_checktype(L, 1, LUA_TTABLE);
    lua_Debug ar;
    int line = 0;
    if (lua_getstack(L, 1, &ar) && lua_getinfo(L, "Sl", &ar)) {
        line = ar.currentline;
        if (strcmp(ar.source, c->chunk) != 0)
            return luaL_error(L, "experiment{} is called from %s; only the experiment file "
                                 "itself may declare its experiment", ar.short_src);
    }
    if (c->ref != LUA_NOREF)
        return luaL_error(L, "experiment{} is called a second time (first at line %d); a file "
                             "declares exactly one experiment", c->call_line);
    lua_settop(L, 1);
    c->ref = luaL_ref(L, LUA_REGISTRYINDEX);
    c->call_line = line;
    return 0;
}

static int l_include(lua_State *L)
{
    ctx *c = get_ctx(L);
    const char *name = luaL_checkstring(L, 1);
    size_t n = strlen(name);
    if (n < 5 || n > 100 || name[0] == '.' || strcmp(name + n - 4, ".lua") ||
        strspn(name, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.-") != n)
        return luaL_error(L, "include \"%s\": give a file name of this directory such as "
                             "\"_methods.lua\" (letters, digits, _ . -; no path)", name);
    if (c->include_depth >= 8)
        return luaL_error(L, "include \"%s\": includes nested deeper than 8 (a cycle?)", name);
    char path[SQ_G_PATH + 128], chunk[SQ_G_PATH + 130];
    snprintf(path, sizeof path, "%s/%s", c->dir, name);
    snprintf(chunk, sizeof chunk, "@%s", path);
    void *buf = NULL;
    size_t len = 0;
    sq_err e = {{0}};
    if (sq_read_file(path, MAX_FILE, &buf, &len, &e))
        return luaL_error(L, "include \"%s\": %s", name, e.msg);
    int st = luaL_loadbufferx(L, buf, len, chunk, "t");
    sq_free(buf);
    if (st != LUA_OK)
        return lua_error(L);
    c->include_depth++;
    lua_call(L, 0, LUA_MULTRET);
    c->include_depth--;
    return lua_gettop(L) - 1;
}

static int l_print(lua_State *L)
{
    int n = lua_gettop(L);
    for (int i = 1; i <= n; i++) {
        size_t len;
        const char *s = luaL_tolstring(L, i, &len);
        fprintf(stderr, "%s%.*s", i > 1 ? "\t" : "", (int)len, s);
        lua_pop(L, 1);
    }
    fputc('\n', stderr);
    return 0;
}

/* Open the allowed libraries and remove what could reach outside. */
static int setup(lua_State *L)
{
    ctx *c = lua_touserdata(L, 1);
    luaL_requiref(L, LUA_GNAME, luaopen_base, 1);
    luaL_requiref(L, LUA_TABLIBNAME, luaopen_table, 1);
    luaL_requiref(L, LUA_STRLIBNAME, luaopen_string, 1);
    luaL_requiref(L, LUA_MATHLIBNAME, luaopen_math, 1);
    lua_settop(L, 1);
    static const char *const drop[] = {"dofile", "loadfile", "load", "require", "collectgarbage"};
    for (size_t i = 0; i < SQ_COUNT(drop); i++) {
        lua_pushnil(L);
        lua_setglobal(L, drop[i]);
    }
    lua_getglobal(L, "string");
    lua_pushnil(L);
    lua_setfield(L, -2, "dump");
    lua_pop(L, 1);
    lua_pushlightuserdata(L, c);
    lua_pushcclosure(L, l_experiment, 1);
    lua_setglobal(L, "experiment");
    lua_pushlightuserdata(L, c);
    lua_pushcclosure(L, l_include, 1);
    lua_setglobal(L, "include");
    lua_pushcfunction(L, l_print);
    lua_setglobal(L, "print");
    return 0;
}

/* ---- Lua table -> sq_gv ---------------------------------------------- */
typedef struct conv {
    int nodes;
    sq_err *e;
    char where[256];
} conv;

void sq_gv_free(sq_gv *v)
{
    if (!v)
        return;
    for (int i = 0; i < v->n; i++) {
        sq_free(v->e[i].key);
        sq_gv_free(v->e[i].val);
    }
    sq_free(v->e);
    sq_free(v->s);
    sq_free(v);
}

static int ent_cmp(const void *a, const void *b)
{
    const sq_gvent *x = a, *y = b;
    if (!x->key || !y->key)
        return x->key ? 1 : y->key ? -1 : (x->idx > y->idx) - (x->idx < y->idx);
    return strcmp(x->key, y->key);
}

static sq_gv *to_gv(lua_State *L, int idx, int depth, conv *cv);

static int conv_table(lua_State *L, int idx, sq_gv *v, int depth, conv *cv)
{
    if (depth >= MAX_DEPTH)
        return sq_fail(cv->e, "tables nested deeper than %d (does a table contain itself?)",
                       MAX_DEPTH);
    long long len = (long long)lua_rawlen(L, idx), count = 0;
    if (!lua_checkstack(L, 4))
        return sq_fail(cv->e, "Lua stack exhausted");
    lua_pushnil(L);
    while (lua_next(L, idx)) {
        count++;
        lua_pop(L, 1);
    }
    v->e = sq_calloc((size_t)(count ? count : 1), sizeof *v->e);
    if (!v->e)
        return sq_fail(cv->e, "out of memory");
    lua_pushnil(L);
    while (lua_next(L, idx)) {
        sq_gvent *en = &v->e[v->n];
        int kt = lua_type(L, -2), isnum = 0;
        lua_Integer k = lua_tointegerx(L, -2, &isnum);
        if (kt == LUA_TSTRING) {
            size_t kl;
            const char *ks = lua_tolstring(L, -2, &kl);
            en->key = sq_malloc(kl + 1);
            if (!en->key) {
                lua_pop(L, 2);
                return sq_fail(cv->e, "out of memory");
            }
            memcpy(en->key, ks, kl + 1);
        } else if (kt == LUA_TNUMBER && isnum && k >= 1 && k <= len) {
            en->idx = k;
        } else {
            lua_pop(L, 2);
            return sq_fail(cv->e, "a table key must be a name or a list position 1..n (found a "
                                  "%s key%s); write lists without holes", lua_typename(L, kt),
                           kt == LUA_TNUMBER ? " outside 1..n" : "");
        }
        v->n++;
        en->val = to_gv(L, lua_gettop(L), depth + 1, cv);
        lua_pop(L, 1);
        if (!en->val) {
            lua_pop(L, 1);
            return -1;
        }
    }
    qsort(v->e, (size_t)v->n, sizeof *v->e, ent_cmp);
    return 0;
}

static sq_gv *to_gv(lua_State *L, int idx, int depth, conv *cv)
{
    if (++cv->nodes > MAX_NODES) {
        sq_fail(cv->e, "the experiment table has more than %d values", MAX_NODES);
        return NULL;
    }
    sq_gv *v = sq_calloc(1, sizeof *v);
    if (!v) {
        sq_fail(cv->e, "out of memory");
        return NULL;
    }
    switch (lua_type(L, idx)) {
    case LUA_TNIL:
        v->t = SQ_GV_NIL;
        break;
    case LUA_TBOOLEAN:
        v->t = SQ_GV_BOOL, v->b = lua_toboolean(L, idx);
        break;
    case LUA_TNUMBER:
        v->t = SQ_GV_NUM;
        v->isint = lua_isinteger(L, idx);
        v->num = lua_tonumber(L, idx);
        v->i = v->isint ? (long long)lua_tointeger(L, idx)   /* NaN, +-huge: UB to convert */
                        : v->num > -9.2e18 && v->num < 9.2e18 ? (long long)v->num : 0;
        break;
    case LUA_TSTRING: {
        size_t n;
        const char *s = lua_tolstring(L, idx, &n);
        v->t = SQ_GV_STR;
        v->s = sq_malloc(n + 1);
        if (!v->s) {
            sq_free(v);
            sq_fail(cv->e, "out of memory");
            return NULL;
        }
        memcpy(v->s, s, n + 1);
        break;
    }
    case LUA_TTABLE:
        v->t = SQ_GV_TAB;
        if (conv_table(L, idx, v, depth, cv)) {
            sq_gv_free(v);
            return NULL;
        }
        break;
    default:
        sq_fail(cv->e, "a %s cannot be a setting; use numbers, strings, booleans and tables",
                lua_typename(L, lua_type(L, idx)));
        sq_free(v);
        return NULL;
    }
    return v;
}

const sq_gv *sq_gv_get(const sq_gv *t, const char *key)
{
    if (!t || t->t != SQ_GV_TAB)
        return NULL;
    for (int i = 0; i < t->n; i++)
        if (t->e[i].key && !strcmp(t->e[i].key, key))
            return t->e[i].val;
    return NULL;
}

int sq_glua_run(const char *path, const sq_glua_limits *lim, sq_gv **root, char **src,
                int *call_line, sq_err *e)
{
    *root = NULL;
    *src = NULL;
    ctx c = {0};
    c.limit = lim && lim->mem_bytes ? lim->mem_bytes : (size_t)64 << 20;
    c.max_count = lim && lim->instructions ? lim->instructions : 200000000LL;
    c.ref = LUA_NOREF;
    if (strlen(path) >= SQ_G_PATH)
        return sq_fail(e, "%s: path too long", path);
    snprintf(c.chunk, sizeof c.chunk, "@%s", path);
    snprintf(c.dir, sizeof c.dir, "%s", path);
    char *slash = strrchr(c.dir, '/');
    if (slash)
        *slash = 0;
    else
        snprintf(c.dir, sizeof c.dir, ".");
    void *buf = NULL;
    size_t len = 0;
    if (sq_read_file(path, MAX_FILE, &buf, &len, e))
        return -1;
    lua_State *L = lua_newstate(l_alloc, &c);
    if (!L) {
        sq_free(buf);
        return sq_fail(e, "%s: cannot create a Lua state (out of memory)", path);
    }
    lua_sethook(L, hook, LUA_MASKCOUNT, HOOK_EVERY);
    int rc = -1;
    lua_pushcfunction(L, setup);
    lua_pushlightuserdata(L, &c);
    if (lua_pcall(L, 1, 0, 0) != LUA_OK) {
        sq_fail(e, "%s: setting up the Lua sandbox failed: %s", path, lua_tostring(L, -1));
        goto done;
    }
    if (luaL_loadbufferx(L, buf, len, c.chunk, "t") != LUA_OK ||
        lua_pcall(L, 0, 0, 0) != LUA_OK) {
        const char *msg = lua_type(L, -1) == LUA_TSTRING ? lua_tostring(L, -1) : "(no message)";
        if (c.oom)
            sq_fail(e, "%s: the script needs more than %zu MiB (the sandbox's limit): %s", path,
                    c.limit >> 20, msg);
        else
            sq_fail(e, "%s", msg);
        goto done;
    }
    if (c.ref == LUA_NOREF) {
        sq_fail(e, "%s: no experiment{...} declared; an experiment file calls experiment{} once "
                   "(see experiments/README.md)", path);
        goto done;
    }
    lua_sethook(L, NULL, 0, 0);
    lua_rawgeti(L, LUA_REGISTRYINDEX, c.ref);
    conv cv = {0, e, ""};
    *root = to_gv(L, lua_gettop(L), 0, &cv);
    if (!*root) {
        sq_wrap(e, "%s:%d: experiment{}", path, c.call_line);
        goto done;
    }
    *call_line = c.call_line;
    *src = buf;
    buf = NULL;
    rc = 0;
done:
    lua_close(L);
    sq_free(buf);
    return rc;
}

/* ---- source lines: a small Lua lexer and a walk over constructors ------ */
enum { T_EOF, T_NAME, T_STR, T_NUM, T_SYM };

typedef struct tok {
    int type, line;
    const char *p;
    int len;
} tok;

typedef struct lexer {
    const char *s;
    int line;
} lexer;

/* Length of a long bracket opener "[==[" at p (0 if none); *level = '='s. */
static int long_open(const char *p, int *level)
{
    if (*p != '[')
        return 0;
    int n = 1;
    while (p[n] == '=')
        n++;
    if (p[n] != '[')
        return 0;
    *level = n - 1;
    return n + 1;
}

static const char *skip_long(lexer *lx, const char *p, int level)
{
    for (; *p; p++) {
        if (*p == '\n')
            lx->line++;
        if (*p == ']') {
            int n = 1;
            while (p[n] == '=')
                n++;
            if (n - 1 == level && p[n] == ']')
                return p + n + 1;
        }
    }
    return p;
}

static tok next_tok(lexer *lx)
{
    const char *p = lx->s;
    int level;
    for (;;) {
        while (*p && isspace((unsigned char)*p)) {
            if (*p == '\n')
                lx->line++;
            p++;
        }
        if (p[0] == '-' && p[1] == '-') {
            int n = long_open(p + 2, &level);
            if (n)
                p = skip_long(lx, p + 2 + n, level);
            else
                while (*p && *p != '\n')
                    p++;
            continue;
        }
        break;
    }
    tok t = {T_EOF, lx->line, p, 0};
    if (!*p) {
        lx->s = p;
        return t;
    }
    int n;
    if (isalpha((unsigned char)*p) || *p == '_') {
        while (isalnum((unsigned char)p[t.len]) || p[t.len] == '_')
            t.len++;
        t.type = T_NAME;
    } else if (isdigit((unsigned char)*p) || (*p == '.' && isdigit((unsigned char)p[1]))) {
        while (isalnum((unsigned char)p[t.len]) || p[t.len] == '.' ||
               ((p[t.len] == '+' || p[t.len] == '-') && strchr("eEpP", p[t.len - 1])))
            t.len++;
        t.type = T_NUM;
    } else if (*p == '"' || *p == '\'') {
        const char *q = p + 1;
        while (*q && *q != *p && *q != '\n') {
            if (*q == '\\' && q[1]) {
                if (q[1] == '\n')
                    lx->line++;
                q++;
            }
            q++;
        }
        if (*q == *p)
            q++;
        t.type = T_STR, t.len = (int)(q - p);
    } else if ((n = long_open(p, &level))) {
        const char *q = skip_long(lx, p + n, level);
        t.type = T_STR, t.len = (int)(q - p);
    } else {
        static const char *const multi[] = {"...", "==", "~=", "<=", ">=", "..", "::", "//",
                                            "<<", ">>"};
        t.type = T_SYM, t.len = 1;
        for (size_t i = 0; i < SQ_COUNT(multi); i++)
            if (!strncmp(p, multi[i], strlen(multi[i]))) {
                t.len = (int)strlen(multi[i]);
                break;
            }
    }
    lx->s = p + t.len;
    return t;
}

typedef struct toks {
    tok *t;
    int n;
} toks;

static int is(const tok *t, int type, const char *s)
{
    return t->type == type && (int)strlen(s) == t->len && !strncmp(t->p, s, (size_t)t->len);
}

static int block_delta(const tok *t)
{
    if (t->type != T_NAME)
        return 0;
    if (is(t, T_NAME, "function") || is(t, T_NAME, "do") || is(t, T_NAME, "if") ||
        is(t, T_NAME, "repeat"))
        return 1;
    if (is(t, T_NAME, "end") || is(t, T_NAME, "until"))
        return -1;
    return 0;
}

/* Index of the ',' ';' or closing '}' ending the expression that starts at i. */
static int skip_expr(const toks *ts, int i)
{
    int depth = 0;
    for (; i < ts->n && ts->t[i].type != T_EOF; i++) {
        const tok *t = &ts->t[i];
        if (t->type == T_SYM && t->len == 1 && strchr("([{", t->p[0]))
            depth++;
        else if (t->type == T_SYM && t->len == 1 && strchr(")]}", t->p[0])) {
            if (depth == 0)
                return i;
            depth--;
        } else if (block_delta(t))
            depth += block_delta(t);
        else if (depth == 0 && t->type == T_SYM && t->len == 1 && strchr(",;", t->p[0]))
            return i;
    }
    return i;
}

/* Key text of a string token (without quotes, no escapes handled). */
static int str_is(const tok *t, const char *key)
{
    if (t->type != T_STR || t->len < 2 || (t->p[0] != '"' && t->p[0] != '\''))
        return 0;
    return (int)strlen(key) == t->len - 2 && !strncmp(t->p + 1, key, (size_t)t->len - 2);
}

/* Inside the constructor whose '{' is at i: the line of path[0..depth). */
static int ctor_find(const toks *ts, int i, const char *const *path, int depth)
{
    int pos = 0;
    i++;
    while (i < ts->n && !is(&ts->t[i], T_SYM, "}") && ts->t[i].type != T_EOF) {
        const tok *t = &ts->t[i];
        int line = t->line, vstart, match = 0;
        if (t->type == T_NAME && i + 1 < ts->n && is(&ts->t[i + 1], T_SYM, "=")) {
            match = (int)strlen(path[0]) == t->len && !strncmp(t->p, path[0], (size_t)t->len);
            vstart = i + 2;
        } else if (is(t, T_SYM, "[")) {
            int close = skip_expr(ts, i + 1);
            match = close == i + 2 && str_is(&ts->t[i + 1], path[0]);
            vstart = close + 2; /* past "] =" */
        } else {
            char want[24];
            snprintf(want, sizeof want, "#%d", ++pos);
            match = !strcmp(want, path[0]);
            vstart = i;
        }
        if (vstart >= ts->n)
            return -1;
        if (match) {
            if (depth == 1 || !is(&ts->t[vstart], T_SYM, "{"))
                return line;
            int l = ctor_find(ts, vstart, path + 1, depth - 1);
            return l > 0 ? l : line;
        }
        i = skip_expr(ts, vstart);
        if (i < ts->n && (is(&ts->t[i], T_SYM, ",") || is(&ts->t[i], T_SYM, ";")))
            i++;
    }
    return -1;
}

int sq_gsrc_line(const char *src, int call_line, const char *const *path, int depth)
{
    if (!src || depth <= 0)
        return call_line;
    toks ts = {NULL, 0};
    int cap = 0, best = call_line;
    lexer lx = {src, 1};
    for (;;) {
        if (ts.n == cap) {
            cap = cap ? cap * 2 : 1024;
            tok *nt = sq_malloc((size_t)cap * sizeof *nt);
            if (!nt)
                goto done;
            if (ts.t)
                memcpy(nt, ts.t, (size_t)ts.n * sizeof *nt);
            sq_free(ts.t);
            ts.t = nt;
        }
        ts.t[ts.n] = next_tok(&lx);
        if (ts.t[ts.n++].type == T_EOF)
            break;
    }
    /* the experiment call: `experiment {` or `experiment({` */
    int start = -1;
    for (int i = 0; i + 1 < ts.n; i++) {
        if (!is(&ts.t[i], T_NAME, "experiment"))
            continue;
        int j = i + 1;
        if (is(&ts.t[j], T_SYM, "(") && j + 1 < ts.n)
            j++;
        if (!is(&ts.t[j], T_SYM, "{"))
            continue;
        if (start < 0 || ts.t[i].line == call_line)
            start = j;
        if (ts.t[i].line == call_line)
            break;
    }
    if (start >= 0) {
        int l = ctor_find(&ts, start, path, depth);
        if (l > 0)
            best = l;
    }
done:
    sq_free(ts.t);
    return best;
}
