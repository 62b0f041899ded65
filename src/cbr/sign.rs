//! SDK-HMAC-SHA256 request signing, exactly as the official Huawei Cloud SDK's `Signer`
//! (huaweicloudsdkcore 3.1.219) computes it: canonical request, string to sign, HMAC-SHA256
//! and the `Authorization` header.
//!
//! Both sides use this module: the client signs an outgoing request with [`sign`], the
//! emulator checks a received one with [`verify`], rebuilding the canonical request from
//! exactly the headers the client listed in `SignedHeaders`. Everything here is pure: no I/O,
//! no clock (callers pass `now`), no environment. Secrets travel as [`Secret`], whose `Debug`
//! output is `***`, and no error of this module carries a key or a signature.

use std::fmt;

use chrono::{DateTime, NaiveDateTime, Utc};
use hmac::{Hmac, Mac};
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, percent_decode_str, utf8_percent_encode};
use reqwest::Method;
use reqwest::header::{AUTHORIZATION, CONTENT_TYPE, HOST, HeaderMap, HeaderName, HeaderValue};
use sha2::{Digest, Sha256};
use url::Url;

/// The algorithm name that opens the string to sign and the `Authorization` header.
pub const ALGORITHM: &str = "SDK-HMAC-SHA256";
/// The request timestamp header (`X-Sdk-Date`), lower-cased as `HeaderMap` stores it.
pub const X_SDK_DATE: &str = "x-sdk-date";
/// The header that replaces the body hash (`X-Sdk-Content-Sha256`).
pub const X_SDK_CONTENT_SHA256: &str = "x-sdk-content-sha256";
/// The value of `X-Sdk-Content-Sha256` for bodies that are not JSON or BSON.
pub const UNSIGNED_PAYLOAD: &str = "UNSIGNED-PAYLOAD";
/// SHA-256 of the empty string: the payload hash of every request without a body.
pub const EMPTY_PAYLOAD_SHA256: &str =
    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
/// `strftime` format of `X-Sdk-Date`, e.g. `20201231T000000Z` (UTC).
pub const DATE_FORMAT: &str = "%Y%m%dT%H%M%SZ";

/// RFC 3986 unreserved characters stay literal; everything else is `%XX` (upper-case hex).
const UNRESERVED: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~');

/// A secret string (secret key, password, token) whose `Debug` output is `***`.
///
/// It has no `Display`; reading the value takes an explicit [`Secret::expose`].
#[derive(Clone, Default)]
pub struct Secret(String);

