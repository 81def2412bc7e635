//! The `oxcd` binary: parse etcd's flags, bind the listeners, run the
//! member until a signal, and turn its outcome into an exit code.

use oxcd::config::{normalize_args, Config};
use oxcd::error::Fatal;
use oxcd::log;
use oxcd::run::{run, Listeners};

async fn shutdown_signal() {
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term => {}
    }
}

/// Binds a listener for each URL.
async fn bind_each(
    urls: &[url::Url],
    reuse: (bool, bool),
) -> Result<Vec<(url::Url, tokio::net::TcpListener)>, Fatal> {
    let mut out = Vec::new();
    for u in urls {
        let l = oxcd::net::bind(u, reuse)
            .await
            .map_err(|e| Fatal::Start(e.to_string()))?;
        out.push((u.clone(), l));
    }
    Ok(out)
}

/// Binds every listener before the data dir is opened, so that a busy
/// port fails fast and cleanly.
async fn bind_all(cfg: &Config) -> Result<Listeners, Fatal> {
    Ok(Listeners {
        client: bind_each(&cfg.listen_client_urls, cfg.socket_reuse).await?,
        peer: bind_each(&cfg.listen_peer_urls, cfg.socket_reuse).await?,
        metrics: bind_each(&cfg.listen_metrics_urls, cfg.socket_reuse).await?,
    })
}

fn serve(cfg: Config) -> Result<(), Fatal> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| Fatal::Start(format!("cannot start the runtime: {e}")))?;
    rt.block_on(async move {
        let listeners = bind_all(&cfg).await?;
        run(cfg, listeners, shutdown_signal()).await
    })
}

fn main() {
    let args = normalize_args(std::env::args());
    match oxcd::config::help::asked(&args) {
        Some(oxcd::config::help::Asked::Version) => {
            print!("{}", oxcd::config::help::version());
            return;
        }
        Some(oxcd::config::help::Asked::Help) => {
            // as etcd: the usage lines on stderr, the flags on stdout
            eprint!("{}", oxcd::config::help::usage());
            print!("{}", oxcd::config::help::help());
            return;
        }
        None => {}
    }
    let outcome = match Config::from_args(args) {
        Ok(cfg) => match log::init(&cfg.log) {
            Ok(()) => {
                if let Some(path) = &cfg.config_file {
                    tracing::info!(
                        path = %path.display(),
                        "loaded server configuration, other configuration command line flags and environment variables will be ignored if provided"
                    );
                }
                for w in &cfg.warnings {
                    tracing::warn!("{w}");
                }
                serve(cfg)
            }
            Err(e) => Err(Fatal::Start(e)),
        },
        Err(Ok(clap_err)) => clap_err.exit(),
        Err(Err(msg)) => {
            // as etcd: a configuration it cannot use is a warning, then exit 1
            let _ = log::init(&log::LogConfig::default());
            tracing::warn!(error = %msg, "failed to verify flags");
            std::process::exit(1);
        }
    };
    if let Err(e) = outcome {
        // the configured outputs, or stderr when they are what failed
        let _ = log::init(&log::LogConfig::default());
        match e {
            Fatal::Start(_) => log::fatal("failed to start oxcd", &e.to_string()),
            _ => log::fatal("oxcd stopped", &e.to_string()),
        }
        std::process::exit(1);
    }
}
