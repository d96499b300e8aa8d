//! The README's five-minute tour, run as written (only its addresses changed to this system's)
//! against the four real binaries, and the answers it promises checked: the documentation
//! cannot drift from the system unnoticed.
use std::path::PathBuf;
use std::process::Command;

use serde_json::{json, Value};

use crate::system::System;

/// The shell block under the tour's heading.
fn tour() -> String {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../README.md");
    let readme = std::fs::read_to_string(&path).expect("README.md");
    let section = readme
        .split("## A five-minute tour")
        .nth(1)
        .expect("the README has its tour");
    let block = section.split("```sh\n").nth(1).expect("the tour's shell block");
    block.split("\n```").next().expect("the block ends").to_owned()
}

#[actix_web::test]
async fn the_readme_tour_shows_what_it_promises() {
    let system = System::start().await;
    let mut script = tour();
    for (port, name) in [
        (8081, "users"),
        (8082, "products"),
        (8083, "recommender"),
        (8084, "analytics"),
    ] {
        let api = system
            .apis()
            .into_iter()
            .find(|(n, _)| *n == name)
            .expect("every service runs")
            .1;
        script = script.replace(&format!("http://127.0.0.1:{port}/api/v1"), &api);
    }
    // The ids the tour created, as one more JSON document at the end.
    script.push_str(
        "\necho \"{\\\"lamp\\\":\\\"$LAMP\\\",\\\"bulb\\\":\\\"$BULB\\\",\\\"bob\\\":\\\"$BOB\\\"}\"\n",
    );
    let output = Command::new("bash")
        .args(["-e", "-c", &script])
        .output()
        .expect("bash runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "the tour failed\nstdout:\n{stdout}\nstderr:\n{stderr}"
    );
    let answers: Vec<Value> = serde_json::Deserializer::from_str(&stdout)
        .into_iter::<Value>()
        .collect::<Result<_, _>>()
        .unwrap_or_else(|e| panic!("the tour printed something that is not JSON ({e}):\n{stdout}"));
    let ids = answers.last().expect("the ids");
    let (lamp, bulb, bob) = (&ids["lamp"], &ids["bulb"], &ids["bob"]);

    // "Bob is offered the bulb, similar_to the lamp."
    let list = answers
        .iter()
        .find(|a| &a["user_id"] == bob)
        .unwrap_or_else(|| panic!("no list of Bob's in:\n{stdout}"));
    assert_eq!(&list["items"][0]["product_id"], bulb, "{list}");
    assert_eq!(
        list["items"][0]["reason"],
        json!({"type": "similar_to", "product_id": lamp}),
        "{list}"
    );
    // The lamp's similar products: the bulb.
    let similar = answers
        .iter()
        .find(|a| {
            a.as_array().is_some_and(|items| {
                items
                    .iter()
                    .all(|i| i.get("reason").is_none() && i.get("score").is_some())
            }) && a.as_array().is_some_and(|i| !i.is_empty())
        })
        .unwrap_or_else(|| panic!("no similar products in:\n{stdout}"));
    assert_eq!(&similar[0]["product_id"], bulb, "{similar}");
    // Analytics answers for the bulb and the summary.
    assert!(
        answers
            .iter()
            .any(|a| &a["product_id"] == bulb && a["items"].is_array()),
        "no bulb statistics in:\n{stdout}"
    );
    // "Errors are problem+json with the field named."
    let error = answers
        .iter()
        .find(|a| a["status"] == 422)
        .unwrap_or_else(|| panic!("no problem+json answer in:\n{stdout}"));
    assert_eq!(error["errors"][0]["field"], "product_id", "{error}");
}
