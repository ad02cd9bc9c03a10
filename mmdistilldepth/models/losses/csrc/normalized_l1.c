/*
 * CPU kernels of the normalized L1 loss (see ../native.py, which compiles this file
 * twice, with REAL = float and REAL = double, and calls it through ctypes).
 *
 * Every function works on ONE image of n pixels, so that the Python side can run the
 * images of a batch on several threads (ctypes releases the GIL).
 *
 * Contexts are NESTED: every context of a coarser level is the union of contexts of
 * the finest level (true of the levels (1, 2, 4) with every grouping, of 'global' and
 * of 'local'; native.py checks it and leaves other level sets to the torch path). A
 * pixel is then described by its finest context f (fid[i], F = "in no context"), and
 * parent[l * F + f] is the context (numbered over all levels, 0 .. K - 1) that holds f
 * at level l. Everything per level becomes a lookup in a table of F entries.
 *
 * The loss of one image takes four passes over its pixels, none of them a sort:
 *   1. the finest context of every pixel (from the teacher's values or the position),
 *      the contexts' sizes and both maps' ranges;
 *   2. per finest context and map, a histogram of the values over NB equal-width
 *      buckets with each bucket's count and sum; a coarser context's histogram is
 *      the sum of its finest contexts' histograms;
 *   3. the members of the bucket holding each median: a quickselect among them gives
 *      the exact middle value(s), and the histogram the mean absolute deviation around
 *      it (whole buckets below and above by their counts and sums);
 *   4. the loss, and per context the sums the closed-form gradient needs.
 * The backward pass is one more pass. The normalized values and the loss follow the
 * torch path (contexts.py, normalization.py) expression by expression; sums are
 * accumulated in double, in another order, so the two agree to round-off.
 */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#ifndef REAL
#define REAL double
#endif
typedef REAL real;

/* float32 kernels have AVX2 variants, used when the CPU has AVX2 (checked at run time) */
static int simd_allowed = 1;

/* Turn the AVX2 variants off (0) or back on (1), e.g. to test the scalar code. */
void set_simd(int on) { simd_allowed = on; }

#if defined(__GNUC__) && defined(__x86_64__) && defined(REAL_IS_FLOAT)
#include <immintrin.h>
#define HAVE_AVX2_PASS 1
static int cpu_has_avx2(void) {
    static int known = -1; /* a benign race: every thread finds the same answer */
    if (known < 0) known = __builtin_cpu_supports("avx2") ? 1 : 0;
    return known && simd_allowed;
}
#endif

/* Independent copies of the per-context accumulators: neighbouring pixels usually lie
 * in the same context, and one copy would chain every update to the previous one. */
#define LANES 4

static inline real sign_of(real v) { return (real)((v > 0) - (v < 0)); }

typedef struct {
    real value;
    int64_t index;
} item;

/* Put the k-th smallest (0-based) of items[0 .. m - 1] at position k (Hoare). */
static void quickselect(item *items, int64_t m, int64_t k) {
    int64_t left = 0, right = m - 1;
    while (right > left) {
        const int64_t mid = left + (right - left) / 2;
        const real a = items[left].value, b = items[mid].value, c = items[right].value;
        const real pivot = a < b ? (b < c ? b : (a < c ? c : a))
                                 : (a < c ? a : (b < c ? c : b));
        int64_t i = left, j = right;
        while (i <= j) {
            while (items[i].value < pivot) ++i;
            while (pivot < items[j].value) --j;
            if (i <= j) {
                const item tmp = items[i];
                items[i] = items[j];
                items[j] = tmp;
                ++i;
                --j;
            }
        }
        if (k <= j) right = j;
        else if (k >= i) left = i;
        else return;
    }
}

/* ------------------------------------------------------------------ contexts */

#ifdef HAVE_AVX2_PASS
/* masked_range on the first n - n % 8 pixels; returns how many it covered. */
__attribute__((target("avx2"))) static int64_t masked_range_avx2(
        const float *x, int64_t n, const uint8_t *valid, const uint16_t *fid, int F,
        float *lo, float *hi, int *finite) {
    __m256 low = _mm256_set1_ps(INFINITY), high = _mm256_set1_ps(-INFINITY);
    __m256i bad = _mm256_setzero_si256();
    const __m256 zero = _mm256_setzero_ps();
    const __m256i limit = _mm256_set1_epi32(F);
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) {
        __m256i member;
        if (valid) {
            const __m256i v = _mm256_cvtepu8_epi32(_mm_loadl_epi64((const __m128i *)(valid + i)));
            member = _mm256_cmpgt_epi32(v, _mm256_setzero_si256());
        } else {
            const __m256i f = _mm256_cvtepu16_epi32(_mm_loadu_si128((const __m128i *)(fid + i)));
            member = _mm256_cmpgt_epi32(limit, f);
        }
        const __m256 v = _mm256_loadu_ps(x + i);
        const __m256 in = _mm256_castsi256_ps(member);
        low = _mm256_min_ps(low, _mm256_blendv_ps(_mm256_set1_ps(INFINITY), v, in));
        high = _mm256_max_ps(high, _mm256_blendv_ps(_mm256_set1_ps(-INFINITY), v, in));
        /* x * 0 is 0 exactly for finite x, NaN for infinite or NaN x */
        const __m256 ok = _mm256_cmp_ps(_mm256_mul_ps(v, zero), zero, _CMP_EQ_OQ);
        bad = _mm256_or_si256(bad, _mm256_andnot_si256(_mm256_castps_si256(ok), member));
    }
    float l[8], h[8];
    _mm256_storeu_ps(l, low);
    _mm256_storeu_ps(h, high);
    for (int k = 0; k < 8; ++k) {
        *lo = l[k] < *lo ? l[k] : *lo;
        *hi = h[k] > *hi ? h[k] : *hi;
    }
    if (!_mm256_testz_si256(bad, bad)) *finite = 0;
    return i;
}
#endif

