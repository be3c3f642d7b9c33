//! Audiences: the resources a token is meant for (RFC 8707 resource indicators, the JWT `aud`
//! claim of RFC 7519 §4.1.3, the `aud` member of RFC 7662 introspection answers).
//!
//! Owns: what a resource indicator may look like (an absolute URI without a fragment,
//! RFC 8707 §2), and the one wire spelling of an audience list: absent when empty, a string
//! when one, an array when several. Does not own: which audiences a client may ask for
//! (`auth`) or which one a resource server requires (`resource`).

use serde::ser::{Serialize, SerializeSeq, Serializer};

/// Longest resource indicator accepted: a URI of a service, never a document.
pub const MAX_RESOURCE_LEN: usize = 512;

/// Whether `text` is an absolute URI without a fragment (RFC 8707 §2, RFC 3986 §4.3):
/// `scheme ":" hier-part [ "?" query ]`, every character visible ASCII. Deliberately simple:
/// anything odd (spaces, controls, non-ASCII, `#`) is refused rather than normalised, since
/// audiences are compared byte for byte.
pub fn is_resource_indicator(text: &str) -> bool {
    let Some((scheme, rest)) = text.split_once(':') else {
        return false;
    };
    let scheme_ok = scheme
        .bytes()
        .next()
        .is_some_and(|b| b.is_ascii_alphabetic())
        && scheme
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'-' | b'.'));
    scheme_ok
        && !rest.is_empty()
        && text.len() <= MAX_RESOURCE_LEN
        && text.bytes().all(|b| b.is_ascii_graphic() && b != b'#')
}

/// An audience list as it goes on the wire. Serialises as a string for one audience and an
/// array for several; callers skip the member when [`Audience::is_empty`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Audience<'a>(pub &'a [Box<str>]);

impl Audience<'_> {
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Writes the list as member `name` of `object`, spelled as its `Serialize` spells it, and
    /// nothing when it is empty.
    pub fn write_to(&self, object: &mut crate::json::JsonObject, name: &'static str) {
        match self.0 {
            [] => {}
            [one] => {
                object.string(name, one);
            }
            many => {
                object.strings(name, many.iter().map(|a| &**a));
            }
        }
    }
}

impl Serialize for Audience<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self.0 {
            [one] => serializer.serialize_str(one),
            many => {
                let mut seq = serializer.serialize_seq(Some(many.len()))?;
                for audience in many {
                    seq.serialize_element(&**audience)?;
                }
                seq.end()
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resource_indicators_are_absolute_uris_without_fragments() {
        for good in [
            "https://api.example",
            "https://localhost:5004",
            "https://api.example/v1?x=1",
            "urn:example:resource",
        ] {
            assert!(is_resource_indicator(good), "{good}");
        }
        for bad in [
            "",
            "api.example",
            "/relative",
            "https://api.example/#frag",
            "https://api example",
            "1https://x",
            "https:",
            "https://ünï.example",
            &format!("https://{}", "a".repeat(MAX_RESOURCE_LEN)),
        ] {
            assert!(!is_resource_indicator(bad), "{bad}");
        }
    }

    #[test]
    fn one_audience_is_a_string_several_an_array() {
        let one: Vec<Box<str>> = vec!["https://a".into()];
        let two: Vec<Box<str>> = vec!["https://a".into(), "https://b".into()];
        assert_eq!(
            serde_json::to_string(&Audience(&one)).unwrap(),
            r#""https://a""#
        );
        assert_eq!(
            serde_json::to_string(&Audience(&two)).unwrap(),
            r#"["https://a","https://b"]"#
        );
    }
}
