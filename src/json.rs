//! A JSON object written straight into a buffer, for what the hot paths write (the token, an
//! introspection and client1's resource answers; a JWT's header and claims), where serde's
//! generic serializer, its map machinery and a regrowing buffer were a measurable share of the
//! request (docs/BENCHMARKS.md, issues 14 and 10).
//!
//! Owns: member names (static, plain ASCII), string escaping exactly as RFC 8259 §7 requires
//! and as `serde_json` does it (`"`, `\` and the control characters; everything else as UTF-8
//! itself), unsigned integers (or null), booleans, arrays of strings and nested objects. Does
//! not own: reading JSON (serde does) or any answer's members (the handlers do).

/// A JSON object under construction: members are written in call order.
pub struct JsonObject {
    out: Vec<u8>,
    empty: bool,
}

impl JsonObject {
    /// An empty object with room for `capacity` bytes before the buffer grows.
    pub fn with_capacity(capacity: usize) -> JsonObject {
        let mut out = Vec::with_capacity(capacity.max(2));
        out.push(b'{');
        JsonObject { out, empty: true }
    }

    fn name(&mut self, name: &'static str) {
        debug_assert!(name
            .bytes()
            .all(|b| b.is_ascii_graphic() && b != b'"' && b != b'\\'));
        if !self.empty {
            self.out.push(b',');
        }
        self.empty = false;
        self.out.push(b'"');
        self.out.extend_from_slice(name.as_bytes());
        self.out.extend_from_slice(b"\":");
    }

    /// `"name": "value"`.
    pub fn string(&mut self, name: &'static str, value: &str) -> &mut Self {
        self.name(name);
        write_string(&mut self.out, value);
        self
    }

    /// `"name": n`.
    pub fn number(&mut self, name: &'static str, value: u64) -> &mut Self {
        self.name(name);
        write_number(&mut self.out, value);
        self
    }

    /// `"name": n`, or `"name": null` without a value (as serde writes `None`).
    pub fn number_or_null(&mut self, name: &'static str, value: Option<u64>) -> &mut Self {
        match value {
            Some(n) => self.number(name, n),
            None => {
                self.name(name);
                self.out.extend_from_slice(b"null");
                self
            }
        }
    }

    /// `"name": true` or `false`.
    pub fn boolean(&mut self, name: &'static str, value: bool) -> &mut Self {
        self.name(name);
        let text: &[u8] = if value { b"true" } else { b"false" };
        self.out.extend_from_slice(text);
        self
    }

    /// `"name": ["a", "b"]`.
    pub fn strings<'s>(
        &mut self,
        name: &'static str,
        values: impl IntoIterator<Item = &'s str>,
    ) -> &mut Self {
        self.name(name);
        self.out.push(b'[');
        for (i, value) in values.into_iter().enumerate() {
            if i > 0 {
                self.out.push(b',');
            }
            write_string(&mut self.out, value);
        }
        self.out.push(b']');
        self
    }

    /// `"name": {...}`, the members written by `members`.
    pub fn object(
        &mut self,
        name: &'static str,
        members: impl FnOnce(&mut JsonObject),
    ) -> &mut Self {
        self.name(name);
        let mut inner = JsonObject {
            out: std::mem::take(&mut self.out),
            empty: true,
        };
        inner.out.push(b'{');
        members(&mut inner);
        inner.out.push(b'}');
        self.out = inner.out;
        self
    }

    /// The object's text.
    pub fn finish(mut self) -> Vec<u8> {
        self.out.push(b'}');
        self.out
    }
}

/// `value` as a JSON string, quotes included.
fn write_string(out: &mut Vec<u8>, value: &str) {
    out.push(b'"');
    let bytes = value.as_bytes();
    let mut plain_from = 0;
    for (i, &b) in bytes.iter().enumerate().skip(plain_words_len(bytes)) {
        let escape: &[u8] = match b {
            b'"' => b"\\\"",
            b'\\' => b"\\\\",
            b'\n' => b"\\n",
            b'\r' => b"\\r",
            b'\t' => b"\\t",
            0x08 => b"\\b",
            0x0c => b"\\f",
            0x00..=0x1f => b"",
            _ => continue,
        };
        out.extend_from_slice(&bytes[plain_from..i]);
        plain_from = i + 1;
        if escape.is_empty() {
            const HEX: &[u8; 16] = b"0123456789abcdef";
            out.extend_from_slice(b"\\u00");
            out.push(HEX[usize::from(b >> 4)]);
            out.push(HEX[usize::from(b & 15)]);
        } else {
            out.extend_from_slice(escape);
        }
    }
    out.extend_from_slice(&bytes[plain_from..]);
    out.push(b'"');
}

