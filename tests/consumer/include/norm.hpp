// The consumer's own norm.hpp, first on its include path: tinyllm must never pick it up.
#pragma once
namespace consumer {
inline const char* norm_header() { return "consumer norm.hpp"; }
} // namespace consumer
