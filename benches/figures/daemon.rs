//! The `ecwid-sync` a section measures: its config file and mirror in a scratch directory,
//! and `ecwid-sync run` as a separate process.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use crate::common::{TestStore, count, free_local_addr, spawn_ecwid_sync, wait_until};

/// A config for `store` with the production defaults, but for `ecwid_keys` (added to
/// `[ecwid]`) and `sections` (whole sections after `[mirror]`).
pub struct Setup {
    _dir: tempfile::TempDir,
    pub db: PathBuf,
    pub config: PathBuf,
}

impl Setup {
    pub fn new(store: &TestStore, ecwid_keys: &str, sections: &str) -> Setup {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("mirror.db");
        let config = dir.path().join("config.toml");
        std::fs::write(
            &config,
            format!(
                "[ecwid]\nstore_id = {}\ntoken = \"{}\"\nclient_secret = \"{}\"\napi_base = \"{}\"\n{ecwid_keys}\n\
                 [mirror]\npath = \"{}\"\n{sections}\n",
                store.config.store_id,
                store.config.token,
                store.config.client_secret,
                store.emulator.api_base(),
                db.display()
            ),
        )
        .unwrap();
        Setup {
            _dir: dir,
            db,
            config,
        }
    }
}

/// `ecwid-sync run` for `store`, listening on a port of its own for webhooks and metrics,
/// past its first pass.
pub struct Daemon {
    pub setup: Setup,
    pub listen: SocketAddr,
    child: tokio::process::Child,
}

impl Daemon {
    /// `sync` goes into `[sync]`.
    pub async fn start(store: &TestStore, sync: &str) -> Daemon {
        let listen = free_local_addr();
        let setup = Setup::new(
            store,
            "",
            &format!(
                "[sync]\n{sync}\n[webhooks]\nlisten = \"{listen}\"\n[console]\nlisten = \"127.0.0.1:0\"\n"
            ),
        );
        let child = spawn_ecwid_sync(&setup.config, &["run"], Stdio::null());
        // Products, categories and orders: the kinds mirrored by default.
        let pulled = wait_until(Duration::from_secs(300), || async {
            count(
                &setup.db,
                "SELECT count(*) FROM sync_state WHERE last_full_finished IS NOT NULL",
            ) == 3
        })
        .await;
        assert!(pulled, "the daemon's first pass ends");
        Daemon {
            setup,
            listen,
            child,
        }
    }

    pub fn webhook_url(&self) -> String {
        format!("http://{}/webhooks/ecwid", self.listen)
    }

    pub async fn stop(mut self) {
        let _ = self.child.start_kill();
        let _ = self.child.wait().await;
    }
}
