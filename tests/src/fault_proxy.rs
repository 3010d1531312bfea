//! An HTTP proxy that stands between a provider and its (emulated) cloud and
//! injects faults: requests whose body matches a rule get the rule's answer, the
//! rest are relayed unchanged. Each connection carries one request (the proxy
//! answers `Connection: close`).

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};

/// Decides, per request body, whether to answer with a fault.
pub type Rule = Box<dyn FnMut(&str) -> Option<(u16, String)> + Send>;

/// A running proxy.
pub struct FaultProxy {
    /// Its port on 127.0.0.1.
    pub port: u16,
    /// Bodies of the requests that got a fault.
    pub faulted: Arc<Mutex<Vec<String>>>,
}

fn read_request(stream: &mut TcpStream) -> Option<Vec<u8>> {
    let mut data = Vec::new();
    let mut buf = [0u8; 8192];
    loop {
        if let Some(end) = data.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&data[..end]).to_ascii_lowercase();
            let length: usize = head
                .lines()
                .find_map(|l| l.strip_prefix("content-length:"))
                .and_then(|v| v.trim().parse().ok())
                .unwrap_or(0);
            while data.len() < end + 4 + length {
                let n = stream.read(&mut buf).ok()?;
                if n == 0 {
                    return None;
                }
                data.extend_from_slice(&buf[..n]);
            }
            return Some(data);
        }
        let n = stream.read(&mut buf).ok()?;
        if n == 0 {
            return None;
        }
        data.extend_from_slice(&buf[..n]);
    }
}

/// Rewrites the response head so the client does not reuse the connection.
fn with_close(response: &[u8]) -> Vec<u8> {
    let Some(end) = response.windows(4).position(|w| w == b"\r\n\r\n") else {
        return response.to_vec();
    };
    let head = String::from_utf8_lossy(&response[..end]);
    let mut out: String = head
        .lines()
        .filter(|l| !l.to_ascii_lowercase().starts_with("connection:"))
        .map(|l| format!("{l}\r\n"))
        .collect();
    out.push_str("Connection: close\r\n\r\n");
    let mut bytes = out.into_bytes();
    bytes.extend_from_slice(&response[end + 4..]);
    bytes
}

fn handle(
    mut client: TcpStream,
    upstream: u16,
    rule: &Mutex<Rule>,
    faulted: &Mutex<Vec<String>>,
    whole: bool,
) {
    let Some(request) = read_request(&mut client) else {
        return;
    };
    let body_start = request
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map(|p| p + 4)
        .unwrap_or(request.len());
    let body = if whole {
        String::from_utf8_lossy(&request).into_owned()
    } else {
        String::from_utf8_lossy(&request[body_start..]).into_owned()
    };
    let fault = rule.lock().ok().and_then(|mut r| r(&body));
    let response = match fault {
        Some((status, xml)) => {
            if let Ok(mut f) = faulted.lock() {
                f.push(body);
            }
            format!(
                "HTTP/1.1 {status} Fault\r\nContent-Type: text/xml\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{xml}",
                xml.len()
            )
            .into_bytes()
        }
        None => {
            let Ok(mut server) = TcpStream::connect(("127.0.0.1", upstream)) else {
                return;
            };
            // Ask the server to close after answering, so reading to EOF ends.
            let head = String::from_utf8_lossy(&request[..body_start]);
            let head: String = head
                .lines()
                .filter(|l| !l.is_empty() && !l.to_ascii_lowercase().starts_with("connection:"))
                .map(|l| format!("{l}\r\n"))
                .collect();
            let mut forwarded = format!("{head}Connection: close\r\n\r\n").into_bytes();
            forwarded.extend_from_slice(&request[body_start..]);
            if server.write_all(&forwarded).is_err() {
                return;
            }
            let mut response = Vec::new();
            let _ = server.read_to_end(&mut response);
            with_close(&response)
        }
    };
    let _ = client.write_all(&response);
}

impl FaultProxy {
    /// Starts a proxy in front of `127.0.0.1:upstream`.
    pub fn start(upstream: u16, rule: Rule) -> FaultProxy {
        FaultProxy::start_with(upstream, rule, false)
    }

    /// [`FaultProxy::start`] whose rule sees each whole request (request line,
    /// headers and body), so it can fault a GET by its path; `faulted` then holds
    /// whole requests.
    pub fn start_on_requests(upstream: u16, rule: Rule) -> FaultProxy {
        FaultProxy::start_with(upstream, rule, true)
    }

    fn start_with(upstream: u16, rule: Rule, whole: bool) -> FaultProxy {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind the proxy");
        let port = listener.local_addr().expect("proxy address").port();
        let rule = Arc::new(Mutex::new(rule));
        let faulted = Arc::new(Mutex::new(Vec::new()));
        let seen = faulted.clone();
        std::thread::spawn(move || {
            for client in listener.incoming().flatten() {
                let (rule, seen) = (rule.clone(), seen.clone());
                std::thread::spawn(move || handle(client, upstream, &rule, &seen, whole));
            }
        });
        FaultProxy { port, faulted }
    }
}

/// EC2's error document for `code`.
pub fn ec2_error(code: &str, message: &str) -> String {
    format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Response><Errors><Error><Code>{code}</Code><Message>{message}</Message></Error></Errors><RequestID>fault-proxy</RequestID></Response>"
    )
}
