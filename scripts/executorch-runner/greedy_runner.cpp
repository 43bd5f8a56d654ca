// Greedy-decode runner for ExecuTorch LLM exports with a KV cache held in
// planned memory: forward(tokens int64 [1,1], input_pos int64 [1]) -> logits [1,V].
//
// usage: greedy_runner PROGRAM.pte --prompt-ids 1,2,3 -n 32 [--method forward] [-v]
//
// The prompt is fed one token at a time (pos 0,1,2,...); then N tokens are
// generated greedily (argmax of the last logits, first index on ties). The
// generated ids are printed comma-separated on one line on stdout.
#include <executorch/extension/data_loader/file_data_loader.h>
#include <executorch/runtime/core/exec_aten/exec_aten.h>
#include <executorch/runtime/executor/method.h>
#include <executorch/runtime/executor/program.h>
#include <executorch/runtime/platform/runtime.h>

#include <chrono>
#include <cinttypes>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

using executorch::aten::ScalarType;
using executorch::aten::Tensor;
using executorch::aten::TensorImpl;
using executorch::extension::FileDataLoader;
using executorch::runtime::Error;
using executorch::runtime::EValue;
using executorch::runtime::HierarchicalAllocator;
using executorch::runtime::MemoryAllocator;
using executorch::runtime::MemoryManager;
using executorch::runtime::Method;
using executorch::runtime::MethodMeta;
using executorch::runtime::Program;
using executorch::runtime::Result;
using executorch::runtime::Span;

static void usage(const char* argv0) {
  std::fprintf(stderr,
      "usage: %s PROGRAM.pte --prompt-ids 1,2,3 -n 32 [--method forward] [-v]\n"
      "  Feeds the prompt ids one at a time (input_pos 0,1,2,...) through the\n"
      "  method (tokens int64 [1,1], input_pos int64 [1] -> logits), then\n"
      "  generates N ids greedily; prints them comma-separated on stdout.\n",
      argv0);
}

static bool parse_ids(const std::string& s, std::vector<int64_t>& out) {
  size_t i = 0;
  while (i < s.size()) {
    size_t j = s.find(',', i);
    if (j == std::string::npos) j = s.size();
    std::string tok = s.substr(i, j - i);
    if (!tok.empty()) {
      char* end = nullptr;
      long long v = std::strtoll(tok.c_str(), &end, 10);
      if (end == tok.c_str() || *end != '\0') return false;
      out.push_back(v);
    }
    i = j + 1;
  }
  return !out.empty();
}

