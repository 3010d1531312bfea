//! SSH to "pods" through the API server's `pods/portforward` WebSocket: the client
//! (`aloft::kube::portforward`) against `tests/fakes/k8s_portforward_server.py`
//! (the same `k8s_portforward.serve` the fake API server uses), whose pods are
//! real sshd "machines" on loopback. Over plain HTTP and over HTTPS with a test CA.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use aloft::kube::{KubeError, ResolvedContext, portforward};
use aloft_tests::portforward_fake::{PortForwardServer as Server, Tls};
use aloft_tests::sshd::Sshd;
use tokio::io::AsyncBufReadExt;

const TOKEN: &str = "s3cret-token-for-tests-0123456789";

/// Test helpers on the fake.
trait Context {
    fn context(&self, token: &str) -> ResolvedContext;
}

impl Context for Server {
    fn context(&self, token: &str) -> ResolvedContext {
        ResolvedContext {
            name: "test".into(),
            server: self.url(),
            namespace: "default".into(),
            token: Some(token.into()),
            ..Default::default()
        }
    }
}

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

/// Opens a forward and reads the first line the pod's port sends (sshd's banner),
/// then closes the local side; returns the line and what the relay counted.
async fn banner(
    ctx: &ResolvedContext,
    pod: &str,
    port: u16,
) -> Result<(String, portforward::RelayStats), KubeError> {
    let forward = portforward::connect(ctx, "default", pod, port).await?;
    let (input_writer, input) = tokio::io::duplex(1 << 16);
    let (output, output_reader) = tokio::io::duplex(1 << 16);
    let relay = tokio::spawn(forward.relay(input, output));
    let mut lines = tokio::io::BufReader::new(output_reader);
    let mut line = String::new();
    tokio::time::timeout(Duration::from_secs(10), lines.read_line(&mut line))
        .await
        .expect("a banner within 10 s")
        .expect("read the banner");
    drop(input_writer); // local end closes: the relay must end by itself
    let stats = tokio::time::timeout(Duration::from_secs(10), relay)
        .await
        .expect("the relay ends after the local side closes")
        .expect("relay task")?;
    Ok((line, stats))
}

fn pod_spec(name: &str, sshd: &Sshd) -> String {
    format!("default/{name}={}:{}", sshd.ip, sshd.port)
}

/// `ssh` through `kube_relay` (the test build of `aloft kube-proxy`) to `pod`.
fn ssh(server: &Server, sshd: &Sshd, pod: &str, extra_env: &[(&str, String)]) -> Command {
    let relay = env!("CARGO_BIN_EXE_kube_relay");
    let mut command = Command::new("ssh");
    command
        .args(["-o", "BatchMode=yes", "-o", "StrictHostKeyChecking=no"])
        .args(["-o", "UserKnownHostsFile=/dev/null", "-o", "LogLevel=ERROR"])
        .args(["-o", "IdentitiesOnly=yes", "-o", "ConnectTimeout=20"])
        .arg("-o")
        .arg(format!("ProxyCommand='{relay}' default {pod} %p"))
        .arg("-i")
        .arg(&sshd.identity_file)
        .args(["-p", &sshd.port.to_string()])
        .arg(format!("{}@{pod}.default", sshd.user))
        .env("KUBE_RELAY_SERVER", server.url())
        .env("KUBE_RELAY_TOKEN", TOKEN);
    for (k, v) in extra_env {
        command.env(k, v);
    }
    command
}

#[test]
fn banner_through_the_tunnel_and_clean_end() {
    let dir = tempfile::tempdir().unwrap();
    let sshd = Sshd::start_machine(&dir.path().join("m1"), "127.0.0.41");
    let server = Server::start(TOKEN, &[pod_spec("p1", &sshd)], None);
    let (line, stats) = rt()
        .block_on(banner(&server.context(TOKEN), "p1", sshd.port))
        .expect("forward to the pod");
    assert!(line.starts_with("SSH-2.0-"), "{line:?}");
    assert!(stats.received >= line.len() as u64, "{stats:?}");
    assert_eq!(stats.sent, 0);
}

