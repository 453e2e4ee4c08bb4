//! Communication: the caller's own portal messages (received, then sent), as the portal has
//! them: a message is read only by its sender and its receiver; then the messages of the
//! telemedicine chats the caller takes part in (`chat-<id>`), as the visit's chat has them.

use std::collections::HashMap;

use axum::extract::RawQuery;
use serde_json::{json, Value};
use utoipa_axum::{router::OpenApiRouter, routes};

use super::capability::TypeDef;
use super::search::{Param, Search};
use super::{reference, search_by_id, search_page, without_nulls, Base, Fhir, Source};
use crate::db::DbConn;
use crate::domains::patients;
use crate::domains::portal::{self, BoxQuery, Message, MessageBox, MessageId, MESSAGE};
use crate::domains::telemedicine::{self, ChatMessage, ChatMessageId, ChatSearch, VisitId, CHAT};
use crate::http::ApiError;
use crate::kit::{route, Access, AppState, Ctx, Error, PatientId, Perm, UserId};

/// Our users, as identifiers (they are not FHIR resources).
pub const USER_SYSTEM: &str = "https://healthapi.dev/fhir/identifier/user";
/// Which of our two kinds of message a Communication is.
pub const CATEGORY_SYSTEM: &str = "https://healthapi.dev/fhir/CodeSystem/communication-category";
const PORTAL: &str = "portal-message";
const CHAT_CATEGORY: &str = "telemedicine-chat";
const CHAT_PREFIX: &str = "chat-";

pub const COMMUNICATION_TYPE: TypeDef = TypeDef {
    kind: "Communication",
    doc: "A message the caller sent or received: of the patient portal (/api/v1/messages; category portal-message), with the subject as the topic, sender and recipient as user identifiers, sent and received (read) times and the message it answers; or of a telemedicine visit's chat the caller takes part in (/api/v1/virtual-visits/{id}/chat; category telemedicine-chat, id chat-<message id>, telemedicine:read), with the patient as subject, the visit as the encounter, and the patient and the doctor as sender and recipient. The body is the payload. A search returns the received portal messages, newest first, then the sent ones, then the chat messages by id (within a visit, the order of its chat).",
    params: &[
        Param {
            name: "_id",
            kind: "token",
            doc: "The message's id, or chat-<id> for a chat message (alone: a read)",
        },
        Param {
            name: "category",
            kind: "token",
            doc: "portal-message or telemedicine-chat (https://healthapi.dev/fhir/CodeSystem/communication-category)",
        },
        Param {
            name: "box",
            kind: "token",
            doc: "Portal messages only: inbox (received) or sent",
        },
        Param {
            name: "patient",
            kind: "reference",
            doc: "Chat messages only: the visit's patient (Patient/<id> or <id>)",
        },
        Param {
            name: "encounter",
            kind: "reference",
            doc: "Chat messages only: the visit (Encounter/<id> or <id>)",
        },
    ],
    operations: &[],
};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(route(
            Access::SignedIn,
            MESSAGE,
            routes!(read_communication),
        ))
        .routes(route(
            Access::SignedIn,
            MESSAGE,
            routes!(search_communications),
        ))
}

fn user(id: &str) -> Value {
    json!({ "identifier": { "system": USER_SYSTEM, "value": id } })
}

fn category(code: &str) -> Value {
    json!([super::concept(CATEGORY_SYSTEM, code, "")])
}

pub fn communication(m: &Message) -> Value {
    without_nulls(json!({
        "resourceType": "Communication",
        "id": m.id,
        "status": "completed",
        "category": category(PORTAL),
        "inResponseTo": m.reply_to.as_ref().map(|r| json!([reference("Communication", r.as_str())])),
        "topic": super::text_concept(&m.subject),
        "sent": m.sent_at,
        "received": m.read_at,
        "sender": user(m.sender_id.as_str()),
        "recipient": [user(m.receiver_id.as_str())],
        "payload": [{ "contentString": m.body }],
    }))
}

/// A chat message, sent by the patient when their account wrote it, else by the doctor.
fn chat_communication(m: &ChatMessage, patient_account: Option<&UserId>) -> Value {
    let patient = reference("Patient", m.patient_id.as_str());
    let doctor = reference("Practitioner", m.doctor_id.as_str());
    let (sender, recipient) = if patient_account == Some(&m.sender_user_id) {
        (patient.clone(), doctor)
    } else {
        (doctor, patient.clone())
    };
    json!({
        "resourceType": "Communication",
        "id": format!("{CHAT_PREFIX}{}", m.id),
        "status": "completed",
        "category": category(CHAT_CATEGORY),
        "subject": patient,
        "encounter": reference("Encounter", m.virtual_visit_id.as_str()),
        "sent": m.sent_at,
        "sender": sender,
        "recipient": [recipient],
        "payload": [{ "contentString": m.body }],
    })
}

/// The Communications of a page of chat messages, with who of the two wrote each (the
/// patients' accounts, read once per patient).
pub fn chat_communications(
    conn: &mut DbConn,
    rows: &[ChatMessage],
) -> crate::kit::Result<Vec<Value>> {
    let mut accounts: HashMap<PatientId, Option<UserId>> = HashMap::new();
    let mut out = Vec::with_capacity(rows.len());
    for m in rows {
        if !accounts.contains_key(&m.patient_id) {
            let account = patients::account_of_patient(conn, &m.patient_id)?;
            accounts.insert(m.patient_id.clone(), account);
        }
        out.push(chat_communication(m, accounts[&m.patient_id].as_ref()));
    }
    Ok(out)
}

