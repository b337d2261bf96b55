//! The change listener of a PostgreSQL replica: `LISTEN auth_service_changes`,
//! drop what each note names from memory, and prove the connection alive with
//! a heartbeat note every second (see [`super::memo`]).

use std::time::Duration;

use sqlx::postgres::PgListener;

use super::memo::{CHANNEL, Change, HEARTBEAT};
use super::{Dialect, Store};

/// No note at all for this long (heartbeats included) means the connection is stalled.
const SILENCE: Duration = Duration::from_secs(8);
/// Pause before connecting again.
const RECONNECT: Duration = Duration::from_secs(1);

impl Store {
    /// Tell this replica and (on PostgreSQL) every other one that a write changed something.
    /// Called after the write; memory here is dropped before this returns.
    pub(crate) async fn announce(&self, change: Change) {
        self.memo.apply(&change);
        if self.dialect == Dialect::Postgres {
            let sent =
                sqlx::query("SELECT pg_notify($1, $2)").bind(CHANNEL).bind(change.encode()).execute(&self.pool).await;
            if let Err(e) = sent {
                // The write itself committed; other replicas catch up within MAX_STALENESS.
                tracing::warn!(error = %e, "could not tell the other replicas of a change");
            }
        }
    }

    /// On PostgreSQL, start the change listener and its heartbeat (they run until aborted).
    pub fn listen_for_changes(&self) -> Vec<tokio::task::JoinHandle<()>> {
        if self.dialect != Dialect::Postgres {
            return Vec::new();
        }
        let mut replica = [0u8; 6];
        let _ = getrandom::fill(&mut replica);
        let replica = hex::encode(replica);
        let beat = {
            let store = self.clone();
            tokio::spawn(async move {
                let mut tick = tokio::time::interval(HEARTBEAT);
                tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
                for seq in 0u64.. {
                    tick.tick().await;
                    let note = format!("hb\t{replica}\t{seq}");
                    let send = sqlx::query("SELECT pg_notify($1, $2)").bind(CHANNEL).bind(note).execute(&store.pool);
                    let _ = tokio::time::timeout(HEARTBEAT, send).await;
                }
            })
        };
        let store = self.clone();
        let listen = tokio::spawn(async move {
            loop {
                store.listen_once().await;
                store.memo.set_listening(false);
                tokio::time::sleep(RECONNECT).await;
            }
        });
        vec![beat, listen]
    }

    /// One connection's life: subscribe, then apply notes until it fails or goes silent.
    async fn listen_once(&self) {
        let connect = async {
            let mut listener = PgListener::connect(&self.url).await?;
            listener.listen(CHANNEL).await?;
            Ok::<_, sqlx::Error>(listener)
        };
        let mut listener = match tokio::time::timeout(SILENCE, connect).await {
            Ok(Ok(l)) => l,
            Ok(Err(e)) => {
                tracing::warn!(error = %e, "change listener cannot connect; reading the database until it can");
                return;
            }
            Err(_) => {
                tracing::warn!("change listener: connecting timed out; reading the database until it can");
                return;
            }
        };
        self.memo.set_listening(true);
        tracing::info!("listening for changes made by other replicas");
        loop {
            match tokio::time::timeout(SILENCE, listener.try_recv()).await {
                Ok(Ok(Some(note))) => {
                    self.memo.heartbeat_heard();
                    if let Some(change) = Change::decode(note.payload()) {
                        self.memo.apply(&change);
                    }
                }
                Ok(Ok(None)) | Ok(Err(_)) => {
                    tracing::warn!("change listener lost its connection; reading the database until it is back");
                    return;
                }
                Err(_) => {
                    tracing::warn!("change listener heard nothing, not even heartbeats; reconnecting");
                    return;
                }
            }
        }
    }
}
