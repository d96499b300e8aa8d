//! The ceilings measured in the same run: a bare actix-web handler, redis-benchmark, Kafka's producer tool.
use super::*;

/// What this machine can do at best, measured in the same run.
#[derive(Debug)]
pub(super) struct Ceilings {
    /// A bare actix-web handler returning a cached recommendation answer's bytes, under the
    /// same wrk shape and script as the cached reads.
    pub(super) http: WrkResult,
    /// `redis-benchmark` GET of a value of the same size, requests/s.
    pub(super) redis_get: f64,
    /// Kafka's ProducerPerformance with our envelopes and producer settings, records/s.
    pub(super) kafka_records: f64,
    pub(super) kafka_record_bytes: usize,
}

pub(super) async fn measure_ceilings(plan: &Plan, seeded: &Seeded) -> anyhow::Result<Ceilings> {
    let http = http_ceiling(plan, seeded)?;
    let redis_get = redis_ceiling(seeded.cached_body.len())?;
    let (kafka_records, kafka_record_bytes) = kafka_ceiling(plan, seeded).await?;
    Ok(Ceilings {
        http,
        redis_get,
        kafka_records,
        kafka_record_bytes,
    })
}

/// Serves `cached_body` for every request from a bare actix-web server (two workers, like the
/// services on this machine) in its own thread, and runs the cached-read wrk against it.
pub(super) fn http_ceiling(plan: &Plan, seeded: &Seeded) -> anyhow::Result<WrkResult> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    let port = listener.local_addr()?.port();
    let body = actix_web::web::Bytes::from(seeded.cached_body.clone());
    let (handle_tx, handle_rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        actix_web::rt::System::new().block_on(async move {
            let server = actix_web::HttpServer::new(move || {
                let body = body.clone();
                actix_web::App::new().default_service(actix_web::web::to(move || {
                    let body = body.clone();
                    async move {
                        actix_web::HttpResponse::Ok()
                            .content_type("application/json")
                            .body(body)
                    }
                }))
            })
            .workers(2)
            .listen(listener)
            .map(|s| s.run());
            match server {
                Ok(server) => {
                    let _ = handle_tx.send(Some(server.handle()));
                    let _ = server.await;
                }
                Err(_) => {
                    let _ = handle_tx.send(None);
                }
            }
        });
    });
    let handle = handle_rx.recv()?.context("the ceiling server did not start")?;
    let targets = plan.out.join("targets").join("recommendations_cached.wrk");
    let result = wrk_with(
        &format!("http://127.0.0.1:{port}"),
        WRK_THREADS,
        WRK_CONNECTIONS,
        plan.seconds,
        &[format!("X-API-Key: {READ_KEY}")],
        Some((&script(plan), &targets)),
    );
    drop(handle.stop(false));
    result
}

pub(super) fn script(plan: &Plan) -> PathBuf {
    plan.root.join("benches/load/wrk/targets.lua")
}

pub(super) fn redis_ceiling(value_bytes: usize) -> anyhow::Result<f64> {
    let output = Command::new("redis-benchmark")
        .args(["-h", "127.0.0.1", "-p", "6379", "-t", "get", "-n", "300000"])
        .args([
            "-c",
            &WRK_CONNECTIONS.to_string(),
            "-d",
            &value_bytes.to_string(),
            "--csv",
        ])
        .output()
        .context("redis-benchmark is not runnable (Debian package redis-tools)")?;
    let text = String::from_utf8_lossy(&output.stdout);
    // "test","rps",... then "GET","123456.78",...
    text.lines()
        .find(|l| l.starts_with("\"GET\""))
        .and_then(|l| l.split(',').nth(1))
        .and_then(|v| v.trim_matches('"').parse().ok())
        .with_context(|| format!("no GET figure in redis-benchmark's output: {text}"))
}

/// Kafka's own producer tool on the same broker: records are real action envelopes (the
/// payload file), producer settings are ours (idempotent, acks=all, linger 2 ms, lz4).
pub(super) async fn kafka_ceiling(plan: &Plan, seeded: &Seeded) -> anyhow::Result<(f64, usize)> {
    let mut settings = shared::testing::local_settings().kafka;
    settings.topic_prefix = format!("load_{}_", Uuid::now_v7().simple());
    shared::testing::create_topics(&settings).await;
    let topic = settings.topic(shared::events::topics::USER_ACTIONS);
    let payloads = plan.out.join("kafka-payloads.txt");
    let lines: Vec<String> = (0..10_000)
        .map(|i| {
            let mut line = seeded.envelope.clone();
            // Distinct ids, as real events have.
            line = line.replacen(&seeded.users[0].to_string(), &Uuid::from_u128(i).to_string(), 1);
            line
        })
        .collect();
    std::fs::write(&payloads, lines.join("\n"))?;
    let libs =
        std::env::var("KAFKA_LIBS").map_or_else(|_| plan.root.join(".infra/kafka/libs"), PathBuf::from);
    let output = Command::new("java")
        .arg("-cp")
        .arg(format!("{}/*", libs.display()))
        .arg("org.apache.kafka.tools.ProducerPerformance")
        .args(["--topic", &topic, "--num-records", "500000", "--throughput", "-1"])
        .arg("--payload-file")
        .arg(&payloads)
        .args([
            "--producer-props",
            &format!("bootstrap.servers={}", settings.brokers),
        ])
        .args([
            "acks=all",
            "enable.idempotence=true",
            "linger.ms=2",
            "compression.type=lz4",
        ])
        .stderr(Stdio::null())
        .output()
        .context("java is not runnable")?;
    let text = String::from_utf8_lossy(&output.stdout);
    // The last line: "500000 records sent, 123456.7 records/sec (..."
    let rate = text
        .lines()
        .rev()
        .find(|l| l.contains("records sent"))
        .and_then(|l| l.split(", ").nth(1))
        .and_then(|part| part.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .with_context(|| format!("no rate in ProducerPerformance's output: {text}"))?;
    Ok((rate, seeded.envelope.len()))
}
