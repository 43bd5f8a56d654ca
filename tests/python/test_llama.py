"""tinyllm.Llama against the engine's own generate program and llama-cpp-python's contract:
the same greedy text, streaming equal to non-streaming, chat templates, stop strings, saved
states that continue exactly, and errors as Python exceptions (never a crash)."""
import os
import subprocess
import sys

import pytest

import tinyllm

PROMPT = "ROMEO:"


def q8(models):
    return os.path.join(models, "shakespeare5m-q8_0.gguf")


def generate_text(program, model, prompt, n, extra=()):
    out = subprocess.run([program, "-m", model, "-p", prompt, "-n", str(n), "--temp", "0", "-t", "1", *extra],
                         capture_output=True, text=True, check=True).stdout
    assert out.startswith(prompt)
    return out[len(prompt):].rstrip("\n")


@pytest.fixture
def llm(models):
    with tinyllm.Llama(q8(models), n_ctx=256, n_threads=1) as model:
        yield model


def test_greedy_text_equals_generate(models, generate_program, llm):
    got = llm(PROMPT, max_tokens=40, temperature=0)
    assert got["object"] == "text_completion"
    assert got["choices"][0]["finish_reason"] == "length"
    assert got["usage"] == {"prompt_tokens": 3, "completion_tokens": 40, "total_tokens": 43}
    assert got["choices"][0]["text"] == generate_text(generate_program, q8(models), PROMPT, 40)


def test_pte_program_greedy_text_equals_generate(models, generate_program):
    program, vocab = os.path.join(models, "shakespeare5m_fp32_kv.pte"), os.path.join(models, "shakespeare5m-f16.gguf")
    with tinyllm.Llama(program, tokenizer_path=vocab, n_threads=1) as llm:  # the program's own context
        got = llm(PROMPT, max_tokens=30, temperature=0)["choices"][0]["text"]
        assert got == generate_text(generate_program, program, PROMPT, 30, ["--tokenizer", vocab])


def test_streaming_equals_non_streaming(llm):
    whole = llm(PROMPT, max_tokens=32, temperature=0)
    chunks = list(llm(PROMPT, max_tokens=32, temperature=0, stream=True))
    assert all(c["object"] == "text_completion" and c["id"] == chunks[0]["id"] for c in chunks)
    assert "".join(c["choices"][0]["text"] for c in chunks) == whole["choices"][0]["text"]
    assert [c["choices"][0]["finish_reason"] for c in chunks[-2:]] == [None, "length"]
    # Sampled, with the same seed: the same text streamed or not.
    a = llm(PROMPT, max_tokens=32, temperature=0.9, seed=11)["choices"][0]["text"]
    b = "".join(c["choices"][0]["text"] for c in llm(PROMPT, max_tokens=32, temperature=0.9, seed=11, stream=True))
    assert a == b


def test_echo_prefixes_the_prompt(llm):
    plain = llm(PROMPT, max_tokens=8, temperature=0)["choices"][0]["text"]
    assert llm(PROMPT, max_tokens=8, temperature=0, echo=True)["choices"][0]["text"] == " " + PROMPT + plain


def test_chat_template_applied(models):
    messages = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Who art thou?"}]
    with tinyllm.Llama(q8(models), n_ctx=256, n_threads=1, chat_format="chatml") as llm:
        text = llm.apply_chat_template(messages)
        assert text == "<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nWho art thou?<|im_end|>\n<|im_start|>assistant\n"
        reply = llm.create_chat_completion(messages, max_tokens=12, temperature=0)
        assert reply["object"] == "chat.completion"
        assert reply["choices"][0]["message"]["role"] == "assistant"
        assert reply["usage"]["prompt_tokens"] == len(llm.tokenize(text.encode(), special=True))
        # The reply is what the same prompt text gives as a plain completion.
        assert reply["choices"][0]["message"]["content"] == llm(text, max_tokens=12, temperature=0)["choices"][0]["text"]
        chunks = list(llm.create_chat_completion(messages, max_tokens=12, temperature=0, stream=True))
        assert chunks[0]["choices"][0]["delta"] == {"role": "assistant"}
        assert chunks[-1]["choices"][0]["delta"] == {} and chunks[-1]["choices"][0]["finish_reason"] == "length"
        assert "".join(c["choices"][0]["delta"].get("content", "") for c in chunks) == reply["choices"][0]["message"]["content"]
    # This model names no template of its own.
    with tinyllm.Llama(q8(models), n_ctx=64) as llm, pytest.raises(tinyllm.TinyllmRuntimeError, match="chat_template"):
        llm.create_chat_completion(messages)