/* The smallest and largest x over the pixels with valid[i] set (if valid is given) or
 * fid[i] < F; returns 0 if one of them is not finite (lo > hi: no such pixel). */
static int masked_range(const real *x, int64_t n, const uint8_t *valid,
                        const uint16_t *fid, int F, real *lo_out, real *hi_out) {
    real lo = INFINITY, hi = -INFINITY;
    int finite = 1;
    int64_t i = 0;
#ifdef HAVE_AVX2_PASS
    if (cpu_has_avx2()) i = masked_range_avx2(x, n, valid, fid, F, &lo, &hi, &finite);
#endif
    for (; i < n; ++i) {
        if (valid ? !valid[i] : fid[i] >= F) continue;
        const real v = x[i];
        finite &= isfinite(v) != 0;
        lo = v < lo ? v : lo;
        hi = v > hi ? v : hi;
    }
    *lo_out = lo;
    *hi_out = hi;
    return finite;
}

/* The number of valid pixels. */
int64_t count_valid(const uint8_t *valid, int64_t n) {
    int64_t count = 0;
    for (int64_t start = 0; start < n; start += 1 << 16) {
        const int64_t end = start + (1 << 16) < n ? start + (1 << 16) : n;
        uint32_t block = 0; /* a narrow sum over a block: the loop vectorizes */
        for (int64_t i = start; i < end; ++i) block += valid[i] != 0;
        count += block;
    }
    return count;
}

/* The smallest and largest valid value of x (both 0 without valid pixels). */
void valid_range(const real *x, const uint8_t *valid, int64_t n, real *out) {
    real lo, hi;
    masked_range(x, n, valid, NULL, 0, &lo, &hi);
    out[0] = lo <= hi ? lo : 0;
    out[1] = lo <= hi ? hi : 0;
}

/* Finest contexts by value: bin b of F holds lo[b] <= t < lo[b + 1] (the last bin is
 * closed); with ``top`` given, also t < top (HDN's open top bin). */
static void value_ids(const real *t, const uint8_t *valid, int64_t n, int bins,
                      const real *lo, const real *top, uint16_t *fid) {
    for (int64_t i = 0; i < n; ++i) fid[i] = 0;
    for (int j = 1; j < bins; ++j) {
        const real edge = lo[j];
        for (int64_t i = 0; i < n; ++i) fid[i] += t[i] >= edge;
    }
    if (top) {
        const real limit = *top;
        for (int64_t i = 0; i < n; ++i) fid[i] = t[i] < limit ? fid[i] : (uint16_t)bins;
    }
    for (int64_t i = 0; i < n; ++i) fid[i] = valid[i] ? fid[i] : (uint16_t)bins;
}

/* Finest contexts by position: pixel (r, c) lies in tile row_tile[r] * S + col_tile[c];
 * an index of S or more (an HDN rounding gap) means no context. */
static void tile_ids(const uint8_t *valid, int64_t height, int64_t width, int segments,
                     const int32_t *row_tile, const int32_t *col_tile, uint16_t *fid) {
    const int none = segments * segments;
    for (int64_t r = 0; r < height; ++r) {
        const int tr = row_tile[r];
        for (int64_t c = 0; c < width; ++c) {
            const int tc = col_tile[c];
            const int64_t i = r * width + c;
            fid[i] = (uint16_t)((valid[i] && tr < segments && tc < segments)
                                ? tr * segments + tc : none);
        }
    }
}

/* ------------------------------------------------------------- order statistics */

/* Histogram of one map: NB buckets between the smallest and the largest value of the
 * pixels in a context, per finest context, summed up to every context. */
typedef struct {
    int64_t nb;
    double lo, scale;
    int32_t *count;   /* K x NB */
    double *sum;      /* K x NB, sums of (x - lo) */
    uint16_t *bucket; /* n, each pixel's bucket */
} histogram;

#ifdef HAVE_AVX2_PASS
/* The bucket of each pixel as histograms_build computes it, (int)(((double)x - lo) *
 * scale) clamped to [0, nb), 0 outside every context; eight pixels at a time.
 * Returns how many pixels it covered. */
__attribute__((target("avx2"))) static int64_t buckets_avx2(
        const float *x, int64_t n, const uint16_t *fid, int F, double lo, double scale,
        int64_t nb, uint16_t *bucket) {
    const __m256d low = _mm256_set1_pd(lo), factor = _mm256_set1_pd(scale);
    const __m256i limit = _mm256_set1_epi32(F), top = _mm256_set1_epi32((int)nb - 1);
    const __m256i zero = _mm256_setzero_si256();
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) {
        const __m256i f = _mm256_cvtepu16_epi32(_mm_loadu_si128((const __m128i *)(fid + i)));
        const __m256i member = _mm256_cmpgt_epi32(limit, f);
        const __m256 v = _mm256_loadu_ps(x + i);
        __m128i half[2];
        for (int k = 0; k < 2; ++k) {
            const __m256d value = _mm256_cvtps_pd(k ? _mm256_extractf128_ps(v, 1)
                                                     : _mm256_castps256_ps128(v));
            const __m256d in = _mm256_castsi256_pd(_mm256_cvtepi32_epi64(
                k ? _mm256_extracti128_si256(member, 1) : _mm256_castsi256_si128(member)));
            /* d = x - lo for members, 0 for the others (which may be NaN) */
            const __m256d d = _mm256_and_pd(_mm256_sub_pd(value, low), in);
            half[k] = _mm256_cvttpd_epi32(_mm256_mul_pd(d, factor));
        }
        __m256i b = _mm256_set_m128i(half[1], half[0]);
        b = _mm256_min_epi32(_mm256_max_epi32(b, zero), top);
        const __m256i packed = _mm256_permute4x64_epi64(_mm256_packus_epi32(b, b), 0x08);
        _mm_storeu_si128((__m128i *)(bucket + i), _mm256_castsi256_si128(packed));
    }
    return i;
}
#endif

