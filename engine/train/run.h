/* run.h - private to engine/train: the state of one training run (struct
 * run) and the functions train.c and state.c call across each other.
 * train.c sets a run up, trains and writes the result files; state.c saves
 * and restores DIR/state.safetensors. Not part of the engine's interface:
 * only the train directory's own .c files include it. */
#ifndef SQ_TRAIN_RUN_H
#define SQ_TRAIN_RUN_H

#include <stdio.h>

#include "data/data.h"
#include "optim/optim.h"
#include "quant/quant.h"
#include "train.h"

/* the columns of run.metrics (metrics.csv, the state's "metrics") */
enum { M_EPOCH, M_LOSS, M_TRAIN_ERR, M_TEST_ERR, M_TEST_SOFT, M_LR, M_SECONDS, M_COLS };

typedef struct run {
    const sq_train_cfg *cfg;
    sq_dataset train, test;
    float mean[3], std[3];
    int augment;
    sq_net net;
    sq_optim opt;
    sq_optim_cfg ocfg;
    sq_sched sched;
    sq_qrun q;
    sq_rng qrng;
    int quantized;        /* not the float identity                        */
    int *idx, *y;
    sq_real *x, *dlogits;
    double metrics[1000][M_COLS];
    int epochs_done;
    long long bn_batches;
    double seconds;
    int nbatches;         /* batches per epoch                             */
    int from_state;       /* restored from state.safetensors               */
    /* inside epoch `epochs_done`: batches done and what they accumulated;
     * 0 between epochs (a mid-epoch checkpoint restores them) */
    int ep_step;
    double ep_loss;
    long ep_wrong;
    sq_rng ep_rng;        /* the epoch's stream after those batches        */
    double last_save;     /* sq_now() at the last checkpoint               */
    long long saved_at;   /* epochs_done * (nbatches + 1) + ep_step of it  */
    int status, stop_epoch, stop_step;
} run;

static inline void path_in(char *buf, size_t n, const char *dir, const char *file)
{
    snprintf(buf, n, "%s/%s", dir, file);
}

/* train.c: weights loaded from a file (--init, --resume) must be finite. */
int sq_tr_check_loaded(run *r, const char *path, sq_err *e);

/* state.c: write DIR/state.safetensors; the same unless this very point
 * was saved already; restore a run from it (1: there was none). */
int sq_tr_save_state(run *r, sq_err *e);
int sq_tr_checkpoint(run *r, sq_err *e);
int sq_tr_resume(run *r, sq_err *e);

#endif
