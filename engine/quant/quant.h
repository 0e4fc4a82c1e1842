/* quant.h (engine side) - the registry of quantizers (built-ins and
 * plugins, registered through one path), option parsing, and sq_qrun: the
 * host that drives one quantizer over every quantized tensor of a net during
 * a run. The ABI a quantizer implements is engine/include/symog/quant.h. */
#ifndef SQ_QUANT_HOST_H
#define SQ_QUANT_HOST_H

#include <stdio.h>

#include "core/net.h"
#include "optim/optim.h"
#include "symog/quant.h"

#define SQ_QMAX_OPTS 32

/* ---- registry ---------------------------------------------------------- */
/* Register q, found in `origin` ("built-in" or a .so path). Refuses another
 * ABI version, a too-small struct, missing required hooks, a duplicate
 * name. */
int sq_quant_register(const sq_quantizer *q, const char *origin, sq_err *e);
/* dlopen a plugin and register everything it exports. */
int sq_quant_load_plugin(const char *path, sq_err *e);
/* Built-ins, then every *.so in the default plugin directories (the build's
 * plugins/ next to the executable, then each directory of
 * $SYMOG_PLUGIN_PATH), then the explicit plugin files (failures of these
 * are errors). A plugin in a directory that is refused is remembered with
 * its reason (sq_quant_refusals) and the rest go on. Idempotent. */
int sq_quant_setup(const char *const *plugins, int n_plugins, sq_err *e);
const sq_quantizer *sq_quant_find(const char *name);
/* Find `name` or fail with the list of valid names and refused plugins. */
const sq_quantizer *sq_quant_get(const char *name, sq_err *e);
int sq_quant_count(void);
const sq_quantizer *sq_quant_at(int i, const char **origin);
/* Refused plugins as "path: reason" lines; NULL past the end. */
const char *sq_quant_refusal(int i);
void sq_quant_reset(void); /* forget everything (tests); closes plugins */

/* ---- options ----------------------------------------------------------- */
/* vals[i] gets option i of q: its default, overridden by "key=value" items
 * of kv. Unknown keys and bad values fail with the list of valid keys or
 * the allowed range/choices. */
int sq_qopts_parse(const sq_quantizer *q, const char *const *kv, int n, double *vals, sq_err *e);
/* "key=value" spelling of option i's value (enum choices by name). */
void sq_qopt_format(const sq_quantizer *q, int i, double v, char *buf, size_t n);

/* ---- one run ----------------------------------------------------------- */
typedef struct sq_qslot {
    sq_qtensor t;
    sq_param *p;
    float *prev;          /* Q(w) at the previous diagnostics point        */
    double hist_unit;     /* histogram unit: the step, or initial max|w|   */
} sq_qslot;

typedef struct sq_qrun {
    const sq_quantizer *q;
    int bits, first_last;
    double opt[SQ_QMAX_OPTS];
    int n;
    sq_qslot *s;
    float *wq;            /* effective weights of all slots, one block    */
    float *qparams, *qgrads;
    size_t n_qparams, optim_off;
    unsigned char *state; /* all slots' states, one block                 */
    size_t state_bytes;
    sq_rng *rng;
    int final;            /* finalized: w holds Q(w)                       */
    /* diagnostics history: rows [epoch][slot][SQ_QDIAG_COLS] and
     * [epoch][slot][SQ_QHIST_BINS], epochs 0..diag_n-1 filled */
    double *diag;
    double *hist;
    int diag_cap, diag_n;
} sq_qrun;

enum { SQ_QD_LAMBDA, SQ_QD_STEP, SQ_QD_EXP, SQ_QD_SWITCH, SQ_QD_ERR, SQ_QD_PENALTY,
       SQ_QD_DISTINCT, SQ_QD_UNIT, SQ_QD_RANGE, SQ_QDIAG_COLS };
#define SQ_QHIST_BINS 120

/* Choose the tensors (conv/dense weights; first and last only if
 * first_last), allocate, and call init. opt: parsed option values.
 * o: the run's optimizer (extended for learned parameters), may be NULL. */
int sq_qrun_init(sq_qrun *r, const sq_quantizer *q, int bits, const double *opt, int first_last,
                 sq_net *net, sq_optim *o, sq_rng *rng, sq_err *e);
void sq_qrun_free(sq_qrun *r);
void sq_qrun_progress(sq_qrun *r, int epoch, int epochs, long long step, long long steps);
void sq_qrun_epoch_begin(sq_qrun *r);
void sq_qrun_forward(sq_qrun *r);   /* before the net's forward            */
void sq_qrun_backward(sq_qrun *r);  /* after the net's backward            */
void sq_qrun_step(sq_qrun *r, sq_optim *o, double lr); /* learned params    */
void sq_qrun_after_step(sq_qrun *r);
/* Evaluation with hard weights: wq = Q(w) for every slot (restored by the
 * next sq_qrun_forward). */
void sq_qrun_hard(sq_qrun *r);
/* The end of training: w <- Q(w), wq = w; the net now holds grid values. */
void sq_qrun_finalize(sq_qrun *r);
/* Per-epoch diagnostics appended to files in dir (see qrun.c). */
int sq_qrun_diagnostics(sq_qrun *r, const char *dir, int epoch, sq_err *e);
/* Resume: after sq_qrun_init, overwrite the quantizers' state, learned
 * parameters and diagnostics history with what a state file held. */
int sq_qrun_restore(sq_qrun *r, const void *state, size_t state_bytes, const float *qparams,
                    size_t n_qparams, const double *diag, const double *hist, int diag_n, sq_err *e);
/* Number of distinct values in x[0..n) (for result.yaml and diag.csv); 0
 * for n > 0 means its scratch copy could not be allocated. */
size_t sq_count_distinct(const float *x, size_t n);

#endif