impl Secret {
    /// Wraps a secret value.
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    /// The secret value, for the few places that must send or hash it.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// Whether the secret is the empty string.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Compares with `candidate` in time that depends only on the lengths.
    pub fn matches(&self, candidate: &str) -> bool {
        constant_time_eq(self.0.as_bytes(), candidate.as_bytes())
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

impl From<String> for Secret {
    fn from(value: String) -> Self {
        Self(value)
    }
}

impl From<&str> for Secret {
    fn from(value: &str) -> Self {
        Self(value.to_owned())
    }
}

impl std::str::FromStr for Secret {
    type Err = std::convert::Infallible;

    /// Wraps the string (lets clap parse flags straight into a `Secret`).
    fn from_str(value: &str) -> Result<Self, Self::Err> {
        Ok(Self(value.to_owned()))
    }
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Why a request could not be signed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignError {
    /// The request already carries an `X-Sdk-Date` that is not `YYYYMMDDTHHMMSSZ`.
    #[error("the X-Sdk-Date header is not in the format YYYYMMDDTHHMMSSZ")]
    InvalidDate,
    /// The URL has no host, so there is no `Host` header to sign.
    #[error("the request URL has no host")]
    NoHost,
}

/// Why a received request's signature was not accepted. Messages never contain a key or a
/// signature.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VerifyError {
    /// No `Authorization` header.
    #[error("the request has no Authorization header")]
    MissingAuthorization,
    /// The `Authorization` header is not `ALGORITHM Access=.., SignedHeaders=.., Signature=..`.
    #[error("the Authorization header is malformed")]
    MalformedAuthorization,
    /// The `Authorization` header names another algorithm than `SDK-HMAC-SHA256`.
    #[error("unsupported signing algorithm")]
    UnsupportedAlgorithm,
    /// `x-sdk-date` is not among the signed headers.
    #[error("the X-Sdk-Date header is not signed")]
    DateNotSigned,
    /// A header named in `SignedHeaders` is not in the request.
    #[error("signed header `{0}` is missing from the request")]
    MissingHeader(String),
    /// `X-Sdk-Date` is not `YYYYMMDDTHHMMSSZ`.
    #[error("the X-Sdk-Date header is not in the format YYYYMMDDTHHMMSSZ")]
    InvalidDate,
    /// The access key is not known.
    #[error("unknown access key")]
    UnknownAccessKey,
    /// The signature does not match the request.
    #[error("the signature does not match the request")]
    SignatureMismatch,
}

/// Percent-encodes `value` keeping only RFC 3986 unreserved characters (`A-Z a-z 0-9 - _ . ~`);
/// a space becomes `%20`, never `+`.
pub fn encode(value: &str) -> String {
    utf8_percent_encode(value, UNRESERVED).to_string()
}

/// The canonical URI of a wire path: percent-decoded, split on `/` (so an encoded `%2F` becomes
/// a separator, as in the SDK), each segment re-encoded, and a trailing `/` added if missing.
pub fn canonical_uri(path: &str) -> String {
    let decoded = percent_decode_str(path).decode_utf8_lossy();
    let mut uri = decoded.split('/').map(encode).collect::<Vec<_>>().join("/");
    if !uri.ends_with('/') {
        uri.push('/');
    }
    uri
}

/// The canonical query string of raw (decoded) `pairs`: sorted by key then value on the
/// un-encoded strings (code point order), each side encoded with [`encode`], joined with `&`.
///
/// Lists are expected as repeated pairs and booleans as `true`/`false`, which is how the SDK
/// expands them and how they travel on the wire.
pub fn canonical_query<K: AsRef<str>, V: AsRef<str>>(pairs: &[(K, V)]) -> String {
    let mut sorted: Vec<(&str, &str)> = pairs
        .iter()
        .map(|(key, value)| (key.as_ref(), value.as_ref()))
        .collect();
    // `str` orders by UTF-8 bytes, which is code point order, like Python's tuple sort.
    sorted.sort_unstable();
    sorted
        .iter()
        .map(|(key, value)| format!("{}={}", encode(key), encode(value)))
        .collect::<Vec<_>>()
        .join("&")
}

/// Decodes a raw query string into pairs (`application/x-www-form-urlencoded` rules: `%XX`
/// and `+` for a space, which is also what `url` and `reqwest` produce when building one).
pub fn parse_query(raw: &str) -> Vec<(String, String)> {
    url::form_urlencoded::parse(raw.as_bytes())
        .map(|(key, value)| (key.into_owned(), value.into_owned()))
        .collect()
}

/// The payload hash: SHA-256 of "" for an empty body (even with `UNSIGNED-PAYLOAD`), else the
/// literal `X-Sdk-Content-Sha256` value when that header is present, else the body's SHA-256.
pub fn payload_hash(content_sha256: Option<&str>, body: &[u8]) -> String {
    if body.is_empty() {
        EMPTY_PAYLOAD_SHA256.to_owned()
    } else if let Some(value) = content_sha256 {
        value.to_owned()
    } else {
        hex::encode(Sha256::digest(body))
    }
}

/// Everything a signature covers, in canonical form.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CanonicalRequest {
    /// Upper-case HTTP method.
    pub method: String,
    /// Canonical URI ([`canonical_uri`]).
    pub uri: String,
    /// Canonical query string ([`canonical_query`]); empty without a query.
    pub query: String,
    /// Signed headers: lower-case name and trimmed value, in signing order.
    pub headers: Vec<(String, String)>,
    /// Payload hash ([`payload_hash`]).
    pub payload_hash: String,
}

impl CanonicalRequest {
    /// Builds the canonical request the client signs: every header whose name has no `_` is
    /// signed (except `Authorization` itself), sorted by name. `path` is the wire path, `query` the decoded pairs.
    pub fn for_signing(
        method: &Method,
        path: &str,
        query: &[(String, String)],
        headers: &HeaderMap,
        body: &[u8],
    ) -> Self {
        let mut names: Vec<&HeaderName> = headers
            .keys()
            .filter(|name| !name.as_str().contains('_') && *name != AUTHORIZATION)
            .collect();
        names.sort_unstable_by(|a, b| a.as_str().cmp(b.as_str()));
        let signed = names
            .into_iter()
            .map(|name| {
                (
                    name.as_str().to_owned(),
                    header_value(headers, name.as_str()),
                )
            })
            .collect();
        Self::new(method, path, query, signed, headers, body)
    }

