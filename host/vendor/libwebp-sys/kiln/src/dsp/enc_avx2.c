// Copyright 2026 the Kiln authors, for libwebp and under its terms: the
// BSD-style license in the COPYING file in the root of the source tree, and
// the additional intellectual property rights grant in the file PATENTS.
// -----------------------------------------------------------------------------
//
// AVX2 version of the intra-4x4 mode search's candidates: two at once, one
// per 128-bit lane. Every step is the SSE2/SSE4.1 code of enc_sse2.c and
// enc_sse41.c (FTransform, QuantizeBlock, ITransform, SSE4x4, Disto4x4) with
// its 128-bit operations widened to 256 bits; each of them works within a
// lane, so each lane computes exactly what that code computes for one block.

#include "src/dsp/dsp.h"

#if defined(WEBP_USE_AVX2)
#include <immintrin.h>
#include <stdlib.h>  // for abs()

#include "src/dsp/cpu.h"
#include "src/enc/vp8i_enc.h"
#include "src/utils/utils.h"
#include "src/webp/types.h"

// The same 128-bit value in both lanes.
#define BOTH(x) _mm256_broadcastsi128_si256(x)

// Row 'y' of two 4x4 blocks, 32 bits in the low end of each lane.
static WEBP_INLINE __m256i LoadRow_AVX2(const uint8_t* WEBP_RESTRICT a,
                                        const uint8_t* WEBP_RESTRICT b,
                                        int y) {
  const __m128i lo = _mm_cvtsi32_si128(WebPMemToInt32(&a[y * BPS]));
  const __m128i hi = _mm_cvtsi32_si128(WebPMemToInt32(&b[y * BPS]));
  return _mm256_inserti128_si256(_mm256_castsi128_si256(lo), hi, 1);
}

// FTransformPass1_SSE2.
static WEBP_INLINE void FTransformPass1_AVX2(const __m256i* const in01,
                                             const __m256i* const in23,
                                             __m256i* const out01,
                                             __m256i* const out32) {
  const __m256i k937 = _mm256_set1_epi32(937);
  const __m256i k1812 = _mm256_set1_epi32(1812);
  const __m256i k88p = _mm256_set1_epi16(8);
  const __m256i k88m = BOTH(_mm_set_epi16(-8, 8, -8, 8, -8, 8, -8, 8));
  const __m256i k5352_2217p = BOTH(_mm_set_epi16(2217, 5352, 2217, 5352,
                                                 2217, 5352, 2217, 5352));
  const __m256i k5352_2217m = BOTH(_mm_set_epi16(-5352, 2217, -5352, 2217,
                                                 -5352, 2217, -5352, 2217));
  const __m256i shuf01_p =
      _mm256_shufflehi_epi16(*in01, _MM_SHUFFLE(2, 3, 0, 1));
  const __m256i shuf23_p =
      _mm256_shufflehi_epi16(*in23, _MM_SHUFFLE(2, 3, 0, 1));
  const __m256i s01 = _mm256_unpacklo_epi64(shuf01_p, shuf23_p);
  const __m256i s32 = _mm256_unpackhi_epi64(shuf01_p, shuf23_p);
  const __m256i a01 = _mm256_add_epi16(s01, s32);
  const __m256i a32 = _mm256_sub_epi16(s01, s32);
  const __m256i tmp0 = _mm256_madd_epi16(a01, k88p);
  const __m256i tmp2 = _mm256_madd_epi16(a01, k88m);
  const __m256i tmp1_1 = _mm256_madd_epi16(a32, k5352_2217p);
  const __m256i tmp3_1 = _mm256_madd_epi16(a32, k5352_2217m);
  const __m256i tmp1_2 = _mm256_add_epi32(tmp1_1, k1812);
  const __m256i tmp3_2 = _mm256_add_epi32(tmp3_1, k937);
  const __m256i tmp1 = _mm256_srai_epi32(tmp1_2, 9);
  const __m256i tmp3 = _mm256_srai_epi32(tmp3_2, 9);
  const __m256i s03 = _mm256_packs_epi32(tmp0, tmp2);
  const __m256i s12 = _mm256_packs_epi32(tmp1, tmp3);
  const __m256i s_lo = _mm256_unpacklo_epi16(s03, s12);
  const __m256i s_hi = _mm256_unpackhi_epi16(s03, s12);
  const __m256i v23 = _mm256_unpackhi_epi32(s_lo, s_hi);
  *out01 = _mm256_unpacklo_epi32(s_lo, s_hi);
  *out32 = _mm256_shuffle_epi32(v23, _MM_SHUFFLE(1, 0, 3, 2));
}

