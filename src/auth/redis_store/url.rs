//! Reading `--store redis://[USER[:PASSWORD]@]HOST[:PORT][/DB]` (or `rediss://`, TLS) into the
//! link's [`Target`].
//!
//! Owns: the grammar above (user and password percent-decoded; an IPv6 host in brackets; port
//! 6379 and database 0 by default; no query, fragment or Unix socket) and [`location`], the
//! URL without its credentials for logs. Parsed here rather than by a general URL parser,
//! which would pull in Unicode tables (about 0.9 MB of `oauth-server`, which must stay under
//! 3 MiB) to read a host, a port and a number. Does not own: connecting (see `link`).

use super::link::Target;
use super::StoreUrlError;
use crate::secret::SecretString;

/// Where a store is, and as whom.
pub struct StoreUrl {
    pub target: Target,
    /// `scheme://host:port/db`, without credentials.
    pub location: String,
}

pub fn parse(url: &str) -> Result<StoreUrl, StoreUrlError> {
    let (tls, rest) = if let Some(rest) = url.strip_prefix("rediss://") {
        (true, rest)
    } else if let Some(rest) = url.strip_prefix("redis://") {
        (false, rest)
    } else {
        return Err(StoreUrlError::Scheme);
    };
    if rest.contains(['?', '#']) {
        return Err(StoreUrlError::Invalid);
    }
    let (authority, path) = rest.split_once('/').unwrap_or((rest, ""));
    let (userinfo, hostport) = match authority.rsplit_once('@') {
        Some((userinfo, hostport)) => (Some(userinfo), hostport),
        None => (None, authority),
    };
    let (host, port) = host_and_port(hostport)?;
    let db: u32 = match path {
        "" => 0,
        digits if digits.bytes().all(|b| b.is_ascii_digit()) && digits.len() <= 5 => {
            digits.parse().map_err(|_| StoreUrlError::Invalid)?
        }
        _ => return Err(StoreUrlError::Invalid),
    };
    let (mut username, mut password) = (None, None);
    if let Some(userinfo) = userinfo {
        let (user, secret) = userinfo.split_once(':').unwrap_or((userinfo, ""));
        if !user.is_empty() {
            username = Some(SecretString::new(percent_decode(user)?));
        }
        if !secret.is_empty() {
            password = Some(SecretString::new(percent_decode(secret)?));
        }
    }
    let scheme = if tls { "rediss" } else { "redis" };
    let shown_host = if host.contains(':') {
        format!("[{host}]")
    } else {
        host.clone()
    };
    let location = format!("{scheme}://{shown_host}:{port}/{db}");
    Ok(StoreUrl {
        target: Target {
            host,
            port,
            tls,
            username,
            password,
            db,
        },
        location,
    })
}

/// `host`, `host:port`, `[v6]` or `[v6]:port`.
fn host_and_port(hostport: &str) -> Result<(String, u16), StoreUrlError> {
    let (host, port) = if let Some(bracketed) = hostport.strip_prefix('[') {
        let (host, after) = bracketed.split_once(']').ok_or(StoreUrlError::Invalid)?;
        match after {
            "" => (host, None),
            port => (
                host,
                Some(port.strip_prefix(':').ok_or(StoreUrlError::Invalid)?),
            ),
        }
    } else {
        match hostport.split_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (hostport, None),
        }
    };
    let host_ok = !host.is_empty()
        && host
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'_' | b':'));
    if !host_ok {
        return Err(StoreUrlError::Invalid);
    }
    let port = match port {
        None => 6379,
        Some(port) => port.parse().map_err(|_| StoreUrlError::Invalid)?,
    };
    Ok((host.to_owned(), port))
}

/// `%XX` escapes decoded; the result must be UTF-8.
fn percent_decode(text: &str) -> Result<String, StoreUrlError> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = bytes.get(i + 1..i + 3).ok_or(StoreUrlError::Invalid)?;
            let hex = std::str::from_utf8(hex).map_err(|_| StoreUrlError::Invalid)?;
            out.push(u8::from_str_radix(hex, 16).map_err(|_| StoreUrlError::Invalid)?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).map_err(|e| {
        // It may have been a password.
        zeroize::Zeroize::zeroize(&mut e.into_bytes());
        StoreUrlError::Invalid
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts_ports_databases_and_credentials_are_read_and_never_shown() {
        let url = parse("redis://app:p%40ss%3Aword@redis.internal:6380/2").unwrap();
        assert_eq!(url.location, "redis://redis.internal:6380/2");
        let target = &url.target;
        assert_eq!(
            (target.host.as_str(), target.port, target.db),
            ("redis.internal", 6380, 2)
        );
        assert_eq!(target.username.as_ref().map(|u| u.expose()), Some("app"));
        assert_eq!(
            target.password.as_ref().map(|p| p.expose()),
            Some("p@ss:word")
        );
        assert!(!target.tls);
        let url = parse("rediss://:secret@[::1]").unwrap();
        assert_eq!(url.location, "rediss://[::1]:6379/0");
        assert_eq!(url.target.host, "::1");
        assert!(url.target.username.is_none());
        assert_eq!(
            url.target.password.as_ref().map(|p| p.expose()),
            Some("secret")
        );
        assert!(url.target.tls);
        assert_eq!(
            parse("redis://127.0.0.1/").unwrap().location,
            "redis://127.0.0.1:6379/0"
        );
    }

    #[test]
    fn anything_else_is_refused() {
        for url in [
            "redis://",
            "redis://host:port",
            "redis://host:70000",
            "redis://host/db",
            "redis://host/0?protocol=resp3",
            "redis://ho st",
            "redis://u:%zz@host",
            "unix:///tmp/redis.sock",
            "http://host",
        ] {
            assert!(parse(url).is_err(), "{url} accepted");
        }
    }
}
