#!/usr/bin/env python3
"""Reference fixtures from llama.cpp (through llama-cpp-python) for one model.

    ~/.cache/locus/venv-llama/bin/python scripts/make_fixtures.py MODEL.gguf OUT.json [N]

With N, only the first N plain prompts and no chats (for large models).

Writes tokenization of every string in tests/fixtures/corpus.json, chat
prompts rendered by llama.cpp's own `llama_chat_apply_template`, and greedy
generations with the logits llama.cpp computed. See scripts/README.md.
"""

import ctypes
import hashlib
import json

import sys
from pathlib import Path

import numpy as np
import llama_cpp
from llama_cpp import Llama
from llama_cpp.llama_chat_format import Jinja2ChatFormatter

from fixture_json import dumps

REPO = Path(__file__).resolve().parent.parent
CORPUS = REPO / "tests" / "fixtures" / "corpus.json"

# Greedy tokens generated per prompt, by model file name prefix.
N_PREDICT = {"SmolLM2": 48}
N_PREDICT_DEFAULT = 16
TOP_K_POSITIONS = 8  # generated positions that get a top-10 list
DECIMALS = 4

CONVERSATIONS = [
    # system + user
    [
        {"role": "system", "content": "You are a helpful assistant."},
        {"role": "user", "content": "What is the capital of France?"},
    ],
    # user only
    [{"role": "user", "content": "Count from 1 to 20, separated by commas."}],
    # user / assistant / user
    [
        {"role": "user", "content": "Hi! What's your name?"},
        {"role": "assistant", "content": "I'm a helpful assistant. How can I help you today?"},
        {"role": "user", "content": "Tell me a fun fact about octopuses."},
    ],
    # non-ASCII content
    [
        {
            "role": "user",
            "content": "Traduis en anglais : « Le café est très bon. » Et en japonais ? 日本語で 🇯🇵",
        }
    ],
]

# Plain continuations; chat generations use CONVERSATIONS (and EXTRA_CHATS).
PLAIN_PROMPTS = [
    "The capital of France is",
    "Once upon a time, there was a little",
    "def fibonacci(n):\n",
    "1, 2, 3, 4, 5, 6, 7, 8, 9, 10,",
    "The alphabet: a b c d e f g",
]
# On SmolLM2 these, and the two number/alphabet prompts above, have a top-1 vs
# top-2 logit margin of at least 0.5 at each of their first 16 tokens.
EXTRA_CHATS = [
    [{"role": "user", "content": "Complete the sequence: 1, 2, 3, 4, 5, 6, 7, 8, 9, 10,"}],
]


def sha256(path):
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def r(x):
    return round(float(x), DECIMALS)


