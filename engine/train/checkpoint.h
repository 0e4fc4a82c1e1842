/* checkpoint.h - model files and resumable training state, as safetensors.
 *
 * model.safetensors holds exactly what PyTorch's state_dict() of the
 * equivalent torch module holds (parameters, batch-norm running statistics
 * and num_batches_tracked) under the same names and layouts, as F32/I64.
 * state.safetensors adds what a resumed run needs: the latent weights, the
 * optimizer's moments, the finished epochs and the metrics so far. */
#ifndef SQ_CHECKPOINT_H
#define SQ_CHECKPOINT_H

#include "core/net.h"
#include "io/safetensors.h"

/* Extra tensors a caller appends to a checkpoint (F32 data is converted). */
typedef struct sq_ckpt_extra {
    sq_st_tensor *t;
    int n, cap;
} sq_ckpt_extra;

int sq_ckpt_extra_add(sq_ckpt_extra *x, const char *name, const char *dtype, int ndim,
                      const int64_t *shape, const void *data, sq_err *e);
void sq_ckpt_extra_free(sq_ckpt_extra *x);

/* Write the net's parameters (p->w; the caller finalizes first when the
 * evaluated weights should be stored), buffers, num_batches_tracked, the
 * extras, and metadata pairs (NULL-terminated key, value list). */
int sq_ckpt_save(const char *path, const sq_net *net, long long bn_batches,
                 const sq_ckpt_extra *extra, const char *const *meta, sq_err *e);

/* Load parameters and buffers by name. Every parameter and buffer of the net
 * must be present with the right shape; other tensors are ignored.
 * *bn_batches (optional) gets num_batches_tracked. */
int sq_ckpt_load_net(const char *path, sq_net *net, long long *bn_batches, sq_st_file *keep,
                     sq_err *e);

#endif
