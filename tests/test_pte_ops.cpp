// Each .pte operator kernel against a straightforward reference written here, on small
// hand-made tensors, including broadcasting, negative dims and the errors it must name.
#define DOCTEST_CONFIG_IMPLEMENT_WITH_MAIN
#include <cmath>
#include <cstring>
#include <deque>
#include <vector>

#include "test_support.hpp"
#include "tinyllm/pte/op_table.hpp"

using namespace tinyllm;
using namespace tinyllm::pte;

namespace {

// Builds the value table of one call: tensors own their storage, lists point at int values.
class Call {
public:
    int tensor(ScalarType type, std::vector<int64_t> shape, const std::vector<double>& data = {}) {
        Value v;
        v.kind = ValueKind::Tensor;
        v.tensor.type = type;
        v.tensor.dim = int(shape.size());
        for (size_t d = 0; d < shape.size(); ++d) v.tensor.sizes[d] = shape[d];
        storage_.emplace_back(size_t(v.tensor.nbytes()) + 8, 0);
        v.tensor.data = storage_.back().data();
        REQUIRE((data.empty() || int64_t(data.size()) == v.tensor.numel()));
        for (size_t i = 0; i < data.size(); ++i) store_element(v.tensor, int64_t(i), data[i]);
        return push(v);
    }
    int f32(std::vector<int64_t> shape, const std::vector<double>& data = {}) { return tensor(ScalarType::Float, shape, data); }
    int integer(int64_t i) {
        Value v;
        v.kind = ValueKind::Int;
        v.i = i;
        return push(v);
    }
    int real(double d) {
        Value v;
        v.kind = ValueKind::Double;
        v.d = d;
        return push(v);
    }
    int boolean(bool b) {
        Value v;
        v.kind = ValueKind::Bool;
        v.b = b;
        return push(v);
    }
    int none() {
        Value v;
        v.kind = ValueKind::Null;
        return push(v);
    }
    int string(const char* s) {
        Value v;
        v.kind = ValueKind::String;
        v.s = cstr(s);
        return push(v);
    }
    int int_list(const std::vector<int64_t>& items) {
        std::vector<int64_t> indices;
        for (int64_t i : items) indices.push_back(integer(i));
        Value v;
        v.kind = ValueKind::IntList;
        v.int_items = vector_of(indices);
        return push(v);
    }
    int tensor_list(const std::vector<int32_t>& items, bool optional) {
        Value v;
        v.kind = optional ? ValueKind::OptionalTensorList : ValueKind::TensorList;
        v.list_items = vector_of(items);
        return push(v);
    }

    // Runs op(args..., out, out) and returns its status.
    Status run(const char* name, const char* overload, std::vector<int32_t> args) {
        const OpEntry* e = find_op(cstr(name), cstr(overload));
        REQUIRE_MESSAGE(e, name);
        REQUIRE(std::strlen(e->signature) == args.size());
        for (size_t k = 0; k < args.size(); ++k) REQUIRE_MESSAGE(kind_matches(e->signature[k], values_[size_t(args[k])].kind), name << " arg " << k);
        OpCall call{values_.data(), vector_of(args)};
        return e->fn(call);
    }
    // The usual `.out` call: inputs, then the output twice (out argument and return value).
    Status run_out(const char* name, const char* overload, std::vector<int32_t> inputs, int out) {
        inputs.push_back(out);
        inputs.push_back(out);
        return run(name, overload, inputs);
    }

    const Tensor& t(int v) const { return values_[size_t(v)].tensor; }
    std::vector<double> read(int v) const {
        std::vector<double> out;
        for (int64_t i = 0; i < t(v).numel(); ++i) out.push_back(load_element(t(v), i));
        return out;
    }

private:
    int push(const Value& v) {
        values_.push_back(v);
        return int(values_.size() - 1);
    }
    template <class T>
    fb::Vector<T> vector_of(const std::vector<T>& items) {
        blobs_.emplace_back(items.size() * sizeof(T) + 8, 0);
        if (!items.empty()) std::memcpy(blobs_.back().data(), items.data(), items.size() * sizeof(T));
        fb::Vector<T> v;
        v.src = fb::Source{blobs_.back().data(), blobs_.back().size(), nullptr};
        v.pos = 0;
        v.count = uint32_t(items.size());
        return v;
    }