class Model:
    def __init__(self, path):
        self.llm = Llama(
            model_path=str(path),
            logits_all=True,
            n_ctx=512,
            n_threads=2,
            seed=0,
            verbose=False,
        )
        self.model = self.llm._model.model
        self.vocab = llama_cpp.llama_model_get_vocab(self.model)

    def tokenize(self, text, add_bos, special):
        return self.llm.tokenize(text.encode("utf-8"), add_bos=add_bos, special=special)

    def detokenize(self, ids, special=False):
        """llama.cpp's `llama_detokenize` (what common_detokenize calls)."""
        arr = (llama_cpp.llama_token * max(1, len(ids)))(*ids)
        size = 64 + 16 * len(ids)
        while True:
            buf = ctypes.create_string_buffer(size)
            n = llama_cpp.llama_detokenize(self.vocab, arr, len(ids), buf, size, False, special)
            if n >= 0:
                return buf.raw[:n]
            size = -n + 1

    def apply_template(self, template, messages):
        """llama.cpp's `llama_chat_apply_template`, add_ass=True."""
        keep = [(m["role"].encode(), m["content"].encode()) for m in messages]
        chat = (llama_cpp.llama_chat_message * len(keep))(
            *[llama_cpp.llama_chat_message(role, content) for role, content in keep]
        )
        size = 1024
        while True:
            buf = ctypes.create_string_buffer(size)
            n = llama_cpp.llama_chat_apply_template(template, chat, len(keep), True, buf, size)
            if n < 0:
                raise RuntimeError(f"llama_chat_apply_template failed ({n})")
            if n < size:
                return buf.raw[:n].decode("utf-8")
            size = n + 1

    def logits_last(self):
        return np.array(self.llm.scores[self.llm.n_tokens - 1], dtype=np.float32)

    def greedy(self, prompt_ids, n_predict):
        """Greedy decoding by hand: eval the prompt, then argmax / eval one token
        at a time. Does not stop at end-of-generation tokens."""
        self.llm.reset()
        self.llm.eval(prompt_ids)
        tokens, margins, top10 = [], [], []
        for step in range(n_predict):
            logits = self.logits_last()
            order = np.argsort(-logits, kind="stable")
            tok = int(order[0])
            assert tok == int(np.argmax(logits))
            margins.append(r(logits[order[0]] - logits[order[1]]))
            if step < TOP_K_POSITIONS:
                top10.append([[int(i), r(logits[i])] for i in order[:10]])
                assert top10[-1][0][0] == tok
            tokens.append(tok)
            self.llm.eval([tok])
        return tokens, margins, top10


def generation(m, prompt, is_chat, messages, n_predict, add_bos):
    """One greedy generation from `prompt`, as the fixtures record it."""
    prompt_ids = m.tokenize(prompt, add_bos=add_bos, special=True)
    tokens, margins, top10 = m.greedy(prompt_ids, n_predict)
    eog = [i for i, t in enumerate(tokens) if llama_cpp.llama_vocab_is_eog(m.vocab, t)]
    return {
        "prompt": prompt,
        "chat": is_chat,
        "messages": messages,
        "prompt_ids": prompt_ids,
        "n_predict": n_predict,
        "tokens": tokens,
        "text": m.detokenize(tokens).decode("utf-8", errors="replace"),
        "text_special": m.detokenize(tokens, special=True).decode("utf-8", errors="replace"),
        "first_eog": eog[0] if eog else None,
        "margins": margins,
        "min_margin": min(margins),
        "min_margin_16": min(margins[:16]),
        "top10": top10,
    }


def builtin_templates():
    n = llama_cpp.llama_chat_builtin_templates(None, 0)
    names = (ctypes.c_char_p * n)()
    llama_cpp.llama_chat_builtin_templates(names, n)
    return [name.decode() for name in names]


