/* test_crash.c - crash safety of `symog train`, end to end:
 *   - killed with SIGKILL at random moments (several times) and resumed
 *     with --resume, a run ends with exactly the bytes of an uninterrupted
 *     run with the same seed: model.safetensors, the training state, the
 *     metrics, diagnostics and histograms (one thread; wall-clock columns
 *     aside) - for SYMOG and for a quantizer that draws random numbers;
 *   - SIGTERM and SIGINT stop it at the next batch with a checkpoint, exit
 *     143 / 130 with a message, and --resume finishes it bit for bit;
 *   - a second signal quits at once and still loses nothing.
 * The kill moments come from SQ_CRASH_SEED (printed; set it to replay). */
#include <time.h>

#include "reliability.h"

#define EPOCHS "3"

static char tmp[256], data[300];
static uint64_t seed;

static int setup(void **state)
{
    snprintf(tmp, sizeof tmp, "%s", tu_tmpdir());
    snprintf(data, sizeof data, "%s/data", tmp);
    rl_tiny_data(data, 512, 300); /* 8 batches of 64 per epoch */
    const char *s = getenv("SQ_CRASH_SEED");
    seed = s ? strtoull(s, NULL, 10) : (uint64_t)time(NULL) ^ (uint64_t)getpid() << 16;
    print_message("SQ_CRASH_SEED=%llu\n", (unsigned long long)seed);
    return 0;
}

static int teardown(void **state)
{
    tu_rmdir(tmp);
    return 0;
}

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static void sleep_s(double s)
{
    struct timespec ts = {(time_t)s, (long)((s - (double)(time_t)s) * 1e9)};
    while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
        ;
}

/* argv of one run of the case: its quantizer options, out dir, extras. */
static void args_for(const char **a, const char *out, const char *const *q, const char *x1,
                     const char *x2, const char *x3)
{
    int n = 0;
    const char *base[] = {"train", "--model", "lenet5", "--epochs", EPOCHS, "--batch", "64",
                          "--threads", "1", "--progress", "0", "--data-dir", data,
                          "--test-subset", "300", "--save-minutes", "0", "--out", out};
    for (size_t i = 0; i < sizeof base / sizeof base[0]; i++)
        a[n++] = base[i];
    for (; q && *q; q++)
        a[n++] = *q;
    if (x1)
        a[n++] = x1;
    if (x2)
        a[n++] = x2;
    if (x3)
        a[n++] = x3;
    a[n] = NULL;
}

/* The uninterrupted reference run; returns its wall time. */
static double reference(const char *name, const char *const *q)
{
    char out[400], log[450];
    const char *a[40];
    snprintf(out, sizeof out, "%s/%s-ref", tmp, name);
    snprintf(log, sizeof log, "%s.log", out);
    args_for(a, out, q, NULL, NULL, NULL);
    double t0 = now();
    int rc = rl_run(log, a);
    if (rc != 0) {
        size_t n;
        char *l = rl_slurp(log, &n);
        print_error("reference run failed (%d):\n%s\n", rc, l ? l : "");
        fail();
    }
    return now() - t0;
}

/* The share of the run still to do, from its state file (8 batches per
 * epoch); 1 when there is none yet. */
static double remaining(const char *dir)
{
    char p[500];
    sq_st_file f;
    sq_err e;
    snprintf(p, sizeof p, "%s/state.safetensors", dir);
    if (access(p, F_OK) != 0 || sq_st_read(p, &f, &e))
        return 1;
    const char *ep = sq_st_meta(&f, "epochs_done"), *st = sq_st_meta(&f, "epoch_step");
    double done = ((ep ? atof(ep) : 0) + (st ? atof(st) : 0) / 8) / atof(EPOCHS);
    sq_st_free(&f);
    return done < 1 ? 1 - done : 0;
}

