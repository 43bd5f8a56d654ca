// XNNPACK-delegated .pte programs on tinyllm's own kernels: ExecuTorch's own XNNPACK export of
// stories260K against its portable twin and PyTorch; quantized fully connected payloads built
// here from the schema (qd8 x qc8w, qc4w, qb4w at group sizes 32-256) against XNNPACK's
// arithmetic; float nodes against hand-computed values; refusals by name; mutated payloads.
#define DOCTEST_CONFIG_IMPLEMENT_WITH_MAIN
#include <cmath>
#include <cstring>
#include <random>

#include "pte_support.hpp"
#include "tinyllm/loaders/host/flatbuffer_writer.hpp"
#include "test_support.hpp"
#include "tinyllm/pte/method.hpp"

using namespace tinyllm;
using namespace test_support;
using namespace pte_support;
namespace pb = tinyllm::flatbuffer_writer;
namespace xnn = tinyllm::xnnpack;

namespace {

const std::string xnnpack_pte = "fixtures/pte/stories260K_fp32_kv_xnnpack.pte";
const std::string portable_pte = "fixtures/pte/stories260K_fp32_kv.pte";

// ---- building payloads from the schema ----

struct GraphBuilder {
    std::vector<pb::NodePtr> values, nodes, constants;
    std::vector<uint8_t> constant_data;

    GraphBuilder() { constants.push_back(entry(0, 0)); }  // index 0: the non-constant placeholder

    static pb::NodePtr entry(uint64_t offset, uint64_t size) {
        pb::NodePtr e = pb::table();
        pb::set<uint64_t>(e, xnn::field::constant_offset, offset);
        pb::set<uint64_t>(e, xnn::field::constant_size, size);
        return e;
    }
    // Stores bytes in the payload's constant data (16-byte aligned); returns their index.
    uint32_t constant(const void* data, size_t n) {
        while (constant_data.size() % 16) constant_data.push_back(0);
        constants.push_back(entry(constant_data.size(), n));
        const uint8_t* p = static_cast<const uint8_t*>(data);
        constant_data.insert(constant_data.end(), p, p + n);
        return uint32_t(constants.size() - 1);
    }
    pb::NodePtr tensor(xnn::Datatype type, const std::vector<uint32_t>& dims, uint32_t constant, uint32_t external, uint32_t flags) {
        pb::NodePtr t = pb::table();
        pb::set<int16_t>(t, xnn::field::tensor_datatype, int16_t(type));
        pb::set<uint32_t>(t, xnn::field::tensor_num_dims, uint32_t(dims.size()));
        pb::child(t, xnn::field::tensor_dims, pb::scalars(dims));
        pb::set<uint32_t>(t, xnn::field::tensor_constant_buffer_idx, constant);
        pb::set<uint32_t>(t, xnn::field::tensor_external_id, external);
        pb::set<uint32_t>(t, xnn::field::tensor_flags, flags);
        pb::set<uint32_t>(t, xnn::field::tensor_id_out, uint32_t(values.size()));
        return t;
    }
    uint32_t add_value(pb::NodePtr tensor_table, uint8_t kind = 1) {
        pb::NodePtr v = pb::table();
        pb::set<uint8_t>(v, xnn::field::value_type, kind);
        pb::child(v, xnn::field::value_value, tensor_table);
        values.push_back(v);
        return uint32_t(values.size() - 1);
    }
    uint32_t value(xnn::Datatype type, const std::vector<uint32_t>& dims, uint32_t constant = 0, uint32_t external = xnn::invalid_id,
                   uint32_t flags = 0) {
        return add_value(tensor(type, dims, constant, external, flags));
    }
    // A quantized value: params is the quantization table of union type `kind`.
    uint32_t quantized(xnn::Datatype type, const std::vector<uint32_t>& dims, uint32_t constant, xnn::QuantKind kind, pb::NodePtr params) {
        pb::NodePtr q = pb::table();
        pb::child(q, xnn::field::quantized_tensor, tensor(type, dims, constant, xnn::invalid_id, 0));
        pb::set<uint8_t>(q, xnn::field::quantized_params_type, uint8_t(kind));
        pb::child(q, xnn::field::quantized_params, params);
        return add_value(q, 2);
    }
    void node(xnn::NodeKind kind, pb::NodePtr fields, bool clamp = false, float lo = 0, float hi = 0) {
        pb::NodePtr n = pb::table();
        pb::set<uint8_t>(n, xnn::field::node_type, uint8_t(kind));
        pb::child(n, xnn::field::node_value, fields);
        if (clamp) {
            pb::NodePtr mm = pb::table();
            pb::set<float>(mm, xnn::field::output_min, lo);
            pb::set<float>(mm, xnn::field::output_max, hi);
            pb::child(n, xnn::field::node_output_min_max, mm);
        }
        nodes.push_back(n);
    }
    static pb::NodePtr ids(std::initializer_list<std::pair<int, uint32_t>> slots) {
        pb::NodePtr f = pb::table();
        for (auto [slot, id] : slots) pb::set<uint32_t>(f, slot, id);
        return f;
    }

