/* conv2d.c - 2-D convolution as im2col + GEMM, threaded by OpenMP with
 * single-threaded OpenBLAS calls.
 *
 * Weights [O, C, k, k] (PyTorch's layout) are a row-major matrix W[O, K]
 * with K = C*k*k; an image unfolds into col[K, P] (P output pixels) and its
 * output is W col. The batch is processed in chunks of nb images whose
 * unfolded columns fit the scratch (COL_BUDGET reals); the nd->threads
 * OpenMP threads share a chunk:
 *
 *   forward   each thread unfolds its own images and multiplies them
 *             (image split, no synchronisation);
 *   backward  1. each thread unfolds its images (and gathers their dy);
 *             2. each thread owns a band of dW's columns (rows of col)
 *                and adds dW[:, band] += dy col[band]^T over all images
 *                of the chunk (no private copies of dW, no reduction);
 *             3. each thread computes dcol = W^T dy for its images and
 *                folds it into dx (col2im).
 *
 * Two layouts of the chunk's columns:
 *   direct   (P >= P_DIRECT) every image keeps its own [K, P] block and its
 *            GEMMs read dy / write y in place: no gather, no scatter copy;
 *   batched  (small P, e.g. 8x8 maps) the chunk is one [K, nb*P] matrix so
 *            the GEMMs get a wide N; y is scattered from, and dy gathered
 *            into, an [O, nb*P] matrix beside it.
 * A 1x1 convolution with stride 1 and no padding in the direct layout uses
 * x itself as col and adds W^T dy straight into dx (no unfold, no fold).
 *
 * A stride-1 3x3 or 5x5 convolution with few output channels (DenseNet's
 * growth-rate layers: 12 outputs from hundreds of inputs; the LeNets'
 * 6..64 from few inputs) is a poor GEMM (M = 12: each unfolded element
 * feeds 24 FLOPs; K = 25: the unfolding costs as much as the product), so
 * im2col, packing and col2im dominate. The stencil path avoids unfolding:
 * the images are zero-padded once and register-blocked kernels compute
 * forward (up to 64 outputs), and backward (up to 16) dx as the same
 * kernel on padded dy with the flipped, transposed weights and dW as dy
 * times shifted rows, summed in vector registers. Wider layers, and
 * backward from 17 to 64 outputs, take the GEMM path.
 *
 * OpenBLAS (the pthread build) is switched to one thread while a layer runs
 * and restored afterwards: its own thread pool and OpenMP's would otherwise
 * compete for the same cores. A chunk with fewer images than threads (tiny
 * batches) runs unthreaded with OpenBLAS's own threading instead.
 * Backward recomputes col rather than keeping it from forward, so scratch
 * stays one chunk whatever the batch. */
#include <string.h>

#include <cblas.h>

#ifdef _OPENMP
#include <omp.h>
#endif

#include "core/gemm.h"
#include "layers.h"

/* Scratch per chunk is capped near this many reals (32 MiB of floats). */
#define COL_BUDGET (8u << 20)
/* Output maps of at least this many pixels use the direct layout. */
#define P_DIRECT 256
#define MAX_CHUNK 256
/* Stride-1 3x3 and 5x5 convolutions (padding below k) with at most this
 * many outputs take the stencil path forward (measured faster than im2col +
 * GEMM up to LeNet's 64), and backward up to STENCIL_MAX_O_BWD (its dx
 * kernel blocks 6 input channels, which narrow layers waste). */
#define STENCIL_MAX_O 64
#define STENCIL_MAX_O_BWD 16

typedef struct geom {
    int C, H, W, O, k, s, p, Ho, Wo, K, P;
    int direct, pointwise;         /* GEMM layouts, see the file comment */
    int stencil_fwd, stencil_bwd;  /* the stencil path, per direction    */
} geom;

static geom geometry(const sq_node *nd)
{
    geom g = {nd->ish[0].c, nd->ish[0].h, nd->ish[0].w, nd->out_c, nd->k, nd->stride, nd->pad,
              0, 0, 0, 0, 0, 0, 0, 0};
    g.Ho = (g.H + 2 * g.p - g.k) / g.s + 1;
    g.Wo = (g.W + 2 * g.p - g.k) / g.s + 1;
    g.K = g.C * g.k * g.k;
    g.P = g.Ho * g.Wo;
    g.direct = g.P >= P_DIRECT;
    g.pointwise = g.direct && g.k == 1 && g.s == 1 && g.p == 0;
    g.stencil_fwd = (g.k == 3 || g.k == 5) && g.s == 1 && g.p < g.k && g.O <= STENCIL_MAX_O;
    g.stencil_bwd = g.stencil_fwd && g.O <= STENCIL_MAX_O_BWD;
    return g;
}

/* Scratch reals per image of a chunk: its columns, plus the [O, P] slice of
 * the gathered output in the batched layout. */
