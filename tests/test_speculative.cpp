// Speculative decoding in the Generator: with a draft model, prompt lookup or a drafter that is
// always wrong, greedy replies are the ids decoding without drafts gives, the conversation is left
// as it would be (cache, pending token, what follows), sampled replies are the same tokens for the same seed, and
// drafting pauses while drafts are not taken. On the demo model.
#define DOCTEST_CONFIG_IMPLEMENT_WITH_MAIN
#include <algorithm>
#include <cmath>
#include <map>
#include <memory>
#include <utility>
#include <vector>

#include "test_support.hpp"
#include "tinyllm/generation/draft_model.hpp"
#include "tinyllm/generation/generator.hpp"
#include "tinyllm/generation/lookahead.hpp"
#include "tinyllm/loaders/host/model_source.hpp"

using namespace tinyllm;

namespace {

const char* target_file = "models/shakespeare5m-f16.gguf";
const char* draft_file = "models/shakespeare5m-q4_0.gguf";

struct Loaded {
    ModelSource source;
    ModelInstance instance;
    explicit Loaded(const std::string& rel) {
        REQUIRE(source.open_file(test_support::shared_path(rel), ""));
        REQUIRE(instance.init(source, 0, 32));
    }
};

// Always proposes the same wrong-looking tokens (or ids outside the vocabulary): as many as fit,
// in one branch or (branches > 1) in several.
class FixedDrafter final : public Drafter {
public:
    explicit FixedDrafter(int32_t id, int branches = 1) : id_(id), branches_(branches) {}
    void update(int, const int32_t*, int) override {}
    void draft(DraftTree& tree) override {
        for (int b = 0; b < branches_; ++b) {
            const int32_t ids[] = {id_ + b, id_, id_ + 1};
            tree.add_chain(ids, 3, 0);
        }
        ++calls;
    }
    int calls = 0;

private:
    int32_t id_;
    int branches_;
};

// Proposes the reply it was told (so every draft is taken), to look inside batches; with
// decoys, each position's right token comes after a wrong one, in a tree.
class KnownReply final : public Drafter {
public:
    std::vector<int32_t> conversation;
    bool decoys = false;
    void update(int n_keep, const int32_t* ids, int n) override {
        if (size_t(n_keep) <= history.size()) history.resize(size_t(n_keep));
        history.insert(history.end(), ids, ids + n);
    }
    void draft(DraftTree& tree) override {
        for (size_t at = history.size(), node = 0; at < conversation.size() && tree.room() > 0; ++at) {
            if (decoys) tree.add(conversation[at] == 7 ? 8 : 7, int(node));
            const int next = tree.add(conversation[at], int(node));
            if (next < 0) break;
            node = size_t(next);
        }
    }

private:
    std::vector<int32_t> history;
};

// Proposes the same tokens, each after the conversation's last one.
class Candidates final : public Drafter {
public:
    std::vector<int32_t> ids;
    void update(int, const int32_t*, int) override {}
    void draft(DraftTree& tree) override {
        for (int32_t id : ids) tree.add(id, 0);
    }
};

struct Setup {
    Loaded target{target_file};
    std::vector<uint8_t> memory;
    Generator generator;
    Setup(const SamplerConfig& sampling, int max_draft) {
        GeneratorOptions options;
        options.max_draft = max_draft;
        memory.resize(Generator::required_bytes(target.source.n_vocab(), target.source.vocabulary().max_token_bytes(), options));
        Arena arena(memory.data(), memory.size());
        REQUIRE(generator.init(target.instance.model(), &target.source.vocabulary(), sampling, arena, options));
    }
};

bool collect(const GeneratedToken& t, void* user) {
    if (t.id != GeneratedToken::no_token) static_cast<std::vector<int32_t>*>(user)->push_back(t.id);
    return true;
}

struct StopAfter {
    std::vector<int32_t> ids;
    size_t limit;
};
bool stop_after(const GeneratedToken& t, void* user) {
    auto& s = *static_cast<StopAfter*>(user);
    if (t.id != GeneratedToken::no_token) s.ids.push_back(t.id);
    return s.ids.size() < s.limit;
}

// A reply, then (from where it left the conversation) a second prompt and reply; with a stop after
// `stop` tokens of the first reply when given.
struct Conversation {
    std::vector<int32_t> first, second;
    int tokens_after_first = 0;
    int32_t pending_after_first = 0;
    int drafts_taken = 0;  // in both replies
};

Conversation converse(Generator& g, const std::vector<int32_t>& prompt, int n, size_t stop = 0) {
    Conversation c;
    GenerationRequest request;
    request.n_predict = n;
    request.stop_at_end_of_generation = false;
    REQUIRE(g.prompt(prompt.data(), int(prompt.size())));
    if (stop) {
        StopAfter s{{}, stop};
        REQUIRE(g.generate(request, stop_after, &s));
        c.first = s.ids;
    } else {
        REQUIRE(g.generate(request, collect, &c.first));
    }
    c.tokens_after_first = g.n_tokens();
    c.pending_after_first = g.pending_token();
    c.drafts_taken = g.stats().n_drafts_taken;
    const int32_t more[] = {13, 29};
    REQUIRE(g.prompt(more, 2));
    request.n_predict = 24;
    REQUIRE(g.generate(request, collect, &c.second));
    c.drafts_taken += g.stats().n_drafts_taken;
    return c;
}

std::vector<std::vector<int32_t>> prompts(const Tokenizer& t) {
    return {t.encode("ROMEO:\nBut soft, what light through yonder window breaks?", true, false),
            t.encode("KING HENRY:\nOnce more unto the breach, dear friends, once more;", true, false),
            t.encode("First Citizen:\nBefore we proceed any further, hear me speak.", true, false)};
}

SamplerConfig greedy() {
    SamplerConfig c;
    c.temperature = 0.0f;
    return c;
}

} // namespace

