//! `healthapi import fhir PATH`: FHIR R4 transaction or collection bundles (a file, or a folder
//! of them as Synthea writes them) loaded into our tables through the domain functions, so
//! every care-team link, notification and audit entry is the real thing.
//!
//! One bundle is one write transaction: it loads whole or not at all. What each source resource
//! became is kept in `fhir_imports` (`<type>/<id>` → our id), so importing the same bundles
//! again loads nothing twice, and a resource shared by many bundles (Synthea repeats each
//! practitioner in every patient's bundle, with the same id) is loaded once.
//!
//! What is loaded, and what is skipped and why, is in docs/guide/fhir.md, "Import".

use std::collections::{BTreeMap, HashMap};
use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};

use chrono::{DateTime, NaiveDateTime};
use diesel::prelude::*;
use serde_json::Value;

use crate::audit::{Action, Audit, Resource};
use crate::auth::permissions::LAB_TECHNICIAN;
use crate::auth::Principal;
use crate::config::Config;
use crate::db::schema::fhir_imports;
use crate::db::{now, Backend, Db};
use crate::domains::accounts;
use crate::domains::appointments::{
    self, AppointmentChange, AppointmentId, AppointmentStatus, NewAppointment, MAX_LENGTH_HOURS,
};
use crate::domains::lab::{self, NewOrder, NewResult};
use crate::domains::patients::{self, NewDoctor, NewPatient, Sex};
use crate::domains::pharmacy::{self, NewMedication, NewPrescription};
use crate::domains::records::{self, NewRecord, RecordType};
use crate::kit::{backdate, Actor, Date, DoctorId, Error, IfMatch, PatientId, Timestamp, Tx};

/// What the audit trail calls the import of one bundle.
const BUNDLE: Resource = Resource::named("fhir_import");

/// What an import did.
#[derive(Debug, Default)]
pub struct ImportReport {
    pub files: usize,
    /// Resources read (every entry of every bundle).
    pub resources: usize,
    /// What was loaded, by what it became.
    pub loaded: BTreeMap<&'static str, usize>,
    /// Resources an earlier import loaded.
    pub already: usize,
    /// What was skipped: (resource type, why) → how many.
    pub skipped: BTreeMap<(String, String), usize>,
    /// Files that did not load, and why (their transaction rolled back).
    pub failed: Vec<(PathBuf, String)>,
    pub seconds: f64,
}

impl ImportReport {
    pub fn loaded_total(&self) -> usize {
        self.loaded.values().sum()
    }
    fn skip(&mut self, kind: &str, why: &str) {
        *self
            .skipped
            .entry((kind.to_string(), why.to_string()))
            .or_default() += 1;
    }
}

/// The FHIR JSON files under `path` (the file itself, or a folder's `*.json`, recursively), in
/// name order.
fn files(path: &Path) -> anyhow::Result<Vec<PathBuf>> {
    if path.is_file() {
        return Ok(vec![path.to_path_buf()]);
    }
    if !path.is_dir() {
        anyhow::bail!("{}: no such file or folder", path.display());
    }
    let mut out = Vec::new();
    let mut dirs = vec![path.to_path_buf()];
    while let Some(dir) = dirs.pop() {
        for e in std::fs::read_dir(&dir)? {
            let p = e?.path();
            if p.is_dir() {
                dirs.push(p);
            } else if p.extension().is_some_and(|x| x == "json") {
                out.push(p);
            }
        }
    }
    out.sort();
    Ok(out)
}

