//! Insurance plans, a billing clerk, claims, payments and invoices.

use chrono::Duration;
use rand::seq::SliceRandom;
use rand::Rng;

use super::appointments::{Schedule, Visit};
use super::{actor, principal, Cast, Ctx, DemoReport, DEMO_DOMAIN, DEMO_PASSWORD};
use crate::auth::permissions::BILLING;
use crate::db::DbConn;
use crate::domains::{accounts, billing};
use crate::kit::{Date, Money, Tx};

/// Billed services: (CPT code, description, price in cents).
const SERVICES: &[(&str, &str, i64)] = &[
    (
        "99213",
        "Office visit, established patient, low complexity",
        13_500,
    ),
    (
        "99214",
        "Office visit, established patient, moderate complexity",
        19_800,
    ),
    ("80048", "Basic metabolic panel", 4_200),
    ("85025", "Complete blood count with differential", 3_100),
    ("83036", "Hemoglobin A1c", 2_900),
    ("80061", "Lipid panel", 3_800),
    ("93000", "Electrocardiogram with interpretation", 6_500),
    ("71046", "Chest X-ray, two views", 9_700),
];

/// Why insurers deny a claim.
const DENIALS: &[&str] = &[
    "Service not covered by the plan",
    "Prior authorization missing",
    "Member not eligible on the date of service",
    "Duplicate claim",
    "Diagnosis does not support the service billed",
];

