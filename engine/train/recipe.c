/* recipe.c - the default settings of a training run and the named
 * recipes (mnist, cifar, twn; see train.h) a run's optimizer, schedule,
 * batch sizes and augmentation start from. */
#include <stdio.h>
#include <string.h>

#include "train.h"

void sq_train_defaults(sq_train_cfg *c)
{
    memset(c, 0, sizeof *c);
    snprintf(c->model, sizeof c->model, "lenet5");
    snprintf(c->data, sizeof c->data, "fashion-mnist");
    snprintf(c->optim, sizeof c->optim, "sgd");
    snprintf(c->schedule, sizeof c->schedule, "cosine");
    c->epochs = 10;
    c->batch = 64;
    c->eval_batch = 500;
    c->threads = 2;
    c->lr = 0.01;
    c->momentum = 0.9;
    c->weight_decay = 5e-4;
    c->seed = 1;
    c->augment = -1;
    c->progress = -1;
    c->save_every = 1;
    c->save_minutes = 10;
    snprintf(c->quantizer, sizeof c->quantizer, "float");
    c->bits = 2;
    c->first_last = 1;
    snprintf(c->recipe, sizeof c->recipe, "mnist");
}

typedef struct recipe {
    const char *name, *summary;
    double lr, momentum, wd;
    int batch, eval_batch, augment;
} recipe;

static const recipe recipes[] = {
    {"mnist", "SGD 0.9, lr 0.01, wd 5e-4, cosine, batch 64 (MNIST-like data)", 0.01, 0.9, 5e-4,
     64, 500, -1},
    {"cifar", "SGD 0.9, lr 0.1, wd 5e-4, cosine, batch 128, crop+flip (CIFAR)", 0.1, 0.9, 5e-4,
     128, 128, 1},
    {"twn", "cifar with weight decay 1e-4 (TWN-style runs)", 0.1, 0.9, 1e-4, 128, 128, 1},
};

const char *sq_train_recipe_for(const char *data)
{
    return !strncmp(data, "cifar", 5) ? "cifar" : "mnist";
}

const char *sq_train_recipe_at(int i, const char **summary)
{
    if (i < 0 || i >= (int)SQ_COUNT(recipes))
        return NULL;
    if (summary)
        *summary = recipes[i].summary;
    return recipes[i].name;
}

int sq_train_recipe(sq_train_cfg *c, const char *name, sq_err *e)
{
    if (!name[0] || !strcmp(name, "auto"))
        name = sq_train_recipe_for(c->data);
    for (size_t i = 0; i < SQ_COUNT(recipes); i++) {
        const recipe *r = &recipes[i];
        if (strcmp(r->name, name))
            continue;
        snprintf(c->recipe, sizeof c->recipe, "%s", r->name);
        snprintf(c->optim, sizeof c->optim, "sgd");
        snprintf(c->schedule, sizeof c->schedule, "cosine");
        c->lr = r->lr, c->momentum = r->momentum, c->weight_decay = r->wd;
        c->batch = r->batch, c->eval_batch = r->eval_batch, c->augment = r->augment;
        return 0;
    }
    return sq_fail(e, "unknown recipe '%s' (valid: auto, mnist, cifar, twn)", name);
}
