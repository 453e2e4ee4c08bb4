//! Id newtypes: a patient id cannot be passed where a doctor id is expected. On the wire and in
//! the database an id is the UUID's text; queries bind `id.as_str()`.

/// Declares an id type: a UUID in text form, transparent in JSON and OpenAPI.
#[macro_export]
macro_rules! id_type {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(
            Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize,
            serde::Deserialize, utoipa::ToSchema,
        )]
        #[serde(transparent)]
        #[schema(value_type = String, format = Uuid)]
        pub struct $name(String);

        impl $name {
            /// A new id (UUIDv7, so ids sort by creation time).
            pub fn generate() -> $name {
                $name($crate::db::new_id())
            }
            /// An id read from the database or a path: not checked, a lookup answers for it.
            pub fn from_db(id: String) -> $name {
                $name(id)
            }
            pub fn as_str(&self) -> &str {
                &self.0
            }
            pub fn into_string(self) -> String {
                self.0
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }
    };
}

id_type!(
    /// A user account.
    UserId
);
id_type!(
    /// A Patient record (not the patient's user account).
    PatientId
);
id_type!(
    /// A Doctor record (not the doctor's user account).
    DoctorId
);
