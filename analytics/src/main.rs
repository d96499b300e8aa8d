use analytics::configuration::get_configuration;
use analytics::startup::Application;
use anyhow::Context;

#[actix_web::main]
async fn main() -> anyhow::Result<()> {
    let _logs = shared::telemetry::init("analytics")?;
    let settings = get_configuration().context("Failed to read the configuration")?;
    let application = Application::build(settings).await.map_err(|e| {
        tracing::error!(error.cause_chain = ?e, "analytics failed to start");
        e
    })?;
    application.run_until_stopped().await
}
