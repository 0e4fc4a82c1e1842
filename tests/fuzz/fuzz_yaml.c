/* fuzz_yaml.c - libFuzzer target for the YAML reader (config.yaml and
 * result.yaml as read back by the harness): sq_yaml_parse on the input.
 *
 * What it accepts must be a list of unique dotted key paths with scalar
 * values and 1-based line numbers, each findable by sq_ykv_find. */
#include "fuzz.h"

#include "io/yamlio.h"

FUZZ_TARGET(yaml)
{
    fuzz_begin();
    sq_ykv *kv = NULL;
    int n = -1;
    sq_err e = {{0}};
    if (sq_yaml_parse("fuzz.yaml", data, size, &kv, &n, &e) == 0) {
        FUZZ_CHECK(n >= 0 && (n == 0 || kv));
        for (int i = 0; i < n; i++) {
            FUZZ_CHECK(kv[i].key && kv[i].val && kv[i].line >= 1);
            FUZZ_CHECK(strlen(kv[i].key) < SQ_YAML_MAX_PATH);
            FUZZ_CHECK(sq_ykv_find(kv, n, kv[i].key) == &kv[i]); /* unique */
            FUZZ_CHECK(sq_ykv_get(kv, n, kv[i].key) == kv[i].val);
        }
        sq_ykv_free(kv, n);
    } else {
        FUZZ_CHECK(e.msg[0] != '\0');
        FUZZ_CHECK(kv == NULL && n == 0);
    }
    fuzz_end();
    return 0;
}
