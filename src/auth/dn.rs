//! Subject distinguished names for `tls_client_auth` (RFC 8705 §2.1.2): the RFC 4514 string a
//! client is registered with, the subject of the certificate it presents (RFC 5280 §4.1.2.6),
//! and whether the two name the same subject.
//!
//! Owns: the comparison, here; parsing the string ([`SubjectDn::parse`], `rfc4514`), and reading
//! a certificate's subject out of its DER (`x509`: a small strict walk, only as far as the
//! subject). RFC 4514
//! writes the RDNs last-first, so `CN=m1,O=test` is the subject whose sequence is `O=test`
//! then `CN=m1`; another order, a missing or an extra RDN is another subject. The AVAs of a
//! multi-valued RDN (`CN=a+UID=b`) compare as a set. Values of the attributes X.520 (and
//! PKCS #9 for `emailAddress`) give a case-ignoring equality compare after RFC 4518-style
//! space handling (no leading or trailing spaces, inner runs as one) and case folding; every
//! other attribute compares exactly, and a `#hex` value compares byte for byte with the
//! certificate's encoding of it. Whitespace around `,`, `+` and `=` is tolerated in the
//! registered string (RFC 2253 readers did); an escaped space (`\ `) is kept.
//! Does not own: whether the certificate chains to the client CA (see
//! [`crate::http::ClientCa`]).

use std::fmt;

mod rfc4514;
#[cfg(test)]
mod tests;
mod x509;

use rfc4514::{encode_oid, Parser};
use x509::{subject_of, CertAva};

/// A registered subject: the string as written, and its RDNs in certificate order.
#[derive(Clone)]
pub struct SubjectDn {
    text: String,
    rdns: Vec<Vec<Ava>>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
struct Ava {
    /// The attribute type: the content octets of its DER OBJECT IDENTIFIER.
    oid: Vec<u8>,
    /// Whether the type's equality ignores case (see [`ATTRIBUTES`]).
    ignore_case: bool,
    value: AvaValue,
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum AvaValue {
    Text(String),
    /// A `#hex` value: the whole DER element (tag, length, content), compared as bytes.
    Der(Vec<u8>),
}

impl PartialEq for SubjectDn {
    fn eq(&self, other: &Self) -> bool {
        self.text == other.text
    }
}

impl Eq for SubjectDn {}

impl fmt::Debug for SubjectDn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("SubjectDn").field(&self.text).finish()
    }
}

