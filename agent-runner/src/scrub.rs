//! Removing secrets from agent output before anything keeps it: Vault and
//! OpenBao tokens (with namespace suffixes), JWTs, and the values of keys that
//! hold secrets (`token`, `jwt`, `nonce`, ...) in HCL, JSON, escaped JSON and
//! plain text. This is a security job, kept apart from classifying errors
//! ([`crate::classify`]): every byte of output the runner keeps passes here.

/// Replacement for anything secret.
const REDACTED: &str = "[redacted]";

/// Characters of a base64url word.
fn is_b64url(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '-' || c == '_'
}

/// Characters of a word that may be a token, JWT or identifier.
fn is_word(c: char) -> bool {
    is_b64url(c) || c == '.'
}

/// Vault/OpenBao token prefixes, and whether the body may hold `-`/`_` (batch and
/// new-style tokens are base64url; legacy service tokens are base62).
const TOKEN_PREFIXES: [(&str, bool); 6] =
    [("hvs.", true), ("hvb.", true), ("hvr.", true), ("b.", true), ("s.", false), ("r.", false)];

fn looks_secret(word: &str) -> bool {
    // JWT (and JWE): a JSON header in base64url, then two or more dot-separated parts.
    if word.starts_with("eyJ") && word.matches('.').count() >= 2 && word.len() > 30 {
        return true;
    }
    // Tokens: prefix + 20 or more characters (+ an optional `.namespace-id`).
    TOKEN_PREFIXES.iter().any(|(prefix, b64)| {
        word.strip_prefix(prefix).is_some_and(|rest| {
            let body = rest.split('.').next().unwrap_or("");
            body.len() >= 20 && body.chars().all(|c| if *b64 { is_b64url(c) } else { c.is_ascii_alphanumeric() })
        })
    })
}

/// Keys whose values are secret: any `...nonce` (quoted or not), and these when quoted.
const SECRET_KEYS: [&str; 6] = ["token", "client_token", "jwt", "secret_id", "session_token", "secret_key"];

/// Replace token-like strings (Vault/OpenBao tokens, JWTs, and the values of
/// `nonce` and other secret keys) with `[redacted]`.
pub fn scrub(text: &str) -> String {
    redact_shapes(&redact_key_values(text))
}

/// `nonce = "..."`, `"nonce":"..."`, `nonce=...`, `\"nonce\":\"...\"` (JSON-escaped), and
/// quoted values of the other secret keys.
fn redact_key_values(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    while i < text.len() {
        let rest = &text[i..];
        let Some(start) = rest.find(is_b64url) else {
            out.push_str(rest);
            break;
        };
        out.push_str(&rest[..start]);
        let ident_and_after = &rest[start..];
        let len = ident_and_after.find(|c: char| !is_b64url(c)).unwrap_or(ident_and_after.len());
        let ident = &ident_and_after[..len];
        out.push_str(ident);
        i += start + len;
        let lower = ident.to_ascii_lowercase();
        let nonce = lower.ends_with("nonce");
        if !nonce && !SECRET_KEYS.contains(&lower.as_str()) {
            continue;
        }
        // Closing quote of the key, spaces, then `=` or `:`, spaces, an optional opening quote.
        let after = &text[i..];
        let key_end = skip_quote(after);
        let sep_part = after[key_end..].trim_start_matches([' ', '\t']);
        let Some(value_part) = sep_part.strip_prefix(['=', ':']) else { continue };
        let value_part = value_part.trim_start_matches([' ', '\t']);
        let value_start = after.len() - value_part.len();
        let (quote, body) = if let Some(b) = value_part.strip_prefix("\\\"") {
            (Some("\\\""), b)
        } else if let Some(b) = value_part.strip_prefix('"') {
            (Some("\""), b)
        } else if let Some(b) = value_part.strip_prefix('\'') {
            (Some("'"), b)
        } else {
            (None, value_part)
        };
        let body_len = match quote {
            Some(q) => body.find(q).unwrap_or(body.len()),
            None if nonce => body
                .find(|c: char| c.is_whitespace() || matches!(c, ',' | ';' | '}' | ']' | ')' | '&' | '"' | '\'' | '\\'))
                .unwrap_or(body.len()),
            None => 0,
        };
        if body_len == 0 {
            continue;
        }
        let prefix_len = value_start + quote.map_or(0, str::len);
        out.push_str(&after[..prefix_len]);
        out.push_str(REDACTED);
        i += prefix_len + body_len;
    }
    out
}

