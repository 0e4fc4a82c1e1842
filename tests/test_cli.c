/* test_cli.c - bad invocations of build/symog: every class of mistake
 * (unknown command or option, missing or malformed value, out of range,
 * unknown names of models, datasets, optimizers, schedules, quantizers and
 * their options, files that are not there, misuse of a run directory) for
 * every subcommand exits 2 before any work, with a message that names the
 * option and says what is allowed. */
#include "reliability.h"

static char tmp[256];

static int setup(void **state)
{
    snprintf(tmp, sizeof tmp, "%s", tu_tmpdir());
    return 0;
}

static int teardown(void **state)
{
    tu_rmdir(tmp);
    return 0;
}

typedef struct bad {
    const char *args[16]; /* NULL-terminated, after "symog"  */
    int code;             /* expected exit code             */
    const char *want[3];  /* substrings the output must hold */
} bad;

static void check(const bad *b, size_t n, const char *cls)
{
    char log[400];
    for (size_t i = 0; i < n; i++) {
        snprintf(log, sizeof log, "%s/cli.log", tmp);
        unlink(log);
        int rc = rl_run(log, b[i].args);
        size_t len;
        char *out = rl_slurp(log, &len), line[256] = "";
        for (int k = 0; b[i].args[k]; k++)
            snprintf(line + strlen(line), sizeof line - strlen(line), " %s", b[i].args[k]);
        int ok = rc == b[i].code;
        for (int k = 0; k < 3 && b[i].want[k]; k++)
            ok = ok && out && strstr(out, b[i].want[k]);
        if (!ok) {
            print_error("%s: symog%s: exit %d (want %d), output:\n%s\n", cls, line, rc, b[i].code,
                        out ? out : "");
            fail();
        }
        free(out);
    }
    print_message("%s: %zu invocations refused as expected\n", cls, n);
}

#define CHECK(cls, ...)                                   \
    do {                                                  \
        static const bad cases_[] = {__VA_ARGS__};        \
        check(cases_, sizeof cases_ / sizeof cases_[0], cls); \
    } while (0)

static void test_unknown_command_or_option(void **state)
{
    CHECK("unknown command or option",
          {{"trian", NULL}, 2, {"unknown command 'trian'", "train"}},
          {{NULL}, 2, {"usage: symog COMMAND"}},
          {{"train", "--epoch", "3", NULL}, 2, {"unknown option '--epoch'", "--epochs"}},
          {{"eval", "--ckpt", "x", NULL}, 2, {"unknown option '--ckpt'", "--checkpoint"}},
          {{"bench", "--thread", "2", NULL}, 2, {"unknown option '--thread'", "--threads"}},
          {{"quantizers", "--plugins", "x.so", NULL}, 2, {"unexpected argument '--plugins'", "--plugin"}},
          {{"models", "--all", NULL}, 2, {"unexpected argument '--all'"}},
          {{"train", "-e", "3", NULL}, 2, {"unexpected argument '-e'", "--"}},
          {{"train", "lenet5", NULL}, 2, {"unexpected argument 'lenet5'"}});
}

static void test_missing_value(void **state)
{
    CHECK("missing value",
          {{"train", "--epochs", NULL}, 2, {"--epochs needs a value", "N"}},
          {{"train", "--out", NULL}, 2, {"--out needs a value", "DIR"}},
          {{"eval", "--model", NULL}, 2, {"--model needs a value"}},
          {{"bench", "--seconds", NULL}, 2, {"--seconds needs a value"}},
          {{"quantizers", "--plugin", NULL}, 2, {"--plugin", "needs a value"}},
          {{"train", "--model=", NULL}, 2, {"--model", "non-empty"}},
          {{"train", "--out", "", NULL}, 2, {"--out", "non-empty"}},
          {{"eval", "--model", "lenet5", NULL}, 2, {"--checkpoint FILE is required"}});
}

