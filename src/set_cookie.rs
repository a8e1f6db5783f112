//! `SetCookie`: a cookie to set on a response, as Starlette's `response.set_cookie` writes it.
//!
//! Invariant: a `SetCookie` that would not be a valid `Set-Cookie` field — a name that is not
//! a token, a value or an attribute that could end the field or start another attribute — is
//! refused when it is rendered, naming the value, never sent (RFC 6265 §4.1.1).

use std::fmt::{self, Write};
use std::time::{Duration, SystemTime};

use http::HeaderValue;

use crate::Response;

/// Seconds from the epoch to 10000-01-01: an HTTP date has a four-digit year (and none
/// before 1970 here, where the clock starts).
const HTTP_DATE_SECONDS_END: u64 = 253_402_300_800;

/// `SameSite`: whether the browser sends the cookie with cross-site requests.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SameSite {
    /// Only with same-site requests.
    Strict,
    /// Also with top-level navigations from other sites (Starlette's default).
    Lax,
    /// With every request (the browser insists on `Secure` with it).
    None,
}

impl SameSite {
    /// As Starlette writes it.
    fn as_str(self) -> &'static str {
        match self {
            SameSite::Strict => "strict",
            SameSite::Lax => "lax",
            SameSite::None => "none",
        }
    }
}

/// Why a [`SetCookie`] cannot be sent; each names the value at fault.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CookieError {
    /// The name is not an HTTP token (RFC 9110 §5.6.2).
    InvalidName(String),
    /// The value has a character a cookie value may not (RFC 6265 §4.1.1: no space, `"`,
    /// `,`, `;`, `\` or control character, besides a pair of surrounding quotes).
    InvalidValue(String),
    /// A `Path` or `Domain` with `;` or a control character, which would end the attribute.
    InvalidAttribute(String),
    /// An `expires` an HTTP date cannot say: before 1970 or after 9999.
    InvalidExpires(SystemTime),
}

impl fmt::Display for CookieError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CookieError::InvalidName(name) => write!(f, "cookie name {name:?} is not a token"),
            CookieError::InvalidValue(value) => write!(
                f,
                "cookie value {value:?} has a character a cookie may not (space, '\"', ',', ';', '\\\\' or a control)"
            ),
            CookieError::InvalidAttribute(value) => {
                write!(
                    f,
                    "cookie attribute {value:?} has ';' or a control character"
                )
            }
            CookieError::InvalidExpires(at) => write!(
                f,
                "cookie expires {at:?} is outside the years 1970 to 9999 an HTTP date can say"
            ),
        }
    }
}

impl std::error::Error for CookieError {}

/// A cookie to set on a response, with Starlette's `set_cookie` defaults (`Path=/`,
/// `SameSite=lax`) and its attribute order, so the `Set-Cookie` field reads as Starlette's:
/// `session=abc; HttpOnly; Max-Age=3600; Path=/; SameSite=lax; Secure`.
///
/// ```
/// use std::time::Duration;
/// use ringserve::{Response, SetCookie};
///
/// let cookie = SetCookie::new("session", "abc")
///     .max_age(Duration::from_secs(3600))
///     .http_only(true)
///     .secure(true);
/// let response = Response::text("signed in").with_cookie(&cookie).expect("a valid cookie");
/// assert_eq!(
///     response.header("set-cookie").unwrap(),
///     "session=abc; HttpOnly; Max-Age=3600; Path=/; SameSite=lax; Secure"
/// );
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SetCookie {
    name: String,
    value: String,
    max_age: Option<Duration>,
    expires: Option<SystemTime>,
    path: Option<String>,
    domain: Option<String>,
    secure: bool,
    http_only: bool,
    same_site: Option<SameSite>,
}

impl SetCookie {
    /// `name=value`, `Path=/`, `SameSite=lax`.
    pub fn new(name: impl Into<String>, value: impl Into<String>) -> Self {
        SetCookie {
            name: name.into(),
            value: value.into(),
            max_age: None,
            expires: None,
            path: Some("/".to_owned()),
            domain: None,
            secure: false,
            http_only: false,
            same_site: Some(SameSite::Lax),
        }
    }

    /// Starlette's `delete_cookie`: an empty value, `Max-Age=0`, expired — at the epoch, where
    /// Starlette writes the current time (either is in the past for the browser).
    pub fn removal(name: impl Into<String>) -> Self {
        SetCookie::new(name, "")
            .max_age(Duration::ZERO)
            .expires(SystemTime::UNIX_EPOCH)
    }

    /// `Max-Age`, in whole seconds.
    pub fn max_age(mut self, max_age: Duration) -> Self {
        self.max_age = Some(max_age);
        self
    }

    /// `expires`, an HTTP date.
    pub fn expires(mut self, at: SystemTime) -> Self {
        self.expires = Some(at);
        self
    }

    /// `Path` (default `/`); `None` sends none.
    pub fn path(mut self, path: Option<&str>) -> Self {
        self.path = path.map(str::to_owned);
        self
    }

    /// `Domain`.
    pub fn domain(mut self, domain: impl Into<String>) -> Self {
        self.domain = Some(domain.into());
        self
    }

    /// `Secure`: sent over HTTPS only.
    pub fn secure(mut self, secure: bool) -> Self {
        self.secure = secure;
        self
    }

    /// `HttpOnly`: hidden from the page's scripts.
    pub fn http_only(mut self, http_only: bool) -> Self {
        self.http_only = http_only;
        self
    }