/* Histograms of ``maps`` maps over the same contexts, in two passes over the pixels
 * (their ranges, then their buckets); the bucket sums only ``with_sums``. Returns 0,
 * -1 if a pixel in a context is not finite, -2 when out of memory. */
static int histograms_build(histogram *h, const real *const *x, int maps, int64_t n,
                            const uint16_t *fid, int fine_count, int levels,
                            const int32_t *parent, int total, int with_sums) {
    const int F = fine_count;
    double lo[2], hi[2];
    for (int m = 0; m < maps; ++m) {
        real low, high;
        if (!masked_range(x[m], n, NULL, fid, F, &low, &high)) return -1;
        lo[m] = low;
        hi[m] = high;
    }
    /* enough buckets to keep the median buckets small, few enough for the cache */
    int64_t nb = ((int64_t)1 << 17) / (total > 0 ? total : 1);
    nb = nb > 2048 ? 2048 : (nb < 16 ? 16 : nb);
    int32_t *fine_count_hist[2] = {NULL, NULL};
    double *fine_sum[2] = {NULL, NULL};
    int failed = 0;
    for (int m = 0; m < maps; ++m) {
        if (!(lo[m] <= hi[m])) lo[m] = hi[m] = 0; /* no pixel in any context */
        h[m].nb = nb;
        h[m].lo = lo[m];
        h[m].scale = hi[m] > lo[m] ? (double)nb / (hi[m] - lo[m]) : 0.0;
        fine_count_hist[m] = calloc((size_t)(F + 1) * nb, sizeof(int32_t));
        fine_sum[m] = calloc((size_t)(F + 1) * nb, sizeof(double));
        h[m].count = calloc((size_t)total * nb, sizeof(int32_t));
        h[m].sum = calloc((size_t)total * nb, sizeof(double));
        h[m].bucket = malloc(sizeof(uint16_t) * (size_t)(n > 0 ? n : 1));
        failed |= !fine_count_hist[m] || !fine_sum[m] || !h[m].count || !h[m].sum ||
                  !h[m].bucket;
    }
    if (!failed) {
        int64_t ready = 0; /* pixels whose buckets the AVX2 code already computed */
#ifdef HAVE_AVX2_PASS
        if (cpu_has_avx2())
            for (int m = 0; m < maps; ++m)
                ready = buckets_avx2(x[m], n, fid, F, h[m].lo, h[m].scale, nb, h[m].bucket);
#endif
        for (int64_t i = 0; i < n; ++i) {
            const int64_t row = (int64_t)fid[i] * nb; /* row F collects the rest */
            const int member = fid[i] < F; /* others may hold NaN: never converted */
            for (int m = 0; m < maps; ++m) {
                const double d = member ? (double)x[m][i] - h[m].lo : 0.0;
                int64_t b;
                if (i < ready) {
                    b = h[m].bucket[i];
                } else {
                    b = (int64_t)(d * h[m].scale);
                    b = b < 0 ? 0 : (b >= nb ? nb - 1 : b);
                    h[m].bucket[i] = (uint16_t)b;
                }
                fine_count_hist[m][row + b] += 1;
                if (with_sums) fine_sum[m][row + b] += d;
            }
        }
        /* a context's histogram: the sum of its finest contexts' */
        for (int m = 0; m < maps; ++m) {
            for (int l = 0; l < levels; ++l) {
                for (int f = 0; f < F; ++f) {
                    int32_t *count = h[m].count + (int64_t)parent[l * F + f] * nb;
                    double *sum = h[m].sum + (int64_t)parent[l * F + f] * nb;
                    const int32_t *fc = fine_count_hist[m] + (int64_t)f * nb;
                    const double *fs = fine_sum[m] + (int64_t)f * nb;
                    for (int64_t b = 0; b < nb; ++b) {
                        count[b] += fc[b];
                        sum[b] += fs[b];
                    }
                }
            }
        }
    }
    for (int m = 0; m < maps; ++m) {
        free(fine_count_hist[m]);
        free(fine_sum[m]);
    }
    return failed ? -2 : 0;
}

static void histogram_free(histogram *h) {
    free(h->count);
    free(h->sum);
    free(h->bucket);
}

/* The members of the buckets holding given ranks of each context. */
typedef struct {
    int64_t *rank_bucket; /* K x R: the bucket of each wanted rank (-1: empty context) */
    int64_t *rank_in;     /* K x R: the rank inside that bucket, 0-based */
    int32_t *rank_list;   /* K x R: the list holding that bucket's members */
    int32_t *slot;        /* K x NB: the list of a (context, bucket), or -1 */
    uint8_t *wanted;      /* F x NB: whether a (finest context, bucket) feeds a list */
    int64_t *start;       /* lists + 1 */
    int64_t *fill;        /* lists: where the next member of each list goes */
    item *items;
} candidates;

