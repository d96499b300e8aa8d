//! Generated requests against every service's own OpenAPI document (schemathesis, installed by
//! `scripts/test`): valid and invalid bodies, parameters, methods and credentials, plus stateful
//! sequences built from the documented links. No answer may be a 5xx, and every answer must
//! match the document (status code, content type, headers, body schema), authentication must
//! be enforced where declared, and a deleted resource must stay deleted.
use std::path::PathBuf;
use std::process::Command;

use crate::system::System;

/// Time budget of each service's run; the four run at once.
const SECONDS_PER_SERVICE: &str = "40";

/// Checks the runs apply: every one except the two that read the document's constraints as a
/// promise that any value inside them is accepted (`positive_data_acceptance`) and any value
/// outside is refused (`negative_data_rejection`): rules across fields (a `rate` needs a
/// `value`) and semantic ones (an existing product) are not expressible in the schemas.
const EXCLUDED_CHECKS: &str = "positive_data_acceptance,negative_data_rejection";

fn schemathesis() -> PathBuf {
    let infra = std::env::var("INFRA_DIR").map_or_else(
        |_| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../.infra"),
        PathBuf::from,
    );
    let binary = infra.join("schemathesis/bin/schemathesis");
    assert!(
        binary.exists(),
        "{} is missing: scripts/test installs it (or source scripts/lib.sh and run ensure_schemathesis)",
        binary.display()
    );
    binary
}

#[actix_web::test]
async fn generated_requests_get_documented_answers_and_never_a_5xx() {
    let binary = schemathesis();
    let system = System::start().await;
    let admin = system.admin_token().await;
    let runs: Vec<_> = system
        .apis()
        .into_iter()
        .map(|(name, url)| {
            let mut command = Command::new(&binary);
            command
                .arg("run")
                .arg(format!("{url}/openapi.json"))
                .args(["--header", &format!("Authorization: Bearer {admin}")])
                .args(["--checks", "all", "--exclude-checks", EXCLUDED_CHECKS])
                .args(["--max-time", SECONDS_PER_SERVICE, "--workers", "1"])
                .args(["--max-examples", "50", "--no-color"])
                .current_dir(std::env::temp_dir());
            let name = name.to_string();
            std::thread::spawn(move || {
                let output = command
                    .output()
                    .unwrap_or_else(|e| panic!("schemathesis does not start: {e}"));
                (name, output)
            })
        })
        .collect();
    let mut failures = Vec::new();
    for run in runs {
        let (name, output) = run.join().expect("a schemathesis run");
        let text = String::from_utf8_lossy(&output.stdout);
        let summary: Vec<&str> = text.lines().skip_while(|l| !l.contains("SUMMARY")).collect();
        println!("==== {name}\n{}", summary.join("\n"));
        // A run whose credentials stopped working would pass while testing only the 401s.
        if !output.status.success() || text.contains("Authentication failed") {
            let tail: Vec<&str> = text.lines().rev().take(120).collect();
            let tail: Vec<&str> = tail.into_iter().rev().collect();
            failures.push(format!("==== {name} ({})\n{}", output.status, tail.join("\n")));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}
