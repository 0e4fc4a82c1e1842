/* data.h - datasets for the experiments: loading MNIST / Fashion-MNIST (IDX)
 * and CIFAR-10 / CIFAR-100 (binary) files with strict validation, their
 * normalisation constants, shuffling and minibatch assembly with the standard
 * CIFAR augmentation.
 *
 * A loaded dataset keeps raw uint8 pixels (CHW per image); sq_make_batch
 * turns a list of indices into a normalised sq_real NCHW batch. Every file
 * problem is reported as an error naming the file and what is wrong. */
#ifndef SQ_DATA_H
#define SQ_DATA_H

#include "core/sq.h"

typedef struct sq_dataset {
    char name[32];     /* "fashion-mnist", "mnist", "cifar10", "cifar100"        */
    int n, c, h, w;    /* images and their shape                                */
    int classes;       /* labels are in [0, classes)                            */
    uint8_t *images;   /* n*c*h*w bytes, CHW per image                          */
    int *labels;       /* n labels                                              */
    char sha256[65];   /* SHA-256 (hex) over the bytes of the files read, as
                          stored on disk, concatenated in a fixed order:
                          IDX images then labels; CIFAR-10 batches 1..5      */
    char source[512];  /* directory it was read from and the file names       */
} sq_dataset;

/* ---- datasets ------------------------------------------------------------ */
/* Load split train (1) or test (0) of the named dataset. data_dir is where
 * the caller keeps datasets (NULL or "" means "data"). Looks in:
 *   fashion-mnist  data_dir/fashion-mnist/, then /usr/share/datasets/fashion-mnist/
 *                  (Debian's dataset-fashion-mnist package)
 *   mnist          data_dir/mnist/
 *     IDX files {train,t10k}-{images-idx3,labels-idx1}-ubyte, each raw or .gz
 *     (raw preferred when both exist)
 *   cifar10        data_dir/cifar-10-batches-bin/  data_batch_1..5.bin, test_batch.bin
 *   cifar100       data_dir/cifar-100-binary/      train.bin, test.bin (fine labels)
 * A missing dataset is an error listing every place looked at and how to get
 * it; no other dataset is ever substituted. On error *out is left empty. */
int sq_data_open(const char *name, const char *data_dir, int train, sq_dataset *out, sq_err *e);
void sq_dataset_free(sq_dataset *d); /* frees and zeroes; NULL-safe */

/* Keep the first n images (file order). 0 < n <= d->n, else an error.
 * sha256 keeps describing the files read; record n alongside it. */
int sq_dataset_subset(sq_dataset *d, int n, sq_err *e);

/* Per-channel mean / std of pixel/255 (the commonly published values).
 * One-channel datasets fill index 0 and repeat it in 1 and 2. */
int sq_data_norm(const char *name, float mean[3], float std[3], sq_err *e);

/* ---- batching (batch.c) --------------------------------------------------- */
/* Fisher-Yates shuffle of idx[0..n) using only r. */
void sq_shuffle(int *idx, int n, sq_rng *r);

/* Write images idx[0..B) of d as x[B][c][h][w] = (pixel/255 - mean[c]) / std[c]
 * and their labels into y[B]. mean/std hold d->c entries; idx entries must be
 * in [0, d->n). augment=1 applies the standard CIFAR augmentation, drawing
 * from r (r may be NULL when augment=0), per image in this order:
 *   crop offsets dy, dx uniform in 0..8 (sq_rng_below(r, 9), dy first), then
 *   flip = sq_rng_below(r, 2).
 * The raw image is zero-padded by 4 on every side (a padded pixel becomes
 * (0 - mean)/std after normalising, as in PyTorch), an h x w window at
 * (dy, dx) of the padded image is cut out and mirrored left-right if flip. */
void sq_make_batch(const sq_dataset *d, const int *idx, int B, const float *mean,
                   const float *std, int augment, sq_rng *r, sq_real *x, int *y);

/* ---- file readers (used by sq_data_open; exposed for tests and tools) ----- */
/* IDX images (magic 0x00000803, n x rows x cols) and labels (0x00000801),
 * raw or gzip. Checks the header, that the file holds exactly what the header
 * declares, that both counts agree and every label is < classes. Fills n, c=1,
 * h, w, classes, images, labels of out (the rest is left as it was). */
int sq_idx_load(const char *images_path, const char *labels_path, int classes,
                sq_dataset *out, sq_err *e);

/* CIFAR binary: records of label_bytes label bytes then 3072 pixel bytes (CHW
 * 3x32x32); the class is the last label byte (CIFAR-10: 1 byte; CIFAR-100: 2
 * bytes coarse, fine). The files are concatenated in the order given. Fills
 * n, c, h, w, classes, images, labels of out. */
int sq_cifar_load(const char *const *paths, int npaths, int label_bytes, int classes,
                  sq_dataset *out, sq_err *e);

#endif