    std::vector<Value> values_ = std::vector<Value>();
    std::deque<std::vector<uint8_t>> storage_, blobs_;  // deque: stable addresses
public:
    Call() { values_.reserve(256); }  // values are addressed by index; reserve keeps .data() valid
};

void check_close(const std::vector<double>& got, const std::vector<double>& want, double tol = 1e-6) {
    REQUIRE(got.size() == want.size());
    for (size_t i = 0; i < want.size(); ++i) CHECK_MESSAGE(std::fabs(got[i] - want[i]) <= tol * (1 + std::fabs(want[i])), "element " << i);
}

} // namespace

TEST_CASE("elementwise: broadcasting add/sub with alpha, mul, div, where, comparisons") {
    Call c;
    int a = c.f32({2, 3}, {1, 2, 3, 4, 5, 6}), b = c.f32({3}, {10, 20, 30}), o = c.f32({2, 3});
    REQUIRE(c.run_out("aten::add", "out", {a, b, c.integer(2)}, o).ok());
    check_close(c.read(o), {21, 42, 63, 24, 45, 66});
    REQUIRE(c.run_out("aten::sub", "out", {a, b, c.real(0.5)}, o).ok());
    check_close(c.read(o), {-4, -8, -12, -1, -5, -9});
    int col = c.f32({2, 1}, {2, -1});
    REQUIRE(c.run_out("aten::mul", "out", {a, col}, o).ok());
    check_close(c.read(o), {2, 4, 6, -4, -5, -6});
    REQUIRE(c.run_out("aten::div", "out", {a, b}, o).ok());
    check_close(c.read(o), {0.1, 0.1, 0.1, 0.4, 0.25, 0.2});
    REQUIRE(c.run_out("aten::mul", "Scalar_out", {a, c.real(-1.5)}, o).ok());
    check_close(c.read(o), {-1.5, -3, -4.5, -6, -7.5, -9});
    int mask = c.tensor(ScalarType::Bool, {2, 3});
    REQUIRE(c.run_out("aten::eq", "Scalar_out", {a, c.integer(4)}, mask).ok());
    CHECK(c.read(mask) == std::vector<double>{0, 0, 0, 1, 0, 0});
    REQUIRE(c.run_out("aten::ne", "Scalar_out", {a, c.integer(4)}, mask).ok());
    CHECK(c.read(mask) == std::vector<double>{1, 1, 1, 0, 1, 1});
    int zero = c.f32({}, {0});
    REQUIRE(c.run_out("aten::where", "self_out", {mask, a, zero}, o).ok());  // scalar broadcast
    check_close(c.read(o), {1, 2, 3, 0, 5, 6});
    // A per-row condition [2,1] picks whole rows (attention's fully-masked-row guard).
    int rows = c.tensor(ScalarType::Bool, {2, 1}, {0, 1});
    REQUIRE(c.run_out("aten::where", "self_out", {rows, a, b}, o).ok());
    check_close(c.read(o), {10, 20, 30, 4, 5, 6});
    // Broadcasting in an outer and the innermost dimension at once: [2,1,3] + [2,3] -> [2,2,3].
    int p = c.f32({2, 1, 3}, {1, 2, 3, 4, 5, 6}), q = c.f32({2, 3}, {10, 20, 30, 40, 50, 60}), pq = c.f32({2, 2, 3});
    REQUIRE(c.run_out("aten::add", "out", {p, q, c.integer(1)}, pq).ok());
    check_close(c.read(pq), {11, 22, 33, 41, 52, 63, 14, 25, 36, 44, 55, 66});
    // Integer tensors stay exact.
    int li = c.tensor(ScalarType::Long, {3}, {1, 2, 3}), lo = c.tensor(ScalarType::Long, {3});
    REQUIRE(c.run_out("aten::add", "out", {li, li, c.integer(1)}, lo).ok());
    CHECK(c.read(lo) == std::vector<double>{2, 4, 6});
    // Incompatible shapes and too-small outputs are named errors.
    int bad = c.f32({4}, {1, 2, 3, 4});
    CHECK(c.run_out("aten::add", "out", {a, bad, c.integer(1)}, o).code == Error::shape_mismatch);
    int small = c.f32({3});
    CHECK(c.run_out("aten::add", "out", {a, b, c.integer(1)}, small).code == Error::shape_mismatch);
}