def main(model_path, out_path):
    model_path = Path(model_path)
    m = Model(model_path)
    llm = m.llm
    add_bos = bool(llama_cpp.llama_vocab_get_add_bos(m.vocab))
    metadata = llm.metadata

    n_predict = next(
        (n for prefix, n in N_PREDICT.items() if model_path.name.startswith(prefix)),
        N_PREDICT_DEFAULT,
    )
    eos = llm.token_eos()
    meta = {
        "model_file": model_path.name,
        "model_sha256": sha256(model_path),
        "llama_cpp_python": llama_cpp.__version__,
        "n_vocab": llm.n_vocab(),
        "add_bos": add_bos,
        "add_eos": bool(llama_cpp.llama_vocab_get_add_eos(m.vocab)),
        "bos_id": llm.token_bos(),
        "eos_id": eos,
        "eog_ids": [
            t for t in range(llm.n_vocab()) if llama_cpp.llama_vocab_is_eog(m.vocab, t)
        ],
        "gguf": {
            k: metadata[k]
            for k in sorted(metadata)
            if k.startswith("tokenizer.ggml.") or k == "general.architecture"
        },
        "system_info": llama_cpp.llama_print_system_info().decode().strip(),
        "context": {"n_ctx": 512, "n_threads": 2, "n_batch": llm.n_batch, "logits_all": True},
        "decoding": (
            "greedy: eval(prompt_ids), then argmax of the last logits (lowest id on ties) "
            "and eval([token]), n_predict times; does not stop at end-of-generation tokens "
            "(first_eog gives the first one's index, or null)"
        ),
        "rounding": f"logits and margins rounded to {DECIMALS} decimals",
    }

    corpus = json.loads(CORPUS.read_text(encoding="utf-8"))
    tokenize = []
    for text in corpus:
        ids = m.tokenize(text, add_bos=False, special=True)
        ids_plain = m.tokenize(text, add_bos=False, special=False)
        detok = m.detokenize(ids_plain).decode("utf-8", errors="replace")
        wrapper = llm.detokenize(ids_plain).decode("utf-8", errors="replace")
        if wrapper != detok:
            print(f"note: Llama.detokenize differs from llama_detokenize for {text!r}", file=sys.stderr)
        tokenize.append({"text": text, "ids": ids, "ids_plain": ids_plain, "detok": detok})

    # Chat template: the model's own (from the GGUF), else llama.cpp's builtin gemma.
    template = llama_cpp.llama_model_chat_template(m.model, None)
    if template is not None:
        source = "gguf:tokenizer.chat_template"
    else:
        template, source = b"gemma", "builtin:gemma"
    builtins = builtin_templates()

    def render(messages):
        return m.apply_template(template, messages)

    # Which builtin formatter llama.cpp picked for this template (same output).
    matches = [
        name
        for name in builtins
        if all(m.apply_template(name.encode(), c) == render(c) for c in CONVERSATIONS)
    ]
    chat = {
        "template_source": source,
        "template": template.decode("utf-8"),
        "builtin_equivalent": matches,
        "add_ass": True,
        "prompt_jinja_note": (
            "for comparison only: the GGUF template run as Jinja (HF-style, by "
            "llama-cpp-python's Jinja2ChatFormatter), which llama_chat_apply_template "
            "does not do; null without a GGUF template"
        ),
        "conversations": [],
    }
    jinja = None
    if source.startswith("gguf:"):
        jinja = Jinja2ChatFormatter(
            template.decode("utf-8"),
            eos_token=m.llm._model.token_get_text(eos),
            bos_token=m.llm._model.token_get_text(llm.token_bos()),
        )
    for messages in CONVERSATIONS:
        prompt = render(messages)
        chat["conversations"].append(
            {
                "messages": messages,
                "prompt": prompt,
                "prompt_ids": m.tokenize(prompt, add_bos=add_bos, special=True),
                "prompt_jinja": jinja(messages=messages).prompt if jinja else None,
            }
        )

    jobs = [(p, False, None) for p in PLAIN_PROMPTS]
    jobs += [(render(c), True, c) for c in CONVERSATIONS + EXTRA_CHATS]
    generations = []
    for prompt, is_chat, messages in jobs:
        gen = generation(m, prompt, is_chat, messages, n_predict, add_bos)
        generations.append(gen)
        print(
            f"{'chat ' if is_chat else 'plain'} min16={gen['min_margin_16']:7.4f} "
            f"min={gen['min_margin']:7.4f} {prompt[-40:]!r} -> {gen['text_special'][:60]!r}",
            file=sys.stderr,
        )

    fixture = {"meta": meta, "tokenize": tokenize, "chat": chat, "generations": generations}
    Path(out_path).parent.mkdir(parents=True, exist_ok=True)
    Path(out_path).write_text(dumps(fixture) + "\n", encoding="utf-8")



if __name__ == "__main__":
    if len(sys.argv) == 4:
        # Only the first N plain prompts, no chats: for models whose every
        # generation takes minutes here (Qwen2.5-Coder-1.5B).
        PLAIN_PROMPTS = PLAIN_PROMPTS[: int(sys.argv[3])]
        CONVERSATIONS, EXTRA_CHATS = [], []
    elif len(sys.argv) != 3:
        sys.exit(__doc__)
    main(sys.argv[1], sys.argv[2])
