/* kquants_avx512.c: AVX-512 (F, BW, VL, DQ, VNNI) siblings of the Q4_0 / Q5_0 / K-quant kernels
 * of kquants_avx2.c where the wider registers pay (prefill's tile products). Registered by
 * mx_kernels_avx512_fill() (kernels_avx512.c) over the AVX2 entries. */
#include "engine/kernels/avx2_common.h"
#include "engine/kernels/kquants.h"

void mx_kquants_avx512_fill(mx_type_kernels *t) {
    (void)t;
}