    fn new(
        method: &Method,
        path: &str,
        query: &[(String, String)],
        headers: Vec<(String, String)>,
        all_headers: &HeaderMap,
        body: &[u8],
    ) -> Self {
        let content_sha256 = all_headers
            .get(X_SDK_CONTENT_SHA256)
            .map(|value| String::from_utf8_lossy(value.as_bytes()).into_owned());
        Self {
            method: method.as_str().to_ascii_uppercase(),
            uri: canonical_uri(path),
            query: canonical_query(query),
            headers,
            payload_hash: payload_hash(content_sha256.as_deref(), body),
        }
    }

    /// The `SignedHeaders` value: the header names joined with `;`.
    pub fn signed_headers(&self) -> String {
        self.headers
            .iter()
            .map(|(name, _)| name.as_str())
            .collect::<Vec<_>>()
            .join(";")
    }

    /// The string to sign for this request at `sdk_date` (the literal `X-Sdk-Date` value).
    pub fn string_to_sign(&self, sdk_date: &str) -> String {
        string_to_sign(sdk_date, &self.to_string())
    }
}

impl fmt::Display for CanonicalRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "{}", self.method)?;
        writeln!(f, "{}", self.uri)?;
        writeln!(f, "{}", self.query)?;
        for (name, value) in &self.headers {
            writeln!(f, "{name}:{value}")?;
        }
        writeln!(f)?;
        writeln!(f, "{}", self.signed_headers())?;
        f.write_str(&self.payload_hash)
    }
}

/// All values of header `name`, lossily decoded as UTF-8, trimmed and joined with `,`.
fn header_value(headers: &HeaderMap, name: &str) -> String {
    headers
        .get_all(name)
        .iter()
        .map(|value| String::from_utf8_lossy(value.as_bytes()).trim().to_owned())
        .collect::<Vec<_>>()
        .join(",")
}

/// `SDK-HMAC-SHA256 \n X-Sdk-Date \n hex(sha256(canonical_request))`.
pub fn string_to_sign(sdk_date: &str, canonical_request: &str) -> String {
    let digest = hex::encode(Sha256::digest(canonical_request.as_bytes()));
    format!("{ALGORITHM}\n{sdk_date}\n{digest}")
}

fn mac(sk: &Secret) -> Hmac<Sha256> {
    // HMAC accepts keys of any length, so this cannot fail.
    Hmac::<Sha256>::new_from_slice(sk.expose().as_bytes()).expect("HMAC takes any key length")
}

/// Lower-case hex HMAC-SHA256 of `string_to_sign` keyed with the secret key (no derivation).
pub fn signature(sk: &Secret, string_to_sign: &str) -> String {
    let mut mac = mac(sk);
    mac.update(string_to_sign.as_bytes());
    hex::encode(mac.finalize().into_bytes())
}

/// Whether `signature_hex` is the signature of `string_to_sign`, compared in constant time.
pub fn signature_matches(sk: &Secret, string_to_sign: &str, signature_hex: &str) -> bool {
    let Ok(expected) = hex::decode(signature_hex) else {
        return false;
    };
    let mut mac = mac(sk);
    mac.update(string_to_sign.as_bytes());
    mac.verify_slice(&expected).is_ok()
}

/// A parsed `Authorization` header.
#[derive(Clone, PartialEq, Eq)]
pub struct Authorization<'a> {
    /// The algorithm, normally [`ALGORITHM`].
    pub algorithm: &'a str,
    /// The access key (AK).
    pub access_key: &'a str,
    /// The `SignedHeaders` value, e.g. `content-type;host;x-sdk-date`.
    pub signed_headers: &'a str,
    /// The hex signature.
    pub signature: &'a str,
}

