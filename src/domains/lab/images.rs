//! Diagnostic images: the record here, the bytes in the blob store. An image is created
//! `pending_upload`; `PUT …/content` streams the bytes to the store and makes it `available`,
//! after which its content never changes.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::{is_lab, reaches, store, LabOrderId};
use crate::auth::care_team::Source;
use crate::blob::Stored;
use crate::db::DbConn;
use crate::domains::{appointments, patients};
use crate::http::{ListResponse, Page};
use crate::kit::{
    Action, Actor, Audited, DoctorId, Error, Level, PatientId, Resource, Result, Timestamp, Tx,
    Validator,
};
use crate::wire_enum;

/// What the audit trail calls a diagnostic image.
pub const IMAGE: Resource = Resource::named("diagnostic_image");
/// What links an image's doctor into the patient's care team.
pub const CARE_TEAM: Source = Source::named("diagnostic_image");

crate::id_type!(
    /// A diagnostic image.
    ImageId
);

wire_enum!(
    /// DICOM modality codes.
    Modality of "modality" {
        Cr = "CR",
        Ct = "CT",
        Mr = "MR",
        Us = "US",
        Xa = "XA",
        Dx = "DX",
        Mg = "MG",
        Nm = "NM",
        Pt = "PT",
        Ot = "OT",
    }
);

wire_enum!(
    /// Whether the bytes are in.
    ImageStatus of "diagnostic image" {
        PendingUpload = "pending_upload",
        Available = "available",
    }
);

/// The content types an image may have, and how their bytes begin.
pub const CONTENT_TYPES: &[&str] = &["image/jpeg", "image/png", "application/dicom"];
/// How many leading bytes the signature check needs (DICOM's `DICM` ends at 132).
pub const SIGNATURE_BYTES: usize = 132;

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct DiagnosticImage {
    pub id: ImageId,
    pub patient_id: PatientId,
    pub doctor_id: Option<DoctorId>,
    pub lab_order_id: Option<LabOrderId>,
    pub modality: Modality,
    pub body_site: Option<String>,
    pub description: Option<String>,
    pub taken_at: Option<Timestamp>,
    pub status: ImageStatus,
    pub content_type: Option<String>,
    pub size_bytes: Option<i64>,
    /// Of the content, lowercase hex; also its `ETag`.
    pub sha256: Option<String>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
    pub version: i32,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewImage {
    pub patient_id: PatientId,
    /// The doctor the image is for (a doctor creating it is this doctor).
    pub doctor_id: Option<DoctorId>,
    /// A lab order of the same patient.
    pub lab_order_id: Option<LabOrderId>,
    pub modality: Modality,
    #[schema(max_length = 200)]
    pub body_site: Option<String>,
    #[schema(max_length = 2000)]
    pub description: Option<String>,
    pub taken_at: Option<Timestamp>,
}

/// The filters of `GET /diagnostic-images`.
#[derive(Debug, Clone, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ImageFilter {
    pub patient_id: Option<PatientId>,
    pub lab_order_id: Option<LabOrderId>,
    pub modality: Option<Modality>,
    pub status: Option<ImageStatus>,
    /// Image records made at or after (RFC 3339).
    #[param(value_type = Option<String>, format = DateTime)]
    pub from: Option<Timestamp>,
    /// Image records made before (RFC 3339).
    #[param(value_type = Option<String>, format = DateTime)]
    pub to: Option<Timestamp>,
}

/// Do these leading bytes begin a file of `content_type`? PNG's eight-byte signature, JPEG's
/// `FF D8 FF`, DICOM's `DICM` after its 128-byte preamble.
pub fn signature_matches(content_type: &str, head: &[u8]) -> bool {
    match content_type {
        "image/png" => head.starts_with(b"\x89PNG\r\n\x1a\n"),
        "image/jpeg" => head.starts_with(&[0xFF, 0xD8, 0xFF]),
        "application/dicom" => head.len() >= 132 && &head[128..132] == b"DICM",
        _ => false,
    }
}

/// Creates an image record, `pending_upload`: a doctor on the care team (as themself), a lab
/// technician or an admin (naming the doctor, if any, who joins the care team).
pub fn create(tx: &mut Tx, new: NewImage) -> Result<DiagnosticImage> {
    let scope = tx.scope().clone();
    let staff = scope.is_admin() || is_lab(&scope);
    let doctor = if staff {
        new.doctor_id.clone()
    } else {
        Some(appointments::writing_doctor(
            tx,
            IMAGE,
            &new.patient_id,
            new.doctor_id.as_ref(),
        )?)
    };
    let mut v = Validator::new();
    v.opt_text("body_site", new.body_site.as_deref(), 200);
    v.opt_text("description", new.description.as_deref(), 2000);
    v.finish()?;
    let patient = new.patient_id.clone();
    match (&doctor, staff) {
        (Some(d), false) => appointments::check_treats(tx, IMAGE, &patient, d, None)?,
        _ => {
            if !patients::exists(tx.conn(), &patient)? {
                return Err(Error::conflict(
                    "patient_id does not name an existing patient",
                ));
            }
            if let Some(d) = &doctor {
                if !patients::doctor_exists(tx.conn(), d)? {
                    return Err(Error::conflict(
                        "doctor_id does not name an existing doctor",
                    ));
                }
            }
        }
    }
    if let Some(order) = &new.lab_order_id {
        match store::load_order(tx.conn(), order)? {
            Some(o) if o.patient_id == patient => {}
            _ => {
                return Err(Error::conflict(
                    "lab_order_id does not name a lab order of this patient",
                ))
            }
        }
    }
    let id = ImageId::generate();
    let by = tx.actor().user_id().map(str::to_string);
    store::insert_image(tx.conn(), &id, &new, doctor.as_ref(), by.as_deref())?;
    if let Some(d) = &doctor {
        patients::join_care_team(tx, &patient, d, CARE_TEAM)?;
    }
    tx.record(
        Action::Create,
        IMAGE,
        Some(id.as_str()),
        Some(patient.as_str()),
    )?;
    store::load_image(tx.conn(), &id)?.ok_or(Error::NotFound)
}

