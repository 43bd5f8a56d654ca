// Runs the README's embedding snippet (compiled from README.md as it stands) on the demo model.
#define DOCTEST_CONFIG_IMPLEMENT_WITH_MAIN
#include "test_support.hpp"

#include "tinyllm/base/span.hpp"
#include "tinyllm/base/status.hpp"

tinyllm::Status run(tinyllm::ByteSpan model, const int32_t* prompt, int n_prompt);

TEST_CASE("The README's embedding snippet generates text from the demo model") {
    const std::string path = "models/shakespeare5m-q8_0.gguf";
    if (!test_support::require_shared(path)) return;
    std::vector<uint8_t> model = test_support::read_bytes(test_support::shared_path(path));
    const int32_t prompt[] = {1, 403, 407, 261};
    tinyllm::Status st = run({model.data(), model.size()}, prompt, 4);
    CHECK_MESSAGE(st.ok(), tinyllm::error_name(st.code), ": ", st.detail);
}

TEST_CASE("The README's embedding snippet names a file that is no model") {
    const uint8_t junk[64] = {'n', 'o', 't', ' ', 'a', ' ', 'm', 'o', 'd', 'e', 'l'};
    const int32_t prompt[] = {1};
    CHECK(run({junk, sizeof junk}, prompt, 1).code == tinyllm::Error::bad_magic);
}
