// The largest |x| of 32 floats with HVX v66 integer instructions (v66/v67 HVX has no float
// vectors): for IEEE floats, |x| orders like its bit pattern with the sign bit cleared, so a
// signed word max over the masked patterns finds it exactly. Activation quantization uses it;
// its division and rounding stay scalar, so the int8 blocks equal the portable ones exactly
// for finite inputs (a NaN wins the integer max, where the scalar comparison skips it).
#pragma once
#if defined(__HVX__)
#include <hexagon_types.h>
#include <hvx_hexagon_protos.h>
#include <stdint.h>

namespace tinyllm::hvx {

inline float abs_max32(const float* x) {
    alignas(128) uint32_t lanes[32];
    __builtin_memcpy(lanes, x, 128);
    HVX_Vector v = Q6_V_vand_VV(*reinterpret_cast<const HVX_Vector*>(lanes), Q6_V_vsplat_R(0x7fffffff));
    // Fold 32 lanes into lane 0 by rotating 64, 32, ..., 4 bytes.
    for (int bytes = 64; bytes >= 4; bytes /= 2) v = Q6_Vw_vmax_VwVw(v, Q6_V_vror_VR(v, bytes));
    *reinterpret_cast<HVX_Vector*>(lanes) = v;
    float m;
    __builtin_memcpy(&m, &lanes[0], 4);
    return m;
}

} // namespace tinyllm::hvx
#endif