TEST_CASE("greedy replies with drafts are the replies without, and leave the conversation the same") {
    if (!test_support::require_shared(target_file) || !test_support::require_shared(draft_file)) return;
    Setup plain(greedy(), 0);
    Setup sequences(greedy(), 4), trees(greedy(), LookaheadDrafter::tree_nodes(5, 4, 5) - 1);
    Loaded draft{draft_file};
    std::vector<uint8_t> drafter_memory(ModelDrafter::required_bytes(256, 1024) + LookupDrafter::required_bytes(256) +
                                        LookaheadDrafter::required_bytes(5, 4));
    Arena arena(drafter_memory.data(), drafter_memory.size());
    ModelDrafter model_drafter;
    LookupDrafter lookup;
    LookaheadDrafter lookahead;
    FixedDrafter wrong(7), outside(5000), wrong_tree(7, 3);
    REQUIRE(model_drafter.init(draft.instance.model(), 256, 0.75f, arena));
    REQUIRE(lookup.init(256, 3, arena));
    REQUIRE(lookahead.init(5, 4, 5, arena));
    const std::pair<const char*, Drafter*> drafters[] = {{"draft model", &model_drafter}, {"lookup", &lookup},        {"lookahead", &lookahead},
                                                           {"always wrong", &wrong},        {"ids outside the vocabulary", &outside},
                                                           {"a tree always wrong", &wrong_tree}};
    for (const auto& [name, drafter] : drafters) {
        const std::string drafter_name = name;
        CAPTURE(drafter_name);
        const bool tree = drafter == &lookahead || drafter == &wrong_tree;
        Setup& drafted = tree ? trees : sequences;
        REQUIRE(drafted.generator.set_drafter(drafter));
        int taken = 0;
        for (const std::vector<int32_t>& prompt : prompts(plain.target.source.tokenizer())) {
            for (size_t stop : {size_t(0), size_t(7)}) {
                CAPTURE(stop);
                plain.generator.reset();
                drafted.generator.reset();
                const Conversation want = converse(plain.generator, prompt, 80, stop);
                const Conversation got = converse(drafted.generator, prompt, 80, stop);
                CHECK(got.first == want.first);
                CHECK(got.tokens_after_first == want.tokens_after_first);
                CHECK(got.pending_after_first == want.pending_after_first);
                CHECK(got.second == want.second);
                taken += got.drafts_taken;
            }
        }
        if (drafter == &model_drafter || drafter == &lookup || drafter == &lookahead) CHECK(taken > 0);
    }
    // A drafter that is never right pauses: few batches in an 80-token reply.
    MESSAGE("an always-wrong drafter was asked " << wrong.calls << " times");
    CHECK(wrong.calls <= 6 * 8);
}

