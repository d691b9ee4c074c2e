"""The llama.cpp CPU reference for `locus generate` / `locus bench --backend cpu`:
prompt processing of a ~100-token prompt and 128 greedy tokens after a short
prompt, 2 threads, median of 3 runs after a warm-up.

    ~/.cache/locus/venv-llama/bin/python scripts/bench_llama_cpp.py MODEL.gguf

(the venv comes from `scripts/make_fixtures.py`'s set-up, see scripts/README.md).
"""
import sys, time, statistics
import numpy as np, llama_cpp
from llama_cpp import Llama
llm = Llama(sys.argv[1], n_ctx=512, n_threads=2, n_threads_batch=2, logits_all=False, seed=0, verbose=False)
ctx = llm._ctx.ctx
nv = llm.n_vocab()
def last_logits():
    return np.ctypeslib.as_array(llama_cpp.llama_get_logits_ith(ctx, -1), shape=(nv,))
long_prompt = ("The Industrial Revolution, which took place from the 18th to 19th centuries, was a period during which "
  "predominantly agrarian, rural societies in Europe and America became industrial and urban. Prior to the Industrial "
  "Revolution, manufacturing was often done in people's homes, using hand tools or basic machines. Industrialization "
  "marked a shift to powered, special-purpose machinery, factories and mass production. The iron and textile industries, "
  "along with the development of the steam engine, played central roles in the Industrial Revolution")
pp_ids = llm.tokenize(long_prompt.encode(), add_bos=False)
print("pp prompt tokens", len(pp_ids))
short = llm.tokenize(b"Once upon a time,", add_bos=False)
tg, tg_perf, pp, pp_perf = [], [], [], []
for run in range(4):  # run 0 is a warm-up
    llm.reset(); llama_cpp.llama_perf_context_reset(ctx)
    t = time.perf_counter(); llm.eval(pp_ids); dt = time.perf_counter() - t
    p = llama_cpp.llama_perf_context(ctx)
    if run: pp.append(len(pp_ids) / dt); pp_perf.append(p.n_p_eval / max(p.t_p_eval_ms, 1e-9) * 1e3); print("pp perf", p.n_p_eval, p.t_p_eval_ms, p.n_eval, p.t_eval_ms)
    llm.reset(); llm.eval(short); tok = int(np.argmax(last_logits()))
    llama_cpp.llama_perf_context_reset(ctx)
    t = time.perf_counter()
    for _ in range(128):
        llm.eval([tok]); tok = int(np.argmax(last_logits()))
    dt = time.perf_counter() - t
    p = llama_cpp.llama_perf_context(ctx)
    if run: tg.append(128 / dt); tg_perf.append(p.n_eval / p.t_eval_ms * 1e3)
    print(f"run {run}: pp {len(pp_ids)/1:.0f} tok in {pp[-1] if run else 0:.1f} t/s; tg {128/dt:.1f} t/s (perf n_eval={p.n_eval} {p.n_eval / p.t_eval_ms * 1e3:.1f} t/s)", flush=True)
print(f"median tg128 {statistics.median(tg):.1f} t/s (llama perf {statistics.median(tg_perf):.1f}); pp{len(pp_ids)} {statistics.median(pp):.1f} t/s (llama perf {statistics.median(pp_perf):.1f})")
