#!/usr/bin/env python3
"""How well does llama.cpp agree with itself across CPU builds?

Runs issue 11's fidelity check (what `check_against_llama_cpp` in
tests/gpu_fast.rs does to Locus's `fast` path) on llama.cpp itself: another
build of the same llama.cpp source, loaded through llama-cpp-python, is forced
along the greedy tokens of tests/fixtures/llama_cpp/MODEL.json (made by
scripts/make_fixtures.py with the native, AVX-512 build) and its top-1 is
compared with the fixture's at every step. See scripts/README.md.

    py=~/.cache/locus/venv-llama/bin/python
    $py scripts/llama_self_agreement.py run VARIANT MODEL.gguf FIXTURE.json
    $py scripts/llama_self_agreement.py all        # every variant x model
    $py scripts/llama_self_agreement.py table      # Markdown table of the results

VARIANT is `native` (the venv's own libraries, which made the fixtures: the
control, which must agree on every position) or a directory name under
~/.cache/locus/llama-variants/ whose build/bin holds libllama.so. `run` adds
its result to tests/fixtures/llama_cpp/self_agreement.json (replacing an
earlier one for the same variant, model and fixture).
"""

import argparse
import datetime
import fcntl
import hashlib
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

from fixture_json import dumps

REPO = Path(__file__).resolve().parent.parent
RESULTS = REPO / "tests" / "fixtures" / "llama_cpp" / "self_agreement.json"
VARIANTS_DIR = Path.home() / ".cache" / "locus" / "llama-variants"
MODELS_DIR = REPO / "models"

# The bar, as tests/gpu_fast.rs checks it.
CLEAR_MARGIN = 0.1
STRICT_MARGIN = 0.5
GREEDY_PASS = 7  # of 10 prompts

# (fixture, model file, forced steps, greedy length): the full runs of
# tests/gpu_fast.rs (`*_fast_follows_llama_cpp_on_every_prompt`).
MODELS = [
    ("smollm2", "SmolLM2-135M-Instruct.Q4_1.gguf", 48, 32),
    ("qwen2", "Qwen2.5-Coder-0.5B-Instruct.Q4_K_M.gguf", 16, 16),
    ("gemma3", "gemma-3-270m.Q4_K_M.gguf", 16, 16),
]
PROMPTS = 10

# What each variant's CPU backend must (True) or must not (False) report in
# llama_print_system_info; a key starting with "AVX512" stands for every
# AVX512_* feature too. This proves which build was really loaded.
EXPECTED_FEATURES = {
    "native": {"AVX2": True, "AVX512": True},
    "rebuilt-native": {"AVX2": True, "AVX512": True},
    "avx2": {"AVX": True, "AVX2": True, "FMA": True, "F16C": True, "AVX512": False},
    "generic": {"SSE3": False, "AVX": False, "AVX2": False, "FMA": False, "F16C": False, "AVX512": False},
}


DEFAULT_SOURCE = Path.home() / ".cache" / "locus" / "llama-cpu" / "llama.cpp"
# GGML_* CMake options of each variant.
BUILD_FLAGS = {
    # A typical AVX2 laptop or desktop (no -march=native).
    "avx2": "NATIVE=OFF SSE42=ON AVX=ON AVX2=ON BMI2=ON FMA=ON F16C=ON AVX512=OFF",
    # No x86 SIMD kernels: ggml's generic C path (x86-64's baseline SSE2 only).
    "generic": "NATIVE=OFF SSE42=OFF AVX=OFF AVX2=OFF BMI2=OFF FMA=OFF F16C=OFF AVX512=OFF",
    # -march=native like the wheel that made the fixtures: a second control,
    # which shows that this source and compiler are the wheel's.
    "rebuilt-native": "NATIVE=ON",
}
BUILD_COMMON = [
    "-G", "Ninja", "-DCMAKE_BUILD_TYPE=Release", "-DBUILD_SHARED_LIBS=ON", "-DLLAMA_CURL=OFF",
    "-DLLAMA_BUILD_TESTS=OFF", "-DLLAMA_BUILD_EXAMPLES=OFF", "-DLLAMA_BUILD_SERVER=OFF",
    "-DLLAMA_BUILD_TOOLS=OFF",
]