TEST_CASE("sampled replies with drafts are the sampled replies without, for the same seed") {
    if (!test_support::require_shared(target_file) || !test_support::require_shared(draft_file)) return;
    SamplerConfig sampling;
    sampling.temperature = 1.0f;
    sampling.top_k = 4;
    sampling.top_p = 1.0f;
    sampling.min_p = 0.0f;
    Setup plain(sampling, 0);
    Setup drafted(sampling, 4);
    Loaded draft{draft_file};
    std::vector<uint8_t> drafter_memory(ModelDrafter::required_bytes(256, 1024) + LookupDrafter::required_bytes(256) +
                                        LookaheadDrafter::required_bytes(4, 3));
    Arena arena(drafter_memory.data(), drafter_memory.size());
    ModelDrafter model_drafter;
    REQUIRE(model_drafter.init(draft.instance.model(), 256, 0.0f, arena));  // always drafts
    REQUIRE(drafted.generator.set_drafter(&model_drafter));
    const std::vector<int32_t> prompt = plain.target.source.tokenizer().encode("ROMEO:\nBut soft, what", true, false);
    // The first two tokens of many replies: the second is the first a drafted batch decides.
    int drafted_runs = 0;
    auto pairs = [&](Generator& g, int runs) {
        std::vector<std::pair<int32_t, int32_t>> out;
        GenerationRequest request;
        request.n_predict = 2;
        request.stop_at_end_of_generation = false;
        const int n = int(prompt.size());
        g.reset();
        REQUIRE(g.prompt(prompt.data(), n - 1));
        for (int r = 0; r < runs; ++r) {
            SamplerConfig s = sampling;
            s.seed = uint64_t(r + 1);
            REQUIRE(g.sampler().configure(s));
            REQUIRE(g.truncate(n - 1));  // the prompt's last token evaluated afresh each time
            std::vector<int32_t> ids;
            REQUIRE(g.prompt(prompt.data() + n - 1, 1));
            REQUIRE(g.generate(request, collect, &ids));
            REQUIRE(ids.size() == 2);
            out.push_back({ids[0], ids[1]});
            drafted_runs += g.stats().n_drafted > 0;
        }
        return out;
    };
    const int runs = 300;
    const auto want = pairs(plain.generator, runs);
    CHECK(pairs(drafted.generator, runs) == want);
    CHECK(drafted_runs > runs / 4);  // the rest decided while drafting paused
    std::map<int32_t, int> seconds;
    for (const auto& [first, second] : want) ++seconds[second];
    CHECK(seconds.size() >= 4);  // sampled, not one reply

    // Several candidates for the second token (a tree): the four most frequent second tokens.
    std::vector<std::pair<int, int32_t>> by_count;
    for (const auto& [id, n] : seconds) by_count.push_back({-n, id});
    std::sort(by_count.begin(), by_count.end());
    Candidates candidates;
    for (size_t i = 0; i < 4 && i < by_count.size(); ++i) candidates.ids.push_back(by_count[i].second);
    Setup tree(sampling, 4);
    REQUIRE(tree.generator.set_drafter(&candidates));
    drafted_runs = 0;
    CHECK(pairs(tree.generator, runs) == want);
    CHECK(drafted_runs > runs / 4);

    // Whole conversations with prompt lookup and lookahead.
    LookupDrafter lookup;
    LookaheadDrafter lookahead;
    REQUIRE(lookup.init(256, 3, arena));
    REQUIRE(lookahead.init(4, 3, 2, arena));
    Setup trees(sampling, LookaheadDrafter::tree_nodes(4, 3, 2) - 1);
    for (Setup* s : {&drafted, &trees}) {
        REQUIRE(s->generator.set_drafter(s == &trees ? static_cast<Drafter*>(&lookahead) : &lookup));
        for (const std::vector<int32_t>& p : prompts(plain.target.source.tokenizer())) {
            REQUIRE(plain.generator.sampler().configure(sampling));
            REQUIRE(s->generator.sampler().configure(sampling));
            plain.generator.reset();
            s->generator.reset();
            const Conversation a = converse(plain.generator, p, 80), b = converse(s->generator, p, 80);
            CHECK(a.first == b.first);
            CHECK(a.second == b.second);
        }
    }
}

TEST_CASE("lookahead drafts only for models that evaluate trees, and needs a sensible window") {
    std::vector<uint8_t> memory(LookaheadDrafter::required_bytes(16, 8));
    Arena arena(memory.data(), memory.size());
    LookaheadDrafter lookahead;
    CHECK(lookahead.init(0, 3, 1, arena).code == Error::invalid_argument);
    CHECK(lookahead.init(2, 2, 1, arena).code == Error::invalid_argument);
    CHECK(lookahead.init(2, 3, 0, arena).code == Error::invalid_argument);
    CHECK(lookahead.init(17, 3, 1, arena).code == Error::invalid_argument);
    CHECK(lookahead.init(2, 9, 1, arena).code == Error::invalid_argument);
    REQUIRE(lookahead.init(4, 3, 2, arena));
    CHECK(LookaheadDrafter::tree_nodes(4, 3, 2) == 1 + 3 + 4 + 4);
}

