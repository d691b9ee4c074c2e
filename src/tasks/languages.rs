//! English names of languages for prompts: small models follow "into German"
//! far better than "into the language with code de".

/// `(code, English name)` for the languages a translation is most often
/// asked for; other codes are named by their code.
const NAMES: &[(&str, &str)] = &[
    ("ar", "Arabic"),
    ("bg", "Bulgarian"),
    ("bn", "Bengali"),
    ("ca", "Catalan"),
    ("cs", "Czech"),
    ("da", "Danish"),
    ("de", "German"),
    ("el", "Greek"),
    ("en", "English"),
    ("es", "Spanish"),
    ("et", "Estonian"),
    ("fa", "Persian"),
    ("fi", "Finnish"),
    ("fr", "French"),
    ("he", "Hebrew"),
    ("hi", "Hindi"),
    ("hr", "Croatian"),
    ("hu", "Hungarian"),
    ("id", "Indonesian"),
    ("it", "Italian"),
    ("ja", "Japanese"),
    ("ko", "Korean"),
    ("lt", "Lithuanian"),
    ("lv", "Latvian"),
    ("ms", "Malay"),
    ("nl", "Dutch"),
    ("no", "Norwegian"),
    ("pl", "Polish"),
    ("pt", "Portuguese"),
    ("ro", "Romanian"),
    ("ru", "Russian"),
    ("sk", "Slovak"),
    ("sl", "Slovenian"),
    ("sr", "Serbian"),
    ("sv", "Swedish"),
    ("sw", "Swahili"),
    ("ta", "Tamil"),
    ("th", "Thai"),
    ("tr", "Turkish"),
    ("uk", "Ukrainian"),
    ("ur", "Urdu"),
    ("vi", "Vietnamese"),
    ("zh", "Chinese"),
];

/// The primary subtag of a BCP 47 code, lower-cased (`pt-BR` → `pt`).
pub fn primary_subtag(code: &str) -> String {
    code.split(['-', '_'])
        .next()
        .unwrap_or_default()
        .to_ascii_lowercase()
}

/// The English name of `code` (`de` → `German`, `pt-BR` → `Portuguese
/// (pt-BR)`), or the code itself when it is not in the table.
pub fn english_name(code: &str) -> String {
    let primary = primary_subtag(code);
    match NAMES.binary_search_by(|(c, _)| (*c).cmp(primary.as_str())) {
        Ok(at) if primary == code => NAMES[at].1.to_string(),
        Ok(at) => format!("{} ({code})", NAMES[at].1),
        Err(_) => format!("the language with code {code}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_is_sorted_for_binary_search() {
        assert!(NAMES.windows(2).all(|w| w[0].0 < w[1].0));
    }

    #[test]
    fn names() {
        assert_eq!(english_name("de"), "German");
        assert_eq!(english_name("pt-BR"), "Portuguese (pt-BR)");
        assert_eq!(english_name("yue"), "the language with code yue");
        assert_eq!(primary_subtag("zh-Hant"), "zh");
    }
}