def test_stop_strings(llm):
    full = llm(PROMPT, max_tokens=40, temperature=0)["choices"][0]["text"]
    stop = full[10:13]
    cut = llm(PROMPT, max_tokens=40, temperature=0, stop=["zzzz", stop])
    assert cut["choices"][0]["finish_reason"] == "stop"
    assert cut["choices"][0]["text"] == full[:full.index(stop)]
    streamed = "".join(c["choices"][0]["text"] for c in llm(PROMPT, max_tokens=40, temperature=0, stop=stop, stream=True))
    assert streamed == full[:full.index(stop)]


def test_saved_state_continues_like_an_uninterrupted_run(models):
    prompt_ids = None
    with tinyllm.Llama(q8(models), n_ctx=128, seed=7) as whole:
        prompt_ids = whole.tokenize(PROMPT.encode())
        expected = [t for _, t in zip(range(24), whole.generate(prompt_ids, temp=0.9, repeat_penalty=1.2))]
    with tinyllm.Llama(q8(models), n_ctx=128, seed=7) as first:
        ids = [t for _, t in zip(range(10), first.generate(prompt_ids, temp=0.9, repeat_penalty=1.2))]
        state = first.save_state()
        assert state.n_tokens == len(prompt_ids) + 10
    with tinyllm.Llama(q8(models), n_ctx=128, seed=12345) as second:
        second.load_state(state)
        assert second.tokens() == prompt_ids + ids
        ids += [t for _, t in zip(range(14), second.generate(prompt_ids + ids, temp=0.9, repeat_penalty=1.2))]
    assert ids == expected


def test_state_from_another_model_or_damaged_is_refused(models):
    with tinyllm.Llama(q8(models), n_ctx=64) as a, tinyllm.Llama(os.path.join(models, "shakespeare5m-q4_0.gguf"), n_ctx=64) as b:
        a.eval(a.tokenize(PROMPT.encode()))
        state = a.save_state()
        with pytest.raises(tinyllm.TinyllmRuntimeError, match="another model"):
            b.load_state(state)
        assert state.n_tokens == len(state.input_ids) == 3 and state.llama_state_size == len(state.llama_state)
        damaged = bytearray(state.llama_state)
        damaged[200] ^= 1
        with pytest.raises(tinyllm.TinyllmRuntimeError, match="checksum"):
            a.load_state(bytes(damaged))
        with pytest.raises(TypeError):
            a.load_state("not a state")
        # Refused states changed nothing: a continues as a copy restored from the state does.
        assert b.n_tokens == 0 and a.tokens() == state.input_ids
        b2 = tinyllm.Llama(q8(models), n_ctx=64)
        b2.load_state(state)
        assert list(zip(range(8), a.generate([], temp=0, reset=False))) == list(zip(range(8), b2.generate([], temp=0, reset=False)))
        b2.close()


def test_tokenize_and_detokenize(llm):
    ids = llm.tokenize(b"To be, or not to be")
    assert ids[0] == llm.token_bos()
    assert llm.detokenize(ids[1:]) == b" To be, or not to be"
    assert llm.tokenize(b"To be", add_bos=False)[0] != llm.token_bos()
    assert llm.n_vocab() == 1024 and llm.n_ctx() == 256


def test_errors_are_exceptions(models, llm):
    with pytest.raises(OSError, match="cannot open"):
        tinyllm.Llama(os.path.join(models, "no-such-model.gguf"))
    with pytest.raises(tinyllm.TinyllmRuntimeError, match="bad magic"):
        tinyllm.Llama(os.path.join(models, "shakespeare5m.torch.json"))
    with pytest.raises(tinyllm.TinyllmRuntimeError, match="no vocabulary"):
        tinyllm.Llama(os.path.join(models, "shakespeare5m_fp32_kv.pte"))
    with pytest.raises(ValueError, match="context"):
        tinyllm.Llama(q8(models), n_ctx=10**6)
    with pytest.raises(TypeError):
        tinyllm.Llama(42)
    with pytest.raises(TypeError):
        llm.tokenize("text, not bytes")
    with pytest.raises(TypeError):
        llm.detokenize([1, "two"])
    with pytest.raises(ValueError, match="outside the vocabulary"):
        llm.detokenize([5000])
    with pytest.raises(ValueError, match="outside the vocabulary"):
        llm.eval([1, 99999])
    with pytest.raises(ValueError, match="sampling"):
        llm(PROMPT, top_p=0.0)
    with pytest.raises(ValueError, match="sampling"):
        list(llm(PROMPT, temperature=-1.0, stream=True))
    with pytest.raises(TypeError):
        llm(PROMPT, max_tokens="many")
    with pytest.raises(ValueError, match="does not fit"):
        llm(PROMPT * 200)
    with pytest.raises(TypeError):
        llm.create_chat_completion([{"role": "user", "content": None}])
    llm.chat_format = "chatml"
    with pytest.raises(ValueError, match="robot"):
        llm.create_chat_completion([{"role": "robot", "content": "hi"}])
    # A prompt that does not fit leaves the conversation as it was.
    llm(PROMPT, max_tokens=4, temperature=0)
    held = llm.tokens()
    with pytest.raises(ValueError, match="does not fit"):
        llm.create_chat_completion([{"role": "user", "content": "x " * 400}])
    with pytest.raises(ValueError, match="outside the vocabulary"):
        llm([1, 2, 5000])
    with pytest.raises(TypeError):
        llm(PROMPT, stop=[""])
    assert llm.tokens() == held
    # The model still works after all that.
    assert llm(PROMPT, max_tokens=4, temperature=0)["usage"]["completion_tokens"] == 4