// FTransformPass2Regs_SSE2.
static WEBP_INLINE void FTransformPass2_AVX2(const __m256i* const v01,
                                             const __m256i* const v32,
                                             __m256i* const out0,
                                             __m256i* const out8) {
  const __m256i zero = _mm256_setzero_si256();
  const __m256i seven = _mm256_set1_epi16(7);
  const __m256i k5352_2217 = BOTH(_mm_set_epi16(5352, 2217, 5352, 2217,
                                                5352, 2217, 5352, 2217));
  const __m256i k2217_5352 = BOTH(_mm_set_epi16(2217, -5352, 2217, -5352,
                                                2217, -5352, 2217, -5352));
  const __m256i k12000_plus_one = _mm256_set1_epi32(12000 + (1 << 16));
  const __m256i k51000 = _mm256_set1_epi32(51000);
  const __m256i a32 = _mm256_sub_epi16(*v01, *v32);
  const __m256i a22 = _mm256_unpackhi_epi64(a32, a32);
  const __m256i b23 = _mm256_unpacklo_epi16(a22, a32);
  const __m256i c1 = _mm256_madd_epi16(b23, k5352_2217);
  const __m256i c3 = _mm256_madd_epi16(b23, k2217_5352);
  const __m256i d1 = _mm256_add_epi32(c1, k12000_plus_one);
  const __m256i d3 = _mm256_add_epi32(c3, k51000);
  const __m256i e1 = _mm256_srai_epi32(d1, 16);
  const __m256i e3 = _mm256_srai_epi32(d3, 16);
  const __m256i f1 = _mm256_packs_epi32(e1, e1);
  const __m256i f3 = _mm256_packs_epi32(e3, e3);
  const __m256i g1 = _mm256_add_epi16(f1, _mm256_cmpeq_epi16(a32, zero));
  const __m256i a01 = _mm256_add_epi16(*v01, *v32);
  const __m256i a01_plus_7 = _mm256_add_epi16(a01, seven);
  const __m256i a11 = _mm256_unpackhi_epi64(a01, a01);
  const __m256i c0 = _mm256_add_epi16(a01_plus_7, a11);
  const __m256i c2 = _mm256_sub_epi16(a01_plus_7, a11);
  const __m256i d0 = _mm256_srai_epi16(c0, 4);
  const __m256i d2 = _mm256_srai_epi16(c2, 4);
  *out0 = _mm256_unpacklo_epi64(d0, g1);
  *out8 = _mm256_unpacklo_epi64(d2, f3);
}

// FTransformRegs_SSE2, from rows loaded by LoadRow_AVX2.
static WEBP_INLINE void FTransform_AVX2(const __m256i src[4],
                                        const __m256i ref[4],
                                        __m256i* const out0,
                                        __m256i* const out8) {
  const __m256i zero = _mm256_setzero_si256();
  const __m256i src_0 = _mm256_unpacklo_epi16(src[0], src[1]);
  const __m256i src_1 = _mm256_unpacklo_epi16(src[2], src[3]);
  const __m256i ref_0 = _mm256_unpacklo_epi16(ref[0], ref[1]);
  const __m256i ref_1 = _mm256_unpacklo_epi16(ref[2], ref[3]);
  const __m256i row01 = _mm256_sub_epi16(_mm256_unpacklo_epi8(src_0, zero),
                                         _mm256_unpacklo_epi8(ref_0, zero));
  const __m256i row23 = _mm256_sub_epi16(_mm256_unpacklo_epi8(src_1, zero),
                                         _mm256_unpacklo_epi8(ref_1, zero));
  __m256i v01, v32;
  FTransformPass1_AVX2(&row01, &row23, &v01, &v32);
  FTransformPass2_AVX2(&v01, &v32, out0, out8);
}

