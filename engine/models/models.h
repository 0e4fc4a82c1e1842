/* models.h - the registry of network architectures selectable by --model. */
#ifndef SQ_MODELS_H
#define SQ_MODELS_H

#include "core/net.h"

typedef struct sq_model_info {
    const char *name;
    const char *summary;
    /* Build into a fresh net for inputs of shape `in` and `classes` outputs;
     * ends with sq_net_finish. */
    int (*build)(sq_net *net, sq_shape in, int classes, sq_err *e);
} sq_model_info;

const sq_model_info *sq_model_find(const char *name);
const sq_model_info *sq_model_at(int i); /* NULL past the end */
/* 0 if `name` is a model, else fail with the list of valid names. */
int sq_model_check(const char *name, sq_err *e);
/* Build `name` or fail with the list of valid names. */
int sq_model_build(const char *name, sq_net *net, sq_shape in, int classes, sq_err *e);

#endif
