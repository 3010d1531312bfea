//! Calling AWS Query APIs (EC2, STS): form-encoded POSTs signed with SigV4 inside
//! the component, XML answers, and AWS errors turned into typed errors.

use aloft_provider_sdk::http::Request;
use aloft_provider_sdk::signing::{AwsCredentials, SigV4Request, sigv4_authorization, uri_encode};
use aloft_provider_sdk::types::{ErrorKind, ProviderError};
use aloft_provider_sdk::{credentials, errors};

use crate::classify;

/// EC2's API version.
const EC2_VERSION: &str = "2016-11-15";
/// STS's API version.
const STS_VERSION: &str = "2011-06-15";

/// The credentials lent by the host (`AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`,
/// `AWS_SESSION_TOKEN`, from the environment or `~/.aws/credentials`).
pub fn credentials() -> Result<AwsCredentials, ProviderError> {
    let access_key_id = credentials::get("AWS_ACCESS_KEY_ID");
    let secret_access_key = credentials::get("AWS_SECRET_ACCESS_KEY");
    match (access_key_id, secret_access_key) {
        (Some(access_key_id), Some(secret_access_key)) => Ok(AwsCredentials {
            access_key_id,
            secret_access_key,
            session_token: credentials::get("AWS_SESSION_TOKEN"),
        }),
        _ => Err(errors::auth(
            "NoCredentials",
            "no AWS credentials: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or a profile in ~/.aws/credentials",
        )),
    }
}

/// A parsed XML answer (owned text, parsed on demand).
pub struct Answer {
    /// The body.
    pub xml: String,
}

impl Answer {
    /// Runs `f` over the parsed document.
    pub fn with<T>(
        &self,
        f: impl FnOnce(roxmltree::Node<'_, '_>) -> T,
    ) -> Result<T, ProviderError> {
        let doc = roxmltree::Document::parse(&self.xml)
            .map_err(|e| errors::invalid("BadXml", &format!("unreadable AWS answer: {e}")))?;
        Ok(f(doc.root_element()))
    }
}

/// The text of the first descendant of `node` named `name` (direct children
/// first, so nested structures with the same tag are not picked by mistake).
pub fn child_text(node: roxmltree::Node<'_, '_>, name: &str) -> Option<String> {
    node.children()
        .find(|n| n.has_tag_name(name))
        .and_then(|n| n.text())
        .map(str::to_string)
}

/// Calls EC2's `action` in `region`.
pub fn ec2(
    region: &str,
    action: &str,
    params: &[(String, String)],
) -> Result<Answer, ProviderError> {
    let host = format!("ec2.{region}.amazonaws.com");
    call(&host, region, "ec2", action, EC2_VERSION, params).map_err(|e| in_region(e, region))
}

/// Calls STS's `action` (global endpoint).
pub fn sts(action: &str, params: &[(String, String)]) -> Result<Answer, ProviderError> {
    call(
        "sts.amazonaws.com",
        "us-east-1",
        "sts",
        action,
        STS_VERSION,
        params,
    )
}

fn in_region(mut error: ProviderError, region: &str) -> ProviderError {
    if error.region.is_none() {
        error.region = Some(region.to_string());
    }
    error
}

/// Now, as ISO 8601 in UTC (`2026-11-29T00:00:00Z`).
pub fn iso_now() -> String {
    let now = time::OffsetDateTime::from(std::time::SystemTime::now());
    now.format(time::macros::format_description!(
        "[year]-[month]-[day]T[hour]:[minute]:[second]Z"
    ))
    .unwrap_or_default()
}

fn amz_date() -> String {
    let now = time::OffsetDateTime::from(std::time::SystemTime::now());
    now.format(time::macros::format_description!(
        "[year][month][day]T[hour][minute][second]Z"
    ))
    .unwrap_or_default()
}

fn call(
    host: &str,
    region: &str,
    service: &str,
    action: &str,
    version: &str,
    params: &[(String, String)],
) -> Result<Answer, ProviderError> {
    let creds = credentials()?;
    let mut form = vec![
        format!("Action={}", uri_encode(action)),
        format!("Version={}", uri_encode(version)),
    ];
    form.extend(
        params
            .iter()
            .map(|(k, v)| format!("{}={}", uri_encode(k), uri_encode(v))),
    );
    let body = form.join("&");
    let date = amz_date();
    let content_type = "application/x-www-form-urlencoded; charset=utf-8";
    let mut headers: Vec<(&str, &str)> = vec![
        ("content-type", content_type),
        ("host", host),
        ("x-amz-date", &date),
    ];
    if let Some(token) = &creds.session_token {
        headers.push(("x-amz-security-token", token));
    }
    let authorization = sigv4_authorization(
        &SigV4Request {
            method: "POST",
            path: "/",
            query: &[],
            headers: &headers,
            payload: body.as_bytes(),
        },
        &creds,
        region,
        service,
        &date,
    );
    let mut request = Request::post(&format!("https://{host}/"));
    for (name, value) in &headers {
        request = request.header(name, value);
    }
    let response = request
        .header("authorization", &authorization)
        .body(body.into_bytes())
        .send()?;
    let xml = response.text();
    if (200..300).contains(&response.status) {
        return Ok(Answer { xml });
    }
    Err(aws_error(&xml, response.status))
}

/// The typed error for an AWS error answer (`<Errors><Error><Code>` for EC2,
/// `<ErrorResponse><Error><Code>` for STS).
pub fn aws_error(xml: &str, status: u16) -> ProviderError {
    let parsed = roxmltree::Document::parse(xml).ok().and_then(|doc| {
        let error = doc.descendants().find(|n| n.has_tag_name("Error"))?;
        Some((
            child_text(error, "Code").unwrap_or_default(),
            child_text(error, "Message").unwrap_or_default(),
        ))
    });
    let (code, message) = parsed.unwrap_or_else(|| {
        (
            format!("Http{status}"),
            xml.chars().take(200).collect::<String>(),
        )
    });
    ProviderError {
        kind: classify::kind(&code, status),
        code,
        message,
        region: None,
        zone: None,
    }
}

/// True for the error kinds a caller may treat as "not there".
pub fn is_not_found(error: &ProviderError) -> bool {
    error.kind == ErrorKind::Invalid && error.code.ends_with(".NotFound")
}

/// Appends `Filter.N.Name` / `Filter.N.Value.M` parameters.
pub fn filters(params: &mut Vec<(String, String)>, filters: &[(&str, Vec<String>)]) {
    for (i, (name, values)) in filters.iter().enumerate() {
        params.push((format!("Filter.{}.Name", i + 1), name.to_string()));
        for (j, value) in values.iter().enumerate() {
            params.push((format!("Filter.{}.Value.{}", i + 1, j + 1), value.clone()));
        }
    }
}

/// `(key, value)` as owned parameter pairs.
pub fn p(key: impl Into<String>, value: impl Into<String>) -> (String, String) {
    (key.into(), value.into())
}