// DoQuantizeBlock_SSE41 with sharpening: the levels, in zigzag order, go to
// 'out_z0' and 'out_z8', and *in0 and *in8 become the dequantized values.
// Returns the two blocks' movemask of zero levels (16 bits each).
static WEBP_INLINE uint32_t Quantize_AVX2(__m256i* const in0,
                                          __m256i* const in8,
                                          __m256i* const out_z0,
                                          __m256i* const out_z8,
                                          const VP8Matrix* const mtx) {
  const __m256i max_coeff_2047 = _mm256_set1_epi16(MAX_LEVEL);
  const __m256i zero = _mm256_setzero_si256();
  const __m256i iq0 = BOTH(_mm_loadu_si128((const __m128i*)&mtx->iq[0]));
  const __m256i iq8 = BOTH(_mm_loadu_si128((const __m128i*)&mtx->iq[8]));
  const __m256i q0 = BOTH(_mm_loadu_si128((const __m128i*)&mtx->q[0]));
  const __m256i q8 = BOTH(_mm_loadu_si128((const __m128i*)&mtx->q[8]));
  const __m256i sharpen0 =
      BOTH(_mm_loadu_si128((const __m128i*)&mtx->sharpen[0]));
  const __m256i sharpen8 =
      BOTH(_mm_loadu_si128((const __m128i*)&mtx->sharpen[8]));
  const __m256i coeff0 = _mm256_add_epi16(_mm256_abs_epi16(*in0), sharpen0);
  const __m256i coeff8 = _mm256_add_epi16(_mm256_abs_epi16(*in8), sharpen8);
  __m256i out0, out8;
  {
    const __m256i coeff_iQ0H = _mm256_mulhi_epu16(coeff0, iq0);
    const __m256i coeff_iQ0L = _mm256_mullo_epi16(coeff0, iq0);
    const __m256i coeff_iQ8H = _mm256_mulhi_epu16(coeff8, iq8);
    const __m256i coeff_iQ8L = _mm256_mullo_epi16(coeff8, iq8);
    __m256i out_00 = _mm256_unpacklo_epi16(coeff_iQ0L, coeff_iQ0H);
    __m256i out_04 = _mm256_unpackhi_epi16(coeff_iQ0L, coeff_iQ0H);
    __m256i out_08 = _mm256_unpacklo_epi16(coeff_iQ8L, coeff_iQ8H);
    __m256i out_12 = _mm256_unpackhi_epi16(coeff_iQ8L, coeff_iQ8H);
    const __m256i bias_00 =
        BOTH(_mm_loadu_si128((const __m128i*)&mtx->bias[0]));
    const __m256i bias_04 =
        BOTH(_mm_loadu_si128((const __m128i*)&mtx->bias[4]));
    const __m256i bias_08 =
        BOTH(_mm_loadu_si128((const __m128i*)&mtx->bias[8]));
    const __m256i bias_12 =
        BOTH(_mm_loadu_si128((const __m128i*)&mtx->bias[12]));
    out_00 = _mm256_srai_epi32(_mm256_add_epi32(out_00, bias_00), QFIX);
    out_04 = _mm256_srai_epi32(_mm256_add_epi32(out_04, bias_04), QFIX);
    out_08 = _mm256_srai_epi32(_mm256_add_epi32(out_08, bias_08), QFIX);
    out_12 = _mm256_srai_epi32(_mm256_add_epi32(out_12, bias_12), QFIX);
    out0 = _mm256_min_epi16(_mm256_packs_epi32(out_00, out_04),
                            max_coeff_2047);
    out8 = _mm256_min_epi16(_mm256_packs_epi32(out_08, out_12),
                            max_coeff_2047);
  }
  out0 = _mm256_sign_epi16(out0, *in0);
  out8 = _mm256_sign_epi16(out8, *in8);
  *in0 = _mm256_mullo_epi16(out0, q0);
  *in8 = _mm256_mullo_epi16(out8, q8);
  {
    // The zigzag of DoQuantizeBlock_SSE41 (PSHUFB_CST there).
#define PSHUFB_CST(A, B, C, D, E, F, G, H)                              \
  BOTH(_mm_set_epi8(2 * (H) + 1, 2 * (H) + 0, 2 * (G) + 1, 2 * (G) + 0, \
                    2 * (F) + 1, 2 * (F) + 0, 2 * (E) + 1, 2 * (E) + 0, \
                    2 * (D) + 1, 2 * (D) + 0, 2 * (C) + 1, 2 * (C) + 0, \
                    2 * (B) + 1, 2 * (B) + 0, 2 * (A) + 1, 2 * (A) + 0))
    const __m256i kCst_lo = PSHUFB_CST(0, 1, 4, -1, 5, 2, 3, 6);
    const __m256i kCst_7 = PSHUFB_CST(-1, -1, -1, -1, 7, -1, -1, -1);
    const __m256i kCst_hi = PSHUFB_CST(1, 4, 5, 2, -1, 3, 6, 7);
    const __m256i kCst_8 = PSHUFB_CST(-1, -1, -1, 0, -1, -1, -1, -1);
#undef PSHUFB_CST
    const __m256i tmp_lo = _mm256_shuffle_epi8(out0, kCst_lo);
    const __m256i tmp_7 = _mm256_shuffle_epi8(out0, kCst_7);
    const __m256i tmp_hi = _mm256_shuffle_epi8(out8, kCst_hi);
    const __m256i tmp_8 = _mm256_shuffle_epi8(out8, kCst_8);
    *out_z0 = _mm256_or_si256(tmp_lo, tmp_8);
    *out_z8 = _mm256_or_si256(tmp_hi, tmp_7);
  }
  return (uint32_t)_mm256_movemask_epi8(
      _mm256_cmpeq_epi8(_mm256_packs_epi16(*out_z0, *out_z8), zero));
}