/* The buckets of the wanted ranks of every context, and room for their members. */
static int candidates_plan(candidates *cand, const histogram *h, int fine_count,
                           int levels, const int32_t *parent, int total,
                           const int64_t *counts, const int64_t *ranks, int rank_count) {
    const int64_t nb = h->nb;
    const int F = fine_count, R = rank_count;
    cand->rank_bucket = malloc(sizeof(int64_t) * ((size_t)total * R + 1));
    cand->rank_in = malloc(sizeof(int64_t) * ((size_t)total * R + 1));
    cand->rank_list = malloc(sizeof(int32_t) * ((size_t)total * R + 1));
    cand->slot = malloc(sizeof(int32_t) * ((size_t)total * nb + 1));
    cand->wanted = calloc((size_t)(F + 1) * nb + 3, 1); /* + 3: see candidates_fill_avx2 */
    cand->start = malloc(sizeof(int64_t) * ((size_t)total * R + 2));
    cand->fill = malloc(sizeof(int64_t) * ((size_t)total * R + 1));
    cand->items = NULL;
    if (!cand->rank_bucket || !cand->rank_in || !cand->rank_list || !cand->slot ||
        !cand->wanted || !cand->start || !cand->fill)
        return -2;
    for (int64_t k = 0; k < (int64_t)total * nb; ++k) cand->slot[k] = -1;
    int lists = 0;
    cand->start[0] = 0;
    for (int c = 0; c < total; ++c) {
        const int32_t *row = h->count + (int64_t)c * nb;
        for (int r = 0; r < R; ++r) {
            const int64_t k = (int64_t)c * R + r;
            cand->rank_bucket[k] = -1;
            cand->rank_list[k] = -1;
            if (counts[c] == 0) continue;
            int64_t rank = ranks[k], below = 0, b = 0;
            rank = rank < 1 ? 1 : (rank > counts[c] ? counts[c] : rank);
            while (below + row[b] < rank) below += row[b++];
            cand->rank_bucket[k] = b;
            cand->rank_in[k] = rank - below - 1;
            int32_t *slot = cand->slot + (int64_t)c * nb + b;
            if (*slot < 0) {
                *slot = lists;
                cand->start[lists + 1] = cand->start[lists] + row[b];
                ++lists;
            }
            cand->rank_list[k] = *slot;
        }
    }
    for (int l = 0; l < levels; ++l)
        for (int f = 0; f < F; ++f)
            for (int64_t b = 0; b < nb; ++b)
                if (cand->slot[(int64_t)parent[l * F + f] * nb + b] >= 0)
                    cand->wanted[(int64_t)f * nb + b] = 1;
    cand->items = malloc(sizeof(item) * (size_t)(cand->start[lists] + 1));
    if (!cand->items) return -2;
    memcpy(cand->fill, cand->start, sizeof(int64_t) * (size_t)lists);
    return 0;
}

/* Pixel i (finest context f, bucket b) into every list of its contexts that wants it. */
static inline void collect(candidates *cm, const int32_t *parent, int F, int levels,
                           int64_t nb, int f, int64_t b, real value, int64_t i) {
    for (int l = 0; l < levels; ++l) {
        const int32_t j = cm->slot[(int64_t)parent[l * F + f] * nb + b];
        if (j >= 0) {
            cm->items[cm->fill[j]].value = value;
            cm->items[cm->fill[j]].index = i;
            cm->fill[j] += 1;
        }
    }
}

#ifdef HAVE_AVX2_PASS
/* The wanted-table lookups eight pixels at a time (a gather); the rare wanted pixels
 * are collected one by one, in pixel order as in the scalar loop. Returns how many
 * pixels it covered. */
__attribute__((target("avx2"))) static int64_t candidates_fill_avx2(
        candidates *cand, const histogram *h, const real *const *x, int maps, int64_t n,
        const uint16_t *fid, int F, int levels, const int32_t *parent) {
    const int64_t nb = h[0].nb;
    const __m256i row_size = _mm256_set1_epi32((int)nb), low_byte = _mm256_set1_epi32(0xff);
    const __m256i zero = _mm256_setzero_si256();
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) {
        const __m256i f = _mm256_cvtepu16_epi32(_mm_loadu_si128((const __m128i *)(fid + i)));
        const __m256i row = _mm256_mullo_epi32(f, row_size);
        for (int m = 0; m < maps; ++m) {
            const __m256i b = _mm256_cvtepu16_epi32(
                _mm_loadu_si128((const __m128i *)(h[m].bucket + i)));
            /* 4-byte loads at byte offsets (the table has 3 bytes of padding) */
            const __m256i word = _mm256_i32gather_epi32((const int *)cand[m].wanted,
                                                        _mm256_add_epi32(row, b), 1);
            const __m256i hit = _mm256_cmpgt_epi32(_mm256_and_si256(word, low_byte), zero);
            unsigned mask = (unsigned)_mm256_movemask_ps(_mm256_castsi256_ps(hit));
            while (mask) {
                const int lane = __builtin_ctz(mask);
                mask &= mask - 1;
                collect(cand + m, parent, F, levels, nb, fid[i + lane], h[m].bucket[i + lane],
                        x[m][i + lane], i + lane);
            }
        }
    }
    return i;
}
#endif

/* One pass over the pixels collects the median buckets' members of ``maps`` maps. */
static void candidates_fill(candidates *cand, const histogram *h, const real *const *x,
                            int maps, int64_t n, const uint16_t *fid, int fine_count,
                            int levels, const int32_t *parent) {
    const int64_t nb = h[0].nb;
    const int F = fine_count;
    int64_t i = 0;
#ifdef HAVE_AVX2_PASS
    if (cpu_has_avx2()) i = candidates_fill_avx2(cand, h, x, maps, n, fid, F, levels, parent);
#endif
    for (; i < n; ++i) {
        const int f = fid[i];
        for (int m = 0; m < maps; ++m) {
            const int64_t b = h[m].bucket[i];
            if (cand[m].wanted[(int64_t)f * nb + b]) /* row F is never wanted */
                collect(cand + m, parent, F, levels, nb, f, b, x[m][i], i);
        }
    }
}