TEST_CASE("unary math (rsqrt, sigmoid, exp, neg, abs, round), scalar_tensor, full_like, copy_ and constant outputs") {
    Call c;
    int x = c.f32({4}, {0.25, 1, 4, -2}), o = c.f32({4});
    REQUIRE(c.run_out("aten::rsqrt", "out", {x}, o).ok());
    const std::vector<double> r = c.read(o);
    check_close(std::vector<double>(r.begin(), r.begin() + 3), {2, 1, 0.5});
    CHECK(std::isnan(r[3]));
    REQUIRE(c.run_out("aten::sigmoid", "out", {x}, o).ok());
    check_close(c.read(o), {1 / (1 + std::exp(-0.25)), 1 / (1 + std::exp(-1.0)), 1 / (1 + std::exp(-4.0)), 1 / (1 + std::exp(2.0))});
    REQUIRE(c.run_out("aten::exp", "out", {x}, o).ok());
    check_close(c.read(o), {std::exp(0.25), std::exp(1.0), std::exp(4.0), std::exp(-2.0)});
    REQUIRE(c.run_out("aten::neg", "out", {x}, o).ok());
    check_close(c.read(o), {-0.25, -1, -4, 2});
    REQUIRE(c.run_out("aten::abs", "out", {x}, o).ok());
    CHECK(c.read(o) == std::vector<double>{0.25, 1, 4, 2});
    // round: to nearest, ties to even (torch.round), exact far from zero.
    int ties = c.f32({8}, {0.5, 1.5, 2.5, -2.5, -0.49999997, 2.5000002, 16777216, -3.7}), rounded = c.f32({8});
    REQUIRE(c.run_out("aten::round", "out", {ties}, rounded).ok());
    const std::vector<double> r8 = c.read(rounded);
    CHECK(r8 == std::vector<double>{0, 2, 2, -2, 0, 3, 16777216, -4});
    CHECK(std::signbit(r8[4]));  // -0.49999997 rounds to -0, as torch.round gives
    int bools = c.tensor(ScalarType::Bool, {3}, {1, 0, 1}), nb = c.tensor(ScalarType::Bool, {3});
    REQUIRE(c.run_out("aten::logical_not", "out", {bools}, nb).ok());
    CHECK(c.read(nb) == std::vector<double>{0, 1, 0});
    int s = c.f32({});
    REQUIRE(c.run_out("aten::scalar_tensor", "out", {c.real(-7.5)}, s).ok());
    CHECK(c.read(s) == std::vector<double>{-7.5});
    REQUIRE(c.run_out("aten::full_like", "out", {x, c.integer(3), c.none()}, o).ok());
    CHECK(c.read(o) == std::vector<double>{3, 3, 3, 3});
    int five = c.f32({5}), flags = c.tensor(ScalarType::Bool, {2, 3}), longs = c.tensor(ScalarType::Long, {3});
    REQUIRE(c.run_out("aten::full_like", "out", {five, c.real(-0.5), c.none()}, five).ok());
    CHECK(c.read(five) == std::vector<double>{-0.5, -0.5, -0.5, -0.5, -0.5});
    REQUIRE(c.run_out("aten::full_like", "out", {flags, c.boolean(true), c.none()}, flags).ok());
    CHECK(c.read(flags) == std::vector<double>{1, 1, 1, 1, 1, 1});
    REQUIRE(c.run_out("aten::full_like", "out", {longs, c.integer(-9000000000), c.none()}, longs).ok());
    CHECK(c.read(longs) == std::vector<double>{-9e9, -9e9, -9e9});
    // copy_(self [2,2], src [2]) broadcasts src over self's rows; the result aliases self.
    int self = c.f32({2, 2}, {0, 0, 0, 0}), src = c.f32({2}, {5, 6});
    REQUIRE(c.run("aten::copy_", "", {self, src, c.boolean(false), self}).ok());
    CHECK(c.read(self) == std::vector<double>{5, 6, 5, 6});
    // A kernel never writes into program constants.
    Call k;
    int in = k.f32({2}, {1, 2}), out = k.f32({2});
    const_cast<Tensor&>(k.t(out)).constant = true;
    CHECK(k.run_out("aten::neg", "out", {in}, out).code == Error::invalid_argument);
}