    /// `SameSite` (default `lax`); `None` sends none.
    pub fn same_site(mut self, same_site: Option<SameSite>) -> Self {
        self.same_site = same_site;
        self
    }

    /// The `Set-Cookie` field's value, or why it cannot be one. Attributes in Starlette's
    /// order: alphabetical, as Python's `http.cookies` writes them.
    pub fn render(&self) -> Result<HeaderValue, CookieError> {
        self.check()?;
        let mut field = format!("{}={}", self.name, self.value);
        if let Some(domain) = &self.domain {
            let _ = write!(field, "; Domain={domain}");
        }
        if let Some(expires) = self.expires {
            let _ = write!(field, "; expires={}", httpdate::fmt_http_date(expires));
        }
        if self.http_only {
            field.push_str("; HttpOnly");
        }
        if let Some(max_age) = self.max_age {
            let _ = write!(field, "; Max-Age={}", max_age.as_secs());
        }
        if let Some(path) = &self.path {
            let _ = write!(field, "; Path={path}");
        }
        if let Some(same_site) = self.same_site {
            let _ = write!(field, "; SameSite={}", same_site.as_str());
        }
        if self.secure {
            field.push_str("; Secure");
        }
        HeaderValue::from_str(&field).map_err(|_| CookieError::InvalidValue(self.value.clone()))
    }

    fn check(&self) -> Result<(), CookieError> {
        if self.name.is_empty() || !self.name.bytes().all(is_token_byte) {
            return Err(CookieError::InvalidName(self.name.clone()));
        }
        let unquoted = self
            .value
            .strip_prefix('"')
            .and_then(|quoted| quoted.strip_suffix('"'))
            .unwrap_or(&self.value);
        if !unquoted.bytes().all(is_cookie_octet) {
            return Err(CookieError::InvalidValue(self.value.clone()));
        }
        if let Some(at) = self.expires {
            let seconds = at
                .duration_since(SystemTime::UNIX_EPOCH)
                .map_or(u64::MAX, |since| since.as_secs());
            if seconds >= HTTP_DATE_SECONDS_END {
                return Err(CookieError::InvalidExpires(at));
            }
        }
        for attribute in self.path.iter().chain(&self.domain) {
            if attribute
                .bytes()
                .any(|byte| byte == b';' || byte.is_ascii_control() || !byte.is_ascii())
            {
                return Err(CookieError::InvalidAttribute(attribute.clone()));
            }
        }
        Ok(())
    }
}

/// A `tchar` of RFC 9110 §5.6.2.
fn is_token_byte(byte: u8) -> bool {
    byte.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&byte)
}

/// A `cookie-octet` of RFC 6265 §4.1.1.
fn is_cookie_octet(byte: u8) -> bool {
    matches!(byte, 0x21 | 0x23..=0x2B | 0x2D..=0x3A | 0x3C..=0x5B | 0x5D..=0x7E)
}

impl Response {
    /// Adds a `Set-Cookie` field for `cookie` (one per cookie: several are several fields), or
    /// says why the cookie cannot be sent.
    pub fn with_cookie(self, cookie: &SetCookie) -> Result<Response, CookieError> {
        Ok(self.with_header(http::header::SET_COOKIE, cookie.render()?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn starlettes_attribute_order_and_removal() {
        let cookie = SetCookie::new("mycookie", "myvalue")
            .domain("localhost")
            .expires(SystemTime::UNIX_EPOCH + Duration::from_secs(2_116_238_410))
            .http_only(true)
            .max_age(Duration::from_secs(10))
            .same_site(Some(SameSite::None))
            .secure(true);
        assert_eq!(
            cookie.render().unwrap(),
            "mycookie=myvalue; Domain=localhost; expires=Thu, 22 Jan 2037 12:00:10 GMT; \
             HttpOnly; Max-Age=10; Path=/; SameSite=none; Secure"
        );
        assert_eq!(
            SetCookie::removal("session").render().unwrap(),
            "session=; expires=Thu, 01 Jan 1970 00:00:00 GMT; Max-Age=0; Path=/; SameSite=lax"
        );
    }

    #[test]
    fn bad_cookies_are_refused_naming_the_value() {
        assert_eq!(
            SetCookie::new("a b", "v").render(),
            Err(CookieError::InvalidName("a b".to_owned()))
        );
        assert_eq!(
            SetCookie::new("a", "x; Domain=evil").render(),
            Err(CookieError::InvalidValue("x; Domain=evil".to_owned()))
        );
        assert_eq!(
            SetCookie::new("a", "v").path(Some("/; Secure")).render(),
            Err(CookieError::InvalidAttribute("/; Secure".to_owned()))
        );
        assert!(SetCookie::new("a", "\"quoted\"").render().is_ok());
        let before_1970 = SystemTime::UNIX_EPOCH - Duration::from_secs(1);
        assert_eq!(
            SetCookie::new("a", "v").expires(before_1970).render(),
            Err(CookieError::InvalidExpires(before_1970))
        );
        let year_10000 = SystemTime::UNIX_EPOCH + Duration::from_secs(HTTP_DATE_SECONDS_END);
        assert_eq!(
            SetCookie::new("a", "v").expires(year_10000).render(),
            Err(CookieError::InvalidExpires(year_10000))
        );
        let last_second = year_10000 - Duration::from_secs(1);
        assert!(
            SetCookie::new("a", "v")
                .expires(last_second)
                .render()
                .is_ok()
        );
    }
}