#[test]
fn real_ssh_with_the_relay_as_proxy_command_and_large_transfers() {
    let dir = tempfile::tempdir().unwrap();
    let sshd = Sshd::start_machine(&dir.path().join("m1"), "127.0.0.42");
    let server = Server::start(TOKEN, &[pod_spec("p1", &sshd)], None);

    let out = ssh(&server, &sshd, "p1", &[])
        .arg("echo hello from $(hostname -I >/dev/null 2>&1; echo pod)")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        "hello from pod"
    );

    // Upload 4 MB of random bytes, then read them back: both directions intact.
    let mut data = vec![0u8; 4 << 20];
    std::fs::File::open("/dev/urandom")
        .unwrap()
        .read_exact(&mut data)
        .unwrap();
    let mut up = ssh(&server, &sshd, "p1", &[])
        .arg("cat > blob && wc -c < blob")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    up.stdin.take().unwrap().write_all(&data).unwrap();
    let up = up.wait_with_output().unwrap();
    assert!(
        up.status.success(),
        "{}",
        String::from_utf8_lossy(&up.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&up.stdout).trim(), "4194304");
    assert_eq!(std::fs::read(sshd.home().join("blob")).unwrap(), data);

    let down = ssh(&server, &sshd, "p1", &[])
        .arg("cat blob")
        .output()
        .unwrap();
    assert!(
        down.status.success(),
        "{}",
        String::from_utf8_lossy(&down.stderr)
    );
    assert_eq!(down.stdout.len(), data.len());
    assert!(down.stdout == data, "downloaded bytes differ");
}

#[test]
fn a_wrong_token_is_refused_with_a_clear_error_that_hides_the_token() {
    let dir = tempfile::tempdir().unwrap();
    let sshd = Sshd::start_machine(&dir.path().join("m1"), "127.0.0.43");
    let server = Server::start(TOKEN, &[pod_spec("p1", &sshd)], None);
    let wrong = "wrong-token-abcdef-987654321";
    let err = rt()
        .block_on(portforward::connect(
            &server.context(wrong),
            "default",
            "p1",
            sshd.port,
        ))
        .expect_err("a wrong token must be refused");
    match &err {
        KubeError::PortForward { status, .. } => assert_eq!(*status, Some(401)),
        other => panic!("not a refused port-forward: {other:?}"),
    }
    let text = err.to_string();
    assert!(text.contains("401"), "{text}");
    assert!(text.contains("credentials were not accepted"), "{text}");
    assert!(!text.contains(wrong), "{text}");

    // The same through real ssh: it fails, and nothing prints the token.
    let out = ssh(
        &server,
        &sshd,
        "p1",
        &[("KUBE_RELAY_TOKEN", wrong.to_string())],
    )
    .arg("true")
    .output()
    .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("401"), "{stderr}");
    assert!(!stderr.contains(wrong), "{stderr}");
}

