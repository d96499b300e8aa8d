//! Pages whose services are down still render and say which service; bad input gets a 400 page.
use crate::helpers::{spawn_console, ADMIN};

#[actix_web::test]
async fn pages_name_the_services_that_are_down_and_keep_the_rest() {
    let console = spawn_console().await;
    let cookies = console
        .sign_in(ADMIN.0, ADMIN.1)
        .await
        .expect("the admin signs in");
    for (path, down) in [
        ("/", "analytics is unavailable"),
        ("/products", "products is unavailable"),
        ("/analytics", "analytics is unavailable"),
    ] {
        let page = console.get(path, &cookies).await;
        assert_eq!(page.status(), 200, "{path}");
        let html = page.text().await.unwrap();
        assert!(html.contains(down), "{path}: {html}");
        assert!(html.contains("Sign out"), "{path}");
    }
    let overview = console
        .get("/overview/live", &cookies)
        .await
        .text()
        .await
        .unwrap();
    assert!(
        overview.contains("id=\"service-users\"><strong>users</strong> up"),
        "{overview}"
    );
    assert!(
        overview.contains("id=\"service-recommender\"><strong>recommender</strong> down"),
        "{overview}"
    );
}

#[actix_web::test]
async fn unknown_choices_get_a_400_page_and_unknown_accounts_a_404() {
    let console = spawn_console().await;
    let cookies = console
        .sign_in(ADMIN.0, ADMIN.1)
        .await
        .expect("the admin signs in");
    let bad = console.get("/analytics?metric=revenue", &cookies).await;
    assert_eq!(bad.status(), 400);
    assert!(bad.text().await.unwrap().contains("Unknown metric"));
    let missing = console
        .get(&format!("/users/{}", uuid::Uuid::now_v7()), &cookies)
        .await;
    assert_eq!(missing.status(), 404);
    let search = console.get("/users?q=nobody%40example.com", &cookies).await;
    assert!(search
        .text()
        .await
        .unwrap()
        .contains("No account has the address nobody@example.com."));
}

#[actix_web::test]
async fn the_stylesheet_and_script_are_served_from_the_binary() {
    let console = spawn_console().await;
    let css = console.get("/assets/console.css", "").await;
    assert_eq!(css.status(), 200);
    assert_eq!(css.headers()["content-type"], "text/css; charset=utf-8");
    let js = console.get("/assets/console.js", "").await;
    assert!(js.text().await.unwrap().contains("data-refresh"));
}