/// Billing: plans from a few payers, a billing clerk, claims in every state of their review
/// (paid ones through payments), and invoices drafted, issued, paid and voided.
#[allow(clippy::too_many_arguments)]
pub(super) fn load(
    conn: &mut DbConn,
    ctx: &Ctx,
    cast: &Cast,
    schedule: &Schedule,
    report: &mut DemoReport,
) -> anyhow::Result<()> {
    use billing::{ClaimStatus as C, ClaimTransition, InvoiceLineInput, NewClaim, NewClaimLine};
    let mut rng = ctx.rng("billing");
    let rng = &mut rng;
    let patient_people = &cast.patients;
    if patient_people.is_empty() || schedule.visits.is_empty() {
        return Ok(());
    }
    let mut plans = Vec::new();
    let mut clerk_id = String::new();
    ctx.run(conn, |tx| {
        for (name, payer, code) in [
            ("Acme Gold PPO", "Acme Health", "ACME-GOLD"),
            ("Acme Silver HMO", "Acme Health", "ACME-SILVER"),
            ("BlueRiver Standard", "BlueRiver Insurance", "BR-STD"),
            ("Northwind Senior", "Northwind Mutual", "NW-SENIOR"),
        ] {
            let p = billing::create_plan(
                tx,
                billing::NewPlan {
                    name: name.into(),
                    payer: payer.into(),
                    plan_code: code.into(),
                    active: Some(true),
                },
            )?;
            plans.push(p.id);
        }
        let email = format!("billing@{DEMO_DOMAIN}");
        let u = accounts::create_account(
            tx,
            accounts::CreateUser {
                email: email.clone(),
                password: DEMO_PASSWORD.to_string(),
                display_name: "Billing Clerk".into(),
                roles: vec![BILLING.to_string()],
            },
            ctx.hash.clone(),
        )?;
        clerk_id = u.id.into_string();
        report.billing_login = email;
        Ok(())
    })?;
    let clerk = actor(ctx.audit, principal(&clerk_id, BILLING, None, None));
    // Claims of the last two months' visits (older ones have long been settled).
    let recent: Vec<&Visit> = schedule
        .visits
        .iter()
        .filter(|v| v.start >= ctx.clock - Duration::days(60))
        .collect();
    let visits: Vec<&Visit> = if recent.is_empty() {
        schedule.visits.iter().collect()
    } else {
        recent
    };
    let wanted = (patient_people.len() / 4).max(12);
    let mut plan = Vec::new();
    for i in 0..wanted {
        let v = *visits.choose(rng).expect("non-empty");
        let s = cast.doctors[v.doctor].specialty;
        // The visit, by its length, and what the specialty did at it.
        let minutes = (v.end - v.start).num_minutes();
        let mut services = vec![if minutes <= 20 { 0 } else { 1 }];
        if s.name == "Cardiology" && rng.gen_bool(0.6) {
            services.push(6);
        }
        if s.name == "Pulmonology" && rng.gen_bool(0.4) {
            services.push(7);
        }
        if let Some(panel) = s.panels.choose(rng).filter(|_| rng.gen_bool(0.5)) {
            services.push(match *panel {
                "51990-0" => 2,
                "58410-2" => 3,
                "4548-4" => 4,
                _ => 5,
            });
        }
        let fate = if i < 12 { i % 6 } else { rng.gen_range(0..6) };
        // The first invoiced claim's share is paid and the second's is not, so that every
        // invoice state shows.
        let pays = match i {
            5 => true,
            11 => false,
            _ => rng.gen_bool(0.5),
        };
        // A patient's plan: the senior plan from 65, else one of the others, the same each time.
        let plan_i = if cast.patients[v.patient].age_on(v.start.date()) >= 65 {
            plans.len() - 1
        } else {
            v.patient % (plans.len() - 1).max(1)
        };
        let denial = *DENIALS.choose(rng).expect("non-empty");
        plan.push((v, plan_i, services, fate, denial, pays));
    }
    ctx.run(conn, |tx| {
        for (v, plan_i, services, fate, denial, pays) in &plan {
            let pi = &v.patient;
            let patient_id = patient_people[*pi].patient_id();
            let lines: Vec<NewClaimLine> = services
                .iter()
                .map(|s| NewClaimLine {
                    code: SERVICES[*s].0.into(),
                    description: SERVICES[*s].1.into(),
                    amount: Money::new(SERVICES[*s].2, "USD"),
                })
                .collect();
            let new = NewClaim {
                patient_id: patient_id.clone(),
                plan_id: plans[*plan_i].clone(),
                member_id: format!("M{:08}", pi * 7919 % 100_000_000),
                service_date: Date::from_db(v.start.date()),
                appointment_id: Some(v.appointment.clone()),
                lines,
            };
            let c = tx.as_actor(&clerk, |tx| billing::file_claim(tx, new))?;
            report.claims += 1;
            let step = |tx: &mut Tx, to: C, approved: Option<Money>, reason: Option<&str>| {
                let t = ClaimTransition {
                    to,
                    approved_amount: approved,
                    denial_reason: reason.map(str::to_string),
                };
                tx.as_actor(&clerk, |tx| billing::move_claim(tx, &c.id, t))
            };
            // 0 submitted, 1 in review, 2 approved, 3 denied, 4 approved and paid, 5 invoiced.
            if *fate == 0 {
                continue;
            }
            step(tx, C::InReview, None, None)?;
            let approved = Money::new(c.total.amount_minor * 8 / 10, "USD");
            match fate {
                1 => {}
                3 => {
                    step(tx, C::Denied, None, Some(denial))?;
                }
                _ => {
                    step(tx, C::Approved, Some(approved.clone()), None)?;
                    if *fate >= 4 {
                        let pay = billing::NewPayment {
                            claim_id: Some(c.id.clone()),
                            invoice_id: None,
                            amount: approved.clone(),
                            method: billing::PaymentMethod::Insurer,
                            reference: Some(format!("EOB-{}", &c.id.as_str()[..8])),
                        };
                        tx.as_actor(&clerk, |tx| billing::pay(tx, pay))?;
                        report.payments += 1;
                    }
                    if *fate == 5 {
                        // The patient's share: an invoice, issued and paid by card.
                        let share = c.total.amount_minor - approved.amount_minor;
                        let inv = tx.as_actor(&clerk, |tx| {
                            billing::draft_invoice(
                                tx,
                                billing::NewInvoice {
                                    patient_id: patient_id.clone(),
                                    claim_id: Some(c.id.clone()),
                                    currency: "USD".into(),
                                    lines: vec![InvoiceLineInput {
                                        description: "Patient share after insurance".into(),
                                        quantity: 1,
                                        unit_amount: Money::new(share, "USD"),
                                    }],
                                    due_date: Some(Date::from_db(ctx.today() + Duration::days(30))),
                                },
                            )
                        })?;
                        report.invoices += 1;
                        tx.as_actor(&clerk, |tx| billing::issue_invoice(tx, &inv.id))?;
                        if *pays {
                            let pay = billing::NewPayment {
                                claim_id: None,
                                invoice_id: Some(inv.id.clone()),
                                amount: Money::new(share, "USD"),
                                method: billing::PaymentMethod::Card,
                                reference: None,
                            };
                            tx.as_actor(&clerk, |tx| billing::pay(tx, pay))?;
                            report.payments += 1;
                        }
                    }
                }
            }
        }
        // A draft and a voided invoice, so that every state shows.
        for void in [false, true] {
            let patient_id = patient_people[0].patient_id();
            let inv = tx.as_actor(&clerk, |tx| {
                billing::draft_invoice(
                    tx,
                    billing::NewInvoice {
                        patient_id,
                        claim_id: None,
                        currency: "USD".into(),
                        lines: vec![InvoiceLineInput {
                            description: "Copy of medical records".into(),
                            quantity: 1,
                            unit_amount: Money::new(2_500, "USD"),
                        }],
                        due_date: None,
                    },
                )
            })?;
            report.invoices += 1;
            if void {
                tx.as_actor(&clerk, |tx| billing::void_invoice(tx, &inv.id))?;
            }
        }
        Ok(())
    })?;
    Ok(())
}
