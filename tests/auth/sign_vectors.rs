//! Every known-answer vector of the official SDK's signer (`tests/data/sign_vectors.json`):
//! the client reproduces the canonical request, the string to sign and the `Authorization`
//! header, and the emulator accepts the requests the SDK really sent.

use std::fmt::Write as _;

use cbrflow::cbr::sign::{self, CanonicalRequest, Secret};
use cbrflow::emulator::auth::{AuthConfig, check};
use chrono::{DateTime, Duration, Utc};
use reqwest::Method;
use reqwest::header::{HeaderMap, HeaderName, HeaderValue};
use serde_json::Value;
use url::Url;

fn document() -> Value {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/sign_vectors.json");
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

fn sdk_date(document: &Value) -> DateTime<Utc> {
    sign::parse_sdk_date(document["x_sdk_date"].as_str().unwrap()).unwrap()
}

fn text(value: &Value) -> &str {
    value.as_str().unwrap()
}

/// Query parameters as the SDK's signer sees them: ints to strings, booleans to
/// `true`/`false`, lists expanded into repeated pairs.
fn query_pairs(params: &Value) -> Vec<(String, String)> {
    let mut pairs = Vec::new();
    for pair in params.as_array().unwrap() {
        let key = text(&pair[0]).to_owned();
        let mut push = |value: &Value| {
            let value = match value {
                Value::String(s) => s.clone(),
                Value::Bool(b) => b.to_string(),
                other => other.to_string(),
            };
            pairs.push((key.clone(), value));
        };
        match &pair[1] {
            Value::Array(items) => items.iter().for_each(&mut push),
            other => push(other),
        }
    }
    pairs
}

fn header_map<'a>(headers: impl IntoIterator<Item = (&'a str, &'a str)>) -> HeaderMap {
    let mut map = HeaderMap::new();
    for (name, value) in headers {
        map.append(
            HeaderName::from_bytes(name.as_bytes()).unwrap(),
            HeaderValue::from_str(value).unwrap(),
        );
    }
    map
}

fn body(vector: &Value) -> Vec<u8> {
    vector["body"]
        .as_str()
        .map(|body| body.as_bytes().to_vec())
        .unwrap_or_default()
}

fn expect(problems: &mut String, what: &str, got: &str, want: &str) {
    if got != want {
        let _ = writeln!(problems, "  {what}:\n    got  {got:?}\n    want {want:?}");
    }
}

/// Checks one vector; returns what differs.
fn check_vector(vector: &Value, now: DateTime<Utc>) -> Result<(), String> {
    let mut problems = String::new();
    let method = Method::from_bytes(text(&vector["method"]).as_bytes()).unwrap();
    let body = body(vector);
    let ak = text(&vector["ak"]);
    let sk = Secret::new(text(&vector["sk"]));
    let pairs = query_pairs(&vector["query_params"]);
    expect(
        &mut problems,
        "canonical query",
        &sign::canonical_query(&pairs),
        text(&vector["canonical_query_string"]),
    );

    // The request as a caller builds it: parameters in the given order, form-encoded.
    let mut url = Url::parse(&format!(
        "{}://{}{}",
        text(&vector["scheme"]),
        text(&vector["host"]),
        text(&vector["path"])
    ))
    .unwrap();
    if !pairs.is_empty() {
        let mut query = url.query_pairs_mut();
        for (key, value) in &pairs {
            query.append_pair(key, value);
        }
    }
    let input = vector["input_headers"].as_object().unwrap();
    let mut headers = header_map(input.iter().map(|(k, v)| (k.as_str(), text(v))));
    sign::sign(&method, &mut url, &mut headers, &body, ak, &sk, now)
        .map_err(|error| format!("  sign failed: {error}"))?;

    let wire = Url::parse(text(&vector["url"])).unwrap();
    expect(&mut problems, "request URL", url.as_str(), wire.as_str());
    let canonical = CanonicalRequest::for_signing(&method, url.path(), &pairs, &headers, &body);
    expect(
        &mut problems,
        "canonical request",
        &canonical.to_string(),
        text(&vector["canonical_request"]),
    );
    expect(
        &mut problems,
        "signed headers",
        &canonical.signed_headers(),
        text(&vector["signed_headers"]),
    );
    expect(
        &mut problems,
        "string to sign",
        &canonical.string_to_sign(text(&vector["headers"]["X-Sdk-Date"])),
        text(&vector["string_to_sign"]),
    );
    let expected_headers = vector["headers"].as_object().unwrap();
    for (name, value) in expected_headers {
        let got = headers
            .get(name)
            .map(|v| v.to_str().unwrap())
            .unwrap_or("<missing>");
        expect(&mut problems, &format!("header {name}"), got, text(value));
    }
    expect(
        &mut problems,
        "header count",
        &headers.len().to_string(),
        &expected_headers.len().to_string(),
    );
    let authorization = headers.get("authorization").map(|v| v.to_str().unwrap());
    expect(
        &mut problems,
        "authorization",
        authorization.unwrap_or("<missing>"),
        text(&vector["expected_authorization"]),
    );

    // The receiving side: the signer's verifier and the emulator both accept it.
    let verified = sign::verify(&method, url.path(), url.query(), &headers, &body, |key| {
        (key == ak).then_some(&sk)
    });
    if let Err(error) = verified {
        let _ = writeln!(problems, "  verify failed: {error}");
    }
    let config = AuthConfig::AkSk {
        ak: ak.to_owned(),
        sk: sk.clone(),
    };
    let target = match url.query() {
        Some(query) => format!("{}?{query}", url.path()),
        None => url.path().to_owned(),
    };
    if let Err(rejection) = check(
        &config,
        &method,
        &target.parse().unwrap(),
        &headers,
        &body,
        now,
    ) {
        let _ = writeln!(problems, "  emulator rejected it: {}", rejection.error_msg);
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(problems)
    }
}

