//! Signing in and out: CSRF, administrators only, cookies that scripts and other sites cannot use.
use reqwest::header::LOCATION;

use crate::helpers::{cookie_value, set_cookie, spawn_console, spawn_console_with, ADMIN};

#[actix_web::test]
async fn anonymous_visits_go_to_the_login_page_which_sets_a_strict_http_only_csrf_cookie() {
    let console = spawn_console().await;
    let answer = console.get("/products?category=Books", "").await;
    assert_eq!(answer.status(), 303);
    assert_eq!(
        answer.headers()[LOCATION],
        "/login?next=%2Fproducts%3Fcategory%3DBooks"
    );
    let login = console.get("/login?next=/users", "").await;
    assert_eq!(login.status(), 200);
    let csp = login.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(
        csp.contains("default-src 'none'") && csp.contains("frame-ancestors 'none'"),
        "{csp}"
    );
    let csrf = set_cookie(login.headers(), "console_csrf").expect("a CSRF cookie");
    assert!(
        csrf.contains("HttpOnly") && csrf.contains("SameSite=Strict") && csrf.contains("Path=/"),
        "{csrf}"
    );
    // Development settings: plain HTTP (production refuses to start without Secure cookies).
    assert!(!csrf.contains("Secure"), "{csrf}");
    let page = login.text().await.unwrap();
    assert!(page.contains(&format!("name=\"csrf\" value=\"{}\"", cookie_value(&csrf))));
    assert!(page.contains("name=\"next\" value=\"/users\""));
}

#[actix_web::test]
async fn a_login_without_the_browsers_csrf_token_is_refused() {
    let console = spawn_console().await;
    let csrf = console.csrf().await;
    let form = [("email", ADMIN.0), ("password", ADMIN.1), ("csrf", "forged")];
    assert_eq!(
        console
            .post("/login", &format!("console_csrf={csrf}"), &form)
            .await
            .status(),
        403
    );
    let form = [("email", ADMIN.0), ("password", ADMIN.1), ("csrf", csrf.as_str())];
    assert_eq!(console.post("/login", "", &form).await.status(), 403);
}

#[actix_web::test]
async fn administrators_sign_in_and_others_are_told_why_not() {
    let console = spawn_console().await;
    let wrong = console.sign_in(ADMIN.0, "not the password").await.unwrap_err();
    assert!(wrong.contains("Wrong e-mail address or password."), "{wrong}");
    let email = format!("plain-{}@example.com", uuid::Uuid::now_v7().simple());
    console.register(&email, "a plain user password").await;
    let plain = console
        .sign_in(&email, "a plain user password")
        .await
        .unwrap_err();
    assert!(plain.contains("The console is for administrators."), "{plain}");
    let cookies = console
        .sign_in(ADMIN.0, ADMIN.1)
        .await
        .expect("the admin signs in");
    let page = console.get("/users", &cookies).await;
    assert_eq!(page.status(), 200);
    assert!(page.text().await.unwrap().contains(ADMIN.0));
}

#[actix_web::test]
async fn the_session_cookie_is_strict_http_only_and_ends_with_the_session() {
    let console = spawn_console().await;
    let csrf = console.csrf().await;
    let answer = console
        .post(
            "/login",
            &format!("console_csrf={csrf}"),
            &[
                ("email", ADMIN.0),
                ("password", ADMIN.1),
                ("csrf", &csrf),
                ("next", "//evil.example/"),
            ],
        )
        .await;
    assert_eq!(answer.status(), 303);
    assert_eq!(answer.headers()[LOCATION], "/", "only local paths are followed");
    let session = set_cookie(answer.headers(), "console_session").expect("a session cookie");
    assert!(
        session.contains("HttpOnly")
            && session.contains("SameSite=Strict")
            && session.contains("Max-Age=900"),
        "{session}"
    );
    let cookies = format!("console_csrf={csrf}; console_session={}", cookie_value(&session));
    let out = console.post("/logout", &cookies, &[("csrf", &csrf)]).await;
    assert_eq!(out.status(), 303);
    assert_eq!(out.headers()[LOCATION], "/login");
    // The token was revoked at the users service: the users page signs the operator out.
    let revoked = console.get("/users", &cookies).await;
    assert_eq!(revoked.status(), 303);
    assert!(revoked.headers()[LOCATION]
        .to_str()
        .unwrap()
        .starts_with("/login"));
}

#[actix_web::test]
async fn a_cookie_that_is_not_a_session_goes_back_to_the_login_page() {
    let console = spawn_console().await;
    let answer = console
        .get("/users", "console_csrf=x; console_session=not-a-token")
        .await;
    assert_eq!(answer.status(), 303);
    let gone = set_cookie(answer.headers(), "console_session").expect("the cookie is cleared");
    assert!(gone.contains("Max-Age=0"), "{gone}");
}

#[actix_web::test]
async fn ready_needs_the_users_service_and_reports_the_others_as_degraded() {
    let console = spawn_console().await;
    let ready = console.get("/ready", "").await;
    assert_eq!(ready.status(), 200);
    let body: serde_json::Value = ready.json().await.unwrap();
    assert_eq!(body["status"], "degraded");
    assert_eq!(body["checks"]["users"]["status"], "up");
    assert_eq!(body["checks"]["analytics"]["status"], "down");
    let orphan = spawn_console_with(Some("http://127.0.0.1:9".to_owned())).await;
    assert_eq!(orphan.get("/ready", "").await.status(), 503);
    assert_eq!(orphan.get("/health", "").await.status(), 200);
}
