// The consumer's own math.hpp, first on its include path: tinyllm must never pick it up.
#pragma once
namespace consumer {
inline const char* math_header() { return "consumer math.hpp"; }
} // namespace consumer
