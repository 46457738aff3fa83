//! A shared record of what happened when: phases, transactions and their gas.

use std::{
    sync::{Arc, Mutex},
    time::Instant,
};

use serde::Serialize;

/// One line of the timeline.
#[derive(Clone, Debug, Serialize)]
pub struct TimelineEntry {
    /// Seconds since the timeline started.
    pub at_s: f64,
    /// Who acted.
    pub actor: String,
    /// What happened.
    pub what: String,
    /// Gas of the transaction, if it was one.
    pub gas: Option<u64>,
}

/// A cloneable, thread-safe timeline.
#[derive(Clone, Debug)]
pub struct Timeline {
    start: Instant,
    entries: Arc<Mutex<Vec<TimelineEntry>>>,
}

impl Default for Timeline {
    fn default() -> Self {
        Self {
            start: Instant::now(),
            entries: Arc::default(),
        }
    }
}

impl Timeline {
    /// Records an event.
    pub fn record(&self, actor: &str, what: impl Into<String>, gas: Option<u64>) {
        let what = what.into();
        tracing::info!(actor, gas, "{what}");
        let entry = TimelineEntry {
            at_s: self.start.elapsed().as_secs_f64(),
            actor: actor.into(),
            what,
            gas,
        };
        self.entries.lock().expect("timeline lock").push(entry);
    }

    /// All entries so far.
    pub fn entries(&self) -> Vec<TimelineEntry> {
        self.entries.lock().expect("timeline lock").clone()
    }
}
