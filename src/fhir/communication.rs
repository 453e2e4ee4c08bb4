//! Communication: the caller's own portal messages (received, then sent), as the portal has
//! them: a message is read only by its sender and its receiver.

use axum::extract::RawQuery;
use serde_json::{json, Value};
use utoipa_axum::{router::OpenApiRouter, routes};

use super::capability::TypeDef;
use super::search::{Param, Search};
use super::{search_by_id, search_page, without_nulls, Base, Fhir, Source};
use crate::domains::portal::{self, BoxQuery, Message, MessageBox, MessageId, MESSAGE};
use crate::http::{ApiError, Path};
use crate::kit::{route, Access, AppState, Ctx};

/// Our users, as identifiers (they are not FHIR resources).
pub const USER_SYSTEM: &str = "https://healthapi.dev/fhir/identifier/user";

pub const COMMUNICATION_TYPE: TypeDef = TypeDef {
    kind: "Communication",
    doc: "A message of the patient portal (/api/v1/messages) that the caller sent or received: the subject as the topic, the body as the payload, sender and recipient as user identifiers, sent and received (read) times, the message it answers. A search returns the caller's received messages, newest first, then the sent ones.",
    params: &[
        Param {
            name: "_id",
            kind: "token",
            doc: "The message's id (alone: a read)",
        },
        Param {
            name: "box",
            kind: "token",
            doc: "inbox (received) or sent; both when absent",
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

pub fn communication(m: &Message) -> Value {
    without_nulls(json!({
        "resourceType": "Communication",
        "id": m.id,
        "status": "completed",
        "inResponseTo": m.reply_to.as_ref().map(|r| json!([super::reference("Communication", r.as_str())])),
        "topic": super::text_concept(&m.subject),
        "sent": m.sent_at,
        "received": m.read_at,
        "sender": user(m.sender_id.as_str()),
        "recipient": [user(m.receiver_id.as_str())],
        "payload": [{ "contentString": m.body }],
    }))
}

/// Read a Communication
#[utoipa::path(get, path = "/Communication/{id}", tag = "fhir", params(("id" = String, Path)),
    responses((status = 200, description = "A Communication", content_type = "application/fhir+json")))]
async fn read_communication(ctx: Ctx, Path(id): Path<MessageId>) -> Result<Fhir, ApiError> {
    let found = ctx
        .read(move |conn, actor| portal::get(conn, actor, &id))
        .await?;
    Ok(Fhir::ok(communication(&ctx.reveal(found).await?)))
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
    if let Some(id) = search.id()? {
        let id = MessageId::from_db(id);
        return search_by_id(
            &ctx,
            &base,
            "Communication",
            &search,
            move |conn, actor| portal::get(conn, actor, &id),
            communication,
        )
        .await;
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
    let sources = boxes
        .into_iter()
        .map(|which| {
            let q = BoxQuery {
                which: Some(which),
                unread: None,
            };
            Source::of(q, portal::count, portal::list, communication)
        })
        .collect();
    search_page(&ctx, &base, "Communication", &search, sources).await
}