impl<'a> Authorization<'a> {
    /// Parses `ALGORITHM Access=AK, SignedHeaders=a;b, Signature=hex` (parameters in any
    /// order, spaces after commas optional).
    pub fn parse(value: &'a str) -> Result<Self, VerifyError> {
        let (algorithm, params) = value
            .trim()
            .split_once(' ')
            .ok_or(VerifyError::MalformedAuthorization)?;
        let (mut access_key, mut signed_headers, mut signature) = (None, None, None);
        for param in params.split(',') {
            let (key, value) = param
                .trim()
                .split_once('=')
                .ok_or(VerifyError::MalformedAuthorization)?;
            let slot = match key {
                "Access" => &mut access_key,
                "SignedHeaders" => &mut signed_headers,
                "Signature" => &mut signature,
                _ => return Err(VerifyError::MalformedAuthorization),
            };
            if slot.replace(value).is_some() {
                return Err(VerifyError::MalformedAuthorization);
            }
        }
        match (access_key, signed_headers, signature) {
            (Some(access_key), Some(signed_headers), Some(signature))
                if !access_key.is_empty() && !signed_headers.is_empty() =>
            {
                Ok(Self {
                    algorithm,
                    access_key,
                    signed_headers,
                    signature,
                })
            }
            _ => Err(VerifyError::MalformedAuthorization),
        }
    }

    /// The header names listed in `SignedHeaders`.
    pub fn signed_header_names(&self) -> impl Iterator<Item = &'a str> {
        self.signed_headers.split(';')
    }
}

impl fmt::Display for Authorization<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} Access={}, SignedHeaders={}, Signature={}",
            self.algorithm, self.access_key, self.signed_headers, self.signature
        )
    }
}

impl fmt::Debug for Authorization<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Authorization")
            .field("algorithm", &self.algorithm)
            .field("access_key", &self.access_key)
            .field("signed_headers", &self.signed_headers)
            .field("signature", &"***")
            .finish()
    }
}

/// The URL's authority as the SDK puts it in `Host`: host, plus `:port` when the URL has a
/// non-default port.
pub fn host_header(url: &Url) -> Option<String> {
    let host = url.host_str()?;
    Some(match url.port() {
        Some(port) => format!("{host}:{port}"),
        None => host.to_owned(),
    })
}

/// Parses an `X-Sdk-Date` value (`YYYYMMDDTHHMMSSZ`).
pub fn parse_sdk_date(value: &str) -> Option<DateTime<Utc>> {
    NaiveDateTime::parse_from_str(value, DATE_FORMAT)
        .ok()
        .map(|naive| naive.and_utc())
}

/// Signs a request in place, as the SDK does:
///
/// 1. the URL's query is rewritten into canonical form (the SDK always sends it that way);
/// 2. `X-Sdk-Content-Sha256: UNSIGNED-PAYLOAD` is added when `Content-Type` is present and
///    does not start with `application/json` or `application/bson`;
/// 3. `X-Sdk-Date` is set to `now` unless already present (then it must parse);
/// 4. `Host` is set from the URL unless already present;
/// 5. every header whose name has no `_` is signed, and `Authorization` is set (an existing
///    one is replaced).
///
/// Headers added after this call (by the HTTP library) are not signed, which is fine: the
/// server only checks the headers named in `SignedHeaders`.
pub fn sign(
    method: &Method,
    url: &mut Url,
    headers: &mut HeaderMap,
    body: &[u8],
    access_key: &str,
    secret_key: &Secret,
    now: DateTime<Utc>,
) -> Result<(), SignError> {
    let query = url.query().map(parse_query).unwrap_or_default();
    let canonical_query_string = canonical_query(&query);
    url.set_query((!canonical_query_string.is_empty()).then_some(&canonical_query_string));

    if let Some(content_type) = headers.get(CONTENT_TYPE) {
        let content_type = content_type.as_bytes();
        if !content_type.starts_with(b"application/json")
            && !content_type.starts_with(b"application/bson")
        {
            headers.insert(
                X_SDK_CONTENT_SHA256,
                HeaderValue::from_static(UNSIGNED_PAYLOAD),
            );
        }
    }

    let sdk_date = match headers.get(X_SDK_DATE) {
        Some(value) => {
            let value = value.to_str().map_err(|_| SignError::InvalidDate)?;
            parse_sdk_date(value).ok_or(SignError::InvalidDate)?;
            value.to_owned()
        }
        None => {
            let value = now.format(DATE_FORMAT).to_string();
            headers.insert(
                X_SDK_DATE,
                HeaderValue::from_str(&value).expect("a formatted date is a valid header value"),
            );
            value
        }
    };

    if !headers.contains_key(HOST) {
        let host = host_header(url).ok_or(SignError::NoHost)?;
        headers.insert(
            HOST,
            HeaderValue::from_str(&host).map_err(|_| SignError::NoHost)?,
        );
    }

    headers.remove(AUTHORIZATION);
    let canonical = CanonicalRequest::for_signing(method, url.path(), &query, headers, body);
    let signature = signature(secret_key, &canonical.string_to_sign(&sdk_date));
    let signed_headers = canonical.signed_headers();
    let authorization = Authorization {
        algorithm: ALGORITHM,
        access_key,
        signed_headers: &signed_headers,
        signature: &signature,
    };
    let mut value = HeaderValue::from_str(&authorization.to_string())
        .expect("an authorization header made of ASCII is a valid header value");
    value.set_sensitive(true);
    headers.insert(AUTHORIZATION, value);
    Ok(())
}