    // The payload: XH00 header (padded to 32), the XN01 flatbuffer (padded to 16), constants.
    std::vector<uint8_t> payload() const {
        pb::NodePtr g = pb::table();
        pb::child(g, xnn::field::graph_version, pb::str("1"));
        pb::child(g, xnn::field::graph_nodes, pb::nodes(nodes));
        pb::child(g, xnn::field::graph_values, pb::nodes(values));
        pb::child(g, xnn::field::graph_constant_data, pb::nodes(constants));
        std::vector<uint8_t> fb = pb::Writer().finish(g, "XN01");
        while (fb.size() % 16) fb.push_back(0);
        std::vector<uint8_t> out(32 + fb.size() + constant_data.size(), 0);
        std::memcpy(out.data() + 4, "XH00", 4);
        const uint16_t header_len = 30;
        const uint32_t fb_offset = 32, fb_size = uint32_t(fb.size()), data_offset = uint32_t(32 + fb.size());
        const uint64_t data_size = constant_data.size();
        std::memcpy(out.data() + 8, &header_len, 2);
        std::memcpy(out.data() + 10, &fb_offset, 4);
        std::memcpy(out.data() + 14, &fb_size, 4);
        std::memcpy(out.data() + 18, &data_offset, 4);
        std::memcpy(out.data() + 22, &data_size, 8);
        std::memcpy(out.data() + 32, fb.data(), fb.size());
        if (!constant_data.empty()) std::memcpy(out.data() + 32 + fb.size(), constant_data.data(), constant_data.size());
        return out;
    }
};

// A loaded delegate with its call's arguments: float32 tensors the test owns.
struct DelegateRun {
    std::vector<uint8_t> bytes, memory, scratch;
    Arena arena;
    pte::XnnpackDelegate delegate;
    std::vector<pte::Value> values;
    std::vector<std::vector<float>> data;
    std::vector<int32_t> arg_buffer;  // count, then indices (a flatbuffer vector)

    Status load(std::vector<uint8_t> payload, const std::vector<std::vector<int64_t>>& shapes) {
        bytes = std::move(payload);
        Result<xnn::Payload> p = xnn::open_payload(ByteSpan{bytes.data(), bytes.size()});
        if (!p) return p.status;
        const pte::XnnFootprint f = pte::measure_delegate(*p);
        memory.assign(size_t(pte::XnnpackDelegate::arena_bytes(f)) + 64, 0);
        scratch.assign(size_t(f.scratch_bytes) + 64, 0);
        arena = Arena(memory.data(), memory.size());
        uint8_t* aligned_scratch = scratch.data() + (64 - reinterpret_cast<uintptr_t>(scratch.data()) % 64) % 64;
        if (Status s = delegate.init(pte::Program(), ByteSpan{bytes.data(), bytes.size()}, 0, arena, aligned_scratch, f.scratch_bytes); !s) return s;
        values.assign(shapes.size(), pte::Value());
        data.assign(shapes.size(), {});
        arg_buffer.assign(1, int32_t(shapes.size()));
        for (size_t k = 0; k < shapes.size(); ++k) {
            pte::Tensor& t = values[k].tensor;
            values[k].kind = pte::ValueKind::Tensor;
            t.dim = int(shapes[k].size());
            int64_t n = 1;
            for (int d = 0; d < t.dim; ++d) n *= (t.sizes[d] = shapes[k][size_t(d)]);
            data[k].assign(size_t(n), 0.0f);
            t.data = reinterpret_cast<uint8_t*>(data[k].data());
            arg_buffer.push_back(int32_t(k));
        }
        uint32_t outputs = 0;
        return delegate.check_call(values.data(), args(), outputs);
    }
    fb::Vector<int32_t> args() const {
        fb::Vector<int32_t> v;
        v.src = fb::Source{reinterpret_cast<const uint8_t*>(arg_buffer.data()), arg_buffer.size() * 4, nullptr};
        v.pos = 4;
        v.count = uint32_t(arg_buffer.size() - 1);
        return v;
    }
    Status run() { return delegate.execute(values.data(), args()); }
};

float bf16_value(uint16_t h) {
    uint32_t bits = uint32_t(h) << 16;
    float f;
    std::memcpy(&f, &bits, 4);
    return f;
}

// XNNPACK's qd8 row parameters and codes (section "qdint8" of its quantization), in float32.
struct Qd8 {
    std::vector<int> q;
    int zero;
    float scale;
};
Qd8 qd8_reference(const float* x, int n) {
    float lo = 0, hi = 0;
    for (int i = 0; i < n; ++i) lo = std::min(lo, x[i]), hi = std::max(hi, x[i]);
    const float mult = lo == hi ? 1.0f : 255.0f / (hi - lo);
    const float dmin = lo * mult, dmax = hi * mult;
    float zpf = (-128 + dmin) + (127 + dmax) > 0 ? -128 - dmin : 127 - dmax;
    zpf = std::min(127.0f, std::max(-128.0f, zpf));
    Qd8 r;
    r.zero = int(std::nearbyint(zpf));
    r.scale = 1.0f / mult;
    for (int i = 0; i < n; ++i) r.q.push_back(int(std::nearbyint(std::min(float(127 - r.zero), std::max(float(-128 - r.zero), x[i] * mult)))) + r.zero);
    return r;
}

} // namespace

