//! Consent: three in four patients give telemedicine consent, two in five remote monitoring,
//! each within days of registering; a few revoke telemedicine later.

use chrono::Duration;
use diesel::prelude::*;
use rand::Rng;

use super::{Cast, Ctx, DemoReport};
use crate::db::schema::consent_forms;
use crate::db::DbConn;
use crate::domains::consent::{self, ConsentAction, NewConsent};
use crate::kit::backdate;
use crate::kit::Tx;

/// The patients (indices in the cast) whose consent stands.
pub(super) struct Consented {
    /// Telemedicine: the ones virtual visits are for.
    pub telemedicine: Vec<usize>,
    /// Remote monitoring: the ones devices are for.
    pub remote_monitoring: Vec<usize>,
}

pub(super) fn load(
    conn: &mut DbConn,
    ctx: &Ctx,
    cast: &Cast,
    report: &mut DemoReport,
) -> anyhow::Result<Consented> {
    let mut rng = ctx.rng("consent");
    let forms: Vec<(String, String)> = consent_forms::table
        .filter(consent_forms::active.eq(true))
        .select((consent_forms::kind, consent_forms::id))
        .load(conn)?;
    let form_of = |kind: &str| {
        forms
            .iter()
            .find(|(k, _)| k == kind)
            .map(|(_, id)| id.clone())
    };
    let (tele, remote) = (form_of("telemedicine"), form_of("remote_monitoring"));
    let mut out = Consented {
        telemedicine: Vec::new(),
        remote_monitoring: Vec::new(),
    };
    let mut events = 0;
    for (n, chunk) in cast.patients.chunks(250).enumerate() {
        // (gives telemedicine, gives remote monitoring, revokes telemedicine, days after
        // registering, days before revoking)
        let plan: Vec<(bool, bool, bool, i64, f64)> = chunk
            .iter()
            .map(|_| {
                (
                    rng.gen_bool(0.75),
                    rng.gen_bool(0.4),
                    rng.gen_bool(0.08),
                    rng.gen_range(0..21),
                    rng.gen_range(0.2..0.9),
                )
            })
            .collect();
        for (i, (gives_tele, gives_remote, revokes, _, _)) in plan.iter().enumerate() {
            if *gives_tele && !*revokes && tele.is_some() {
                out.telemedicine.push(n * 250 + i);
            }
            if *gives_remote && remote.is_some() {
                out.remote_monitoring.push(n * 250 + i);
            }
        }
        ctx.run(conn, |tx| {
            for (p, (gives_tele, gives_remote, revokes, after, later)) in chunk.iter().zip(&plan) {
                let me = p.actor(ctx.audit);
                let given = p.registered + Duration::days(*after) + Duration::minutes(5);
                let mut record = |tx: &mut Tx, form: &str, action, at| {
                    let e = tx.as_actor(&me, |tx| {
                        consent::record(
                            tx,
                            NewConsent {
                                consent_form_id: form.to_string(),
                                action,
                            },
                        )
                    })?;
                    events += 1;
                    backdate::column(tx, "consent_history", "recorded_at", "id", &e.id, at)
                };
                if let (true, Some(f)) = (gives_tele, &tele) {
                    record(tx, f, ConsentAction::Given, given)?;
                    if *revokes {
                        let span = (ctx.clock - given).num_minutes() as f64;
                        let revoked = given + Duration::minutes((span * later) as i64);
                        record(tx, f, ConsentAction::Revoked, revoked)?;
                    }
                }
                if let (true, Some(f)) = (gives_remote, &remote) {
                    record(tx, f, ConsentAction::Given, given + Duration::minutes(1))?;
                }
            }
            Ok(())
        })?;
    }
    report.consent_events = events;
    Ok(out)
}
