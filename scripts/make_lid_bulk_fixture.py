#!/usr/bin/env python3
"""A 1,000-line reference for the language identifier: lines in 60 languages
built from Unicode CLDR's localised names (territories, languages, months,
weekdays, as the `babel` package ships them), and the official fastText's
(`fasttext-predict`) top-1 label and probability on lid.176.ftz for each.

    ~/.cache/locus/venv-lid/bin/pip install babel==2.17.0
    ~/.cache/locus/venv-lid/bin/python scripts/make_lid_bulk_fixture.py \
        models/lid.176.ftz tests/fixtures/lid/lid176_bulk.json

The lines are not prose: what the test checks is that the Rust model answers
exactly as fastText does on many inputs in many scripts, whatever fastText
answers. See scripts/README.md.
"""

import hashlib
import json
import random
import sys
from importlib.metadata import version

import fasttext
from babel import Locale

LOCALES = [
    "af", "am", "ar", "az", "be", "bg", "bn", "bs", "ca", "cs", "cy", "da", "de", "el", "en",
    "es", "et", "eu", "fa", "fi", "fr", "ga", "gl", "gu", "he", "hi", "hr", "hu", "hy", "id",
    "is", "it", "ja", "ka", "kk", "km", "kn", "ko", "lo", "lt", "lv", "mk", "ml", "mn", "mr",
    "ms", "my", "ne", "nl", "no", "pa", "pl", "pt", "ro", "ru", "si", "sk", "sl", "sq", "sr",
    "sv", "sw", "ta", "te", "th", "tr", "uk", "ur", "uz", "vi", "zh",
]
LINES = 1000


def words(locale):
    """Localised names of one CLDR locale, as a pool of words and phrases."""
    pool = list(locale.territories.values()) + list(locale.languages.values())
    pool += list(locale.months["format"]["wide"].values()) + list(locale.days["format"]["wide"].values())
    return [w for w in pool if w and len(w) < 40]


def main(model_path, out_path):
    model = fasttext.load_model(model_path)
    rng = random.Random(176)
    pools = {code: words(Locale.parse(code)) for code in LOCALES}
    lines = []
    for i in range(LINES):
        code = LOCALES[i % len(LOCALES)]
        text = " ".join(rng.sample(pools[code], rng.randint(3, 9)))
        labels, probs = model.predict(text, k=1, threshold=0.0)
        lines.append({"locale": code, "text": text, "label": labels[0].removeprefix("__label__"), "prob": float(probs[0])})
    model_bytes = open(model_path, "rb").read()
    fixture = {
        "meta": {
            "model_sha256": hashlib.sha256(model_bytes).hexdigest(),
            "fasttext_predict": version("fasttext-predict"),
            "babel": version("babel"),
            "locales": len(LOCALES),
        },
        "lines": lines,
    }
    with open(out_path, "w", encoding="utf-8") as f:
        json.dump(fixture, f, ensure_ascii=False, indent=0)
    print(f"{len(lines)} lines in {len(LOCALES)} locales -> {out_path}")


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
