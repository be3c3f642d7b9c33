//! Strict parsing of `application/x-www-form-urlencoded` bodies and of percent-encoded text.
//!
//! Owns: splitting a body into name/value pairs, `+` and `%XX` decoding, and refusing what a
//! lenient parser would guess at (a `%` not followed by two hex digits, bytes that are not
//! UTF-8 after decoding, a parameter given twice). OAuth endpoints answer such input with
//! `invalid_request` (RFC 6749 §3.1: "Request and response parameters MUST NOT be included more
//! than once"). Does not own: which parameters an endpoint wants (the handlers do).

use std::fmt;

/// A parsed form: name/value pairs in body order, each name at most once. Every decoded name
/// and value is kept in one buffer (two allocations per form, and a passing one for each
/// component with a `%` or `+`, instead of two per parameter: this is on every token
/// request's path).
#[derive(Default)]
pub struct Form {
    /// The decoded names and values, one after another.
    text: String,
    /// Each pair as the offsets in `text` of its name's start, its value's start and its
    /// value's end (the name ends where the value starts).
    pairs: Vec<[usize; 3]>,
}

impl Drop for Form {
    fn drop(&mut self) {
        // Values may be secrets (`client_secret`, `client_assertion`).
        zeroize::Zeroize::zeroize(&mut self.text);
    }
}

impl fmt::Debug for Form {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.names()).finish()
    }
}

/// Why a form body was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FormError {
    /// A `%` not followed by two hexadecimal digits.
    #[error("malformed percent-encoding")]
    BadPercentEncoding,
    /// The decoded bytes are not UTF-8.
    #[error("parameters are not valid UTF-8")]
    NotUtf8,
    /// The named parameter appears more than once.
    #[error("parameter {0:?} is repeated")]
    Repeated(String),
}

/// The longest parameter name echoed back in an error message.
const MAX_ECHOED_NAME: usize = 40;

impl Form {
    /// Parses a form body (also usable for a URL query string); no name may repeat.
    pub fn parse(input: &[u8]) -> Result<Form, FormError> {
        Form::parse_repeatable(input, &[])
    }

    /// Parses a form body in which the names in `repeatable` may appear more than once (RFC
    /// 8707's `resource`, say); every other name at most once.
    pub fn parse_repeatable(input: &[u8], repeatable: &[&str]) -> Result<Form, FormError> {
        // Built first, so that a body refused half-way is still wiped (its `Drop`): what was
        // decoded before the fault may be a secret.
        let mut form = Form {
            text: String::with_capacity(input.len()),
            pairs: Vec::with_capacity(input.iter().filter(|&&b| b == b'&').count() + 1),
        };
        for part in input.split(|&b| b == b'&') {
            if part.is_empty() {
                continue;
            }
            let (name, value) = match part.iter().position(|&b| b == b'=') {
                Some(eq) => (&part[..eq], &part[eq + 1..]),
                None => (part, &b""[..]),
            };
            let start = form.text.len();
            decode_onto(name, &mut form.text)?;
            let middle = form.text.len();
            decode_onto(value, &mut form.text)?;
            form.pairs.push([start, middle, form.text.len()]);
        }
        if let Some(name) = first_repeated_name(&form, repeatable) {
            let shown: String = name.chars().take(MAX_ECHOED_NAME).collect();
            return Err(FormError::Repeated(shown));
        }
        Ok(form)
    }

    // Each component was pushed as a whole `str`, so every offset is a character boundary
    // and these slices never come back empty for want of one.
    fn name_of(&self, &[start, middle, _]: &[usize; 3]) -> &str {
        self.text.get(start..middle).unwrap_or_default()
    }

    fn value_of(&self, &[_, middle, end]: &[usize; 3]) -> &str {
        self.text.get(middle..end).unwrap_or_default()
    }

    /// The pairs whose name is `name`, compared as bytes (no slicing of the names).
    fn named<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a [usize; 3]> + 'a {
        let bytes = self.text.as_bytes();
        self.pairs
            .iter()
            .filter(move |&&[start, middle, _]| bytes.get(start..middle) == Some(name.as_bytes()))
    }

    fn names(&self) -> impl Iterator<Item = &str> + '_ {
        self.pairs.iter().map(|pair| self.name_of(pair))
    }

    /// The value of `name`, treating an empty value as absent (RFC 6749 §3.2: "Parameters
    /// sent without a value MUST be treated as if they were omitted").
    pub fn get(&self, name: &str) -> Option<&str> {
        self.named(name)
            .next()
            .map(|pair| self.value_of(pair))
            .filter(|v| !v.is_empty())
    }

    /// Every non-empty value of `name`, in body order (for a name parsed as repeatable).
    pub fn get_all<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.named(name)
            .map(|pair| self.value_of(pair))
            .filter(|v| !v.is_empty())
    }

    /// Whether `name` appears at all, even with an empty value.
    pub fn contains(&self, name: &str) -> bool {
        self.named(name).next().is_some()
    }
}

/// A name that appears more than once, other than the `repeatable` ones. OAuth requests carry
/// a handful of parameters, which a linear scan checks fastest; a body of thousands of names is
/// sorted instead, so a hostile body costs O(n log n), not O(n²).
fn first_repeated_name<'a>(form: &'a Form, repeatable: &[&str]) -> Option<&'a str> {
    let once = |name: &&str| !repeatable.contains(name);
    if form.pairs.len() <= 16 {
        return form.names().enumerate().find_map(|(i, name)| {
            (once(&name) && form.names().take(i).any(|earlier| earlier == name)).then_some(name)
        });
    }
    let mut names: Vec<&str> = form.names().filter(once).collect();
    names.sort_unstable();
    names.windows(2).find(|w| w[0] == w[1]).map(|w| w[0])
}