static void candidates_select(candidates *cand, int total, int rank_count, real *value,
                              int64_t *index) {
    for (int64_t k = 0; k < (int64_t)total * rank_count; ++k) {
        const int32_t j = cand->rank_list[k];
        value[k] = 0;
        index[k] = -1;
        if (j < 0) continue;
        item *list = cand->items + cand->start[j];
        quickselect(list, cand->start[j + 1] - cand->start[j], cand->rank_in[k]);
        value[k] = list[cand->rank_in[k]].value;
        index[k] = list[cand->rank_in[k]].index;
    }
}

static void candidates_free(candidates *cand) {
    free(cand->rank_bucket);
    free(cand->rank_in);
    free(cand->rank_list);
    free(cand->slot);
    free(cand->wanted);
    free(cand->start);
    free(cand->fill);
    free(cand->items);
}

/* The ranks[r]-th smallest (1-based) of the n_valid values of x where valid is set,
 * for r < rank_count, and the pixel holding it (value 0, index -1 without valid
 * pixels). Returns 0, -1 if a valid value is not finite, -2 when out of memory. */
int select_ranks(const real *x, const uint8_t *valid, int64_t n, const int64_t *ranks,
                 int rank_count, real *value, int64_t *index) {
    uint16_t *fid = malloc(sizeof(uint16_t) * (size_t)(n > 0 ? n : 1));
    if (!fid) return -2;
    int64_t count = count_valid(valid, n);
    for (int64_t i = 0; i < n; ++i) fid[i] = valid[i] ? 0 : 1;
    const int32_t parent = 0;
    histogram h = {0};
    candidates cand = {0};
    int code = histograms_build(&h, &x, 1, n, fid, 1, 1, &parent, 1, 0);
    if (!code) /* one context, rank_count ranks */
        code = candidates_plan(&cand, &h, 1, 1, &parent, 1, &count, ranks, rank_count);
    if (!code) candidates_fill(&cand, &h, &x, 1, n, fid, 1, 1, &parent);
    if (!code) candidates_select(&cand, 1, rank_count, value, index);
    histogram_free(&h);
    candidates_free(&cand);
    free(fid);
    return code;
}

/* Shift (the mean of the R middle values, as torch's mean computes it), scale (the
 * mean absolute deviation from the shift; the sum over N + 1 with hdn) and
 * sum(sign(x - shift)) of every context, from the histogram and the median buckets. */
static void shift_scale(const histogram *h, const candidates *cand, int total,
                        const int64_t *counts, const real *middle, int rank_count, int hdn,
                        real *shift, real *scale, double *sign_sum) {
    const int64_t nb = h->nb;
    for (int c = 0; c < total; ++c) {
        const int64_t k = (int64_t)c * rank_count;
        real m = middle[k];
        if (rank_count == 2) m = (middle[k] + middle[k + 1]) / (real)2;
        shift[c] = counts[c] ? m : (real)0;
        sign_sum[c] = 0;
        scale[c] = 0;
        if (!counts[c]) continue;
        /* Buckets are ordered like their values; no value lies in a bucket strictly
         * between the two middle values' buckets. */
        const int64_t first = cand->rank_bucket[k];
        const int64_t last = cand->rank_bucket[k + rank_count - 1];
        const double md = (double)m - h->lo;
        double total_abs = 0, signs = 0;
        const int32_t *count = h->count + (int64_t)c * nb;
        const double *sum = h->sum + (int64_t)c * nb;
        for (int64_t b = 0; b < first; ++b) {
            total_abs += md * count[b] - sum[b];
            signs -= count[b];
        }
        for (int64_t b = last + 1; b < nb; ++b) {
            total_abs += sum[b] - md * count[b];
            signs += count[b];
        }
        for (int r = 0; r < rank_count; ++r) { /* the median bucket(s), member by member */
            if (r && cand->rank_list[k + r] == cand->rank_list[k]) break;
            const int32_t j = cand->rank_list[k + r];
            for (int64_t q = cand->start[j]; q < cand->start[j + 1]; ++q) {
                const real d = cand->items[q].value - m;
                total_abs += (double)(d < 0 ? -d : d);
                signs += (double)sign_of(d);
            }
        }
        const real denominator = hdn ? (real)(counts[c] + 1)
                                     : (real)(counts[c] > 1 ? counts[c] : 1);
        scale[c] = (real)total_abs / denominator;
        sign_sum[c] = signs;
    }
}

/* --------------------------------------------------------------- loss, gradient */

/* A pixel's signs: digit l (base 9) is (sign(r_l) + 1) + 3 (sign(p - mp_l) + 1). */
static int code_count(int levels) {
    int codes = 1;
    for (int l = 0; l < levels; ++l) codes *= 9;
    return codes;
}

/* The sum over the pixels in a context of their per-level errors |r| (L times the loss
 * sum), and per pixel its sign code; per (finest context, code, lane) the number of
 * pixels and the sum of p. ``table`` holds mp, ip, mt, it per
 * (finest context, level). */