/// Why a string is not an RFC 4514 distinguished name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("not an RFC 4514 distinguished name: {0}")]
pub struct BadDn(&'static str);

/// Longest registered DN accepted, in bytes.
const MAX_DN_LEN: usize = 4096;

/// Attribute names of RFC 4514 §3 and the others certificates commonly carry, with their
/// OIDs, and whether X.520 (PKCS #9) gives them a case-ignoring equality.
const ATTRIBUTES: &[(&str, &str, bool)] = &[
    ("CN", "2.5.4.3", true),
    ("L", "2.5.4.7", true),
    ("ST", "2.5.4.8", true),
    ("O", "2.5.4.10", true),
    ("OU", "2.5.4.11", true),
    ("C", "2.5.4.6", true),
    ("STREET", "2.5.4.9", true),
    ("DC", "0.9.2342.19200300.100.1.25", true),
    ("UID", "0.9.2342.19200300.100.1.1", true),
    ("serialNumber", "2.5.4.5", true),
    ("title", "2.5.4.12", true),
    ("SN", "2.5.4.4", true),
    ("GN", "2.5.4.42", true),
    ("initials", "2.5.4.43", true),
    ("generationQualifier", "2.5.4.44", true),
    ("dnQualifier", "2.5.4.46", true),
    ("pseudonym", "2.5.4.65", true),
    ("postalCode", "2.5.4.17", true),
    ("organizationIdentifier", "2.5.4.97", true),
    ("emailAddress", "1.2.840.113549.1.9.1", true),
    ("E", "1.2.840.113549.1.9.1", true),
];

impl SubjectDn {
    /// Parses an RFC 4514 string (see the module doc).
    pub fn parse(text: &str) -> Result<SubjectDn, BadDn> {
        if text.len() > MAX_DN_LEN {
            return Err(BadDn("longer than 4096 bytes"));
        }
        if text.trim().is_empty() {
            return Err(BadDn("empty"));
        }
        let mut parser = Parser::new(text);
        let mut rdns = vec![parser.rdn()?];
        while parser.eat(b',') || parser.eat(b';') {
            rdns.push(parser.rdn()?);
        }
        if !parser.at_end() {
            return Err(BadDn("unexpected character"));
        }
        // The string is most significant last; a certificate's sequence, first.
        rdns.reverse();
        Ok(SubjectDn {
            text: text.to_owned(),
            rdns,
        })
    }

    /// The string as registered.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// Whether the certificate `der` has this subject. A certificate that cannot be read has
    /// none.
    pub fn matches_certificate(&self, der: &[u8]) -> bool {
        subject_of(der).is_some_and(|subject| self.matches(&subject))
    }

    fn matches(&self, subject: &[Vec<CertAva<'_>>]) -> bool {
        self.rdns.len() == subject.len()
            && self
                .rdns
                .iter()
                .zip(subject)
                .all(|(wanted, found)| rdn_matches(wanted, found))
    }
}

fn rdn_matches(wanted: &[Ava], found: &[CertAva<'_>]) -> bool {
    if wanted.len() != found.len() {
        return false;
    }
    // Each equality is an equivalence, so taking the first unused match never blocks a
    // complete matching that exists.
    let mut used = vec![false; found.len()];
    wanted.iter().all(|ava| {
        let hit = found
            .iter()
            .enumerate()
            .find(|(i, cert)| !used[*i] && ava_matches(ava, cert));
        match hit {
            Some((i, _)) => {
                used[i] = true;
                true
            }
            None => false,
        }
    })
}

fn ava_matches(wanted: &Ava, found: &CertAva<'_>) -> bool {
    if wanted.oid != found.oid {
        return false;
    }
    match &wanted.value {
        AvaValue::Der(element) => element.as_slice() == found.element,
        AvaValue::Text(text) => match decode_string(found.tag, found.content) {
            None => false,
            Some(value) if wanted.ignore_case => fold(text) == fold(&value),
            Some(value) => *text == value,
        },
    }
}

/// Whether the attribute `oid` is one X.520 (PKCS #9) gives a case-ignoring equality, however
/// it was named.
fn ignores_case(oid: &[u8]) -> bool {
    ATTRIBUTES
        .iter()
        .any(|(_, dotted, ignore)| *ignore && encode_oid(dotted).as_deref() == Some(oid))
}

/// RFC 4518-style preparation for a case-ignoring match: no leading or trailing spaces, inner
/// runs of spaces as one, characters lower-cased.
fn fold(value: &str) -> String {
    value
        .split(' ')
        .filter(|word| !word.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
        .chars()
        .flat_map(char::to_lowercase)
        .collect()
}

/// The text of a DirectoryString-like value, by its tag; `None` for any other type or a
/// broken encoding.
fn decode_string(tag: u8, content: &[u8]) -> Option<String> {
    match tag {
        // UTF8String
        0x0c => String::from_utf8(content.to_vec()).ok(),
        // NumericString, PrintableString, TeletexString (ASCII only: when in doubt, exact),
        // IA5String, VisibleString
        0x12 | 0x13 | 0x14 | 0x16 | 0x1a => content
            .is_ascii()
            .then(|| String::from_utf8_lossy(content).into_owned()),
        // UniversalString: UTF-32BE
        0x1c if content.len().is_multiple_of(4) => content
            .chunks_exact(4)
            .map(|c| char::from_u32(u32::from_be_bytes([c[0], c[1], c[2], c[3]])))
            .collect(),
        // BMPString: UTF-16BE
        0x1e if content.len().is_multiple_of(2) => {
            let units: Vec<u16> = content
                .chunks_exact(2)
                .map(|c| u16::from_be_bytes([c[0], c[1]]))
                .collect();
            String::from_utf16(&units).ok()
        }
        _ => None,
    }
}