TEST_CASE("stories260K XNNPACK export: the logits of its portable twin, the greedy ids of PyTorch") {
    if (!require_shared(xnnpack_pte) || !require_shared(portable_pte)) return;
    const std::string ref = read_text(shared_path("fixtures/pte/stories260K_reference.json"));
    const std::vector<int> prompt = json_int_array(ref, "prompt_tokens");
    const std::vector<int> greedy = json_int_array(ref, "generated_ids");
    Loaded x, p;
    REQUIRE_MESSAGE(x.open(read_bytes(shared_path(xnnpack_pte)), "forward").ok(), describe(x.status));
    REQUIRE_MESSAGE(p.open(read_bytes(shared_path(portable_pte)), "forward").ok(), describe(p.status));
    CHECK(x.program.named_data_count() == 36);
    CHECK(x.program.plan(0).delegate_count() == 63);
    std::vector<float> lx, lp;
    double worst = 0;
    for (size_t i = 0; i < prompt.size(); ++i) {
        lx = decode_step(x.method, prompt[i], int64_t(i));
        lp = decode_step(p.method, prompt[i], int64_t(i));
        worst = std::max(worst, nrmse(lx, lp));
    }
    std::vector<int> generated;
    for (size_t j = 0; j < greedy.size(); ++j) {
        const int next = argmax(lx.data(), int(lx.size()));
        generated.push_back(next);
        lx = decode_step(x.method, next, int64_t(prompt.size() + j));
        lp = decode_step(p.method, next, int64_t(prompt.size() + j));
        worst = std::max(worst, nrmse(lx, lp));
    }
    MESSAGE("worst nrmse against the portable program: " << worst);
    CHECK(worst <= 1e-4);
    CHECK(generated == greedy);
}