static size_t per_image(const geom *g)
{
    return (g->pointwise ? 0 : (size_t)g->K * g->P) + (g->direct ? 0 : (size_t)g->O * g->P);
}

/* Images per chunk that the scratch holds (fixed at setup). */
static int chunk_cap(const geom *g)
{
    size_t per = per_image(g);
    if (per == 0)
        return MAX_CHUNK;
    return (int)SQ_MAX(1, SQ_MIN(COL_BUDGET / per, MAX_CHUNK));
}

/* Chunk size for a batch of B on T threads: as few chunks as fit, of equal
 * size, rounded to a multiple of T so every thread gets as many images. */
static int chunk_size(const geom *g, int B, int T)
{
    int cap = chunk_cap(g), n = (B + cap - 1) / cap, nb = (B + n - 1) / n;
    if (T > 1 && nb % T) {
        int up = (nb / T + 1) * T, down = nb / T * T;
        nb = up <= cap ? up : down > 0 ? down : nb;
    }
    return SQ_MAX(1, SQ_MIN(nb, B));
}

/* Sum of v[0..n), vectorized (`omp simd reduction` allows one partial sum
 * per lane; one running sum would be a latency-bound chain). */
static double lane_sum(const sq_real *v, size_t n)
{
    sq_real s = 0;
#pragma omp simd reduction(+ : s)
    for (size_t i = 0; i < n; i++)
        s += v[i];
    return s;
}

/* ---- unfold / fold ---------------------------------------------------- */

/* Output columns [lo, hi) of a row whose input column ow*s - p + kj lies in
 * [0, W). */
static void inside(const geom *g, int kj, int *lo, int *hi)
{
    int l = 0, h = g->Wo;
    while (l < h && l * g->s - g->p + kj < 0)
        l++;
    while (h > l && (h - 1) * g->s - g->p + kj >= g->W)
        h--;
    *lo = l, *hi = h;
}

/* x [C, H, W] -> col [K, P] with row stride ld. */
static void im2col(const geom *g, const sq_real *x, sq_real *col, size_t ld)
{
    for (int c = 0; c < g->C; c++)
        for (int ki = 0; ki < g->k; ki++)
            for (int kj = 0; kj < g->k; kj++) {
                sq_real *row = col + (size_t)((c * g->k + ki) * g->k + kj) * ld;
                const sq_real *xc = x + (size_t)c * g->H * g->W;
                int lo, hi;
                inside(g, kj, &lo, &hi);
                for (int oh = 0; oh < g->Ho; oh++) {
                    int ih = oh * g->s - g->p + ki;
                    sq_real *r = row + (size_t)oh * g->Wo;
                    if (ih < 0 || ih >= g->H) {
                        memset(r, 0, sizeof(sq_real) * g->Wo);
                        continue;
                    }
                    const sq_real *xr = xc + (size_t)ih * g->W - g->p + kj;
                    for (int ow = 0; ow < lo; ow++)
                        r[ow] = 0;
                    if (g->s == 1)
                        memcpy(r + lo, xr + lo, sizeof(sq_real) * (size_t)(hi - lo));
                    else
                        for (int ow = lo; ow < hi; ow++)
                            r[ow] = xr[ow * g->s];
                    for (int ow = hi; ow < g->Wo; ow++)
                        r[ow] = 0;
                }
            }
}

/* The adjoint of im2col: dx [C, H, W] += fold(dcol [K, P], row stride ld). */
static void col2im(const geom *g, const sq_real *dcol, size_t ld, sq_real *dx)
{
    for (int c = 0; c < g->C; c++)
        for (int ki = 0; ki < g->k; ki++)
            for (int kj = 0; kj < g->k; kj++) {
                const sq_real *row = dcol + (size_t)((c * g->k + ki) * g->k + kj) * ld;
                sq_real *xc = dx + (size_t)c * g->H * g->W;
                int lo, hi;
                inside(g, kj, &lo, &hi);
                for (int oh = 0; oh < g->Ho; oh++) {
                    int ih = oh * g->s - g->p + ki;
                    if (ih < 0 || ih >= g->H)
                        continue;
                    const sq_real *r = row + (size_t)oh * g->Wo;
                    sq_real *xr = xc + (size_t)ih * g->W - g->p + kj;
                    if (g->s == 1)
                        for (int ow = lo; ow < hi; ow++)
                            xr[ow] += r[ow];
                    else
                        for (int ow = lo; ow < hi; ow++)
                            xr[ow * g->s] += r[ow];
                }
            }
}

/* ---- setup ------------------------------------------------------------ */

static size_t stencil_fixed(const geom *g);
static size_t stencil_per_image(const geom *g);