/// Imports the bundles under `path` into the configured database (migrated first).
pub fn import(config: &Config, path: &Path) -> anyhow::Result<ImportReport> {
    let started = std::time::Instant::now();
    let files = files(path)?;
    if files.is_empty() {
        anyhow::bail!("{}: no .json files", path.display());
    }
    let pool = crate::db::connect(&config.database_url, 2)?;
    let db = Db::new(
        pool.clone(),
        Backend::of_url(&config.database_url),
        Default::default(),
    );
    let key = crate::audit::load_key(config.audit_key.as_deref(), &config.data_dir)?;
    crate::audit::claim_key(&mut *pool.get()?, &key)?;
    let audit = Audit::new(pool.clone(), key.clone());
    crate::domains::accounts::bootstrap(&db, &audit, config)?;
    let system = Actor::system(audit.clone());
    let mut conn = pool.get()?;
    let account = lab_account(&mut conn, &db, &system, config)?;
    let writers = Writers {
        lab: Actor::user(
            std::sync::Arc::new(Principal::acting(&account, LAB_TECHNICIAN, None, None)),
            "fhir-import".to_string(),
            String::new(),
            audit.clone(),
        ),
        records: Actor::system(audit.clone()).as_user(&account, Some("system")),
    };
    let mut report = ImportReport::default();
    let progress = Progress::new(files.len());
    for (i, file) in files.iter().enumerate() {
        report.files += 1;
        let bundle: Value = match std::fs::read(file)
            .map_err(anyhow::Error::from)
            .and_then(|b| Ok(serde_json::from_slice(&b)?))
        {
            Ok(v) => v,
            Err(e) => {
                report.failed.push((file.clone(), format!("not JSON: {e}")));
                continue;
            }
        };
        let kind = bundle["type"].as_str().unwrap_or_default();
        if bundle["resourceType"] != "Bundle"
            || !matches!(kind, "transaction" | "collection" | "batch")
        {
            report.failed.push((
                file.clone(),
                "not a FHIR transaction, batch or collection Bundle".into(),
            ));
            continue;
        }
        // The bundle's own counts are merged only once it committed.
        let mut counts = ImportReport::default();
        let loaded = system.write_blocking(&mut conn, &db.hub, |tx| {
            load_bundle(tx, &writers, &bundle, &mut counts)
        });
        match loaded {
            Ok(()) => {
                report.resources += counts.resources;
                report.already += counts.already;
                for (k, n) in counts.loaded {
                    *report.loaded.entry(k).or_default() += n;
                }
                for (k, n) in counts.skipped {
                    *report.skipped.entry(k).or_default() += n;
                }
            }
            Err(e) => report.failed.push((file.clone(), e.to_string())),
        }
        progress.show(i + 1, report.loaded_total());
    }
    progress.done();
    // Seal what the import wrote into the audit chain and index it, as the demo loader does.
    while crate::audit::seal(&mut conn, &key, &[])?.more {}
    crate::audit::index_all_entries(&mut conn)?;
    report.seconds = started.elapsed().as_secs_f64();
    Ok(report)
}

/// Who writes what must name a user: lab results are recorded by the import's account as a lab
/// technician; record versions name it as their author (the record names its doctor).
struct Writers {
    lab: Actor,
    records: Actor,
}

/// The import's account, which records imported lab results (a result is recorded by someone:
/// here the import, as a lab technician) and is the author of the medical records it writes
/// (for their doctor), created by the first import. No one signs in with it: its
/// password is random and never shown.
const LAB_ACCOUNT: &str = "fhir-import@healthapi.local";

fn lab_account(
    conn: &mut crate::db::DbConn,
    db: &Db,
    system: &Actor,
    config: &Config,
) -> anyhow::Result<String> {
    let found = accounts::credentials(conn, LAB_ACCOUNT).map_err(|e| anyhow::anyhow!("{e}"))?;
    if let Some((id, _, _)) = found {
        return Ok(id);
    }
    let password: String = {
        use rand::Rng;
        rand::thread_rng()
            .sample_iter(rand::distributions::Alphanumeric)
            .take(40)
            .map(char::from)
            .collect()
    };
    let hash = crate::auth::passwords::hash(&password, config.password_hash_cost);
    let user = system
        .write_blocking(conn, &db.hub, |tx| {
            accounts::create_account(
                tx,
                accounts::CreateUser {
                    email: LAB_ACCOUNT.into(),
                    password,
                    display_name: "FHIR import".into(),
                    roles: vec![LAB_TECHNICIAN.to_string()],
                },
                hash,
            )
        })
        .map_err(|e| anyhow::anyhow!("creating the import's lab account: {e}"))?;
    Ok(user.id.into_string())
}

/// A progress bar on a terminal's stderr; nothing elsewhere (a log or a pipe).
struct Progress {
    total: usize,
    on: bool,
}

impl Progress {
    fn new(total: usize) -> Progress {
        Progress {
            total,
            on: std::io::stderr().is_terminal(),
        }
    }
    fn show(&self, done: usize, loaded: usize) {
        if !self.on {
            return;
        }
        const WIDTH: usize = 30;
        let filled = done * WIDTH / self.total.max(1);
        eprint!(
            "\r[{}{}] {done}/{} files, {loaded} resources loaded",
            "#".repeat(filled),
            ".".repeat(WIDTH - filled),
            self.total
        );
        let _ = std::io::stderr().flush();
    }
    fn done(&self) {
        if self.on {
            eprintln!();
        }
    }
}

/// One bundle's resources, by the references that may name them (`fullUrl`, `Type/id`).
struct Entries<'a> {
    by_ref: HashMap<String, &'a Value>,
}