static inline double loss_pass(const real *p, const real *t, const uint16_t *fid,
                               int64_t n, int F, const int L, const real *table,
                               uint16_t *sign_code, int32_t *code_pixels,
                               double *code_sum) {
    const int codes = code_count(L);
    double loss[LANES] = {0};
    for (int64_t i = 0; i < n; ++i) {
        /* No branch on membership (random masks would mispredict it): pixels in no
         * context read the zero row F of the table, count in the unused row F of the
         * codes, and their error (NaN for NaN inputs) is dropped by a select. */
        const int f = fid[i];
        const real *row = table + (int64_t)f * L * 4;
        const real pi = p[i], ti = t[i];
        real error = 0;
        int code = 0, digit = 1;
        for (int l = 0; l < L; ++l, row += 4, digit *= 9) {
            const real dp = pi - row[0];
            const real r = dp * row[1] - (ti - row[2]) * row[3];
            error += r < 0 ? -r : r;
            code += digit * ((r > 0) - (r < 0) + 1 + 3 * ((dp > 0) - (dp < 0) + 1));
        }
        sign_code[i] = (uint16_t)code;
        const int64_t k = ((int64_t)f * codes + code) * LANES + (i & (LANES - 1));
        code_pixels[k] += 1;
        code_sum[k] += (double)pi;
        loss[i & (LANES - 1)] += f < F ? (double)error : 0.0;
    }
    double total = 0;
    for (int k = 0; k < LANES; ++k) total += loss[k];
    return total;
}

/* The same loss pass, eight float32 pixels at a time with AVX2 (when the CPU has it and
 * at most 16 finest contexts): the per-pixel coefficients come from registers holding
 * a level's values for all finest contexts (a lane permute), and the arithmetic is the
 * scalar pass's, operation by operation (no fused multiply-add), so the two give the
 * same values and sign codes. The code histogram follows in a scalar pass. */
#ifdef HAVE_AVX2_PASS

__attribute__((target("avx2"))) static inline __m256 pick16(__m256 low, __m256 high,
                                                            __m256i f, __m256i upper) {
    const __m256 a = _mm256_permutevar8x32_ps(low, f);
    const __m256 b = _mm256_permutevar8x32_ps(high, f);
    return _mm256_blendv_ps(a, b, _mm256_castsi256_ps(upper));
}

__attribute__((target("avx2"))) static double loss_pass_avx2(
        const float *p, const float *t, const uint16_t *fid, int64_t n, int F, int L,
        const float *table, uint16_t *sign_code, int32_t *code_pixels, double *code_sum) {
    const int codes = code_count(L);
    /* coefficient registers: level l, quantity q (mp, ip, mt, it), contexts 0-7, 8-15 */
    __m256 coef[3][4][2];
    for (int l = 0; l < L; ++l)
        for (int q = 0; q < 4; ++q) {
            float values[16] = {0};
            for (int f = 0; f < F; ++f) values[f] = table[((int64_t)f * L + l) * 4 + q];
            coef[l][q][0] = _mm256_loadu_ps(values);
            coef[l][q][1] = _mm256_loadu_ps(values + 8);
        }
    const __m256i last = _mm256_set1_epi32(F - 1), seven = _mm256_set1_epi32(7);
    const __m256i one = _mm256_set1_epi32(1), three = _mm256_set1_epi32(3);
    const __m256 zero = _mm256_setzero_ps();
    const __m256 abs_mask = _mm256_castsi256_ps(_mm256_set1_epi32(0x7fffffff));
    __m256d sum_low = _mm256_setzero_pd(), sum_high = _mm256_setzero_pd();
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) {
        const __m256i f = _mm256_cvtepu16_epi32(_mm_loadu_si128((const __m128i *)(fid + i)));
        const __m256i member = _mm256_cmpgt_epi32(_mm256_set1_epi32(F), f);
        const __m256i fc = _mm256_min_epi32(f, last); /* others read context F - 1 */
        const __m256i upper = _mm256_cmpgt_epi32(fc, seven);
        const __m256 pv = _mm256_loadu_ps(p + i), tv = _mm256_loadu_ps(t + i);
        __m256 error = zero;
        __m256i code = _mm256_setzero_si256();
        int digit = 1;
        for (int l = 0; l < L; ++l, digit *= 9) {
            const __m256 mp = pick16(coef[l][0][0], coef[l][0][1], fc, upper);
            const __m256 ip = pick16(coef[l][1][0], coef[l][1][1], fc, upper);
            const __m256 mt = pick16(coef[l][2][0], coef[l][2][1], fc, upper);
            const __m256 it = pick16(coef[l][3][0], coef[l][3][1], fc, upper);
            const __m256 dp = _mm256_sub_ps(pv, mp);
            const __m256 r = _mm256_sub_ps(_mm256_mul_ps(dp, ip),
                                           _mm256_mul_ps(_mm256_sub_ps(tv, mt), it));
            error = _mm256_add_ps(error, _mm256_and_ps(r, abs_mask));
            /* (sign + 1) = 1 - [x > 0] + [x < 0] with compare masks of -1 */
            const __m256i r_gt = _mm256_castps_si256(_mm256_cmp_ps(r, zero, _CMP_GT_OQ));
            const __m256i r_lt = _mm256_castps_si256(_mm256_cmp_ps(r, zero, _CMP_LT_OQ));
            const __m256i d_gt = _mm256_castps_si256(_mm256_cmp_ps(dp, zero, _CMP_GT_OQ));
            const __m256i d_lt = _mm256_castps_si256(_mm256_cmp_ps(dp, zero, _CMP_LT_OQ));
            const __m256i sr = _mm256_sub_epi32(_mm256_add_epi32(one, r_lt), r_gt);
            const __m256i sd = _mm256_sub_epi32(_mm256_add_epi32(one, d_lt), d_gt);
            const __m256i value = _mm256_add_epi32(sr, _mm256_mullo_epi32(sd, three));
            code = _mm256_add_epi32(code, _mm256_mullo_epi32(value, _mm256_set1_epi32(digit)));
        }
        code = _mm256_and_si256(code, member);
        const __m256i packed = _mm256_permute4x64_epi64(_mm256_packus_epi32(code, code), 0x08);
        _mm_storeu_si128((__m128i *)(sign_code + i), _mm256_castsi256_si128(packed));
        error = _mm256_and_ps(error, _mm256_castsi256_ps(member)); /* drops NaN too */
        sum_low = _mm256_add_pd(sum_low, _mm256_cvtps_pd(_mm256_castps256_ps128(error)));
        sum_high = _mm256_add_pd(sum_high, _mm256_cvtps_pd(_mm256_extractf128_ps(error, 1)));
    }
    double lanes[8];
    _mm256_storeu_pd(lanes, sum_low);
    _mm256_storeu_pd(lanes + 4, sum_high);
    double loss = 0;
    for (int k = 0; k < 8; ++k) loss += lanes[k];
    /* the last pixels, one by one */
    loss += loss_pass(p + i, t + i, fid + i, n - i, F, L, table, sign_code + i,
                      code_pixels, code_sum);
    for (int64_t j = 0; j < i; ++j) {
        const int f = fid[j];
        if (f >= F) continue;
        const int64_t k = ((int64_t)f * codes + sign_code[j]) * LANES + (j & (LANES - 1));
        code_pixels[k] += 1;
        code_sum[k] += (double)p[j];
    }
    return loss;
}
#endif

