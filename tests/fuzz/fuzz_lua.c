/* fuzz_lua.c - libFuzzer target for Lua experiment files (experiments/
 * *.lua): the sandbox that runs them (grid/lua.c, sq_glua_run) and the
 * validation into an experiment (grid/exp.c, sq_gexp_load).
 *
 * The input is the file's text, written as exp.lua into a scratch directory
 * that also holds a copy of experiments/_common.lua, so `include` works as
 * in the real tree. It first runs under a tight budget (1 M instructions,
 * 16 MB of Lua heap) so endless loops and huge strings cost little; what
 * passes is loaded again as an experiment with the default limits. Every
 * refusal must come with a message; nothing may crash or leak. */
#include "fuzz.h"

#include "grid/grid.h"

static char lua_dir[64], lua_path[96];

static void lua_cleanup(void)
{
    char p[128];
    snprintf(p, sizeof p, "%s/_common.lua", lua_dir);
    unlink(p);
    unlink(lua_path);
    rmdir(lua_dir);
}

static void lua_setup(void)
{
    if (lua_dir[0])
        return;
    const char *base = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp";
    snprintf(lua_dir, sizeof lua_dir, "%s/sqfuzz-lua.XXXXXX", base);
    if (!mkdtemp(lua_dir)) {
        perror("fuzz_lua: mkdtemp");
        abort();
    }
    snprintf(lua_path, sizeof lua_path, "%s/exp.lua", lua_dir);
    atexit(lua_cleanup);
    char common[128];
    snprintf(common, sizeof common, "%s/_common.lua", lua_dir);
    FILE *in = fopen("experiments/_common.lua", "rb"), *out = fopen(common, "wb");
    if (in && out) { /* run from the repository root; else include fails, which is fine */
        char buf[4096];
        size_t n;
        while ((n = fread(buf, 1, sizeof buf, in)) > 0)
            fwrite(buf, 1, n, out);
    }
    if (in)
        fclose(in);
    if (out)
        fclose(out);
}

FUZZ_TARGET(lua)
{
    lua_setup();
    FILE *f = fopen(lua_path, "wb");
    if (!f || fwrite(data, 1, size, f) != size || fclose(f)) {
        perror("fuzz_lua: writing the input");
        abort();
    }
    fuzz_begin();
    sq_glua_limits tight = {(size_t)16 << 20, 1000000};
    sq_gv *root = NULL;
    char *src = NULL;
    int line = 0;
    sq_err e = {{0}};
    if (sq_glua_run(lua_path, &tight, &root, &src, &line, &e) == 0) {
        FUZZ_CHECK(root != NULL && src != NULL);
        sq_gv_free(root);
        sq_free(src);
        sq_gexp *x = NULL;
        memset(&e, 0, sizeof e);
        if (sq_gexp_load(lua_path, &x, &e) == 0) {
            FUZZ_CHECK(x != NULL);
            sq_gexp_free(x);
        } else {
            FUZZ_CHECK(e.msg[0] != '\0' && x == NULL);
        }
    } else {
        FUZZ_CHECK(e.msg[0] != '\0');
        FUZZ_CHECK(root == NULL && src == NULL);
    }
    fuzz_end();
    return 0;
}
