// The consumer's own bits.hpp, first on its include path: tinyllm must never pick it up.
#pragma once
namespace consumer {
inline const char* bits_header() { return "consumer bits.hpp"; }
} // namespace consumer