#[test]
fn a_missing_pod_is_a_404_before_the_upgrade_and_a_closed_port_is_reported() {
    let dir = tempfile::tempdir().unwrap();
    let sshd = Sshd::start_machine(&dir.path().join("m1"), "127.0.0.44");
    // A pod whose port nothing listens on: the forward opens, then fails on the
    // error channel (as the kubelet reports `connection refused`).
    let closed = std::net::TcpListener::bind("127.0.0.44:0").unwrap();
    let closed_port = closed.local_addr().unwrap().port();
    drop(closed);
    let server = Server::start(
        TOKEN,
        &[
            pod_spec("p1", &sshd),
            format!("default/dead=127.0.0.44:{closed_port}"),
        ],
        None,
    );
    let rt = rt();
    let err = rt
        .block_on(portforward::connect(
            &server.context(TOKEN),
            "default",
            "nope",
            22,
        ))
        .expect_err("no such pod");
    match &err {
        KubeError::PortForward {
            status, message, ..
        } => {
            assert_eq!(*status, Some(404));
            assert!(message.contains("pods \"nope\" not found"), "{message}");
        }
        other => panic!("not a 404: {other:?}"),
    }

    let err = rt
        .block_on(banner(&server.context(TOKEN), "dead", closed_port))
        .map(|(line, _)| line)
        .expect_err("a closed port fails");
    let text = err.to_string();
    assert!(
        matches!(err, KubeError::PortForward { status: None, .. }),
        "{err:?}"
    );
    assert!(text.contains("refused"), "{text}");

    // Names that are not Kubernetes names never reach the URL.
    let err = rt
        .block_on(portforward::connect(
            &server.context(TOKEN),
            "default",
            "../secrets",
            22,
        ))
        .expect_err("a bad pod name");
    assert!(err.to_string().contains("pod name"), "{err}");
}