TEST_CASE("quantized fully connected: qd8 x qc8w, qc4w and qb4w (group 32-256) follow XNNPACK's arithmetic") {
    struct Case {
        xnn::Datatype filter;
        int group;          // qb4w only
        bool bf16_constant; // qb4w: bf16 scales in a constant (else float32 in the graph)
        int k;
    };
    const Case cases[] = {{xnn::Datatype::qcint8, 0, false, 96},  {xnn::Datatype::qcint4, 0, false, 70}, {xnn::Datatype::qbint4, 32, true, 128},
                          {xnn::Datatype::qbint4, 64, false, 128}, {xnn::Datatype::qbint4, 128, true, 256}, {xnn::Datatype::qbint4, 256, false, 512}};
    std::mt19937 rng(7);
    std::uniform_real_distribution<float> uni(-1.0f, 1.0f);
    for (const Case& c : cases) {
        CAPTURE(xnn::datatype_name(c.filter));
        CAPTURE(c.group);
        const int m = 3, n = 24, k = c.k;
        const bool four = c.filter != xnn::Datatype::qcint8;
        std::vector<int> w(size_t(n) * k);
        for (int& v : w) v = four ? int(rng() % 16) - 8 : int(rng() % 255) - 127;
        std::vector<uint8_t> packed;
        const int row_bytes = four ? (k + 1) / 2 : k;
        for (int r = 0; r < n; ++r)
            for (int b = 0; b < row_bytes; ++b) {
                if (!four) { packed.push_back(uint8_t(int8_t(w[size_t(r) * k + b]))); continue; }
                const int lo = w[size_t(r) * k + 2 * b] + 8, hi = 2 * b + 1 < k ? w[size_t(r) * k + 2 * b + 1] + 8 : 8;
                packed.push_back(uint8_t(lo | hi << 4));
            }
        const int groups = c.filter == xnn::Datatype::qbint4 ? k / c.group : 1;
        std::vector<float> scales(size_t(n) * groups);
        for (float& s : scales) s = 0.002f + 0.01f * std::fabs(uni(rng));
        std::vector<float> bias{std::vector<float>(size_t(n))};
        for (float& b : bias) b = uni(rng);

        GraphBuilder g;
        const uint32_t x = g.value(xnn::Datatype::fp32, {1, uint32_t(m), uint32_t(k)}, 0, 0, xnn::external_input);
        pb::NodePtr dyn = pb::table();
        pb::set<int32_t>(dyn, 0, 1);
        const uint32_t xq = g.quantized(xnn::Datatype::qdint8, {1, uint32_t(m), uint32_t(k)}, 0, xnn::QuantKind::per_token_dynamic, dyn);
        const uint32_t wc = g.constant(packed.data(), packed.size());
        pb::NodePtr params = pb::table();
        std::vector<float> effective = scales;  // the scales XNNPACK multiplies by
        if (c.filter == xnn::Datatype::qbint4) {
            pb::set<int32_t>(params, xnn::field::group_channel_dim, 0);
            pb::set<int32_t>(params, xnn::field::group_size, c.group);
            if (c.bf16_constant) {
                std::vector<uint16_t> bf16;
                for (float& s : effective) {
                    uint32_t bits;
                    std::memcpy(&bits, &s, 4);
                    bf16.push_back(uint16_t(bits >> 16));
                    s = bf16_value(bf16.back());
                }
                pb::set<uint32_t>(params, xnn::field::group_scale_buffer_idx, g.constant(bf16.data(), bf16.size() * 2));
                pb::set<uint32_t>(params, xnn::field::group_num_scales, uint32_t(bf16.size()));
            } else {
                pb::child(params, xnn::field::group_scale, pb::scalars(scales));
                for (float& s : effective) {
                    const float scaled = s * 1.00389105f;
                    uint32_t bits;
                    std::memcpy(&bits, &scaled, 4);
                    s = bf16_value(uint16_t(bits >> 16));
                }
            }
        } else {
            pb::child(params, xnn::field::per_channel_scale, pb::scalars(scales));
            pb::set<int32_t>(params, xnn::field::per_channel_dim, 0);
        }
        const xnn::QuantKind qk = c.filter == xnn::Datatype::qbint4 ? xnn::QuantKind::per_channel_group : xnn::QuantKind::per_channel;
        const uint32_t wv = g.quantized(c.filter, {uint32_t(n), uint32_t(k)}, wc, qk, params);
        const uint32_t bv = g.value(xnn::Datatype::fp32, {uint32_t(n)}, g.constant(bias.data(), bias.size() * 4));
        const uint32_t y = g.value(xnn::Datatype::fp32, {1, uint32_t(m), uint32_t(n)}, 0, 1, xnn::external_output);
        g.node(xnn::NodeKind::convert, GraphBuilder::ids({{0, x}, {1, xq}}));
        g.node(xnn::NodeKind::fully_connected, GraphBuilder::ids({{0, xq}, {1, wv}, {2, bv}, {3, y}}), true, -0.5f, 0.75f);

        DelegateRun run;
        Status s = run.load(g.payload(), {{1, m, k}, {1, m, n}});
        REQUIRE_MESSAGE(s.ok(), describe(s));
        for (float& v : run.data[0]) v = 3.0f * uni(rng);
        REQUIRE_MESSAGE(run.run().ok(), "run");

        const int group = c.filter == xnn::Datatype::qbint4 ? c.group : k;
        double worst = 0, norm = 0;
        for (int r = 0; r < m; ++r) {
            const Qd8 a = qd8_reference(run.data[0].data() + size_t(r) * k, k);
            for (int o = 0; o < n; ++o) {
                double sum = 0;
                for (int b = 0; b < k / group; ++b) {
                    long block = 0;
                    for (int j = b * group; j < (b + 1) * group; ++j) block += long(a.q[size_t(j)] - a.zero) * w[size_t(o) * k + j];
                    sum += double(effective[size_t(o) * (k / group) + b]) * double(block);
                }
                double expect = double(a.scale) * sum + bias[size_t(o)];
                expect = std::min(0.75, std::max(-0.5, expect));
                worst = std::max(worst, std::fabs(expect - run.data[1][size_t(r) * n + o]));
                norm = std::max(norm, std::fabs(expect));
            }
        }
        CHECK(norm > 0.1);
        CHECK(worst <= 1e-5 * std::max(1.0, norm));
    }
}