#[test]
fn every_signing_vector_matches_the_sdk() {
    let document = document();
    let now = sdk_date(&document);
    let vectors = document["vectors"].as_array().unwrap();
    assert!(vectors.len() >= 14, "the vector file lost entries");
    let failures: Vec<String> = vectors
        .iter()
        .filter_map(|vector| {
            check_vector(vector, now)
                .err()
                .map(|problems| format!("{}:\n{problems}", text(&vector["name"])))
        })
        .collect();
    assert!(
        failures.is_empty(),
        "{} of {} vectors differ:\n{}",
        failures.len(),
        vectors.len(),
        failures.join("\n")
    );
}

fn e2e_entries(document: &Value) -> &Vec<Value> {
    let entries = document["sdk_e2e"].as_array().unwrap();
    assert!(entries.len() >= 3, "the vector file lost sdk_e2e entries");
    entries
}

fn received(entry: &Value) -> (Method, axum::http::Uri, HeaderMap, Vec<u8>) {
    let headers = header_map(
        entry["received_headers"]
            .as_array()
            .unwrap()
            .iter()
            .map(|pair| (text(&pair[0]), text(&pair[1]))),
    );
    let method = Method::from_bytes(text(&entry["method"]).as_bytes()).unwrap();
    let uri = text(&entry["request_target"]).parse().unwrap();
    (
        method,
        uri,
        headers,
        text(&entry["body"]).as_bytes().to_vec(),
    )
}

#[test]
fn requests_captured_from_the_sdk_are_accepted_by_the_emulator() {
    let document = document();
    let date = sdk_date(&document);
    for entry in e2e_entries(&document) {
        let operation = text(&entry["operation"]);
        let (method, uri, headers, body) = received(entry);
        let sk = Secret::new(text(&entry["sk"]));
        let config = AuthConfig::AkSk {
            ak: text(&entry["ak"]).to_owned(),
            sk: sk.clone(),
        };
        let check_at = |now| check(&config, &method, &uri, &headers, &body, now);
        assert_eq!(check_at(date + Duration::minutes(5)), Ok(()), "{operation}");
        assert_eq!(
            check_at(date - Duration::minutes(14)),
            Ok(()),
            "{operation}"
        );
        let stale = check_at(date + Duration::minutes(16)).unwrap_err();
        assert_eq!(stale.status, 401, "{operation}");
        assert!(
            stale.error_msg.contains("15 minutes"),
            "{}",
            stale.error_msg
        );

        let wrong_key = AuthConfig::AkSk {
            ak: text(&entry["ak"]).to_owned(),
            sk: Secret::new("another secret key"),
        };
        let rejected = check(&wrong_key, &method, &uri, &headers, &body, date).unwrap_err();
        assert_eq!(rejected.error_code, "APIGW.0301", "{operation}");
        assert!(!rejected.error_msg.contains(sk.expose()));

        let mut tampered = body.clone();
        tampered.extend_from_slice(b" ");
        if !body.is_empty() {
            assert!(check(&config, &method, &uri, &headers, &tampered, date).is_err());
        }
    }
}

#[test]
fn the_client_signs_the_sdks_requests_identically() {
    let document = document();
    let date = sdk_date(&document);
    for entry in e2e_entries(&document) {
        let operation = text(&entry["operation"]);
        let (method, uri, received_headers, body) = received(entry);
        let authorization = received_headers["authorization"].to_str().unwrap();
        let authorization = sign::Authorization::parse(authorization).unwrap();
        // Only what the SDK had when it signed; the HTTP library added the rest afterwards.
        let mut headers = HeaderMap::new();
        for name in authorization.signed_header_names() {
            headers.insert(
                HeaderName::from_bytes(name.as_bytes()).unwrap(),
                received_headers[name].clone(),
            );
        }
        let host = received_headers["host"].to_str().unwrap();
        let mut url = Url::parse(&format!("http://{host}{uri}")).unwrap();
        let sk = Secret::new(text(&entry["sk"]));
        sign::sign(
            &method,
            &mut url,
            &mut headers,
            &body,
            text(&entry["ak"]),
            &sk,
            date,
        )
        .unwrap();
        assert_eq!(
            headers["authorization"].to_str().unwrap(),
            text(&entry["expected_authorization"]),
            "{operation}"
        );
        assert_eq!(url.path(), uri.path(), "{operation}");
        assert_eq!(url.query(), uri.query(), "{operation}");
    }
}
