//! https: certificate verification is always on, and `ca_file` trusts a private CA.
//! moto serves TLS with a leaf certificate signed by a CA this test makes with openssl.

mod common;

use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::{require, Backend, Env, Tool};

struct Killed(Child);
impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn run(cmd: &mut Command) {
    let out = cmd.output().unwrap_or_else(|e| panic!("{cmd:?}: {e}"));
    assert!(out.status.success(), "{cmd:?}: {}", String::from_utf8_lossy(&out.stderr));
}

fn make_ca_and_leaf(dir: &Path) {
    let o = |args: &[&str]| run(Command::new("openssl").args(args).current_dir(dir));
    o(&[
        "req",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-keyout",
        "ca.key",
        "-out",
        "ca.pem",
        "-days",
        "2",
        "-subj",
        "/CN=tracecraft test CA",
        "-addext",
        "basicConstraints=critical,CA:TRUE",
        "-addext",
        "keyUsage=critical,keyCertSign,cRLSign",
    ]);
    o(&["req", "-newkey", "rsa:2048", "-nodes", "-keyout", "leaf.key", "-out", "leaf.csr", "-subj", "/CN=127.0.0.1"]);
    std::fs::write(
        dir.join("leaf.ext"),
        "subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n",
    )
    .unwrap();
    o(&[
        "x509",
        "-req",
        "-in",
        "leaf.csr",
        "-CA",
        "ca.pem",
        "-CAkey",
        "ca.key",
        "-CAcreateserial",
        "-out",
        "leaf.pem",
        "-days",
        "2",
        "-extfile",
        "leaf.ext",
    ]);
}

#[test]
fn https_verifies_certificates_and_trusts_ca_file() {
    // Missing tools fail with their install command (unless opted out: recorded).
    let Some(_) = require(Tool::Openssl) else { return };
    let Some(python) = require(Tool::Moto) else { return };
    // The harness's env gives HOME, project and the binary; the server is ours.
    let Some(env) = Env::try_new(Backend::Local, "tls") else { return };
    let dir = tempfile::tempdir().unwrap();
    make_ca_and_leaf(dir.path());
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let moto = Command::new(python)
        .args(["-m", "moto.server", "-H", "127.0.0.1", "-p", &port.to_string(), "-s", "-c"])
        .arg(dir.path().join("leaf.pem"))
        .arg("-k")
        .arg(dir.path().join("leaf.key"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("python3 -m moto.server");
    let _guard = Killed(moto);
    let t = Instant::now();
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(t.elapsed() < Duration::from_secs(20), "moto (TLS) did not start");
        std::thread::sleep(Duration::from_millis(100));
    }
    let endpoint = format!("https://127.0.0.1:{port}");
    run(Command::new("curl").args(["-sS", "--fail", "--cacert"]).arg(dir.path().join("ca.pem")).args([
        "-X",
        "PUT",
        "-H",
        "Authorization: AWS4-HMAC-SHA256 Credential=k/20260101/us-east-1/s3/aws4_request, SignedHeaders=host, Signature=00",
        &format!("{endpoint}/tc-tls"),
    ]));
    let mut cfg = env.config_value(&endpoint);
    cfg["bucket"] = "tc-tls".into();
    env.write_config_value(&cfg);
    env.write_transcript("tls", 2, 0);
    // Unknown CA: refused, and the message says why.
    let out = env.run(&["flush", "--session-id", "tls"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.to_lowercase().contains("certificate") || err.contains("UnknownIssuer"), "{err}");
    println!("untrusted certificate: {}", err.trim_end());
    // Trusted through ca_file: works.
    cfg["ca_file"] = dir.path().join("ca.pem").to_str().unwrap().into();
    env.write_config_value(&cfg);
    let out = env.run(&["flush", "--session-id", "tls"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
}