TEST_CASE("float nodes: transpose, slice, concatenate, batch matmul (plain and transposed), softmax, clamp, gelu, reshape, mean") {
    GraphBuilder g;
    const uint32_t a = g.value(xnn::Datatype::fp32, {2, 3}, 0, 0, xnn::external_input);       // [[0,1,2],[3,4,5]]
    const uint32_t at = g.value(xnn::Datatype::fp32, {3, 2});                                 // transpose
    const uint32_t s = g.value(xnn::Datatype::fp32, {2, 2});                                  // a[:, 1:3]
    const uint32_t cat = g.value(xnn::Datatype::fp32, {2, 5});                                // [a | s]
    const uint32_t mm = g.value(xnn::Datatype::fp32, {1, 2, 2});                              // a . at
    const uint32_t mmt = g.value(xnn::Datatype::fp32, {1, 2, 2});                             // a . a^T (transpose_b)
    const uint32_t a3 = g.value(xnn::Datatype::fp32, {1, 2, 3});                              // reshape of a
    const uint32_t at3 = g.value(xnn::Datatype::fp32, {1, 3, 2});
    const uint32_t sm = g.value(xnn::Datatype::fp32, {2, 5}, 0, 1, xnn::external_output);
    const uint32_t cl = g.value(xnn::Datatype::fp32, {1, 2, 2}, 0, 2, xnn::external_output);
    const uint32_t ge = g.value(xnn::Datatype::fp32, {1, 2, 2}, 0, 3, xnn::external_output);
    pb::NodePtr perm = GraphBuilder::ids({{0, 2}, {2, a}, {3, at}});
    pb::child(perm, 1, pb::scalars(std::vector<uint32_t>{1, 0}));
    g.node(xnn::NodeKind::static_transpose, perm);
    pb::NodePtr slice = GraphBuilder::ids({{0, 2}, {3, a}, {4, s}});
    pb::child(slice, 1, pb::scalars(std::vector<uint32_t>{0, 1}));
    pb::child(slice, 2, pb::scalars(std::vector<uint32_t>{2, 2}));
    g.node(xnn::NodeKind::static_slice, slice);
    g.node(xnn::NodeKind::concatenate2, GraphBuilder::ids({{0, 1}, {1, a}, {2, s}, {3, xnn::invalid_id}, {4, xnn::invalid_id}, {5, cat}}));
    pb::NodePtr r1 = GraphBuilder::ids({{0, 3}, {2, a}, {3, a3}});
    pb::child(r1, 1, pb::scalars(std::vector<uint32_t>{1, 2, 3}));
    g.node(xnn::NodeKind::static_reshape, r1);
    pb::NodePtr r2 = GraphBuilder::ids({{0, 3}, {2, at}, {3, at3}});
    pb::child(r2, 1, pb::scalars(std::vector<uint32_t>{1, 3, 2}));
    g.node(xnn::NodeKind::static_reshape, r2);
    g.node(xnn::NodeKind::batch_matrix_multiply, GraphBuilder::ids({{0, a3}, {1, at3}, {2, mm}}));
    g.node(xnn::NodeKind::batch_matrix_multiply, GraphBuilder::ids({{0, a3}, {1, a3}, {2, mmt}, {3, 1}}));
    g.node(xnn::NodeKind::softmax, GraphBuilder::ids({{0, cat}, {1, sm}}));
    g.node(xnn::NodeKind::clamp, GraphBuilder::ids({{0, mm}, {1, cl}}), true, 6.0f, 40.0f);
    g.node(xnn::NodeKind::gelu, GraphBuilder::ids({{0, mmt}, {1, ge}}));
    // The mean of a[:, 1:3] seen as NHWC [1, 2, 2, 1]: (-1.5 - 0.5 + 1.5 + 2.5) / 4 = 0.5.
    const uint32_t mean = g.value(xnn::Datatype::fp32, {1, 1, 1, 1}, 0, 4, xnn::external_output);
    pb::NodePtr r3 = GraphBuilder::ids({{0, 4}, {2, s}, {3, g.value(xnn::Datatype::fp32, {1, 2, 2, 1})}});
    pb::child(r3, 1, pb::scalars(std::vector<uint32_t>{1, 2, 2, 1}));
    g.node(xnn::NodeKind::static_reshape, r3);
    g.node(xnn::NodeKind::global_avg_pooling_2d, GraphBuilder::ids({{0, uint32_t(g.values.size() - 1)}, {1, mean}, {2, 0x40}}));

    DelegateRun run;
    Status st = run.load(g.payload(), {{2, 3}, {2, 5}, {1, 2, 2}, {1, 2, 2}, {1, 1, 1, 1}});
    REQUIRE_MESSAGE(st.ok(), describe(st));
    for (int i = 0; i < 6; ++i) run.data[0][size_t(i)] = float(i) - 2.5f;  // [[-2.5,-1.5,-0.5],[0.5,1.5,2.5]]
    REQUIRE(run.run().ok());
    // a . a^T clamped to [6, 40]: [[8.75, 6], [6, 8.75]].
    const float clamped[4] = {8.75f, 6.0f, 6.0f, 8.75f};
    for (int i = 0; i < 4; ++i) CHECK(run.data[2][size_t(i)] == doctest::Approx(clamped[i]));
    // a . a^T = [[8.75, -4.75], [-4.75, 8.75]]; gelu(-4.75) = -4.75 * Phi(-4.75) (exact, erf-based).
    CHECK(run.data[3][0] == doctest::Approx(8.75f));
    CHECK(run.data[3][1] == doctest::Approx(-4.75 * 0.5 * std::erfc(4.75 / std::sqrt(2.0))).epsilon(1e-4));
    CHECK(run.data[3][1] < -1e-6);
    // Softmax rows of [a | a[:,1:3]]: row 0 = softmax(-2.5,-1.5,-0.5,-1.5,-0.5).
    const double row0[5] = {-2.5, -1.5, -0.5, -1.5, -0.5};
    double total = 0;
    for (double v : row0) total += std::exp(v);
    for (int i = 0; i < 5; ++i) CHECK(run.data[1][size_t(i)] == doctest::Approx(std::exp(row0[i]) / total).epsilon(1e-6));
    CHECK(run.data[4][0] == 0.5f);
}

