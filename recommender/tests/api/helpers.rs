//! Starts an isolated recommender service per test.
use recommender::configuration::{get_configuration, Settings};
use recommender::startup::Application;
use shared::configuration::CommonSettings;
use shared::testing::isolate;

/// A running service and what the test needs to talk to it.
pub struct TestApp {
    /// `http://127.0.0.1:<port>`
    pub address: String,
    #[allow(dead_code)]
    pub settings: Settings,
}

/// Starts the service on its own database, topics, group and Redis prefix; `customise` may then
/// point it elsewhere (e.g. at a proxy the test can cut).
pub async fn spawn_app_with(customise: impl FnOnce(&mut CommonSettings)) -> TestApp {
    let mut settings = get_configuration().expect("configuration loads");
    isolate(&mut settings.common).await;
    customise(&mut settings.common);
    let app = Application::build(settings.clone())
        .await
        .expect("the service starts");
    let address = format!("http://127.0.0.1:{}", app.port());
    actix_web::rt::spawn(app.run_until_stopped());
    TestApp { address, settings }
}

/// Starts the service with the isolated settings unchanged.
#[allow(dead_code)]
pub async fn spawn_app() -> TestApp {
    spawn_app_with(|_| {}).await
}
