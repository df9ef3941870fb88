//! Client libraries other than kubectl against `ferrokube up`: the official Python client.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly

mod common;

#[test]
fn python_client() {
    let cluster = common::Cluster::up();
    let script = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/clients/python_client.py"
    );
    let out = std::process::Command::new("python3")
        .arg(script)
        .arg(cluster.kubeconfig())
        .output()
        .expect("python3");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "python client failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(stdout.lines().count(), 8, "{stdout}");
    assert!(stdout.contains("custom resources ok"), "{stdout}");
    assert!(stdout.contains("server-side apply ok"), "{stdout}");
    assert!(stdout.contains("strategic merge patch ok"), "{stdout}");
}