TEST_CASE("refusals name what is missing: a convolution node, an unknown datatype, a wrong call") {
    {
        GraphBuilder g;
        const uint32_t x = g.value(xnn::Datatype::fp32, {1, 4, 4, 1}, 0, 0, xnn::external_input);
        const uint32_t y = g.value(xnn::Datatype::fp32, {1, 4, 4, 1}, 0, 1, xnn::external_output);
        g.node(xnn::NodeKind::conv2d, GraphBuilder::ids({{15, x}, {16, x}, {18, y}}));
        DelegateRun run;
        Status s = run.load(g.payload(), {{1, 4, 4, 1}, {1, 4, 4, 1}});
        CHECK(s.code == Error::unsupported_op);
        CHECK_MESSAGE(std::string(s.detail).find("Conv2d") != std::string::npos, s.detail);
    }
    {
        GraphBuilder g;
        const uint32_t x = g.value(xnn::Datatype::quint8, {4}, 0, 0, xnn::external_input);
        const uint32_t y = g.value(xnn::Datatype::fp32, {4}, 0, 1, xnn::external_output);
        g.node(xnn::NodeKind::abs, GraphBuilder::ids({{0, x}, {1, y}}));
        DelegateRun run;
        Status s = run.load(g.payload(), {{4}, {4}});
        CHECK(s.code == Error::unsupported_type);
        CHECK_MESSAGE(std::string(s.detail).find("quint8") != std::string::npos, s.detail);
    }
    {
        GraphBuilder g;
        const uint32_t x = g.value(xnn::Datatype::fp32, {4}, 0, 0, xnn::external_input);
        const uint32_t y = g.value(xnn::Datatype::fp32, {4}, 0, 1, xnn::external_output);
        g.node(xnn::NodeKind::negate, GraphBuilder::ids({{0, x}, {1, y}}));
        DelegateRun run;
        Status s = run.load(g.payload(), {{4}, {5}});  // the output argument has 5 elements
        CHECK(s.code == Error::shape_mismatch);
        DelegateRun ok;
        REQUIRE(ok.load(g.payload(), {{4}, {4}}).ok());
        ok.data[0] = {1, -2, 3, -4};
        REQUIRE(ok.run().ok());
        CHECK(ok.data[1] == std::vector<float>{-1, 2, -3, 4});
    }
}