TEST_CASE("drafting needs room for the drafts and stops being used when detached") {
    if (!test_support::require_shared(target_file)) return;
    Setup none(greedy(), 0);
    FixedDrafter wrong(7);
    CHECK(none.generator.set_drafter(&wrong).code == Error::invalid_argument);
    Setup drafted(greedy(), 4);
    REQUIRE(drafted.generator.set_drafter(&wrong));
    REQUIRE(drafted.generator.set_drafter(nullptr));
    const std::vector<int32_t> prompt = drafted.target.source.tokenizer().encode("ROMEO:", true, false);
    GenerationRequest request;
    request.n_predict = 8;
    std::vector<int32_t> ids;
    REQUIRE(drafted.generator.prompt(prompt.data(), int(prompt.size())));
    REQUIRE(drafted.generator.generate(request, collect, &ids));
    CHECK(wrong.calls == 0);
    CHECK(drafted.generator.stats().n_draft_steps == 0);

    // A tree larger than the session's batch of 32: refused by the model, so no draft, and the reply goes on.
    Setup plain(greedy(), 0), wide(greedy(), 40);
    FixedDrafter bushy(7, 20);
    REQUIRE(wide.generator.set_drafter(&bushy));
    std::vector<int32_t> want, got;
    for (auto [g, out] : {std::pair{&plain.generator, &want}, std::pair{&wide.generator, &got}}) {
        REQUIRE(g->prompt(prompt.data(), int(prompt.size())));
        REQUIRE(g->generate(request, collect, out));
    }
    CHECK(got == want);
    CHECK(bushy.calls > 0);
    CHECK(wide.generator.stats().n_draft_steps == 0);
}

TEST_CASE("lookahead forgets a conversation that is reset: the same reply drafts the same way again") {
    if (!test_support::require_shared(target_file)) return;
    Setup drafted(greedy(), LookaheadDrafter::tree_nodes(4, 3, 3) - 1);
    std::vector<uint8_t> memory(LookaheadDrafter::required_bytes(4, 3));
    Arena arena(memory.data(), memory.size());
    LookaheadDrafter lookahead;
    REQUIRE(lookahead.init(4, 3, 3, arena));
    REQUIRE(drafted.generator.set_drafter(&lookahead));
    const std::vector<int32_t> prompt = prompts(drafted.target.source.tokenizer())[0];
    GenerationRequest request;
    request.n_predict = 60;
    request.stop_at_end_of_generation = false;
    std::vector<std::pair<int, int>> runs;
    for (int r = 0; r < 2; ++r) {
        std::vector<int32_t> ids;
        drafted.generator.reset();
        REQUIRE(drafted.generator.prompt(prompt.data(), int(prompt.size())));
        REQUIRE(drafted.generator.generate(request, collect, &ids));
        runs.push_back({drafted.generator.stats().n_draft_steps, drafted.generator.stats().n_drafts_taken});
    }
    CHECK(runs[0] == runs[1]);
    CHECK(runs[0].first > 0);
}

namespace {
void check_inside_taken_drafts(bool decoys) {
    Setup plain(greedy(), 0);
    Setup drafted(greedy(), 8);
    const std::vector<int32_t> prompt = plain.target.source.tokenizer().encode("ROMEO:\nBut soft, what light", true, false);
    GenerationRequest request;
    request.n_predict = 40;
    request.stop_at_end_of_generation = false;
    // The reply without drafts, each step's pending token and count.
    std::vector<std::pair<int32_t, int>> want;
    KnownReply known;
    known.decoys = decoys;
    known.conversation = prompt;
    REQUIRE(plain.generator.prompt(prompt.data(), int(prompt.size())));
    REQUIRE(plain.generator.begin(request));
    GeneratedToken token;
    for (Result<bool> more = plain.generator.step(token); *more; more = plain.generator.step(token)) {
        want.push_back({plain.generator.pending_token(), plain.generator.n_tokens()});
        known.conversation.push_back(token.id);
    }
    REQUIRE(drafted.generator.set_drafter(&known));
    REQUIRE(drafted.generator.prompt(prompt.data(), int(prompt.size())));
    REQUIRE(drafted.generator.begin(request));
    std::vector<std::pair<int32_t, int>> got;
    for (Result<bool> more = drafted.generator.step(token); *more; more = drafted.generator.step(token))
        got.push_back({drafted.generator.pending_token(), drafted.generator.n_tokens()});
    CHECK(got == want);
    CHECK(drafted.generator.stats().n_drafts_taken > 20);

    // Stopped inside a batch: the state saves and, restored without drafts, continues as the plain one.
    plain.generator.reset();
    drafted.generator.reset();
    for (Generator* g : {&plain.generator, &drafted.generator}) {
        REQUIRE(g->prompt(prompt.data(), int(prompt.size())));
        REQUIRE(g->begin(request));
        for (int i = 0; i < 6; ++i) REQUIRE(*g->step(token));
        g->stop();
        while (*g->step(token)) {
        }
    }
    CHECK(drafted.generator.n_tokens() == plain.generator.n_tokens());
    std::vector<uint8_t> state(drafted.generator.state_bytes());
    REQUIRE(drafted.generator.save_state(state.data(), state.size()));
    Setup restored(greedy(), 0);
    REQUIRE(restored.generator.load_state(state.data(), state.size()));
    request.n_predict = 16;
    std::vector<int32_t> a, b;
    REQUIRE(plain.generator.generate(request, collect, &a));
    REQUIRE(restored.generator.generate(request, collect, &b));
    CHECK(a == b);
}

} // namespace