/// What [`verify`] established about a correctly signed request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verified {
    /// The access key that signed it.
    pub access_key: String,
    /// Its `X-Sdk-Date`.
    pub date: DateTime<Utc>,
}

/// Verifies a received request's signature.
///
/// The canonical request is rebuilt from the method, the wire `path`, the raw query, the
/// headers named in `SignedHeaders` (in the order listed) and the body; `secret_for` maps an
/// access key to its secret key. The signature is compared in constant time. The caller
/// decides whether [`Verified::date`] is recent enough.
pub fn verify<'k>(
    method: &Method,
    path: &str,
    raw_query: Option<&str>,
    headers: &HeaderMap,
    body: &[u8],
    secret_for: impl FnOnce(&str) -> Option<&'k Secret>,
) -> Result<Verified, VerifyError> {
    let authorization = headers
        .get(AUTHORIZATION)
        .ok_or(VerifyError::MissingAuthorization)?
        .to_str()
        .map_err(|_| VerifyError::MalformedAuthorization)?;
    let authorization = Authorization::parse(authorization)?;
    if authorization.algorithm != ALGORITHM {
        return Err(VerifyError::UnsupportedAlgorithm);
    }
    if !authorization
        .signed_header_names()
        .any(|name| name == X_SDK_DATE)
    {
        return Err(VerifyError::DateNotSigned);
    }
    let sdk_date = headers
        .get(X_SDK_DATE)
        .ok_or_else(|| VerifyError::MissingHeader(X_SDK_DATE.to_owned()))?
        .to_str()
        .map_err(|_| VerifyError::InvalidDate)?;
    let date = parse_sdk_date(sdk_date).ok_or(VerifyError::InvalidDate)?;

    let mut signed = Vec::new();
    for name in authorization.signed_header_names() {
        let name = name.to_ascii_lowercase();
        if !headers.contains_key(name.as_str()) {
            return Err(VerifyError::MissingHeader(name));
        }
        let value = header_value(headers, &name);
        signed.push((name, value));
    }
    let query = raw_query.map(parse_query).unwrap_or_default();
    let canonical = CanonicalRequest::new(method, path, &query, signed, headers, body);

    let secret_key = secret_for(authorization.access_key).ok_or(VerifyError::UnknownAccessKey)?;
    if !signature_matches(
        secret_key,
        &canonical.string_to_sign(sdk_date),
        authorization.signature,
    ) {
        return Err(VerifyError::SignatureMismatch);
    }
    Ok(Verified {
        access_key: authorization.access_key.to_owned(),
        date,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const SK: &str = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmn";

    #[test]
    fn encode_keeps_unreserved_and_uses_percent_20_for_space() {
        assert_eq!(encode("aZ09-_.~"), "aZ09-_.~");
        assert_eq!(encode("my vault+x/y"), "my%20vault%2Bx%2Fy");
        assert_eq!(encode("名"), "%E5%90%8D");
    }

    #[test]
    fn canonical_uri_adds_trailing_slash_once() {
        assert_eq!(canonical_uri("/v3/p/vaults"), "/v3/p/vaults/");
        assert_eq!(canonical_uri("/v3/p/vaults/"), "/v3/p/vaults/");
        assert_eq!(canonical_uri("/"), "/");
        assert_eq!(canonical_uri(""), "/");
    }

    #[test]
    fn canonical_uri_reencodes_segments_and_splits_on_encoded_slash() {
        assert_eq!(canonical_uri("/a/x%20y%2Bz%25w~v"), "/a/x%20y%2Bz%25w~v/");
        assert_eq!(canonical_uri("/a/b%2Fc"), "/a/b/c/");
        assert_eq!(canonical_uri("/a/b%2fc/"), "/a/b/c/");
    }

    #[test]
    fn canonical_query_sorts_raw_pairs_by_code_point() {
        // Encoded, "a%C3%A9" < "a~"; raw, '~' (U+007E) < 'é' (U+00E9): raw order wins.
        let pairs = [("aé", "1"), ("a~", "2"), ("a", "z"), ("a", "b")];
        assert_eq!(canonical_query(&pairs), "a=b&a=z&a~=2&a%C3%A9=1");
        assert_eq!(canonical_query::<&str, &str>(&[]), "");
        assert_eq!(canonical_query(&[("marker", "")]), "marker=");
    }

    #[test]
    fn parse_query_decodes_percent_and_plus() {
        assert_eq!(
            parse_query("name=my%20vault&x=a+b&flag"),
            vec![
                ("name".to_owned(), "my vault".to_owned()),
                ("x".to_owned(), "a b".to_owned()),
                ("flag".to_owned(), String::new()),
            ]
        );
    }

    #[test]
    fn payload_hash_rules() {
        assert_eq!(
            payload_hash(Some(UNSIGNED_PAYLOAD), b""),
            EMPTY_PAYLOAD_SHA256
        );
        assert_eq!(payload_hash(None, b""), EMPTY_PAYLOAD_SHA256);
        assert_eq!(payload_hash(Some(UNSIGNED_PAYLOAD), b"x"), UNSIGNED_PAYLOAD);
        assert_eq!(
            payload_hash(None, b"abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    #[test]
    fn authorization_round_trips_and_rejects_garbage() {
        let value = "SDK-HMAC-SHA256 Access=AK, SignedHeaders=host;x-sdk-date, Signature=ab01";
        let parsed = Authorization::parse(value).unwrap();
        assert_eq!(parsed.access_key, "AK");
        assert_eq!(
            parsed.signed_header_names().collect::<Vec<_>>(),
            ["host", "x-sdk-date"]
        );
        assert_eq!(parsed.to_string(), value);
        assert!(!format!("{parsed:?}").contains("ab01"));
        for bad in [
            "",
            "SDK-HMAC-SHA256",
            "SDK-HMAC-SHA256 Access=AK, Signature=ab",
            "SDK-HMAC-SHA256 Access=AK, SignedHeaders=host, Signature=ab, Access=B",
            "SDK-HMAC-SHA256 Access=AK, SignedHeaders=host, Signature=ab, Extra=1",
        ] {
            assert_eq!(
                Authorization::parse(bad),
                Err(VerifyError::MalformedAuthorization),
                "{bad}"
            );
        }
    }

    #[test]
    fn signature_matches_only_the_right_key_and_hex() {
        let sk = Secret::new(SK);
        let sig = signature(&sk, "text");
        assert!(signature_matches(&sk, "text", &sig));
        assert!(!signature_matches(&Secret::new("other"), "text", &sig));
        assert!(!signature_matches(&sk, "text", "not hex"));
        assert!(!signature_matches(&sk, "text", &sig[..10]));
    }

    #[test]
    fn secret_debug_hides_the_value() {
        let secret = Secret::new("hunter2");
        assert_eq!(format!("{secret:?}"), "***");
        assert!(secret.matches("hunter2"));
        assert!(!secret.matches("hunter3"));
        assert!(!secret.matches("hunter"));
    }

    fn signed_request(body: &[u8]) -> (Url, HeaderMap) {
        let mut url =
            Url::parse("http://127.0.0.1:8080/v3/p/vaults?name=my+vault&limit=10").unwrap();
        let mut headers = HeaderMap::new();
        headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        let now = parse_sdk_date("20201231T000000Z").unwrap();
        sign(
            &Method::POST,
            &mut url,
            &mut headers,
            body,
            "AK",
            &Secret::new(SK),
            now,
        )
        .unwrap();
        (url, headers)
    }

    #[test]
    fn sign_canonicalizes_query_and_adds_date_host_authorization() {
        let (url, headers) = signed_request(b"{}");
        assert_eq!(url.query(), Some("limit=10&name=my%20vault"));
        assert_eq!(headers[X_SDK_DATE], "20201231T000000Z");
        assert_eq!(headers[HOST], "127.0.0.1:8080");
        let authorization = headers[AUTHORIZATION].to_str().unwrap();
        assert!(authorization.starts_with(
            "SDK-HMAC-SHA256 Access=AK, SignedHeaders=content-type;host;x-sdk-date, Signature="
        ));
        assert!(headers[AUTHORIZATION].is_sensitive());
    }

    #[test]
    fn verify_accepts_what_sign_produced_and_rejects_tampering() {
        let sk = Secret::new(SK);
        let (url, headers) = signed_request(b"{}");
        let ok = verify(
            &Method::POST,
            url.path(),
            url.query(),
            &headers,
            b"{}",
            |ak| (ak == "AK").then_some(&sk),
        )
        .unwrap();
        assert_eq!(ok.access_key, "AK");

        let lookup = |ak: &str| (ak == "AK").then_some(&sk);
        let tampered_body = verify(
            &Method::POST,
            url.path(),
            url.query(),
            &headers,
            b"[]",
            lookup,
        );
        assert_eq!(tampered_body, Err(VerifyError::SignatureMismatch));
        let tampered_method = verify(
            &Method::PUT,
            url.path(),
            url.query(),
            &headers,
            b"{}",
            lookup,
        );
        assert_eq!(tampered_method, Err(VerifyError::SignatureMismatch));
        let tampered_query = verify(
            &Method::POST,
            url.path(),
            Some("limit=11"),
            &headers,
            b"{}",
            lookup,
        );
        assert_eq!(tampered_query, Err(VerifyError::SignatureMismatch));
        let unknown = verify(
            &Method::POST,
            url.path(),
            url.query(),
            &headers,
            b"{}",
            |_| None,
        );
        assert_eq!(unknown, Err(VerifyError::UnknownAccessKey));

        let mut missing = headers.clone();
        missing.remove(CONTENT_TYPE);
        let missing = verify(
            &Method::POST,
            url.path(),
            url.query(),
            &missing,
            b"{}",
            lookup,
        );
        assert_eq!(
            missing,
            Err(VerifyError::MissingHeader("content-type".into()))
        );
    }

    #[test]
    fn verify_requires_a_signed_date() {
        let sk = Secret::new(SK);
        let mut headers = HeaderMap::new();
        headers.insert(X_SDK_DATE, HeaderValue::from_static("20201231T000000Z"));
        headers.insert(
            AUTHORIZATION,
            HeaderValue::from_static("SDK-HMAC-SHA256 Access=AK, SignedHeaders=host, Signature=00"),
        );
        let result = verify(&Method::GET, "/", None, &headers, b"", |_| Some(&sk));
        assert_eq!(result, Err(VerifyError::DateNotSigned));
    }

    #[test]
    fn sign_rejects_a_malformed_existing_date() {
        let mut url = Url::parse("https://example.com/").unwrap();
        let mut headers = HeaderMap::new();
        headers.insert(X_SDK_DATE, HeaderValue::from_static("2020-12-31"));
        let result = sign(
            &Method::GET,
            &mut url,
            &mut headers,
            b"",
            "AK",
            &Secret::new(SK),
            Utc::now(),
        );
        assert_eq!(result, Err(SignError::InvalidDate));
    }
}