/* Forward of one image.
 *
 * Contexts: ``grouping`` 0 bins t by the F left edges ``lo`` (and ``top``, HDN's open
 * top bin, or NULL); 1 tiles the height x width = n pixels with ``row_tile`` and
 * ``col_tile`` into F = segments^2 tiles. ``parent`` (levels x F) maps them to the K
 * contexts of every level.
 *
 * Writes the finest context of every pixel (fid, n), the context sizes (K), each
 * context's shifts mp, mt and inverse scales ip, it (1 / (scale + eps)), the pixels
 * of pred holding its middle value(s) (median_index, K x R) and, for the backward
 * pass, per context G = sum sign(r) / L, H = sum sign(r) (p_i - mp_c) / L and
 * Q = sum sign(p_i - mp_c), per pixel the code of its signs (see code_count), and
 * the number of valid pixels.
 * Returns the sum over the pixels in a context of
 *   (1 / L) sum_l |(p_i - mp_c) ip_c - (t_i - mt_c) it_c|,  c = context at level l,
 * NAN if a value in a context is not finite, -INFINITY when out of memory. */
double forward_image(const real *p, const real *t, const uint8_t *valid, int64_t n,
                     int grouping, int fine_count, const real *lo, const real *top,
                     const int32_t *row_tile, const int32_t *col_tile, int64_t height,
                     int64_t width, int segments, int levels, const int32_t *parent,
                     int total, int hdn, double eps, int rank_count, uint16_t *fid,
                     int64_t *counts, real *mp, real *mt, real *ip, real *it,
                     int64_t *median_index, double *g_sum, double *h_sum, double *q_sum,
                     uint16_t *sign_code, int64_t *valid_count) {
    const int R = rank_count, F = fine_count, L = levels;
    *valid_count = count_valid(valid, n);
    if (grouping == 0) value_ids(t, valid, n, F, lo, top, fid);
    else tile_ids(valid, height, width, segments, row_tile, col_tile, fid);
    int64_t *ranks = malloc(sizeof(int64_t) * ((size_t)total * R + 1));
    real *middle = malloc(sizeof(real) * ((size_t)total * R + 1));
    int64_t *middle_index = malloc(sizeof(int64_t) * ((size_t)total * R + 1));
    real *scale = malloc(sizeof(real) * ((size_t)total + 1));
    double *t_signs = malloc(sizeof(double) * ((size_t)total + 1));
    real *table = calloc((size_t)L * (F + 1) * 4, sizeof(real)); /* row F: zeros */
    const size_t code_slots = (size_t)(F + 1) * code_count(L) * LANES;
    int32_t *code_pixels = calloc(code_slots, sizeof(int32_t));
    double *code_sum = calloc(code_slots, sizeof(double));
    double result = -INFINITY;
    histogram hist[2] = {{0}, {0}}; /* t, p */
    candidates cand[2] = {{0}, {0}};
    const real *maps[2] = {t, p};
    if (!ranks || !middle || !middle_index || !scale || !t_signs || !table ||
        !code_pixels || !code_sum)
        goto done;
    int code = histograms_build(hist, maps, 2, n, fid, F, L, parent, total, 1);
    if (code == -1) { /* a non-finite value in a context: left to the torch path */
        result = NAN;
        goto done;
    }
    if (code) goto done;
    /* the context sizes, from the teacher's histogram; 1-based ranks of the lower
     * middle value, and the upper one unless hdn */
    for (int c = 0; c < total; ++c) {
        counts[c] = 0;
        for (int64_t b = 0; b < hist[0].nb; ++b) counts[c] += hist[0].count[c * hist[0].nb + b];
        ranks[(int64_t)c * R] = (counts[c] - 1) / 2 + 1;
        if (R == 2) ranks[(int64_t)c * R + 1] = counts[c] / 2 + 1;
    }
    for (int m = 0; m < 2 && !code; ++m)
        code = candidates_plan(cand + m, hist + m, F, L, parent, total, counts, ranks, R);
    if (code) goto done;
    candidates_fill(cand, hist, maps, 2, n, fid, F, L, parent);
    candidates_select(cand, total, R, middle, middle_index);
    shift_scale(hist, cand, total, counts, middle, R, hdn, mt, scale, t_signs);
    for (int c = 0; c < total; ++c) it[c] = (real)1 / (scale[c] + (real)eps);
    candidates_select(cand + 1, total, R, middle, median_index);
    shift_scale(hist + 1, cand + 1, total, counts, middle, R, hdn, mp, scale, q_sum);
    for (int c = 0; c < total; ++c) ip[c] = (real)1 / (scale[c] + (real)eps);

    /* per (finest context, level): mp, ip, mt, it of the context holding it */
    for (int f = 0; f < F; ++f) {
        for (int l = 0; l < L; ++l) {
            const int c = parent[l * F + f];
            real *row = table + ((int64_t)f * L + l) * 4;
            row[0] = mp[c];
            row[1] = ip[c];
            row[2] = mt[c];
            row[3] = it[c];
        }
    }
    /* The gradient of a pixel depends on its values only through the signs of r and
     * of p - mp at every level: record them as a code, and per (finest context, code)
     * the number of pixels and the sum of p, from which G and H follow. */
    const int codes = code_count(L);
    double loss;
#ifdef HAVE_AVX2_PASS
    if (cpu_has_avx2() && F <= 16 && L <= 3)
        loss = loss_pass_avx2(p, t, fid, n, F, L, table, sign_code, code_pixels, code_sum);
    else
#endif
    switch (L) { /* constant level counts let the compiler unroll the levels */
    case 1: loss = loss_pass(p, t, fid, n, F, 1, table, sign_code, code_pixels, code_sum); break;
    case 2: loss = loss_pass(p, t, fid, n, F, 2, table, sign_code, code_pixels, code_sum); break;
    case 3: loss = loss_pass(p, t, fid, n, F, 3, table, sign_code, code_pixels, code_sum); break;
    default: loss = loss_pass(p, t, fid, n, F, L, table, sign_code, code_pixels, code_sum);
    }
    for (int c = 0; c < total; ++c) g_sum[c] = h_sum[c] = 0;
    for (int f = 0; f < F; ++f) {
        for (int code = 0; code < codes; ++code) {
            double pixels = 0, sum = 0;
            for (int k = 0; k < LANES; ++k) {
                pixels += code_pixels[((int64_t)f * codes + code) * LANES + k];
                sum += code_sum[((int64_t)f * codes + code) * LANES + k];
            }
            if (pixels == 0) continue;
            for (int l = 0, digit = 1; l < L; ++l, digit *= 9) {
                const int c = parent[l * F + f];
                const double s = (double)(code / digit % 3) - 1.0;
                /* sum over the pixels of sign(r) / L and sign(r) (p - mp) / L */
                g_sum[c] += s * pixels / L;
                h_sum[c] += s * (sum - (double)mp[c] * pixels) / L;
            }
        }
    }
    result = loss / L; /* every pixel in a context lies in one context per level */
done:
    for (int m = 0; m < 2; ++m) {
        histogram_free(hist + m);
        candidates_free(cand + m);
    }
    free(ranks);
    free(middle);
    free(middle_index);
    free(scale);
    free(t_signs);
    free(table);
    free(code_pixels);
    free(code_sum);
    return result;
}