int main(int argc, char** argv) {
  std::string model_path, method_name = "forward", prompt;
  long n_gen = 32;
  bool verbose = false;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto need = [&](const char* name) -> const char* {
      if (i + 1 >= argc) { std::fprintf(stderr, "missing value for %s\n", name); std::exit(2); }
      return argv[++i];
    };
    if (a == "--prompt-ids" || a == "--prompt_ids") prompt = need("--prompt-ids");
    else if (a == "-n" || a == "--n" || a == "--max-new-tokens") n_gen = std::atol(need("-n"));
    else if (a == "--method") method_name = need("--method");
    else if (a == "-v" || a == "--verbose") verbose = true;
    else if (a == "-h" || a == "--help") { usage(argv[0]); return 0; }
    else if (!a.empty() && a[0] == '-') { std::fprintf(stderr, "unknown flag %s\n", a.c_str()); usage(argv[0]); return 2; }
    else if (model_path.empty()) model_path = a;
    else { usage(argv[0]); return 2; }
  }
  std::vector<int64_t> prompt_ids;
  if (model_path.empty() || !parse_ids(prompt, prompt_ids) || n_gen < 0) {
    usage(argv[0]);
    return 2;
  }

  executorch::runtime::runtime_init();

  Result<FileDataLoader> loader = FileDataLoader::from(model_path.c_str());
  if (!loader.ok()) {
    std::fprintf(stderr, "FileDataLoader::from(%s) failed: 0x%" PRIx32 "\n", model_path.c_str(), (uint32_t)loader.error());
    return 1;
  }
  Result<Program> program = Program::load(&loader.get());
  if (!program.ok()) {
    std::fprintf(stderr, "Program::load failed: 0x%" PRIx32 "\n", (uint32_t)program.error());
    return 1;
  }
  Result<MethodMeta> meta = program->method_meta(method_name.c_str());
  if (!meta.ok()) {
    std::fprintf(stderr, "no method '%s' (0x%" PRIx32 ")\n", method_name.c_str(), (uint32_t)meta.error());
    return 1;
  }
  if (meta->num_inputs() != 2) {
    std::fprintf(stderr, "method '%s' has %zu inputs; expected 2 (tokens, input_pos)\n", method_name.c_str(), meta->num_inputs());
    return 1;
  }
  for (size_t k = 0; k < 2; ++k) {
    auto tm = meta->input_tensor_meta(k);
    if (!tm.ok() || tm->scalar_type() != ScalarType::Long) {
      std::fprintf(stderr, "input %zu is not an int64 tensor\n", k);
      return 1;
    }
    size_t numel = 1;
    for (auto d : tm->sizes()) numel *= (size_t)d;
    if (numel != 1) {
      std::fprintf(stderr, "input %zu has %zu elements; this runner feeds one token per step ([1,1] and [1])\n", k, numel);
      return 1;
    }
  }

  // Memory: method allocator + temp allocator (malloc'd pools) and the planned
  // buffers (zeroed: the KV cache lives there and has no stored initial value).
  const size_t kMethodPool = 64u << 20, kTempPool = 64u << 20;
  std::unique_ptr<uint8_t[]> method_pool(new uint8_t[kMethodPool]);
  std::unique_ptr<uint8_t[]> temp_pool(new uint8_t[kTempPool]);
  MemoryAllocator method_allocator(kMethodPool, method_pool.get());
  MemoryAllocator temp_allocator(kTempPool, temp_pool.get());
  std::vector<std::unique_ptr<uint8_t[]>> planned_buffers;
  std::vector<Span<uint8_t>> planned_spans;
  for (size_t id = 0; id < meta->num_memory_planned_buffers(); ++id) {
    size_t sz = (size_t)meta->memory_planned_buffer_size(id).get();
    planned_buffers.emplace_back(new uint8_t[sz]());  // value-initialised -> zero
    planned_spans.push_back({planned_buffers.back().get(), sz});
  }
  HierarchicalAllocator planned_memory({planned_spans.data(), planned_spans.size()});
  MemoryManager memory_manager(&method_allocator, &planned_memory, &temp_allocator);

  Result<Method> method = program->load_method(method_name.c_str(), &memory_manager);
  if (!method.ok()) {
    std::fprintf(stderr, "load_method(%s) failed: 0x%" PRIx32 "\n", method_name.c_str(), (uint32_t)method.error());
    return 1;
  }

  // Caller-owned input tensors (the same storage for every step).
  int64_t tok_data[1] = {0};
  int64_t pos_data[1] = {0};
  auto tok_meta = meta->input_tensor_meta(0).get();
  auto pos_meta = meta->input_tensor_meta(1).get();
  std::vector<executorch::aten::SizesType> tok_sizes(tok_meta.sizes().begin(), tok_meta.sizes().end());
  std::vector<executorch::aten::SizesType> pos_sizes(pos_meta.sizes().begin(), pos_meta.sizes().end());
  std::vector<executorch::aten::DimOrderType> tok_dim_order(tok_meta.dim_order().begin(), tok_meta.dim_order().end());
  std::vector<executorch::aten::DimOrderType> pos_dim_order(pos_meta.dim_order().begin(), pos_meta.dim_order().end());
  std::vector<executorch::aten::StridesType> tok_strides(tok_sizes.size(), 1);
  std::vector<executorch::aten::StridesType> pos_strides(pos_sizes.size(), 1);
  TensorImpl tok_impl(ScalarType::Long, (ssize_t)tok_sizes.size(), tok_sizes.data(), tok_data, tok_dim_order.data(), tok_strides.data());
  TensorImpl pos_impl(ScalarType::Long, (ssize_t)pos_sizes.size(), pos_sizes.data(), pos_data, pos_dim_order.data(), pos_strides.data());
  Tensor tok_tensor(&tok_impl), pos_tensor(&pos_impl);

  auto step = [&](int64_t token, int64_t pos, int64_t* argmax_out) -> bool {
    tok_data[0] = token;
    pos_data[0] = pos;
    Error e = method->set_input(EValue(tok_tensor), 0);
    if (e != Error::Ok) { std::fprintf(stderr, "set_input(tokens) failed: 0x%" PRIx32 "\n", (uint32_t)e); return false; }
    e = method->set_input(EValue(pos_tensor), 1);
    if (e != Error::Ok) { std::fprintf(stderr, "set_input(input_pos) failed: 0x%" PRIx32 "\n", (uint32_t)e); return false; }
    e = method->execute();
    if (e != Error::Ok) { std::fprintf(stderr, "execute() failed at pos %" PRId64 ": 0x%" PRIx32 "\n", pos, (uint32_t)e); return false; }
    const EValue& out = method->get_output(0);
    if (!out.isTensor() || out.toTensor().scalar_type() != ScalarType::Float) {
      std::fprintf(stderr, "output 0 is not a float tensor\n");
      return false;
    }
    const Tensor& logits = out.toTensor();
    const size_t vocab = (size_t)logits.size(logits.dim() - 1);
    const float* p = logits.const_data_ptr<float>() + (logits.numel() - vocab);  // last position
    size_t best = 0;
    for (size_t v = 1; v < vocab; ++v) if (p[v] > p[best]) best = v;
    *argmax_out = (int64_t)best;
    return true;
  };

  auto t0 = std::chrono::steady_clock::now();
  int64_t pos = 0, next = -1;
  for (int64_t id : prompt_ids) {
    if (!step(id, pos, &next)) return 1;
    if (verbose) std::fprintf(stderr, "prompt pos %" PRId64 " id %" PRId64 " -> argmax %" PRId64 "\n", pos, id, next);
    ++pos;
  }
  std::vector<int64_t> generated;
  for (long i = 0; i < n_gen; ++i) {
    generated.push_back(next);
    if (i + 1 == n_gen) break;  // the last generated id needs no further forward
    int64_t nxt = -1;
    if (!step(next, pos, &nxt)) return 1;
    if (verbose) std::fprintf(stderr, "gen pos %" PRId64 " id %" PRId64 " -> argmax %" PRId64 "\n", pos, next, nxt);
    next = nxt;
    ++pos;
  }
  auto t1 = std::chrono::steady_clock::now();
  std::fflush(stderr);
  for (size_t i = 0; i < generated.size(); ++i)
    std::printf("%s%" PRId64, i ? "," : "", generated[i]);
  std::printf("\n");
  std::fflush(stdout);
  std::fprintf(stderr, "%zu prompt + %zu generated tokens, %" PRId64 " forward calls, %.1f ms\n",
      prompt_ids.size(), generated.size(), pos,
      std::chrono::duration<double, std::milli>(t1 - t0).count());
  return 0;
}
