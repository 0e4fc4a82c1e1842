/* batch.c - shuffling and minibatch assembly: raw uint8 images become
 * normalised sq_real NCHW tensors, optionally with the standard CIFAR
 * augmentation (zero-pad 4, random crop, random horizontal flip). */
#include "data/data.h"

#define PAD 4

void sq_shuffle(int *idx, int n, sq_rng *r)
{
    for (int i = n - 1; i > 0; i--) {
        int j = (int)sq_rng_below(r, (uint32_t)i + 1);
        int t = idx[i];
        idx[i] = idx[j];
        idx[j] = t;
    }
}

/* One channel, no augmentation. */
static void copy_plane(const uint8_t *src, int hw, float mean, float std, sq_real *dst)
{
    for (int i = 0; i < hw; i++)
        dst[i] = (sq_real)(((float)src[i] / 255.0f - mean) / std);
}

/* One channel of the padded, cropped and maybe flipped image: output pixel
 * (i, j) is padded pixel (i + dy, jj + dx), jj = flip ? w-1-j : j, and a
 * padded pixel outside the image is a raw 0. */
static void crop_plane(const uint8_t *src, int h, int w, int dy, int dx, int flip, float mean,
                       float std, sq_real *dst)
{
    sq_real zero = (sq_real)((0.0f - mean) / std);
    for (int i = 0; i < h; i++) {
        int si = i + dy - PAD;
        for (int j = 0; j < w; j++) {
            int sj = (flip ? w - 1 - j : j) + dx - PAD;
            int inside = si >= 0 && si < h && sj >= 0 && sj < w;
            dst[i * w + j] = inside ? (sq_real)(((float)src[si * w + sj] / 255.0f - mean) / std)
                                    : zero;
        }
    }
}

void sq_make_batch(const sq_dataset *d, const int *idx, int B, const float *mean,
                   const float *std, int augment, sq_rng *r, sq_real *x, int *y)
{
    size_t hw = (size_t)d->h * d->w, chw = (size_t)d->c * hw;
    for (int b = 0; b < B; b++) {
        const uint8_t *img = d->images + (size_t)idx[b] * chw;
        sq_real *out = x + (size_t)b * chw;
        y[b] = d->labels[idx[b]];
        if (!augment) {
            for (int c = 0; c < d->c; c++)
                copy_plane(img + c * hw, (int)hw, mean[c], std[c], out + c * hw);
            continue;
        }
        int dy = (int)sq_rng_below(r, 2 * PAD + 1);
        int dx = (int)sq_rng_below(r, 2 * PAD + 1);
        int flip = (int)sq_rng_below(r, 2);
        for (int c = 0; c < d->c; c++)
            crop_plane(img + c * hw, d->h, d->w, dy, dx, flip, mean[c], std[c], out + c * hw);
    }
}