/* Gradient of weight * (forward loss sum) with respect to p, written to grad (n).
 * A pixel's gradient is a function of its finest context and its sign code: one
 * table of F x 9^L entries, then a lookup per pixel. median_index (K x R) holds the
 * pixels whose mean is each context's shift; they also carry its gradient. */
int backward_image(int64_t n, const uint16_t *fid, const uint16_t *sign_code,
                   int fine_count, int levels, const int32_t *parent, int total,
                   const int64_t *counts, const real *ip, int hdn, const double *g_sum,
                   const double *h_sum, const double *q_sum, const int64_t *median_index,
                   int rank_count, double weight, real *grad) {
    const int F = fine_count, L = levels, codes = code_count(L);
    /* d scale_c / d p_j = (sign(p_j - mp_c) - mu_j Q_c) / D_c, so each context needs
     * k_c = ip_c^2 H_c / D_c. */
    double *k = malloc(sizeof(double) * ((size_t)total + 1));
    real *table = malloc(sizeof(real) * ((size_t)(F + 1) * codes));
    if (!k || !table) {
        free(k);
        free(table);
        return -2;
    }
    for (int c = 0; c < total; ++c) {
        const double denominator = hdn ? (double)(counts[c] + 1)
                                       : (double)(counts[c] > 1 ? counts[c] : 1);
        k[c] = (double)ip[c] * (double)ip[c] * h_sum[c] / denominator;
    }
    for (int f = 0; f <= F; ++f) {
        for (int code = 0; code < codes; ++code) {
            double g = 0;
            for (int l = 0, digit = 1; f < F && l < L; ++l, digit *= 9) {
                const int c = parent[l * F + f];
                const int d = code / digit % 9;
                g += (double)ip[c] * (double)(d % 3 - 1) / L - k[c] * (double)(d / 3 - 1);
            }
            table[(int64_t)f * codes + code] = (real)(weight * g);
        }
    }
    for (int64_t i = 0; i < n; ++i) {
        const int f = fid[i];
        grad[i] = table[(int64_t)f * codes + (f < F ? sign_code[i] : 0)];
    }
    const double mu = 1.0 / (double)rank_count;
    for (int c = 0; c < total; ++c) {
        if (counts[c] == 0) continue;
        const double d_shift = -(double)ip[c] * g_sum[c] + k[c] * q_sum[c];
        for (int r = 0; r < rank_count; ++r) {
            const int64_t j = median_index[(int64_t)c * rank_count + r];
            if (j >= 0) grad[j] += (real)(weight * mu * d_shift);
        }
    }
    free(k);
    free(table);
    return 0;
}
