use anyhow::Context;
use console::configuration::get_configuration;
use console::startup::Application;

#[actix_web::main]
async fn main() -> anyhow::Result<()> {
    let _logs = shared::telemetry::init("console")?;
    let settings = get_configuration().context("Failed to read the configuration")?;
    let application = Application::build(settings).await.map_err(|e| {
        tracing::error!(error.cause_chain = ?e, "console failed to start");
        e
    })?;
    application.run_until_stopped().await
}
