/* optim.h - optimizers over the flat parameter block and learning-rate
 * schedules, both with PyTorch's semantics so runs compare with PyTorch.
 *
 * Optimizers (optim.c)
 *   SGD  : torch.optim.SGD with dampening 0. Per element, with d = g:
 *            d += wd * w                  (if the slice is decayed)
 *            buf = momentum * buf + d     (buf starts at 0, so step 1 gives d)
 *            d = nesterov ? d + momentum * buf : buf     (momentum > 0 only)
 *            w -= lr * d
 *   Adam : torch.optim.Adam (amsgrad off), L2 weight decay added to the grad:
 *            d = g + wd * w               (if the slice is decayed)
 *            m = b1 m + (1-b1) d;  v = b2 v + (1-b2) d^2
 *            w -= lr / (1 - b1^t) * m / (sqrt(v) / sqrt(1 - b2^t) + eps)
 *   Weight decay applies to parameters with no_decay == 0 (conv and dense
 *   weights); biases and batch-norm parameters are exempt unless decay_all.
 *
 * State is indexed like net->params: element i of the net has its momentum
 * (SGD) or first moment (Adam) in m[i] and its Adam second moment in v[i].
 * sq_optim_extend appends room for extra learned parameters (e.g. LSQ step
 * sizes) that a quantizer steps with sq_optim_step_slice at the offset it was
 * given. m is NULL for plain SGD (momentum 0), v is NULL unless Adam; a
 * checkpoint saves m and v (n reals each, when non-NULL) as "optim.m" and
 * "optim.v" and t as the step count, and restores them into an optimizer
 * initialised with the same config and extensions.
 *
 * Optimizer strings (sq_optim_parse), weight decay is configured separately:
 *   sgd[:MOMENTUM]            default momentum 0.9; "sgd:0" is plain SGD
 *   nesterov[:MOMENTUM]       SGD with Nesterov momentum, default 0.9 (> 0)
 *   adam[:BETA1,BETA2[,EPS]]  defaults 0.9, 0.999, 1e-8
 *
 * Learning-rate schedules (schedule.c). sq_sched_lr(s, base, e, epochs) is
 * the lr for the whole of epoch e (0-based): what PyTorch's scheduler gives
 * in epoch e when stepped once at the end of every epoch.
 *   const                        base
 *   step:EVERY[:GAMMA]           base * GAMMA^floor(e / EVERY)       StepLR
 *   multistep:E1,E2,...[:GAMMA]  base * GAMMA^(#milestones <= e)     MultiStepLR
 *   cosine[:ETA_MIN]             ETA_MIN + (base - ETA_MIN)(1 + cos(pi e / T)) / 2,
 *                                T = epochs                   CosineAnnealingLR
 *   exp:GAMMA                    base * GAMMA^e                      ExponentialLR
 * GAMMA defaults to 0.1 and ETA_MIN to 0. Any form may end in "+warmup:W":
 * epochs e < W use base * (e + 1) / (W + 1), then the schedule above runs on
 * epoch e - W over epochs - W epochs (milestones count from the end of the
 * warmup). That is PyTorch's SequentialLR([LinearLR(start_factor=1/(W+1),
 * total_iters=W), main], milestones=[W]) with main built for epochs - W.
 * Examples: "step:30:0.1", "multistep:50,75", "cosine:1e-5+warmup:5".
 * The canonical form (sq_sched_str) spells every field: "cosine:0". */
#ifndef SQ_OPTIM_H
#define SQ_OPTIM_H

#include "core/net.h"

/* ---- optimizers -------------------------------------------------------- */
typedef enum sq_optim_kind { SQ_SGD = 0, SQ_ADAM = 1 } sq_optim_kind;

typedef struct sq_optim_cfg {
    int kind;             /* sq_optim_kind                                  */
    double momentum;      /* SGD, in [0, 1)                                 */
    int nesterov;         /* SGD; needs momentum > 0                        */
    double weight_decay;  /* L2 coefficient, >= 0                           */
    int decay_all;        /* also decay no_decay params and every slice     */
    double beta1, beta2;  /* Adam, in [0, 1)                                */
    double eps;           /* Adam, > 0                                      */
} sq_optim_cfg;