// ITransformOneRegs_SSE2 with the predictions 'ref' as LoadRow_AVX2 loads
// them: the two reconstructed blocks, 16 bytes (4 rows) per lane.
static WEBP_INLINE __m256i ITransform_AVX2(const __m256i ref[4],
                                           const __m256i in01,
                                           const __m256i in23) {
  const __m256i k1k2 = BOTH(_mm_set_epi16(-30068, -30068, -30068, -30068,
                                          20091, 20091, 20091, 20091));
  const __m256i k2k1 = BOTH(_mm_set_epi16(20091, 20091, 20091, 20091,
                                          -30068, -30068, -30068, -30068));
  const __m256i zero = _mm256_setzero_si256();
  const __m256i zero_four = BOTH(_mm_set_epi16(0, 0, 0, 0, 4, 4, 4, 4));
  __m256i T01, T23;
  {
    const __m256i in1 = _mm256_unpackhi_epi64(in01, in01);
    const __m256i in3 = _mm256_unpackhi_epi64(in23, in23);
    const __m256i a_d3 = _mm256_add_epi16(in01, in23);
    const __m256i b_c3 = _mm256_sub_epi16(in01, in23);
    const __m256i c1d1 = _mm256_mulhi_epi16(in1, k2k1);
    const __m256i c2d2 = _mm256_mulhi_epi16(in3, k1k2);
    const __m256i c3 = _mm256_unpackhi_epi64(b_c3, b_c3);
    const __m256i c4 = _mm256_sub_epi16(c1d1, c2d2);
    const __m256i c = _mm256_add_epi16(c3, c4);
    const __m256i d4u = _mm256_add_epi16(c1d1, c2d2);
    const __m256i du = _mm256_add_epi16(a_d3, d4u);
    const __m256i d = _mm256_unpackhi_epi64(du, du);
    const __m256i comb_ab = _mm256_unpacklo_epi64(a_d3, b_c3);
    const __m256i comb_dc = _mm256_unpacklo_epi64(d, c);
    const __m256i tmp01 = _mm256_add_epi16(comb_ab, comb_dc);
    const __m256i tmp32 = _mm256_sub_epi16(comb_ab, comb_dc);
    const __m256i tmp23 =
        _mm256_shuffle_epi32(tmp32, _MM_SHUFFLE(1, 0, 3, 2));
    const __m256i transpose_0 = _mm256_unpacklo_epi16(tmp01, tmp23);
    const __m256i transpose_1 = _mm256_unpackhi_epi16(tmp01, tmp23);
    T01 = _mm256_unpacklo_epi16(transpose_0, transpose_1);
    T23 = _mm256_unpackhi_epi16(transpose_0, transpose_1);
  }
  {
    const __m256i T1 = _mm256_unpackhi_epi64(T01, T01);
    const __m256i T3 = _mm256_unpackhi_epi64(T23, T23);
    const __m256i dc = _mm256_add_epi16(T01, zero_four);
    const __m256i a_d3 = _mm256_add_epi16(dc, T23);
    const __m256i b_c3 = _mm256_sub_epi16(dc, T23);
    const __m256i c1d1 = _mm256_mulhi_epi16(T1, k2k1);
    const __m256i c2d2 = _mm256_mulhi_epi16(T3, k1k2);
    const __m256i c3 = _mm256_unpackhi_epi64(b_c3, b_c3);
    const __m256i c4 = _mm256_sub_epi16(c1d1, c2d2);
    const __m256i c = _mm256_add_epi16(c3, c4);
    const __m256i d4u = _mm256_add_epi16(c1d1, c2d2);
    const __m256i du = _mm256_add_epi16(a_d3, d4u);
    const __m256i d = _mm256_unpackhi_epi64(du, du);
    const __m256i comb_ab = _mm256_unpacklo_epi64(a_d3, b_c3);
    const __m256i comb_dc = _mm256_unpacklo_epi64(d, c);
    const __m256i tmp01 = _mm256_add_epi16(comb_ab, comb_dc);
    const __m256i tmp32 = _mm256_sub_epi16(comb_ab, comb_dc);
    const __m256i tmp23 =
        _mm256_shuffle_epi32(tmp32, _MM_SHUFFLE(1, 0, 3, 2));
    const __m256i shifted01 = _mm256_srai_epi16(tmp01, 3);
    const __m256i shifted23 = _mm256_srai_epi16(tmp23, 3);
    const __m256i transpose_0 = _mm256_unpacklo_epi16(shifted01, shifted23);
    const __m256i transpose_1 = _mm256_unpackhi_epi16(shifted01, shifted23);
    T01 = _mm256_unpacklo_epi16(transpose_0, transpose_1);
    T23 = _mm256_unpackhi_epi16(transpose_0, transpose_1);
  }
  {
    const __m256i ref01 = _mm256_unpacklo_epi8(
        _mm256_unpacklo_epi32(ref[0], ref[1]), zero);
    const __m256i ref23 = _mm256_unpacklo_epi8(
        _mm256_unpacklo_epi32(ref[2], ref[3]), zero);
    return _mm256_packus_epi16(_mm256_add_epi16(ref01, T01),
                               _mm256_add_epi16(ref23, T23));
  }
}