static int conv_setup(sq_net *net, sq_node *nd, sq_err *e)
{
    if (nd->n_in != 1)
        return sq_fail(e, "convolution takes 1 input, got %d", nd->n_in);
    if (nd->k < 1 || nd->stride < 1 || nd->pad < 0 || nd->out_c < 1)
        return sq_fail(e, "bad hyper-parameters k=%d stride=%d pad=%d out=%d", nd->k, nd->stride,
                       nd->pad, nd->out_c);
    if (nd->ish[0].h + 2 * nd->pad < nd->k || nd->ish[0].w + 2 * nd->pad < nd->k)
        return sq_fail(e, "kernel %d larger than the padded input %dx%d", nd->k, nd->ish[0].h,
                       nd->ish[0].w);
    geom g = geometry(nd);
    nd->osh = (sq_shape){g.O, g.Ho, g.Wo};
    int wd[4] = {g.O, g.C, g.k, g.k};
    if (sq_net_param(net, nd, "weight", SQ_WEIGHT, 4, wd, g.K, g.O * g.k * g.k, e))
        return -1;
    if (nd->bias && sq_net_param(net, nd, "bias", SQ_BIAS, 1, &g.O, g.K, g.O, e))
        return -1;
    /* scratch for the paths this layer takes (the stencil forward with
     * the GEMM path backward needs both, at different times) */
    nd->ws_per_sample = g.stencil_fwd ? stencil_per_image(&g) : 0;
    nd->ws_fixed = SQ_MAX(g.stencil_fwd ? stencil_fixed(&g) : 0,
                          g.stencil_bwd ? 0 : (size_t)chunk_cap(&g) * per_image(&g));
    nd->flops_per_sample = 2.0 * g.O * g.K * g.P;
    return 0;
}

static void conv_init(sq_node *nd, sq_rng *rng)
{
    sq_init_he(&nd->p[0], rng);
    if (nd->bias)
        memset(nd->p[1].w, 0, nd->p[1].n * sizeof(sq_real));
}

/* ---- one chunk -------------------------------------------------------- */

/* What the threads of one chunk share. */
typedef struct chunk {
    const geom *g;
    sq_node *nd;
    int b0, nb;          /* images b0 .. b0+nb of the batch                 */
    size_t ld;           /* row stride of col (batched: nb*P; direct: P)    */
    sq_real *col, *out;  /* scratch: columns; batched: gathered [O, ld]     */
} chunk;

static const sq_real *x_of(const chunk *ck, int b)
{
    const geom *g = ck->g;
    return ck->nd->x[0] + (size_t)(ck->b0 + b) * g->C * g->H * g->W;
}

/* The columns of image b of the chunk ([K, P] at row stride ck->ld). */
static sq_real *col_of(const chunk *ck, int b)
{
    const geom *g = ck->g;
    if (g->pointwise)
        return (sq_real *)x_of(ck, b);
    return ck->col + (g->direct ? (size_t)b * g->K * g->P : (size_t)b * g->P);
}

/* Images [i0, i1) of the chunk, forward. */
static void fwd_images(const chunk *ck, int i0, int i1)
{
    const geom *g = ck->g;
    sq_node *nd = ck->nd;
    const sq_real *w = nd->p[0].wq, *bias = nd->bias ? nd->p[1].wq : NULL;
    if (i0 >= i1)
        return;
    for (int b = i0; b < i1 && !g->pointwise; b++)
        im2col(g, x_of(ck, b), col_of(ck, b), ck->ld);
    if (g->direct) {
        for (int b = i0; b < i1; b++) {
            sq_real *y = nd->y + (size_t)(ck->b0 + b) * g->O * g->P;
            sq_gemm(0, 0, g->O, g->P, g->K, 1, w, g->K, col_of(ck, b), (int)ck->ld, 0, y, g->P);
            for (int o = 0; bias && o < g->O; o++)
                for (int i = 0; i < g->P; i++)
                    y[(size_t)o * g->P + i] += bias[o];
        }
        return;
    }
    size_t off = (size_t)i0 * g->P;
    sq_gemm(0, 0, g->O, (i1 - i0) * g->P, g->K, 1, w, g->K, ck->col + off, (int)ck->ld, 0,
            ck->out + off, (int)ck->ld);
    for (int b = i0; b < i1; b++)
        for (int o = 0; o < g->O; o++) {
            sq_real *y = nd->y + ((size_t)(ck->b0 + b) * g->O + o) * g->P;
            const sq_real *src = ck->out + (size_t)o * ck->ld + (size_t)b * g->P;
            sq_real bo = bias ? bias[o] : 0;
            for (int i = 0; i < g->P; i++)
                y[i] = src[i] + bo;
        }
}

/* dy of image b: [O, P] at row stride *ld. */
static const sq_real *dy_of(const chunk *ck, int b, size_t *ld)
{
    const geom *g = ck->g;
    if (g->direct) {
        *ld = (size_t)g->P;
        return ck->nd->dy + (size_t)(ck->b0 + b) * g->O * g->P;
    }
    *ld = ck->ld;
    return ck->out + (size_t)b * g->P;
}