TEST_CASE("layout ops: permute, expand, slice, select, cat, reshape copies, dtype copies") {
    Call c;
    std::vector<double> data(24);
    for (int i = 0; i < 24; ++i) data[size_t(i)] = i;
    int x = c.f32({2, 3, 4}, data);
    int p = c.f32({4, 2, 3});
    REQUIRE(c.run_out("aten::permute_copy", "out", {x, c.int_list({2, 0, 1})}, p).ok());
    std::vector<double> want;
    for (int k = 0; k < 4; ++k)
        for (int i = 0; i < 2; ++i)
            for (int j = 0; j < 3; ++j) want.push_back(i * 12 + j * 4 + k);
    CHECK(c.read(p) == want);

    int row = c.f32({1, 3}, {1, 2, 3}), e = c.f32({2, 2, 3});
    REQUIRE(c.run_out("aten::expand_copy", "out", {row, c.int_list({2, 2, 3}), c.boolean(false)}, e).ok());
    CHECK(c.read(e) == std::vector<double>{1, 2, 3, 1, 2, 3, 1, 2, 3, 1, 2, 3});

    int sl = c.f32({2, 3, 2});  // x[:, :, 1:5:2] -> columns 1 and 3
    REQUIRE(c.run_out("aten::slice_copy", "Tensor_out", {x, c.integer(-1), c.integer(1), c.integer(5), c.integer(2)}, sl).ok());
    CHECK(c.read(sl) == std::vector<double>{1, 3, 5, 7, 9, 11, 13, 15, 17, 19, 21, 23});

    int sel = c.f32({2, 4});  // x[:, -1, :]
    REQUIRE(c.run_out("aten::select_copy", "int_out", {x, c.integer(1), c.integer(-1)}, sel).ok());
    CHECK(c.read(sel) == std::vector<double>{8, 9, 10, 11, 20, 21, 22, 23});
    int sel_bad = c.f32({2, 4});
    CHECK(c.run_out("aten::select_copy", "int_out", {x, c.integer(1), c.integer(3)}, sel_bad).code == Error::invalid_argument);

    int a = c.f32({2, 1}, {1, 2}), b = c.f32({2, 2}, {3, 4, 5, 6}), cat = c.f32({2, 3});
    REQUIRE(c.run_out("aten::cat", "out", {c.tensor_list({a, b}, false), c.integer(1)}, cat).ok());
    CHECK(c.read(cat) == std::vector<double>{1, 3, 4, 2, 5, 6});

    int flat = c.f32({24});
    REQUIRE(c.run_out("aten::view_copy", "out", {x, c.int_list({24})}, flat).ok());
    CHECK(c.read(flat) == data);
    int wrong = c.f32({23});
    CHECK(c.run_out("aten::view_copy", "out", {x, c.int_list({23})}, wrong).code == Error::shape_mismatch);
    int cl = c.f32({2, 3, 4}), al = c.f32({2, 3, 4});
    REQUIRE(c.run_out("aten::clone", "out", {x, c.none()}, cl).ok());
    REQUIRE(c.run_out("aten::alias_copy", "out", {cl}, al).ok());
    CHECK(c.read(al) == data);
    int sq = c.f32({3}), unsq = c.f32({1, 3});
    REQUIRE(c.run_out("aten::squeeze_copy", "dims_out", {row, c.int_list({0})}, sq).ok());
    REQUIRE(c.run_out("aten::unsqueeze_copy", "out", {sq, c.integer(0)}, unsq).ok());
    CHECK(c.read(unsq) == std::vector<double>{1, 2, 3});

    int longs = c.tensor(ScalarType::Long, {2}, {7, -3}), floats = c.f32({2});
    REQUIRE(c.run_out("dim_order_ops::_to_dim_order_copy", "out", {longs, c.boolean(false), c.int_list({0})}, floats).ok());
    CHECK(c.read(floats) == std::vector<double>{7, -3});
    int codes = c.tensor(ScalarType::Char, {3}, {-128, 0, 127}), wide = c.f32({3});
    REQUIRE(c.run_out("aten::_to_copy", "out", {codes, c.boolean(false), c.none()}, wide).ok());
    CHECK(c.read(wide) == std::vector<double>{-128, 0, 127});
}

