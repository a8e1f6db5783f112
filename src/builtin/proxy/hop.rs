//! Hop-by-hop fields (RFC 9110 §7.6.1): those that describe one connection, which a proxy
//! removes in both directions — the standard ones, and every field a `Connection` header names.
//!
//! Invariant: the same rules for requests and answers; each side adds only the fields it
//! writes itself.

use smallvec::SmallVec;

/// Fields that only ever describe one connection (with the obsolete `Proxy-Connection` and
/// the proxy's own `Proxy-Authorization` / `Proxy-Authenticate`).
const HOP_BY_HOP: &[&str] = &[
    "connection",
    "keep-alive",
    "proxy-connection",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
    "proxy-authorization",
    "proxy-authenticate",
];

/// The field names a message's `Connection` headers list, collected once per message.
pub(super) struct ConnectionTokens<'a>(SmallVec<[&'a [u8]; 4]>);

impl<'a> ConnectionTokens<'a> {
    /// From every `(name, value)` field of a message.
    pub(super) fn of(fields: impl Iterator<Item = (&'a str, &'a [u8])>) -> Self {
        ConnectionTokens(
            fields
                .filter(|(name, _)| name.eq_ignore_ascii_case("connection"))
                .flat_map(|(_, value)| value.split(|&byte| byte == b','))
                .map(<[u8]>::trim_ascii)
                .filter(|token| !token.is_empty())
                .collect(),
        )
    }

    /// Whether `token` (`close`, `keep-alive`, a field name) is listed.
    pub(super) fn lists(&self, token: &[u8]) -> bool {
        self.0
            .iter()
            .any(|listed| listed.eq_ignore_ascii_case(token))
    }

    /// Whether the field `name` is hop-by-hop in this message.
    pub(super) fn is_hop_by_hop(&self, name: &str) -> bool {
        HOP_BY_HOP
            .iter()
            .any(|field| name.eq_ignore_ascii_case(field))
            || self.lists(name.as_bytes())
    }
}
