//! The stored form of a token record: a compact binary value, not JSON with field names.
//!
//! Owns: [`encode`] and [`decode`] of a [`TokenRecord`], and [`owner_prefix`], the bytes every
//! record of one client starts with (the revoke script compares them, so only the owner
//! revokes). Layout, all lengths and integers big-endian:
//! `2 | id length (1) | id | iat (8) | exp (8) | scope length (2) | scope | audience count (1)
//! | (length (2) | audience)* | 0, or 1 and the bound certificate's SHA-256 (32)` — a 64-byte id,
//! `read write`, no audience and no certificate is 96 bytes.
//! Does not own: where records are kept (see the parent).

use std::sync::Arc;

use crate::auth::tokens::{Grant, TokenRecord};

/// The first byte of every record: a later layout gets another. 2 added the certificate
/// binding; a version-1 record (from a build before it) is unreadable, so its token answers 503
/// rather than being served without its binding.
const VERSION: u8 = 2;

/// A stored value that is not a record of ours.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("a token record in the store is unreadable")]
pub struct Unreadable;

/// The bytes every record of `client_id` starts with.
pub fn owner_prefix(client_id: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(2 + client_id.len());
    out.push(VERSION);
    push_short(&mut out, client_id.as_bytes(), 1);
    out
}

/// `None` when a part is longer than its length field holds (ids are at most 64 bytes, the
/// scope and audiences of a registered client far below 64 KiB): such a record is not stored.
pub fn encode(record: &TokenRecord) -> Option<Vec<u8>> {
    let grant = &record.grant;
    if grant.client_id.len() > usize::from(u8::MAX)
        || grant.scope.len() > usize::from(u16::MAX)
        || grant.audience.len() > usize::from(u8::MAX)
        || grant
            .audience
            .iter()
            .any(|a| a.len() > usize::from(u16::MAX))
    {
        return None;
    }
    let mut out = owner_prefix(&grant.client_id);
    out.extend_from_slice(&record.iat.to_be_bytes());
    out.extend_from_slice(&record.exp.to_be_bytes());
    push_short(&mut out, grant.scope.as_bytes(), 2);
    out.push(grant.audience.len() as u8);
    for audience in grant.audience.iter() {
        push_short(&mut out, audience.as_bytes(), 2);
    }
    match record.cnf.as_deref() {
        Some(sha256) => {
            out.push(1);
            out.extend_from_slice(sha256);
        }
        None => out.push(0),
    }
    Some(out)
}

/// Appends `bytes` after their length in `width` (1 or 2) bytes; callers checked the length.
fn push_short(out: &mut Vec<u8>, bytes: &[u8], width: usize) {
    let len = (bytes.len() as u16).to_be_bytes();
    out.extend_from_slice(&len[2 - width..]);
    out.extend_from_slice(bytes);
}

pub fn decode(bytes: &[u8]) -> Result<TokenRecord, Unreadable> {
    let mut reader = Reader(bytes);
    if reader.take(1)? != [VERSION] {
        return Err(Unreadable);
    }
    let client_id = reader.text(1)?;
    let iat = reader.u64()?;
    let exp = reader.u64()?;
    let scope = reader.text(2)?;
    let count = reader.take(1)?[0];
    let audience = (0..count)
        .map(|_| reader.text(2).map(Box::from))
        .collect::<Result<Box<[Box<str>]>, _>>()?;
    let cnf = match reader.take(1)? {
        [0] => None,
        [1] => Some(Box::new(
            <[u8; 32]>::try_from(reader.take(32)?).map_err(|_| Unreadable)?,
        )),
        _ => return Err(Unreadable),
    };
    if !reader.0.is_empty() {
        return Err(Unreadable);
    }
    let grant = Grant {
        client_id: Arc::from(client_id),
        scope: scope.into(),
        audience,
    };
    Ok(TokenRecord {
        grant: Arc::new(grant),
        iat,
        exp,
        cnf,
    })
}

struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], Unreadable> {
        if self.0.len() < n {
            return Err(Unreadable);
        }
        let (head, rest) = self.0.split_at(n);
        self.0 = rest;
        Ok(head)
    }

    fn u64(&mut self) -> Result<u64, Unreadable> {
        let bytes = self.take(8)?;
        Ok(u64::from_be_bytes(
            bytes.try_into().map_err(|_| Unreadable)?,
        ))
    }

    /// A UTF-8 text after its length in `width` bytes.
    fn text(&mut self, width: usize) -> Result<&'a str, Unreadable> {
        let len = self
            .take(width)?
            .iter()
            .fold(0usize, |n, &b| n << 8 | usize::from(b));
        std::str::from_utf8(self.take(len)?).map_err(|_| Unreadable)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(audience: &[&str]) -> TokenRecord {
        bound(audience, None)
    }

    fn bound(audience: &[&str], cnf: Option<[u8; 32]>) -> TokenRecord {
        TokenRecord {
            grant: Arc::new(Grant {
                client_id: "svc.one_x-2".into(),
                scope: "read write".into(),
                audience: audience.iter().map(|a| Box::from(*a)).collect(),
            }),
            iat: 1_700_000_000,
            exp: 1_700_003_600,
            cnf: cnf.map(Box::new),
        }
    }

    #[test]
    fn a_record_reads_back_as_it_was_written_and_starts_with_its_owner() {
        for audience in [&[][..], &["https://a.example"], &["https://a", "https://b"]] {
            let written = record(audience);
            let bytes = encode(&written).unwrap();
            assert_eq!(decode(&bytes).unwrap(), written);
            assert!(bytes.starts_with(&owner_prefix("svc.one_x-2")));
            assert!(!bytes.starts_with(&owner_prefix("svc")));
        }
        assert_eq!(
            encode(&record(&[])).unwrap().len(),
            2 + 11 + 16 + 2 + 10 + 1 + 1
        );
    }

    #[test]
    fn a_certificate_bound_record_keeps_its_certificate() {
        let written = bound(&["https://a.example"], Some([7; 32]));
        let bytes = encode(&written).unwrap();
        assert_eq!(decode(&bytes).unwrap().cnf.as_deref(), Some(&[7; 32]));
        assert_eq!(
            bytes.len(),
            encode(&record(&["https://a.example"])).unwrap().len() + 32
        );
        let mut other_flag = bytes.clone();
        let at = bytes.len() - 33;
        other_flag[at] = 2;
        assert_eq!(decode(&other_flag), Err(Unreadable));
    }

    #[test]
    fn truncated_extended_or_foreign_values_are_unreadable() {
        let bytes = encode(&bound(&["https://a.example"], Some([1; 32]))).unwrap();
        for end in 0..bytes.len() {
            assert_eq!(decode(&bytes[..end]), Err(Unreadable), "cut at {end}");
        }
        let mut longer = bytes.clone();
        longer.push(0);
        assert_eq!(decode(&longer), Err(Unreadable));
        assert_eq!(decode(b"{\"client_id\":\"svc\"}"), Err(Unreadable));
    }
}