/* Backward step 1 for images [i0, i1): unfold; batched: gather dy. */
static void bwd_unfold(const chunk *ck, int i0, int i1)
{
    const geom *g = ck->g;
    for (int b = i0; b < i1; b++) {
        if (!g->pointwise)
            im2col(g, x_of(ck, b), col_of(ck, b), ck->ld);
        if (!g->direct)
            for (int o = 0; o < g->O; o++)
                memcpy(ck->out + (size_t)o * ck->ld + (size_t)b * g->P,
                       ck->nd->dy + ((size_t)(ck->b0 + b) * g->O + o) * g->P,
                       sizeof(sq_real) * g->P);
    }
}

/* Backward step 2, the weight gradient's columns [k0, k1) (rows of col)
 * and the bias gradient of channels [o0, o1): dW[:, k0:k1] += dy col^T.
 * Splitting K rather than O lets each thread pack only its rows of col
 * (K = C*k*k is the large side) plus dy. */
static void bwd_weights(const chunk *ck, int k0, int k1, int o0, int o1)
{
    const geom *g = ck->g;
    sq_node *nd = ck->nd;
    sq_real *dw = nd->p[0].g + k0, *db = nd->bias ? nd->p[1].g : NULL;
    if (k0 < k1 && g->direct) {
        for (int b = 0; b < ck->nb; b++) {
            size_t ld;
            const sq_real *dy = dy_of(ck, b, &ld);
            sq_gemm(0, 1, g->O, k1 - k0, g->P, 1, dy, (int)ld, col_of(ck, b) + (size_t)k0 * g->P,
                    g->P, 1, dw, g->K);
        }
    } else if (k0 < k1) {
        sq_gemm(0, 1, g->O, k1 - k0, ck->nb * g->P, 1, ck->out, (int)ck->ld,
                ck->col + (size_t)k0 * ck->ld, (int)ck->ld, 1, dw, g->K);
    }
    for (int o = o0; db && o < o1; o++) {
        double s = 0;
        for (int b = 0; b < ck->nb; b++) {
            size_t ld;
            s += lane_sum(dy_of(ck, b, &ld) + (size_t)o * ld, (size_t)g->P);
        }
        db[o] += (sq_real)s;
    }
}

/* Backward step 3 for images [i0, i1): dx += fold(W^T dy). Overwrites the
 * images' columns, so every thread must be past step 2. */
static void bwd_input(const chunk *ck, int i0, int i1)
{
    const geom *g = ck->g;
    sq_node *nd = ck->nd;
    const sq_real *w = nd->p[0].wq;
    if (i0 >= i1 || !nd->dx[0])
        return;
    size_t cstride = (size_t)g->C * g->H * g->W;
    if (g->pointwise) { /* dx is col: accumulate straight into it */
        for (int b = i0; b < i1; b++) {
            size_t ld;
            const sq_real *dy = dy_of(ck, b, &ld);
            sq_gemm(1, 0, g->K, g->P, g->O, 1, w, g->K, dy, (int)ld, 1,
                    nd->dx[0] + (size_t)(ck->b0 + b) * cstride, g->P);
        }
        return;
    }
    if (g->direct) {
        for (int b = i0; b < i1; b++) {
            size_t ld;
            const sq_real *dy = dy_of(ck, b, &ld);
            sq_gemm(1, 0, g->K, g->P, g->O, 1, w, g->K, dy, (int)ld, 0, col_of(ck, b), g->P);
        }
    } else {
        size_t off = (size_t)i0 * g->P;
        sq_gemm(1, 0, g->K, (i1 - i0) * g->P, g->O, 1, w, g->K, ck->out + off, (int)ck->ld, 0,
                ck->col + off, (int)ck->ld);
    }
    for (int b = i0; b < i1; b++)
        col2im(g, col_of(ck, b), ck->ld, nd->dx[0] + (size_t)(ck->b0 + b) * cstride);
}

/* ---- the batch ---------------------------------------------------------- */

static int thread_id(void)
{
#ifdef _OPENMP
    return omp_get_thread_num();
#else
    return 0;
#endif
}

static int thread_count(void)
{
#ifdef _OPENMP
    return omp_get_num_threads();
#else
    return 1;
#endif
}

/* ---- the stencil path: k x k (3 or 5), stride 1, narrow outputs --------- */

/* GCC keeps a*b+c unfused under -std=c11; these kernels want FMAs. */
#if defined(__GNUC__) && !defined(__clang__)
#define FMA_KERNEL __attribute__((optimize("fp-contract=fast")))
#else
#define FMA_KERNEL
#endif

/* One register: AVX's 8 floats / 4 doubles, else SSE's half of that (the
 * blocks below are sized for 16 vector registers). */