TEST_CASE("permute and expand over merged runs, size-1 dimensions and 8x8 transpose tiles match the index definition") {
    Call c;
    // A KV-cache-shaped expand: [1,2,1,3,4] -> [1,2,2,3,4] (dims 3 and 4 merge into runs of 12).
    std::vector<double> kv(24);
    for (int i = 0; i < 24; ++i) kv[size_t(i)] = i;
    int cache = c.f32({1, 2, 1, 3, 4}, kv), expanded = c.f32({1, 2, 2, 3, 4});
    REQUIRE(c.run_out("aten::expand_copy", "out", {cache, c.int_list({1, 2, 2, 3, 4}), c.boolean(false)}, expanded).ok());
    std::vector<double> want;
    for (int h = 0; h < 2; ++h)
        for (int r = 0; r < 2; ++r)
            for (int k = 0; k < 12; ++k) want.push_back(h * 12 + k);
    CHECK(c.read(expanded) == want);
    // K -> K^T per head, [1,2,20,9] -> [1,2,9,20]: full 8x8 tiles plus ragged edges.
    std::vector<double> keys(360);
    for (int i = 0; i < 360; ++i) keys[size_t(i)] = i;
    int k = c.f32({1, 2, 20, 9}, keys), kt = c.f32({1, 2, 9, 20});
    REQUIRE(c.run_out("aten::permute_copy", "out", {k, c.int_list({0, 1, 3, 2})}, kt).ok());
    want.clear();
    for (int h = 0; h < 2; ++h)
        for (int d = 0; d < 9; ++d)
            for (int t = 0; t < 20; ++t) want.push_back(h * 180 + t * 9 + d);
    CHECK(c.read(kt) == want);
    // Heads and positions swapped around a size-1 dimension: [2,1,3,4] -> [3,1,2,4].
    int q = c.f32({2, 1, 3, 4}, kv), qs = c.f32({3, 1, 2, 4});
    REQUIRE(c.run_out("aten::permute_copy", "out", {q, c.int_list({2, 1, 0, 3})}, qs).ok());
    want.clear();
    for (int t = 0; t < 3; ++t)
        for (int h = 0; h < 2; ++h)
            for (int d = 0; d < 4; ++d) want.push_back(h * 12 + t * 4 + d);
    CHECK(c.read(qs) == want);
}

