// Bare-metal firmware running the GGUF model linked into flash, in one of two modes:
//  - prompt ids compiled in (TINYLLM_PROMPT_IDS): generates once and prints the text and ids;
//  - chat (no TINYLLM_PROMPT_IDS): reads prompt lines typed on the board's UART, encodes them on
//    the device (SentencePiece vocabularies), and streams each reply as text, the conversation
//    kept across lines; an empty line ends the session.
// Everything printed goes out on the UART (115200 baud), with the time per prompt and generated
// token from the board timer. No heap, no exceptions, no threads: the only memory is the static
// arena below. picolibc's semihosting start-up (the toolchain files') ends QEMU at exit; a board
// without a debug probe links its plain one (--crt0=minimal) instead.
#include <stdint.h>
#include <stdio.h>

#include "tinyllm/engine.hpp"
#include "tinyllm/text/sentencepiece.hpp"

extern "C" const unsigned char tinyllm_model_data[];
extern "C" const unsigned char tinyllm_model_end[];

namespace {

alignas(64) uint8_t arena[TINYLLM_ARENA_BYTES];
constexpr int max_tokens = TINYLLM_N_PREDICT;

// The board's UART (CMSDK APB UART: data, state, control, interrupt status, baud divider),
// polled; stdout writes to it.
struct Uart {
    volatile uint32_t data, state, ctrl, intstatus, bauddiv;
};
Uart& uart = *reinterpret_cast<Uart*>(TINYLLM_UART_BASE);
constexpr uint32_t tx_full = 1, rx_full = 2;

void start_uart() {
    uart.bauddiv = TINYLLM_CORE_CLOCK_HZ / 115200;
    uart.ctrl = 3;  // transmit and receive enabled
}

int uart_put(char c, FILE*) {
    while (uart.state & tx_full) {}
    uart.data = uint8_t(c);
    return uint8_t(c);
}

FILE uart_stream = FDEV_SETUP_STREAM(uart_put, nullptr, nullptr, _FDEV_SETUP_WRITE);

// The board timer: SysTick counting the core clock (TINYLLM_CORE_CLOCK_HZ), its wraps counted by
// its interrupt. Under qemu-system-arm -icount shift=0 the board's time advances 1 ns per
// executed instruction, so the generator's timings are instruction counts.
struct SysTick {
    volatile uint32_t csr, rvr, cvr, calib;
};
SysTick& systick = *reinterpret_cast<SysTick*>(0xE000E010);
volatile uint32_t& icsr = *reinterpret_cast<volatile uint32_t*>(0xE000ED04);
constexpr uint32_t systick_pending = 1u << 26;
constexpr uint32_t systick_period = 1u << 24;
volatile uint32_t systick_wraps = 0;

void start_clock() {
    systick.rvr = systick_period - 1;
    systick.cvr = 0;
    systick.csr = 7;  // core clock, interrupt on wrap, enabled
}

// Called with interrupts enabled (the generator calls it between steps): a count of 0 (before
// the first reload, or at a wrap) or a wrap whose interrupt has not run yet would be read
// against the wrong wrap count, so it reads again until neither holds.
uint64_t clock_ns() {
    uint32_t wraps, count;
    do {
        wraps = systick_wraps;
        count = systick.cvr;
    } while (count == 0 || (icsr & systick_pending) || wraps != systick_wraps);
    const uint64_t ticks = uint64_t(wraps) * systick_period + (systick_period - 1 - count);
    constexpr uint64_t hz = TINYLLM_CORE_CLOCK_HZ;
    return ticks / hz * 1000000000u + ticks % hz * 1000000000u / hz;  // no overflow for 584 years
}

// A loop of 2,000,000 instructions (1,000,000 x subs + bne), timed: under -icount shift=0 it
// reads 2,000,000 ns when TINYLLM_CORE_CLOCK_HZ is the board's clock, which checks the timings.
uint64_t time_known_loop() {
    const uint64_t t0 = clock_ns();
    uint32_t n = 1000000;
    __asm__ volatile("1: subs %0, %0, #1\n\tbne 1b" : "+r"(n) : : "cc");
    return clock_ns() - t0;
}

struct Output {
    int32_t ids[max_tokens];
    int count = 0;
};

bool on_token(const tinyllm::GeneratedToken& token, void* user) {
    Output& out = *static_cast<Output*>(user);
    if (token.id != tinyllm::GeneratedToken::no_token) out.ids[out.count++] = token.id;
    fwrite(token.text, 1, token.text_len, stdout);
    return true;
}

int fail(const char* what, const tinyllm::Status& st) {
    printf("error: %s: %s (%s)\n", what, tinyllm::error_name(st.code), st.detail);
    return 1;
}

// Generates a reply to `prompt` after the conversation so far, printing its text, ids and time.
tinyllm::Status reply(tinyllm::Engine& engine, const int32_t* prompt, int n_prompt) {
    static Output out;
    out.count = 0;
    printf("text:");
    tinyllm::Status st = engine.generate(prompt, n_prompt, max_tokens, on_token, &out);
    if (!st) return st;
    printf("\nids: ");
    for (int i = 0; i < out.count; ++i) printf(i ? ",%ld" : "%ld", long(out.ids[i]));
    printf("\n");
    const tinyllm::GenerationStats& stats = engine.generator().stats();
    if (stats.n_generated > 1)
        printf("time: %llu ns per prompt token, %llu ns per generated token\n", (unsigned long long)(stats.prompt_ns / unsigned(stats.n_prompt)),
               (unsigned long long)((stats.generation_ns - stats.first_token_ns) / unsigned(stats.n_generated - 1)));
    return st;
}

#ifdef TINYLLM_PROMPT_IDS
constexpr int32_t prompt[] = {TINYLLM_PROMPT_IDS};

int run(tinyllm::Engine& engine, tinyllm::Arena&) {
    const tinyllm::Status st = reply(engine, prompt, int(sizeof prompt / sizeof prompt[0]));
    return st ? 0 : fail("generate", st);
}
#else
// Reads one line (without its end: CR, LF or CR LF, as terminals send) into line, at most
// capacity - 1 bytes; returns its length.
size_t read_line(char* line, size_t capacity) {
    static bool after_cr = false;
    size_t n = 0;
    for (;;) {
        while (!(uart.state & rx_full)) {}
        const char c = char(uart.data & 0xff);
        const bool lf_after_cr = c == '\n' && after_cr;
        after_cr = c == '\r';
        if (lf_after_cr) continue;
        if (c == '\r' || c == '\n') break;
        if (n + 1 < capacity) line[n++] = c;
    }
    line[n] = 0;
    return n;
}

int run(tinyllm::Engine& engine, tinyllm::Arena& memory) {
    const tinyllm::ByteSpan model{tinyllm_model_data, size_t(tinyllm_model_end - tinyllm_model_data)};
    if (!engine.vocabulary()) return fail("chat", tinyllm::Status::fail(tinyllm::Error::missing_key, "the model has no vocabulary"));
    tinyllm::gguf::File header;
    tinyllm::Status st = tinyllm::gguf::read_header(model, header);
    static tinyllm::SentencePieceEncoder encoder;
    if (!st || !(st = encoder.init(header, *engine.vocabulary(), memory))) return fail("encoder", st);
    printf("chat: type a line; an empty line ends\n");
    static char line[256];
    static int32_t ids[4 * sizeof line];  // byte tokens: up to 3 per space, 1 per other byte
    bool start = true;
    for (;;) {
        printf("> ");
        fflush(stdout);
        const size_t n = read_line(line, sizeof line);
        if (n == 0) break;
        printf("%s\n", line);
        // A line the context cannot take starts a new conversation, once.
        for (int attempt = 0; attempt < 2; ++attempt) {
            const size_t mark = memory.used();
            // As generate -p: special tokens' text is plain text (user-defined tokens aside).
            const tinyllm::Result<int> n_ids =
                encoder.encode(tinyllm::StrView(line, n), start, false, ids, int(sizeof ids / sizeof ids[0]), memory);
            if (!n_ids) {  // reported; the session goes on with the next line
                fail("encode", n_ids.status);
                st = tinyllm::Status{};
                break;
            }
            printf("encoder: %d ids (scratch so far at most %u bytes)\n", *n_ids, unsigned(memory.peak() - mark));
            start = false;
            st = reply(engine, ids, *n_ids);
            if (st.code != tinyllm::Error::context_full || attempt == 1) break;
            printf("\n(context full: a new conversation)\n");
            engine.generator().reset();
            start = true;
        }
        if (!st) {
            fail("generate", st);
            if (st.code != tinyllm::Error::context_full) return 1;  // else a line longer than a whole context
        }
    }
    return 0;
}
#endif

} // namespace

