//! Starting and stopping the whole emulator.

use crate::config::Config;
use crate::http::{self, AdminState};
use crate::reserved::ReservedTopicRouter;
use anyhow::{Context, Result};
use iotemu_broker::Broker;
use iotemu_core::Scope;
use iotemu_core::{Clock, SystemClock};
use iotemu_cwlogs::v2_logging::Logging;
use iotemu_logs::{FileSink, LogPipeline, PipelineHandle, StdoutSink};
use iotemu_registry::ca::CertAuthority;
use iotemu_registry::{Registry, RegistryAuthenticator, RegistryAuthorizer};
use iotemu_store::Store;
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

/// Builds a running emulator from a configuration.
pub struct App;

/// How long each step of the start took: `IOTEMU_LOG=iotemu=debug` prints them
/// (`scripts/bench-start.sh` measures the whole start).
struct Phases(std::time::Instant);

impl Phases {
    fn done(&mut self, phase: &str) {
        let now = std::time::Instant::now();
        tracing::debug!(phase, ms = (now - self.0).as_secs_f64() * 1000.0, "start phase");
        self.0 = now;
    }
}

/// A started emulator: where it listens, and how to stop it.
pub struct Running {
    pub mqtt_addr: SocketAddr,
    pub mqtts_addr: SocketAddr,
    /// The device port (AWS's 443): MQTT, HTTPS and WebSockets by ALPN.
    pub device_addr: SocketAddr,
    pub api_addr: SocketAddr,
    /// The LoRa Basics Station (LNS) endpoint of AWS IoT Core for LoRaWAN.
    pub lns_addr: SocketAddr,
    pub data_dir: PathBuf,
    pub ca_cert_path: PathBuf,
    pub server_cert_dir: PathBuf,
    /// What `--seed` did, when given.
    pub seeded: Option<crate::seed::Applied>,
    shutdown: CancellationToken,
    broker: Broker,
    pipeline: PipelineHandle,
    /// Checkpointed at shutdown, so that each database file alone holds its data.
    store: Arc<Store>,
    log_store: Arc<iotemu_cwlogs::LogStore>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
    /// Removed on drop when the emulator runs with `--ephemeral`.
    _ephemeral: Option<tempfile::TempDir>,
}

