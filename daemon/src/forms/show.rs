//! The status forms (`--status`, `--briefstatus`, `--globalstatus`,
//! `--trafficstatus`, ... and their `--json` documents), `--listevents` and
//! `--clearstats`. The text itself is built in `crate::status`.

use control::request::StatusKind;
use control::server::Responder;

use crate::pluto::Pluto;
use crate::status;

impl Pluto {
    /// A status form; the kernel's byte counters are read first where shown.
    pub(crate) async fn status_form(
        &mut self,
        what: StatusKind,
        as_json: bool,
        r: &mut Responder,
        json: &mut serde_json::Map<String, serde_json::Value>,
    ) {
        if matches!(what, StatusKind::Status | StatusKind::Traffic) {
            self.refresh_counters().await;
        }
        if as_json {
            json.insert(what.option().into(), status::json_for(self, what));
        } else {
            for l in status::text_for(self, what) {
                r.comment(l);
            }
        }
    }

    /// `--listevents`: the core's pending timers.
    pub(crate) fn list_events_form(
        &mut self,
        as_json: bool,
        r: &mut Responder,
        json: &mut serde_json::Map<String, serde_json::Value>,
    ) {
        let now = std::time::Instant::now();
        let timers = self.ike.pending_timers();
        if as_json {
            json.insert("listevents".into(), crate::events::json(&timers, now));
        } else {
            let mono = crate::events::monotonic_secs();
            for l in crate::events::lines(&timers, now, mono) {
                r.comment(l);
            }
        }
    }

    /// `--clearstats`.
    pub(crate) fn clear_stats_form(&mut self, r: &mut Responder) {
        self.totals.clear();
        self.per_conn.clear();
        self.ike.clear_counters();
        r.comment("statistics cleared");
    }
}