/// A CA, a server certificate for 127.0.0.1 and a client certificate signed by it,
/// made with openssl.
fn make_ca(dir: &Path, name: &str) -> TestPki {
    let run = |args: &[&str]| {
        let out = Command::new("openssl")
            .args(args)
            .current_dir(dir)
            .output()
            .expect("openssl");
        assert!(
            out.status.success(),
            "openssl {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    let ca_key = format!("{name}-ca.key");
    let ca = format!("{name}-ca.pem");
    let key = format!("{name}-server.key");
    let csr = format!("{name}-server.csr");
    let cert = format!("{name}-server.pem");
    let ext = format!("{name}-ext.cnf");
    std::fs::write(
        dir.join(&ext),
        "subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\n\
         keyUsage=digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\n",
    )
    .unwrap();
    run(&[
        "req",
        "-x509",
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:P-256",
        "-nodes",
        "-keyout",
        &ca_key,
        "-out",
        &ca,
        "-days",
        "2",
        "-subj",
        &format!("/CN={name} test CA"),
    ]);
    run(&[
        "req",
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:P-256",
        "-nodes",
        "-keyout",
        &key,
        "-out",
        &csr,
        "-subj",
        "/CN=127.0.0.1",
    ]);
    run(&[
        "x509",
        "-req",
        "-in",
        &csr,
        "-CA",
        &ca,
        "-CAkey",
        &ca_key,
        "-CAcreateserial",
        "-out",
        &cert,
        "-days",
        "2",
        "-extfile",
        &ext,
    ]);
    let client_key = format!("{name}-client.key");
    let client_csr = format!("{name}-client.csr");
    let client_cert = format!("{name}-client.pem");
    let client_ext = format!("{name}-client-ext.cnf");
    std::fs::write(
        dir.join(&client_ext),
        "basicConstraints=CA:FALSE\nkeyUsage=digitalSignature\nextendedKeyUsage=clientAuth\n",
    )
    .unwrap();
    run(&[
        "req",
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:P-256",
        "-nodes",
        "-keyout",
        &client_key,
        "-out",
        &client_csr,
        "-subj",
        "/CN=aloft-test-user/O=system:masters",
    ]);
    run(&[
        "x509",
        "-req",
        "-in",
        &client_csr,
        "-CA",
        &ca,
        "-CAkey",
        &ca_key,
        "-CAcreateserial",
        "-out",
        &client_cert,
        "-days",
        "2",
        "-extfile",
        &client_ext,
    ]);
    TestPki {
        ca: dir.join(ca),
        server_cert: dir.join(cert),
        server_key: dir.join(key),
        client_cert: dir.join(client_cert),
        client_key: dir.join(client_key),
    }
}

/// What [`make_ca`] made.
struct TestPki {
    ca: PathBuf,
    server_cert: PathBuf,
    server_key: PathBuf,
    client_cert: PathBuf,
    client_key: PathBuf,
}

#[test]
fn https_honours_the_context_ca_and_refuses_another() {
    let dir = tempfile::tempdir().unwrap();
    let sshd = Sshd::start_machine(&dir.path().join("m1"), "127.0.0.45");
    let pki = make_ca(dir.path(), "good");
    let other = make_ca(dir.path(), "other");
    let ca = pki.ca.clone();
    let other_ca = other.ca.clone();
    let server = Server::start(
        TOKEN,
        &[pod_spec("p1", &sshd)],
        Some(Tls {
            cert: &pki.server_cert,
            key: &pki.server_key,
            client_ca: Some(&pki.ca),
        }),
    );
    let rt = rt();

    let mut ctx = server.context(TOKEN);
    ctx.ca_pem = Some(std::fs::read(&ca).unwrap());
    let (line, _) = rt
        .block_on(banner(&ctx, "p1", sshd.port))
        .expect("TLS with the right CA");
    assert!(line.starts_with("SSH-2.0-"), "{line:?}");

    let mut wrong = server.context(TOKEN);
    wrong.ca_pem = Some(std::fs::read(&other_ca).unwrap());
    let err = rt
        .block_on(portforward::connect(&wrong, "default", "p1", sshd.port))
        .expect_err("another CA must be refused");
    let text = err.to_string();
    assert!(matches!(err, KubeError::Connect { .. }), "{err:?}");
    assert!(
        text.contains("TLS") && text.contains("certificate"),
        "{text}"
    );

    // No CA at all: the public roots do not know the test CA either.
    let err = rt
        .block_on(portforward::connect(
            &server.context(TOKEN),
            "default",
            "p1",
            sshd.port,
        ))
        .expect_err("public roots must not accept the test CA");
    assert!(err.to_string().contains("TLS"), "{err}");

    // insecure-skip-tls-verify accepts it.
    let mut insecure = server.context(TOKEN);
    insecure.insecure_skip_tls_verify = true;
    let (line, _) = rt
        .block_on(banner(&insecure, "p1", sshd.port))
        .expect("insecure-skip-tls-verify");
    assert!(line.starts_with("SSH-2.0-"), "{line:?}");

    // A real ssh session over TLS.
    let out = ssh(
        &server,
        &sshd,
        "p1",
        &[("KUBE_RELAY_CA", ca.display().to_string())],
    )
    .arg("echo over tls")
    .output()
    .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "over tls");

    // 4 MB each way over TLS (the fake reads and writes its TLS socket from two
    // threads at once: this is where that would show).
    let mut data = vec![0u8; 4 << 20];
    std::fs::File::open("/dev/urandom")
        .unwrap()
        .read_exact(&mut data)
        .unwrap();
    let tls_env = [("KUBE_RELAY_CA", ca.display().to_string())];
    let mut up = ssh(&server, &sshd, "p1", &tls_env)
        .arg("cat > blob && cat blob")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = up.stdin.take().unwrap();
    let writer = {
        let data = data.clone();
        std::thread::spawn(move || stdin.write_all(&data))
    };
    let up = up.wait_with_output().unwrap();
    writer.join().unwrap().unwrap();
    assert!(
        up.status.success(),
        "{}",
        String::from_utf8_lossy(&up.stderr)
    );
    assert!(
        up.stdout == data,
        "bytes differ after a round trip over TLS"
    );

    // Client-certificate authentication, no token: the certificate the CA signed
    // is accepted; without it (and without a token) the server answers 401.
    let mut by_cert = server.context(TOKEN);
    by_cert.token = None;
    by_cert.ca_pem = Some(std::fs::read(&ca).unwrap());
    by_cert.client_cert_pem = Some(std::fs::read(&pki.client_cert).unwrap());
    by_cert.client_key_pem = Some(std::fs::read(&pki.client_key).unwrap());
    let (line, _) = rt
        .block_on(banner(&by_cert, "p1", sshd.port))
        .expect("client-certificate authentication");
    assert!(line.starts_with("SSH-2.0-"), "{line:?}");
    let mut nothing = by_cert.clone();
    nothing.client_cert_pem = None;
    nothing.client_key_pem = None;
    let err = rt
        .block_on(portforward::connect(&nothing, "default", "p1", sshd.port))
        .expect_err("no credentials");
    assert!(
        matches!(
            err,
            KubeError::PortForward {
                status: Some(401),
                ..
            }
        ),
        "{err:?}"
    );
    // A certificate from another CA is refused by the server's TLS.
    let mut foreign = by_cert.clone();
    foreign.client_cert_pem = Some(std::fs::read(&other.client_cert).unwrap());
    foreign.client_key_pem = Some(std::fs::read(&other.client_key).unwrap());
    assert!(
        rt.block_on(banner(&foreign, "p1", sshd.port)).is_err(),
        "a client certificate from another CA must be refused"
    );
}

/// Raw WebSocket bytes against the fake: it is as strict as a real server.
#[test]
fn the_fake_refuses_bad_upgrades_and_unmasked_frames() {
    let dir = tempfile::tempdir().unwrap();
    let sshd = Sshd::start_machine(&dir.path().join("m1"), "127.0.0.46");
    let server = Server::start(TOKEN, &[pod_spec("p1", &sshd)], None);
    let request = |protocol: &str, version: &str| {
        format!(
            "GET /api/v1/namespaces/default/pods/p1/portforward?ports={} HTTP/1.1\r\n\
             Host: 127.0.0.1\r\nAuthorization: Bearer {TOKEN}\r\nUpgrade: websocket\r\n\
             Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\
             Sec-WebSocket-Version: {version}\r\nSec-WebSocket-Protocol: {protocol}\r\n\r\n",
            sshd.port
        )
    };
    let head = |stream: &mut TcpStream| {
        let mut head = Vec::new();
        let mut byte = [0u8; 1];
        while !head.ends_with(b"\r\n\r\n") {
            stream.read_exact(&mut byte).unwrap();
            head.push(byte[0]);
        }
        String::from_utf8(head).unwrap()
    };
    for (protocol, version) in [("v1.channel.k8s.io", "13"), ("v4.channel.k8s.io", "8")] {
        let mut s = TcpStream::connect(("127.0.0.1", server.port)).unwrap();
        s.write_all(request(protocol, version).as_bytes()).unwrap();
        let head = head(&mut s);
        assert!(head.starts_with("HTTP/1.1 400"), "{head}");
    }

    let mut s = TcpStream::connect(("127.0.0.1", server.port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    s.write_all(request("v4.channel.k8s.io", "13").as_bytes())
        .unwrap();
    let head = head(&mut s);
    assert!(head.starts_with("HTTP/1.1 101"), "{head}");
    assert!(
        head.contains("Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo="),
        "{head}"
    );
    assert!(
        head.contains("Sec-WebSocket-Protocol: v4.channel.k8s.io"),
        "{head}"
    );
    // The two port frames: channel 0 then 1, each with the port little-endian.
    let port = sshd.port.to_le_bytes();
    for channel in [0u8, 1] {
        let mut frame = [0u8; 5];
        s.read_exact(&mut frame).unwrap();
        assert_eq!(frame, [0x82, 3, channel, port[0], port[1]]);
    }
    // An unmasked client frame: the server closes with 1002 (protocol error).
    s.write_all(&[0x82, 2, 0, b'x']).unwrap();
    let mut rest = Vec::new();
    let _ = s.read_to_end(&mut rest);
    let close = rest
        .windows(4)
        .any(|w| w[0] == 0x88 && w[2..4] == 1002u16.to_be_bytes());
    assert!(close, "no close 1002 in {rest:?}");
}

/// One masked client frame.
fn client_frame(fin: bool, opcode: u8, payload: &[u8]) -> Vec<u8> {
    let mask = [0x37, 0xfa, 0x21, 0x3d];
    let mut frame = vec![if fin { 0x80 } else { 0 } | opcode];
    assert!(payload.len() < 126);
    frame.push(0x80 | payload.len() as u8);
    frame.extend_from_slice(&mask);
    frame.extend(payload.iter().enumerate().map(|(i, b)| b ^ mask[i % 4]));
    frame
}

/// One (unmasked, unfragmented, short) server frame: opcode and payload.
fn server_frame(s: &mut TcpStream) -> (u8, Vec<u8>) {
    let mut head = [0u8; 2];
    s.read_exact(&mut head).unwrap();
    assert_eq!(head[0] & 0x80, 0x80, "a final frame");
    assert_eq!(head[1] & 0x80, 0, "server frames are not masked");
    let len = usize::from(head[1] & 0x7f);
    assert!(len < 126);
    let mut payload = vec![0u8; len];
    s.read_exact(&mut payload).unwrap();
    (head[0] & 0x0f, payload)
}

/// The fake reassembles fragmented messages, answers pings between fragments and
/// echoes a close: checked against a pod that echoes what it receives.
#[test]
fn the_fake_reassembles_fragments_and_answers_pings_and_closes() {
    let echo = std::net::TcpListener::bind("127.0.0.47:0").unwrap();
    let echo_port = echo.local_addr().unwrap().port();
    std::thread::spawn(move || {
        if let Ok((mut conn, _)) = echo.accept() {
            let mut buf = [0u8; 1024];
            while let Ok(n) = conn.read(&mut buf) {
                if n == 0 || conn.write_all(&buf[..n]).is_err() {
                    break;
                }
            }
        }
    });
    let server = Server::start(
        TOKEN,
        &[format!("default/echo=127.0.0.47:{echo_port}")],
        None,
    );
    let mut s = TcpStream::connect(("127.0.0.1", server.port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    s.write_all(
        format!(
            "GET /api/v1/namespaces/default/pods/echo/portforward?ports=7 HTTP/1.1\r\n\
             Host: 127.0.0.1\r\nAuthorization: Bearer {TOKEN}\r\nUpgrade: websocket\r\n\
             Connection: keep-alive, Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\
             Sec-WebSocket-Version: 13\r\n\
             Sec-WebSocket-Protocol: base64.channel.k8s.io, v4.channel.k8s.io\r\n\r\n"
        )
        .as_bytes(),
    )
    .unwrap();
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        s.read_exact(&mut byte).unwrap();
        head.push(byte[0]);
    }
    let head = String::from_utf8(head).unwrap();
    assert!(head.starts_with("HTTP/1.1 101"), "{head}");
    assert_eq!(server_frame(&mut s), (2, vec![0, 7, 0]));
    assert_eq!(server_frame(&mut s), (2, vec![1, 7, 0]));

    // "hello" on channel 0 in three fragments, a ping in the middle.
    s.write_all(&client_frame(false, 2, b"\x00he")).unwrap();
    s.write_all(&client_frame(true, 9, b"are you there"))
        .unwrap();
    s.write_all(&client_frame(false, 0, b"l")).unwrap();
    s.write_all(&client_frame(true, 0, b"lo")).unwrap();
    assert_eq!(server_frame(&mut s), (0xA, b"are you there".to_vec()));
    let mut echoed = Vec::new();
    while echoed.len() < 5 {
        let (opcode, payload) = server_frame(&mut s);
        assert_eq!(opcode, 2);
        assert_eq!(payload[0], 0, "data comes back on channel 0");
        echoed.extend_from_slice(&payload[1..]);
    }
    assert_eq!(echoed, b"hello");

    // Our close is answered with a close, and the connection ends.
    s.write_all(&client_frame(true, 8, &1000u16.to_be_bytes()))
        .unwrap();
    assert_eq!(server_frame(&mut s), (8, 1000u16.to_be_bytes().to_vec()));
    let mut rest = Vec::new();
    assert_eq!(s.read_to_end(&mut rest).unwrap(), 0, "{rest:?}");
}