/// One chat message as a Communication.
fn one_chat(
    conn: &mut DbConn,
    actor: &crate::kit::Actor,
    id: &ChatMessageId,
) -> crate::kit::Result<crate::kit::Audited<Value>> {
    let found = telemedicine::get_chat_message(conn, actor, id)?;
    let mut failed = None;
    let found = found.map(
        |m| match chat_communications(conn, std::slice::from_ref(&m)) {
            Ok(mut v) => v.pop().unwrap_or_default(),
            Err(e) => {
                failed = Some(e);
                Value::Null
            }
        },
    );
    match failed {
        Some(e) => Err(e),
        None => Ok(found),
    }
}

/// Which of our messages an id names.
enum CommunicationId {
    Portal(MessageId),
    Chat(ChatMessageId),
}

fn communication_id(id: &str) -> Option<CommunicationId> {
    match id.strip_prefix(CHAT_PREFIX) {
        Some(chat) => crate::kit::ids::canonical_uuid(chat)
            .map(|c| CommunicationId::Chat(ChatMessageId::from_db(c))),
        None => crate::kit::ids::canonical_uuid(id)
            .map(|m| CommunicationId::Portal(MessageId::from_db(m))),
    }
}

/// Read a Communication
#[utoipa::path(get, path = "/Communication/{id}", tag = "fhir", params(("id" = String, Path)),
    responses((status = 200, description = "A Communication", content_type = "application/fhir+json")))]
async fn read_communication(
    ctx: Ctx,
    axum::extract::Path(id): axum::extract::Path<String>,
) -> Result<Fhir, ApiError> {
    match communication_id(&id).ok_or(Error::NotFound)? {
        CommunicationId::Portal(id) => {
            let found = ctx
                .read(move |conn, actor| portal::get(conn, actor, &id))
                .await?;
            Ok(Fhir::ok(communication(&ctx.reveal(found).await?)))
        }
        CommunicationId::Chat(id) => {
            super::require(&ctx, Perm::TelemedicineRead, CHAT)?;
            let found = ctx
                .read(move |conn, actor| one_chat(conn, actor, &id))
                .await?;
            Ok(Fhir::ok(ctx.reveal(found).await?))
        }
    }
}

/// Search Communications
#[utoipa::path(get, path = "/Communication", tag = "fhir",
    responses((status = 200, description = "A searchset Bundle of Communications", content_type = "application/fhir+json")))]
async fn search_communications(
    ctx: Ctx,
    base: Base,
    RawQuery(query): RawQuery,
) -> Result<Fhir, ApiError> {
    let search = Search::parse(query.as_deref(), COMMUNICATION_TYPE.params)?;
    let chats = ctx.actor().holds(Perm::TelemedicineRead);
    if let Some(id) = search.raw_id()? {
        return match communication_id(id) {
            Some(CommunicationId::Portal(id)) => {
                search_by_id(
                    &ctx,
                    &base,
                    "Communication",
                    &search,
                    move |conn, actor| portal::get(conn, actor, &id),
                    communication,
                )
                .await
            }
            Some(CommunicationId::Chat(id)) if chats => {
                search_by_id(
                    &ctx,
                    &base,
                    "Communication",
                    &search,
                    move |conn, actor| one_chat(conn, actor, &id),
                    Value::clone,
                )
                .await
            }
            _ => Ok(Fhir::ok(super::Bundle::searchset(
                &base,
                "Communication",
                &search,
                0,
                Vec::new(),
                None,
            ))),
        };
    }
    let category = search.token("category", Some(CATEGORY_SYSTEM))?;
    if let Some(c) = category.as_deref() {
        if c != PORTAL && c != CHAT_CATEGORY {
            return Err(ApiError::field(
                "category",
                format!("`{c}` is not {PORTAL} or {CHAT_CATEGORY}"),
            ));
        }
    }
    let boxes: Vec<MessageBox> = match search.token("box", None)?.as_deref() {
        None => vec![MessageBox::Inbox, MessageBox::Sent],
        Some("inbox") => vec![MessageBox::Inbox],
        Some("sent") => vec![MessageBox::Sent],
        Some(other) => {
            return Err(ApiError::field(
                "box",
                format!("`{other}` is not inbox or sent"),
            ))
        }
    };
    let chat = ChatSearch {
        patient_id: search
            .reference("patient", "Patient")?
            .map(PatientId::from_db),
        visit_id: search
            .reference("encounter", "Encounter")?
            .map(VisitId::from_db),
        ..Default::default()
    };
    // Each parameter belongs to one kind of message: a search that names it finds only those.
    let chat_only = chat.patient_id.is_some() || chat.visit_id.is_some();
    let portal_only = search.one("box")?.is_some();
    let wants = |kind: &str| category.as_deref().is_none_or(|c| c == kind);
    let mut sources = Vec::new();
    if wants(PORTAL) && !chat_only {
        sources.extend(boxes.into_iter().map(|which| {
            let q = BoxQuery {
                which: Some(which),
                unread: None,
            };
            Source::of(q, portal::count, portal::list, communication)
        }));
    }
    if wants(CHAT_CATEGORY) && !portal_only && chats {
        let counted = chat.clone();
        sources.push(Source::joined(
            move |conn, actor| telemedicine::count_chat(conn, actor, &counted),
            move |conn, actor, page| telemedicine::search_chat(conn, actor, chat, page),
            chat_communications,
        ));
    }
    search_page(&ctx, &base, "Communication", &search, sources).await
}
