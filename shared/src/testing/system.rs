//! The four service binaries on one isolated set of infrastructure: they share a topic prefix
//! (they talk through Kafka) and each has its own database, consumer group and Redis prefix.
//! Services can be killed, restarted and scaled out while a test runs. Used by the whole-system
//! tests (debug binaries) and the live replay (release binaries).
use std::path::{Path, PathBuf};

use super::{create_database, isolate, local_settings, ServiceProcess};
use crate::configuration::CommonSettings;

/// The services, in start order.
pub const SERVICES: [&str; 4] = ["users", "products", "recommender", "analytics"];

/// One service: how to start it and its running instances (the first one is `root`).
struct Service {
    binary: PathBuf,
    settings: CommonSettings,
    env: Vec<(String, String)>,
    instances: Vec<ServiceProcess>,
}

impl Service {
    async fn start_instance(&mut self) -> String {
        let env: Vec<(&str, &str)> = self.env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        let process = ServiceProcess::start(&self.binary.display().to_string(), &self.settings, &env);
        process.wait_ready().await;
        let root = format!("http://127.0.0.1:{}", process.port());
        self.instances.push(process);
        root
    }
}

/// The running services.
pub struct ServiceSet {
    services: Vec<Service>,
    roots: Vec<String>,
}

fn index(name: &str) -> usize {
    SERVICES
        .iter()
        .position(|n| *n == name)
        .unwrap_or_else(|| panic!("no service {name}"))
}

impl ServiceSet {
    /// Starts the binaries found in `binaries` (e.g. `target/debug`) one after the other,
    /// each ready before the next; `tune(name, env)` may add `APP_*` variables for a service
    /// (e.g. to route its Kafka, Postgres or Redis through a proxy the test can cut). Flushes
    /// run every 200 ms unless tuned otherwise.
    pub async fn start(binaries: &Path, tune: impl Fn(&str, &mut Vec<(String, String)>)) -> Self {
        let mut base = local_settings();
        isolate(&mut base).await;
        let mut services = Vec::new();
        let mut roots = Vec::new();
        for name in SERVICES {
            let binary = binaries.join(name);
            assert!(
                binary.exists(),
                "{} is missing: build the services first (`cargo build --bins`, scripts/test does)",
                binary.display()
            );
            let mut settings = base.clone();
            settings.database.database_name = format!("{}_{name}", base.database.database_name);
            settings.kafka.consumer_group = format!("{}_{name}", base.kafka.consumer_group);
            settings.redis.key_prefix = format!("{}{name}:", base.redis.key_prefix);
            create_database(&settings.database).await;
            let mut env = vec![
                ("APP_RECOMMENDER__FLUSH_INTERVAL_MS".into(), "200".into()),
                ("APP_ANALYTICS__FLUSH_INTERVAL_MS".into(), "200".into()),
            ];
            tune(name, &mut env);
            let mut service = Service {
                binary,
                settings,
                env,
                instances: Vec::new(),
            };
            roots.push(service.start_instance().await);
            services.push(service);
        }
        Self { services, roots }
    }

    /// `http://127.0.0.1:<port>` of the service's first running instance.
    pub fn root(&self, name: &str) -> &str {
        &self.roots[index(name)]
    }

    /// The service's API base, `<root>/api/v1`.
    pub fn api(&self, name: &str) -> String {
        format!("{}/api/v1", self.root(name))
    }

    /// The isolated settings of a service (its database, group, topic prefix).
    pub fn settings(&self, name: &str) -> &CommonSettings {
        &self.services[index(name)].settings
    }

    /// SIGKILL of every instance of a service: no flush, no commit, no goodbye.
    pub fn kill(&mut self, name: &str) {
        for process in self.services[index(name)].instances.drain(..) {
            process.kill();
        }
    }

    /// Starts one more instance of a service (same group, same database) and waits until
    /// it is ready; the first running instance keeps serving the service's `root`.
    pub async fn start_instance(&mut self, name: &str) {
        let i = index(name);
        let root = self.services[i].start_instance().await;
        if self.services[i].instances.len() == 1 {
            self.roots[i] = root;
        }
    }
}