impl App {
    /// Creates the CA if needed, binds every listener and starts serving.
    pub async fn start(config: Config) -> Result<Running> {
        let mut phases = Phases(std::time::Instant::now());
        config.validate()?;
        // Read and checked first: a mistake in it changes nothing.
        let seed = match config.server.seed.as_str() {
            "" => None,
            path => Some(crate::seed::Seed::load(std::path::Path::new(path))?),
        };
        let ephemeral = if config.server.ephemeral {
            Some(
                tempfile::Builder::new()
                    .prefix("iotemu-")
                    .tempdir()
                    .context("creating the ephemeral data directory")?,
            )
        } else {
            None
        };
        let data_dir = match &ephemeral {
            Some(dir) => dir.path().to_owned(),
            None => config.server.data_dir.clone(),
        };
        let ca = Arc::new(CertAuthority::load_or_create(&data_dir)?);
        let (server_chain, server_key, server_cert_dir) =
            ca.server_identity(&data_dir, &config.server_certificate_names())?;
        phases.done("ca");
        // One clock for the services that keep time (creation dates, ingestion, job timers).
        let clock: Arc<dyn Clock> = Arc::new(SystemClock);

        // SetV2LoggingOptions' eventConfigurations: levels for the pipeline, log groups for the store.
        let event_configurations = Arc::new(iotemu_logs::EventConfigurations::default());
        let mut pipeline = LogPipeline::new(config.server.account_id.as_str(), config.log_level()?)
            .capacity(config.logging.queue_capacity)
            .event_configurations(event_configurations.clone());
        if config.logging.stdout {
            pipeline = pipeline.sink(Box::new(StdoutSink::new()));
        }
        if !config.logging.file.is_empty() {
            let path = PathBuf::from(&config.logging.file);
            let sink =
                FileSink::open(&path).with_context(|| format!("opening log file {}", path.display()))?;
            pipeline = pipeline.sink(Box::new(sink));
        }
        let log_scope = Scope::new(config.server.account_id.clone(), config.server.region.clone());
        let log_store = Arc::new(
            iotemu_cwlogs::LogStore::open(&data_dir.join("logs.db"))
                .map_err(|e| anyhow::anyhow!("opening the log store: {e}"))?,
        );
        let retention = Some(config.logstore.retention_days);
        log_store
            .ensure_group(&log_scope, iotemu_cwlogs::IOT_LOG_GROUP, retention, clock.now_millis() as i64)
            .map_err(|e| anyhow::anyhow!("opening the log store: {e}"))?;
        let mut log_store_missed = None;
        let mut log_store_backlog = None;
        if config.logstore.enabled {
            let sink = iotemu_cwlogs::StoreSink::start(
                log_store.clone(),
                iotemu_cwlogs::StoreConfig {
                    scope: log_scope,
                    queue_capacity: config.logstore.queue_capacity,
                    wait_when_full: config.logstore.wait_when_full,
                    spool: (config.logstore.spool_max_mb > 0)
                        .then(|| (data_dir.join("logs.spool"), config.logstore.spool_max_mb << 20)),
                    max_events: config.logstore.max_events,
                    retention_days: config.logstore.retention_days,
                    clock: clock.clone(),
                    events: event_configurations,
                },
            )
            .context("starting the log store")?;
            log_store_missed = Some(sink.missed());
            log_store_backlog = Some(sink.backlog());
            pipeline = pipeline.sink(Box::new(sink));
        }
        let (tail_sink, tail) = iotemu_logs::live_tail(config.logging.tail_entries);
        let (logs, pipeline) =
            pipeline.sink(Box::new(tail_sink)).start().context("starting the log writer")?;
        phases.done("log pipeline and log store");
        let store = Arc::new(match &ephemeral {
            Some(_) => Store::in_memory(),
            None => Store::open(&data_dir.join("iotemu.db")),
        }?);
        let logging =
            Arc::new(Logging { logs: logs.clone(), store: store.clone(), start_level: config.log_level()? });
        logging.restore().map_err(|e| anyhow::anyhow!("restoring the logging options: {e}"))?;
        phases.done("store");
        let registry = Arc::new(
            Registry::load(store.clone(), ca.clone())
                .map_err(|e| anyhow::anyhow!("loading the registry: {e}"))?
                .with_clock(clock.clone()),
        );
        phases.done("registry");
        let events = Arc::new(
            crate::events::EventPublisher::load(store.clone(), logs.clone())
                .map_err(|e| anyhow::anyhow!("loading the event configurations: {}", e.message))?,
        );
        registry.on_events(events.clone());
        // Certificates are checked by the registry of the account and region MQTT serves.
        let mqtt_scope = Scope::new(config.server.account_id.clone(), config.server.region.clone());
        let authenticator = Arc::new(iotemu_provisioning::jit::JitAuthenticator::new(
            Arc::new(RegistryAuthenticator::new(registry.clone(), mqtt_scope.clone())),
            mqtt_scope.clone(),
        ));
        let shutdown = CancellationToken::new();
        let reserved = Arc::new(ReservedTopicRouter::new(mqtt_scope.clone()));
        let device_authorizer: Arc<dyn iotemu_core::DeviceAuthorizer> =
            Arc::new(RegistryAuthorizer { registry: registry.clone(), scope: mqtt_scope.clone() });
        let broker = Broker::new(
            config.broker_config(),
            logs.clone(),
            reserved.clone(),
            authenticator.clone(),
            device_authorizer.clone(),
            shutdown.clone(),
        );
        // Retained messages and persistent sessions survive restarts (before any listener runs).
        broker.attach_store(store.clone(), mqtt_scope.clone());
        phases.done("broker");
        let limits = iotemu_shadow::Limits {
            max_document_bytes: config.shadow.max_document_bytes,
            ..Default::default()
        };
        let shadows = Arc::new(
            iotemu_shadow::Shadows::load(store.clone(), limits)
                .map_err(|e| anyhow::anyhow!("loading the shadows: {}", e.message))?,
        );
        phases.done("shadows");
        let topic_rules = Arc::new(
            iotemu_rules::TopicRules::load(store.clone(), clock.clone())
                .map_err(|e| anyhow::anyhow!("loading the topic rules: {e}"))?,
        );
        for rule in &config.rules.topic_rule {
            topic_rules
                .put(&mqtt_scope, &rule.name, rule.payload())
                .map_err(|e| anyhow::anyhow!("creating rule {} of the config file: {e}", rule.name))?;
        }
        let cloudwatch = Arc::new(iotemu_cwlogs::Logs::new(log_store.clone(), clock.clone()));
        let rules_engine = iotemu_rules::RulesEngine::start(
            topic_rules.clone(),
            mqtt_scope.clone(),
            logs.clone(),
            iotemu_rules::Services {
                publisher: Arc::new(broker.clone()),
                shadows: Some(Arc::new(crate::rules_services::ShadowStoreReader {
                    shadows: shadows.clone(),
                    clock: clock.clone(),
                })),
                log_groups: Some(Arc::new(crate::rules_services::LogStoreWriter(cloudwatch.clone()))),
            },
            config.rules.engine_config(&config.aws_services),
        );
        broker.attach_rules(Arc::new(rules_engine.clone()));
        phases.done("rules");
        events.attach(Arc::new(broker.clone()));
        reserved.attach_rules(rules_engine.clone());
        let shadows = Arc::new(iotemu_shadow::ShadowRequests::new(
            shadows,
            Arc::new(broker.clone()),
            logs.clone(),
            clock.clone(),
        ));
        reserved.attach_shadows(shadows.clone());
        // Fleet indexing: rebuilt from the store now, then kept current from a bounded channel fed
        // by the registry, the shadow service and the broker's connects and disconnects.
        let index = iotemu_index::Index::load(
            store.clone(),
            registry.clone(),
            shadows.shadows.clone(),
            logs.clone(),
            clock.clone(),
            mqtt_scope.clone(),
        )
        .map_err(|e| anyhow::anyhow!("loading the fleet index: {e}"))?;
        phases.done("fleet index");
        registry.attach_index(index.feed());
        shadows.attach_index(index.feed());
        broker.attach_index(index.feed());
        let jobs = Arc::new(
            iotemu_jobs::Jobs::load(
                store.clone(),
                clock.clone(),
                registry.clone(),
                Arc::new(broker.clone()),
                logs.clone(),
                config.jobs.minute_seconds.saturating_mul(1000),
            )
            .map_err(|e| anyhow::anyhow!("loading the jobs: {e}"))?
            .with_aws_services(config.aws_services.clone()),
        );
        reserved.attach_jobs(jobs.clone());
        jobs.on_events(events.clone());
        let provisioning = Arc::new(
            iotemu_provisioning::Provisioning::load(
                store.clone(),
                registry.clone(),
                clock.clone(),
                Arc::new(broker.clone()),
                logs.clone(),
                config.provisioning.settings(),
            )
            .map_err(|e| anyhow::anyhow!("loading the provisioning templates: {e}"))?,
        );
        reserved.attach_provisioning(provisioning.clone());
        authenticator.attach(provisioning.clone());
        // LoRaWAN uplinks reach rules (Basic Ingest topics) and subscribers through the broker.
        let wireless = Arc::new(
            iotemu_wireless::Wireless::load(
                store.clone(),
                logs.clone(),
                Arc::new(broker.clone()),
                iotemu_wireless::RolePolicy(config.wireless.allowed_role_arns.clone()),
            )
            .map_err(|e| anyhow::anyhow!("loading the wireless resources: {e}"))?,
        );
        phases.done("jobs, provisioning, wireless");
        // THING_GROUP log targets: the groups of the thing a client id names.
        let groups = (registry.clone(), mqtt_scope.clone());
        logs.policy()
            .set_thing_groups(move |client| groups.0.thing_group_hierarchy(&groups.1, &client.client_id));
        let on_deactivate = broker.clone();
        registry.on_deactivate(move |certificate_id, reason| {
            on_deactivate.disconnect_principal(certificate_id, reason);
        });

        let ip: IpAddr = config.server.bind.parse().context("bind address")?;
        let bind = |port: u16| async move {
            TcpListener::bind((ip, port)).await.with_context(|| format!("binding {ip}:{port}"))
        };
        let mqtt = bind(config.server.mqtt_port).await?;
        let mqtts = bind(config.server.mqtts_port).await?;
        let device = bind(config.server.device_port).await?;
        let api = bind(config.server.api_port).await?;
        let lns = bind(config.wireless.lns_port).await?;
        let (mqtt_addr, mqtts_addr, api_addr) = (mqtt.local_addr()?, mqtts.local_addr()?, api.local_addr()?);
        let lns_addr = lns.local_addr()?;
        let device_addr = device.local_addr()?;
        phases.done("listeners");

        // TLS trusts the emulator's CA, the registered ACTIVE CAs and the registered certificates.
        let tls = iotemu_broker::tls::server_config(
            authenticator.clone(),
            server_chain.clone(),
            server_key.clone_key(),
        )?;
        let acceptor = tokio_rustls::TlsAcceptor::from(tls);
        let device_tls = iotemu_broker::tls::device_port_config(authenticator, server_chain, server_key)?;
        let device_acceptor = tokio_rustls::TlsAcceptor::from(device_tls);
        let websockets = Arc::new(crate::websocket::WebSockets {
            broker: broker.clone(),
            ttl: Duration::from_secs(config.broker.websocket_ttl_secs),
            api_addr,
        });
        let admin = Arc::new(AdminState {
            ca_pem: ca.cert_pem.clone(),
            account_id: config.server.account_id.clone(),
            region: config.server.region.clone(),
            broker: broker.clone(),
            logs,
            tail,
            registry,
            logging,
            events,
            cloudwatch,
            shadows,
            topic_rules,
            jobs: jobs.clone(),
            provisioning: provisioning.clone(),
            wireless: wireless.clone(),
            index: index.clone(),
            rules_engine,
            log_store_missed,
            log_store_backlog,
            mqtt_addr,
            mqtts_addr,
            api_addr,
            websockets: websockets.clone(),
            authorizers: Arc::new(
                iotemu_authorizers::Authorizers::load(store.clone(), clock.clone())
                    .map_err(|e| anyhow::anyhow!("loading the authorizers: {e}"))?
                    .with_endpoints(config.authorizers.endpoints.clone()),
            ),
        });
        // Devices connect through the custom authorizers of the account the MQTT ports serve.
        broker.set_custom_authenticator(Arc::new(iotemu_authorizers::DeviceCustomAuth {
            authorizers: admin.authorizers.clone(),
            scope: mqtt_scope.clone(),
        }));
        let device_state = Arc::new(crate::device::DeviceState {
            data_plane: Arc::new(iotemu_dataplane::DataPlane::new(broker.clone(), admin.logs.clone())),
            shadows: admin.shadows.clone(),
            authorizer: device_authorizer,
            scope: mqtt_scope.clone(),
            websockets,
        });
        let (https_tx, https_rx) = tokio::sync::mpsc::channel(64);
        let device_shutdown = shutdown.clone();
        let api_router = http::router(admin);
        let seed_route = crate::seed::http::routes(
            api_router.clone(),
            config.server.account_id.clone(),
            config.server.region.clone(),
            data_dir.clone(),
        );
        let api_router = api_router.merge(seed_route);
        let seeded = match &seed {
            // Before the API serves: once health answers, the fixtures are there.
            Some(seed) => {
                Some(seed.apply(&api_router, &config.server.account_id, &config.server.region).await?)
            }
            None => None,
        };
        phases.done("api and seed");
        let api_shutdown = shutdown.clone();
        let lns_shutdown = shutdown.clone();
        // The job timers fire within a tenth of a "minute" (at most a second) of their time.
        let tick = Duration::from_millis((config.jobs.minute_seconds.saturating_mul(100)).clamp(50, 1000));
        let tasks = vec![
            tokio::spawn(jobs.run_timers(tick, shutdown.clone())),
            tokio::spawn(index.run(shutdown.clone())),
            // Ownership tokens expire within a second of their hour.
            tokio::spawn(provisioning.run_timers(Duration::from_secs(1), shutdown.clone())),
            tokio::spawn(iotemu_broker::serve_plain(mqtt, broker.clone())),
            tokio::spawn(iotemu_broker::serve_tls(mqtts, acceptor, broker.clone())),
            tokio::spawn(iotemu_broker::serve_device_port(device, device_acceptor, broker.clone(), https_tx)),
            tokio::spawn(async move {
                // HTTPS of the device port: the broker hands each connection over after TLS.
                let listener = crate::device::DeviceListener { connections: https_rx, local: device_addr };
                let service = crate::device::router(device_state)
                    .into_make_service_with_connect_info::<crate::device::DevicePeer>();
                let serve = axum::serve(listener, service)
                    .with_graceful_shutdown(async move { device_shutdown.cancelled().await });
                if let Err(e) = serve.await {
                    tracing::error!(error = %e, "device port HTTPS failed");
                }
            }),
            tokio::spawn(async move {
                // The peer address is the sourceIp of an HTTP publish's Publish-In entry.
                let service = api_router.into_make_service_with_connect_info::<SocketAddr>();
                let serve = axum::serve(api, service)
                    .with_graceful_shutdown(async move { api_shutdown.cancelled().await });
                if let Err(e) = serve.await {
                    tracing::error!(error = %e, "API listener failed");
                }
            }),
            tokio::spawn(async move {
                // The gateway's address is the source of its uplinks' messages.
                let service = iotemu_wireless::lns::server::routes(wireless)
                    .into_make_service_with_connect_info::<SocketAddr>();
                let serve = axum::serve(lns, service)
                    .with_graceful_shutdown(async move { lns_shutdown.cancelled().await });
                if let Err(e) = serve.await {
                    tracing::error!(error = %e, "LNS listener failed");
                }
            }),
        ];
        Ok(Running {
            mqtt_addr,
            mqtts_addr,
            device_addr,
            api_addr,
            lns_addr,
            data_dir,
            ca_cert_path: ca.cert_path(),
            server_cert_dir,
            seeded,
            shutdown,
            broker,
            pipeline,
            store,
            log_store,
            tasks,
            _ephemeral: ephemeral,
        })
    }
}

