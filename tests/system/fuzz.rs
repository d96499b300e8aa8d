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
                // Logging out would end the run's own session, and every later request would
                // be a 401 (logout has tests of its own).
                .args(["--exclude-path", "/api/v1/auth/logout"])
                .args(["--max-time", SECONDS_PER_SERVICE, "--workers", "1"])
                .args(["--max-examples", "50", "--no-color"])
                .current_dir(std::env::temp_dir());
            // Each run prints its seed: SCHEMATHESIS_SEED=<seed> replays the same generation.
            if let Ok(seed) = std::env::var("SCHEMATHESIS_SEED") {
                command.args(["--seed", &seed]);
            }
            let name = name.to_string();
            std::thread::spawn(move || {
                let output = command
                    .output()
                    .unwrap_or_else(|e| panic!("schemathesis does not start: {e}"));
                (name, output)
            })
        })
        .collect();
    let mut public = Vec::new();
    for (_, url) in system.apis() {
        public.extend(public_operations(&system, &url).await);
    }
    let mut failures = Vec::new();
    for run in runs {
        let (name, output) = run.join().expect("a schemathesis run");
        let origin = system
            .apis()
            .into_iter()
            .find(|(service, _)| *service == name)
            .map(|(_, api)| api.trim_end_matches("/api/v1").to_owned())
            .expect("the run's service");
        let text = String::from_utf8_lossy(&output.stdout);
        let summary: Vec<&str> = text.lines().skip_while(|l| !l.contains("WARNINGS")).collect();
        println!("==== {name}\n{}", summary.join("\n"));
        // A run whose credentials did not work would pass while testing only the 401s. An
        // operation the fuzzer never reached with usable ids (all its authenticated requests
        // 404) shows only the 401s of its deliberately unauthenticated probes: that is no
        // credential problem, so such operations are let through (seen with some seeds). Nor is
        // a public operation's 401 (`POST /auth/login` with generated, hence wrong, credentials:
        // seen on a clean run): the admin token is not what it checks. Nor is an operation
        // whose policy refuses an admin (posting actions as someone else, deleting the
        // configured admin: 403) or that the fuzzer probed with a generated X-API-Key (401,
        // seen on a clean run): what counts is whether the run's admin token itself is refused
        // there, which one request with it tells.
        let unreached = warned(&text, "Missing test data");
        let mut auth_failed = Vec::new();
        for operation in warned(&text, "Authentication failed") {
            if !unreached.contains(&operation)
                && !public.contains(&operation)
                && refuses_the_token(&system, &origin, &operation, &admin).await
            {
                auth_failed.push(operation);
            }
        }
        if !output.status.success() || !auth_failed.is_empty() {
            let tail: Vec<&str> = text.lines().rev().take(120).collect();
            let tail: Vec<&str> = tail.into_iter().rev().collect();
            failures.push(format!("==== {name} ({})\n{}", output.status, tail.join("\n")));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

/// Whether `operation` (`POST /api/v1/users/{id}/actions`) answers 401 to the admin token
/// alone: the credentials no longer work there (a 403, a 404 or a 422 means they were accepted).
/// Path parameters get fresh ids, bodies are an empty object.
async fn refuses_the_token(system: &System, origin: &str, operation: &str, token: &str) -> bool {
    let Some((method, path)) = operation.split_once(' ') else {
        return true;
    };
    let path: Vec<String> = path
        .split('/')
        .map(|segment| {
            if segment.starts_with('{') {
                uuid::Uuid::now_v7().to_string()
            } else {
                segment.to_owned()
            }
        })
        .collect();
    let Ok(method) = reqwest::Method::from_bytes(method.as_bytes()) else {
        return true;
    };
    let body = [
        reqwest::Method::POST,
        reqwest::Method::PUT,
        reqwest::Method::PATCH,
    ]
    .contains(&method)
    .then(|| serde_json::json!({}));
    let url = format!("{origin}{}", path.join("/"));
    let (status, _) = system.call(method, &url, Some(token), body).await;
    status == 401
}

/// The operations a document declares without a security requirement, as schemathesis names
/// them (`POST /api/v1/auth/login`).
async fn public_operations(system: &System, api: &str) -> Vec<String> {
    let url = format!("{api}/openapi.json");
    let (status, document) = system.call(reqwest::Method::GET, &url, None, None).await;
    assert_eq!(status, 200, "{url}");
    let mut public = Vec::new();
    for (path, item) in document["paths"].as_object().into_iter().flatten() {
        for (method, operation) in item.as_object().into_iter().flatten() {
            let secured = operation["security"]
                .as_array()
                .is_some_and(|requirements| !requirements.is_empty());
            if !secured {
                public.push(format!("{} {path}", method.to_uppercase()));
            }
        }
    }
    public
}

/// The operations schemathesis lists under the warning `title` in its WARNINGS section.
fn warned(text: &str, title: &str) -> Vec<String> {
    let section = text
        .lines()
        .skip_while(|l| !l.contains("WARNINGS"))
        .take_while(|l| !l.contains("SUMMARY"));
    section
        .skip_while(|l| !l.starts_with(title))
        .skip(1)
        .take_while(|l| !l.starts_with('💡'))
        .filter_map(|l| l.trim_start().strip_prefix("- "))
        .map(str::to_owned)
        .collect()
}