// Sum of the four 32-bit values of each lane.
static WEBP_INLINE __m256i HorizontalSums_AVX2(const __m256i sum) {
  const __m256i sum2 =
      _mm256_add_epi32(sum, _mm256_shuffle_epi32(sum, _MM_SHUFFLE(1, 0, 3, 2)));
  return _mm256_add_epi32(sum2,
                          _mm256_shuffle_epi32(sum2, _MM_SHUFFLE(2, 3, 0, 1)));
}

// TTransform_SSE41 of 'src' (both lanes) and of the reconstructions 'rec'.
static WEBP_INLINE __m256i TTransform_AVX2(const __m256i src0123,
                                           const __m256i rec,
                                           const uint16_t* const w) {
  const __m256i zero = _mm256_setzero_si256();
  const __m256i inAB_01 = _mm256_unpacklo_epi32(src0123, rec);
  const __m256i inAB_23 = _mm256_unpackhi_epi32(src0123, rec);
  __m256i tmp_0 = _mm256_unpacklo_epi8(inAB_01, zero);
  __m256i tmp_1 = _mm256_unpackhi_epi8(inAB_01, zero);
  __m256i tmp_2 = _mm256_unpacklo_epi8(inAB_23, zero);
  __m256i tmp_3 = _mm256_unpackhi_epi8(inAB_23, zero);
  {
    const __m256i a0 = _mm256_add_epi16(tmp_0, tmp_2);
    const __m256i a1 = _mm256_add_epi16(tmp_1, tmp_3);
    const __m256i a2 = _mm256_sub_epi16(tmp_1, tmp_3);
    const __m256i a3 = _mm256_sub_epi16(tmp_0, tmp_2);
    const __m256i b0 = _mm256_add_epi16(a0, a1);
    const __m256i b1 = _mm256_add_epi16(a3, a2);
    const __m256i b2 = _mm256_sub_epi16(a3, a2);
    const __m256i b3 = _mm256_sub_epi16(a0, a1);
    // VP8Transpose_2_4x4_16b.
    const __m256i transpose0_0 = _mm256_unpacklo_epi16(b0, b1);
    const __m256i transpose0_1 = _mm256_unpacklo_epi16(b2, b3);
    const __m256i transpose0_2 = _mm256_unpackhi_epi16(b0, b1);
    const __m256i transpose0_3 = _mm256_unpackhi_epi16(b2, b3);
    const __m256i transpose1_0 =
        _mm256_unpacklo_epi32(transpose0_0, transpose0_1);
    const __m256i transpose1_1 =
        _mm256_unpacklo_epi32(transpose0_2, transpose0_3);
    const __m256i transpose1_2 =
        _mm256_unpackhi_epi32(transpose0_0, transpose0_1);
    const __m256i transpose1_3 =
        _mm256_unpackhi_epi32(transpose0_2, transpose0_3);
    tmp_0 = _mm256_unpacklo_epi64(transpose1_0, transpose1_1);
    tmp_1 = _mm256_unpackhi_epi64(transpose1_0, transpose1_1);
    tmp_2 = _mm256_unpacklo_epi64(transpose1_2, transpose1_3);
    tmp_3 = _mm256_unpackhi_epi64(transpose1_2, transpose1_3);
  }
  {
    const __m256i w_0 = BOTH(_mm_loadu_si128((const __m128i*)&w[0]));
    const __m256i w_8 = BOTH(_mm_loadu_si128((const __m128i*)&w[8]));
    const __m256i a0 = _mm256_add_epi16(tmp_0, tmp_2);
    const __m256i a1 = _mm256_add_epi16(tmp_1, tmp_3);
    const __m256i a2 = _mm256_sub_epi16(tmp_1, tmp_3);
    const __m256i a3 = _mm256_sub_epi16(tmp_0, tmp_2);
    const __m256i b0 = _mm256_add_epi16(a0, a1);
    const __m256i b1 = _mm256_add_epi16(a3, a2);
    const __m256i b2 = _mm256_sub_epi16(a3, a2);
    const __m256i b3 = _mm256_sub_epi16(a0, a1);
    __m256i A_b0 = _mm256_abs_epi16(_mm256_unpacklo_epi64(b0, b1));
    __m256i A_b2 = _mm256_abs_epi16(_mm256_unpacklo_epi64(b2, b3));
    __m256i B_b0 = _mm256_abs_epi16(_mm256_unpackhi_epi64(b0, b1));
    __m256i B_b2 = _mm256_abs_epi16(_mm256_unpackhi_epi64(b2, b3));
    A_b0 = _mm256_add_epi32(_mm256_madd_epi16(A_b0, w_0),
                            _mm256_madd_epi16(A_b2, w_8));
    B_b0 = _mm256_add_epi32(_mm256_madd_epi16(B_b0, w_0),
                            _mm256_madd_epi16(B_b2, w_8));
    return HorizontalSums_AVX2(_mm256_sub_epi32(A_b0, B_b0));
  }
}