static void kill_and_resume(const char *name, const char *const *q)
{
    sq_rng rng;
    uint64_t h = 0;
    for (const char *c = name; *c; c++)
        h = h * 31 + (unsigned char)*c;
    sq_rng_seed(&rng, seed ^ h);
    double T = reference(name, q);
    char ref[400], out[400], log[450];
    const char *a[40];
    snprintf(ref, sizeof ref, "%s/%s-ref", tmp, name);
    snprintf(out, sizeof out, "%s/%s-killed", tmp, name);
    snprintf(log, sizeof log, "%s.log", out);
    /* checkpoints every 3 batches too, so kills land inside epochs and
       during checkpoint writes as well; resume on a fresh dir starts it */
    args_for(a, out, q, "--resume", "--save-steps", "3");
    /* up to 4 kills, each at a random moment of what is left of the run
       (its start-up included), until one attempt gets to the end */
    int kills = 0;
    for (int i = 0; i < 12 && kills < 4; i++) {
        double left = remaining(out), span = T * (0.15 + 0.85 * left) * (i ? 1 : 0.5);
        double at = sq_rng_uniform(&rng) * span;
        pid_t pid = rl_spawn(log, a);
        sleep_s(at);
        kill(pid, SIGKILL);
        int rc = rl_wait(pid);
        print_message("%s: %.0f %% left, SIGKILL after %.3f s: %s\n", name, 100 * left, at,
                      rc == 1000 + SIGKILL ? "killed" : "had finished");
        if (rc != 1000 + SIGKILL && rc != 0) {
            size_t n;
            print_error("run failed with %d:\n%s\n", rc, (char *)rl_slurp(log, &n));
            fail();
        }
        if (rc == 0)
            break;
        kills++;
    }
    assert_true(kills > 0);
    assert_int_equal(rl_run(log, a), 0); /* the last --resume finishes it */
    print_message("%s: %d kills, then resumed to the end\n", name, kills);
    rl_same_run(ref, out);
}

static void test_kill_symog(void **state)
{
    const char *q[] = {"--quantizer", "symog", "--bits", "2", NULL};
    kill_and_resume("symog", q);
}

/* binaryconnect mode=stoch draws from the quantizer's random stream in
 * every forward: resume must restore that stream too */
static void test_kill_stochastic(void **state)
{
    const char *q[] = {"--quantizer", "binaryconnect", "--bits", "1", "--q-opt", "mode=stoch", NULL};
    kill_and_resume("stoch", q);
}

/* A signal while the run trains: exit 128+sig with a message naming the
 * checkpoint, no result.yaml; --resume completes it bit for bit. `twice`
 * sends a second signal right after the first (quit at once). */
static void signal_case(const char *name, int sig, int twice)
{
    static const char *q[] = {"--quantizer", "symog", NULL};
    char ref[400], out[400], log[450], cfg[500];
    const char *a[40];
    snprintf(ref, sizeof ref, "%s/sig-ref", tmp);
    if (!rl_exists(ref, "result.yaml"))
        reference("sig", q);
    snprintf(out, sizeof out, "%s/%s", tmp, name);
    snprintf(log, sizeof log, "%s.log", out);
    snprintf(cfg, sizeof cfg, "%s/metrics.csv", out);
    args_for(a, out, q, "--resume", NULL, NULL);
    sq_rng rng;
    sq_rng_seed(&rng, seed + (uint64_t)sig * 7 + (uint64_t)twice);
    pid_t pid = rl_spawn(log, a);
    /* wait for the first epoch to end, then signal within the second */
    double t0 = now();
    while (access(cfg, F_OK) != 0 && now() - t0 < 600)
        sleep_s(0.005);
    sleep_s(sq_rng_uniform(&rng) * 0.3);
    kill(pid, sig);
    if (twice)
        kill(pid, sig);
    int rc = rl_wait(pid);
    size_t n;
    char *text = rl_slurp(log, &n);
    print_message("%s: exit %d\n", name, rc);
    if (twice) {
        assert_true(rc == 128 + sig || rc == 1000 + sig);
    } else {
        assert_int_equal(rc, 128 + sig);
        assert_non_null(strstr(text, sig == SIGINT ? "interrupted by SIGINT" : "interrupted by SIGTERM"));
        assert_non_null(strstr(text, "--resume"));
        assert_non_null(strstr(text, "state.safetensors"));
        assert_true(rl_exists(out, "state.safetensors"));
    }
    free(text);
    assert_false(rl_exists(out, "result.yaml"));
    assert_false(rl_exists(out, "model.safetensors"));
    assert_int_equal(rl_run(log, a), 0);
    rl_same_run(ref, out);
}

static void test_sigterm(void **state) { signal_case("sigterm", SIGTERM, 0); }
static void test_sigint(void **state) { signal_case("sigint", SIGINT, 0); }
static void test_sigint_twice(void **state) { signal_case("sigint2", SIGINT, 1); }

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_kill_symog),
        cmocka_unit_test(test_kill_stochastic),
        cmocka_unit_test(test_sigterm),
        cmocka_unit_test(test_sigint),
        cmocka_unit_test(test_sigint_twice),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