TEST_CASE("indexing: index, index_put, embedding, gather, scatter") {
    Call c;
    int table = c.f32({4, 2}, {0, 1, 10, 11, 20, 21, 30, 31});
    int idx = c.tensor(ScalarType::Long, {3}, {2, 0, -1});
    int picked = c.f32({3, 2});
    REQUIRE(c.run_out("aten::index", "Tensor_out", {table, c.tensor_list({idx}, true)}, picked).ok());
    CHECK(c.read(picked) == std::vector<double>{20, 21, 0, 1, 30, 31});

    // index_put(self [2,4], [None, idx2], values [2,1] broadcast) -> columns 1 and 3 set.
    int self = c.f32({2, 4}, {0, 0, 0, 0, 0, 0, 0, 0}), idx2 = c.tensor(ScalarType::Long, {2}, {1, 3});
    int vals = c.f32({2, 1}, {5, 7}), out = c.f32({2, 4});
    REQUIRE(c.run_out("aten::index_put", "out", {self, c.tensor_list({-1, idx2}, true), vals, c.boolean(false)}, out).ok());
    CHECK(c.read(out) == std::vector<double>{0, 5, 0, 5, 0, 7, 0, 7});
    REQUIRE(c.run_out("aten::index_put", "out", {out, c.tensor_list({-1, idx2}, true), vals, c.boolean(true)}, out).ok());
    CHECK(c.read(out) == std::vector<double>{0, 10, 0, 10, 0, 14, 0, 14});
    // Values shaped as the indexed region (a KV-cache update): cache [2,3,2], rows 2 and 0 of
    // dimension 1 from values [2,2,2]; the other rows keep their contents.
    int cache = c.f32({2, 3, 2}, {1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6}), at = c.tensor(ScalarType::Long, {2}, {2, 0});
    int rows = c.f32({2, 2, 2}, {-1, -2, -3, -4, -5, -6, -7, -8});
    REQUIRE(c.run_out("aten::index_put", "out", {cache, c.tensor_list({-1, at}, true), rows, c.boolean(false)}, cache).ok());
    CHECK(c.read(cache) == std::vector<double>{-3, -4, 2, 2, -1, -2, -7, -8, 5, 5, -5, -6});
    int past = c.tensor(ScalarType::Long, {2}, {3, 0});
    CHECK(c.run_out("aten::index_put", "out", {cache, c.tensor_list({-1, past}, true), rows, c.boolean(false)}, cache).code ==
          Error::invalid_argument);
    int far = c.tensor(ScalarType::Long, {1}, {9});
    CHECK(c.run_out("aten::index", "Tensor_out", {table, c.tensor_list({far}, true)}, c.f32({1, 2})).code == Error::invalid_argument);

    int tokens = c.tensor(ScalarType::Long, {1, 2}, {3, 1}), emb = c.f32({1, 2, 2});
    REQUIRE(c.run_out("aten::embedding", "out", {table, tokens, c.integer(-1), c.boolean(false), c.boolean(false)}, emb).ok());
    CHECK(c.read(emb) == std::vector<double>{30, 31, 10, 11});
    int oov = c.tensor(ScalarType::Long, {1, 2}, {3, 4});
    CHECK(c.run_out("aten::embedding", "out", {table, oov, c.integer(-1), c.boolean(false), c.boolean(false)}, emb).code ==
          Error::token_out_of_range);

    int logp = c.f32({2, 3}, {1, 2, 3, 4, 5, 6}), g_idx = c.tensor(ScalarType::Long, {2, 1}, {2, 0}), g = c.f32({2, 1});
    REQUIRE(c.run_out("aten::gather", "out", {logp, c.integer(1), g_idx, c.boolean(false)}, g).ok());
    CHECK(c.read(g) == std::vector<double>{3, 4});
    int sc = c.f32({2, 3});
    REQUIRE(c.run_out("aten::scatter", "value_out", {logp, c.integer(1), g_idx, c.real(-1)}, sc).ok());
    CHECK(c.read(sc) == std::vector<double>{1, 2, -1, -1, 5, 6});
}

