/* gemm.h - row-major GEMM on sq_real through OpenBLAS (sgemm, or dgemm in
 * the double-precision build): C = alpha * op(A) op(B) + beta * C. */
#ifndef SQ_GEMM_H
#define SQ_GEMM_H

#include <cblas.h>
#include "sq.h"

static inline void sq_gemm(int ta, int tb, int M, int N, int K, sq_real alpha, const sq_real *A,
                           int lda, const sq_real *B, int ldb, sq_real beta, sq_real *C, int ldc)
{
#ifdef SQ_F64
    cblas_dgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans, M, N,
                K, alpha, A, lda, B, ldb, beta, C, ldc);
#else
    cblas_sgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans, M, N,
                K, alpha, A, lda, B, ldb, beta, C, ldc);
#endif
}

#endif