#ifdef __AVX__
#define VBYTES 32
#else
#define VBYTES 16
#endif
typedef sq_real vec __attribute__((vector_size(VBYTES)));
enum { VL = VBYTES / sizeof(sq_real), OB = 6 /* output channels per block */ };

/* Unaligned vector load and store (macros: no vector passes a call). */
#define VLD(v, p) memcpy(&(v), (p), sizeof(vec))
#define VST(p, v) memcpy((p), &(v), sizeof(vec))
#define UNROLL _Pragma("GCC unroll 32")

static int round_ob(int n) { return (n + OB - 1) / OB * OB; }

/* src [n, H, W] -> dst [n, H+2q, W+2q] with a zero border of q. */
static void pad_planes(const sq_real *src, int n, int H, int W, int q, sq_real *dst)
{
    int Wp = W + 2 * q;
    for (int c = 0; c < n; c++) {
        sq_real *d = dst + (size_t)c * (H + 2 * q) * Wp;
        memset(d, 0, sizeof(sq_real) * Wp * q);
        for (int h = 0; h < H; h++) {
            sq_real *r = d + (size_t)(h + q) * Wp;
            for (int i = 0; i < q; i++)
                r[i] = r[W + q + i] = 0;
            memcpy(r + q, src + ((size_t)c * H + h) * W, sizeof(sq_real) * W);
        }
        memset(d + (size_t)(H + q) * Wp, 0, sizeof(sq_real) * Wp * q);
    }
}

/* The accumulators of OB output channels x NV vectors of output pixels,
 * over all Ci input channels and the KK x KK taps. in: input row oh at
 * column ow; the second vector starts vstep further (VL: the same row; Wp:
 * the next row, for rows narrower than two vectors); wt [Ci*KK*KK][CoP]
 * (tap-major, the block's channels contiguous). Unrolled so the OB*NV sums
 * stay in registers (12 of the 16 for NV = 2); each tap costs NV loads,
 * OB broadcasts and OB*NV FMAs. */
#define STENCIL_BLOCK(NV, KK)                                                           \
    FMA_KERNEL static void stencil_b##NV##_##KK(const sq_real *in, size_t plane, int Wp, \
                                                 int vstep, int Ci, const sq_real *wt,   \
                                                 int CoP, vec acc[OB][2])               \
    {                                                                                   \
        vec a[OB][NV];                                                                  \
        UNROLL for (int o = 0; o < OB; o++)                                             \
            UNROLL for (int v = 0; v < NV; v++)                                         \
                a[o][v] = (vec){0};                                                     \
        for (int c = 0; c < Ci; c++) {                                                  \
            const sq_real *r = in + c * plane, *w = wt + (size_t)c * KK * KK * CoP;     \
            UNROLL for (int t = 0; t < KK * KK; t++) {                                  \
                const sq_real *rt = r + (t / KK) * Wp + t % KK, *wk = w + t * CoP;      \
                vec x[NV];                                                              \
                UNROLL for (int v = 0; v < NV; v++)                                     \
                    VLD(x[v], rt + v * vstep);                                          \
                UNROLL for (int o = 0; o < OB; o++)                                     \
                    UNROLL for (int v = 0; v < NV; v++)                                 \
                        a[o][v] += wk[o] * x[v];                                        \
            }                                                                           \
        }                                                                               \
        UNROLL for (int o = 0; o < OB; o++)                                             \
            UNROLL for (int v = 0; v < NV; v++)                                         \
                acc[o][v] = a[o][v];                                                    \
    }
STENCIL_BLOCK(1, 3)
STENCIL_BLOCK(2, 3)
STENCIL_BLOCK(1, 5)
STENCIL_BLOCK(2, 5)

typedef void (*block_fn)(const sq_real *, size_t, int, int, int, const sq_real *, int,
                         vec[OB][2]);

/* out [Co, Ho, Wo] = (or += when add) the k x k valid correlation of
 * in [Ci, Hp, Wp] with wt [Ci*k*k][CoP] (CoP = Co rounded up to OB, zeros);
 * Ho = Hp-k+1, Wo = Wp-k+1. */
