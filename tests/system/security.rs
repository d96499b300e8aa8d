//! Attacks on the whole system (issue 13): what the deployment must refuse.
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Every service, started for production with the development secrets this repository
/// ships, refuses to start and says why (without printing the secrets).
#[test]
fn production_refuses_the_development_secrets() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
    for service in ["users", "products", "recommender", "analytics"] {
        let binary = root.join("target/debug").join(service);
        let mut child = Command::new(&binary)
            .env("APP_ENVIRONMENT", "production")
            .env("APP_CONFIG_DIR", root.join(service).join("configuration"))
            .env("APP_APPLICATION__PORT", "0")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| {
                panic!(
                    "{} does not start (cargo build --bins first): {e}",
                    binary.display()
                )
            });
        let started = Instant::now();
        let status = loop {
            if let Some(status) = child.try_wait().unwrap() {
                break status;
            }
            if started.elapsed() > Duration::from_secs(60) {
                let _ = child.kill();
                panic!("{service} started in production with development secrets");
            }
            std::thread::sleep(Duration::from_millis(100));
        };
        let output = child.wait_with_output().unwrap();
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
        assert!(!status.success(), "{service}: {text}");
        assert!(
            text.contains("refusing to start in production"),
            "{service}: {text}"
        );
        assert!(text.contains("database.password"), "{service}: {text}");
        assert!(
            !text.contains("local-development-read-key"),
            "{service} printed a secret: {text}"
        );
    }
}