def build(variants, source, jobs):
    """Configures and builds the `llama` target (libllama and the ggml
    libraries) of each variant under ~/.cache/locus/llama-variants/NAME/build."""
    for variant in variants:
        out = VARIANTS_DIR / variant / "build"
        flags = [f"-DGGML_{flag}" for flag in BUILD_FLAGS[variant].split()]
        subprocess.run(["cmake", "-S", str(source), "-B", str(out), *BUILD_COMMON, *flags], check=True)
        subprocess.run(["nice", "-n", "10", "cmake", "--build", str(out), "--target", "llama", f"-j{jobs}"], check=True)


def library_dir(variant):
    if variant == "native":
        return None  # llama-cpp-python's own llama_cpp/lib
    return VARIANTS_DIR / variant / "build" / "bin"


def cpu_features(system_info):
    """{"AVX2": True, ...} from 'CPU : SSE3 = 1 | AVX2 = 1 | ...' (ggml lists
    only the features a build has, each as 1)."""
    features = {}
    for part in system_info.split("|"):
        if "=" in part:
            key, value = part.rsplit("=", 1)
            key = key.split(":")[-1].strip()
            features[key] = value.strip() == "1"
    return features


def check_features(variant, features):
    for key, wanted in EXPECTED_FEATURES.get(variant, {}).items():
        present = any(v for k, v in features.items() if k == key or (key == "AVX512" and k.startswith("AVX512")))
        if present != wanted:
            sys.exit(f"{variant}: {key} is {'present' if present else 'absent'} in the loaded library's system info")


def loaded_libraries():
    """Paths of the llama/ggml shared objects mapped into this process."""
    paths = set()
    with open("/proc/self/maps") as maps:
        for line in maps:
            path = line.split()[-1] if len(line.split()) >= 6 else ""
            name = os.path.basename(path)
            if name.startswith(("libllama", "libggml", "libmtmd")):
                paths.add(os.path.realpath(path))
    return sorted(paths)


def zmm_instructions(path):
    """How many instructions of a library use AVX-512's zmm registers (None
    without objdump): 0 proves that a build cannot run AVX-512 code."""
    try:
        listing = subprocess.run(["objdump", "-d", path], capture_output=True, text=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError):
        return None
    return sum("%zmm" in line for line in listing.splitlines())


