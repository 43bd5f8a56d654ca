"""tinyllm.Llama: llama-cpp-python's Llama calls over libtinyllm, for GGUF models and ExecuTorch
.pte programs alike. Completions and chat completions return the same dicts (OpenAI completion
objects, or an iterator of chunk objects when streaming)."""
import ctypes
import os
import random
import time

from . import _library as c
from ._library import TinyllmValueError

# Chat template names tinyllm knows (chat_format); None: the one the model's metadata names.
CHAT_FORMATS = ("llama2", "llama2-sys", "llama3", "chatml", "gemma", "phi3", "falcon3")


class LlamaState:
    """A saved conversation, as llama-cpp-python's: its tokens (input_ids, n_tokens) and the
    engine's state bytes (llama_state: cache, tokens, sampler, logits; llama_state_size)."""

    def __init__(self, input_ids, llama_state):
        self.input_ids = list(input_ids)
        self.n_tokens = len(self.input_ids)
        self.llama_state = bytes(llama_state)
        self.llama_state_size = len(self.llama_state)


def _int(name, value, low, high=None):
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name} must be an int, not {type(value).__name__}")
    if value < low or (high is not None and value > high):
        raise TinyllmValueError(f"{name} = {value} is outside {low}..{'' if high is None else high}", "invalid argument")
    return value


def _number(name, value):
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"{name} must be a number, not {type(value).__name__}")
    return float(value)


def _token_list(tokens):
    """The ids as a list, after checking they are ints that fit a token id."""
    if isinstance(tokens, (str, bytes)) or not hasattr(tokens, "__iter__"):
        raise TypeError("tokens must be a sequence of ints")
    tokens = list(tokens)
    for t in tokens:
        if isinstance(t, bool) or not isinstance(t, int):
            raise TypeError(f"token ids must be ints, not {type(t).__name__}")
        if not -2**31 <= t < 2**31:
            raise TinyllmValueError(f"token id {t} is outside the vocabulary", "token out of range")
    return tokens


def _token_array(tokens):
    tokens = _token_list(tokens)
    return (c.token * len(tokens))(*tokens), len(tokens)


class LlamaPromptLookupDecoding:
    """Speculative decoding from the conversation itself, as llama-cpp-python's class of this name:
    drafts of up to num_pred_tokens tokens that followed the latest n-gram (up to max_ngram_size
    tokens) the last time it appeared. Pass it as Llama(..., draft_model=...)."""

    def __init__(self, max_ngram_size=2, num_pred_tokens=10):
        self.max_ngram_size = _int("max_ngram_size", max_ngram_size, 2, 64)
        self.num_pred_tokens = _int("num_pred_tokens", num_pred_tokens, 1, 64)


class LlamaLookaheadDecoding:
    """Lookahead decoding (draft-free, GGUF models): a window of `window` guesses improved by the
    model each step, n-grams of `ngram_size` tokens from them and from the conversation, and up to
    `max_verify` of those checked per step. Pass it as Llama(..., draft_model=...)."""

    def __init__(self, window=4, ngram_size=3, max_verify=4):
        self.window = _int("window", window, 1, 16)
        self.ngram_size = _int("ngram_size", ngram_size, 3, 8)
        self.max_verify = _int("max_verify", max_verify, 1, 16)


