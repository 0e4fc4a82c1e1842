/* test_fuzz.c - replays every libFuzzer target of tests/fuzz/ over its
 * committed seed corpus (tests/fuzz/corpus/NAME/) and over every input that
 * once crashed it (tests/fuzz/regress/NAME/), so a fixed crash stays fixed
 * in `make test`, and under ASan/UBSan in `make test SAN=1`, without clang.
 * The targets themselves check their invariants and abort on a violation. */
#define _GNU_SOURCE
#include <dirent.h>

#include "testutil.h"

#include "fuzz/fuzz_cifar.c"
#include "fuzz/fuzz_idx.c"
#include "fuzz/fuzz_lua.c"
#include "fuzz/fuzz_qopts.c"
#include "fuzz/fuzz_safetensors.c"
#include "fuzz/fuzz_sched.c"
#include "fuzz/fuzz_yaml.c"

typedef int (*target_fn)(const uint8_t *, size_t);

/* Run fn over every file of dir; returns how many ran (-1: no such dir). */
static int replay_dir(const char *dir, target_fn fn)
{
    struct dirent **list;
    int n = scandir(dir, &list, NULL, alphasort), ran = 0;
    if (n < 0)
        return -1;
    for (int i = 0; i < n; i++) {
        char path[1024];
        if (list[i]->d_name[0] != '.' &&
            snprintf(path, sizeof path, "%s/%s", dir, list[i]->d_name) < (int)sizeof path) {
            FILE *f = fopen(path, "rb");
            assert_non_null(f);
            uint8_t *buf = malloc(1 << 22);
            assert_non_null(buf);
            size_t len = fread(buf, 1, 1 << 22, f);
            fclose(f);
            uint8_t *exact = malloc(len ? len : 1); /* so ASan sees reads past the end */
            assert_non_null(exact);
            memcpy(exact, buf, len);
            free(buf);
            fn(exact, len);
            free(exact);
            ran++;
        }
        free(list[i]);
    }
    free(list);
    return ran;
}

static void replay(const char *name, target_fn fn)
{
    char dir[256];
    snprintf(dir, sizeof dir, "tests/fuzz/corpus/%s", name);
    int seeds = replay_dir(dir, fn);
    if (seeds <= 0) {
        print_error("%s: no seed corpus (run from the repository root)\n", dir);
        fail();
    }
    snprintf(dir, sizeof dir, "tests/fuzz/regress/%s", name);
    int regress = replay_dir(dir, fn);
    print_message("%s: %d seeds, %d regression inputs replayed\n", name, seeds,
                  regress < 0 ? 0 : regress);
}

static void test_idx(void **state) { replay("idx", fuzz_idx); }
static void test_cifar(void **state) { replay("cifar", fuzz_cifar); }
static void test_safetensors(void **state) { replay("safetensors", fuzz_safetensors); }
static void test_yaml(void **state) { replay("yaml", fuzz_yaml); }
static void test_qopts(void **state) { replay("qopts", fuzz_qopts); }
static void test_sched(void **state) { replay("sched", fuzz_sched); }
static void test_lua(void **state) { replay("lua", fuzz_lua); }

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_idx),         cmocka_unit_test(test_cifar),
        cmocka_unit_test(test_safetensors), cmocka_unit_test(test_yaml),
        cmocka_unit_test(test_qopts),       cmocka_unit_test(test_sched),
        cmocka_unit_test(test_lua),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