def sha256(path):
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def run(variant, model_path, fixture_path, steps, greedy_steps, prompts):
    lib = library_dir(variant)
    if lib is not None:
        if not (lib / "libllama.so").exists():
            sys.exit(f"no {lib / 'libllama.so'}: build the variant first (scripts/README.md)")
        # Read by llama_cpp at import time.
        os.environ["LLAMA_CPP_LIB_PATH"] = str(lib)
    import numpy as np
    import llama_cpp

    sys.path.insert(0, str(Path(__file__).resolve().parent))
    # The fixture generator's own Llama settings (n_ctx 512, 2 threads,
    # logits_all, n_batch default 512, flash attention left at its default).
    from make_fixtures import DECIMALS, Model

    system_info = llama_cpp.llama_print_system_info().decode().strip()
    features = cpu_features(system_info)
    check_features(variant, features)
    fixture = json.loads(Path(fixture_path).read_text(encoding="utf-8"))
    meta = fixture["meta"]
    if meta["model_sha256"] != sha256(model_path):
        sys.exit(f"{model_path} is not the file {fixture_path} was made from")
    m = Model(model_path)
    libs = loaded_libraries()
    expected_dir = str(lib.resolve()) if lib is not None else os.path.dirname(os.path.realpath(llama_cpp.__file__))
    stray = [p for p in libs if not p.startswith(expected_dir)]
    if stray or not any("libggml-cpu" in os.path.basename(p) for p in libs):
        sys.exit(f"{variant}: loaded libraries outside {expected_dir}: {stray or libs}")
    cpu_library = next(p for p in libs if os.path.basename(p).startswith("libggml-cpu"))
    zmm = zmm_instructions(cpu_library)
    if EXPECTED_FEATURES.get(variant, {}).get("AVX512") is False and zmm:
        sys.exit(f"{variant}: {cpu_library} has {zmm} AVX-512 (zmm) instructions")
    print(f"{variant}: {system_info}", file=sys.stderr)
    print(f"{variant}: libraries {', '.join(libs)}", file=sys.stderr)

    generations = fixture["generations"][:prompts]
    positions = clear = clear_agree = greedy_equal = 0
    strict_failures, divergences = [], []
    # The control must reproduce the fixture's logits: its margins are
    # compared to 4 decimals, and the first 8 steps' top-10 logits too.
    margin_mismatches = 0
    max_top10_diff = 0.0
    per_prompt = []
    for index, g in enumerate(generations):
        n = min(steps, len(g["tokens"]))
        if g["first_eog"] is not None:
            n = min(n, g["first_eog"])
        m.llm.reset()
        m.llm.eval(g["prompt_ids"])
        first_divergence = None
        disagreements = []
        for step in range(n):
            logits = m.logits_last()
            order = np.argsort(-logits, kind="stable")
            ours = int(order[0])
            want = g["tokens"][step]
            margin = g["margins"][step]
            positions += 1
            if round(float(logits[order[0]] - logits[order[1]]), DECIMALS) != margin:
                margin_mismatches += 1
            if step < len(g["top10"]):
                for token, value in g["top10"][step]:
                    max_top10_diff = max(max_top10_diff, abs(float(logits[token]) - value))
            if ours != want:
                event = {
                    "step": step,
                    "fixture_margin": margin,
                    "ours": ours,
                    "fixture_token": want,
                    # How far this build prefers its token over the fixture's.
                    "our_gap": round(float(logits[ours] - logits[want]), DECIMALS),
                }
                disagreements.append(event)
                if first_divergence is None:
                    first_divergence = step
                    divergences.append({"prompt": index, **event, "within_greedy": step < greedy_steps})
                if margin >= STRICT_MARGIN:
                    strict_failures.append({"prompt": index, **event})
            if margin >= CLEAR_MARGIN:
                clear += 1
                clear_agree += ours == want
            m.llm.eval([want])
        equal = first_divergence is None or first_divergence >= greedy_steps
        greedy_equal += equal
        per_prompt.append({"prompt": index, "positions": n, "greedy_equal": equal, "disagreements": disagreements})
        print(
            f"{variant} {meta['model_file']} prompt {index}: "
            + (
                "follows the fixture"
                if first_divergence is None
                else f"diverges at step {first_divergence} (fixture margin {g['margins'][first_divergence]:.4f})"
                + ("" if first_divergence < greedy_steps else ", past the greedy check's length")
            ),
            file=sys.stderr,
        )

    result = {
        "variant": variant,
        "library_dir": str(lib) if lib is not None else "llama-cpp-python 0.3.36's llama_cpp/lib (native, made the fixtures)",
        "system_info": system_info,
        "loaded_libraries": [os.path.basename(p) for p in libs],
        "zmm_instructions_in_libggml_cpu": zmm,
        "model": meta["model_file"],
        "fixture": Path(fixture_path).name,
        "prompts": len(generations),
        "steps": steps,
        "greedy_steps": greedy_steps,
        "positions": positions,
        "clear": clear,
        "clear_agree": clear_agree,
        "greedy_equal": greedy_equal,
        "strict_failures": strict_failures,
        "divergences": divergences,
        "meets_bar": not strict_failures
        and clear_agree >= 0.99 * clear
        and greedy_equal * 10 >= GREEDY_PASS * len(generations),
        "margins_equal_to_4_decimals": positions - margin_mismatches,
        "max_abs_top10_logit_diff": round(max_top10_diff, 6),
        "per_prompt": per_prompt,
        "measured": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%MZ"),
    }
    print(
        f"{variant} {meta['model_file']}: top-1 equal on {clear_agree}/{clear} positions with margin >= {CLEAR_MARGIN} "
        f"({positions} positions); greedy equal on {greedy_equal}/{len(generations)}; "
        f"{len(strict_failures)} disagreements at margin >= {STRICT_MARGIN}; "
        f"margins equal to {DECIMALS} decimals on {positions - margin_mismatches}/{positions}; "
        f"top-10 logits max |diff| {max_top10_diff:.4f}",
        file=sys.stderr,
    )
    if variant.endswith("native") and (margin_mismatches or clear_agree != clear or divergences):
        print("CONTROL FAILED: the harness does not reproduce the fixture generation", file=sys.stderr)
        result["control_failed"] = True
    save(result)
    return result


def load_results():
    if RESULTS.exists():
        return json.loads(RESULTS.read_text(encoding="utf-8"))
    return {"about": __doc__.strip().split("\n\n")[0], "results": []}