static void ReconstructI4Modes_AVX2(
    const uint8_t* WEBP_RESTRICT src,
    const uint8_t* const refs[VP8_NUM_I4_MODES],
    const VP8Matrix* WEBP_RESTRICT const mtx,
    const uint16_t* WEBP_RESTRICT const w,
    int16_t levels[VP8_NUM_I4_MODES][16], uint8_t recs[VP8_NUM_I4_MODES][16],
    int sse[VP8_NUM_I4_MODES], int disto[VP8_NUM_I4_MODES],
    int nz[VP8_NUM_I4_MODES]) {
  const __m256i zero = _mm256_setzero_si256();
  __m256i src_rows[4], src0123;
  int mode, y;
  for (y = 0; y < 4; ++y) src_rows[y] = LoadRow_AVX2(src, src, y);
  src0123 = _mm256_unpacklo_epi64(_mm256_unpacklo_epi32(src_rows[0], src_rows[1]),
                                  _mm256_unpacklo_epi32(src_rows[2], src_rows[3]));
  for (mode = 0; mode < VP8_NUM_I4_MODES; mode += 2) {
    const int m0 = mode, m1 = mode + 1;
    __m256i ref_rows[4], in0, in8, out_z0, out_z8, rec;
    uint32_t zeros;
    for (y = 0; y < 4; ++y) ref_rows[y] = LoadRow_AVX2(refs[m0], refs[m1], y);
    FTransform_AVX2(src_rows, ref_rows, &in0, &in8);
    zeros = Quantize_AVX2(&in0, &in8, &out_z0, &out_z8, mtx);
    nz[m0] = (zeros & 0xffffu) != 0xffffu;
    nz[m1] = (zeros >> 16) != 0xffffu;
    _mm_storeu_si128((__m128i*)&levels[m0][0], _mm256_castsi256_si128(out_z0));
    _mm_storeu_si128((__m128i*)&levels[m0][8], _mm256_castsi256_si128(out_z8));
    _mm_storeu_si128((__m128i*)&levels[m1][0],
                     _mm256_extracti128_si256(out_z0, 1));
    _mm_storeu_si128((__m128i*)&levels[m1][8],
                     _mm256_extracti128_si256(out_z8, 1));
    rec = ITransform_AVX2(ref_rows, in0, in8);
    _mm_storeu_si128((__m128i*)recs[m0], _mm256_castsi256_si128(rec));
    _mm_storeu_si128((__m128i*)recs[m1], _mm256_extracti128_si256(rec, 1));
    {
      // SSE4x4_SSE2.
      const __m256i d0 = _mm256_subs_epi16(_mm256_unpacklo_epi8(src0123, zero),
                                           _mm256_unpacklo_epi8(rec, zero));
      const __m256i d1 = _mm256_subs_epi16(_mm256_unpackhi_epi8(src0123, zero),
                                           _mm256_unpackhi_epi8(rec, zero));
      const __m256i sums = HorizontalSums_AVX2(_mm256_add_epi32(
          _mm256_madd_epi16(d0, d0), _mm256_madd_epi16(d1, d1)));
      sse[m0] = _mm256_cvtsi256_si32(sums);
      sse[m1] = _mm_cvtsi128_si32(_mm256_extracti128_si256(sums, 1));
    }
    if (w != NULL) {
      const __m256i diff_sums = TTransform_AVX2(src0123, rec, w);
      disto[m0] = abs(_mm256_cvtsi256_si32(diff_sums)) >> 5;
      disto[m1] =
          abs(_mm_cvtsi128_si32(_mm256_extracti128_si256(diff_sums, 1))) >> 5;
    }
  }
}

#undef BOTH

//------------------------------------------------------------------------------
// Entry point

extern void VP8EncDspInitAVX2(void);

WEBP_TSAN_IGNORE_FUNCTION void VP8EncDspInitAVX2(void) {
  VP8ReconstructI4Modes = ReconstructI4Modes_AVX2;
}

#else  // !WEBP_USE_AVX2

WEBP_DSP_INIT_STUB(VP8EncDspInitAVX2)

#endif  // WEBP_USE_AVX2
