//! The scope grammar (RFC 6749 §3.3): `scope = scope-token *( SP scope-token )`, each token
//! one or more NQCHAR (`%x21 / %x23-5B / %x5D-7E`).
//!
//! Owns: checking tokens and splitting scope strings: leniently for what people write (the
//! clients file, `--scope`), strictly for the token endpoint's `scope` parameter (the grammar
//! allows exactly one space between tokens and none at either end), and unchecked for what a
//! trusted peer said (introspection answers). Does not own: which scopes a client may have
//! (see `auth`).

/// Whether `token` is one scope token: one or more NQCHAR.
pub fn is_valid_scope_token(token: &str) -> bool {
    !token.is_empty()
        && token
            .bytes()
            .all(|b| matches!(b, 0x21 | 0x23..=0x5B | 0x5D..=0x7E))
}

/// Splits a space-separated scope string into tokens, checking each and dropping repeats.
/// Lenient about extra spaces: for configuration and files written by people.
pub fn parse_scope_list(text: &str) -> Result<Vec<String>, String> {
    let mut scopes: Vec<String> = Vec::new();
    for token in text.split(' ').filter(|t| !t.is_empty()) {
        if !is_valid_scope_token(token) {
            return Err(format!("{token:?} is not a valid scope (RFC 6749 §3.3)"));
        }
        if !scopes.iter().any(|s| s == token) {
            scopes.push(token.to_owned());
        }
    }
    Ok(scopes)
}

/// A `scope` parameter that is not `scope-token *( SP scope-token )`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the scope parameter is malformed (RFC 6749 §3.3)")]
pub struct MalformedScope;

/// Splits a `scope` request parameter by the grammar, strictly: one space between tokens, no
/// space at either end, every token NQCHAR. Repeats are dropped (a scope is a set). An empty
/// parameter is no parameter at all (RFC 6749 §3.2), which the caller sees before this.
pub fn parse_scope_parameter(text: &str) -> Result<Vec<&str>, MalformedScope> {
    let mut scopes: Vec<&str> = Vec::new();
    for token in text.split(' ') {
        if !is_valid_scope_token(token) {
            return Err(MalformedScope);
        }
        if !scopes.contains(&token) {
            scopes.push(token);
        }
    }
    Ok(scopes)
}

/// The tokens of a space-separated scope string, empty ones skipped, unchecked: for reading
/// what a trusted peer (the authorization server) said.
pub fn scope_tokens(text: &str) -> impl Iterator<Item = &str> {
    text.split(' ').filter(|t| !t.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scope_lists_drop_repeats_and_refuse_bad_characters() {
        assert_eq!(
            parse_scope_list("read  write read").unwrap(),
            vec!["read", "write"]
        );
        assert!(parse_scope_list("re\"ad").is_err());
        assert!(parse_scope_list("re\\ad").is_err());
        assert_eq!(parse_scope_list("").unwrap(), Vec::<String>::new());
    }

    #[test]
    fn scope_parameters_follow_the_grammar_exactly() {
        assert_eq!(parse_scope_parameter("read").unwrap(), ["read"]);
        assert_eq!(
            parse_scope_parameter("write read write").unwrap(),
            ["write", "read"]
        );
        for bad in [
            "read  write",
            " read",
            "read ",
            " ",
            "",
            "re\"ad",
            "read\twrite",
        ] {
            assert_eq!(parse_scope_parameter(bad), Err(MalformedScope), "{bad:?}");
        }
    }

    #[test]
    fn scope_tokens_are_nqchar() {
        for good in ["read", "a:b", "!#[]~"] {
            assert!(is_valid_scope_token(good), "{good}");
        }
        for bad in ["", "a b", "a\"b", "a\\b", "é", "a\tb"] {
            assert!(!is_valid_scope_token(bad), "{bad}");
        }
    }
}