static void stencil(const sq_real *in, int Ci, int Hp, int Wp, int k, const sq_real *wt, int Co,
                    sq_real *out, int add)
{
    int Ho = Hp - k + 1, Wo = Wp - k + 1, CoP = round_ob(Co), kk = k * k;
    size_t plane = (size_t)Hp * Wp, ohw = (size_t)Ho * Wo;
    block_fn b1 = k == 3 ? stencil_b1_3 : stencil_b1_5, b2 = k == 3 ? stencil_b2_3 : stencil_b2_5;
    /* rows narrower than two vectors go in pairs: a block then holds the
     * same columns of two rows */
    int rows = Wo < 2 * VL && Ho > 1 ? 2 : 1;
    vec acc[OB][2];
    for (int o0 = 0; o0 < Co; o0 += OB) {
        int on = SQ_MIN(OB, Co - o0);
        for (int oh = 0; oh < Ho; oh += rows) {
            int nr = SQ_MIN(rows, Ho - oh);
            const sq_real *row = in + (size_t)oh * Wp;
            sq_real *orow = out + ((size_t)o0 * Ho + oh) * Wo;
            for (int ow = 0; ow < Wo;) {
                int nv = Wo - ow >= 2 * VL ? 2 : Wo - ow >= VL ? 1 : 0;
                if (nv == 0 && Wo >= VL) {
                    /* the last Wo-ow pixels: a vector ending at the row's end,
                     * of which only the lanes not stored yet are kept */
                    int from = Wo - VL;
                    if (nr == 2)
                        b2(row + from, plane, Wp, Wp, Ci, wt + o0, CoP, acc);
                    else
                        b1(row + from, plane, Wp, VL, Ci, wt + o0, CoP, acc);
                    for (int r = 0; r < nr; r++)
                        for (int o = 0; o < on; o++)
                            for (int i = ow; i < Wo; i++) {
                                sq_real *d = orow + o * ohw + (size_t)r * Wo + i;
                                *d = (add ? *d : 0) + acc[o][r][i - from];
                            }
                    break;
                }
                if (nv == 0) { /* a row narrower than one vector: scalar */
                    for (int r = 0; r < nr; r++)
                        for (int o = 0; o < on; o++)
                            for (int i = ow; i < Wo; i++) {
                                sq_real s = 0;
                                for (int c = 0; c < Ci; c++)
                                    for (int t = 0; t < kk; t++)
                                        s += wt[((size_t)c * kk + t) * CoP + o0 + o] *
                                             row[c * plane + (size_t)(r + t / k) * Wp + i + t % k];
                                sq_real *d = orow + o * ohw + (size_t)r * Wo + i;
                                *d = add ? *d + s : s;
                            }
                    break;
                }
                if (nr == 2) /* nv is 1: the same VL columns of both rows */
                    b2(row + ow, plane, Wp, Wp, Ci, wt + o0, CoP, acc);
                else
                    (nv == 2 ? b2 : b1)(row + ow, plane, Wp, VL, Ci, wt + o0, CoP, acc);
                for (int o = 0; o < on; o++)
                    for (int v = 0; v < SQ_MAX(nv, nr); v++) {
                        sq_real *d = orow + o * ohw + ow + (nr == 2 ? (size_t)v * Wo : (size_t)v * VL);
                        vec old;
                        if (add) {
                            VLD(old, d);
                            acc[o][v] += old;
                        }
                        VST(d, acc[o][v]);
                    }
                ow += nv * VL;
            }
        }
    }
}

/* dw [O][C][k*k] += sum over nb images and their output pixels of dy
 * [O, Ho, Wo] (images ys apart) times the shifted rows of xp [C, Hp, Wp]
 * (images xs apart), for input channels [c0, c1). Blocks of 4 outputs x 3
 * taps of one kernel row stay in vector registers over all nb images, then
 * are summed across lanes (a block past O or past the row's taps
 * recomputes a valid one and drops it). */
FMA_KERNEL static void stencil_dw(const sq_real *xp, size_t xs, int Hp, int Wp, int k,
                                  const sq_real *dy, size_t ys, int nb, int Ho, int Wo, int O,
                                  int C, int c0, int c1, sq_real *dw)
{
    enum { WB = 4 };
    int nvec = Wo / VL * VL, kk = k * k, tail = Wo >= VL && nvec < Wo;
    size_t plane = (size_t)Hp * Wp, hw = (size_t)Ho * Wo;
    vec mask; /* the tail: a vector ending at the row's end, its new lanes */
    for (int l = 0; l < VL; l++)
        mask[l] = l >= VL - (Wo - nvec) ? 1 : 0;
    for (int c = c0; c < c1; c++)
        for (int ki = 0; ki < k; ki++)
            for (int kj0 = 0; kj0 < k; kj0 += 3)
                for (int o0 = 0; o0 < O; o0 += WB) {
                    int j[3];
                    for (int t = 0; t < 3; t++)
                        j[t] = SQ_MIN(kj0 + t, k - 1);
                    vec a[WB][3];
                    sq_real s[WB][3];
                    memset(a, 0, sizeof a);
                    memset(s, 0, sizeof s);
                    for (int b = 0; b < nb; b++) {
                        const sq_real *d[WB];
                        for (int o = 0; o < WB; o++)
                            d[o] = dy + b * ys + (size_t)SQ_MIN(o0 + o, O - 1) * hw;
                        for (int oh = 0; oh < Ho; oh++) {
                            const sq_real *xr = xp + b * xs + c * plane + (size_t)(oh + ki) * Wp;
                            size_t ro = (size_t)oh * Wo;
                            for (int ow = 0; ow < nvec; ow += VL) {
                                vec x0, x1, x2;
                                VLD(x0, xr + ow + j[0]);
                                VLD(x1, xr + ow + j[1]);
                                VLD(x2, xr + ow + j[2]);
                                UNROLL for (int o = 0; o < WB; o++) {
                                    vec dv;
                                    VLD(dv, d[o] + ro + ow);
                                    a[o][0] += dv * x0;
                                    a[o][1] += dv * x1;
                                    a[o][2] += dv * x2;
                                }
                            }
                            if (tail) {
                                int ow = Wo - VL;
                                vec x0, x1, x2;
                                VLD(x0, xr + ow + j[0]);
                                VLD(x1, xr + ow + j[1]);
                                VLD(x2, xr + ow + j[2]);
                                UNROLL for (int o = 0; o < WB; o++) {
                                    vec dv;
                                    VLD(dv, d[o] + ro + ow);
                                    dv *= mask;
                                    a[o][0] += dv * x0;
                                    a[o][1] += dv * x1;
                                    a[o][2] += dv * x2;
                                }
                            } else {
                                for (int ow = nvec; ow < Wo; ow++)
                                    for (int o = 0; o < WB; o++)
                                        for (int t = 0; t < 3; t++)
                                            s[o][t] += d[o][ro + ow] * xr[ow + j[t]];
                            }
                        }
                    }
                    for (int o = 0; o < WB && o0 + o < O; o++)
                        for (int t = 0; t < 3 && kj0 + t < k; t++) {
                            sq_real sum = s[o][t];
                            for (int l = 0; l < VL; l++)
                                sum += a[o][t][l];
                            dw[((size_t)(o0 + o) * C + c) * kk + ki * k + kj0 + t] += sum;
                        }
                }
}