def save(result):
    # Runs of several variants may finish at once: one writer at a time.
    with open(Path(tempfile.gettempdir()) / "llama_self_agreement.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        save_locked(result)


def save_locked(result):
    data = load_results()
    data["results"] = [
        r
        for r in data["results"]
        if (r["variant"], r["model"], r.get("fixture")) != (result["variant"], result["model"], result["fixture"])
    ] + [result]
    order = {name: i for i, name in enumerate(["native", "rebuilt-native", "avx2", "generic"])}
    models = {file: i for i, (_, file, _, _) in enumerate(MODELS)}
    data["results"].sort(key=lambda r: (order.get(r["variant"], 99), models.get(r["model"], 99)))
    RESULTS.write_text(dumps(data, levels=3) + "\n", encoding="utf-8")



MODEL_NAMES = {"SmolLM2": "SmolLM2", "Qwen2.5": "Qwen2.5", "gemma-3": "Gemma 3"}


def table():
    """Markdown: one row per build and model. A disagreement is written
    prompt/step: the fixture's margin there."""
    rows = [
        "| build | model | top-1 equal, margin ≥ 0.1 | greedy equal | first divergences "
        "(* past the greedy length) | other disagreements, margin ≥ 0.1 | bar met |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in load_results()["results"]:
        share = 100 * r["clear_agree"] / r["clear"] if r["clear"] else 100.0
        model = next((short for prefix, short in MODEL_NAMES.items() if r["model"].startswith(prefix)), r["model"])
        firsts = {(d["prompt"], d["step"]) for d in r["divergences"]}
        divs = ", ".join(
            f"{d['prompt']}/{d['step']}: {d['fixture_margin']:.3f}{'' if d['within_greedy'] else '*'}"
            for d in r["divergences"]
        )
        later = ", ".join(
            f"{p['prompt']}/{e['step']}: {e['fixture_margin']:.3f}"
            for p in r["per_prompt"]
            for e in p["disagreements"]
            if e["fixture_margin"] >= CLEAR_MARGIN and (p["prompt"], e["step"]) not in firsts
        )
        strict = f", {len(r['strict_failures'])} at ≥ 0.5" if r["strict_failures"] else ""
        rows.append(
            f"| {r['variant']} | {model} | {r['clear_agree']}/{r['clear']} ({share:.1f} %){strict} | "
            f"{r['greedy_equal']}/{r['prompts']} | {divs or '—'} | {later or '—'} | "
            f"{'yes' if r['meets_bar'] else 'no'} |"
        )
    print("\n".join(rows))


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    one = sub.add_parser("run", help="one variant on one model")
    one.add_argument("variant")
    one.add_argument("model")
    one.add_argument("fixture")
    one.add_argument("--steps", type=int, help="forced steps per prompt (default: the issue's, by model)")
    one.add_argument("--greedy", type=int, help="greedy check length (default: the issue's, by model)")
    one.add_argument("--prompts", type=int, default=PROMPTS)
    every = sub.add_parser("all", help="every variant on every model, one process each")
    every.add_argument("variants", nargs="*", default=["native", "rebuilt-native", "avx2", "generic"])
    sub.add_parser("table", help="print the results as a Markdown table")
    make = sub.add_parser("build", help="build variants' libraries (needs cmake and ninja on PATH)")
    make.add_argument("variants", nargs="*", default=list(BUILD_FLAGS))
    make.add_argument("--source", default=str(DEFAULT_SOURCE), help="llama-cpp-python 0.3.36's vendor/llama.cpp")
    make.add_argument("-j", "--jobs", type=int, default=2)
    args = parser.parse_args()

    if args.command == "build":
        build(args.variants, args.source, args.jobs)
    elif args.command == "table":
        table()
    elif args.command == "all":
        for variant in args.variants:
            for name, file, _, _ in MODELS:
                fixture = REPO / "tests" / "fixtures" / "llama_cpp" / f"{name}.json"
                subprocess.run(
                    [sys.executable, __file__, "run", variant, str(MODELS_DIR / file), str(fixture)], check=True
                )
        table()
    else:
        defaults = next(((s, g) for _, file, s, g in MODELS if Path(args.model).name == file), (16, 16))
        run(args.variant, args.model, args.fixture, args.steps or defaults[0], args.greedy or defaults[1], args.prompts)


if __name__ == "__main__":
    main()
