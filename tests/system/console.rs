//! The web console in a real browser: Debian's chromium, driven through chromium-driver by
//! fantoccini, against the four real binaries and the console's own. It signs in, sees every
//! page with the system's data, simulates an action and watches the list change, stops a
//! service and sees a degraded page, and signs out. Screenshots go to
//! `target/console-screenshots/` (the best are committed in docs/console/).
use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use fantoccini::{Client, ClientBuilder, Locator};
use reqwest::Method;
use serde_json::json;
use shared::testing::ServiceProcess;
use uuid::Uuid;

use crate::system::{act, product, register, System};

const WAIT: Duration = Duration::from_secs(60);

/// chromium-driver on a free port, stopped with the test.
struct Driver {
    process: Child,
    port: u16,
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.process.kill();
        let _ = self.process.wait();
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port()
}

async fn start_driver() -> Driver {
    let port = free_port();
    let process = Command::new("chromedriver")
        .arg(format!("--port={port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect(
            "chromedriver does not start: install Debian's chromium and chromium-driver (scripts/test does)",
        );
    let deadline = tokio::time::Instant::now() + WAIT;
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "chromedriver never listened on {port}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    Driver { process, port }
}

/// A headless chromium session at 1280 × 900.
async fn browser(driver: &Driver) -> Client {
    let mut capabilities = serde_json::Map::new();
    capabilities.insert("browserName".into(), json!("chrome"));
    capabilities.insert(
        "goog:chromeOptions".into(),
        json!({"binary": "/usr/bin/chromium",
               "args": ["--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu", "--window-size=1280,900"]}),
    );
    ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
        .capabilities(capabilities)
        .connect(&format!("http://127.0.0.1:{}", driver.port))
        .await
        .expect("a chromium session through chromedriver")
}

/// The console binary pointed at the system's services (no Prometheus: it samples /metrics).
async fn start_console(system: &System) -> ServiceProcess {
    let binary = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target/debug/console");
    assert!(
        binary.exists(),
        "{} is missing: `cargo build --bins` first (scripts/test does)",
        binary.display()
    );
    let urls: Vec<(String, String)> = ["users", "products", "recommender", "analytics"]
        .iter()
        .map(|s| {
            (
                format!("APP_CONSOLE__{}_URL", s.to_uppercase()),
                system.root(s).to_owned(),
            )
        })
        .collect();
    let mut env: Vec<(&str, &str)> = urls.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    env.extend([
        ("APP_CONSOLE__SAMPLE_INTERVAL_MS", "500"),
        ("APP_CONSOLE__SIMULATE_WAIT_MS", "30000"),
        ("APP_CONSOLE__PROMETHEUS_URL", ""),
    ]);
    let console = ServiceProcess::start(&binary.display().to_string(), system.settings("users"), &env);
    console.wait_ready().await;
    console
}

/// Writes a screenshot of the whole current page (the window grows to the page's height for
/// it, then returns to its size).
async fn screenshot(client: &Client, name: &str) {
    let (width, height) = client.get_window_size().await.expect("the window size");
    let page = client
        .execute("return document.documentElement.scrollHeight;", vec![])
        .await
        .expect("the page height")
        .as_u64()
        .unwrap_or(height);
    let chrome = height.saturating_sub(
        client
            .execute("return window.innerHeight;", vec![])
            .await
            .ok()
            .and_then(|h| h.as_u64())
            .unwrap_or(height),
    );
    client
        .set_window_size(width as u32, (page + chrome).clamp(400, 4000) as u32)
        .await
        .expect("the window resizes");
    let png = client.screenshot().await.expect("a screenshot");
    client
        .set_window_size(width as u32, height as u32)
        .await
        .expect("the window resizes back");
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target/console-screenshots");
    std::fs::create_dir_all(&dir).expect("the screenshot folder");
    std::fs::write(dir.join(format!("{name}.png")), png).expect("the screenshot is written");
}

/// The text of the first element matching `css`, waiting for it to appear.
async fn text(client: &Client, css: &str) -> String {
    client
        .wait()
        .at_most(WAIT)
        .for_element(Locator::Css(css))
        .await
        .unwrap_or_else(|e| panic!("no {css} on the page: {e}"))
        .text()
        .await
        .expect("the element's text")
}

/// Waits until the text of `css` satisfies `condition` (the page is reloaded between tries
/// unless `reload` is false: the overview refreshes itself).
async fn until_text(client: &Client, css: &str, reload: bool, condition: impl Fn(&str) -> bool) -> String {
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let found = client.find(Locator::Css(css)).await;
        let current = match found {
            Ok(element) => element.text().await.unwrap_or_default(),
            Err(_) => String::new(),
        };
        if condition(&current) {
            return current;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{css} never matched; last text: {current:?}"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
        if reload {
            client.refresh().await.expect("the page reloads");
        }
    }
}

/// A small catalogue and history: Kitchen items viewed together, a book, a toy.
struct Seeded {
    ann: (Uuid, String),
    /// What Ann keeps viewing while the overview is watched.
    traffic: Vec<Uuid>,
    espresso: Uuid,
    grinder: Uuid,
    bob: (Uuid, String),
    dan: Uuid,
}

async fn seed(system: &System) -> Seeded {
    let admin = system.admin_token().await;
    let espresso = product(system, &admin, "Espresso machine", "Kitchen").await;
    let grinder = product(system, &admin, "Coffee grinder", "Kitchen").await;
    let frother = product(system, &admin, "Milk frother", "Kitchen").await;
    let kettle = product(system, &admin, "Pour-over kettle", "Kitchen").await;
    let novel = product(system, &admin, "Science fiction novel", "Books").await;
    let game = product(system, &admin, "Board game", "Toys").await;
    let ann = register(system, "Ann").await;
    let (ann_id, ann_token) = ann.clone();
    let bob = register(system, "Bob").await;
    let (cid, cid_token) = register(system, "Cid").await;
    let (dan, _) = register(system, "Dan").await;
    act(
        system,
        ann_id,
        &ann_token,
        &[
            (espresso, "view"),
            (grinder, "view"),
            (frother, "add_to_cart"),
            (grinder, "purchase"),
        ],
    )
    .await;
    act(
        system,
        cid,
        &cid_token,
        &[
            (espresso, "view"),
            (grinder, "click"),
            (kettle, "view"),
            (novel, "view"),
            (game, "view"),
        ],
    )
    .await;
    // Bob acts once the model holds Ann's and Cid's pairs (their events may sit in other
    // partitions, flushed after Bob's otherwise: his list is built at his own flush).
    let similar = format!("{}/products/{espresso}/similar", system.recommender());
    system
        .until("the espresso machine's neighbours", &similar, |s| {
            s.as_array()
                .is_some_and(|items| items.iter().any(|i| i["product_id"] == json!(grinder)))
        })
        .await;
    act(system, bob.0, &bob.1, &[(espresso, "view"), (novel, "view")]).await;
    // Bob's list holds the grinder because he viewed the espresso machine.
    let url = format!("{}/users/{}/recommendations", system.recommender(), bob.0);
    system
        .until("Bob's list", &url, |l| {
            l["items"].as_array().is_some_and(|items| {
                items.iter().any(|i| {
                    i["product_id"] == json!(grinder)
                        && i["reason"] == json!({"type": "similar_to", "product_id": espresso})
                })
            })
        })
        .await;
    let summary = format!("{}/analytics/summary?window=24h", system.analytics());
    system
        .until("analytics totals", &summary, |s| s["all_time"]["actions"] == 11)
        .await;
    Seeded {
        ann,
        traffic: vec![kettle, game],
        espresso,
        grinder,
        bob,
        dan,
    }
}

/// Posts views as `user` every 200 ms, and reads the user's list, until aborted (the overview's
/// rates, freshness and cache figures need traffic).
async fn keep_acting(users_api: String, recommender_api: String, user: (Uuid, String), products: Vec<Uuid>) {
    let http = reqwest::Client::new();
    for round in 0usize.. {
        let product = products[round % products.len()];
        let _ = http
            .post(format!("{users_api}/users/{}/actions", user.0))
            .bearer_auth(&user.1)
            .json(&json!({"product_id": product, "action": "view"}))
            .send()
            .await;
        let _ = http
            .get(format!("{recommender_api}/users/{}/recommendations", user.0))
            .bearer_auth(&user.1)
            .send()
            .await;
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Types `keys` into the element with id `id`.
async fn type_into(client: &Client, id: &str, keys: &str) {
    let element = client
        .find(Locator::Id(id))
        .await
        .unwrap_or_else(|e| panic!("no #{id}: {e}"));
    element.send_keys(keys).await.expect("the keys are typed");
}

/// Clicks the element matching `css`.
async fn click(client: &Client, css: &str) {
    let element = client
        .find(Locator::Css(css))
        .await
        .unwrap_or_else(|e| panic!("no {css}: {e}"));
    element.click().await.expect("the click lands");
}

/// Chooses the option of value `value` in the select with id `id`.
async fn choose(client: &Client, id: &str, value: &str) {
    let element = client
        .find(Locator::Id(id))
        .await
        .unwrap_or_else(|e| panic!("no #{id}: {e}"));
    element.select_by_value(value).await.expect("the option exists");
}

/// Waits until the page's heading is `expected` (after a click, the old page may still be shown
/// for a moment).
async fn heading(client: &Client, expected: &str) {
    until_text(client, "main h1", false, |t| t == expected).await;
}

/// Waits until the browser is at `path` (a form's redirect may still be under way).
async fn until_path(client: &Client, path: &str) {
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let current = client.current_url().await.expect("a URL");
        if current.path() == path {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "never reached {path}; at {current}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Goes to `url`.
async fn open(client: &Client, url: &str) {
    client
        .goto(url)
        .await
        .unwrap_or_else(|e| panic!("{url} does not load: {e}"));
}

async fn sign_in(client: &Client, console: &str) {
    open(client, &format!("{console}/")).await;
    let url = client.current_url().await.expect("a URL");
    assert_eq!(url.path(), "/login", "an anonymous visit goes to the login page");
    type_into(client, "email", "admin@example.com").await;
    type_into(client, "password", "local-admin-password").await;
    click(client, "#login-form button").await;
    heading(client, "Overview").await;
}

/// Every form control has a label, and nothing is wider than the window.
async fn accessible_and_fits(client: &Client) {
    let checks = client
        .execute(
            "return [Array.from(document.querySelectorAll('input:not([type=hidden]), select')).every(e => e.labels && e.labels.length > 0), \
             document.documentElement.scrollWidth <= window.innerWidth + 1];",
            vec![],
        )
        .await
        .expect("the script runs");
    assert_eq!(
        checks,
        json!([true, true]),
        "labels / width on {:?}",
        client.current_url().await.ok()
    );
}

#[actix_web::test]
async fn the_console_shows_the_running_system_and_a_list_changing_after_an_action() {
    let mut system = System::start().await;
    let seeded = seed(&system).await;
    let console_process = start_console(&system).await;
    let console = format!("http://127.0.0.1:{}", console_process.port());
    let driver = start_driver().await;
    let client = browser(&driver).await;

    // Sign in; the overview shows the totals, and the figures of the actions Ann keeps posting
    // meanwhile, and refreshes itself.
    sign_in(&client, &console).await;
    // The four registered and the bootstrapped admin.
    assert_eq!(text(&client, "#figure-users dd").await, "5");
    assert_eq!(text(&client, "#figure-products dd").await, "6");
    let traffic = tokio::spawn(keep_acting(
        system.users(),
        system.recommender(),
        seeded.ann.clone(),
        seeded.traffic.clone(),
    ));
    until_text(&client, "#figure-actions dd", false, |t| {
        t.ends_with("/s") && t != "0 /s"
    })
    .await;
    until_text(&client, "#figure-freshness dd", false, |t| !t.starts_with('–')).await;
    until_text(&client, "#figure-cache-hits dd", false, |t| t.ends_with('%')).await;
    let updated = text(&client, "#live .meta").await;
    until_text(&client, "#live .meta", false, |t| t != updated).await;
    accessible_and_fits(&client).await;
    // A few more seconds of traffic make the charts worth a picture.
    tokio::time::sleep(Duration::from_secs(8)).await;
    screenshot(&client, "overview").await;
    traffic.abort();

    // Users: find Bob by e-mail; his list says why.
    open(&client, &format!("{console}/users")).await;
    let (status, bob) = system
        .call(
            Method::GET,
            &format!("{}/users/{}", system.users(), seeded.bob.0),
            Some(&seeded.bob.1),
            None,
        )
        .await;
    assert_eq!(status, 200);
    type_into(&client, "q", bob["email"].as_str().unwrap()).await;
    click(&client, "form[role=search] button").await;
    heading(&client, "Bob").await;
    let list = text(&client, "#recommendations").await;
    assert!(
        list.contains("Coffee grinder") && list.contains("because you viewed Espresso machine"),
        "{list}"
    );
    let recent = text(&client, "#recent").await;
    assert!(
        recent.contains("Espresso machine") && recent.contains("view"),
        "{recent}"
    );
    assert!(!text(&client, "#list-source").await.is_empty());
    accessible_and_fits(&client).await;
    screenshot(&client, "user").await;

    // Simulate: Dan views the espresso machine; his list changes and the delay is measured.
    open(&client, &format!("{console}/users/{}", seeded.dan)).await;
    choose(&client, "action", "view").await;
    choose(&client, "product", &seeded.espresso.to_string()).await;
    click(&client, "#simulate-form button").await;
    let result = text(&client, "#simulated").await;
    assert!(result.contains("The list changed"), "{result}");
    let list = text(&client, "#recommendations").await;
    assert!(list.contains("Coffee grinder"), "{list}");
    screenshot(&client, "simulate").await;

    // Products: the catalogue, then the espresso machine with its neighbours and chart.
    open(&client, &format!("{console}/products")).await;
    assert!(text(&client, "#catalogue").await.contains("Espresso machine"));
    let link = client.find(Locator::LinkText("Espresso machine")).await;
    link.expect("a link to the product")
        .click()
        .await
        .expect("the click lands");
    heading(&client, "Espresso machine").await;
    let similar = text(&client, "#similar").await;
    assert!(similar.contains("Coffee grinder"), "{similar}");
    client
        .find(Locator::Css("#product-chart svg"))
        .await
        .expect("the statistics chart");
    // Four views (Dan's simulated one too), one purchase of something else: no conversion.
    until_text(&client, "#conversion", true, |t| {
        t.starts_with("4 views, 0 purchases")
    })
    .await;
    screenshot(&client, "product").await;

    // Analytics: rankings with names, active users.
    open(&client, &format!("{console}/analytics?metric=views&window=24h")).await;
    let top = text(&client, "#top-products-table").await;
    assert!(top.contains("Espresso machine"), "{top}");
    until_text(&client, "#dau", true, |t| t == "4").await;
    accessible_and_fits(&client).await;
    screenshot(&client, "analytics").await;

    // At 390 px everything still fits.
    client.set_window_size(390, 844).await.unwrap();
    open(&client, &format!("{console}/users/{}", seeded.bob.0)).await;
    accessible_and_fits(&client).await;
    screenshot(&client, "user-390").await;
    client.set_window_size(1280, 900).await.unwrap();

    // Forms need the browser's CSRF token: the session cookie alone is refused.
    let session = client
        .get_named_cookie("console_session")
        .await
        .expect("the session cookie");
    assert_eq!(session.http_only(), Some(true));
    assert_eq!(format!("{:?}", session.same_site()), "Some(Strict)");
    let csrf = client
        .get_named_cookie("console_csrf")
        .await
        .expect("the CSRF cookie");
    let forged = reqwest::Client::new()
        .post(format!("{console}/logout"))
        .header(
            "cookie",
            format!(
                "console_session={}; console_csrf={}",
                session.value(),
                csrf.value()
            ),
        )
        .form(&[("csrf", "forged")])
        .send()
        .await
        .unwrap();
    assert_eq!(forged.status(), 403);
    let (status, _) = system
        .call(
            Method::GET,
            &format!("{}/users/me", system.users()),
            Some(session.value()),
            None,
        )
        .await;
    assert_eq!(status, 200, "the forged logout did nothing");

    // Analytics stopped: its parts say so, the rest of the console works.
    system.kill("analytics");
    open(&client, &format!("{console}/analytics")).await;
    heading(&client, "Analytics").await;
    let notice = text(&client, "main .notice").await;
    assert!(notice.contains("analytics is unavailable"), "{notice}");
    open(&client, &format!("{console}/")).await;
    until_text(&client, "#service-analytics", false, |t| t.contains("down")).await;
    screenshot(&client, "degraded").await;
    open(&client, &format!("{console}/products/{}", seeded.grinder)).await;
    heading(&client, "Coffee grinder").await;
    assert!(text(&client, "#similar").await.contains("Espresso machine"));

    // Signing out ends the session at the users service too.
    click(&client, ".logout button").await;
    until_path(&client, "/login").await;
    open(&client, &format!("{console}/users")).await;
    assert_eq!(client.current_url().await.unwrap().path(), "/login");
    let (status, _) = system
        .call(
            Method::GET,
            &format!("{}/users/me", system.users()),
            Some(session.value()),
            None,
        )
        .await;
    assert_eq!(status, 401, "the console's session is revoked");
    client.close().await.unwrap();
}