TEST_CASE("inside a batch (or tree) of taken drafts: the same pending token and count as without, and a state saved after stop() continues the same") {
    if (!test_support::require_shared(target_file)) return;
    SUBCASE("a batch") { check_inside_taken_drafts(false); }
    SUBCASE("a tree with a wrong token before each right one") { check_inside_taken_drafts(true); }
}

TEST_CASE("a token history follows the conversation, and starts afresh where it missed tokens") {
    std::vector<uint8_t> memory(TokenHistory::required_bytes(16));
    Arena arena(memory.data(), memory.size());
    TokenHistory h;
    REQUIRE(h.init(16, arena));
    const int32_t a[] = {1, 2, 3, 4};
    h.update(0, a, 4);
    h.update(2, a, 1);  // keeps 1 2, then 1
    CHECK(std::vector<int32_t>(h.tokens(), h.tokens() + h.size()) == std::vector<int32_t>{1, 2, 1});
    CHECK(h.start() == 0);
    h.update(0, nullptr, 0);
    h.update(9, a + 2, 2);  // after a restored state: positions 9 and 10
    CHECK(h.start() == 9);
    CHECK(std::vector<int32_t>(h.tokens(), h.tokens() + h.size()) == std::vector<int32_t>{3, 4});
    h.update(10, a, 1);  // keeps position 9, then 1
    CHECK(std::vector<int32_t>(h.tokens(), h.tokens() + h.size()) == std::vector<int32_t>{3, 1});
    h.update(4, a, 2);  // before what it knows: afresh at 4
    CHECK(h.start() == 4);
    CHECK(std::vector<int32_t>(h.tokens(), h.tokens() + h.size()) == std::vector<int32_t>{1, 2});
}

TEST_CASE("drafting pauses while it does not pay, for longer each time, and resumes at once after a batch that paid") {
    auto paused_for = [](DraftPacing& p) {
        int n = 0;
        while (p.paused()) ++n;
        return n;
    };
    SUBCASE("untimed: a running mean of the drafts taken below 1/4") {
        DraftPacing p(false);
        p.count(0.0);  // mean 0.25: not yet below
        CHECK(paused_for(p) == 0);
        p.count(0.0);
        CHECK(paused_for(p) == 8);
        p.count(0.0), p.count(0.0);
        CHECK(paused_for(p) == 16);
        for (int i = 0; i < 12; ++i) p.count(0.0), p.count(0.0);
        CHECK(paused_for(p) == 256);  // doubling stops at 256
        p.count(2.0);  // a batch that paid: the next pause is the shortest again
        p.count(0.0), p.count(0.0), p.count(0.0);
        CHECK(paused_for(p) == 8);
    }
    SUBCASE("timed: a running mean of the gains below 1, for 20 tokens per step's time lost") {
        DraftPacing p(true);
        p.count(1.5, 0.5);  // paid
        CHECK(paused_for(p) == 0);
        p.count(0.4, 1.5);  // mean 0.825: 20 x 1.5 = 30 tokens, more than the backoff of 8
        CHECK(paused_for(p) == 30);
        p.count(0.1, 40.0);  // a very costly batch: capped at 256
        CHECK(paused_for(p) == 256);
        p.restart(true);
        p.count(0.9, 0.1);  // a little lost (2 tokens' worth): the backoff, 8 again after restart()
        CHECK(paused_for(p) == 8);
    }
}