/// Length of a closing quote (`"`, `'` or `\"`) at the start of `s`.
fn skip_quote(s: &str) -> usize {
    if s.starts_with("\\\"") {
        2
    } else if s.starts_with(['"', '\'']) {
        1
    } else {
        0
    }
}

/// Token- and JWT-shaped words. A backslash escape (`\n` in JSON log lines) separates words.
fn redact_shapes(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.char_indices().peekable();
    let mut word_start: Option<usize> = None;
    let flush = |out: &mut String, start: &mut Option<usize>, end: usize| {
        if let Some(s) = start.take() {
            let word = &text[s..end];
            out.push_str(if looks_secret(word) { REDACTED } else { word });
        }
    };
    while let Some((i, c)) = chars.next() {
        if c == '\\' {
            flush(&mut out, &mut word_start, i);
            out.push(c);
            if let Some((_, escaped)) = chars.next() {
                out.push(escaped);
            }
        } else if is_word(c) {
            word_start.get_or_insert(i);
        } else {
            flush(&mut out, &mut word_start, i);
            out.push(c);
        }
    }
    flush(&mut out, &mut word_start, text.len());
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::classify::tests::{REAL_BAD_SIGNATURE, REAL_NO_JWT_FILE, REAL_WRONG_ROLE};

    #[test]
    fn legacy_and_new_tokens_with_namespace_suffixes_are_redacted() {
        for token in [
            "s.V4J1NWksr1BZOptdHASogtAv",
            "s.V4J1NWksr1BZOptdHASogtAv.Xy1z2",
            "hvs.CAESIJlU9JMYEhOPYv4igdhm9PnZDrabYTobQ4Ymnlq1qY-2GiEKHGh2cy5OVTc0VDZJYkl3T3o5cGl2N2p5aVRkdHkQ3w8",
            "b.AAAAAQIrV3ajr9eMHd4DjBMAmvx6VXyoG-GxOXrcejD07HrGMkbgAi4CWPIuANnS2_Bl7Xrrsc4zWmFxT3iI_JCAnrRJBQh",
            "hvb.AAAAAQJz0zBvWUNOIKTkDhY2Hsmk_4aZV4ixBNT3yAGKdO6ElYlzUKE",
            "r.AbCdEfGhIjKlMnOpQrStUvWx",
        ] {
            let s = scrub(&format!("token {token} here"));
            assert_eq!(s, "token [redacted] here", "{token}");
        }
    }

    #[test]
    fn a_token_after_a_json_escaped_newline_is_redacted() {
        let line = r#"{"error":"bad\ns.AbCdEfGhIjKlMnOpQrStUvWx\n"}"#;
        assert_eq!(scrub(line), r#"{"error":"bad\n[redacted]\n"}"#);
    }

    #[test]
    fn jwts_are_redacted() {
        let s = scrub("jwt eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ4In0.c2lnbmF0dXJlLXBhcnQ, done");
        assert_eq!(s, "jwt [redacted], done");
    }

    #[test]
    fn nonce_values_are_redacted_in_hcl_json_escaped_json_and_plain_forms() {
        for (text, want) in [
            ("nonce = \"5defbf9e-a8f9-3063\"", "nonce = \"[redacted]\""),
            ("{\"nonce\":\"abc+def/ghi==\"}", "{\"nonce\":\"[redacted]\"}"),
            (r#"{"error":"config nonce=\"x y\" bad"}"#, r#"{"error":"config nonce=\"[redacted]\" bad"}"#),
            ("client_nonce=abc/def+== next", "client_nonce=[redacted] next"),
            ("{\"client_token\":\"weird-token\"}", "{\"client_token\":\"[redacted]\"}"),
        ] {
            assert_eq!(scrub(text), want, "{text}");
        }
    }

    #[test]
    fn ordinary_agent_output_is_kept() {
        for text in [
            REAL_WRONG_ROLE,
            REAL_BAD_SIGNATURE,
            REAL_NO_JWT_FILE,
            "agent.auth.handler: error authenticating: role \"nope\" could not be found",
            "* error validating token: invalid audience (aud) claim",
            "* client nonce mismatch",
            "vault.example-company.internal s.short",
        ] {
            assert_eq!(scrub(text), text);
        }
    }
}