TEST_CASE("crafted payloads are refused or run safely: constant qdint8, writing an input, absurd dims, a shared filter, moved arguments") {
    {  // A dynamically quantized value with constant data (ExecuTorch refuses it too).
        GraphBuilder g;
        const uint8_t four[4] = {};
        const uint32_t q = g.value(xnn::Datatype::qdint8, {64}, g.constant(four, 4));
        const uint32_t y = g.value(xnn::Datatype::fp32, {64}, 0, 0, xnn::external_output);
        g.node(xnn::NodeKind::convert, GraphBuilder::ids({{0, q}, {1, y}}));
        DelegateRun run;
        CHECK(run.load(g.payload(), {{64}}).code == Error::corrupt);
    }
    {  // A node writing the delegate's input (which the program may hold as a constant).
        GraphBuilder g;
        const uint32_t x = g.value(xnn::Datatype::fp32, {4}, 0, 0, xnn::external_input);
        const uint32_t y = g.value(xnn::Datatype::fp32, {4}, 0, 1, xnn::external_output);
        g.node(xnn::NodeKind::negate, GraphBuilder::ids({{0, x}, {1, y}}));
        g.node(xnn::NodeKind::square, GraphBuilder::ids({{0, y}, {1, x}}));
        DelegateRun run;
        Status s = run.load(g.payload(), {{4}, {4}});
        CHECK(s.code == Error::invalid_argument);
        CHECK_MESSAGE(std::string(s.detail).find("input of the delegate") != std::string::npos, s.detail);
    }
    {  // A zero dimension does not hide dimensions whose products overflow.
        GraphBuilder g;
        const uint32_t x = g.value(xnn::Datatype::fp32, {0, 0xffffffffu, 0xffffffffu, 0xffffffffu}, 0, 0, xnn::external_input);
        const uint32_t y = g.value(xnn::Datatype::fp32, {0, 0xffffffffu, 0xffffffffu, 0xffffffffu}, 0, 1, xnn::external_output);
        pb::NodePtr perm = GraphBuilder::ids({{0, 4}, {2, x}, {3, y}});
        pb::child(perm, 1, pb::scalars(std::vector<uint32_t>{0, 1, 2, 3}));
        g.node(xnn::NodeKind::static_transpose, perm);
        const std::vector<uint8_t> bytes = g.payload();
        CHECK(xnn::open_payload(ByteSpan{bytes.data(), bytes.size()}).status.code == Error::corrupt);
    }
    {  // One filter read by two fully connected nodes of different geometry: each keeps its own.
        GraphBuilder g;
        const float w[4] = {1, 2, 3, 4};
        const uint32_t filter = g.value(xnn::Datatype::fp32, {1, 4}, g.constant(w, sizeof(w)));
        const uint32_t x = g.value(xnn::Datatype::fp32, {1, 4}, 0, 0, xnn::external_input);
        const uint32_t t = g.value(xnn::Datatype::fp32, {4, 1}, 0, 1, xnn::external_input);
        const uint32_t y = g.value(xnn::Datatype::fp32, {1, 1}, 0, 2, xnn::external_output);
        const uint32_t z = g.value(xnn::Datatype::fp32, {4, 4}, 0, 3, xnn::external_output);
        g.node(xnn::NodeKind::fully_connected, GraphBuilder::ids({{0, x}, {1, filter}, {2, xnn::invalid_id}, {3, y}}));
        // Transposed: the filter [1, 4] is [K = 1, N = 4]; t is 4 rows of one value.
        g.node(xnn::NodeKind::fully_connected, GraphBuilder::ids({{0, t}, {1, filter}, {2, xnn::invalid_id}, {3, z}, {4, 1}}));
        DelegateRun run;
        Status s = run.load(g.payload(), {{1, 4}, {4, 1}, {1, 1}, {4, 4}});
        REQUIRE_MESSAGE(s.ok(), describe(s));
        run.data[0] = {1, 1, 1, 1};
        run.data[1] = {1, 2, 3, 4};
        REQUIRE(run.run().ok());
        CHECK(run.data[2][0] == 10.0f);
        CHECK(run.data[3][15] == 16.0f);
        // An argument replaced after load (a move in the method) is checked again when run.
        run.values[2].tensor.sizes[1] = 0;
        CHECK(run.run().code == Error::shape_mismatch);
    }
    {  // A float input to a per-channel int8 filter is used as it is (XNNPACK's f32 x qc8w).
        GraphBuilder g;
        const int8_t codes[4] = {1, -2, 3, -4};
        const float scale = 0.5f;
        const uint32_t wc = g.constant(codes, 4);
        pb::NodePtr params = pb::table();
        pb::child(params, xnn::field::per_channel_scale, pb::scalars(std::vector<float>{scale}));
        const uint32_t filter = g.quantized(xnn::Datatype::qcint8, {1, 4}, wc, xnn::QuantKind::per_channel, params);
        const uint32_t x = g.value(xnn::Datatype::fp32, {1, 4}, 0, 0, xnn::external_input);
        const uint32_t y = g.value(xnn::Datatype::fp32, {1, 1}, 0, 1, xnn::external_output);
        g.node(xnn::NodeKind::fully_connected, GraphBuilder::ids({{0, x}, {1, filter}, {2, xnn::invalid_id}, {3, y}}));
        DelegateRun run;
        REQUIRE(run.load(g.payload(), {{1, 4}, {1, 1}}).ok());
        run.data[0] = {0.1f, 0.2f, 0.3f, 0.4f};
        REQUIRE(run.run().ok());
        CHECK(run.data[1][0] == doctest::Approx(0.5 * (0.1 - 0.4 + 0.9 - 1.6)).epsilon(1e-6));
    }
}