static void test_wrong_type(void **state)
{
    CHECK("wrong type",
          {{"train", "--epochs", "ten", NULL}, 2, {"--epochs ten", "integer in 1..1000"}},
          {{"train", "--epochs", "2.5", NULL}, 2, {"--epochs 2.5", "integer"}},
          {{"train", "--batch", "1e3", NULL}, 2, {"--batch 1e3", "integer"}},
          {{"train", "--lr", "fast", NULL}, 2, {"--lr fast", "number in"}},
          {{"train", "--lr", "nan", NULL}, 2, {"--lr nan", "number in"}},
          {{"train", "--wd", "1e999", NULL}, 2, {"--wd 1e999", "number in"}},
          {{"train", "--seed", "-1", NULL}, 2, {"--seed -1", "non-negative integer"}},
          {{"train", "--seed", "99999999999999999999", NULL}, 2, {"--seed", "non-negative integer"}},
          {{"train", "--resume=yes", NULL}, 2, {"--resume yes", "takes no value"}},
          {{"eval", "--threads", "two", NULL}, 2, {"--threads two", "integer"}},
          {{"bench", "--seconds", "x", NULL}, 2, {"--seconds x", "number in"}});
}

static void test_out_of_range(void **state)
{
    CHECK("out of range",
          {{"train", "--epochs", "0", NULL}, 2, {"--epochs 0", "1..1000"}},
          {{"train", "--epochs", "1001", NULL}, 2, {"--epochs 1001", "1..1000"}},
          {{"train", "--bits", "9", NULL}, 2, {"--bits 9", "1..8"}},
          {{"train", "--batch", "0", NULL}, 2, {"--batch 0", "1..65536"}},
          {{"train", "--lr", "0", NULL}, 2, {"--lr 0", "[1e-12, 100]"}},
          {{"train", "--momentum", "1", NULL}, 2, {"--momentum 1", "[0, 0.9999]"}},
          {{"train", "--threads", "0", NULL}, 2, {"--threads 0", "1..256"}},
          {{"train", "--augment", "2", NULL}, 2, {"--augment 2", "-1..1"}},
          {{"train", "--save-steps", "-1", NULL}, 2, {"--save-steps -1", "0.."}},
          {{"train", "--save-minutes", "-5", NULL}, 2, {"--save-minutes -5", "[0,"}},
          {{"eval", "--batch", "70000", NULL}, 2, {"--batch 70000", "1..65536"}},
          {{"bench", "--seconds", "0", NULL}, 2, {"--seconds 0", "[0.1, 600]"}});
}

static void test_unknown_names(void **state)
{
    CHECK("unknown name",
          {{"train", "--model", "resnet50", NULL}, 2, {"--model", "unknown model 'resnet50'", "lenet5"}},
          {{"train", "--data", "imagenet", NULL}, 2, {"--data", "imagenet", "fashion-mnist"}},
          {{"train", "--optim", "rmsprop", NULL}, 2, {"--optim", "rmsprop", "adam"}},
          {{"train", "--optim", "adam:0.9", NULL}, 2, {"--optim", "BETA1,BETA2"}},
          {{"train", "--optim", "sgd:1.5", NULL}, 2, {"--optim", "[0, 1)"}},
          {{"train", "--schedule", "linear", NULL}, 2, {"--schedule", "'linear'", "cosine"}},
          {{"train", "--schedule", "step:0", NULL}, 2, {"--schedule", "step:EVERY"}},
          {{"train", "--schedule", "cosine:1e308", NULL}, 2, {"--schedule", "learning rate -inf"}},
          {{"train", "--quantizer", "ternary", NULL}, 2, {"--quantizer", "unknown quantizer 'ternary'", "symog"}},
          {{"eval", "--model", "vgg", "--checkpoint", "x", NULL}, 2, {"--model", "unknown model 'vgg'"}},
          {{"eval", "--data", "svhn", "--checkpoint", "x", NULL}, 2, {"--data", "svhn"}},
          {{"bench", "--models", "vgg7,resnet", NULL}, 2, {"--models", "unknown model 'resnet'", "densenet40"}},
          {{"bench", "--models", ",", NULL}, 2, {"--models", "no model named"}});
}

static void test_quantizer_options(void **state)
{
    CHECK("quantizer option",
          {{"train", "--quantizer", "symog", "--q-opt", "lamda0=1", NULL}, 2, {"--q-opt", "no option 'lamda0'", "lambda0"}},
          {{"train", "--quantizer", "symog", "--q-opt", "lambda0=lots", NULL}, 2, {"--q-opt", "lambda0=lots", "not a number"}},
          {{"train", "--quantizer", "symog", "--q-opt", "ramp=2", NULL}, 2, {"--q-opt", "ramp=2", "[0.01, 1]"}},
          {{"train", "--quantizer", "symog", "--q-opt", "clip=maybe", NULL}, 2, {"--q-opt", "clip=maybe", "outer|half|off"}},
          {{"train", "--quantizer", "symog", "--q-opt", "shift=0.5", NULL}, 2, {"--q-opt", "expected an integer"}},
          {{"train", "--q-opt", "lambda0", NULL}, 2, {"--q-opt lambda0", "key=value"}},
          {{"train", "--q-opt", "lambda0=1", NULL}, 2, {"--q-opt", "quantizer float has no option", "none"}});
}