FILE* const stdout = &uart_stream;  // picolibc's standard output, in place of its semihosting one

extern "C" void arm_systick_isr() { systick_wraps = systick_wraps + 1; }

int main() {
    start_uart();
    start_clock();
    printf("clock: a loop of 2000000 instructions took %llu ns\n", (unsigned long long)time_known_loop());
    const tinyllm::ByteSpan model{tinyllm_model_data, size_t(tinyllm_model_end - tinyllm_model_data)};
    tinyllm::EngineOptions options;
    options.n_ctx = TINYLLM_N_CTX;
    options.n_batch = 8;
    options.sampling.temperature = 0.0f;
    options.generation.clock_ns = clock_ns;
    tinyllm::Result<size_t> need = tinyllm::Engine::required_arena_bytes(model, options);
    if (!need) return fail("model", need.status);
    if (tinyllm::Arena::align_up(*need, 64) > sizeof arena) return fail("model", tinyllm::Status::fail(tinyllm::Error::out_of_memory, "the engine needs ", uint64_t(*need), " bytes"));
    static tinyllm::Engine engine;
    tinyllm::Status st = engine.open(model, arena, *need, options);
    if (!st) return fail("open", st);
    printf("model: %u bytes in flash, %d layers, vocab %d; engine arena %u of %u bytes\n", unsigned(model.size), engine.config()->n_layer,
           engine.config()->n_vocab, unsigned(*need), unsigned(sizeof arena));
    const size_t used = tinyllm::Arena::align_up(*need, 64);
    tinyllm::Arena rest(arena + used, sizeof arena - used);  // what the engine leaves: the chat's encoder
    const int status = run(engine, rest);
    if (rest.peak()) printf("encoder: %u bytes of arena in all\n", unsigned(rest.peak()));
    return status;
}