/// How many leading bytes of `value`, in whole eight-byte words, JSON carries as they are
/// (no `"`, `\` or control character): [`write_string`] copies them without looking at each.
/// A JWT or a URL is all such bytes, and matching them one by one was most of the cost of
/// writing a JWT's token answer (docs/BENCHMARKS.md, issue 10).
fn plain_words_len(value: &[u8]) -> usize {
    const ONES: u64 = u64::from_ne_bytes([1; 8]);
    const HIGH_BITS: u64 = ONES << 7;
    // The word-at-a-time tests of "Bit Twiddling Hacks": `has_zero_byte(w)` is non-zero
    // exactly when some byte of `w` is zero (a borrow can add marks above a true zero byte,
    // never make the only one), `has_byte_below_space` likewise for a byte below 0x20. A byte
    // equal to `"` or `\` is a zero byte of the word xor'ed with that byte repeated.
    let has_zero_byte = |word: u64| word.wrapping_sub(ONES) & !word & HIGH_BITS;
    let has_byte_below_space = |word: u64| word.wrapping_sub(ONES * 0x20) & !word & HIGH_BITS;
    let mut len = 0;
    for chunk in value.chunks_exact(8) {
        let mut word = [0u8; 8];
        word.copy_from_slice(chunk);
        let word = u64::from_ne_bytes(word);
        let special = has_byte_below_space(word)
            | has_zero_byte(word ^ (ONES * u64::from(b'"')))
            | has_zero_byte(word ^ (ONES * u64::from(b'\\')));
        if special != 0 {
            break;
        }
        len += 8;
    }
    len
}

fn write_number(out: &mut Vec<u8>, value: u64) {
    out.extend_from_slice(itoa::Buffer::new().format(value).as_bytes());
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn an_object_reads_back_as_written() {
        let mut object = JsonObject::with_capacity(8);
        object
            .boolean("active", true)
            .string("scope", "read write")
            .number("exp", 0)
            .number("iat", u64::MAX)
            .strings("aud", ["https://a", "https://b"])
            .object("cnf", |cnf| {
                cnf.string("x5t#S256", "abc");
            })
            .boolean("off", false);
        let text = String::from_utf8(object.finish()).unwrap();
        assert_eq!(
            text,
            r#"{"active":true,"scope":"read write","exp":0,"iat":18446744073709551615,"aud":["https://a","https://b"],"cnf":{"x5t#S256":"abc"},"off":false}"#
        );
        assert_eq!(
            String::from_utf8(JsonObject::with_capacity(0).finish()).unwrap(),
            "{}"
        );
    }

    #[test]
    fn whole_plain_words_are_counted_up_to_the_first_to_escape() {
        assert_eq!(plain_words_len(b"abcdefghijklmnopq"), 16);
        assert_eq!(plain_words_len(b"abcdefg\"ijklmnop"), 0);
        assert_eq!(plain_words_len(b"abcdefgh\x1fjklmnop"), 8);
        assert_eq!(plain_words_len(b"abcdefghijklmno\\"), 8);
        assert_eq!(plain_words_len(b"abcdefghijklmno\x00"), 8);
        // Bytes of 0x7f and above (DEL, UTF-8) are carried as they are.
        assert_eq!(plain_words_len("\u{e9}\u{7f}abcdef".as_bytes()), 8);
        assert_eq!(plain_words_len(b"short"), 0);
    }

    proptest! {
        // Byte for byte what serde_json writes, for any string and number.
        #[test]
        fn strings_and_numbers_are_written_as_serde_json_writes_them(value in any::<String>(), n in any::<u64>()) {
            let mut object = JsonObject::with_capacity(0);
            // serde_json's map is sorted by name: write the members in that order.
            object.strings("a", [value.as_str()]).number("n", n).string("s", &value);
            let ours = String::from_utf8(object.finish()).unwrap();
            let theirs = serde_json::json!({"a": [value], "n": n, "s": value});
            prop_assert_eq!(ours, serde_json::to_string(&theirs).unwrap());
        }

        // Mostly plain runs, so that whole words are skipped and an escape falls at every
        // place in a word and after it.
        #[test]
        fn plain_runs_with_escapes_between_are_written_as_serde_json_writes_them(
            value in "([a-zA-Z0-9._~-]{0,19}[\"\\\\\\x00-\\x1f\u{7f}-\u{10ffff}]?){0,6}"
        ) {
            let mut object = JsonObject::with_capacity(0);
            object.string("s", &value);
            let ours = String::from_utf8(object.finish()).unwrap();
            prop_assert_eq!(ours, serde_json::to_string(&serde_json::json!({"s": value})).unwrap());
        }

        #[test]
        fn control_characters_are_escaped(value in "[\\x00-\\x1f\"\\\\a-z\u{80}-\u{10ffff}]{0,40}") {
            let mut object = JsonObject::with_capacity(0);
            object.string("s", &value);
            let text = String::from_utf8(object.finish()).unwrap();
            let back: serde_json::Value = serde_json::from_str(&text).unwrap();
            prop_assert_eq!(back["s"].as_str(), Some(value.as_str()));
        }
    }
}