TEST_CASE("reductions: mean, amax, sum, any, argmax, softmax, log_softmax") {
    Call c;
    int x = c.f32({2, 3}, {1, 5, 3, -4, 0, 8});
    int m = c.f32({2, 1});
    REQUIRE(c.run_out("aten::mean", "out", {x, c.int_list({-1}), c.boolean(true), c.none()}, m).ok());
    check_close(c.read(m), {3, 4.0 / 3});
    int cols = c.f32({3});
    REQUIRE(c.run_out("aten::mean", "out", {x, c.int_list({0}), c.boolean(false), c.none()}, cols).ok());
    check_close(c.read(cols), {-1.5, 2.5, 5.5});
    int total = c.f32({});
    // amax per row and overall; a NaN wins.
    int row_max = c.f32({2, 1}), all_max = c.f32({});
    REQUIRE(c.run_out("aten::amax", "out", {x, c.int_list({-1}), c.boolean(true)}, row_max).ok());
    CHECK(c.read(row_max) == std::vector<double>{5, 8});
    REQUIRE(c.run_out("aten::amax", "out", {x, c.int_list({}), c.boolean(false)}, all_max).ok());
    CHECK(c.read(all_max) == std::vector<double>{8});
    int with_nan = c.f32({3}, {1, NAN, 2}), nan_max = c.f32({});
    REQUIRE(c.run_out("aten::amax", "out", {with_nan, c.int_list({}), c.boolean(false)}, nan_max).ok());
    CHECK(std::isnan(c.read(nan_max)[0]));
    REQUIRE(c.run_out("aten::sum", "IntList_out", {x, c.int_list({}), c.boolean(false), c.none()}, total).ok());
    CHECK(c.read(total) == std::vector<double>{13});
    int bools = c.tensor(ScalarType::Bool, {2, 3}, {0, 0, 0, 0, 1, 0}), hit = c.tensor(ScalarType::Bool, {2, 1});
    REQUIRE(c.run_out("aten::any", "out", {bools, c.integer(-1), c.boolean(true)}, hit).ok());
    CHECK(c.read(hit) == std::vector<double>{0, 1});
    int am = c.tensor(ScalarType::Long, {2});
    REQUIRE(c.run_out("aten::argmax", "out", {x, c.integer(1), c.boolean(false)}, am).ok());
    CHECK(c.read(am) == std::vector<double>{1, 2});
    int am_all = c.tensor(ScalarType::Long, {});
    REQUIRE(c.run_out("aten::argmax", "out", {x, c.none(), c.boolean(false)}, am_all).ok());
    CHECK(c.read(am_all) == std::vector<double>{5});

    int sm = c.f32({2, 3}), lsm = c.f32({2, 3});
    REQUIRE(c.run_out("aten::_softmax", "out", {x, c.integer(-1), c.boolean(false)}, sm).ok());
    REQUIRE(c.run_out("aten::_log_softmax", "out", {x, c.integer(1), c.boolean(false)}, lsm).ok());
    const double rows[2][3] = {{1, 5, 3}, {-4, 0, 8}};
    std::vector<double> want_sm, want_lsm;
    for (const auto& r : rows) {
        double z = std::exp(r[0]) + std::exp(r[1]) + std::exp(r[2]);
        for (double v : r) {
            want_sm.push_back(std::exp(v) / z);
            want_lsm.push_back(v - std::log(z));
        }
    }
    check_close(c.read(sm), want_sm, 1e-6);
    check_close(c.read(lsm), want_lsm, 1e-6);
    // Along dim 0 of a [3,2] tensor (strided rows).
    int y = c.f32({3, 2}, {1, 0, 2, 0, 3, 0}), ysm = c.f32({3, 2});
    REQUIRE(c.run_out("aten::_softmax", "out", {y, c.integer(0), c.boolean(false)}, ysm).ok());
    const double z = std::exp(1.0) + std::exp(2.0) + std::exp(3.0);
    check_close(c.read(ysm), {std::exp(1.0) / z, 1.0 / 3, std::exp(2.0) / z, 1.0 / 3, std::exp(3.0) / z, 1.0 / 3}, 1e-6);
}

TEST_CASE("matrix products: mm, bmm, addmm against a naive double product") {
    Call c;
    std::vector<double> a(2 * 3 * 4), b(2 * 4 * 5);
    for (size_t i = 0; i < a.size(); ++i) a[i] = std::sin(double(i)) * 2;
    for (size_t i = 0; i < b.size(); ++i) b[i] = std::cos(double(i) * 0.7);
    auto naive = [](const double* x, const double* w, int m, int k, int n) {
        std::vector<double> out(size_t(m * n));
        for (int r = 0; r < m; ++r)
            for (int j = 0; j < n; ++j)
                for (int p = 0; p < k; ++p) out[size_t(r * n + j)] += x[r * k + p] * w[p * n + j];
        return out;
    };
    int A = c.f32({3, 4}, std::vector<double>(a.begin(), a.begin() + 12)), B = c.f32({4, 5}, std::vector<double>(b.begin(), b.begin() + 20));
    int O = c.f32({3, 5});
    REQUIRE(c.run_out("aten::mm", "out", {A, B}, O).ok());
    check_close(c.read(O), naive(a.data(), b.data(), 3, 4, 5), 1e-5);
    int bA = c.f32({2, 3, 4}, a), bB = c.f32({2, 4, 5}, b), bO = c.f32({2, 3, 5});
    REQUIRE(c.run_out("aten::bmm", "out", {bA, bB}, bO).ok());
    std::vector<double> want = naive(a.data(), b.data(), 3, 4, 5), second = naive(a.data() + 12, b.data() + 20, 3, 4, 5);
    want.insert(want.end(), second.begin(), second.end());
    check_close(c.read(bO), want, 1e-5);
    int bias = c.f32({5}, {1, 2, 3, 4, 5});
    REQUIRE(c.run_out("aten::addmm", "out", {bias, A, B, c.real(0.5), c.integer(2)}, O).ok());
    std::vector<double> prod = naive(a.data(), b.data(), 3, 4, 5);
    for (size_t i = 0; i < prod.size(); ++i) prod[i] = 0.5 * double(1 + i % 5) + 2 * prod[i];
    check_close(c.read(O), prod, 1e-5);
    int wrong = c.f32({5, 4});
    CHECK(c.run_out("aten::mm", "out", {A, wrong}, O).code == Error::shape_mismatch);
}