TEST_CASE("fuzz: mutated delegate payloads load, run or fail with a named error, never crash") {
    if (!require_shared(xnnpack_pte)) return;
    const std::vector<uint8_t> original = read_bytes(shared_path(xnnpack_pte));
    Result<pte::Program> p = pte::open_program(ByteSpan{original.data(), original.size()});
    REQUIRE(p.ok());
    // The payload segments (the first is the constant segment, the weights are named data).
    std::vector<std::pair<size_t, size_t>> payloads;
    for (uint32_t d = 0; d < p->plan(0).delegate_count(); ++d) {
        const ByteSpan s = p->delegate_data(p->plan(0).delegate(d));
        payloads.push_back({size_t(s.data - original.data()), s.size});
    }
    const char* seed = std::getenv("TINYLLM_FUZZ_SEED");
    std::mt19937 rng(seed ? uint32_t(std::strtoul(seed, nullptr, 10)) : 99u);
    int loaded = 0;
    const int rounds = 400;
    for (int r = 0; r < rounds; ++r) {
        std::vector<uint8_t> bytes = original;
        const auto [at, size] = payloads[rng() % payloads.size()];
        if (r % 2 == 0) {
            for (int k = 0; k < 1 + int(rng() % 4); ++k) bytes[at + rng() % size] ^= uint8_t(1u << (rng() % 8));
        } else {
            const uint32_t values[] = {0, 1, 0x7fffffff, 0xffffffff, uint32_t(size), 0x80000000, 64};
            const size_t word = at + (rng() % (size / 4)) * 4;
            const uint32_t v = values[rng() % 7];
            std::memcpy(&bytes[word], &v, 4);
        }
        Loaded l;
        if (!l.open(bytes, "forward").ok()) continue;
        ++loaded;
        const int64_t tok_shape[2] = {1, 1}, pos_shape[1] = {1};
        const int64_t token = 1, pos = 0;
        REQUIRE(l.method.set_input(0, pte::ScalarType::Long, &token, tok_shape, 2).ok());
        REQUIRE(l.method.set_input(1, pte::ScalarType::Long, &pos, pos_shape, 1).ok());
        (void)l.method.execute();
    }
    MESSAGE(rounds << " mutated payloads, " << loaded << " still loaded and ran");
    CHECK(loaded < rounds);
}
