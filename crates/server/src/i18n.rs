//! Console languages: zh-CN (default) and en.
//!
//! The language comes from `?lang=zh|en` (then remembered in a cookie), else the cookie,
//! else the browser's `Accept-Language`, else zh-CN. Every UI string comes from the
//! translation tables in `assets/i18n/`, which a test keeps key-for-key identical.

use std::collections::BTreeMap;

use axum::extract::FromRequestParts;
use axum::http::header;
use axum::http::request::Parts;

pub const COOKIE: &str = "zhiying_lang";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lang {
    Zh,
    En,
}

impl Lang {
    /// BCP 47 tag, used for `<html lang>` and the translation file name.
    pub fn tag(self) -> &'static str {
        match self {
            Lang::Zh => "zh-CN",
            Lang::En => "en",
        }
    }

    /// The short value of `?lang=` and the cookie.
    pub fn short(self) -> &'static str {
        match self {
            Lang::Zh => "zh",
            Lang::En => "en",
        }
    }

    pub fn parse(s: &str) -> Option<Lang> {
        let s = s.trim().to_ascii_lowercase();
        if s == "zh" || s.starts_with("zh-") || s.starts_with("zh_") {
            Some(Lang::Zh)
        } else if s == "en" || s.starts_with("en-") || s.starts_with("en_") {
            Some(Lang::En)
        } else {
            None
        }
    }

    /// Picks the best supported language from an `Accept-Language` header.
    pub fn from_accept_language(header: &str) -> Option<Lang> {
        let mut best: Option<(f32, Lang)> = None;
        for part in header.split(',') {
            let mut it = part.split(';');
            let Some(lang) = it.next().and_then(Lang::parse) else {
                continue;
            };
            let q = it
                .filter_map(|p| p.trim().strip_prefix("q="))
                .find_map(|q| q.trim().parse::<f32>().ok())
                .unwrap_or(1.0);
            if q > 0.0 && best.is_none_or(|(bq, _)| q > bq) {
                best = Some((q, lang));
            }
        }
        best.map(|(_, l)| l)
    }
}

/// Loads a translation table from the embedded assets.
pub fn table(lang: Lang) -> BTreeMap<String, String> {
    let path = format!("i18n/{}.json", lang.tag());
    crate::assets::text(&path)
        .and_then(|t| serde_json::from_str(&t).ok())
        .unwrap_or_else(|| {
            // The i18n tests parse both tables, so this only happens with a broken build.
            tracing::error!("translation table {path} is missing or not a JSON object of strings");
            BTreeMap::new()
        })
}

/// The request's language, and whether to remember it in the cookie.
#[derive(Debug, Clone)]
pub struct Locale {
    pub lang: Lang,
    /// Set when `?lang=` chose the language: the response sets the cookie.
    pub remember: bool,
    /// The request path with its query minus `lang`, for the language switch links.
    pub path: String,
    pub query_without_lang: String,
}

impl Locale {
    /// Link to the current page in another language.
    pub fn switch_href(&self, to: Lang) -> String {
        let sep = if self.query_without_lang.is_empty() {
            ""
        } else {
            "&"
        };
        format!(
            "{}?{}{sep}lang={}",
            self.path,
            self.query_without_lang,
            to.short()
        )
    }

    pub fn set_cookie(&self) -> Option<String> {
        self.remember.then(|| {
            format!(
                "{COOKIE}={}; Path=/; Max-Age=31536000; SameSite=Lax",
                self.lang.short()
            )
        })
    }
}

impl<S: Send + Sync> FromRequestParts<S> for Locale {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(Locale::from_headers(&parts.uri, &parts.headers))
    }
}

impl Locale {
    /// The language of a request, from its URI and headers (for middleware that has no
    /// extractor).
    pub fn from_headers(uri: &axum::http::Uri, headers: &axum::http::HeaderMap) -> Locale {
        let query = uri.query().unwrap_or("");
        let mut from_query = None;
        let mut rest = Vec::new();
        for pair in query.split('&').filter(|p| !p.is_empty()) {
            match pair.strip_prefix("lang=") {
                Some(v) => from_query = from_query.or(Lang::parse(v)),
                None => rest.push(pair),
            }
        }
        let from_cookie = || {
            headers
                .get_all(header::COOKIE)
                .iter()
                .filter_map(|v| v.to_str().ok())
                .flat_map(|v| v.split(';'))
                .find_map(|c| {
                    c.trim()
                        .strip_prefix(COOKIE)?
                        .strip_prefix('=')
                        .and_then(Lang::parse)
                })
        };
        let from_header = || {
            headers
                .get(header::ACCEPT_LANGUAGE)
                .and_then(|v| v.to_str().ok())
                .and_then(Lang::from_accept_language)
        };
        let lang = from_query
            .or_else(from_cookie)
            .or_else(from_header)
            .unwrap_or(Lang::Zh);
        Locale {
            lang,
            remember: from_query.is_some(),
            path: uri.path().to_string(),
            query_without_lang: rest.join("&"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_tables_have_the_same_keys_and_no_empty_strings() {
        let zh = table(Lang::Zh);
        let en = table(Lang::En);
        assert!(
            zh.len() > 40,
            "zh-CN table looks truncated: {} keys",
            zh.len()
        );
        let zh_keys: Vec<_> = zh.keys().collect();
        let en_keys: Vec<_> = en.keys().collect();
        let only_zh: Vec<_> = zh_keys
            .iter()
            .filter(|k| !en.contains_key(k.as_str()))
            .collect();
        let only_en: Vec<_> = en_keys
            .iter()
            .filter(|k| !zh.contains_key(k.as_str()))
            .collect();
        assert!(
            only_zh.is_empty() && only_en.is_empty(),
            "keys only in zh-CN: {only_zh:?}; only in en: {only_en:?}"
        );
        for (k, v) in zh.iter().chain(en.iter()) {
            assert!(!v.trim().is_empty(), "translation '{k}' is empty");
        }
    }

    #[test]
    fn accept_language_picks_the_best_supported() {
        assert_eq!(
            Lang::from_accept_language("en-US,en;q=0.9,zh-CN;q=0.8"),
            Some(Lang::En)
        );
        assert_eq!(
            Lang::from_accept_language("fr;q=1, zh-TW;q=0.5, en;q=0.4"),
            Some(Lang::Zh)
        );
        assert_eq!(Lang::from_accept_language("fr, de"), None);
        assert_eq!(
            Lang::from_accept_language("en;q=0, zh;q=0.1"),
            Some(Lang::Zh)
        );
    }
}