def test_a_new_reply_ends_the_stream_of_the_old_one(llm):
    first = llm(PROMPT, max_tokens=16, temperature=0, stream=True)
    next(first)
    second = llm(PROMPT, max_tokens=16, temperature=0, stream=True)
    with pytest.raises(RuntimeError, match="another reply"):
        list(first)
    assert "".join(c["choices"][0]["text"] for c in second) == llm(PROMPT, max_tokens=16, temperature=0)["choices"][0]["text"]


def test_closed_model_raises(models):
    llm = tinyllm.Llama(q8(models), n_ctx=64)
    stream = llm(PROMPT, max_tokens=8, stream=True)
    next(stream)
    llm.close()
    for call in (lambda: llm(PROMPT), lambda: llm.tokenize(b"x"), lambda: llm.save_state(), lambda: next(stream),
                 lambda: llm.n_ctx(), lambda: llm.eval([1])):
        with pytest.raises(ValueError, match="closed"):
            call()
    llm.close()  # twice is fine


def test_package_and_library_location():
    """After an install, the package and the library beside it are the ones in use."""
    expected = os.environ.get("TINYLLM_PACKAGE_DIR")
    if not expected:
        pytest.skip("TINYLLM_PACKAGE_DIR is set only for the installed run")
    assert os.path.dirname(os.path.abspath(tinyllm.__file__)) == os.path.abspath(expected)
    assert tinyllm._lib._name == os.path.join(os.path.abspath(expected), "libtinyllm.so")


def test_example_app_serves_gguf_and_pte_alike(models):
    """examples/python/app.py streams what the Llama calls return, for both kinds of file."""
    app = os.path.join(os.path.dirname(__file__), "..", "..", "examples", "python", "app.py")
    program, vocab = os.path.join(models, "shakespeare5m_fp32_kv.pte"), os.path.join(models, "shakespeare5m-f16.gguf")
    for model, extra in ((q8(models), []), (program, ["--tokenizer", vocab])):
        out = subprocess.run([sys.executable, app, model, PROMPT, "-n", "24", *extra], capture_output=True, text=True, check=True).stdout
        with tinyllm.Llama(model, n_ctx=0, tokenizer_path=extra[1] if extra else None) as llm:
            assert out == llm(PROMPT, max_tokens=24, temperature=0)["choices"][0]["text"] + "\n"
    out = subprocess.run([sys.executable, app, q8(models), "Who art thou?", "--chat-format", "chatml", "--instruct", "-n", "8"],
                         capture_output=True, text=True, check=True).stdout
    assert len(out) > 1


def test_drafting_gives_the_same_greedy_text(models, llm):
    want = llm(PROMPT, max_tokens=60, temperature=0)["choices"][0]["text"]
    with tinyllm.Llama(q8(models), n_ctx=256, n_threads=1,
                       draft_model=tinyllm.LlamaPromptLookupDecoding(max_ngram_size=3, num_pred_tokens=4)) as lookup:
        assert lookup(PROMPT, max_tokens=60, temperature=0)["choices"][0]["text"] == want
    with tinyllm.Llama(q8(models), n_ctx=256, n_threads=1,
                       draft_model=tinyllm.LlamaLookaheadDecoding(window=3, ngram_size=3, max_verify=2)) as lookahead:
        assert lookahead(PROMPT, max_tokens=60, temperature=0)["choices"][0]["text"] == want
    with tinyllm.Llama(os.path.join(models, "shakespeare5m-q4_0.gguf"), n_ctx=256, n_threads=1) as draft:
        with tinyllm.Llama(q8(models), n_ctx=256, n_threads=1, draft_model=draft) as drafted:
            assert drafted(PROMPT, max_tokens=60, temperature=0)["choices"][0]["text"] == want
    with pytest.raises(tinyllm.TinyllmValueError, match="max_ngram_size = 1"):
        tinyllm.LlamaPromptLookupDecoding(max_ngram_size=1)
    with pytest.raises(tinyllm.TinyllmValueError, match="ngram_size = 2"):
        tinyllm.LlamaLookaheadDecoding(ngram_size=2)
    with pytest.raises(TypeError, match="draft_model must be"):
        tinyllm.Llama(q8(models), draft_model="small.gguf")
