/* train.h - one training run: configuration, the loop, evaluation. */
#ifndef SQ_TRAIN_H
#define SQ_TRAIN_H

#include "core/net.h"

typedef struct sq_train_cfg {
    char model[32];
    char data[32];
    char data_dir[512];
    char out[512];
    char optim[16];       /* sgd | nesterov | adam                          */
    char schedule[64];    /* see optim.h for the grammar                     */
    char init[512];       /* checkpoint to start from ("" = random init)     */
    int epochs, batch, eval_batch, threads;
    double lr, momentum, weight_decay;
    uint64_t seed;
    int augment;          /* -1 = dataset default (CIFAR: on)                */
    int train_subset, test_subset; /* 0 = all                                */
    int resume;
    int progress;         /* -1 = auto (a terminal gets a bar)               */
    int save_every;       /* checkpoint the training state every N epochs   */
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

typedef struct sq_train_result {
    double test_error, test_error_soft, best_test_error, train_loss, train_error, seconds;
    int epochs_done;
} sq_train_result;

/* Run the whole training described by cfg, writing into cfg->out. */
int sq_train(const sq_train_cfg *cfg, sq_train_result *res, sq_err *e);

#endif
