//! The balancer against real loopback HTTP servers (hyper) as replicas and real
//! clients (reqwest, hyper): no mocks. Waits poll with a deadline; nothing sleeps
//! a fixed time to wait for state.

use std::collections::HashMap;
use std::future::Future;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::combinators::UnsyncBoxBody;
use http_body_util::{BodyExt, Full, StreamBody};
use hyper::body::{Frame, Incoming};
use hyper::header::{HeaderMap, HeaderValue};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tokio::task::JoinHandle;

use super::inflight::{InFlight, Load};
use super::proxy::{MAX_REPLAY_BODY, add_forwarded, strip_hop_by_hop};
use super::rate::RequestRate;
use super::*;

type BoxError = Box<dyn std::error::Error + Send + Sync>;
type TestBody = UnsyncBoxBody<Bytes, BoxError>;

/// A replica: an HTTP/1.1 server on a loopback port, answering with a handler.
struct TestReplica {
    addr: SocketAddr,
    task: JoinHandle<()>,
}

impl Drop for TestReplica {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl TestReplica {
    async fn start<F, Fut>(handler: F) -> TestReplica
    where
        F: Fn(Request<Incoming>) -> Fut + Clone + Send + Sync + 'static,
        Fut: Future<Output = Response<TestBody>> + Send + 'static,
    {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let task = tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    continue;
                };
                let handler = handler.clone();
                tokio::spawn(async move {
                    let service = service_fn(move |request| {
                        let answer = handler(request);
                        async move { Ok::<_, std::convert::Infallible>(answer.await) }
                    });
                    let _ = http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        TestReplica { addr, task }
    }

    fn replica(&self, id: u64) -> Replica {
        Replica {
            id,
            url: format!("http://{}", self.addr),
        }
    }
}

fn text(body: impl Into<Bytes>) -> Response<TestBody> {
    Response::new(
        Full::new(body.into())
            .map_err(|never| match never {})
            .boxed_unsync(),
    )
}

/// A replica answering its name.
async fn named(name: &'static str) -> TestReplica {
    TestReplica::start(move |_| async move { text(name) }).await
}

/// A replica answering its name, holding requests to `/slow` until `gate` lets
/// one through.
async fn holding(name: &'static str, gate: &Arc<Semaphore>) -> TestReplica {
    let gate = gate.clone();
    TestReplica::start(move |request: Request<Incoming>| {
        let gate = gate.clone();
        async move {
            if request.uri().path() == "/slow" {
                gate.acquire().await.unwrap().forget();
            }
            text(name)
        }
    })
    .await
}

/// A replica answering with the request's body.
async fn echo() -> TestReplica {
    TestReplica::start(|request: Request<Incoming>| async move {
        text(request.into_body().collect().await.unwrap().to_bytes())
    })
    .await
}

/// One step of a scripted response body.
#[derive(Clone, Copy)]
enum Step {
    Chunk(&'static str),
    Wait(Duration),
    /// The body fails: the replica's server cuts the connection.
    Fail,
    /// The body never goes on.
    Hang,
}

fn scripted(steps: Vec<Step>) -> TestBody {
    let frames = futures::stream::unfold(steps.into_iter(), |mut steps| async move {
        loop {
            match steps.next()? {
                Step::Chunk(chunk) => {
                    return Some((Ok(Frame::data(Bytes::from_static(chunk.as_bytes()))), steps));
                }
                Step::Wait(pause) => tokio::time::sleep(pause).await,
                Step::Fail => return Some((Err(BoxError::from("replica failed")), steps)),
                Step::Hang => std::future::pending::<()>().await,
            }
        }
    });
    StreamBody::new(frames).boxed_unsync()
}

/// A replica answering every request with the same scripted body.
async fn scripted_replica(steps: Vec<Step>) -> TestReplica {
    TestReplica::start(move |_| {
        let steps = steps.clone();
        async move { Response::new(scripted(steps)) }
    })
    .await
}

/// A URL where nothing listens.
async fn closed_port(id: u64) -> Replica {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    Replica {
        id,
        url: format!("http://{addr}"),
    }
}

fn config(policy: Policy) -> BalancerConfig {
    BalancerConfig {
        bind: "127.0.0.1:0".parse().unwrap(),
        policy,
        tls: None,
        stream_timeout: Duration::from_secs(10),
        retries: DEFAULT_RETRIES,
    }
}

async fn balancer(policy: Policy, replicas: Vec<Replica>) -> Balancer {
    let balancer = Balancer::start(config(policy)).await.unwrap();
    balancer.set_replicas(replicas);
    balancer
}

/// A client that gives up after five seconds, so that a regression fails a test
/// instead of hanging it.
fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(5))
        .build()
        .unwrap()
}

fn url(balancer: &Balancer, path: &str) -> String {
    format!("http://{}{path}", balancer.local_addr())
}

async fn get(balancer: &Balancer, path: &str) -> (StatusCode, String) {
    let response = client().get(url(balancer, path)).send().await.unwrap();
    let status = response.status();
    (status, response.text().await.unwrap())
}

/// Polls `done` until it holds, failing after two seconds.
async fn eventually(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(2);
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

async fn all_back_to_zero(balancer: &Balancer) {
    eventually("in-flight counts back to zero", || {
        balancer.in_flight().values().all(|&n| n == 0)
    })
    .await;
}

#[test]
fn policy_names() {
    assert_eq!(Policy::from_name("round_robin"), Some(Policy::RoundRobin));
    assert_eq!(Policy::from_name("least_load"), Some(Policy::LeastLoad));
    assert_eq!(
        Policy::from_name("instance_aware_least_load"),
        Some(Policy::LeastLoad)
    );
    assert_eq!(Policy::from_name("random"), None);
}

#[test]
fn least_load_ties_take_turns_and_exclusions_hold() {
    let loads = [1u64, 0, 0, 0];
    let mut cursor = 0;
    let picks: Vec<usize> = (0..6)
        .map(|_| {
            Policy::LeastLoad
                .pick(4, &mut cursor, |_| true, |i| loads[i])
                .unwrap()
        })
        .collect();
    assert_eq!(picks, [1, 2, 3, 1, 2, 3]);
    let mut cursor = 0;
    let picks: Vec<usize> = (0..4)
        .map(|_| {
            Policy::RoundRobin
                .pick(3, &mut cursor, |i| i != 1, |_| 0)
                .unwrap()
        })
        .collect();
    assert_eq!(picks, [0, 2, 0, 2]);
    assert_eq!(
        Policy::LeastLoad.pick(2, &mut cursor, |_| false, |_| 0),
        None
    );
    assert_eq!(
        Policy::RoundRobin.pick(0, &mut cursor, |_| true, |_| 0),
        None
    );
}

#[test]
fn least_load_reads_each_load_once() {
    // Counts fall while a pick runs (requests end without the lock): every
    // reading here is lower than the one before.
    let readings = std::cell::Cell::new(100u64);
    let falling = |_| {
        readings.set(readings.get() - 1);
        readings.get()
    };
    let mut cursor = 0;
    for n in 1..5 {
        assert!(
            Policy::LeastLoad
                .pick(n, &mut cursor, |_| true, falling)
                .is_some()
        );
    }
}

#[test]
fn in_flight_guard_counts_exactly() {
    let load = Arc::new(Load::default());
    let guards: Vec<InFlight> = (0..3).map(|_| InFlight::new(&load)).collect();
    assert_eq!(load.get(), 3);
    drop(guards);
    assert_eq!(load.get(), 0);
}

#[test]
fn request_rate_window_and_ring() {
    let rate = RequestRate::new();
    let base = Instant::now();
    for i in 0..60 {
        rate.record_at(base + Duration::from_secs(1) + Duration::from_millis(i * 10));
    }
    let at = base + Duration::from_secs(2);
    assert_eq!(rate.per_second_at(at, Duration::from_secs(10)), 6.0);
    assert_eq!(rate.per_second_at(at, Duration::from_millis(500)), 0.0);
    assert_eq!(rate.per_second_at(at, Duration::ZERO), 0.0);
    // Five minutes on, the slot of the first ten arrivals is reused (they no
    // longer count), the other fifty are still within five minutes.
    let later = base + Duration::from_millis(301_050);
    rate.record_at(later);
    assert_eq!(rate.per_second_at(later, Duration::from_secs(1)), 1.0);
    let five_minutes = rate.per_second_at(later, Duration::from_secs(3600));
    assert!((five_minutes - 51.0 / 300.0).abs() < 1e-9, "{five_minutes}");
    let much_later = base + Duration::from_secs(400);
    let five_minutes = rate.per_second_at(much_later, Duration::from_secs(3600));
    assert!((five_minutes - 1.0 / 300.0).abs() < 1e-9, "{five_minutes}");
    assert_eq!(rate.total(), 61);
}

#[test]
fn hop_by_hop_headers_are_dropped_and_forwarding_added() {
    let mut headers = HeaderMap::new();
    for (name, value) in [
        ("connection", "keep-alive, x-private"),
        ("keep-alive", "timeout=5"),
        ("x-private", "secret"),
        ("upgrade", "websocket"),
        ("te", "trailers"),
        ("proxy-authorization", "Basic eA=="),
        ("content-type", "application/json"),
        ("x-forwarded-for", "10.0.0.1"),
    ] {
        headers.insert(name, HeaderValue::from_static(value));
    }
    strip_hop_by_hop(&mut headers);
    add_forwarded(&mut headers, "127.0.0.1:5000".parse().unwrap(), false);
    let mut names: Vec<&str> = headers.keys().map(|name| name.as_str()).collect();
    names.sort();
    assert_eq!(
        names,
        ["content-type", "x-forwarded-for", "x-forwarded-proto"]
    );
    assert_eq!(headers["x-forwarded-for"], "10.0.0.1, 127.0.0.1");
    assert_eq!(headers["x-forwarded-proto"], "http");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn round_robin_reaches_both_evenly() {
    let (a, b) = (named("a").await, named("b").await);
    let balancer = balancer(Policy::RoundRobin, vec![a.replica(1), b.replica(2)]).await;
    let mut answers: HashMap<String, usize> = HashMap::new();
    for _ in 0..10 {
        let (status, body) = get(&balancer, "/").await;
        assert_eq!(status, StatusCode::OK);
        *answers.entry(body).or_default() += 1;
    }
    assert_eq!(answers, HashMap::from([("a".into(), 5), ("b".into(), 5)]));
    assert_eq!(balancer.in_flight(), [(1, 0), (2, 0)].into());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn least_load_sends_to_the_idle_replica() {
    let gate = Arc::new(Semaphore::new(0));
    let (a, b) = (holding("a", &gate).await, holding("b", &gate).await);
    let balancer = Arc::new(balancer(Policy::LeastLoad, vec![a.replica(1), b.replica(2)]).await);
    let slow = tokio::spawn({
        let balancer = balancer.clone();
        async move { get(&balancer, "/slow").await }
    });
    eventually("the slow request in flight", || {
        balancer.in_flight().values().sum::<u64>() == 1
    })
    .await;
    let in_flight = balancer.in_flight();
    let busy = *in_flight.iter().find(|(_, n)| **n == 1).unwrap().0;
    let idle_name = if busy == 1 { "b" } else { "a" };
    for _ in 0..6 {
        assert_eq!(
            get(&balancer, "/").await,
            (StatusCode::OK, idle_name.into())
        );
    }
    gate.add_permits(1);
    let (status, body) = slow.await.unwrap();
    assert_eq!(status, StatusCode::OK);
    assert_ne!(body, idle_name);
    all_back_to_zero(&balancer).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn least_load_under_concurrency() {
    let (a, b) = (named("a").await, named("b").await);
    let balancer = balancer(Policy::LeastLoad, vec![a.replica(1), b.replica(2)]).await;
    let client = client();
    let requests = (0..300).map(|_| {
        let request = client.get(url(&balancer, "/")).send();
        async move { request.await.unwrap().status() }
    });
    let statuses = futures::future::join_all(requests).await;
    assert!(
        statuses.iter().all(|s| *s == StatusCode::OK),
        "{statuses:?}"
    );
    all_back_to_zero(&balancer).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_replica_answers_503() {
    let a = named("a").await;
    let balancer = balancer(Policy::LeastLoad, vec![]).await;
    let (status, body) = get(&balancer, "/").await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(body, "no replica of this service is ready\n");
    balancer.set_replicas(vec![a.replica(1)]);
    assert_eq!(get(&balancer, "/").await, (StatusCode::OK, "a".into()));
    balancer.set_replicas(vec![]);
    assert_eq!(get(&balancer, "/").await.0, StatusCode::SERVICE_UNAVAILABLE);
    assert!(balancer.in_flight().is_empty());
    assert_eq!(balancer.requests_total(), 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn closed_port_answers_502() {
    let balancer = balancer(Policy::RoundRobin, vec![closed_port(1).await]).await;
    let (status, body) = get(&balancer, "/").await;
    assert_eq!(status, StatusCode::BAD_GATEWAY);
    assert_eq!(
        body,
        "no replica of this service could be reached (1 tried)\n"
    );
    assert_eq!(balancer.in_flight(), [(1, 0)].into());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retries_on_another_replica() {
    let live = echo().await;
    let balancer = balancer(
        Policy::RoundRobin,
        vec![closed_port(1).await, live.replica(2)],
    )
    .await;
    let client = client();
    for i in 0..10 {
        let sent = format!("request {i}");
        let response = client
            .post(url(&balancer, "/"))
            .body(sent.clone())
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        assert_eq!(response.text().await.unwrap(), sent);
        let response = client.get(url(&balancer, "/")).send().await.unwrap();
        assert_eq!(response.status(), StatusCode::OK);
    }
    assert_eq!(balancer.in_flight(), [(1, 0), (2, 0)].into());
    // The controller hears of the replica that could not be reached, once.
    assert_eq!(balancer.take_unreachable(), vec![1]);
    assert!(balancer.take_unreachable().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn large_or_chunked_bodies_are_not_retried() {
    let live = echo().await;
    let balancer = balancer(
        Policy::RoundRobin,
        vec![closed_port(1).await, live.replica(2)],
    )
    .await;
    // Round robin starts with the closed replica, then the live one, in turn.
    let big = vec![b'x'; MAX_REPLAY_BODY as usize + 1];
    let response = client()
        .post(url(&balancer, "/"))
        .body(big.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::BAD_GATEWAY);
    let response = client()
        .post(url(&balancer, "/"))
        .body(big.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.bytes().await.unwrap().len(), big.len());

    // A chunked body (no Content-Length), sent with hyper.
    let hyper_client =
        hyper_util::client::legacy::Client::builder(TokioExecutor::new()).build_http::<TestBody>();
    for expected in [StatusCode::BAD_GATEWAY, StatusCode::OK] {
        let body = scripted(vec![Step::Chunk("chunked "), Step::Chunk("body")]);
        let request = Request::post(url(&balancer, "/")).body(body).unwrap();
        let response = hyper_client.request(request).await.unwrap();
        assert_eq!(response.status(), expected);
        let body = response.into_body().collect().await.unwrap().to_bytes();
        if expected == StatusCode::OK {
            assert_eq!(body, "chunked body");
        }
    }
    all_back_to_zero(&balancer).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn streams_chunk_by_chunk() {
    let gap = Step::Wait(Duration::from_millis(50));
    let replica = scripted_replica(vec![
        Step::Chunk("0"),
        gap,
        Step::Chunk("1"),
        gap,
        Step::Chunk("2"),
        gap,
        Step::Chunk("3"),
        gap,
        Step::Chunk("4"),
    ])
    .await;
    let balancer = balancer(Policy::RoundRobin, vec![replica.replica(1)]).await;
    let start = Instant::now();
    let mut response = client().get(url(&balancer, "/")).send().await.unwrap();
    let mut arrivals = Vec::new();
    let mut received = String::new();
    while let Some(chunk) = response.chunk().await.unwrap() {
        arrivals.push(start.elapsed());
        received.push_str(std::str::from_utf8(&chunk).unwrap());
    }
    assert_eq!(received, "01234");
    let (first, last) = (arrivals[0], arrivals[arrivals.len() - 1]);
    assert!(
        first < Duration::from_millis(200),
        "first chunk after {first:?}"
    );
    assert!(
        last >= Duration::from_millis(200),
        "whole body after {last:?}"
    );
    assert!(arrivals.len() >= 3, "chunks arrived together: {arrivals:?}");
    all_back_to_zero(&balancer).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn in_flight_after_replica_fails_mid_body() {
    let replica = scripted_replica(vec![
        Step::Chunk("partial"),
        Step::Wait(Duration::from_millis(20)),
        Step::Fail,
    ])
    .await;
    let balancer = balancer(Policy::RoundRobin, vec![replica.replica(1)]).await;
    for _ in 0..3 {
        let response = client().get(url(&balancer, "/")).send().await.unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        assert!(
            response.bytes().await.is_err(),
            "a cut body must not look whole"
        );
    }
    all_back_to_zero(&balancer).await;
    assert_eq!(balancer.in_flight(), [(1, 0)].into());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn in_flight_after_stream_timeout() {
    let replica = TestReplica::start(|request: Request<Incoming>| async move {
        if request.uri().path() == "/no-headers" {
            std::future::pending::<()>().await;
        }
        Response::new(scripted(vec![Step::Chunk("first"), Step::Hang]))
    })
    .await;
    let timeout = Duration::from_millis(300);
    let balancer = Balancer::start(BalancerConfig {
        stream_timeout: timeout,
        ..config(Policy::RoundRobin)
    })
    .await
    .unwrap();
    balancer.set_replicas(vec![replica.replica(1)]);

    let start = Instant::now();
    let mut response = client().get(url(&balancer, "/body")).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.chunk().await.unwrap().unwrap(), "first");
    assert_eq!(balancer.in_flight(), [(1, 1)].into());
    assert!(response.chunk().await.is_err());
    let elapsed = start.elapsed();
    assert!(
        elapsed >= timeout && elapsed < Duration::from_millis(1500),
        "{elapsed:?}"
    );
    all_back_to_zero(&balancer).await;

    let start = Instant::now();
    let (status, body) = get(&balancer, "/no-headers").await;
    let elapsed = start.elapsed();
    assert_eq!(status, StatusCode::GATEWAY_TIMEOUT);
    assert!(
        body.starts_with("the replica did not answer within"),
        "{body}"
    );
    assert!(
        elapsed >= timeout && elapsed < Duration::from_millis(1500),
        "{elapsed:?}"
    );
    all_back_to_zero(&balancer).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn in_flight_after_client_disconnects() {
    let mut steps = Vec::new();
    for _ in 0..100 {
        steps.push(Step::Chunk("token "));
        steps.push(Step::Wait(Duration::from_millis(20)));
    }
    let replica = scripted_replica(steps).await;
    let balancer = balancer(Policy::LeastLoad, vec![replica.replica(1)]).await;
    for _ in 0..3 {
        let mut response = client().get(url(&balancer, "/")).send().await.unwrap();
        assert_eq!(response.chunk().await.unwrap().unwrap(), "token ");
        assert_eq!(balancer.in_flight(), [(1, 1)].into());
        drop(response);
        all_back_to_zero(&balancer).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn in_flight_across_replica_removal() {
    let gate = Arc::new(Semaphore::new(0));
    let (a, b) = (holding("a", &gate).await, holding("b", &gate).await);
    let balancer = Arc::new(balancer(Policy::RoundRobin, vec![a.replica(1), b.replica(2)]).await);
    // Round robin starts with the first replica: the slow request holds on `a`.
    let slow = tokio::spawn({
        let balancer = balancer.clone();
        async move { get(&balancer, "/slow").await }
    });
    eventually("the slow request in flight", || {
        balancer.in_flight() == [(1, 1), (2, 0)].into()
    })
    .await;

    balancer.set_replicas(vec![b.replica(2)]);
    assert_eq!(balancer.in_flight(), [(1, 1), (2, 0)].into());
    for _ in 0..4 {
        assert_eq!(get(&balancer, "/").await, (StatusCode::OK, "b".into()));
    }
    balancer.set_replicas(vec![a.replica(1), b.replica(2)]);
    assert_eq!(balancer.in_flight(), [(1, 1), (2, 0)].into());

    gate.add_permits(1);
    assert_eq!(slow.await.unwrap(), (StatusCode::OK, "a".into()));
    all_back_to_zero(&balancer).await;
    assert_eq!(balancer.in_flight(), [(1, 0), (2, 0)].into());
    // Gone with nothing in flight: no longer listed.
    balancer.set_replicas(vec![b.replica(2)]);
    assert_eq!(balancer.in_flight(), [(2, 0)].into());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn request_rate_counts_arrivals() {
    let a = named("a").await;
    let balancer = balancer(Policy::RoundRobin, vec![]).await;
    for _ in 0..5 {
        get(&balancer, "/").await;
    }
    balancer.set_replicas(vec![a.replica(1)]);
    for _ in 0..15 {
        get(&balancer, "/").await;
    }
    assert_eq!(balancer.requests_total(), 20);
    let rate = balancer.request_rate(Duration::from_secs(10));
    assert!((rate - 2.0).abs() < 1e-9, "{rate}");
    assert_eq!(balancer.request_rate(Duration::ZERO), 0.0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_frees_the_port_and_the_counts() {
    let gate = Arc::new(Semaphore::new(0));
    let a = holding("a", &gate).await;
    let balancer = Arc::new(balancer(Policy::RoundRobin, vec![a.replica(1)]).await);
    let slow = tokio::spawn({
        let balancer = balancer.clone();
        async move { client().get(url(&balancer, "/slow")).send().await }
    });
    eventually("the slow request in flight", || {
        balancer.in_flight() == [(1, 1)].into()
    })
    .await;
    let addr = balancer.local_addr();
    balancer.shutdown().await;
    TcpListener::bind(addr).await.expect("the port is free");
    assert!(slow.await.unwrap().is_err(), "the request was cut");
    all_back_to_zero(&balancer).await;
    balancer.shutdown().await;
}

/// A self-signed certificate for `localhost` and its key, made by the openssl
/// command.
fn self_signed(dir: &Path, name: &str) -> TlsFiles {
    let files = TlsFiles {
        certfile: dir.join(format!("{name}-cert.pem")),
        keyfile: dir.join(format!("{name}-key.pem")),
    };
    let made = std::process::Command::new("openssl")
        .args(["req", "-x509", "-newkey", "ec", "-pkeyopt"])
        .args(["ec_paramgen_curve:prime256v1", "-nodes", "-days", "1"])
        .args(["-subj", "/CN=localhost"])
        .args(["-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1"])
        .args(["-addext", "basicConstraints=critical,CA:FALSE"])
        .arg("-keyout")
        .arg(&files.keyfile)
        .arg("-out")
        .arg(&files.certfile)
        .output()
        .expect("the openssl command makes the test certificate");
    assert!(
        made.status.success(),
        "{}",
        String::from_utf8_lossy(&made.stderr)
    );
    files
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_is_terminated() {
    let dir = tempfile::tempdir().unwrap();
    let files = self_signed(dir.path(), "service");
    let replica = TestReplica::start(|request: Request<Incoming>| async move {
        let proto = request.headers()["x-forwarded-proto"].clone();
        text(Bytes::copy_from_slice(proto.as_bytes()))
    })
    .await;
    let balancer = Balancer::start(BalancerConfig {
        tls: Some(files.clone()),
        ..config(Policy::RoundRobin)
    })
    .await
    .unwrap();
    balancer.set_replicas(vec![replica.replica(1)]);
    let root = reqwest::Certificate::from_pem(&std::fs::read(&files.certfile).unwrap()).unwrap();
    let client = reqwest::Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(5))
        .add_root_certificate(root)
        .resolve("localhost", balancer.local_addr())
        .build()
        .unwrap();
    let url = format!("https://localhost:{}/", balancer.local_addr().port());
    let response = client.get(&url).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.text().await.unwrap(), "https");
    // Plain HTTP to the TLS port gets no HTTP answer.
    assert!(get_plain(&balancer).await.is_err());
    all_back_to_zero(&balancer).await;
}

async fn get_plain(balancer: &Balancer) -> reqwest::Result<reqwest::Response> {
    client().get(url(balancer, "/")).send().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_file_errors_name_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let good = self_signed(dir.path(), "good");
    let other = self_signed(dir.path(), "other");
    let garbage = dir.path().join("garbage.pem");
    std::fs::write(&garbage, "not a key\n").unwrap();
    let missing = dir.path().join("missing.pem");
    let cases = [
        (good.certfile.clone(), missing.clone(), &missing),
        (good.certfile.clone(), garbage.clone(), &garbage),
        (missing.clone(), good.keyfile.clone(), &missing),
        (garbage.clone(), good.keyfile.clone(), &garbage),
        (good.certfile.clone(), other.keyfile.clone(), &other.keyfile),
    ];
    for (certfile, keyfile, named) in cases {
        let started = Balancer::start(BalancerConfig {
            tls: Some(TlsFiles { certfile, keyfile }),
            ..config(Policy::RoundRobin)
        })
        .await;
        let message = started.expect_err("bad TLS files are refused").to_string();
        assert!(
            message.contains(&named.display().to_string()),
            "{message} names {}",
            named.display()
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bind_error_names_the_address() {
    let taken = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = taken.local_addr().unwrap();
    let error = Balancer::start(BalancerConfig {
        bind: addr,
        ..config(Policy::RoundRobin)
    })
    .await
    .expect_err("a taken port is refused");
    assert!(error.to_string().contains(&addr.to_string()), "{error}");
}

/// Added latency at 1,000 requests a second, open loop, with a loopback hyper
/// replica: run by hand with
/// `cargo test -p aloft --release --lib balancer_latency_bench -- --ignored --nocapture`.
#[ignore]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn balancer_latency_bench() {
    let replica = named("ok").await;
    let balancer = balancer(Policy::LeastLoad, vec![replica.replica(1)]).await;
    let direct = format!("http://{}/", replica.addr);
    let through = url(&balancer, "/");
    let seconds = 5;
    // Requests a second: 1,000 unless `ALOFT_BENCH_RATE` says otherwise.
    let rate = std::env::var("ALOFT_BENCH_RATE")
        .ok()
        .and_then(|r| r.parse().ok())
        .unwrap_or(1000);
    open_loop(&through, rate, 1).await; // warm-up: connections and pools
    let mut p50_p99 = Vec::new();
    for (name, target) in [("direct", &direct), ("balancer", &through)] {
        let latencies = open_loop(target, rate, seconds).await;
        let pick = |q: f64| latencies[((latencies.len() - 1) as f64 * q) as usize];
        let max = latencies[latencies.len() - 1];
        println!(
            "{name:>8}: {} requests, p50 {:?}, p99 {:?}, max {max:?}",
            latencies.len(),
            pick(0.50),
            pick(0.99)
        );
        p50_p99.push((pick(0.50), pick(0.99)));
    }
    let (direct, through) = (p50_p99[0], p50_p99[1]);
    println!(
        "   added: p50 {:?}, p99 {:?}",
        through.0.saturating_sub(direct.0),
        through.1.saturating_sub(direct.1)
    );
    all_back_to_zero(&balancer).await;
}

/// Sends `rate` GETs a second for `seconds` seconds on a schedule (not waiting
/// for answers), and returns every latency, sorted.
async fn open_loop(url: &str, rate: u64, seconds: u64) -> Vec<Duration> {
    let client = hyper_util::client::legacy::Client::builder(TokioExecutor::new())
        .build_http::<Full<Bytes>>();
    let uri: hyper::Uri = url.parse().unwrap();
    let mut ticks = tokio::time::interval(Duration::from_secs(1) / rate as u32);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
    let mut requests = tokio::task::JoinSet::new();
    for _ in 0..rate * seconds {
        // Timed from the send, not from the tick: tokio's timer fires up to a
        // millisecond late, which would swamp what is measured. No request waits
        // for another, so there is no coordinated omission.
        ticks.tick().await;
        let (client, uri) = (client.clone(), uri.clone());
        requests.spawn(async move {
            let sent = Instant::now();
            let response = client
                .request(Request::get(uri).body(Full::new(Bytes::new())).unwrap())
                .await
                .unwrap();
            assert_eq!(response.status(), StatusCode::OK);
            response.into_body().collect().await.unwrap();
            sent.elapsed()
        });
    }
    let mut latencies = requests.join_all().await;
    latencies.sort();
    latencies
}