class Llama:
    """A model and one conversation over it.

    Llama(model_path, n_ctx=None, n_threads=None, seed=0, tokenizer_path=None) opens a GGUF
    file, or a .pte program with the GGUF file holding its vocabulary as tokenizer_path. n_ctx
    None: 512 as llama-cpp-python, or less if the model's is smaller (a .pte program: its own);
    0: the model's own. n_threads None: one per CPU. draft_model: speculative decoding (the same
    replies, faster when drafts are taken) with a LlamaPromptLookupDecoding, a
    LlamaLookaheadDecoding, or another Llama of the same vocabulary (a smaller model; keep it
    open while this one is used). Not for use from two threads at once.
    """

    def __init__(self, model_path, n_ctx=None, n_threads=None, seed=0, tokenizer_path=None, n_batch=64, chat_format=None,
                 draft_model=None, verbose=False):
        self._model = self._ctx = None
        if not isinstance(model_path, (str, os.PathLike)):
            raise TypeError(f"model_path must be a path, not {type(model_path).__name__}")
        if tokenizer_path is not None and not isinstance(tokenizer_path, (str, os.PathLike)):
            raise TypeError(f"tokenizer_path must be a path, not {type(tokenizer_path).__name__}")
        if n_ctx is not None:
            _int("n_ctx", n_ctx, 0)
        _int("n_batch", n_batch, 1)
        if n_threads is not None:
            _int("n_threads", n_threads, 1, 1024)
        _int("seed", seed, 0, 2**63 - 1)
        if draft_model is not None and not isinstance(draft_model, (LlamaPromptLookupDecoding, LlamaLookaheadDecoding, Llama)):
            raise TypeError("draft_model must be a LlamaPromptLookupDecoding, a LlamaLookaheadDecoding or a Llama, "
                            f"not {type(draft_model).__name__}")
        if isinstance(draft_model, Llama) and draft_model._model is None:
            raise ValueError("the draft model is closed")
        if chat_format is not None and chat_format not in CHAT_FORMATS:
            raise TinyllmValueError(f"chat_format '{chat_format}' is not one of {', '.join(CHAT_FORMATS)}", "invalid argument")
        self.model_path = os.fspath(model_path)
        self.chat_format = chat_format
        self.verbose = verbose
        model = ctypes.c_void_p()
        c.check(c.lib.tinyllm_model_open(self.model_path.encode(),
                                         os.fspath(tokenizer_path).encode() if tokenizer_path is not None else None,
                                         ctypes.byref(model)))
        self._model = model
        try:
            params = c.lib.tinyllm_context_default_params()
            n_max = c.lib.tinyllm_model_n_ctx_max(model)
            params.n_ctx = n_ctx if n_ctx is not None else 0 if tokenizer_path is not None else min(512, n_max)
            params.n_batch = n_batch
            params.n_threads = n_threads or 0
            params.sampling.seed = seed
            if isinstance(draft_model, LlamaPromptLookupDecoding):
                params.lookup_ngram = draft_model.max_ngram_size
                params.draft_max = draft_model.num_pred_tokens
            elif isinstance(draft_model, LlamaLookaheadDecoding):
                params.lookahead_window = draft_model.window
                params.lookahead_ngram = draft_model.ngram_size
                params.lookahead_verify = draft_model.max_verify
            elif draft_model is not None:
                params.draft_model = draft_model._model
                self._draft = draft_model  # kept alive while this context uses it
            context = ctypes.c_void_p()
            c.check(c.lib.tinyllm_context_create(model, ctypes.byref(params), ctypes.byref(context)))
            self._ctx = context
        except BaseException:
            self.close()
            raise
        self._piece = c.Piece()
        self._more = ctypes.c_int()
        self._reply = 0  # counts replies started: a stream of an earlier one stops with an error

    # -- lifetime ---------------------------------------------------------------------------

    def close(self):
        """Frees the conversation and the model; any later call raises ValueError."""
        if self._ctx is not None:
            c.lib.tinyllm_context_free(self._ctx)
            self._ctx = None
        if self._model is not None:
            c.lib.tinyllm_model_free(self._model)
            self._model = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def __del__(self):
        if getattr(self, "_model", None) is not None:
            self.close()

    def _context(self):
        if self._ctx is None:
            raise ValueError("this Llama is closed")
        return self._ctx

    # -- model ------------------------------------------------------------------------------

    def n_ctx(self):
        return c.lib.tinyllm_n_ctx(self._context())

    def n_vocab(self):
        self._context()
        return c.lib.tinyllm_model_n_vocab(self._model)

    def token_bos(self):
        self._context()
        return c.lib.tinyllm_model_bos(self._model)

    def token_eos(self):
        self._context()
        return c.lib.tinyllm_model_eos(self._model)

    def tokenize(self, text, add_bos=True, special=False):
        """bytes -> token ids, as llama.cpp's tokenizer gives them."""
        self._context()
        if not isinstance(text, (bytes, bytearray)):
            raise TypeError(f"tokenize takes bytes, not {type(text).__name__} (use text.encode())")
        text = bytes(text)
        n = ctypes.c_int()
        capacity = len(text) + 8
        while True:
            ids = (c.token * capacity)()
            status = c.lib.tinyllm_tokenize(self._model, text, len(text), int(bool(add_bos)), int(bool(special)), ids, capacity,
                                            ctypes.byref(n))
            if status != c.STATUS_OUT_OF_MEMORY:
                c.check(status)
                return ids[:n.value]
            capacity = n.value

    def detokenize(self, tokens):
        """token ids -> bytes."""
        self._context()
        array, n = _token_array(tokens)
        length = ctypes.c_size_t()
        capacity = 16 * n + 16
        while True:
            out = ctypes.create_string_buffer(capacity)
            status = c.lib.tinyllm_detokenize(self._model, array, n, out, capacity, ctypes.byref(length))
            if status != c.STATUS_OUT_OF_MEMORY:
                c.check(status)
                return out.raw[:length.value]
            capacity = length.value

    # -- the conversation -------------------------------------------------------------------

    @property
    def n_tokens(self):
        return c.lib.tinyllm_n_tokens(self._context())

    def tokens(self):
        """The conversation's token ids (prompt and generated)."""
        ctx = self._context()
        n = c.lib.tinyllm_n_tokens(ctx)
        ids, got = (c.token * n)(), ctypes.c_int()
        c.check(c.lib.tinyllm_get_tokens(ctx, ids, n, ctypes.byref(got)))
        return ids[:got.value]

    def reset(self):
        """Starts the conversation over."""
        c.check(c.lib.tinyllm_truncate(self._context(), 0))

    def eval(self, tokens):
        """Evaluates tokens after the conversation."""
        ctx = self._context()
        array, n = _token_array(tokens)
        c.check(c.lib.tinyllm_eval(ctx, array, n))

    def sample(self, top_k=40, top_p=0.95, min_p=0.05, typical_p=1.0, temp=0.80, repeat_penalty=1.0, frequency_penalty=0.0,
               presence_penalty=0.0, seed=None):
        """Draws the next token from the current logits (not evaluated: pass it to eval)."""
        ctx = self._context()
        self._set_sampling(temp, top_k, top_p, min_p, typical_p, repeat_penalty, frequency_penalty, presence_penalty, seed)
        out = c.token()
        c.check(c.lib.tinyllm_sample(ctx, ctypes.byref(out)))
        return out.value

    def generate(self, tokens, top_k=40, top_p=0.95, min_p=0.05, typical_p=1.0, temp=0.80, repeat_penalty=1.0, frequency_penalty=0.0,
                 presence_penalty=0.0, seed=None, stop=None, reset=True):
        """Yields generated token ids after `tokens` until an end-of-generation token, a stop
        string or a full context; stop iterating to stop early. reset: `tokens` is the whole
        conversation (its prefix already evaluated is reused); else they continue it (may be
        empty: continue from the last token)."""
        run = self._run(tokens, -1, stop, (temp, top_k, top_p, min_p, typical_p, repeat_penalty, frequency_penalty,
                                           presence_penalty, seed), reset)
        return (token for _, token in run if token >= 0)

    def save_state(self):
        """The conversation (cache, tokens, sampler, logits) as a LlamaState."""
        ctx = self._context()
        size = c.lib.tinyllm_state_size(ctx)
        buffer = ctypes.create_string_buffer(size)
        written = ctypes.c_size_t()
        c.check(c.lib.tinyllm_state_save(ctx, buffer, size, ctypes.byref(written)))
        return LlamaState(self.tokens(), buffer.raw[:written.value])

    def load_state(self, state):
        """Restores a LlamaState (or its bytes) saved from this model."""
        ctx = self._context()
        data = state.llama_state if isinstance(state, LlamaState) else state
        if not isinstance(data, (bytes, bytearray)):
            raise TypeError(f"load_state takes a LlamaState or bytes, not {type(state).__name__}")
        c.check(c.lib.tinyllm_state_load(ctx, bytes(data), len(data)))

    # -- completions ------------------------------------------------------------------------

    def __call__(self, prompt, **kwargs):
        return self.create_completion(prompt, **kwargs)

    def create_completion(self, prompt, max_tokens=16, temperature=0.8, top_p=0.95, min_p=0.05, typical_p=1.0, echo=False,
                          stop=None, frequency_penalty=0.0, presence_penalty=0.0, repeat_penalty=1.0, top_k=40, stream=False,
                          seed=None):
        """An OpenAI text completion (a dict), or with stream=True an iterator of chunks."""
        self._context()
        if isinstance(prompt, str):
            prompt_tokens = self.tokenize(prompt.encode("utf-8"), add_bos=True, special=True)
        else:
            prompt_tokens = _token_list(prompt)
        sampling = (temperature, top_k, top_p, min_p, typical_p, repeat_penalty, frequency_penalty, presence_penalty, seed)
        run = self._run(prompt_tokens, max_tokens, stop, sampling)
        ident, created = f"cmpl-{random.getrandbits(64):016x}", int(time.time())
        prefix = self.detokenize(prompt_tokens).decode("utf-8", "replace") if echo else ""
        if stream:
            return self._completion_chunks(run, ident, created, prefix)
        text, reason, n_generated = self._drain(run)
        return {"id": ident, "object": "text_completion", "created": created, "model": self.model_path,
                "choices": [{"text": prefix + text, "index": 0, "logprobs": None, "finish_reason": reason}],
                "usage": {"prompt_tokens": len(prompt_tokens), "completion_tokens": n_generated,
                          "total_tokens": len(prompt_tokens) + n_generated}}

    def create_chat_completion(self, messages, temperature=0.2, top_p=0.95, top_k=40, min_p=0.05, typical_p=1.0, stream=False,
                               stop=None, seed=None, max_tokens=None, presence_penalty=0.0, frequency_penalty=0.0,
                               repeat_penalty=1.0):
        """An OpenAI chat completion (a dict), or with stream=True an iterator of chunks."""
        self._context()
        prompt = self.apply_chat_template(messages)
        prompt_tokens = self.tokenize(prompt.encode("utf-8"), add_bos=True, special=True)
        sampling = (temperature, top_k, top_p, min_p, typical_p, repeat_penalty, frequency_penalty, presence_penalty, seed)
        run = self._run(prompt_tokens, max_tokens, stop, sampling)
        ident, created = f"chatcmpl-{random.getrandbits(64):016x}", int(time.time())
        if stream:
            return self._chat_chunks(run, ident, created)
        text, reason, n_generated = self._drain(run)
        return {"id": ident, "object": "chat.completion", "created": created, "model": self.model_path,
                "choices": [{"index": 0, "message": {"role": "assistant", "content": text}, "logprobs": None,
                             "finish_reason": reason}],
                "usage": {"prompt_tokens": len(prompt_tokens), "completion_tokens": n_generated,
                          "total_tokens": len(prompt_tokens) + n_generated}}

    def apply_chat_template(self, messages, add_generation_prompt=True):
        """The prompt text the chat template makes of OpenAI-style messages."""
        self._context()
        if isinstance(messages, (str, bytes)) or not hasattr(messages, "__iter__"):
            raise TypeError("messages must be a list of {'role': ..., 'content': ...} dicts")
        messages = list(messages)
        array = (c.ChatMessage * max(len(messages), 1))()
        for i, m in enumerate(messages):
            if not isinstance(m, dict) or not isinstance(m.get("role"), str) or not isinstance(m.get("content"), str):
                raise TypeError(f"message {i} must be a dict with string 'role' and 'content'")
            array[i].role, array[i].content = m["role"].encode(), m["content"].encode()
        name = self.chat_format.encode() if self.chat_format else None
        length = ctypes.c_size_t()
        capacity = 256 + sum(len(m["content"].encode()) + 64 for m in messages)
        while True:
            out = ctypes.create_string_buffer(capacity)
            status = c.lib.tinyllm_chat_apply_template(self._model, name, array, len(messages), int(bool(add_generation_prompt)), out,
                                                       capacity, ctypes.byref(length))
            if status != c.STATUS_OUT_OF_MEMORY:
                c.check(status)
                return out.raw[:length.value].decode("utf-8", "replace")
            capacity = length.value

    # -- the generation loop ----------------------------------------------------------------

    def _set_sampling(self, temp, top_k, top_p, min_p, typical_p, repeat_penalty, frequency_penalty, presence_penalty, seed):
        s = c.lib.tinyllm_sampling_default()
        s.temperature = _number("temperature", temp)
        s.top_k = _int("top_k", top_k, 0)
        s.top_p = _number("top_p", top_p)
        s.min_p = _number("min_p", min_p)
        s.typical_p = _number("typical_p", typical_p)
        s.repeat_penalty = _number("repeat_penalty", repeat_penalty)
        s.frequency_penalty = _number("frequency_penalty", frequency_penalty)
        s.presence_penalty = _number("presence_penalty", presence_penalty)
        # Without a seed the random sequence the Llama's seed started goes on, as in llama.cpp:
        # each call gets new draws, and the same seed gives the same sequence of replies.
        s.seed = _int("seed", seed, 0, 2**63 - 1) if seed is not None else c.SEED_CONTINUE
        c.check(c.lib.tinyllm_set_sampling(self._ctx, ctypes.byref(s)))

    def _start(self, prompt_tokens, max_tokens, stop, sampling, reset=True):
        """Starts a reply after prompt_tokens. reset: they are the whole conversation, and the
        part of it already evaluated is kept; else they continue it. Every argument is checked
        before the conversation changes."""
        ctx = self._context()
        prompt_tokens = _token_list(prompt_tokens)
        n = len(prompt_tokens)
        n_vocab, n_ctx = c.lib.tinyllm_model_n_vocab(self._model), c.lib.tinyllm_n_ctx(ctx)
        bad = next((t for t in prompt_tokens if not 0 <= t < n_vocab), None)
        if bad is not None:
            raise TinyllmValueError(f"token id {bad} is outside the vocabulary of {n_vocab}", "token out of range")
        if stop is None:
            stop = []
        elif isinstance(stop, str):
            stop = [stop]
        if not all(isinstance(s, str) and s for s in stop):
            raise TypeError("stop must be a non-empty string or a list of them")
        if max_tokens is not None:
            _int("max_tokens", max_tokens, -2**31)
        held = self.tokens()
        if reset:
            if n == 0:
                raise TinyllmValueError("the prompt is empty", "invalid argument")
            common = 0
            while common < min(len(held), n) and held[common] == prompt_tokens[common]:
                common += 1
            common = min(common, n - 1)  # the prompt's last token is evaluated again: its logits start the reply
            rest = prompt_tokens[common:]
        else:
            common, rest = len(held), list(prompt_tokens)
        total = common + len(rest)
        if total > n_ctx:
            raise TinyllmValueError(f"the prompt of {total} tokens does not fit the context of {n_ctx}", "context full")
        self._set_sampling(*sampling)  # checks the settings (the penalties look back over what is held)
        if common < len(held):
            c.check(c.lib.tinyllm_truncate(ctx, common))
            self._set_sampling(*sampling)  # ... and now over what is kept
        params = c.lib.tinyllm_generate_default_params()
        params.n_predict = max_tokens if max_tokens is not None and max_tokens > 0 else max(n_ctx - total, 0)
        self._stop = (ctypes.c_char_p * max(len(stop), 1))(*[s.encode() for s in stop])
        params.stop, params.n_stop = self._stop, len(stop)
        array = (c.token * max(len(rest), 1))(*rest)
        c.check(c.lib.tinyllm_generate_begin(ctx, array, len(rest), ctypes.byref(params)))
        self._reply += 1

    def _run(self, prompt_tokens, max_tokens, stop, sampling, reset=True):
        """Starts a reply now (so argument errors raise here, even when streaming) and returns
        an iterator of its (text bytes, token id) pieces."""
        self._start(prompt_tokens, max_tokens, stop, sampling, reset)
        # The per-token loop is the Python layer's whole cost on a fast model: the arguments are
        # made once, and each step is one foreign call and one bytes object.
        reply, piece, more = self._reply, self._piece, self._more
        next_piece, string_at, check = c.lib.tinyllm_generate_next, ctypes.string_at, c.check
        piece_ref, more_ref = ctypes.byref(piece), ctypes.byref(more)

        def pieces():
            while True:
                ctx = self._ctx
                if ctx is None:
                    raise ValueError("this Llama is closed")
                if reply != self._reply:
                    raise RuntimeError("a later call on this Llama started another reply; this stream has ended")
                status = next_piece(ctx, piece_ref, more_ref)
                if status:
                    check(status)
                if not more.value:
                    return
                n = piece.text_len
                yield string_at(piece.text, n) if n else b"", piece.id

        return pieces()

    def _finish_reason(self):
        return c.STOP_REASONS[c.lib.tinyllm_stop_reason_of(self._ctx)]

    def _drain(self, run):
        text, n = [], 0
        for piece, token in run:
            text.append(piece)
            n += token >= 0
        return b"".join(text).decode("utf-8", "replace"), self._finish_reason(), n

    def _completion_chunks(self, run, ident, created, prefix):
        def chunk(text, reason):
            return {"id": ident, "object": "text_completion", "created": created, "model": self.model_path,
                    "choices": [{"text": text, "index": 0, "logprobs": None, "finish_reason": reason}]}
        if prefix:
            yield chunk(prefix, None)
        model = self.model_path
        for piece, _ in run:
            if piece:
                yield {"id": ident, "object": "text_completion", "created": created, "model": model,
                       "choices": [{"text": piece.decode("utf-8", "replace"), "index": 0, "logprobs": None, "finish_reason": None}]}
        yield chunk("", self._finish_reason())

    def _chat_chunks(self, run, ident, created):
        def chunk(delta, reason):
            return {"id": ident, "object": "chat.completion.chunk", "created": created, "model": self.model_path,
                    "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": reason}]}
        yield chunk({"role": "assistant"}, None)
        for piece, _ in run:
            if piece:
                yield chunk({"content": piece.decode("utf-8", "replace")}, None)
        yield chunk({}, self._finish_reason())
