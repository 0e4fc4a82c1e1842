/* fuzz_qopts.c - libFuzzer target for quantizer option strings (--q-opt
 * KEY=VALUE, and the same items in experiment files): sq_qopts_parse
 * against the option tables of the built-in quantizers and of a synthetic
 * quantizer that has one option of every type.
 *
 * Input: a selector byte (which quantizer), then up to 16 items separated
 * by '\n'. Accepted values must lie in the declared range or choices, and
 * each must read back the same after sq_qopt_format (what config.yaml and
 * result.yaml record). */
#include "fuzz.h"

#include <math.h>

#include "quant/quant.h"

extern const sq_quantizer sq_float_quantizer, sq_symog_quantizer;

static const sq_qoption qo_synth_options[] = {
    {"num", SQ_QOPT_NUM, "0.5", 1e-12, 1e12, NULL, "a number"},
    {"neg", SQ_QOPT_NUM, "-1", -1e6, -1e-6, NULL, "a negative number"},
    {"int", SQ_QOPT_INT, "3", -5, 100, NULL, "an integer"},
    {"flag", SQ_QOPT_BOOL, "0", 0, 1, NULL, "a switch"},
    {"mode", SQ_QOPT_ENUM, "b", 0, 0, "a|b|longer|a2", "a choice"},
};
static const sq_quantizer qo_synth = {
    .abi_version = SQ_QUANT_ABI_VERSION,
    .struct_size = sizeof(sq_quantizer),
    .name = "synthetic",
    .summary = "every option type",
    .options = qo_synth_options,
    .n_options = (int)(sizeof qo_synth_options / sizeof qo_synth_options[0]),
};

static void qo_check(const sq_quantizer *q, const double *v)
{
    for (int i = 0; i < q->n_options; i++) {
        const sq_qoption *o = &q->options[i];
        char val[64], item[160];
        const char *kv[1] = {item};
        double back[SQ_QMAX_OPTS];
        sq_err e = {{0}};
        FUZZ_CHECK(isfinite(v[i]));
        if (o->type == SQ_QOPT_NUM || o->type == SQ_QOPT_INT)
            FUZZ_CHECK(v[i] >= o->min && v[i] <= o->max);
        if (o->type == SQ_QOPT_INT)
            FUZZ_CHECK(v[i] == floor(v[i]));
        if (o->type == SQ_QOPT_BOOL)
            FUZZ_CHECK(v[i] == 0 || v[i] == 1);
        sq_qopt_format(q, i, v[i], val, sizeof val);
        snprintf(item, sizeof item, "%s=%s", o->key, val);
        if (sq_qopts_parse(q, kv, 1, back, &e)) {
            fprintf(stderr, "%s: recorded value '%s' does not read back: %s\n", q->name, item,
                    e.msg);
            abort();
        }
        if (o->type == SQ_QOPT_NUM) /* recorded with 9 significant digits */
            FUZZ_CHECK(fabs(back[i] - v[i]) <= 1e-8 * fabs(v[i]));
        else
            FUZZ_CHECK(back[i] == v[i]);
    }
}

FUZZ_TARGET(qopts)
{
    if (size < 1 || size > 4096)
        return 0;
    const sq_quantizer *qs[] = {&sq_float_quantizer, &sq_symog_quantizer, &qo_synth};
    const sq_quantizer *q = qs[data[0] % 3];
    char *buf = malloc(size); /* the items, NUL-separated */
    FUZZ_CHECK(buf != NULL);
    memcpy(buf, data + 1, size - 1);
    buf[size - 1] = '\0';
    const char *kv[16];
    int n = 0;
    for (char *s = buf; s && n < 16;) {
        kv[n++] = s;
        s = strchr(s, '\n');
        if (s)
            *s++ = '\0';
    }
    fuzz_begin();
    double v[SQ_QMAX_OPTS];
    sq_err e = {{0}};
    if (sq_qopts_parse(q, kv, n, v, &e) == 0)
        qo_check(q, v);
    else
        FUZZ_CHECK(e.msg[0] != '\0');
    fuzz_end();
    free(buf);
    return 0;
}
