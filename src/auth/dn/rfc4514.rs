//! The RFC 4514 string form of a distinguished name, read one RDN at a time, and the DER
//! encoding of the attribute types it names.
//!
//! Owns: the grammar (escapes `\,` and `\XX`, `#hex` values, `+` for multi-valued RDNs), the
//! whitespace tolerated around separators, attribute names and dotted OIDs. Does not own: the
//! order of RDNs or comparing values (the parent).

use super::x509::read_element;
use super::{ignores_case, Ava, AvaValue, BadDn, ATTRIBUTES};

/// The RFC 4514 grammar, one RDN at a time.
pub(super) struct Parser<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl<'a> Parser<'a> {
    pub(super) fn new(text: &'a str) -> Parser<'a> {
        Parser {
            bytes: text.as_bytes(),
            at: 0,
        }
    }

    pub(super) fn at_end(&self) -> bool {
        self.at == self.bytes.len()
    }

    fn peek(&self) -> Option<u8> {
        self.bytes.get(self.at).copied()
    }

    pub(super) fn eat(&mut self, byte: u8) -> bool {
        self.skip_spaces();
        if self.peek() == Some(byte) {
            self.at += 1;
            true
        } else {
            false
        }
    }

    fn skip_spaces(&mut self) {
        while self.peek() == Some(b' ') {
            self.at += 1;
        }
    }

    pub(super) fn rdn(&mut self) -> Result<Vec<Ava>, BadDn> {
        let mut avas = vec![self.ava()?];
        while self.eat(b'+') {
            avas.push(self.ava()?);
        }
        Ok(avas)
    }

    fn ava(&mut self) -> Result<Ava, BadDn> {
        self.skip_spaces();
        let start = self.at;
        while self
            .peek()
            .is_some_and(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.')
        {
            self.at += 1;
        }
        let name = std::str::from_utf8(&self.bytes[start..self.at]).map_err(|_| BadDn("type"))?;
        let oid = attribute_oid(name).ok_or(BadDn("an unknown attribute type"))?;
        if !self.eat(b'=') {
            return Err(BadDn("an attribute without ="));
        }
        self.skip_spaces();
        let value = if self.peek() == Some(b'#') {
            self.at += 1;
            AvaValue::Der(self.hex_value()?)
        } else {
            AvaValue::Text(self.string_value()?)
        };
        Ok(Ava {
            ignore_case: ignores_case(&oid),
            oid,
            value,
        })
    }

    fn hex_value(&mut self) -> Result<Vec<u8>, BadDn> {
        let mut bytes = Vec::new();
        while let Some(pair) = self.bytes.get(self.at..self.at + 2) {
            let Some(byte) = hex_pair(pair) else { break };
            bytes.push(byte);
            self.at += 2;
        }
        // The value must be one whole DER element.
        match read_element(&bytes) {
            Some((_, _, rest)) if rest.is_empty() && !bytes.is_empty() => Ok(bytes),
            _ => Err(BadDn("a #hex value that is not one DER element")),
        }
    }

    fn string_value(&mut self) -> Result<String, BadDn> {
        let mut bytes = Vec::new();
        // Length of `bytes` up to its last character that was escaped or not a space: an
        // unescaped trailing space is layout, an escaped one is data.
        let mut significant = 0;
        while let Some(byte) = self.peek() {
            match byte {
                b',' | b'+' | b';' => break,
                b'"' | b'<' | b'>' | 0 => return Err(BadDn("a character that must be escaped")),
                b'\\' => {
                    let next = self.bytes.get(self.at + 1).copied();
                    let escaped = match next {
                        Some(b) if br#"\"+,;<> #="#.contains(&b) => {
                            self.at += 2;
                            b
                        }
                        Some(_) => {
                            let pair = self.bytes.get(self.at + 1..self.at + 3);
                            let byte = pair.and_then(hex_pair).ok_or(BadDn("a bad escape"))?;
                            self.at += 3;
                            byte
                        }
                        None => return Err(BadDn("a bad escape")),
                    };
                    bytes.push(escaped);
                    significant = bytes.len();
                }
                _ => {
                    bytes.push(byte);
                    self.at += 1;
                    if byte != b' ' {
                        significant = bytes.len();
                    }
                }
            }
        }
        bytes.truncate(significant);
        if bytes.is_empty() {
            return Err(BadDn("an empty attribute value"));
        }
        String::from_utf8(bytes).map_err(|_| BadDn("a value that is not UTF-8"))
    }
}

fn hex_pair(pair: &[u8]) -> Option<u8> {
    let text = std::str::from_utf8(pair).ok()?;
    if text.len() != 2 || !text.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    u8::from_str_radix(text, 16).ok()
}

/// The OID of an attribute type: a name (case-insensitive) or a dotted number.
fn attribute_oid(name: &str) -> Option<Vec<u8>> {
    if name.starts_with(|c: char| c.is_ascii_digit()) {
        let dotted = name.strip_prefix("oid.").unwrap_or(name);
        return encode_oid(dotted);
    }
    let (_, dotted, _) = ATTRIBUTES
        .iter()
        .find(|(short, _, _)| short.eq_ignore_ascii_case(name))?;
    encode_oid(dotted)
}

/// The DER content octets of the OBJECT IDENTIFIER `dotted` (`2.5.4.3`).
pub(super) fn encode_oid(dotted: &str) -> Option<Vec<u8>> {
    let arcs: Vec<u64> = dotted
        .split('.')
        .map(|arc| {
            let canonical = !arc.is_empty() && (arc == "0" || !arc.starts_with('0'));
            canonical.then(|| arc.parse().ok()).flatten()
        })
        .collect::<Option<_>>()?;
    let (&first, &second) = (arcs.first()?, arcs.get(1)?);
    if first > 2 || (first < 2 && second >= 40) {
        return None;
    }
    let mut out = Vec::new();
    let head = first.checked_mul(40)?.checked_add(second)?;
    for arc in std::iter::once(head).chain(arcs[2..].iter().copied()) {
        let mut groups = vec![(arc & 0x7f) as u8];
        let mut rest = arc >> 7;
        while rest > 0 {
            groups.push((rest & 0x7f) as u8 | 0x80);
            rest >>= 7;
        }
        out.extend(groups.iter().rev());
    }
    Some(out)
}