impl<'a> Entries<'a> {
    fn of(bundle: &'a Value) -> (Entries<'a>, Vec<&'a Value>) {
        let mut by_ref = HashMap::new();
        let mut all = Vec::new();
        for e in bundle["entry"].as_array().into_iter().flatten() {
            let r = &e["resource"];
            if !r.is_object() {
                continue;
            }
            if let Some(u) = e["fullUrl"].as_str() {
                by_ref.insert(u.to_string(), r);
            }
            by_ref.insert(source(r), r);
            all.push(r);
        }
        (Entries { by_ref }, all)
    }

    /// The resource a reference names within the bundle.
    fn get(&self, reference: &Value) -> Option<&'a Value> {
        self.by_ref.get(reference["reference"].as_str()?).copied()
    }
}

/// `<resourceType>/<id>`: how `fhir_imports` names a source resource.
fn source(r: &Value) -> String {
    format!(
        "{}/{}",
        r["resourceType"].as_str().unwrap_or_default(),
        r["id"].as_str().unwrap_or_default()
    )
}

/// A FHIR dateTime or instant as our time (UTC, microseconds); a date alone is its midnight.
fn time(v: &Value) -> Option<NaiveDateTime> {
    let s = v.as_str()?;
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return Timestamp::parse(&t.to_rfc3339()).ok().map(Timestamp::naive);
    }
    chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d")
        .ok()
        .and_then(|d| d.and_hms_opt(0, 0, 0))
}

/// The text of a CodeableConcept: its text, else its first coding's display, else its code.
fn text_of(c: &Value) -> Option<String> {
    c["text"]
        .as_str()
        .or(c["coding"][0]["display"].as_str())
        .or(c["coding"][0]["code"].as_str())
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
}

/// The code of the first coding of `system` in a CodeableConcept.
fn code_in(c: &Value, system: &str) -> Option<String> {
    c["coding"]
        .as_array()?
        .iter()
        .find(|x| x["system"] == system)
        .and_then(|x| x["code"].as_str())
        .map(str::to_string)
}

fn clip(s: &str, max: usize) -> String {
    s.chars().take(max).collect()
}

/// What the bundle's resources became, and what is known of the ones loaded before.
struct Loaded {
    /// `<type>/<id>` → our id, from `fhir_imports` and this bundle.
    ids: HashMap<String, String>,
}

fn load_bundle(
    tx: &mut Tx,
    writers: &Writers,
    bundle: &Value,
    report: &mut ImportReport,
) -> crate::kit::Result<()> {
    let (entries, all) = Entries::of(bundle);
    report.resources = all.len();
    let sources: Vec<String> = all.iter().map(|r| source(r)).collect();
    let known: Vec<(String, String)> = fhir_imports::table
        .filter(fhir_imports::source.eq_any(&sources))
        .select((fhir_imports::source, fhir_imports::target_id))
        .load(tx.conn())?;
    let mut loaded = Loaded {
        ids: known.into_iter().collect(),
    };
    let before = loaded.ids.clone();
    // The bundle's import itself, audited once (and so even when everything in it was loaded
    // before); what it loads is audited by the domain functions, item by item.
    tx.record(Action::Create, BUNDLE, None, None)?;
    // Dependencies first: who, then the visits, then what hangs on them.
    let order = [
        "Practitioner",
        "Patient",
        "Encounter",
        "DiagnosticReport",
        "MedicationRequest",
        "Condition",
        "Immunization",
        "Procedure",
    ];
    let mut in_reports = std::collections::HashSet::new();
    for kind in order {
        for r in all.iter().filter(|r| r["resourceType"] == kind) {
            let src = source(r);
            if before.contains_key(&src) {
                report.already += 1;
                if kind == "DiagnosticReport" {
                    for o in r["result"].as_array().into_iter().flatten() {
                        if let Some(obs) = entries.get(o) {
                            in_reports.insert(source(obs));
                        }
                    }
                }
                continue;
            }
            // Each resource in a savepoint: one that cannot load leaves nothing behind.
            let mut skipped_results = Vec::new();
            let made = tx.savepoint(|tx| match kind {
                "Practitioner" => practitioner(tx, r, &all).map(|id| vec![("doctor", id)]),
                "Patient" => patient(tx, r).map(|id| vec![("patient", id)]),
                "Encounter" => encounter(tx, r, &entries, &loaded),
                "DiagnosticReport" => lab_report(
                    tx,
                    &writers.lab,
                    r,
                    &entries,
                    &loaded,
                    &mut in_reports,
                    &mut skipped_results,
                ),
                "MedicationRequest" => prescription(tx, r, &entries, &loaded),
                "Condition" => diagnosis(tx, &writers.records, r, &entries, &loaded),
                "Immunization" => immunization(tx, &writers.records, r, &entries, &loaded),
                _ => procedure(tx, &writers.records, r, &entries, &loaded),
            });
            for why in skipped_results {
                report.skip("Observation", &why);
            }
            match made {
                Ok(rows) => {
                    for (what, id) in rows {
                        // A report's results are stored under their own sources.
                        let (src, what, id) = match what {
                            "lab_result" => {
                                let (obs, id) = id.split_once(' ').expect("source and id");
                                (obs.to_string(), what, id.to_string())
                            }
                            _ => (src.clone(), what, id),
                        };
                        diesel::insert_into(fhir_imports::table)
                            .values((
                                fhir_imports::source.eq(&src),
                                fhir_imports::kind.eq(what),
                                fhir_imports::target_id.eq(&id),
                                fhir_imports::imported_at.eq(now()),
                            ))
                            .execute(tx.conn())?;
                        loaded.ids.insert(src, id);
                        *report.loaded.entry(what).or_default() += 1;
                    }
                }
                Err(Skip(why)) => report.skip(kind, &why),
            }
        }
    }
    for r in &all {
        let kind = r["resourceType"].as_str().unwrap_or_default();
        if order.contains(&kind) {
            continue;
        }
        let src = source(r);
        if kind == "Observation" && in_reports.contains(&src) {
            if before.contains_key(&src) {
                report.already += 1;
            }
            continue;
        }
        let why = match kind {
            "Observation" => "not a result of a lab report (vital signs, surveys and social history are not stored)",
            "Organization" | "Location" | "PractitionerRole" => "not stored: healthapi is one clinic",
            "Claim" | "ExplanationOfBenefit" | "Coverage" => "not imported: a claim of ours is against an insurance plan and policy of ours, in CPT",
            _ => "not a type healthapi stores",
        };
        report.skip(kind, why);
    }
    Ok(())
}

