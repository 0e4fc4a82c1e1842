/* train.h - one training run: configuration, the loop, evaluation. */
#ifndef SQ_TRAIN_H
#define SQ_TRAIN_H

#include <signal.h>

#include "core/net.h"

typedef struct sq_train_cfg {
    char model[32];
    char data[32];
    char data_dir[512];
    char out[512];
    char optim[16];       /* sgd | nesterov | adam                          */
    char schedule[64];    /* see optim.h for the grammar                     */
    char init[512];       /* checkpoint to start from ("" = random init)     */
    char recipe[16];      /* the named recipe the settings started from      */
    int epochs, batch, eval_batch, threads;
    double lr, momentum, weight_decay;
    uint64_t seed;
    int augment;          /* -1 = dataset default (CIFAR: on)                */
    int train_subset, test_subset; /* 0 = all                                */
    int resume;
    int progress;         /* -1 = auto (a terminal gets a bar)               */
    int save_every;       /* checkpoint the training state every N epochs   */
    int save_steps;       /* also every N batches inside an epoch (0: off)  */
    double save_minutes;  /* also when this long has passed since the last
                             checkpoint (0: off); checkpoints never change
                             the results: a resumed run is bit-identical   */
    /* Non-NULL: when *interrupt becomes non-zero (a signal handler stores
     * the signal number), the run stops at the next batch boundary, saves
     * its state and returns 0 with status SQ_TRAIN_INTERRUPTED. */
    const volatile sig_atomic_t *interrupt;
    int stop_after;       /* >0: stop once this many epochs are done, as an
                             interrupted run would (state kept, no result)   */
    /* quantization */
    char quantizer[32];   /* "float" = no quantization                       */
    int bits;
    int first_last;       /* quantize the first and last layer too          */
    char qopts[16][128];  /* "key=value" items for the quantizer            */
    int n_qopts;
    char plugins[8][512]; /* extra plugin files                              */
    int n_plugins;
} sq_train_cfg;

void sq_train_defaults(sq_train_cfg *c);

/* Named recipes (../shared/METHOD.md, "Training recipes"): the optimizer,
 * schedule, batch sizes and augmentation a kind of run starts from.
 *   mnist  SGD momentum 0.9, lr 0.01, weight decay 5e-4, cosine, batch 64,
 *          evaluation batch 500, augmentation by dataset (the defaults)
 *   cifar  SGD momentum 0.9, lr 0.1, weight decay 5e-4, cosine, batch 128,
 *          evaluation batch 128, pad-4 crop + flip
 *   twn    cifar with weight decay 1e-4 (TWN-style runs)
 * sq_train_recipe sets exactly those fields and c->recipe; settings made
 * after it override it. "auto" (or "") picks sq_train_recipe_for(c->data).
 * An unknown name is an error listing the valid ones. */
int sq_train_recipe(sq_train_cfg *c, const char *name, sq_err *e);
const char *sq_train_recipe_for(const char *data); /* "cifar" for CIFAR, else "mnist" */
const char *sq_train_recipe_at(int i, const char **summary); /* NULL past the end */

/* How a run ended. */
enum {
    SQ_TRAIN_DONE = 0,     /* all epochs; result.yaml written                 */
    SQ_TRAIN_STOPPED,      /* stop_after reached; state saved, no result      */
    SQ_TRAIN_INTERRUPTED,  /* *interrupt was set; state saved, no result      */
    SQ_TRAIN_DIVERGED,     /* NaN/Inf appeared; diverged.yaml, no result      */
    SQ_TRAIN_FAILED        /* any other error (e says what)                   */
};

typedef struct sq_train_result {
    double test_error, test_error_soft, best_test_error, train_loss, train_error, seconds;
    int epochs_done;
    int status;            /* SQ_TRAIN_*                                      */
    int signal;            /* INTERRUPTED: the value *interrupt held          */
    int stop_epoch;        /* INTERRUPTED / DIVERGED: 1-based epoch ...       */
    int stop_step;         /* ... and batches of it done (INTERRUPTED) or the
                              1-based batch where NaN/Inf appeared (DIVERGED) */
    int epoch_steps;       /* batches per epoch                               */
} sq_train_result;

/* Run the whole training described by cfg, writing into cfg->out. Returns
 * 0 when done, stopped or interrupted (res->status says which), -1 with e
 * set on an error or divergence (res->status SQ_TRAIN_FAILED / _DIVERGED).
 * A diverged run leaves DIR/diverged.yaml (epoch, step, the tensor where
 * NaN/Inf appeared) and never result.yaml. */
int sq_train(const sq_train_cfg *cfg, sq_train_result *res, sq_err *e);

#endif
