#!/usr/bin/env python3
"""A wider sample of llama.cpp's greedy generations for one model.

    ~/.cache/locus/venv-llama/bin/python scripts/make_wide_fixture.py MODEL.gguf OUT.json

The fixtures of `make_fixtures.py` hold 10 generations: about 150 positions
where llama.cpp's top-1 beats its top-2 by ≥ 0.1 on a 16-token model. The
`fast` GPU path's bar is a share of those positions (≥ 99 % equal top-1),
and at 150 positions a share is known to ± 1 position (0.7 %): one flip more
or less decides it. This file adds WIDE_PROMPTS (plain text in several
languages and registers, code, and chats through llama.cpp's own template
formatter) with the same generation records and the same greedy decoding,
so the share can be measured on about four times the positions. Only `meta`
and `generations` are written (no tokenization or chat sections).
"""

import sys
from pathlib import Path

import llama_cpp

from fixture_json import dumps
from make_fixtures import N_PREDICT, N_PREDICT_DEFAULT, Model, generation, sha256

# Openings a user's page or chat might start a generation from: prose,
# lists, code, dialogue and non-English text. Fixed, so the file is
# reproducible; none repeats a prompt of make_fixtures.py.
WIDE_PROMPTS = [
    "The history of the printing press begins in",
    "Photosynthesis is the process by which",
    "To make a good cup of tea, first",
    "The three primary colours are",
    "In 1969, the first humans to walk on the Moon were",
    "Water boils at 100 degrees Celsius because",
    "Here is a short poem about the sea:\n",
    "Dear Sir or Madam,\n\nI am writing to",
    "The main causes of the First World War were",
    "A recipe for pancakes needs flour, eggs,",
    "Step 1: Open the terminal.\nStep 2:",
    "The largest planet in the Solar System is",
    "import numpy as np\n\ndef mean(values):\n",
    "SELECT name, age FROM users WHERE",
    "<html>\n<head>\n<title>",
    "Monday, Tuesday, Wednesday,",
    "The quick brown fox jumps over the",
    "Le petit prince habitait sur une planète",
    "Der Hund läuft schnell über die",
    "El sol sale por el este y",
    "In summary, the article argues that",
    "Q: What is the boiling point of water?\nA:",
    "The best way to learn a new language is",
    "Once the meeting ended, she walked to the",
    "Machine learning models are trained by",
]
WIDE_CHATS = [
    [{"role": "user", "content": "Summarise in one sentence: The city council voted on Tuesday to extend the bike lane network by 40 kilometres over the next five years."}],
    [{"role": "user", "content": "Translate to French: Where is the train station?"}],
    [{"role": "user", "content": "Give me three tips for sleeping better."}],
    [{"role": "user", "content": "What is 12 times 12?"}],
    [{"role": "user", "content": "Write a haiku about autumn leaves."}],
]


def main(model_path, out_path):
    model_path = Path(model_path)
    m = Model(model_path)
    llm = m.llm
    add_bos = bool(llama_cpp.llama_vocab_get_add_bos(m.vocab))
    n_predict = next(
        (n for prefix, n in N_PREDICT.items() if model_path.name.startswith(prefix)),
        N_PREDICT_DEFAULT,
    )
    template = llama_cpp.llama_model_chat_template(m.model, None) or b"gemma"
    meta = {
        "model_file": model_path.name,
        "model_sha256": sha256(model_path),
        "llama_cpp_python": llama_cpp.__version__,
        "system_info": llama_cpp.llama_print_system_info().decode().strip(),
        "context": {"n_ctx": 512, "n_threads": 2, "logits_all": True},
        "decoding": "as make_fixtures.py: greedy, lowest id on ties, not stopped at end-of-generation tokens",
        "about": "WIDE_PROMPTS and WIDE_CHATS of scripts/make_wide_fixture.py",
    }
    jobs = [(p, False, None) for p in WIDE_PROMPTS]
    jobs += [(m.apply_template(template, c), True, c) for c in WIDE_CHATS]
    generations = []
    for prompt, is_chat, messages in jobs:
        generations.append(generation(m, prompt, is_chat, messages, n_predict, add_bos))
        print(f"min={generations[-1]['min_margin']:7.4f} {prompt[-40:]!r}", file=sys.stderr)
    out = Path(out_path)
    out.write_text(dumps({"meta": meta, "generations": generations}) + "\n", encoding="utf-8")


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    main(sys.argv[1], sys.argv[2])