/// Decodes one form component: `+` is a space, `%XX` a byte; the result must be UTF-8.
/// RFC 6749 §2.3.1 has Basic credentials encoded "using the application/x-www-form-urlencoded
/// encoding algorithm", so they decode with this too.
pub fn decode_form_component(input: &[u8]) -> Result<String, FormError> {
    let mut out = String::with_capacity(input.len());
    decode_onto(input, &mut out)?;
    Ok(out)
}

/// Appends `input`, decoded, to `out`.
fn decode_onto(input: &[u8], out: &mut String) -> Result<(), FormError> {
    if !input.iter().any(|&b| b == b'%' || b == b'+') {
        out.push_str(std::str::from_utf8(input).map_err(|_| FormError::NotUtf8)?);
        return Ok(());
    }
    let mut decoded = Vec::with_capacity(input.len());
    let mut i = 0;
    while i < input.len() {
        match input[i] {
            b'%' => {
                let hi = input.get(i + 1).and_then(|&b| hex_value(b));
                let lo = input.get(i + 2).and_then(|&b| hex_value(b));
                match (hi, lo) {
                    (Some(hi), Some(lo)) => decoded.push(hi << 4 | lo),
                    _ => {
                        zeroize::Zeroize::zeroize(&mut decoded);
                        return Err(FormError::BadPercentEncoding);
                    }
                }
                i += 3;
            }
            b'+' => {
                decoded.push(b' ');
                i += 1;
            }
            byte => {
                decoded.push(byte);
                i += 1;
            }
        }
    }
    let text = std::str::from_utf8(&decoded).map_err(|_| FormError::NotUtf8);
    let pushed = text.map(|text| out.push_str(text));
    // The decoded bytes may be a secret's.
    zeroize::Zeroize::zeroize(&mut decoded);
    pushed
}

fn hex_value(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

/// Encodes text as a form component: unreserved characters stay, everything else is `%XX`.
pub fn encode_form_component(input: &str) -> String {
    let mut out = String::with_capacity(input.len());
    for &b in input.as_bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(b as char);
        } else {
            out.push('%');
            out.push(char::from(b"0123456789ABCDEF"[usize::from(b >> 4)]));
            out.push(char::from(b"0123456789ABCDEF"[usize::from(b & 15)]));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_pairs_and_decodes_plus_and_percent() {
        let form = Form::parse(b"grant_type=client_credentials&scope=read+write&x=%2F%41").unwrap();
        assert_eq!(form.get("grant_type"), Some("client_credentials"));
        assert_eq!(form.get("scope"), Some("read write"));
        assert_eq!(form.get("x"), Some("/A"));
        assert_eq!(form.get("missing"), None);
    }

    #[test]
    fn empty_values_count_as_omitted_but_are_seen() {
        let form = Form::parse(b"scope=&flag").unwrap();
        assert_eq!(form.get("scope"), None);
        assert!(form.contains("scope"));
        assert!(form.contains("flag"));
    }

    #[test]
    fn repeated_parameters_are_refused() {
        assert_eq!(
            Form::parse(b"scope=a&scope=b").unwrap_err(),
            FormError::Repeated("scope".into())
        );
        assert_eq!(
            Form::parse(b"scope=&scope=").unwrap_err(),
            FormError::Repeated("scope".into())
        );
    }

    #[test]
    fn names_parsed_as_repeatable_may_repeat_and_no_others() {
        let form =
            Form::parse_repeatable(b"resource=a&resource=&resource=b&x=1", &["resource"]).unwrap();
        assert_eq!(form.get_all("resource").collect::<Vec<_>>(), ["a", "b"]);
        assert_eq!(
            Form::parse_repeatable(b"resource=a&x=1&x=2", &["resource"]).unwrap_err(),
            FormError::Repeated("x".into())
        );
        let many: Vec<String> = (0..40).map(|i| format!("resource=r{i}")).collect();
        let form = Form::parse_repeatable(many.join("&").as_bytes(), &["resource"]).unwrap();
        assert_eq!(form.get_all("resource").count(), 40);
    }

    #[test]
    fn repeats_are_found_among_many_parameters() {
        let mut body: Vec<String> = (0..5000).map(|i| format!("p{i}=x")).collect();
        assert!(Form::parse(body.join("&").as_bytes()).is_ok());
        body.push("p4321=y".into());
        assert_eq!(
            Form::parse(body.join("&").as_bytes()).unwrap_err(),
            FormError::Repeated("p4321".into())
        );
    }

    #[test]
    fn malformed_escapes_and_bad_utf8_are_refused() {
        for bad in [&b"a=%"[..], b"a=%4", b"a=%zz", b"a=%4g", b"%=x"] {
            assert_eq!(
                Form::parse(bad).unwrap_err(),
                FormError::BadPercentEncoding,
                "{bad:?}"
            );
        }
        assert_eq!(Form::parse(b"a=%ff").unwrap_err(), FormError::NotUtf8);
        assert_eq!(Form::parse(b"a=\xff").unwrap_err(), FormError::NotUtf8);
    }

    #[test]
    fn debug_shows_names_not_values() {
        let form = Form::parse(b"client_secret=hunter2").unwrap();
        let shown = format!("{form:?}");
        assert!(shown.contains("client_secret"));
        assert!(!shown.contains("hunter2"));
    }

    #[test]
    fn encoding_round_trips() {
        for text in ["plain", "a b+c/d%e:f", "ünï", ""] {
            let encoded = encode_form_component(text);
            assert_eq!(decode_form_component(encoded.as_bytes()).unwrap(), text);
        }
    }
}