/// The image, if the caller reaches it (404, audited as a refused `action`, otherwise).
fn reachable(
    conn: &mut DbConn,
    actor: &Actor,
    id: &ImageId,
    action: Action,
) -> Result<DiagnosticImage> {
    let refused = || actor.deny(Error::NotFound, action, IMAGE, Some(id.as_str()), None);
    let image = store::load_image(conn, id)?.ok_or_else(refused)?;
    if reaches(
        conn,
        actor.scope(),
        &image.patient_id,
        image.doctor_id.as_ref(),
    )? {
        Ok(image)
    } else {
        Err(refused())
    }
}

/// 409 unless the image still waits for its content.
fn require_pending(image: &DiagnosticImage) -> Result<()> {
    if image.status == ImageStatus::PendingUpload {
        return Ok(());
    }
    Err(Error::conflict_of(
        "illegal-transition",
        "the image's content is uploaded already and never changes",
    ))
}

/// Before an upload streams anything: the caller reaches the image, and it waits for content.
pub fn begin_upload(conn: &mut DbConn, actor: &Actor, id: &ImageId) -> Result<DiagnosticImage> {
    let image = reachable(conn, actor, id, Action::Update)?;
    require_pending(&image)?;
    Ok(image)
}

/// After the bytes are stored at `blob_key`: the image becomes `available` with them. 409
/// when another upload got there first (the caller then deletes its blob).
pub fn complete_upload(
    tx: &mut Tx,
    id: &ImageId,
    blob_key: &str,
    content_type: &str,
    stored: &Stored,
) -> Result<DiagnosticImage> {
    store::lock_image(tx.conn(), id)?;
    let image = store::load_image(tx.conn(), id)?.ok_or(Error::NotFound)?;
    require_pending(&image)?;
    if !store::set_content(tx.conn(), &image, blob_key, content_type, stored)? {
        return Err(Error::Stale);
    }
    tx.record(
        Action::Update,
        IMAGE,
        Some(id.as_str()),
        Some(image.patient_id.as_str()),
    )?;
    store::load_image(tx.conn(), id)?.ok_or(Error::NotFound)
}

/// What a download needs: where the bytes are and what they are.
pub struct Content {
    pub blob_key: String,
    pub content_type: String,
    pub size: u64,
    pub sha256: String,
}

/// The content of an available image the caller reaches (409 while it is pending).
pub fn content(conn: &mut DbConn, actor: &Actor, id: &ImageId) -> Result<Audited<Content>> {
    let image = reachable(conn, actor, id, Action::Read)?;
    let Some(c) = store::content_of(conn, id)? else {
        return Err(Error::conflict_of(
            "illegal-transition",
            "the image's content has not been uploaded",
        ));
    };
    Ok(Audited::read(
        c,
        IMAGE,
        id.as_str(),
        Some(image.patient_id.as_str()),
    ))
}

/// One image record.
pub fn get(conn: &mut DbConn, actor: &Actor, id: &ImageId) -> Result<Audited<DiagnosticImage>> {
    let image = reachable(conn, actor, id, Action::Read)?;
    let pid = image.patient_id.clone();
    Ok(Audited::read(image, IMAGE, id.as_str(), Some(pid.as_str())))
}

/// The image records the caller reaches that match `f`.
pub fn list(
    conn: &mut DbConn,
    actor: &Actor,
    f: ImageFilter,
    page: &Page,
) -> Result<Audited<ListResponse<DiagnosticImage>>> {
    let filter_patient = f.patient_id.clone();
    let rows = store::list_images(
        conn,
        actor.scope(),
        Level::Clinical,
        &f,
        page.after.as_deref(),
        page.limit + 1,
    )?;
    Ok(Audited::page(
        rows,
        page.limit,
        |i| i.id.to_string(),
        IMAGE,
        filter_patient.as_ref(),
        |i| &i.patient_id,
    ))
}

/// How many image records the caller reaches match `f` (a FHIR search's total).
pub fn count(conn: &mut DbConn, actor: &Actor, f: &ImageFilter) -> Result<i64> {
    store::count_images(conn, actor.scope(), Level::Clinical, f)
}
