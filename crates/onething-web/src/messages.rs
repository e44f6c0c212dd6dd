//! Every word the console shows, in Chinese and English, from one catalogue
//! (`messages.toml`, embedded): no Chinese is written in the Rust sources
//! (a test checks). Words of a bundle (titles, labels) come from its file.

use std::collections::BTreeMap;
use std::sync::OnceLock;

use onething_core::localized::Localized;
use serde::Deserialize;

/// The language a page is shown in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Lang {
    #[default]
    Zh,
    En,
}

#[derive(Debug, Deserialize)]
struct Entry {
    zh: String,
    en: String,
}

const CATALOGUE: &str = include_str!("../messages.toml");

fn catalogue() -> &'static BTreeMap<String, Entry> {
    static PARSED: OnceLock<BTreeMap<String, Entry>> = OnceLock::new();
    PARSED.get_or_init(|| {
        // Checked by a test: the embedded catalogue always parses.
        toml::from_str(CATALOGUE).unwrap_or_default()
    })
}

impl Lang {
    pub fn parse(code: &str) -> Option<Lang> {
        match code {
            "zh" | "zh-CN" | "zh-Hans" => Some(Lang::Zh),
            "en" => Some(Lang::En),
            _ => None,
        }
    }

    /// From an `Accept-Language` header: Chinese unless English comes first.
    pub fn from_accept(header: Option<&str>) -> Lang {
        let first = header
            .and_then(|value| value.split(',').next())
            .map(|tag| tag.trim().to_ascii_lowercase());
        match first {
            Some(tag) if tag.starts_with("en") => Lang::En,
            _ => Lang::Zh,
        }
    }

    pub fn code(self) -> &'static str {
        match self {
            Lang::Zh => "zh",
            Lang::En => "en",
        }
    }

    pub fn other(self) -> Lang {
        match self {
            Lang::Zh => Lang::En,
            Lang::En => Lang::Zh,
        }
    }

    /// The catalogue's words for `key`; the key itself when it is missing
    /// (a test checks that every key the sources use is there).
    pub fn t(self, key: &str) -> &'static str {
        match catalogue().get(key) {
            Some(entry) => match self {
                Lang::Zh => &entry.zh,
                Lang::En => &entry.en,
            },
            None => {
                tracing::warn!(key, "a console message missing from messages.toml");
                // Leaked once per missing key and call; the test keeps it from happening.
                Box::leak(key.to_string().into_boxed_str())
            }
        }
    }

    /// `t(key)` with `{name}` placeholders filled.
    pub fn f(self, key: &str, values: &[(&str, &str)]) -> String {
        let mut text = self.t(key).to_string();
        for (name, value) in values {
            text = text.replace(&format!("{{{name}}}"), value);
        }
        text
    }

    /// A bundle's own words in this language.
    pub fn pick(self, text: &Localized) -> String {
        match self {
            Lang::Zh => text.zh.clone(),
            Lang::En => text.en.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_catalogue_parses_and_every_entry_has_both_languages() {
        let parsed: BTreeMap<String, Entry> = toml::from_str(CATALOGUE).expect("messages.toml");
        assert!(parsed.len() > 50);
        for (key, entry) in &parsed {
            assert!(!entry.zh.trim().is_empty(), "{key}: no Chinese");
            assert!(!entry.en.trim().is_empty(), "{key}: no English");
        }
    }

    fn sources() -> Vec<(String, String)> {
        let folder = concat!(env!("CARGO_MANIFEST_DIR"), "/src");
        let mut files = Vec::new();
        let mut stack = vec![std::path::PathBuf::from(folder)];
        while let Some(path) = stack.pop() {
            for entry in std::fs::read_dir(&path).expect("src") {
                let entry = entry.expect("entry").path();
                if entry.is_dir() {
                    stack.push(entry);
                } else if entry.extension().is_some_and(|e| e == "rs") {
                    let text = std::fs::read_to_string(&entry).expect("source");
                    files.push((entry.display().to_string(), text));
                }
            }
        }
        files
    }

    #[test]
    fn every_key_the_sources_use_is_in_the_catalogue() {
        let mut missing = Vec::new();
        for (file, text) in sources() {
            for marker in [".t(\"", ".f(\""] {
                for (index, _) in text.match_indices(marker) {
                    let rest = &text[index + marker.len()..];
                    let key = &rest[..rest.find('"').unwrap_or(0)];
                    if !catalogue().contains_key(key) {
                        missing.push(format!("{file}: {key}"));
                    }
                }
            }
        }
        assert!(missing.is_empty(), "not in messages.toml: {missing:#?}");
    }

    #[test]
    fn no_chinese_is_written_in_the_sources() {
        let mut found = Vec::new();
        for (file, text) in sources() {
            for (number, line) in text.lines().enumerate() {
                // Comments may quote the law's words; strings may not.
                let code = line.split("//").next().unwrap_or_default();
                if code.chars().any(|c| ('\u{4e00}'..='\u{9fff}').contains(&c)) {
                    found.push(format!("{file}:{}", number + 1));
                }
            }
        }
        assert!(
            found.is_empty(),
            "Chinese in the sources, not the catalogue: {found:#?}"
        );
    }
}
