//! Reading the subject of an X.509 certificate (RFC 5280 §4.1.2.6) out of its DER: a small
//! strict walk, only as far as the subject.
//!
//! Owns: DER elements (single-byte tags, definite lengths of at most four bytes, as
//! certificates use) and the subject's RDNs and AVAs as encoded. Does not own: what the values
//! mean (the parent).

/// One AVA of a certificate's subject, as encoded there.
pub(super) struct CertAva<'a> {
    pub(super) oid: &'a [u8],
    /// The whole value element.
    pub(super) element: &'a [u8],
    pub(super) tag: u8,
    pub(super) content: &'a [u8],
}

/// One DER element at the start of `input`: its tag, its content and what follows it. Only
/// single-byte tags and definite lengths of at most four bytes, as certificates use.
pub(super) fn read_element(input: &[u8]) -> Option<(u8, &[u8], &[u8])> {
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
pub(super) fn subject_of(der: &[u8]) -> Option<Vec<Vec<CertAva<'_>>>> {
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
