#!/usr/bin/env bash
# Checks `generate -m PROGRAM.pte` against the ExecuTorch export references and against the
# same weights run from GGUF. Usage: pte_cli.sh GENERATE_BINARY SHARED_DIR
set -u
gen=$1
run() { ${TINYLLM_RUNNER:-} "$gen" "$@"; }
shared=$2
pte=$shared/fixtures/pte
models=$shared/models
source "$(dirname "$0")/contract.sh"
if [ ! -d "$pte" ]; then echo "skipped: $pte not found"; exit 0; fi
ref=$pte/stories260K_reference.json
prompt_ids=$(python3 -c "import json,sys; print(','.join(map(str, json.load(open(sys.argv[1]))['prompt_tokens'])))" "$ref")
greedy=$(python3 -c "import json,sys; print(','.join(map(str, json.load(open(sys.argv[1]))['greedy']['generated_ids'])))" "$ref")

out=$(run -m "$pte/stories260K_fp32_kv.pte" --prompt-ids "$prompt_ids" -n 24 --temp 0 --print-ids 2>/dev/null)
expect "stories260K_fp32_kv greedy ids" "$greedy" "$out"

tmp=$(mktemp)
run -m "$pte/stories260K_fp32_kv.pte" --prompt-ids "$prompt_ids" -n 1 --temp 0 --print-ids --dump-logits "$tmp" >/dev/null 2>&1
verdict=$(python3 -c "
import json,math,struct,sys
steps=json.load(open(sys.argv[2]))['steps']
raw=open(sys.argv[1],'rb').read(); x=struct.unpack('%df'%(len(raw)//4),raw)
if len(x)!=len(steps)*512: print('wrong size', len(x)); sys.exit()
worst=0
for i,s in enumerate(steps):
    a=x[i*512:(i+1)*512]; b=s['logits']
    worst=max(worst, math.sqrt(sum((p-q)**2 for p,q in zip(a,b))/sum(q*q for q in b)))
print('ok' if worst<1e-3 else 'nrmse %g'%worst)" "$tmp" "$ref")
expect "stories260K_fp32_kv --dump-logits within float tolerance of PyTorch steps" "ok" "$verdict"
rm -f "$tmp"

out=$(run -m "$pte/stories260K_fp32_kv_xnnpack.pte" --prompt-ids "$prompt_ids" -n 24 --temp 0 --print-ids 2>/dev/null)
expect "XNNPACK-delegated stories260K greedy ids" "$greedy" "$out"
# Held-back prompts: the delegated program picks what the portable one picks.
for p in 1,403,407,261 1,9,20,33,44,55 1,300,301,302,303,304,305,306,307,308; do
  want=$(run -m "$pte/stories260K_fp32_kv.pte" --prompt-ids "$p" -n 24 --temp 0 --print-ids 2>/dev/null)
  got=$(run -m "$pte/stories260K_fp32_kv_xnnpack.pte" --prompt-ids "$p" -n 24 --temp 0 --print-ids 2>/dev/null)
  expect "XNNPACK program ids equal the portable program's for prompt $p" "$want" "$got"
done

out=$(run -m "$pte/stories260K_fp32_prefill.pte" --prompt-ids "$prompt_ids" -n 1 --temp 0 --print-ids 2>/dev/null)
expect "prefill program: next token after the 8-token prompt" "${greedy%%,*}" "$out"

# shakespeare5m: the .pte and the GGUF hold the same weights and must pick the same ids.
for p in $'ROMEO:\nBut soft, what light' $'JULIET:\nO Romeo, Romeo' $'KING RICHARD II:\nNow is the winter'; do
  want=$(run -m "$models/shakespeare5m-f16.gguf" -p "$p" -n 64 --temp 0 --print-ids 2>/dev/null)
  got=$(run -m "$models/shakespeare5m_fp32_kv.pte" --tokenizer "$models/shakespeare5m-f16.gguf" -p "$p" -n 64 --temp 0 --print-ids 2>/dev/null)
  expect "shakespeare5m .pte ids equal the GGUF's for '${p%%$'\n'*}'" "$want" "$got"
done

err=$(run -m "$models/shakespeare5m_fp32_kv.pte" -p "hello" -n 4 2>&1 >/dev/null); code=$?
expect "text prompt without --tokenizer is refused" "1 yes" "$code $(grep -q -- '--tokenizer' <<<"$err" && echo yes || echo no)"
err=$(run -m "$pte/stories260K_fp32_kv.pte" --prompt-ids 1,600 -n 4 --print-ids 2>&1 >/dev/null); code=$?
expect "out-of-range prompt id is refused" "1 yes" "$code $(grep -q 'out of range' <<<"$err" && echo yes || echo no)"
err=$(run -m "$pte/stories260k_hybrid_llama_qnn.pte" --prompt-ids 1 -n 4 --print-ids 2>&1 >/dev/null); code=$?
expect "QNN program (no 'forward') is refused naming the QnnBackend its methods need" "1 yes" \
  "$code $(grep -q 'kv_forward (needs the QnnBackend delegate)' <<<"$err" && echo yes || echo "no: $err")"

finish pte_cli