/// Why a resource was not loaded; the bundle goes on.
struct Skip(String);

impl From<Error> for Skip {
    fn from(e: Error) -> Skip {
        match e {
            // Which fields, and why (without their values: they may be a patient's).
            Error::Invalid(fields) => Skip(format!(
                "refused: {}",
                fields
                    .iter()
                    .map(|f| format!("{} {}", f.field, f.message))
                    .collect::<Vec<_>>()
                    .join("; ")
            )),
            e => Skip(e.to_string()),
        }
    }
}

type Made = std::result::Result<Vec<(&'static str, String)>, Skip>;

fn skip<T>(why: &str) -> std::result::Result<T, Skip> {
    Err(Skip(why.to_string()))
}

fn names(r: &Value) -> Option<(String, String)> {
    let n = r["name"]
        .as_array()?
        .iter()
        .find(|n| n["use"] == "official")
        .or(r["name"].get(0))?;
    let given = n["given"][0].as_str()?.trim();
    let family = n["family"].as_str()?.trim();
    (!given.is_empty() && !family.is_empty()).then(|| (clip(given, 100), clip(family, 100)))
}

/// An email the API would take (a source's may not be: it is dropped, not the person).
fn email(r: &Value) -> Option<String> {
    let e = telecom(r, "email")?;
    let mut v = crate::kit::Validator::new();
    v.email("email", &e);
    v.finish().is_ok().then_some(e)
}

fn telecom(r: &Value, system: &str) -> Option<String> {
    r["telecom"]
        .as_array()?
        .iter()
        .find(|t| t["system"] == system)
        .and_then(|t| t["value"].as_str())
        .map(str::to_string)
}

fn practitioner(tx: &mut Tx, r: &Value, all: &[&Value]) -> std::result::Result<String, Skip> {
    let Some((given, family)) = names(r) else {
        return skip("no given and family name");
    };
    let license = r["identifier"]
        .as_array()
        .into_iter()
        .flatten()
        .find_map(|i| i["value"].as_str())
        .map(|v| clip(v, 50));
    let Some(license) = license.filter(|l| l.len() >= 3) else {
        return skip("no identifier to serve as the license number");
    };
    // Synthea gives the specialty on the practitioner's role.
    let me = format!("Practitioner/{}", r["id"].as_str().unwrap_or_default());
    let specialty = all
        .iter()
        .filter(|x| x["resourceType"] == "PractitionerRole")
        .find(|x| {
            x["practitioner"]["reference"]
                .as_str()
                .is_some_and(|p| p == me || p.ends_with(r["id"].as_str().unwrap_or("-")))
        })
        .and_then(|x| text_of(&x["specialty"][0]))
        .unwrap_or_else(|| "General practice".to_string());
    let email =
        email(r).unwrap_or_else(|| format!("{}@fhir-import.invalid", license.to_lowercase()));
    let d = patients::create_doctor(
        tx,
        NewDoctor {
            given_name: given,
            family_name: family,
            specialty: clip(&specialty, 100),
            license_number: license,
            email,
            phone: telecom(r, "phone").map(|p| clip(&p, 40)),
            user_id: None,
            password: None,
        },
        None,
    )?;
    Ok(d.id.to_string())
}

fn patient(tx: &mut Tx, r: &Value) -> std::result::Result<String, Skip> {
    let Some((given, family)) = names(r) else {
        return skip("no given and family name");
    };
    let Some(birth) = r["birthDate"].as_str().and_then(|d| Date::parse(d).ok()) else {
        return skip("no birth date");
    };
    let sex = match r["gender"].as_str() {
        Some("female") => Sex::Female,
        Some("male") => Sex::Male,
        Some("other") => Sex::Other,
        _ => Sex::Unknown,
    };
    let address = r["address"].get(0).map(|a| {
        let mut parts: Vec<String> = a["line"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|l| l.as_str().map(str::to_string))
            .collect();
        for k in ["city", "state", "postalCode", "country"] {
            if let Some(v) = a[k].as_str() {
                parts.push(v.to_string());
            }
        }
        clip(&parts.join(", "), 500)
    });
    let p = patients::create_patient(
        tx,
        NewPatient {
            given_name: given,
            family_name: family,
            birth_date: birth,
            sex,
            phone: telecom(r, "phone").map(|p| clip(&p, 40)),
            email: email(r),
            address: address.filter(|a| !a.is_empty()),
            user_id: None,
        },
    )?;
    Ok(p.id.to_string())
}

/// Our id of what `reference` names (a resource of this bundle or of an earlier import).
fn ours(entries: &Entries, loaded: &Loaded, reference: &Value) -> Option<String> {
    let target = match entries.get(reference) {
        Some(r) => source(r),
        None => reference["reference"].as_str()?.to_string(),
    };
    loaded.ids.get(&target).cloned()
}

fn encounter(tx: &mut Tx, r: &Value, entries: &Entries, loaded: &Loaded) -> Made {
    let Some(patient) = ours(entries, loaded, &r["subject"]) else {
        return skip("its patient was not imported");
    };
    let doctor = r["participant"]
        .as_array()
        .into_iter()
        .flatten()
        .find_map(|p| ours(entries, loaded, &p["individual"]));
    let Some(doctor) = doctor else {
        return skip("no practitioner who was imported");
    };
    let Some(start) = time(&r["period"]["start"]) else {
        return skip("no start");
    };
    let end = time(&r["period"]["end"])
        .filter(|e| *e > start)
        .unwrap_or(start + chrono::Duration::minutes(15));
    if end - start > chrono::Duration::hours(MAX_LENGTH_HOURS) {
        return skip("longer than an appointment may be (inpatient stays are not imported)");
    }
    let reason = text_of(&r["reasonCode"][0])
        .or_else(|| text_of(&r["type"][0]))
        .map(|s| clip(&s, 1000));
    let new = NewAppointment {
        patient_id: PatientId::from_db(patient),
        doctor_id: DoctorId::from_db(doctor),
        start_time: Timestamp::from_db(start),
        end_time: Timestamp::from_db(end),
        reason,
    };
    let a = match appointments::book(tx, new, false) {
        Ok(a) => a,
        Err(Error::Conflict {
            kind: "booking-clash",
            ..
        }) => return skip("its practitioner had another appointment at that time"),
        Err(e) => return Err(e.into()),
    };
    let to = |s: AppointmentStatus| AppointmentChange {
        status: Some(s),
        ..Default::default()
    };
    let change =
        |tx: &mut Tx, c: AppointmentChange| appointments::change(tx, &a.id, c, IfMatch::default());
    match r["status"].as_str() {
        Some("finished") => {
            change(tx, to(AppointmentStatus::CheckedIn))?;
            change(tx, to(AppointmentStatus::Completed))?;
        }
        Some("cancelled") => {
            change(
                tx,
                AppointmentChange {
                    status: Some(AppointmentStatus::Cancelled),
                    cancel_reason: Some("cancelled in the source record".into()),
                    ..Default::default()
                },
            )?;
        }
        _ => {}
    }
    backdate::row(tx, "appointments", a.id.as_str(), start, end)?;
    Ok(vec![("appointment", a.id.to_string())])
}

/// The appointment (and its doctor) of the encounter `reference` names, if it was imported.
fn visit_of(
    tx: &mut Tx,
    entries: &Entries,
    loaded: &Loaded,
    reference: &Value,
) -> crate::kit::Result<Option<(AppointmentId, DoctorId)>> {
    let Some(id) = ours(entries, loaded, reference) else {
        return Ok(None);
    };
    let id = AppointmentId::from_db(id);
    Ok(appointments::parties(tx.conn(), &id)?.map(|(_, d)| (id, d)))
}

const LOINC: &str = "http://loinc.org";

fn lab_report(
    tx: &mut Tx,
    lab: &Actor,
    r: &Value,
    entries: &Entries,
    loaded: &Loaded,
    in_reports: &mut std::collections::HashSet<String>,
    skipped_results: &mut Vec<String>,
) -> Made {
    let is_lab = r["category"].as_array().into_iter().flatten().any(|c| {
        code_in(c, "http://terminology.hl7.org/CodeSystem/v2-0074").as_deref() == Some("LAB")
    });
    if !is_lab {
        return skip("not a lab report (only category LAB is imported)");
    }
    let Some(patient) = ours(entries, loaded, &r["subject"]) else {
        return skip("its patient was not imported");
    };
    let Some((appointment, doctor)) = visit_of(tx, entries, loaded, &r["encounter"])? else {
        return skip("its encounter was not imported (no ordering doctor)");
    };
    let Some(code) = code_in(&r["code"], LOINC) else {
        return skip("its test is not coded in LOINC");
    };
    let ordered = time(&r["effectiveDateTime"]).or_else(|| time(&r["issued"]));
    let Some(ordered) = ordered else {
        return skip("no time");
    };
    let resulted = time(&r["issued"])
        .filter(|t| *t >= ordered)
        .unwrap_or(ordered);
    let o = lab::order(
        tx,
        NewOrder {
            patient_id: PatientId::from_db(patient),
            doctor_id: Some(doctor),
            appointment_id: Some(appointment),
            test_code: code.clone(),
            test_name: clip(&text_of(&r["code"]).unwrap_or(code), 200),
            priority: None,
            notes: None,
        },
    )?;
    lab::collect(tx, &o.id, Timestamp::from_db(ordered))?;
    let mut made = vec![("lab_order", o.id.to_string())];
    for reference in r["result"].as_array().into_iter().flatten() {
        let Some(obs) = entries.get(reference) else {
            continue;
        };
        in_reports.insert(source(obs));
        match result_of(obs) {
            Ok(new) => {
                let at = Timestamp::from_db(resulted);
                let r = tx.as_actor(lab, |tx| lab::record_result(tx, &o.id, new, at))?;
                made.push(("lab_result", format!("{} {}", source(obs), r.id)));
            }
            Err(Skip(why)) => skipped_results.push(why),
        }
    }
    if made.len() == 1 {
        // An order without one result that could be read: nothing to show for it.
        return skip("none of its results has a value");
    }
    backdate::row(tx, "lab_orders", o.id.as_str(), ordered, resulted)?;
    for column in ["created_at", "updated_at"] {
        backdate::column(
            tx,
            "lab_results",
            column,
            "lab_order_id",
            o.id.as_str(),
            resulted,
        )?;
    }
    Ok(made)
}

/// The result an Observation of a lab report holds.
fn result_of(obs: &Value) -> std::result::Result<NewResult, Skip> {
    let Some(code) = code_in(&obs["code"], LOINC) else {
        return skip("a lab result not coded in LOINC");
    };
    let q = &obs["valueQuantity"];
    let (value, numeric, unit) = if let Some(v) = q["value"].as_f64() {
        let unit = q["unit"]
            .as_str()
            .or(q["code"].as_str())
            .map(|u| clip(u, 50));
        (format!("{v}"), Some(v), unit)
    } else if let Some(s) = obs["valueString"].as_str() {
        (s.to_string(), None, None)
    } else if let Some(t) = text_of(&obs["valueCodeableConcept"]) {
        (t, None, None)
    } else {
        return skip("a lab result without a value");
    };
    let range = &obs["referenceRange"][0];
    Ok(NewResult {
        test_code: Some(code),
        value: clip(&value, 200),
        value_numeric: numeric,
        unit,
        reference_low: range["low"]["value"].as_f64(),
        reference_high: range["high"]["value"].as_f64(),
        interpretation: None,
        note: None,
    })
}

const RXNORM: &str = "http://www.nlm.nih.gov/research/umls/rxnorm";

fn prescription(tx: &mut Tx, r: &Value, entries: &Entries, loaded: &Loaded) -> Made {
    let concept = &r["medicationCodeableConcept"];
    let Some(code) = code_in(concept, RXNORM) else {
        return skip(
            "its medication is not coded in RxNorm (a medicationReference is not imported)",
        );
    };
    let Some(patient) = ours(entries, loaded, &r["subject"]) else {
        return skip("its patient was not imported");
    };
    let visit = visit_of(tx, entries, loaded, &r["encounter"])?;
    let doctor = ours(entries, loaded, &r["requester"])
        .map(DoctorId::from_db)
        .or_else(|| visit.as_ref().map(|(_, d)| d.clone()));
    let Some(doctor) = doctor else {
        return skip("no prescriber who was imported");
    };
    let Some(authored) = time(&r["authoredOn"]) else {
        return skip("no authoredOn");
    };
    let medication = match pharmacy::medication_by_code(tx.conn(), &code)? {
        Some(m) => m.id,
        None => {
            let name = text_of(concept).unwrap_or_else(|| format!("RxNorm {code}"));
            pharmacy::create_medication(
                tx,
                NewMedication {
                    name: clip(&name, 200),
                    code,
                    form: None,
                    strength: None,
                    active: None,
                },
            )?
            .id
        }
    };
    let dosage = &r["dosageInstruction"][0];
    let dose = dosage["doseAndRate"][0]["doseQuantity"]["value"]
        .as_f64()
        .map(|v| format!("{v} dose"));
    let repeat = &dosage["timing"]["repeat"];
    let frequency = match (
        repeat["frequency"].as_i64(),
        repeat["period"].as_f64(),
        repeat["periodUnit"].as_str(),
    ) {
        (Some(n), Some(p), Some(u)) => Some(format!("{n} times every {p} {u}")),
        _ if dosage["asNeededBoolean"] == true => Some("as needed".to_string()),
        _ => None,
    };
    let p = pharmacy::prescribe(
        tx,
        NewPrescription {
            patient_id: PatientId::from_db(patient),
            doctor_id: Some(doctor),
            appointment_id: visit.map(|(a, _)| a),
            medication_id: medication,
            dosage: dose.unwrap_or_else(|| "as directed".into()),
            frequency: frequency.unwrap_or_else(|| "as directed".into()),
            quantity: 1,
            refills: Some(0),
            instructions: dosage["text"].as_str().map(|t| clip(t, 2000)),
            valid_until: None,
        },
    )?;
    if r["status"] != "active" {
        pharmacy::cancel_prescription(
            tx,
            &p.id,
            pharmacy::CancelPrescription {
                reason: format!(
                    "{} in the source record",
                    r["status"].as_str().unwrap_or("ended")
                ),
            },
        )?;
    }
    backdate::row(tx, "prescriptions", p.id.as_str(), authored, authored)?;
    Ok(vec![("prescription", p.id.to_string())])
}

/// What a code system is called in a record's text.
const SYSTEM_NAMES: &[(&str, &str)] = &[
    ("http://snomed.info/sct", "SNOMED CT"),
    ("http://hl7.org/fhir/sid/icd-10-cm", "ICD-10-CM"),
    ("http://hl7.org/fhir/sid/icd-10", "ICD-10"),
    ("http://hl7.org/fhir/sid/cvx", "CVX"),
    (LOINC, "LOINC"),
];

/// The codings of a CodeableConcept as text: `SNOMED CT 44054006, ICD-10 E11.9`.
fn codings_text(c: &Value) -> String {
    c["coding"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|x| {
            let code = x["code"].as_str()?;
            let system = x["system"].as_str().unwrap_or("no system");
            let name = SYSTEM_NAMES
                .iter()
                .find(|(s, _)| *s == system)
                .map_or(system, |(_, n)| n);
            Some(format!("{name} {code}"))
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// A medical record to write from a source resource.
struct RecordOf {
    kind: RecordType,
    title: String,
    content: String,
    codes: Vec<String>,
    at: Option<NaiveDateTime>,
}

/// `record`, written at the encounter `r` names, by its doctor, dated `record.at`.
fn clinical_record(
    tx: &mut Tx,
    writer: &Actor,
    r: &Value,
    subject: &Value,
    entries: &Entries,
    loaded: &Loaded,
    record: RecordOf,
) -> Made {
    let Some(patient) = ours(entries, loaded, subject) else {
        return skip("its patient was not imported");
    };
    let Some((appointment, doctor)) = visit_of(tx, entries, loaded, &r["encounter"])? else {
        return skip("its encounter was not imported (no doctor to write it)");
    };
    let Some(at) = record.at else {
        return skip("no time");
    };
    let new = NewRecord {
        patient_id: PatientId::from_db(patient),
        doctor_id: Some(doctor),
        appointment_id: Some(appointment),
        record_type: record.kind,
        title: clip(&record.title, 200),
        content: clip(&record.content, 100_000),
        diagnosis_codes: record.codes,
    };
    let made = tx.as_actor(writer, |tx| records::create(tx, new))?;
    backdate::row(tx, "medical_records", made.id.as_str(), at, at)?;
    backdate::column(
        tx,
        "medical_record_versions",
        "changed_at",
        "record_id",
        made.id.as_str(),
        at,
    )?;
    Ok(vec![("medical_record", made.id.to_string())])
}

/// A Condition as a record of type `diagnosis`: its ICD-10 codes as the record's diagnosis
/// codes; its other codings (Synthea's are SNOMED CT), onset, abatement and clinical status
/// in the text.
fn diagnosis(tx: &mut Tx, writer: &Actor, r: &Value, entries: &Entries, loaded: &Loaded) -> Made {
    // A record states a diagnosis as made: one the source did not confirm (refuted, provisional,
    // differential, unconfirmed) or entered in error is not one to write down as ours.
    let verification = code_in(
        &r["verificationStatus"],
        "http://terminology.hl7.org/CodeSystem/condition-ver-status",
    );
    if let Some(v) = verification.filter(|v| v != "confirmed") {
        return skip(&format!("not confirmed in the source ({v})"));
    }
    let Some(title) = text_of(&r["code"]) else {
        return skip("no code or text");
    };
    let codes: Vec<String> = r["code"]["coding"]
        .as_array()
        .into_iter()
        .flatten()
        // Our codes are ICD-10-CM; WHO ICD-10 codes stay in the text with the other codings.
        .filter(|x| x["system"] == "http://hl7.org/fhir/sid/icd-10-cm")
        .filter_map(|x| x["code"].as_str().map(str::to_string))
        .collect();
    let mut content = format!("Diagnosis: {title}");
    let coded = codings_text(&r["code"]);
    if !coded.is_empty() {
        content.push_str(&format!(" ({coded})"));
    }
    content.push('.');
    for (label, field) in [
        ("Onset", "onsetDateTime"),
        ("Resolved", "abatementDateTime"),
    ] {
        if let Some(t) = r[field].as_str() {
            content.push_str(&format!(" {label}: {t}."));
        }
    }
    if let Some(status) = r["clinicalStatus"]["coding"][0]["code"].as_str() {
        content.push_str(&format!(" Clinical status: {status}."));
    }
    let record = RecordOf {
        kind: RecordType::Diagnosis,
        title,
        content,
        codes,
        at: time(&r["recordedDate"]).or_else(|| time(&r["onsetDateTime"])),
    };
    clinical_record(tx, writer, r, &r["subject"], entries, loaded, record)
}

/// An Immunization given as a record of type `immunization`: the vaccine (CVX) and when.
fn immunization(
    tx: &mut Tx,
    writer: &Actor,
    r: &Value,
    entries: &Entries,
    loaded: &Loaded,
) -> Made {
    match r["status"].as_str() {
        Some("completed") => {}
        Some(other) => return skip(&format!("not given (status {other})")),
        None => return skip("no status"),
    }
    let Some(vaccine) = text_of(&r["vaccineCode"]) else {
        return skip("no vaccine code or text");
    };
    let mut content = format!("Immunization: {vaccine}");
    let coded = codings_text(&r["vaccineCode"]);
    if !coded.is_empty() {
        content.push_str(&format!(" ({coded})"));
    }
    let given = r["occurrenceDateTime"].as_str();
    if let Some(t) = given {
        content.push_str(&format!(", given {t}"));
    }
    content.push('.');
    let record = RecordOf {
        kind: RecordType::Immunization,
        title: vaccine,
        content,
        codes: Vec::new(),
        at: time(&r["occurrenceDateTime"]).or_else(|| time(&r["recorded"])),
    };
    clinical_record(tx, writer, r, &r["patient"], entries, loaded, record)
}

/// A completed Procedure as a record of type `procedure`: what was done (its codings, Synthea's
/// SNOMED CT) and when, in the text.
fn procedure(tx: &mut Tx, writer: &Actor, r: &Value, entries: &Entries, loaded: &Loaded) -> Made {
    match r["status"].as_str() {
        Some("completed") => {}
        Some(other) => return skip(&format!("not done (status {other})")),
        None => return skip("no status"),
    }
    let Some(what) = text_of(&r["code"]) else {
        return skip("no code or text");
    };
    let mut content = format!("Procedure: {what}");
    let coded = codings_text(&r["code"]);
    if !coded.is_empty() {
        content.push_str(&format!(" ({coded})"));
    }
    let start = r["performedPeriod"]["start"]
        .as_str()
        .or(r["performedDateTime"].as_str());
    if let Some(t) = start {
        content.push_str(&format!(", performed {t}"));
    }
    if let Some(t) = r["performedPeriod"]["end"].as_str() {
        content.push_str(&format!(" to {t}"));
    }
    content.push('.');
    let record = RecordOf {
        kind: RecordType::Procedure,
        title: what,
        content,
        codes: Vec::new(),
        at: time(&r["performedPeriod"]["end"])
            .or_else(|| time(&r["performedPeriod"]["start"]))
            .or_else(|| time(&r["performedDateTime"])),
    };
    clinical_record(tx, writer, r, &r["subject"], entries, loaded, record)
}
