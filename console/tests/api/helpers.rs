//! Starts the real users service and a console pointed at it (the other three services at a
//! closed port), and a client that keeps cookies by hand (no redirects followed).
use console::configuration::get_configuration;
use console::startup::Application;
use reqwest::header::{HeaderMap, COOKIE, LOCATION, SET_COOKIE};
use reqwest::redirect::Policy;
use reqwest::Response;
use serde_json::json;

/// The admin the users service bootstraps from its configuration.
pub const ADMIN: (&str, &str) = ("admin@example.com", "local-admin-password");

/// A console and the users service behind it.
pub struct TestConsole {
    pub address: String,
    pub users: String,
    pub client: reqwest::Client,
}

/// A port nothing listens on.
fn closed_port() -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("a port");
    let address = format!("http://{}", listener.local_addr().expect("its address"));
    drop(listener);
    address
}

async fn spawn_users() -> String {
    let mut settings = users::configuration::get_configuration().expect("the users configuration loads");
    shared::testing::isolate(&mut settings.common).await;
    settings.common.application.port = 0;
    let app = users::startup::Application::build(settings)
        .await
        .expect("the users service starts");
    let address = format!("http://127.0.0.1:{}", app.port());
    actix_web::rt::spawn(app.run_until_stopped());
    address
}

/// The console with the users service at `users` (or a real one when `None`).
pub async fn spawn_console_with(users: Option<String>) -> TestConsole {
    let users = match users {
        Some(users) => users,
        None => spawn_users().await,
    };
    let mut settings = get_configuration().expect("the console configuration loads");
    settings.application.port = 0;
    let closed = closed_port();
    settings.console.users_url = users.clone();
    settings.console.products_url = closed.clone();
    settings.console.recommender_url = closed.clone();
    settings.console.analytics_url = closed;
    settings.console.request_timeout_ms = 1000;
    let app = Application::build(settings).await.expect("the console starts");
    let address = format!("http://127.0.0.1:{}", app.port());
    actix_web::rt::spawn(app.run_until_stopped());
    TestConsole {
        address,
        users,
        client: reqwest::Client::builder()
            .redirect(Policy::none())
            .build()
            .expect("a client"),
    }
}

/// The console with a real users service.
pub async fn spawn_console() -> TestConsole {
    spawn_console_with(None).await
}

/// The value of cookie `name` set by `headers`, with its attributes.
pub fn set_cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|v| v.starts_with(&format!("{name}=")))
        .map(str::to_owned)
}

/// The bare value of a `Set-Cookie` line.
pub fn cookie_value(line: &str) -> String {
    line.split(';')
        .next()
        .unwrap_or("")
        .split_once('=')
        .map_or("", |(_, v)| v)
        .to_owned()
}

impl TestConsole {
    pub async fn get(&self, path: &str, cookies: &str) -> Response {
        self.client
            .get(format!("{}{path}", self.address))
            .header(COOKIE, cookies)
            .send()
            .await
            .expect("the console answers")
    }

    pub async fn post(&self, path: &str, cookies: &str, form: &[(&str, &str)]) -> Response {
        self.client
            .post(format!("{}{path}", self.address))
            .header(COOKIE, cookies)
            .form(form)
            .send()
            .await
            .expect("the console answers")
    }

    /// The CSRF token the login page hands out.
    pub async fn csrf(&self) -> String {
        let page = self.get("/login", "").await;
        cookie_value(
            &set_cookie(page.headers(), "console_csrf").expect("the login page sets the CSRF cookie"),
        )
    }

    /// Signs in; the `Cookie` header of the session.
    pub async fn sign_in(&self, email: &str, password: &str) -> Result<String, String> {
        let csrf = self.csrf().await;
        let cookies = format!("console_csrf={csrf}");
        let answer = self
            .post(
                "/login",
                &cookies,
                &[
                    ("email", email),
                    ("password", password),
                    ("csrf", &csrf),
                    ("next", "/users"),
                ],
            )
            .await;
        match set_cookie(answer.headers(), "console_session") {
            Some(session) if answer.status() == 303 => {
                assert_eq!(answer.headers()[LOCATION], "/users");
                Ok(format!("{cookies}; console_session={}", cookie_value(&session)))
            }
            _ => Err(answer.text().await.unwrap_or_default()),
        }
    }

    /// Registers a plain user at the users service.
    pub async fn register(&self, email: &str, password: &str) {
        let answer = self
            .client
            .post(format!("{}/api/v1/users", self.users))
            .json(&json!({"email": email, "password": password, "display_name": "Plain"}))
            .send()
            .await
            .expect("the users service answers");
        assert_eq!(answer.status(), 201);
    }
}