typedef struct sq_optim {
    sq_optim_cfg cfg;
    size_t n;             /* state entries: the net's params + extensions   */
    sq_real *m, *v;       /* see above; NULL where the kind needs none      */
    long long t;          /* completed steps (Adam's bias correction)       */
} sq_optim;

#define SQ_OPTIM_STR 128  /* room for any sq_optim_str result */

/* Defaults for a kind: momentum 0.9, no Nesterov, no weight decay, betas
 * 0.9/0.999, eps 1e-8. */
void sq_optim_defaults(sq_optim_cfg *c, int kind);
/* Parse an optimizer string (grammar above) into c, filling defaults;
 * weight_decay and decay_all are left at 0. */
int sq_optim_parse(const char *name, sq_optim_cfg *c, sq_err *e);
/* Canonical string of c's kind and hyper-parameters (no weight decay);
 * returns buf. */
const char *sq_optim_str(const sq_optim_cfg *c, char buf[SQ_OPTIM_STR]);

/* Validate c and allocate zeroed state for every parameter of net. */
int sq_optim_init(sq_optim *o, const sq_optim_cfg *c, const sq_net *net, sq_err *e);
/* The same for n state entries not tied to a net (slice-only use). */
int sq_optim_init_n(sq_optim *o, const sq_optim_cfg *c, size_t n, sq_err *e);
/* Append n_extra zeroed state entries; *off gets the first one's offset.
 * On failure o is unchanged. */
int sq_optim_extend(sq_optim *o, size_t n_extra, size_t *off, sq_err *e);
/* Zero the state and the step count (a fresh start with the same sizes). */
void sq_optim_reset(sq_optim *o);
void sq_optim_free(sq_optim *o);

/* One step of every parameter of net (the net o was initialised with):
 * sq_optim_tick, then sq_optim_step_slice over each sq_param, decayed
 * unless no_decay. Gradients are read from net->grads, not changed.
 * Returns -1, changing nothing, if a parameter lies outside the state (o
 * was initialised for another net); 0 otherwise. */
int sq_optim_step(sq_optim *o, sq_net *net, double lr);
/* Start a new step: t += 1. sq_optim_step does this itself; callers that
 * only use slices call it once per step before stepping them. */
void sq_optim_tick(sq_optim *o);
/* Update n values w from gradients g, with state at [off, off + n).
 * decay: apply weight_decay (always, if decay_all). Uses the step count of
 * the current step (t, or 1 before the first tick), so slices stepped after
 * sq_optim_step in the same iteration share its t. Returns -1, changing
 * nothing, if [off, off + n) does not lie within o->n; 0 otherwise. */
int sq_optim_step_slice(sq_optim *o, size_t off, sq_real *w, const sq_real *g,
                         size_t n, int decay, double lr);

/* ---- learning-rate schedules ------------------------------------------- */
typedef enum sq_sched_kind {
    SQ_SCHED_CONST = 0, SQ_SCHED_STEP, SQ_SCHED_MULTISTEP, SQ_SCHED_COSINE, SQ_SCHED_EXP
} sq_sched_kind;

#define SQ_SCHED_MAX_MILESTONES 32
#define SQ_SCHED_STR 512  /* room for any sq_sched_str result */

typedef struct sq_sched {
    int kind;             /* sq_sched_kind                                  */
    int every;            /* step: epochs between decays, >= 1              */
    int milestones[SQ_SCHED_MAX_MILESTONES]; /* multistep: increasing, >= 1 */
    int n_milestones;
    double gamma;         /* step, multistep, exp: factor, > 0              */
    double eta_min;       /* cosine: final lr, >= 0                         */
    int warmup;           /* linear warmup epochs, >= 0                     */
} sq_sched;

/* Parse a schedule string (grammar above); the error lists the valid forms. */
int sq_sched_parse(const char *str, sq_sched *s, sq_err *e);
/* Canonical string, every field spelled out; returns buf. */
const char *sq_sched_str(const sq_sched *s, char buf[SQ_SCHED_STR]);
/* The lr of epoch `epoch` (0-based) of a run of `epochs` epochs. */
double sq_sched_lr(const sq_sched *s, double base_lr, int epoch, int epochs);

/* Shortest "%g" spelling of x that reads back as x (for the canonical
 * strings above); returns buf. */
const char *sq_optim_fmt_num(double x, char buf[32]);

#endif