impl Running {
    /// The line scripts wait for once every listener is bound.
    pub fn listening_line(&self) -> String {
        format!(
            "iotemu listening mqtt={} mqtts={} api={} lns={} device={}",
            self.mqtt_addr, self.mqtts_addr, self.api_addr, self.lns_addr, self.device_addr
        )
    }

    /// Stops accepting, disconnects every client (SERVER_INITIATED_DISCONNECT; their persistent
    /// sessions are written with what was on its way to them), flushes the log sinks and
    /// checkpoints both SQLite databases, within `grace`.
    pub async fn shutdown(self, grace: Duration) {
        self.shutdown.cancel();
        let started = tokio::time::Instant::now();
        if !self.broker.wait_closed(grace.mul_f32(0.7)).await {
            tracing::warn!(remaining = self.broker.connection_count(), "connections still open at shutdown");
        }
        let mut pending = Vec::new();
        for mut task in self.tasks {
            if tokio::time::timeout(Duration::from_millis(200), &mut task).await.is_err() {
                pending.push(task);
            }
        }
        let left = grace.saturating_sub(started.elapsed()).max(Duration::from_millis(200));
        let pipeline = self.pipeline;
        let flushed = tokio::task::spawn_blocking(move || pipeline.shutdown(left)).await.unwrap_or(false);
        if !flushed {
            tracing::warn!("log sinks were not flushed in time");
        }
        // The live-tail streams end with the pipeline: let the API finish writing them, so a
        // follower reads a complete response rather than a connection cut mid-chunk.
        for task in pending {
            let _ = tokio::time::timeout(Duration::from_millis(300), task).await;
        }
        let (store, log_store) = (self.store, self.log_store);
        let checkpoints = tokio::task::spawn_blocking(move || {
            if let Err(e) = store.checkpoint() {
                tracing::warn!(error = %e, "could not checkpoint iotemu.db");
            }
            if let Err(e) = log_store.checkpoint() {
                tracing::warn!(error = %e, "could not checkpoint logs.db");
            }
        });
        let _ = tokio::time::timeout(Duration::from_millis(500), checkpoints).await;
    }
}