static void test_files(void **state)
{
    char notso[400], file[400];
    snprintf(notso, sizeof notso, "%s/not-a-plugin.so", tmp);
    tu_write(notso, "hello", 5);
    snprintf(file, sizeof file, "%s/a-file", tmp);
    tu_write(file, "x", 1);
    bad b[] = {
        {{"train", "--plugin", "/nonexistent/q.so", NULL}, 2, {"--plugin", "'/nonexistent/q.so'", "not a readable file"}},
        {{"train", "--plugin", notso, NULL}, 2, {"--plugin", "cannot load plugin", "not-a-plugin.so"}},
        {{"quantizers", "--plugin", notso, NULL}, 2, {"--plugin", "cannot load plugin"}},
        {{"quantizers", "--plugin", "/nonexistent/q.so", NULL}, 2, {"--plugin", "not a readable file"}},
        {{"train", "--init", "/nonexistent/m.safetensors", NULL}, 2, {"--init", "not a readable file"}},
        {{"train", "--init", tmp, NULL}, 2, {"--init", "not a readable file"}},
        {{"eval", "--checkpoint", "/nonexistent/m.safetensors", NULL}, 2, {"--checkpoint", "not a readable file"}},
        {{"train", "--out", file, NULL}, 2, {"--out", "exists and is not a directory"}},
    };
    check(b, sizeof b / sizeof b[0], "missing or wrong file");
}

/* A directory holding an unfinished run is not overwritten by a fresh
 * start: --resume continues it, another --out starts over. */
static void test_unfinished_run(void **state)
{
    char dir[400], st[500];
    snprintf(dir, sizeof dir, "%s/unfinished", tmp);
    assert_int_equal(mkdir(dir, 0755), 0);
    snprintf(st, sizeof st, "%s/state.safetensors", dir);
    tu_write(st, "x", 1);
    bad b[] = {{{"train", "--out", dir, NULL}, 2, {"--out", "unfinished run", "--resume"}}};
    check(b, 1, "unfinished run directory");
}

/* grid and report (engine/cli/cmd_grid.c, cmd_report.c) refuse the same
 * classes of mistakes. */
static void test_grid_report(void **state)
{
    CHECK("grid/report",
          {{"grid", "--jobz", "2", NULL}, 2, {"unknown option '--jobz'", "--jobs"}},
          {{"grid", "--jobs", "0", "experiments/table1-lenet5.lua", NULL}, 2, {"--jobs 0", "1..256"}},
          {{"grid", "experiments/table1-lenet5.lua", "--profile", "nightly", "--dry-run", NULL}, 2,
           {"nightly", "smoke"}},
          {{"grid", "/nonexistent.lua", "--dry-run", NULL}, 2, {"/nonexistent.lua"}},
          {{"report", "--profile", "x", NULL}, 2, {"'x'", "quick"}});
}

/* Help is not an error, and says what the exit codes mean. */
static void test_help(void **state)
{
    char log[400];
    snprintf(log, sizeof log, "%s/help.log", tmp);
    static const char *cmds[] = {"train", "eval", "bench", "quantizers", "models"};
    for (size_t i = 0; i < sizeof cmds / sizeof cmds[0]; i++) {
        const char *a[] = {cmds[i], "--help", NULL};
        unlink(log);
        assert_int_equal(rl_run(log, a), 0);
    }
    const char *a[] = {"train", "--help", NULL};
    unlink(log);
    assert_int_equal(rl_run(log, a), 0);
    size_t n;
    char *out = rl_slurp(log, &n);
    assert_non_null(strstr(out, "3 diverged"));
    assert_non_null(strstr(out, "130/143"));
    assert_non_null(strstr(out, "--save-steps"));
    free(out);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_unknown_command_or_option),
        cmocka_unit_test(test_missing_value),
        cmocka_unit_test(test_wrong_type),
        cmocka_unit_test(test_out_of_range),
        cmocka_unit_test(test_unknown_names),
        cmocka_unit_test(test_quantizer_options),
        cmocka_unit_test(test_files),
        cmocka_unit_test(test_unfinished_run),
        cmocka_unit_test(test_grid_report),
        cmocka_unit_test(test_help),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