TEST_CASE("affine quantization ops follow torchao's arithmetic") {
    Call c;
    // One row of 4 values, asymmetric int8: range [-1, 3] (includes 0) over 255 steps.
    int x = c.f32({1, 4}, {-1, 0, 1.5, 3});
    int scale = c.f32({1, 1}), zero = c.tensor(ScalarType::Char, {1, 1});
    int list = c.tensor_list({scale, zero}, false);
    REQUIRE(c.run("torchao::choose_qparams_affine", "out",
                  {x, c.string("ASYMMETRIC"), c.int_list({1, 4}), c.integer(1), c.integer(-128), c.integer(127), c.none(), c.none(),
                   c.integer(1), c.boolean(false), scale, zero, list})
                .ok());
    const float s = 4.0f / 255.0f;
    CHECK(c.read(scale)[0] == doctest::Approx(s).epsilon(1e-7));
    const double zp = -128 - std::nearbyint(-1.0 / double(s));  // -128 + 64 (63.75 rounds to 64)
    CHECK(c.read(zero)[0] == zp);

    int q = c.tensor(ScalarType::Char, {1, 4});
    REQUIRE(c.run_out("torchao::quantize_affine", "out", {x, c.int_list({1, 4}), scale, zero, c.integer(1), c.integer(-128), c.integer(127)}, q).ok());
    std::vector<double> want_q;
    for (double v : {-1.0, 0.0, 1.5, 3.0}) want_q.push_back(std::min(127.0, std::max(-128.0, std::nearbyint(float(v) * (1.0f / s)) + zp)));
    CHECK(c.read(q) == want_q);
    CHECK(c.read(q)[1] == zp);  // zero is exact

    // Weights [2, 5] with group 2 along K (a tail group of 1), int4 range, per-group zero points.
    int w = c.tensor(ScalarType::Char, {2, 5}, {-8, 7, 1, 2, 3, 0, -1, 4, -4, 5});
    int ws = c.f32({2, 3}, {0.5, 0.25, 2, 1, 0.125, -1}), wz = c.tensor(ScalarType::Char, {2, 3}, {0, 1, -1, 2, 0, 1});
    int deq = c.f32({2, 5});
    REQUIRE(c.run_out("torchao::dequantize_affine", "out",
                      {w, c.int_list({1, 2}), ws, wz, c.integer(1), c.integer(-8), c.integer(7), c.integer(6)}, deq)
                .ok());
    CHECK(c.read(deq) == std::vector<double>{-4, 3.5, 0, 0.25, 8, -2, -3, 0.5, -0.5, -4});
    int bad_scale = c.f32({2, 2});
    CHECK(c.run_out("torchao::dequantize_affine", "out",
                    {w, c.int_list({1, 2}), bad_scale, wz, c.integer(1), c.integer(-8), c.integer(7), c.integer(6)}, deq)
              .code == Error::shape_mismatch);

    // int8 embedding table with one scale per row.
    int table = c.tensor(ScalarType::Char, {3, 2}, {1, -2, 3, 4, -5, 6}), rs = c.f32({3}, {0.5, 2, -1});
    int ids = c.tensor(ScalarType::Long, {2}, {2, 0}), emb = c.f32({2, 2});
    REQUIRE(c.run_out("quantized_decomposed::embedding_byte", "dtype_out",
                      {table, rs, c.none(), c.integer(-128), c.integer(127), ids, c.integer(6)}, emb)
                .ok());
    CHECK(c.read(emb) == std::vector<double>{5, -6, 0.5, -1});
}