/* Sizes of the stencil path: x padded by p, dy by k-1-p (dx is the full
 * correlation of dy with the flipped kernel). */
static int xpad_h(const geom *g) { return g->H + 2 * g->p; }
static int xpad_w(const geom *g) { return g->W + 2 * g->p; }
static int dpad(const geom *g) { return g->k - 1 - g->p; }
static size_t xplane(const geom *g) { return (size_t)xpad_h(g) * xpad_w(g); }
static size_t dplane(const geom *g)
{
    return (size_t)(g->Ho + 2 * dpad(g)) * (g->Wo + 2 * dpad(g));
}

/* Scratch of the stencil path: the weights for forward [K][OP] and for dx
 * [O*k*k][CP], then the padded x of every image and the padded dy. */
static size_t stencil_fixed(const geom *g)
{
    return (size_t)g->K * round_ob(g->O) + (size_t)g->O * g->k * g->k * round_ob(g->C);
}

static size_t stencil_per_image(const geom *g)
{
    return (size_t)g->C * xplane(g) + (size_t)g->O * dplane(g);
}

static void stencil_layer(sq_node *nd, int backward)
{
    geom g = geometry(nd);
    int B = nd->B, OP = round_ob(g.O), CP = round_ob(g.C), kk = g.k * g.k, q = dpad(&g);
    int T = SQ_MAX(1, SQ_MIN(nd->threads, B));
    (void)T; /* unused without OpenMP */
    const sq_real *w = nd->p[0].wq, *bias = nd->bias ? nd->p[1].wq : NULL;
    sq_real *wf = nd->ws, *wd = wf + (size_t)g.K * OP, *xp = wd + (size_t)g.O * kk * CP;
    sq_real *dyp = xp + (size_t)B * g.C * xplane(&g);
    size_t xs = (size_t)g.C * g.H * g.W, ys = (size_t)g.O * g.P;
    size_t xps = (size_t)g.C * xplane(&g), dps = (size_t)g.O * dplane(&g);
    if (!backward) { /* wf[(c*kk+t)][o] = W[o][c][t] */
        memset(wf, 0, sizeof(sq_real) * g.K * OP);
        for (int o = 0; o < g.O; o++)
            for (int i = 0; i < g.K; i++)
                wf[(size_t)i * OP + o] = w[(size_t)o * g.K + i];
    } else { /* wd[(o*kk+t)][c] = W[o][c][kk-1-t]: the flipped kernel */
        memset(wd, 0, sizeof(sq_real) * g.O * kk * CP);
        for (int o = 0; o < g.O; o++)
            for (int c = 0; c < g.C; c++)
                for (int t = 0; t < kk; t++)
                    wd[((size_t)o * kk + t) * CP + c] = w[((size_t)o * g.C + c) * kk + kk - 1 - t];
    }
#pragma omp parallel num_threads(T) if (T > 1)
    {
        int t = thread_id(), nt = thread_count(), i0 = B * t / nt, i1 = B * (t + 1) / nt;
        for (int b = i0; b < i1; b++)
            pad_planes(nd->x[0] + b * xs, g.C, g.H, g.W, g.p, xp + b * xps);
        for (int b = i0; b < i1 && !backward; b++) {
            sq_real *y = nd->y + b * ys;
            stencil(xp + b * xps, g.C, xpad_h(&g), xpad_w(&g), g.k, wf, g.O, y, 0);
            for (int o = 0; bias && o < g.O; o++)
                for (int i = 0; i < g.P; i++)
                    y[(size_t)o * g.P + i] += bias[o];
        }
        if (backward) {
            for (int b = i0; b < i1 && nd->dx[0]; b++)
                pad_planes(nd->dy + b * ys, g.O, g.Ho, g.Wo, q, dyp + b * dps);
#pragma omp barrier
            /* dW: images in groups whose rows of one channel and 4 outputs
             * stay in L2 (about 64K reals), fewer cross-lane sums */
            int c0 = g.C * t / nt, c1 = g.C * (t + 1) / nt;
            int group = (int)SQ_MAX(1, (64u << 10) / (xplane(&g) + 4 * (size_t)g.P));
            for (int b = 0; b < B; b += group)
                stencil_dw(xp + b * xps, xps, xpad_h(&g), xpad_w(&g), g.k, nd->dy + b * ys, ys,
                           SQ_MIN(group, B - b), g.Ho, g.Wo, g.O, g.C, c0, c1, nd->p[0].g);
            for (int o = g.O * t / nt; bias && o < g.O * (t + 1) / nt; o++) {
                double sum = 0;
                for (int b = 0; b < B; b++)
                    sum += lane_sum(nd->dy + b * ys + (size_t)o * g.P, (size_t)g.P);
                nd->p[1].g[o] += (sq_real)sum;
            }
            for (int b = i0; b < i1 && nd->dx[0]; b++)
                stencil(dyp + b * dps, g.O, g.Ho + 2 * q, g.Wo + 2 * q, g.k, wd, g.C,
                        nd->dx[0] + b * xs, 1);
        }
    }
}

