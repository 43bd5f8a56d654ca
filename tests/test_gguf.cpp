#define DOCTEST_CONFIG_IMPLEMENT_WITH_MAIN
#include "test_support.hpp"
#include "gguf.hpp"
TEST_CASE("placeholder parse of empty buffer fails as truncated") {
    tinyllm::gguf::File f;
    tinyllm::Arena a;
    CHECK(tinyllm::gguf::parse({nullptr, 0}, a, f).code == tinyllm::Error::truncated);
}
