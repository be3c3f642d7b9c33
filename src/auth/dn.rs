//! Subject distinguished names for `tls_client_auth` (RFC 8705 §2.1.2): the RFC 4514 string a
//! client is registered with, the subject of the certificate it presents (RFC 5280 §4.1.2.6),
//! and whether the two name the same subject.
//!
//! Owns: parsing the string ([`SubjectDn::parse`]), reading a certificate's subject out of its
//! DER (a small strict DER walk: only as far as the subject), and the comparison. RFC 4514
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
        let mut parser = Parser {
            bytes: text.as_bytes(),
            at: 0,
        };
        let mut rdns = vec![parser.rdn()?];
        while parser.eat(b',') || parser.eat(b';') {
            rdns.push(parser.rdn()?);
        }
        if parser.at != parser.bytes.len() {
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

/// One AVA of a certificate's subject, as encoded there.
struct CertAva<'a> {
    oid: &'a [u8],
    /// The whole value element.
    element: &'a [u8],
    tag: u8,
    content: &'a [u8],
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

/// The RFC 4514 grammar, one RDN at a time.
struct Parser<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl Parser<'_> {
    fn peek(&self) -> Option<u8> {
        self.bytes.get(self.at).copied()
    }

    fn eat(&mut self, byte: u8) -> bool {
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

    fn rdn(&mut self) -> Result<Vec<Ava>, BadDn> {
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
fn encode_oid(dotted: &str) -> Option<Vec<u8>> {
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

/// One DER element at the start of `input`: its tag, its content and what follows it. Only
/// single-byte tags and definite lengths of at most four bytes, as certificates use.
fn read_element(input: &[u8]) -> Option<(u8, &[u8], &[u8])> {
    let (&tag, rest) = input.split_first()?;
    if tag & 0x1f == 0x1f {
        return None;
    }
    let (&first, rest) = rest.split_first()?;
    let (len, rest) = if first < 0x80 {
        (usize::from(first), rest)
    } else {
        let count = usize::from(first & 0x7f);
        if count == 0 || count > 4 || rest.len() < count {
            return None;
        }
        let len = rest[..count]
            .iter()
            .fold(0usize, |acc, &b| acc << 8 | usize::from(b));
        (len, &rest[count..])
    };
    if rest.len() < len {
        return None;
    }
    Some((tag, &rest[..len], &rest[len..]))
}

/// The subject of an X.509 certificate: its RDNs, each a set of AVAs.
fn subject_of(der: &[u8]) -> Option<Vec<Vec<CertAva<'_>>>> {
    const SEQUENCE: u8 = 0x30;
    let (SEQUENCE, certificate, _) = read_element(der)? else {
        return None;
    };
    let (SEQUENCE, tbs, _) = read_element(certificate)? else {
        return None;
    };
    let mut fields = tbs;
    // version [0] EXPLICIT, optional
    if fields.first() == Some(&0xa0) {
        fields = read_element(fields)?.2;
    }
    // serialNumber, signature, issuer, validity
    for expected in [0x02, SEQUENCE, SEQUENCE, SEQUENCE] {
        let (tag, _, rest) = read_element(fields)?;
        if tag != expected {
            return None;
        }
        fields = rest;
    }
    let (SEQUENCE, mut name, _) = read_element(fields)? else {
        return None;
    };
    let mut rdns = Vec::new();
    while !name.is_empty() {
        let (0x31, mut set, rest) = read_element(name)? else {
            return None;
        };
        name = rest;
        let mut avas = Vec::new();
        while !set.is_empty() {
            let (SEQUENCE, ava, rest) = read_element(set)? else {
                return None;
            };
            set = rest;
            let (0x06, oid, value) = read_element(ava)? else {
                return None;
            };
            let (tag, content, after) = read_element(value)?;
            if !after.is_empty() {
                return None;
            }
            avas.push(CertAva {
                oid,
                element: value,
                tag,
                content,
            });
        }
        if avas.is_empty() {
            return None;
        }
        rdns.push(avas);
    }
    Some(rdns)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cert_with(dn: rcgen::DistinguishedName) -> Vec<u8> {
        let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        params.distinguished_name = dn;
        let key = rcgen::KeyPair::generate().unwrap();
        params.self_signed(&key).unwrap().der().to_vec()
    }

    /// A certificate whose subject is, in sequence order, `rdns`.
    fn cert(rdns: &[(rcgen::DnType, &str)]) -> Vec<u8> {
        let mut dn = rcgen::DistinguishedName::new();
        for (ty, value) in rdns {
            dn.push(ty.clone(), *value);
        }
        cert_with(dn)
    }

    fn matches(dn: &str, der: &[u8]) -> bool {
        SubjectDn::parse(dn).unwrap().matches_certificate(der)
    }

    #[test]
    fn rfc_4514_writes_the_rdns_last_first() {
        use rcgen::DnType::{CommonName, OrganizationName};
        let der = cert(&[(OrganizationName, "test"), (CommonName, "m1")]);
        assert!(matches("CN=m1,O=test", &der));
        assert!(!matches("O=test,CN=m1", &der), "another order");
        assert!(!matches("CN=m1", &der), "a missing RDN");
        assert!(!matches("CN=m1,O=test,C=DE", &der), "an extra RDN");
        assert!(!matches("CN=m2,O=test", &der));
        assert!(!matches("CN=m1,OU=test", &der), "another attribute type");
    }

    #[test]
    fn case_ignoring_attributes_fold_case_and_spaces_and_others_are_exact() {
        use rcgen::DnType::{CommonName, CustomDnType, OrganizationName};
        let der = cert(&[(OrganizationName, "Test  Org"), (CommonName, "M1")]);
        assert!(matches("cn=m1, o= test org ", &der));
        assert!(matches("CN=M1,O=Test Org", &der));
        assert!(!matches("CN=M1,O=TestOrg", &der));
        let custom = CustomDnType(vec![1, 3, 6, 1, 4, 1, 99999, 1]);
        let der = cert(&[(custom, "Value")]);
        assert!(matches("1.3.6.1.4.1.99999.1=Value", &der));
        assert!(
            !matches("1.3.6.1.4.1.99999.1=value", &der),
            "unknown: exact"
        );
    }

    #[test]
    fn escapes_hex_values_and_multi_valued_rdns() {
        use rcgen::DnType::CommonName;
        let der = cert(&[(CommonName, "a,b+c \"d\"")]);
        assert!(matches(r#"CN=a\,b\+c \"d\""#, &der));
        assert!(matches(r"CN=a\2cb\2bc \22d\22", &der));
        // UTF8String "m1": 0c 02 6d 31
        let der = cert(&[(CommonName, "m1")]);
        assert!(matches("CN=#0c026d31", &der));
        assert!(
            !matches("CN=#13026d31", &der),
            "PrintableString is another encoding"
        );
        // rcgen writes one AVA per RDN; a multi-valued RDN needs a hand-made name.
        let cn_a = [0x30, 0x08, 0x06, 0x03, 0x55, 0x04, 0x03, 0x0c, 0x01, b'a'];
        let uid_b = [
            0x30, 0x0f, 0x06, 0x0a, 0x09, 0x92, 0x26, 0x89, 0x93, 0xf2, 0x2c, 0x64, 0x01, 0x01,
            0x0c, 0x01, b'b',
        ];
        let mut set = vec![0x31, (cn_a.len() + uid_b.len()) as u8];
        set.extend(cn_a);
        set.extend(uid_b);
        let rdns = vec![avas_of(&set)];
        let dn = |text| SubjectDn::parse(text).unwrap();
        assert!(dn("CN=a+UID=b").matches(&rdns));
        assert!(dn("UID=b+CN=a").matches(&rdns), "a set: any order");
        assert!(!dn("CN=a").matches(&rdns));
        assert!(!dn("CN=a,UID=b").matches(&rdns), "two RDNs are not one");
    }

    fn avas_of(set: &[u8]) -> Vec<CertAva<'_>> {
        let (_, mut content, _) = read_element(set).unwrap();
        let mut avas = Vec::new();
        while !content.is_empty() {
            let (_, ava, rest) = read_element(content).unwrap();
            content = rest;
            let (_, oid, value) = read_element(ava).unwrap();
            let (tag, body, _) = read_element(value).unwrap();
            avas.push(CertAva {
                oid,
                element: value,
                tag,
                content: body,
            });
        }
        avas
    }

    #[test]
    fn malformed_strings_and_certificates_are_refused() {
        for bad in [
            "",
            "CN",
            "CN=",
            "=x",
            "XX=y",
            "CN=a,",
            "CN=a\"b",
            "CN=\\zz",
            "CN=#zz",
            "CN=#0c05ab",
            "3.1=x",
            "01.2=x",
            "1.40=x",
        ] {
            assert!(SubjectDn::parse(bad).is_err(), "{bad:?}");
        }
        let dn = SubjectDn::parse("CN=x").unwrap();
        assert!(!dn.matches_certificate(b""));
        assert!(!dn.matches_certificate(&[0x30, 0x82, 0xff]));
    }

    #[test]
    fn oids_encode_as_der_does() {
        assert_eq!(encode_oid("2.5.4.3"), Some(vec![0x55, 0x04, 0x03]));
        assert_eq!(
            encode_oid("1.2.840.113549.1.9.1"),
            Some(vec![0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x09, 0x01])
        );
    }
}