static chunk make_chunk(const geom *g, sq_node *nd, int b0, int nb)
{
    chunk ck = {g, nd, b0, nb, g->direct ? (size_t)g->P : (size_t)nb * g->P, nd->ws, NULL};
    if (!g->direct)
        ck.out = nd->ws + (g->pointwise ? 0 : (size_t)g->K * nb * g->P);
    return ck;
}

/* Run the layer's chunks, on T threads with single-threaded GEMMs when every
 * chunk has at least T images, otherwise on one thread with OpenBLAS's
 * threads. */
static void run_layer(sq_node *nd, int backward)
{
    geom g = geometry(nd);
    int T = SQ_MAX(1, nd->threads), nb = chunk_size(&g, nd->B, T);
    int blas = openblas_get_num_threads();
    if (nb < T || nd->B < T)
        T = 1;
    if (T > 1 && blas != 1)
        openblas_set_num_threads(1);
#pragma omp parallel num_threads(T) if (T > 1)
    {
        int t = thread_id(), nt = thread_count();
        for (int b0 = 0; b0 < nd->B; b0 += nb) {
            chunk ck = make_chunk(&g, nd, b0, SQ_MIN(nb, nd->B - b0));
            int i0 = ck.nb * t / nt, i1 = ck.nb * (t + 1) / nt;
            if (!backward) {
                fwd_images(&ck, i0, i1);
#pragma omp barrier
                continue; /* the next chunk splits the scratch differently */
            }
            bwd_unfold(&ck, i0, i1);
#pragma omp barrier
            bwd_weights(&ck, g.K * t / nt, g.K * (t + 1) / nt, g.O * t / nt, g.O * (t + 1) / nt);
#pragma omp barrier
            bwd_input(&ck, i0, i1);
#pragma omp barrier
        }
    }
    if (T > 1 && blas != 1)
        openblas_set_num_threads(blas);
}

/* x [B, C, H, W] -> y [B, O, Ho, Wo] */
static void conv_forward(sq_node *nd)
{
    if (geometry(nd).stencil_fwd)
        stencil_layer(nd, 0);
    else
        run_layer(nd, 0);
}

/* dy [B, O, Ho, Wo] -> dW [O, K] +=, dbias [O] +=, dx [B, C, H, W] += */
static void conv_backward(sq_node *nd)
{
    if (geometry(nd).stencil_bwd)
        stencil_layer(nd, 1);
    else
        run_layer(nd, 1);
}

const sq_layer_ops sq_conv2d_ops = {"conv2d", conv_setup, conv_init, conv_forward, conv_backward};

int sq_conv2d(sq_net *net, const char *name, int in, int out_c, int k, int stride, int pad, int bias)
{
    sq_node h = {0};
    h.out_c = out_c, h.k = k, h.stride = stride, h.pad = pad, h.bias = bias;
    return sq_net_add(net, &sq_conv2d_ops, name, &in, 1, &h);
}
